"""The DeepLab v2 head: atrous spatial pyramid pooling (ASPP) as Chen et al. (TPAMI 2018).

DeepLab v2 ("ASPP-L" with a ResNet backbone) puts one 3x3 convolution per rate on the last
feature map, each predicting the class scores directly, and SUMS the branches. DeepLab v3
instead concatenates 256-channel branches (with BN and image pooling) and adds a 1x1
projection; that is not what the paper used. Following DeepLab v2 and its PyTorch port
kazuto1011/deeplab-pytorch (reference/train-anchors.md section 3), the branch weights start
from N(0, 0.01) and the biases from 0.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import torch
from torch import nn

from c2fbench.errors import InputError

PAPER_RATES = (6, 12, 18, 24)  # DeepLab v2 ASPP-L at output stride 8, on 321x321 crops


def check_rates(rates: Sequence[int]) -> tuple[int, ...]:
    """``rates`` as a tuple of positive ints, or :class:`InputError`."""
    try:
        out = tuple(operator.index(r) for r in rates)
    except TypeError:
        out = ()
    if not out or any(r < 1 or isinstance(r, bool) for r in out):
        raise InputError(f"ASPP rates must be a non-empty list of positive integers, got {rates!r}")
    return out


class ASPPv2(nn.Module):
    """Class scores (B, num_classes, h, w) of features (B, in_channels, h, w).

    One 3x3 convolution per rate r (dilation r, padding r, so the map keeps its size); the
    branch outputs are summed.

    >>> head = ASPPv2(16, 5, rates=(1, 2))
    >>> head(torch.zeros(2, 16, 9, 9)).shape
    torch.Size([2, 5, 9, 9])
    """

    def __init__(self, in_channels: int, num_classes: int, *, rates: Sequence[int] = PAPER_RATES) -> None:
        super().__init__()
        self.rates = check_rates(rates)
        self.branches = nn.ModuleList(
            nn.Conv2d(in_channels, num_classes, kernel_size=3, padding=r, dilation=r, bias=True)
            for r in self.rates
        )
        for conv in self.branches:
            nn.init.normal_(conv.weight, mean=0.0, std=0.01)
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.branches[0](x)
        for branch in self.branches[1:]:
            out = out + branch(x)
        return out
