"""FPN and the paper's Dilated FPN (DFPN) for foreground segmentation (section III-F, Fig. 4).

The paper extends its framework to foreground segmentation by training, in the recursive
refinement step, a network with ONE output: is this pixel foreground? Table IV compares an
"FPN-Baseline" with DFPN, both on ResNet-101 (section IV-B). Here both are built from:

- a backbone giving C2..C5 (strides 4, 8, 16, 32);
- torchvision's :class:`~torchvision.ops.FeaturePyramidNetwork` (Lin et al. [43]) giving
  P2..P5 with ``fpn_channels`` each;
- a semantic-FPN merge (detectron2's ``SemSegFPNHead``, reference/train-anchors.md section 4):
  level Pk passes max(1, k - 2) blocks of [3x3 conv, norm, ReLU, 2x bilinear upsample] to
  reach stride 4, and the levels are summed;
- for DFPN only, :class:`DilatedBranches` on the merged map;
- a 1x1 predictor of one foreground logit, upsampled bilinearly to the input size.

What the paper says of DFPN, all of it: "The proposed DFPN has the same architecture as FPN
[43] except adding the dilated convolution layers for three branches to enlarge the
receptive field of the network. Each branch contains three dilated convolution layers with
different dilated rates. The dilated features of three branches are then aggregated and
concatenated together to make the prediction." Fig. 4 is not in our copy, and no rate,
width or position is given; the choices made here are documented at :class:`DilatedBranches`.

Deliberate differences from detectron2's semantic FPN: BatchNorm, not GroupNorm, in the head
(the paper trains with batches of 12, the backbone uses BatchNorm already, and in eval mode
BatchNorm is a per-pixel affine map, so a branch's receptive field is exactly that of its
convolutions, which the tests check; GroupNorm's statistics would tie every output pixel to
the whole map). ``fpn_mobilenet`` / ``dfpn_mobilenet`` are light variants for CPU runs, not
in the paper.
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.ops import FeaturePyramidNetwork

from c2fbench.errors import InputError

# Three branches of three layers, as the paper; the rates are ours (the paper gives none).
# Radii 7, 14, 21 cells at stride 4: 28..84 pixels, a ninth to a third of a 256x256 crop.
PAPER_BRANCH_RATES = ((1, 2, 4), (2, 4, 8), (3, 6, 12))
LEVELS = ("c2", "c3", "c4", "c5")  # strides 4, 8, 16, 32

# MobileNetV3-Large ``features`` split just before each stride-2 block (indices 4, 7, 13):
# 0..3 end at stride 4 (24 channels), 4..6 at 8 (40), 7..12 at 16 (112), 13..16 at 32 (960).
MOBILENET_STAGES = ((0, 4), (4, 7), (7, 13), (13, 17))


def _conv_bn_relu(in_channels: int, out_channels: int, *, kernel_size: int = 3, dilation: int = 1) -> nn.Sequential:
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=dilation * (kernel_size // 2),
                     dilation=dilation, bias=False)
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")  # detectron2's c2_msra_fill
    return nn.Sequential(conv, nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class Stages(nn.Module):
    """C2..C5 of a backbone: ``OrderedDict(c2=..., c5=...)`` of images (B, 3, H, W).

    ``stages`` run in series; the output of each is one level (strides 4, 8, 16, 32).
    """

    def __init__(self, stages: Sequence[nn.Module], out_channels: Sequence[int]) -> None:
        super().__init__()
        self.stages = nn.ModuleDict(zip(LEVELS, stages))
        self.out_channels = list(out_channels)

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        out = OrderedDict()
        for name, stage in self.stages.items():
            x = out[name] = stage(x)
        return out


class MergeToStride4(nn.Module):
    """Semantic-FPN merge: P2..P5 (B, in_channels, h_k, w_k) -> (B, channels, h_2, w_2), summed.

    Level k gets max(1, k - 2) blocks of [3x3 conv, BN, ReLU]; every block but P2's is followed
    by a bilinear upsample to the size of the next finer level (2x, exact for odd sizes too).
    """

    def __init__(self, in_channels: int, channels: int, *, num_levels: int = 4) -> None:
        super().__init__()
        self.levels = nn.ModuleList(
            nn.ModuleList(_conv_bn_relu(in_channels if i == 0 else channels, channels) for i in range(max(1, k)))
            for k in range(num_levels)
        )

    def forward(self, pyramid: Sequence[torch.Tensor]) -> torch.Tensor:
        sizes = [p.shape[-2:] for p in pyramid]
        merged = None
        for k, (blocks, x) in enumerate(zip(self.levels, pyramid)):
            for i, block in enumerate(blocks):
                x = block(x)
                if k > 0:  # level k reaches level k - 1 - i after its i-th block
                    x = F.interpolate(x, size=sizes[k - 1 - i], mode="bilinear", align_corners=False)
            merged = x if merged is None else merged + x
        return merged


def check_branch_rates(branch_rates: Sequence[Sequence[int]]) -> tuple[tuple[int, ...], ...]:
    """``branch_rates`` as a tuple of non-empty tuples of positive ints, or :class:`InputError`."""
    try:
        out = tuple(tuple(operator.index(r) for r in rates) for rates in branch_rates)
        flags = any(isinstance(r, bool) for rates in branch_rates for r in rates)
    except TypeError:
        out, flags = (), True
    if flags or not out or any(not rates or min(rates) < 1 for rates in out):
        raise InputError("branch_rates must be a non-empty list of non-empty lists of positive integers "
                         f"(one list of dilation rates per branch), got {branch_rates!r}")
    return out


class DilatedBranches(nn.Module):
    """DFPN's dilated branches: (B, channels, h, w) -> (B, channels, h, w).

    Our reading of section III-F (the paper gives no more detail):

    - The branches sit on the merged stride-4 map, in parallel, between the FPN merge and
      the predictor ("same architecture as FPN except adding ... three branches"). Fig. 4 may
      place them elsewhere (for instance one per pyramid level); our copy lacks the figure.
    - Branch b is ``len(branch_rates[b])`` [3x3 conv with dilation r and padding r, BN, ReLU]
      in series ("three dilated convolution layers with different dilated rates"), so sizes
      are kept and a branch sees offsets sum(a_i * r_i), a_i in {-1, 0, 1}: radius sum(r_i).
      With rates sharing a factor (2, 4, 8) it sees only every second cell, like ASPP's taps.
    - "Aggregated and concatenated": the merged map and the branch outputs are concatenated
      ((1 + branches) * channels) and a 1x1 conv + BN + ReLU fuses them back to ``channels``,
      so DFPN is FPN plus the branches and the fuse.
    """

    def __init__(self, channels: int, *, branch_rates: Sequence[Sequence[int]] = PAPER_BRANCH_RATES) -> None:
        super().__init__()
        self.branch_rates = check_branch_rates(branch_rates)
        self.branches = nn.ModuleList(
            nn.Sequential(*(_conv_bn_relu(channels, channels, dilation=r) for r in rates))
            for rates in self.branch_rates
        )
        self.fuse = _conv_bn_relu((1 + len(self.branches)) * channels, channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([x] + [branch(x) for branch in self.branches], dim=1))


class ForegroundFPN(nn.Module):
    """One foreground logit per pixel (B, 1, H, W) of normalised images (B, 3, H, W).

    ``backbone`` gives C2..C5 (:class:`Stages`), ``fpn`` is torchvision's
    FeaturePyramidNetwork, ``merge`` brings P2..P5 to stride 4 and sums them, ``branches``
    (DFPN only, else None) are the dilated branches, ``predictor`` a 1x1 conv. Build it with
    a function of :data:`c2fbench.models.MODELS` rather than directly.
    """

    num_classes = 1

    def __init__(self, backbone: Stages, *, fpn_channels: int, head_channels: int,
                 branch_rates: Sequence[Sequence[int]] | None) -> None:
        super().__init__()
        self.backbone = backbone
        self.fpn = FeaturePyramidNetwork(backbone.out_channels, fpn_channels)
        self.merge = MergeToStride4(fpn_channels, head_channels, num_levels=len(backbone.out_channels))
        self.branches = None if branch_rates is None else DilatedBranches(head_channels, branch_rates=branch_rates)
        self.predictor = nn.Conv2d(head_channels, 1, kernel_size=1)
        nn.init.normal_(self.predictor.weight, std=0.01)
        nn.init.zeros_(self.predictor.bias)

    upsample = True  # False: the logit at stride 4 (a trainer's loss_resolution "output"; see DeepLabV2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The logit at the image's size; with ``upsample`` False, at stride 4, (B, 1, H/4, W/4) rounded up."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"ForegroundFPN expects (B, 3, H, W) images, got shape {tuple(x.shape)}")
        pyramid = self.fpn(self.backbone(x))
        y = self.merge(list(pyramid.values()))
        if self.branches is not None:
            y = self.branches(y)
        y = self.predictor(y)
        return F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False) if self.upsample else y

    def param_groups(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(backbone parameters, all others): FPN, merge, branches and predictor start fresh.

        Every parameter of the model is in exactly one of the two lists.
        """
        backbone = list(self.backbone.parameters())
        ids = {id(p) for p in backbone}
        return backbone, [p for p in self.parameters() if id(p) not in ids]


def _check_one_class(num_classes: int) -> None:
    # The keyword stays so that the checkpoint format (which stores num_classes) is unchanged.
    if isinstance(num_classes, bool) or num_classes != 1:
        raise InputError(f"FPN / DFPN predict one foreground channel: num_classes must be 1, got {num_classes!r} "
                         "(save checkpoints with classes=['foreground'])")


def _resnet_stages(depth: int, pretrained_backbone: bool) -> Stages:
    if depth == 101:
        build, weights = torchvision.models.resnet101, torchvision.models.ResNet101_Weights.IMAGENET1K_V1
    else:
        build, weights = torchvision.models.resnet50, torchvision.models.ResNet50_Weights.IMAGENET1K_V1
    r = build(weights=weights if pretrained_backbone else None)  # no dilation: strides 4..32
    stem = nn.Sequential(OrderedDict(conv1=r.conv1, bn1=r.bn1, relu=r.relu, maxpool=r.maxpool, layer1=r.layer1))
    return Stages([stem, r.layer2, r.layer3, r.layer4], [256, 512, 1024, 2048])


def _mobilenet_stages(pretrained_backbone: bool) -> Stages:
    weights = torchvision.models.MobileNet_V3_Large_Weights.IMAGENET1K_V1 if pretrained_backbone else None
    features = torchvision.models.mobilenet_v3_large(weights=weights).features
    # Momentum 0.1 instead of torchvision's 0.01, pretrained or not: see deeplab_v2_mobilenet.
    for module in features.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = 0.1
    stages = [features[a:b] for a, b in MOBILENET_STAGES]
    return Stages(stages, [features[b - 1].out_channels for _, b in MOBILENET_STAGES])


# Widths: detectron2's defaults (FPN 256, head 128) for ResNet; half that for MobileNet,
# whose head at stride 4 otherwise costs several times its backbone.
def _resnet_model(depth: int, *, num_classes: int, pretrained_backbone: bool,
                  branch_rates: Sequence[Sequence[int]] | None) -> ForegroundFPN:
    _check_one_class(num_classes)
    return ForegroundFPN(_resnet_stages(depth, pretrained_backbone), fpn_channels=256, head_channels=128,
                         branch_rates=branch_rates)


def _mobilenet_model(*, num_classes: int, pretrained_backbone: bool,
                     branch_rates: Sequence[Sequence[int]] | None) -> ForegroundFPN:
    _check_one_class(num_classes)
    return ForegroundFPN(_mobilenet_stages(pretrained_backbone), fpn_channels=128, head_channels=64,
                         branch_rates=branch_rates)


def fpn_resnet101(*, num_classes: int = 1, pretrained_backbone: bool = False) -> ForegroundFPN:
    """The paper's FPN-Baseline (Table IV): ResNet-101 C2..C5, FPN 256, merge 128, one logit.

    ``pretrained_backbone`` loads torchvision's ``ResNet101_Weights.IMAGENET1K_V1`` (a download
    on first use); the rest always starts fresh.
    """
    return _resnet_model(101, num_classes=num_classes, pretrained_backbone=pretrained_backbone, branch_rates=None)


def fpn_resnet50(*, num_classes: int = 1, pretrained_backbone: bool = False) -> ForegroundFPN:
    """As :func:`fpn_resnet101` with ResNet-50 (``ResNet50_Weights.IMAGENET1K_V1``)."""
    return _resnet_model(50, num_classes=num_classes, pretrained_backbone=pretrained_backbone, branch_rates=None)


def fpn_mobilenet(*, num_classes: int = 1, pretrained_backbone: bool = False) -> ForegroundFPN:
    """A light FPN for CPU runs: MobileNetV3-Large stages (:data:`MOBILENET_STAGES`), FPN 128, merge 64.

    ``pretrained_backbone`` loads ``MobileNet_V3_Large_Weights.IMAGENET1K_V1``.
    """
    return _mobilenet_model(num_classes=num_classes, pretrained_backbone=pretrained_backbone, branch_rates=None)


def dfpn_resnet101(*, num_classes: int = 1, pretrained_backbone: bool = False,
                   branch_rates: Sequence[Sequence[int]] = PAPER_BRANCH_RATES) -> ForegroundFPN:
    """The paper's DFPN: :func:`fpn_resnet101` plus :class:`DilatedBranches` on the merged map."""
    return _resnet_model(101, num_classes=num_classes, pretrained_backbone=pretrained_backbone,
                         branch_rates=branch_rates)


def dfpn_resnet50(*, num_classes: int = 1, pretrained_backbone: bool = False,
                  branch_rates: Sequence[Sequence[int]] = PAPER_BRANCH_RATES) -> ForegroundFPN:
    """:func:`fpn_resnet50` plus :class:`DilatedBranches` on the merged map."""
    return _resnet_model(50, num_classes=num_classes, pretrained_backbone=pretrained_backbone,
                         branch_rates=branch_rates)


def dfpn_mobilenet(*, num_classes: int = 1, pretrained_backbone: bool = False,
                   branch_rates: Sequence[Sequence[int]] = PAPER_BRANCH_RATES) -> ForegroundFPN:
    """:func:`fpn_mobilenet` plus :class:`DilatedBranches` (64 channels) on the merged map.

    >>> dfpn_mobilenet()(torch.zeros(1, 3, 64, 48)).shape
    torch.Size([1, 1, 64, 48])
    """
    return _mobilenet_model(num_classes=num_classes, pretrained_backbone=pretrained_backbone,
                            branch_rates=branch_rates)
