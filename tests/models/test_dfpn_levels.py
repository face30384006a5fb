"""DFPN's second reading (c2fbench.models.dfpn_levels): shapes, each branch on its pyramid
level, the branches' receptive fields, parameter groups, bad rates, the registry, the
recipe, a backbone file shared with FPN / DFPN, the checkpoint round trip."""

from __future__ import annotations

import doctest
import itertools

import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import FeaturePyramidNetwork

import c2fbench.models.dfpn_levels
from c2fbench.errors import InputError
from c2fbench.models import MODELS, build_model
from c2fbench.models.checkpoint import load_checkpoint, save_checkpoint
from c2fbench.models.dfpn_levels import LevelBranches, dfpn_levels_mobilenet
from model_helpers import support_of_centre_cell
from trainers.classifier import FORMAT, VERSION, load_backbone_weights
from trainers.config import arch_task, shipped_recipes
from trainers.resolve import resolve_config

NAMES = ("dfpn_levels_resnet101", "dfpn_levels_resnet50", "dfpn_levels_mobilenet")


def halved(n: int, times: int) -> int:
    """Size after ``times`` stride-2 convs / pools with 'same' padding: ceil(n / 2) each time."""
    for _ in range(times):
        n = -(-n // 2)
    return n


@pytest.mark.parametrize("batch, size", [(2, (64, 64)), (2, (65, 50)), (1, (37, 29))])
def test_one_logit_at_input_size_and_each_branch_on_its_level(batch, size):
    model = dfpn_levels_mobilenet().eval()
    seen: dict[str, tuple] = {}
    hooks = [model.fpn.register_forward_hook(
        lambda m, i, out: seen.update({k: tuple(v.shape) for k, v in out.items()}))]
    hooks.append(model.head.plain.register_forward_hook(
        lambda m, i, out: seen.update(plain=(tuple(i[0].shape), tuple(out.shape)))))
    for b, branch in enumerate(model.head.branches):
        hooks.append(branch.register_forward_hook(
            lambda m, i, out, b=b: seen.update({f"branch{b}": (tuple(i[0].shape), tuple(out.shape))})))
    x = torch.randn(batch, 3, *size)
    with torch.no_grad():
        full = model(x)
        model.upsample = False  # as trainers/train.py sets it for loss_resolution "output"
        low = model(x)
        model.upsample = True
    for hook in hooks:
        hook.remove()
    h, w = size
    assert full.shape == (batch, 1, h, w) and torch.isfinite(full).all()
    assert low.shape == (batch, 1, -(-h // 4), -(-w // 4))
    assert torch.allclose(full, F.interpolate(low, size=size, mode="bilinear", align_corners=False))
    # P2..P5 at strides 4..32, 128 channels; branch b reads P(3 + b) and keeps its size
    levels = {f"c{k}": (batch, 128, halved(h, k), halved(w, k)) for k in (2, 3, 4, 5)}
    assert {k: seen[k] for k in levels} == levels
    assert seen["plain"] == (levels["c2"], (batch, 64, *levels["c2"][2:]))
    for b, level in enumerate(("c3", "c4", "c5")):
        assert seen[f"branch{b}"] == (levels[level], (batch, 64, *levels[level][2:]))


def test_structure_widths_and_fuse():
    model = dfpn_levels_mobilenet()
    assert isinstance(model.fpn, FeaturePyramidNetwork) and model.num_classes == 1
    assert model.head.branch_rates == ((1, 2, 3),) * 3
    for branch in model.head.branches:
        convs = [m for m in branch.modules() if isinstance(m, torch.nn.Conv2d)]
        assert [(c.in_channels, c.out_channels, c.kernel_size, c.dilation, c.padding, c.stride) for c in convs] == [
            (128 if i == 0 else 64, 64, (3, 3), (r, r), (r, r), (1, 1)) for i, r in enumerate((1, 2, 3))]
        assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in branch.modules()) == 3
    assert model.head.fuse[0].in_channels == 4 * 64 and model.head.fuse[0].kernel_size == (1, 1)
    assert (model.predictor.in_channels, model.predictor.out_channels) == (64, 1)
    assert model.predictor.weight.std().item() < 0.05 and not model.predictor.bias.any()
    two = dfpn_levels_mobilenet(branch_rates=[[1, 2], [2, 4]])  # branches on P3 and P4 only
    assert len(two.head.branches) == 2 and two.head.fuse[0].in_channels == 3 * 64
    assert two.eval()(torch.randn(1, 3, 40, 56)).shape == (1, 1, 40, 56)


# Input cells (one axis) a 3x3 conv series with these rates reaches, counted by hand:
# every sum of -r, 0, +r per layer.
REACH = {
    (1, 2, 3): set(range(-6, 7)),  # every offset up to 6
    (1, 3, 9): set(range(-13, 14)),  # balanced ternary: every offset up to 13
    (2, 4): {-6, -4, -2, 0, 2, 4, 6},  # even offsets only
    (5,): {-5, 0, 5},
}


def expected_support(reach: set[int], size: int) -> torch.Tensor:
    out = torch.zeros(size, size, dtype=torch.bool)
    for dy, dx in itertools.product(reach, repeat=2):
        out[size // 2 + dy, size // 2 + dx] = True
    return out


@pytest.mark.parametrize("b", [0, 1, 2])
def test_each_default_branch_sees_radius_six(b):
    branch = dfpn_levels_mobilenet().head.branches[b]
    size = 2 * 6 + 9
    assert torch.equal(support_of_centre_cell(branch, 128, size), expected_support(REACH[(1, 2, 3)], size))


@pytest.mark.parametrize("rates", [(1, 3, 9), (2, 4), (5,)])
def test_configured_branch_sees_exactly_its_receptive_field(rates):
    head = LevelBranches(6, 4, branch_rates=[(1,), rates])
    size = 2 * max(REACH[rates]) + 7
    support = support_of_centre_cell(head.branches[1], 6, size)
    assert torch.equal(support, expected_support(REACH[rates], size))


def test_param_groups_partition_and_every_parameter_learns():
    model = dfpn_levels_mobilenet().train()
    backbone, rest = model.param_groups()
    ids_b, ids_r = [id(p) for p in backbone], [id(p) for p in rest]
    assert len(set(ids_b)) == len(ids_b) and len(set(ids_r)) == len(ids_r)
    assert not set(ids_b) & set(ids_r)
    assert set(ids_b) | set(ids_r) == {id(p) for p in model.parameters()}
    assert set(ids_b) == {id(p) for name, p in model.named_parameters() if name.startswith("backbone.")}
    targets = (torch.rand(2, 1, 64, 64) < 0.5).float()
    F.binary_cross_entropy_with_logits(model(torch.randn(2, 3, 64, 64)), targets).backward()
    # with three branches every FPN level feeds the prediction: no parameter is left unused
    assert [name for name, p in model.named_parameters() if p.grad is None or not p.grad.any()] == []


def test_bad_branch_rates_num_classes_and_inputs():
    for bad in ([], [[]], [[0, 2]], [[1.5]], [[True]], [[1, 2], [1, False]], 3):
        with pytest.raises(InputError, match="branch_rates"):
            LevelBranches(8, 4, branch_rates=bad)
    with pytest.raises(InputError, match=r"branch_rates: .*P3, P4, P5.*at most 3 branches, got 4"):
        build_model("dfpn_levels_mobilenet", branch_rates=[[1, 2, 3]] * 4)
    with pytest.raises(InputError, match="branch_rates"):
        build_model("dfpn_levels_mobilenet", branch_rates=[[1, -1]])
    for bad in (2, 0, True):
        with pytest.raises(InputError, match="num_classes must be 1"):
            build_model("dfpn_levels_mobilenet", num_classes=bad)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\).*\(1, 1, 32, 32\)"):
        dfpn_levels_mobilenet().eval()(torch.zeros(1, 1, 32, 32))


def test_registered_foreground_models_that_build():
    assert set(NAMES) <= set(MODELS) and all(arch_task(name) == "foreground" for name in NAMES)
    assert build_model("dfpn_levels_mobilenet", num_classes=1).num_classes == 1
    for name in ("dfpn_levels_resnet50", "dfpn_levels_resnet101"):
        model = build_model(name, num_classes=1)  # about a second each on one core, no weights
        assert [block[0].in_channels for block in model.fpn.inner_blocks] == [256, 512, 1024, 2048]
        assert model.head.branches[0][0][0].in_channels == 256 and model.head.fuse[0].out_channels == 128
    assert len(build_model("dfpn_levels_resnet101").backbone.stages.c4) == 23  # ResNet-101's layer3


def test_recipe_trains_as_fpn_demo_and_dfpn_demo():
    recipes = shipped_recipes()
    mine = {k: v for k, v in recipes["dfpn-levels-demo"].items() if k not in ("_comment", "arch")}
    for other in ("fpn-demo", "dfpn-demo"):
        assert mine == {k: v for k, v in recipes[other].items() if k not in ("_comment", "arch")}
    cfg = resolve_config(recipe="dfpn-levels-demo", config=None, overrides={})
    assert cfg.arch == "dfpn_levels_mobilenet" and cfg.task == "foreground"


def test_a_backbone_file_of_fpn_or_dfpn_serves_the_second_reading(tmp_path):
    torch.manual_seed(3)
    for arch in ("fpn_mobilenet", "dfpn_mobilenet"):
        state = {k: torch.randn_like(v) if v.is_floating_point() else v
                 for k, v in build_model(arch).backbone.state_dict().items()}
        torch.save({"format": FORMAT, "version": VERSION, "arch": arch, "state_dict": state}, tmp_path / "bb.pt")
        model = dfpn_levels_mobilenet()
        load_backbone_weights(model, tmp_path / "bb.pt", "dfpn_levels_mobilenet")
        assert all(torch.equal(model.backbone.state_dict()[k], state[k]) for k in state)
    state = build_model("deeplab_v2_mobilenet_small").backbone.state_dict()
    torch.save({"format": FORMAT, "version": VERSION, "arch": "deeplab_v2_mobilenet_small", "state_dict": state},
               tmp_path / "other.pt")
    with pytest.raises(InputError, match="backbone of 'deeplab_v2_mobilenet_small', but this run trains"):
        load_backbone_weights(dfpn_levels_mobilenet(), tmp_path / "other.pt", "dfpn_levels_mobilenet")


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path):
    model = build_model("dfpn_levels_mobilenet", branch_rates=[[1, 2], [1, 3]])
    with torch.no_grad():
        model.train()(torch.randn(2, 3, 64, 64))  # move the BatchNorm running statistics off their start
    model.eval()
    save_checkpoint(tmp_path / "m.pt", model, arch="dfpn_levels_mobilenet", kwargs={"branch_rates": [[1, 2], [1, 3]]},
                    classes=["foreground"])
    loaded, meta = load_checkpoint(tmp_path / "m.pt", expect_classes=["foreground"])
    assert loaded.head.branch_rates == ((1, 2), (1, 3)) and meta["kwargs"]["num_classes"] == 1
    x = torch.randn(1, 3, 48, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_docstring_examples():
    result = doctest.testmod(c2fbench.models.dfpn_levels)
    assert result.failed == 0 and result.attempted >= 1
