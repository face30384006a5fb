"""Helpers shared by the model tests (tests/models/)."""

from __future__ import annotations

import torch


def support_of_centre_cell(module: torch.nn.Module, in_channels: int, size: int, *,
                           out_channels: int | None = None) -> torch.Tensor:
    """(size, size) bool: input cells the centre output cell of ``module`` depends on, by autograd.

    Eval mode (BatchNorm is then a per-cell affine map), positive weights and inputs: every
    ReLU passes and no two paths cancel, so the gradient is nonzero exactly on the receptive
    field. The output must keep the input's size (padding = dilation), and ``out_channels``
    channels when given.
    """
    module.eval()
    with torch.no_grad():
        for conv in (m for m in module.modules() if isinstance(m, torch.nn.Conv2d)):
            conv.weight.uniform_(0.1, 1.0)
    x = (torch.rand(1, in_channels, size, size) + 0.1).requires_grad_()
    y = module(x)
    assert y.shape[-2:] == (size, size)
    if out_channels is not None:
        assert y.shape[1] == out_channels
    y[0, :, size // 2, size // 2].sum().backward()
    return x.grad[0].abs().sum(0) > 0
