"""Segmentation models by name, and the checkpoint format that stores them.

:data:`MODELS` maps an architecture name to its builder, a plain function with keyword-only
arguments; a checkpoint records the name and the arguments, and :func:`build_model` rebuilds
the model from them. Every model maps normalised images (B, 3, H, W) (RGB in [0, 1], minus
:data:`IMAGENET_MEAN`, over :data:`IMAGENET_STD`) to logits (B, num_classes, H, W).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from c2fbench.errors import InputError
from c2fbench.models.aspp import PAPER_RATES, ASPPv2
from c2fbench.models.checkpoint import load_checkpoint, read_checkpoint_meta, save_checkpoint
from c2fbench.models.deeplab import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    MOBILENET_RATES,
    DeepLabV2,
    deeplab_v2_mobilenet,
    deeplab_v2_mobilenet_os8,
    deeplab_v2_mobilenet_small,
    deeplab_v2_mobilenet_small_os8,
    deeplab_v2_resnet50,
    deeplab_v2_resnet101,
    deeplab_v2_vgg_lite,
)
from c2fbench.models.dfpn_levels import dfpn_levels_mobilenet, dfpn_levels_resnet50, dfpn_levels_resnet101
from c2fbench.models.fpn import (
    dfpn_mobilenet,
    dfpn_resnet50,
    dfpn_resnet101,
    fpn_mobilenet,
    fpn_resnet50,
    fpn_resnet101,
)

MODELS: dict[str, Callable[..., nn.Module]] = {
    "deeplab_v2_resnet101": deeplab_v2_resnet101,  # the paper's model
    "deeplab_v2_resnet50": deeplab_v2_resnet50,
    "deeplab_v2_mobilenet": deeplab_v2_mobilenet,  # light, for CPU runs
    "deeplab_v2_mobilenet_small": deeplab_v2_mobilenet_small,  # lighter
    "deeplab_v2_mobilenet_os8": deeplab_v2_mobilenet_os8,  # DeepLab v2's output stride 8
    "deeplab_v2_mobilenet_small_os8": deeplab_v2_mobilenet_small_os8,
    "deeplab_v2_vgg_lite": deeplab_v2_vgg_lite,  # plain convs, trains from scratch fast (demo)
    # foreground segmentation, one logit (section III-F, Table IV)
    "fpn_resnet101": fpn_resnet101,  # the paper's FPN-Baseline
    "fpn_resnet50": fpn_resnet50,
    "fpn_mobilenet": fpn_mobilenet,
    "dfpn_resnet101": dfpn_resnet101,  # the paper's DFPN
    "dfpn_resnet50": dfpn_resnet50,
    "dfpn_mobilenet": dfpn_mobilenet,
    # DFPN, second reading: a dilated branch per pyramid level
    "dfpn_levels_resnet101": dfpn_levels_resnet101,
    "dfpn_levels_resnet50": dfpn_levels_resnet50,
    "dfpn_levels_mobilenet": dfpn_levels_mobilenet,
}


def build_model(arch: str, **kwargs) -> nn.Module:
    """``MODELS[arch](**kwargs)``; an unknown ``arch`` or keyword raises :class:`InputError`.

    >>> build_model("deeplab_v2_mobilenet", num_classes=3).num_classes
    3
    """
    try:
        builder = MODELS[arch]
    except (KeyError, TypeError):
        raise InputError(f"unknown model architecture {arch!r}; known: {', '.join(MODELS)}") from None
    try:
        return builder(**kwargs)
    except TypeError as e:  # an unexpected keyword, from a user's config or a checkpoint
        raise InputError(f"bad arguments for model {arch!r}: {e}") from None

__all__ = [
    "ASPPv2", "DeepLabV2", "IMAGENET_MEAN", "IMAGENET_STD", "MOBILENET_RATES", "MODELS", "PAPER_RATES",
    "build_model", "deeplab_v2_mobilenet", "deeplab_v2_mobilenet_os8", "deeplab_v2_mobilenet_small",
    "deeplab_v2_mobilenet_small_os8", "deeplab_v2_resnet50", "deeplab_v2_resnet101", "deeplab_v2_vgg_lite",
    "load_checkpoint", "read_checkpoint_meta", "save_checkpoint",
]
