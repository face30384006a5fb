"""The student network of Croitoru et al. (ICCV 2017), the paper's coarse-mask generator.

Jing, Chen & Tian (Algorithm 1, line 1) take coarse masks from this "8-layer CNN" trained
without labels on video frames. Its architecture follows ioanacroi/unsup-learning-from-video
``model.py`` / ``train.py`` (reference/train-anchors.md section 1)::

    (B, 6, 128, 128) = RGB (3) | derivatives d/dy, d/dx of the grey image (2) | hue (1)
    three pathways, each: conv3x3 -> width, ReLU, conv5x5 -> width, ReLU, maxpool 2
    concat                                  (B, 3*width, 64, 64)
    conv3x3 -> width, ReLU, conv5x5 -> width, ReLU, maxpool 2       (B, width, 32, 32)
    conv3x3 -> width, ReLU, conv5x5 -> width, ReLU, conv5x5 -> head, ReLU
    flatten, fully connected -> fc_out * fc_out, ReLU               (B, 1, 32, 32)

SAME padding and no BatchNorm, as the original; every convolution is followed by a ReLU
(``model.py`` applies one after each, the shared ones included). The paper's sizes are the
defaults (width 256, head 64: 78M parameters, 67M of them in the fully connected layer);
smaller widths make it practical on a CPU.

Two deliberate differences from the TensorFlow code:

- Targets are soft masks in [0, 1] (the original regressed 0..255 VideoPCA masks); the
  output is therefore clipped to [0, 1] at inference where the original clipped at 255.
- Weights use PyTorch's default fan-in initialisation. The original's truncated normal
  with std 0.05 multiplies the activation variance by ~8 per 5x5x256 layer without
  BatchNorm; only the fully connected bias keeps its original 0.1, so that the output
  ReLU starts alive. The flatten order is (C, H, W), not TensorFlow's (H, W, C), which
  matters only for importing the authors' weights (not reachable here).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from c2fbench.errors import InputError

INPUT_SIZE = 128  # the fully connected layer fixes the input size: 128 -> 32x32 features
ARCH = "student"


def _pathway(in_channels: int, width: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(width, width, 5, padding=2), nn.ReLU(inplace=True),
                         nn.MaxPool2d(2))


class StudentNet(nn.Module):
    """Soft foreground mask (B, 1, fc_out, fc_out) of (B, 6, 128, 128) student inputs.

    Build the inputs with :func:`student_inputs`. The output is a ReLU, so it is >= 0 but
    not bounded above; :func:`predict_soft` clips it to [0, 1].

    >>> net = StudentNet(width=8, head_channels=4)
    >>> net(torch.zeros(2, 6, 128, 128)).shape
    torch.Size([2, 1, 32, 32])
    """

    def __init__(self, *, width: int = 256, head_channels: int = 64, fc_out: int = 32):
        super().__init__()
        self.kwargs = {"width": width, "head_channels": head_channels, "fc_out": fc_out}
        self.rgb = _pathway(3, width)
        self.derivatives = _pathway(2, width)
        self.hue = _pathway(1, width)
        self.shared = nn.Sequential(
            nn.Conv2d(3 * width, width, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 5, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 5, padding=2), nn.ReLU(inplace=True),
            nn.Conv2d(width, head_channels, 5, padding=2), nn.ReLU(inplace=True))
        side = INPUT_SIZE // 4
        self.fc = nn.Linear(head_channels * side * side, fc_out * fc_out)
        nn.init.constant_(self.fc.bias, 0.1)  # as model.py: the output ReLU starts alive
        self.fc_out = fc_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1:] != (6, INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"StudentNet expects (B, 6, {INPUT_SIZE}, {INPUT_SIZE}) inputs, got {tuple(x.shape)}")
        features = torch.cat([self.rgb(x[:, 0:3]), self.derivatives(x[:, 3:5]), self.hue(x[:, 5:6])], dim=1)
        features = self.shared(features)
        out = F.relu(self.fc(features.flatten(1)))
        return out.view(-1, 1, self.fc_out, self.fc_out)


def student_inputs(rgb: np.ndarray, *, size: int = INPUT_SIZE) -> np.ndarray:
    """(6, size, size) float32 network input of an (H, W, 3) uint8 RGB image.

    Channels: RGB in [0, 1]; ``np.gradient`` of the grey image (in [0, 1]) along axis 0
    then axis 1, as ``compute_gradient_x`` / ``_y`` of the original; hue in [0, 1) from
    OpenCV's HSV (degrees / 360, like ``tf.image.rgb_to_hsv``). The image is resized first
    (area when shrinking, bilinear when enlarging); derivatives are taken after resizing.
    """
    import cv2

    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {rgb.shape}")
    if rgb.shape[:2] != (size, size):
        shrink = rgb.shape[0] >= size and rgb.shape[1] >= size
        rgb = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    image = np.ascontiguousarray(rgb, dtype=np.float32) / 255.0
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    d0, d1 = np.gradient(grey)
    hue = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)[..., 0] / 360.0
    return np.concatenate([image.transpose(2, 0, 1), d0[None], d1[None], hue[None]]).astype(np.float32)


@torch.no_grad()
def predict_soft_batch(model: StudentNet, images: list[np.ndarray], *, batch_size: int = 16) -> list[np.ndarray]:
    """(H, W) float32 soft masks in [0, 1], one per (H, W, 3) uint8 RGB image.

    The (32, 32) output is clipped to [0, 1] and resized bilinearly to each image's size
    (``get_segmentation.py``). The model runs in eval mode; its mode is restored after.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    masks = []
    try:
        for start in range(0, len(images), batch_size):
            chunk = images[start:start + batch_size]
            x = torch.from_numpy(np.stack([student_inputs(rgb) for rgb in chunk])).to(device)
            out = model(x).clamp_(0.0, 1.0)
            for rgb, soft in zip(chunk, out):
                up = F.interpolate(soft[None], size=rgb.shape[:2], mode="bilinear", align_corners=False)
                masks.append(up[0, 0].clamp_(0.0, 1.0).cpu().numpy().astype(np.float32))
    finally:
        model.train(was_training)
    return masks


def predict_soft(model: StudentNet, rgb: np.ndarray) -> np.ndarray:
    """(H, W) float32 soft mask in [0, 1] of one (H, W, 3) uint8 RGB image."""
    return predict_soft_batch(model, [rgb])[0]


def save_student(path: str | os.PathLike, model: StudentNet, *, extra: dict) -> None:
    """Write a checkpoint atomically: a dict of tensors and plain values only.

    ``{"arch": "student", "kwargs": {width, head_channels, fc_out}, "state_dict": ...,
    **extra}``; ``extra`` holds plain values (teacher, keep fraction, epochs, version, ...).
    """
    from c2fbench.atomic import atomic_open

    reserved = {"arch", "kwargs", "state_dict"} & set(extra)
    if reserved:
        raise ValueError(f"extra must not set {sorted(reserved)}")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"arch": ARCH, "kwargs": dict(model.kwargs), "state_dict": state, **extra}
    with atomic_open(path, "wb") as f:
        torch.save(payload, f)


def _infer_kwargs(state: dict, path: Path) -> dict:
    """Constructor arguments of a bare state dict, from its weight shapes."""
    try:
        width = state["rgb.0.weight"].shape[0]
        head_channels = state["shared.9.weight"].shape[0]
        fc_rows = state["fc.weight"].shape[0]
    except (KeyError, AttributeError, IndexError) as e:
        raise InputError(f"{path}: not a student state dict (missing {e}; expected keys rgb.*, derivatives.*, "
                         f"hue.*, shared.*, fc.*)") from None
    fc_out = math.isqrt(fc_rows)
    if fc_out * fc_out != fc_rows:
        raise InputError(f"{path}: fc.weight has {fc_rows} rows; a student network needs a square number")
    return {"width": int(width), "head_channels": int(head_channels), "fc_out": fc_out}


def load_student(path: str | os.PathLike) -> StudentNet:
    """The :class:`StudentNet` of a checkpoint from :func:`save_student`, or of a bare
    compatible state dict (sizes inferred from the weight shapes), in eval mode.

    Always read with ``weights_only=True``: opening a checkpoint never runs code. A missing,
    unreadable or incompatible file raises :class:`InputError` naming it.
    """
    from c2fbench.files import check_regular_file

    path = Path(path)
    check_regular_file(path, max_bytes=4 << 30, what="student checkpoint")  # a FIFO would hang torch.load
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle, zip and weights-only errors all mean "not our file"
        from c2fbench.models.checkpoint import why_unreadable

        raise InputError(f"{path}: not a readable student checkpoint (expected a torch.save dict of "
                         f"tensors; {why_unreadable(e)})") from None
    if not isinstance(payload, dict):
        raise InputError(f"{path}: expected a dict checkpoint, got {type(payload).__name__}")
    if "state_dict" in payload:
        if payload.get("arch") != ARCH:
            raise InputError(f"{path}: checkpoint architecture is {payload.get('arch')!r}, expected {ARCH!r}")
        state, kwargs = payload["state_dict"], payload.get("kwargs")
        if not isinstance(kwargs, dict) or not all(isinstance(kwargs.get(k), int) for k in ("width", "head_channels")):
            raise InputError(f"{path}: checkpoint kwargs {kwargs!r} lack integer width and head_channels")
        kwargs = {k: kwargs[k] for k in ("width", "head_channels", "fc_out") if k in kwargs}
    else:
        state = payload
        if not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise InputError(f"{path}: expected a student checkpoint or a state dict of tensors")
        kwargs = _infer_kwargs(state, path)
    try:
        model = StudentNet(**kwargs)
        model.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, ValueError) as e:
        first = str(e).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:3])[:300]
        raise InputError(f"{path}: weights do not fit StudentNet({kwargs}): {detail}") from None
    return model.eval()
