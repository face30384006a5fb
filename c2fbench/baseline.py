"""A deliberately simple, honest reference: what colour alone does on a benchmark.

 a per-pixel nearest-centroid classifier (scikit-learn; background gets
several k-means centroids) on local colour features, fitted on the VOC-format *train* split and applied to *val* and to the Object
Discovery subsets (any non-background class counts as foreground there). It learns only
from training labels, so its scores say what colour alone can do on this data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from c2fbench.console import progress
from c2fbench.data.png import read_label_png, write_label_png, write_mask_png

PIXELS_PER_IMAGE = 400


def pixel_features(bgr: np.ndarray) -> np.ndarray:
    """(H, W, 6) float32: Lab colour at two blur scales (5 px and 15 px)."""
    import cv2

    fine = cv2.cvtColor(cv2.GaussianBlur(bgr, (5, 5), 0), cv2.COLOR_BGR2LAB)
    coarse = cv2.cvtColor(cv2.GaussianBlur(bgr, (15, 15), 0), cv2.COLOR_BGR2LAB)
    return np.concatenate([fine, coarse], axis=2).astype(np.float32)


class ColourBaseline:
    """Nearest centroid per pixel; background, being many things, gets several centroids
    (k-means clusters of background pixels), which all predict class 0."""

    def __init__(self, centroids: np.ndarray, classes) -> None:
        self.centroids = np.asarray(centroids, dtype=np.float32)
        self.classes = np.asarray(classes)

    def predict(self, features: np.ndarray) -> np.ndarray:
        from sklearn.metrics import pairwise_distances_argmin

        return self.classes[pairwise_distances_argmin(features, self.centroids)]


def fit_colour_baseline(voc_root: Path, ids: list[str], *, seed: int = 0, background_clusters: int = 12):
    """Fit :class:`ColourBaseline` on sampled non-void training pixels."""
    import cv2
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for image_id in ids:
        label = read_label_png(voc_root / "SegmentationClass" / f"{image_id}.png")
        feats = pixel_features(cv2.imread(str(voc_root / "JPEGImages" / f"{image_id}.jpg")))
        rows, cols = np.nonzero(label != 255)
        pick = rng.choice(rows.size, size=min(PIXELS_PER_IMAGE, rows.size), replace=False)
        xs.append(feats[rows[pick], cols[pick]])
        ys.append(label[rows[pick], cols[pick]])
    x, y = np.concatenate(xs), np.concatenate(ys)
    background = KMeans(background_clusters, n_init=3, random_state=seed).fit(x[y == 0]).cluster_centers_
    present = [k for k in range(1, 21) if (y == k).any()]
    centroids = np.concatenate([background, [x[y == k].mean(axis=0) for k in present]])
    return ColourBaseline(centroids, [0] * background_clusters + present)


def predict_folder(model, images: list[tuple[Path, Path]], *, foreground: bool, description: str) -> None:
    """Write one prediction PNG per (image, output) pair."""
    import cv2

    with progress(len(images), description) as advance:
        for image_path, out_path in images:
            bgr = cv2.imread(str(image_path))
            h, w = bgr.shape[:2]
            pred = model.predict(pixel_features(bgr).reshape(-1, 6)).reshape(h, w).astype(np.uint8)
            if foreground:
                write_mask_png(out_path, pred > 0)
            else:
                write_label_png(out_path, pred)
            advance(1)
