"""DeepLab v2 builders: shapes, output stride, the ASPP-v2 head, one training step, parameter groups."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from c2fbench.errors import InputError
from c2fbench.models import MODELS, ASPPv2, build_model, deeplab_v2_mobilenet

RESNETS = ("deeplab_v2_resnet101", "deeplab_v2_resnet50")



def strided_size(n: int, output_stride: int) -> int:
    """Size after log2(output_stride) convs/pools of stride 2 with 'same' padding: ceil(n / 2) each."""
    for _ in range(int(math.log2(output_stride))):
        n = -(-n // 2)
    return n


@pytest.mark.parametrize("arch, batch, size, output_stride, channels", [
    ("deeplab_v2_resnet101", 1, (64, 64), 8, 2048),
    ("deeplab_v2_resnet50", 1, (64, 64), 8, 2048),
    ("deeplab_v2_mobilenet", 2, (64, 64), 16, 960),
    ("deeplab_v2_mobilenet", 2, (65, 50), 16, 960),
    ("deeplab_v2_mobilenet_os8", 2, (64, 64), 8, 960),
    ("deeplab_v2_mobilenet_small_os8", 1, (65, 50), 8, 576),
    ("deeplab_v2_vgg_lite", 2, (65, 50), 8, 128),
    ("deeplab_v2_vgg_lite", 1, (96, 96), 8, 128),
])
def test_logits_at_input_size_from_strided_features(arch, batch, size, output_stride, channels):
    torch.manual_seed(0)
    model = build_model(arch, num_classes=21).eval()
    seen = []
    hook = model.backbone.register_forward_hook(lambda module, inputs, output: seen.append(output.shape))
    with torch.no_grad():
        logits = model(torch.randn(batch, 3, *size))
    hook.remove()
    assert logits.shape == (batch, 21, *size)
    assert torch.isfinite(logits).all()
    assert seen == [(batch, channels, strided_size(size[0], output_stride), strided_size(size[1], output_stride))]
    if arch in RESNETS:
        assert seen[0][-2:] == (size[0] // 8, size[1] // 8)


@pytest.mark.parametrize("arch, rates, channels", [
    ("deeplab_v2_resnet101", (6, 12, 18, 24), 2048),
    ("deeplab_v2_resnet50", (6, 12, 18, 24), 2048),
    ("deeplab_v2_mobilenet", (1, 2, 3, 4), 960),
    ("deeplab_v2_mobilenet_os8", (2, 4, 6, 8), 960),
    ("deeplab_v2_vgg_lite", (2, 4, 6, 8), 128),
])
def test_aspp_branches_have_the_rates(arch, rates, channels):
    head = build_model(arch, num_classes=7).head
    convs = [m for m in head.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 4
    for conv, r in zip(convs, rates):
        assert (conv.kernel_size, conv.dilation, conv.padding, conv.stride) == ((3, 3), (r, r), (r, r), (1, 1))
        assert (conv.in_channels, conv.out_channels) == (channels, 7)
    custom = build_model(arch, num_classes=3, rates=[2, 5]).head
    assert [m.dilation[0] for m in custom.modules() if isinstance(m, torch.nn.Conv2d)] == [2, 5]


def test_aspp_sums_the_branches():
    torch.manual_seed(1)
    head = ASPPv2(6, 5, rates=(6, 12, 18, 24)).eval()
    x = torch.randn(2, 6, 30, 27)
    with torch.no_grad():
        for conv in head.branches[:3]:
            conv.weight.zero_()
            conv.bias.zero_()
        last = head.branches[3]
        last.bias.normal_()
        only_last = head(x)
        assert torch.equal(only_last, last(x))
        # one pixel by hand: a 3x3 kernel whose taps sit 24 pixels apart, zero outside the map
        w, b = last.weight.numpy(), last.bias.numpy()
        xs = x.numpy()
        y, xx = 25, 3
        expected = b.copy()
        for i in range(3):
            for j in range(3):
                yy, xj = y + 24 * (i - 1), xx + 24 * (j - 1)
                if 0 <= yy < 30 and 0 <= xj < 27:
                    expected += w[:, :, i, j] @ xs[1, :, yy, xj]
        np.testing.assert_allclose(only_last[1, :, y, xx].numpy(), expected, rtol=1e-5, atol=1e-6)

        for conv in head.branches:
            conv.weight.normal_()
            conv.bias.normal_()
        by_hand = sum(F.conv2d(x, c.weight, c.bias, padding=r, dilation=r)
                      for c, r in zip(head.branches, (6, 12, 18, 24)))
        torch.testing.assert_close(head(x), by_hand)


def test_param_groups_cover_every_parameter_once():
    for arch in ("deeplab_v2_mobilenet", "deeplab_v2_resnet50"):
        model = build_model(arch, num_classes=4)
        backbone, head = model.param_groups()
        ids_b, ids_h = [id(p) for p in backbone], [id(p) for p in head]
        assert len(set(ids_b)) == len(ids_b) and len(set(ids_h)) == len(ids_h)
        assert not set(ids_b) & set(ids_h)
        assert set(ids_b) | set(ids_h) == {id(p) for p in model.parameters()}
        assert set(ids_h) == {id(p) for name, p in model.named_parameters() if name.startswith("head.")}
        assert len(head) == 8  # four convs, weight and bias each


def test_sgd_steps_lower_the_loss_on_a_batch():
    model = deeplab_v2_mobilenet(num_classes=5).train()  # inputs drawn fresh each run
    images = torch.randn(2, 3, 64, 64)
    labels = torch.zeros(2, 64, 64, dtype=torch.long)
    labels[0, 16:48, 16:48] = 3
    labels[1, :, 32:] = 1
    labels[:, :4] = 255  # void rows, ignored
    backbone, head = model.param_groups()
    optimizer = torch.optim.SGD([{"params": backbone, "lr": 1e-3}, {"params": head, "lr": 1e-2}],
                                momentum=0.9, weight_decay=5e-4)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    losses = []
    for _ in range(6):
        loss = F.cross_entropy(model(images), labels, ignore_index=255)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0] * 0.5, losses  # measured: 1.7 -> 0.06 over 8 seeds
    changed = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    assert "head.branches.0.weight" in changed and "backbone.0.0.weight" in changed


def test_ignored_pixels_give_no_gradient():
    torch.manual_seed(3)
    model = deeplab_v2_mobilenet(num_classes=3).eval()
    images = torch.randn(1, 3, 48, 48)
    labels = torch.full((1, 48, 48), 255, dtype=torch.long)
    logits = model(images)
    loss = F.cross_entropy(logits, labels, ignore_index=255, reduction="sum")
    loss.backward()
    assert loss.item() == 0.0
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())


def test_unknown_arch_and_bad_arguments_are_input_errors():
    with pytest.raises(InputError, match="deeplab_v9.*deeplab_v2_resnet101.*deeplab_v2_mobilenet"):
        build_model("deeplab_v9")
    with pytest.raises(InputError, match="bad arguments.*output_stride"):
        build_model("deeplab_v2_mobilenet", output_stride=8)
    with pytest.raises(InputError, match="rates"):
        build_model("deeplab_v2_mobilenet", rates=[0, 2])
    with pytest.raises(InputError, match="rates"):
        build_model("deeplab_v2_mobilenet", rates=[1.5])
    with pytest.raises(InputError, match="num_classes"):
        build_model("deeplab_v2_resnet50", num_classes=0)
    assert {"deeplab_v2_resnet101", "deeplab_v2_resnet50", "deeplab_v2_mobilenet"} <= set(MODELS)


def test_forward_rejects_non_rgb_batches():
    model = deeplab_v2_mobilenet(num_classes=2).eval()
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\).*\(1, 1, 32, 32\)"):
        model(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match=r"\(3, 32, 32\)"):
        model(torch.zeros(3, 32, 32))


@pytest.mark.parametrize("small", [False, True])
def test_output_stride_8_dilates_like_deeplab_and_keeps_the_weights_shapes(small):
    """The OS8 MobileNet equals the OS16 one with the stride-16 convolution at stride 1 and
    every later wide convolution's dilation doubled (hand-checked against torchvision's
    dilated OS16 model), so an OS16 state dict loads unchanged."""
    os16 = build_model("deeplab_v2_mobilenet_small" if small else "deeplab_v2_mobilenet", num_classes=5)
    os8 = build_model("deeplab_v2_mobilenet_small_os8" if small else "deeplab_v2_mobilenet_os8", num_classes=5)
    os8.load_state_dict(os16.state_dict())  # same names and shapes
    a = [m for m in os16.backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    b = [m for m in os8.backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    strided = [i for i, conv in enumerate(a) if conv.stride == (2, 2)]
    changed = strided[-1]
    assert b[changed].stride == (1, 1) and [i for i, c in enumerate(b) if c.stride == (2, 2)] == strided[:-1]
    for i, (x, y) in enumerate(zip(a, b)):
        wide = x.kernel_size[0] > 1 and i > changed
        assert y.dilation[0] == (2 * x.dilation[0] if wide else x.dilation[0])
        assert y.padding[0] == y.dilation[0] * (y.kernel_size[0] - 1) // 2
    assert max(c.dilation[0] for c in b) == 4  # DeepLab v2: the last two stages at 2 and 4


def test_vgg_lite_is_deeplab_v2s_vgg_layout():
    """Plain 3x3 convs; two 2x2 poolings after a stride-2 stem (output stride 8), and the last
    stage dilated instead of pooled, as DeepLab v2 does to VGG-16's conv5."""
    model = build_model("deeplab_v2_vgg_lite", num_classes=4)
    convs = [m for m in model.backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    pools = [m for m in model.backbone.modules() if isinstance(m, torch.nn.MaxPool2d)]
    assert all(c.kernel_size == (3, 3) for c in convs)
    assert [c.stride[0] for c in convs] == [2] + [1] * (len(convs) - 1)
    assert len(pools) == 2 and all(p.stride == 2 for p in pools)
    assert [c.dilation[0] for c in convs][-2:] == [2, 2] and convs[-3].dilation == (1, 1)
    assert all(c.padding[0] == c.dilation[0] for c in convs)  # 'same' size at stride 1
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.backbone.modules()) == len(convs)


def test_vgg_lite_has_no_published_weights():
    with pytest.raises(InputError, match="train classifier"):
        build_model("deeplab_v2_vgg_lite", num_classes=21, pretrained_backbone=True)
