"""The unsupervised teacher: OpenCV's static saliency (opencv-contrib ``cv2.saliency``).

Spectral residual (Hou & Zhang 2007) works on a 64x64 copy and takes ~0.7 ms at 500x375;
fine-grained (centre-surround) takes ~23 ms (reference/train-anchors.md section 1). Both
return a float32 map in [0, 1] at the image's size.
"""

from __future__ import annotations

import numpy as np

SALIENCY_METHODS = ("spectral", "fine")

# A soft mask becomes binary at its own mean (threshold "mean"), or at a given fraction of
# its maximum (a float). Saliency maps are not calibrated probabilities, so the threshold is
# relative to each map. Measured on 40 synthetic demo ImageNet images (foreground 22% of
# pixels), mean IoU with the hidden ground truth, before -> after GrabCut (rect init):
#   spectral: mean 0.26 -> 0.54, 0.25*max 0.10 -> 0.39, 0.5*max 0.02 -> 0.19, Otsu 0.15 -> 0.41
#   fine:     mean 0.33 -> 0.53, 0.25*max 0.33 -> 0.50, 0.5*max 0.26 -> 0.43, Otsu 0.33 -> 0.44
DEFAULT_THRESHOLD = "mean"


def saliency_map(rgb: np.ndarray, *, method: str = "spectral") -> np.ndarray:
    """(H, W) float32 saliency in [0, 1] of an (H, W, 3) uint8 RGB image."""
    import cv2

    if method == "spectral":
        detector = cv2.saliency.StaticSaliencySpectralResidual_create()
    elif method == "fine":
        detector = cv2.saliency.StaticSaliencyFineGrained_create()
    else:
        raise ValueError(f"unknown saliency method {method!r} (expected one of {SALIENCY_METHODS})")
    ok, soft = detector.computeSaliency(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        return np.zeros(rgb.shape[:2], np.float32)
    soft = np.asarray(soft, dtype=np.float32)
    if method == "fine" and soft.max() > 1:  # some OpenCV builds return 0..255
        soft /= 255.0
    return np.clip(soft, 0.0, 1.0)


def binarize(soft: np.ndarray, *, threshold: float | str = DEFAULT_THRESHOLD) -> np.ndarray:
    """(H, W) bool: pixels at or above the map's mean (``"mean"``), or at or above
    ``threshold`` times its maximum (a float in (0, 1]). An all-zero map gives an empty mask.
    """
    peak = float(soft.max()) if soft.size else 0.0
    if peak <= 0:
        return np.zeros(soft.shape, dtype=bool)
    level = float(soft.mean()) if threshold == "mean" else float(threshold) * peak
    return soft >= level


def teacher_confidence(soft: np.ndarray, *, threshold: float | str = DEFAULT_THRESHOLD) -> float:
    """How sure the teacher is of one image, for keeping its best masks.

    Croitoru et al. rank VideoPCA masks by the mean of their non-zero pixels and keep the
    top 10-20%. A saliency map is rarely exactly zero, so its "non-zero" part here is the
    binary foreground: the confidence is the mean normalised saliency over that foreground.
    """
    peak = float(soft.max()) if soft.size else 0.0
    if peak <= 0:
        return 0.0
    fg = binarize(soft, threshold=threshold)
    return float((soft[fg] / peak).mean())
