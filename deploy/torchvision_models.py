"""torchvision's segmentation models as runtimes: ``--model torchvision:NAME --weights FILE``,
or the same as ``--model FILE --arch torchvision:NAME``.

The network is built with ``weights=None, weights_backbone=None`` (nothing is downloaded)
and ``num_classes`` from ``--classes`` (default ``voc``, 21 classes: torchvision's own
weights use VOC's), without the auxiliary head; the state dict comes from ``FILE``, read by
:func:`deploy.state_dicts.read_state_dict` (``torch.load(weights_only=True)``): a plain state
dict, or a checkpoint of torchvision's reference scripts (``{"model": state_dict, ...}``).
The auxiliary head's weights (``aux_classifier.*``) are left out: they do not reach ``out``.
Normalisation defaults to ImageNet's, as torchvision's transforms apply.
"""

from __future__ import annotations

from pathlib import Path

from c2fbench.errors import InputError
from c2fbench.files import file_sha256
from c2fbench.inference import ModuleRuntime
from deploy.foreign import IMAGENET, MetadataOverride, class_names


def _builders() -> dict:
    """NAME -> (builder, takes aux_loss): torchvision.models.segmentation's functions."""
    from torchvision.models import segmentation as s

    return {"deeplabv3_mobilenet_v3_large": (s.deeplabv3_mobilenet_v3_large, True),
            "deeplabv3_resnet50": (s.deeplabv3_resnet50, True), "deeplabv3_resnet101": (s.deeplabv3_resnet101, True),
            "fcn_resnet50": (s.fcn_resnet50, True), "fcn_resnet101": (s.fcn_resnet101, True),
            "lraspp_mobilenet_v3_large": (s.lraspp_mobilenet_v3_large, False)}


NAMES = ("deeplabv3_mobilenet_v3_large", "deeplabv3_resnet50", "deeplabv3_resnet101", "fcn_resnet50",
         "fcn_resnet101", "lraspp_mobilenet_v3_large")


def build_torchvision(name: str, num_classes: int):
    """torchvision segmentation model ``name``, random weights, no auxiliary head, its
    forward giving the ``out`` logits (B, C, H, W) at the input's size."""
    import torch

    if name not in NAMES:
        raise InputError(f"--model torchvision:{name}: unknown torchvision segmentation model; "
                         f"known: {', '.join(NAMES)}")
    builder, has_aux = _builders()[name]
    extra = {"aux_loss": False} if has_aux else {}
    net = builder(weights=None, weights_backbone=None, num_classes=num_classes, **extra)

    class OutLogits(torch.nn.Module):
        """The segmentation model with its dict output reduced to ``out``."""

        def __init__(self, net) -> None:
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x)["out"]
    return OutLogits(net)


def load_torchvision_state(net, weights: Path, *, name: str, num_classes: int) -> str:
    """Load ``weights`` into ``net`` (built by :func:`build_torchvision`); InputError, one
    line, for a file that is not a state dict or does not fit (keys or shapes). Returns
    where the weights were found (:func:`deploy.state_dicts.read_state_dict`)."""
    from deploy.state_dicts import check_state_fits, read_state_dict

    state, where = read_state_dict(weights)
    state = {k: v for k, v in state.items() if not k.startswith("aux_classifier.")}
    check_state_fits(net.net.state_dict(), state, path=weights,
                     what=f"torchvision {name} with {num_classes} classes")
    net.net.load_state_dict(state)
    return where


def load_torchvision_model(name: str, weights: Path | None, *, override: MetadataOverride | None = None):
    """(network, meta) of ``torchvision:NAME`` with ``weights``: the module of
    :func:`build_torchvision` holding them, and ``classes`` (from ``override``, default VOC's),
    ``normalization`` (from it, default ImageNet's), ``arch``, ``kwargs`` and ``weights_from``
    (where in the file the weights were)."""
    if weights is None:
        raise InputError(f"--model torchvision:{name} needs --weights FILE (a state dict; nothing is downloaded)")
    classes = class_names(override.classes if override and override.classes else "voc")
    normalization = override.normalization if override and override.normalization else IMAGENET
    net = build_torchvision(name, len(classes))
    where = load_torchvision_state(net, Path(weights), name=name, num_classes=len(classes))
    return net, {"classes": classes, "normalization": dict(normalization), "arch": f"torchvision:{name}",
                 "kwargs": {"num_classes": len(classes)}, "weights_from": where}


def load_torchvision_runtime(name: str, weights: Path | None, *, device: str = "cpu", threads: int | None = None,
                             override: MetadataOverride | None = None, amp: bool = False,
                             channels_last: bool = False) -> ModuleRuntime:
    """``--model torchvision:NAME --weights FILE`` as a :class:`ModuleRuntime` (``amp``,
    ``channels_last``: as there): classes from ``override`` (default VOC's), normalisation
    from it (default ImageNet's). Where the weights were found in a wrapper (``model``,
    ``state_dict``, a ``module.`` prefix) is said on stderr."""
    net, meta = load_torchvision_model(name, weights, override=override)
    if not meta["weights_from"].startswith("the state dict of"):
        from c2fbench.console import info

        info(f"torchvision:{name}: weights from {meta['weights_from']}")
    return ModuleRuntime(net, classes=meta["classes"], normalization=meta["normalization"], device=device,
                         threads=threads, amp=amp, channels_last=channels_last,
                         source={"model": f"torchvision:{name}", "weights": str(Path(weights).resolve()),
                                 "sha256": file_sha256(weights)})
