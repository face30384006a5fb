"""torchvision's segmentation models as runtimes: ``--model torchvision:NAME --weights FILE``.

The network is built with ``weights=None, weights_backbone=None`` (nothing is downloaded)
and ``num_classes`` from ``--classes`` (default ``voc``, 21 classes: torchvision's own
weights use VOC's), without the auxiliary head; the state dict comes from ``FILE``, read with
``torch.load(weights_only=True)``: a plain state dict, or a checkpoint of torchvision's
reference scripts (``{"model": state_dict, ...}``). The auxiliary head's weights
(``aux_classifier.*``) are left out: they do not reach ``out``. Normalisation defaults to
ImageNet's, as torchvision's transforms apply.
"""

from __future__ import annotations

from pathlib import Path

from c2fbench.errors import InputError
from c2fbench.inference import ModuleRuntime, file_sha256
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


def load_torchvision_state(net, weights: Path, *, name: str, num_classes: int) -> None:
    """Load ``weights`` into ``net`` (built by :func:`build_torchvision`); InputError, one
    line, for a file that is not a state dict or does not fit (keys or shapes)."""
    import torch

    from c2fbench.files import MAX_MODEL_BYTES, check_regular_file

    check_regular_file(weights, max_bytes=MAX_MODEL_BYTES, what="weights file")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle errors, zip errors, a non-torch file
        raise InputError(f"{weights}: not a readable torch state dict ({type(e).__name__})") from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # torchvision's reference scripts save {"model": ..., "optimizer": ..., ...}
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError(f"{weights}: expected a state dict (name -> tensor) or a checkpoint with 'model'")
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}  # DDP's prefix
    state = {k: v for k, v in state.items() if not k.startswith("aux_classifier.")}
    expected = net.net.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong:
        parts = [f"{len(missing)} missing (first {missing[0]!r})" if missing else "",
                 f"{len(unexpected)} unexpected (first {unexpected[0]!r})" if unexpected else "",
                 f"{len(wrong)} of another shape (first {wrong[0]!r}: {tuple(state[wrong[0]].shape)}, model "
                 f"{tuple(expected[wrong[0]].shape)})" if wrong else ""]
        raise InputError(f"{weights}: does not fit torchvision {name} with "
                         f"{num_classes} classes: keys {'; '.join(p for p in parts if p)}")
    net.net.load_state_dict(state)


def load_torchvision_runtime(name: str, weights: Path | None, *, device: str = "cpu", threads: int | None = None,
                             override: MetadataOverride | None = None, amp: bool = False,
                             channels_last: bool = False) -> ModuleRuntime:
    """``--model torchvision:NAME --weights FILE`` as a :class:`ModuleRuntime` (``amp``,
    ``channels_last``: as there): classes from ``override`` (default VOC's), normalisation
    from it (default ImageNet's)."""
    if weights is None:
        raise InputError(f"--model torchvision:{name} needs --weights FILE (a state dict; nothing is downloaded)")
    weights = Path(weights)
    classes = class_names(override.classes if override and override.classes else "voc")
    normalization = override.normalization if override and override.normalization else IMAGENET
    net = build_torchvision(name, len(classes))
    load_torchvision_state(net, weights, name=name, num_classes=len(classes))
    return ModuleRuntime(net, classes=classes, normalization=dict(normalization), device=device, threads=threads,
                         amp=amp, channels_last=channels_last,
                         source={"model": f"torchvision:{name}", "weights": str(weights.resolve()),
                                 "sha256": file_sha256(weights)})
