"""DFPN, second reading: one dilated branch on each of three pyramid levels (section III-F).

The paper's whole description: "The proposed DFPN has the same architecture as FPN [43]
except adding the dilated convolution layers for three branches to enlarge the receptive
field of the network. Each branch contains three dilated convolution layers with different
dilated rates. The dilated features of three branches are then aggregated and concatenated
together to make the prediction." Fig. 4 is not in our copy. :mod:`c2fbench.models.fpn`
reads it as three parallel branches on the merged stride-4 map; this module reads the
"three branches" as the pyramid's own, one branch per level. Our choices, none from the paper:

- backbone C2..C5 and torchvision's FeaturePyramidNetwork (P2..P5) exactly as
  :class:`~c2fbench.models.fpn.ForegroundFPN`;
- branch b sits on P(3 + b): P3, P4, P5 (strides 8, 16, 32), the coarse levels, where a
  dilated 3x3 conv reaches furthest in image pixels. A branch is [3x3 conv, dilation r,
  padding r, BN, ReLU] for each of its rates, in series, ``fpn_channels`` -> ``head_channels``
  on the first; it sees offsets sum(a_i * r_i), a_i in {-1, 0, 1}, radius sum(r_i) cells;
- rates (1, 2, 3) on every level (:data:`LEVEL_BRANCH_RATES`): small, because the coarse maps
  are small (a 128 px crop gives P5 4x4); radius 6 cells, 48 / 96 / 192 px on P3 / P4 / P5;
- P2 keeps FPN's plain path, one [3x3 conv, BN, ReLU] to ``head_channels`` (as
  :class:`~c2fbench.models.fpn.MergeToStride4` does for P2);
- "aggregated and concatenated": each branch output is upsampled bilinearly to P2's size,
  concatenated with the P2 path ((1 + branches) * ``head_channels``) and fused by a 1x1
  [conv, BN, ReLU] to ``head_channels``; then ForegroundFPN's 1x1 predictor of one logit.

Fewer than three branches are allowed (branch b still on P(3 + b)); the levels left without
one then feed the prediction only through FPN's top-down path, and their FPN output convs get
no gradient (DistributedDataParallel would need ``find_unused_parameters``). More than three
are refused: there are only three coarse levels.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from c2fbench.errors import InputError
from c2fbench.models.fpn import (
    ForegroundFPN,
    Stages,
    _check_one_class,
    _conv_bn_relu,
    _mobilenet_stages,
    _resnet_stages,
    check_branch_rates,
)

LEVEL_BRANCH_RATES = ((1, 2, 3), (1, 2, 3), (1, 2, 3))  # on P3, P4, P5; ours, the paper gives none
BRANCH_LEVELS = ("P3", "P4", "P5")  # branch b sits on BRANCH_LEVELS[b]


class LevelBranches(nn.Module):
    """P2..P5 (B, in_channels, h_k, w_k) -> (B, channels, h_2, w_2): P2's plain path and one
    dilated branch per coarse level, brought to P2's size, concatenated and fused."""

    def __init__(self, in_channels: int, channels: int, *,
                 branch_rates: Sequence[Sequence[int]] = LEVEL_BRANCH_RATES) -> None:
        super().__init__()
        self.branch_rates = check_branch_rates(branch_rates)
        if len(self.branch_rates) > len(BRANCH_LEVELS):
            raise InputError(f"branch_rates: this DFPN puts one branch on each of {', '.join(BRANCH_LEVELS)}, so at "
                             f"most {len(BRANCH_LEVELS)} branches, got {len(self.branch_rates)}: {branch_rates!r}")
        self.plain = _conv_bn_relu(in_channels, channels)
        self.branches = nn.ModuleList(
            nn.Sequential(*(_conv_bn_relu(in_channels if i == 0 else channels, channels, dilation=r)
                            for i, r in enumerate(rates)))
            for rates in self.branch_rates
        )
        self.fuse = _conv_bn_relu((1 + len(self.branches)) * channels, channels, kernel_size=1)

    def forward(self, pyramid: Sequence[torch.Tensor]) -> torch.Tensor:
        size = pyramid[0].shape[-2:]
        parts = [self.plain(pyramid[0])]
        for branch, level in zip(self.branches, pyramid[1:]):
            parts.append(F.interpolate(branch(level), size=size, mode="bilinear", align_corners=False))
        return self.fuse(torch.cat(parts, dim=1))


class LevelDFPN(ForegroundFPN):
    """One foreground logit per pixel (B, 1, H, W) of normalised images (B, 3, H, W):
    :class:`~c2fbench.models.fpn.ForegroundFPN` (backbone C2..C5, torchvision's
    FeaturePyramidNetwork, the 1x1 predictor, ``forward`` and ``param_groups``) with its
    merge to stride 4 replaced by :class:`LevelBranches` (``head``). Build it with a function
    of :data:`c2fbench.models.MODELS` rather than directly.
    """

    def __init__(self, backbone: Stages, *, fpn_channels: int, head_channels: int,
                 branch_rates: Sequence[Sequence[int]] = LEVEL_BRANCH_RATES) -> None:
        super().__init__(backbone, fpn_channels=fpn_channels, head_channels=head_channels, branch_rates=None)
        del self.merge
        self.head = LevelBranches(fpn_channels, head_channels, branch_rates=branch_rates)

    def merge(self, pyramid: Sequence[torch.Tensor]) -> torch.Tensor:
        """ForegroundFPN's step from P2..P5 to the map the predictor reads: here the branches."""
        return self.head(pyramid)


# Widths as fpn.py's: FPN 256 / head 128 on ResNet, 128 / 64 on MobileNet.
def dfpn_levels_resnet101(*, num_classes: int = 1, pretrained_backbone: bool = False,
                          branch_rates: Sequence[Sequence[int]] = LEVEL_BRANCH_RATES) -> LevelDFPN:
    """DFPN's second reading on ResNet-101 (as the paper's): a dilated branch on each of P3..P5.

    ``pretrained_backbone`` loads torchvision's ``ResNet101_Weights.IMAGENET1K_V1``.
    """
    _check_one_class(num_classes)
    return LevelDFPN(_resnet_stages(101, pretrained_backbone), fpn_channels=256, head_channels=128,
                     branch_rates=branch_rates)


def dfpn_levels_resnet50(*, num_classes: int = 1, pretrained_backbone: bool = False,
                         branch_rates: Sequence[Sequence[int]] = LEVEL_BRANCH_RATES) -> LevelDFPN:
    """As :func:`dfpn_levels_resnet101` with ResNet-50 (``ResNet50_Weights.IMAGENET1K_V1``)."""
    _check_one_class(num_classes)
    return LevelDFPN(_resnet_stages(50, pretrained_backbone), fpn_channels=256, head_channels=128,
                     branch_rates=branch_rates)


def dfpn_levels_mobilenet(*, num_classes: int = 1, pretrained_backbone: bool = False,
                          branch_rates: Sequence[Sequence[int]] = LEVEL_BRANCH_RATES) -> LevelDFPN:
    """A light second-reading DFPN for CPU runs: fpn_mobilenet's backbone, FPN 128, head 64.

    >>> dfpn_levels_mobilenet()(torch.zeros(1, 3, 64, 48)).shape
    torch.Size([1, 1, 64, 48])
    """
    _check_one_class(num_classes)
    return LevelDFPN(_mobilenet_stages(pretrained_backbone), fpn_channels=128, head_channels=64,
                     branch_rates=branch_rates)
