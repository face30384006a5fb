"""``c2fbench demo``: the whole benchmark loop on the embedded synthetic data, offline.

Until the coarse-to-fine trainer lands, the predictions come from a deliberately simple,
honest baseline: a per-pixel nearest-centroid classifier (scikit-learn; background gets
several k-means centroids) on local colour features, fitted on the VOC-format *train* split and applied to *val* and to the Object
Discovery subsets (any non-background class counts as foreground there). It learns only
from training labels, so its scores say what colour alone can do on this data.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from c2fbench.console import info, progress, progress_callback, success
from c2fbench.data.labels import read_label_png, write_label_png, write_mask_png

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


def run_demo(out: Path, *, preset: str = "demo", seed: int = 0, workers: int | None = None,
             bootstrap: int = 200) -> dict[str, Path]:
    """Synthetic data, baseline predictions, VOC and MIT evaluations, results on disk."""
    from c2fbench.benchmarks import load_benchmark
    from c2fbench.data.synth import write_synth
    from c2fbench.evaluator import PngPredictions, evaluate
    from c2fbench.report.terminal import print_metrics
    from c2fbench.results import write_eval

    data = out / "data"
    stamp = data / "synth.json"  # written last by write_synth, so the data is complete
    done = json.loads(stamp.read_text()) if stamp.is_file() else {}
    if (done.get("preset"), done.get("seed")) == (preset, seed):
        info(f"reusing the synthetic benchmark in {data}")
    else:
        with progress_callback("synthetic benchmark") as report:
            write_synth(data, preset=preset, seed=seed, progress=report)

    voc = load_benchmark("voc-val", data)
    train_ids = (voc.root / "ImageSets" / "Segmentation" / "train.txt").read_text().split()
    info(f"fitting the colour baseline on {len(train_ids)} training images")
    model = fit_colour_baseline(voc.root, train_ids, seed=seed)
    paths = {}
    for name, foreground in (("voc-val", False), ("mit-subset", True)):
        bench = voc if name == "voc-val" else load_benchmark(name, data)
        pred_dir = out / "predictions" / name
        predict_folder(model, [(s.image, pred_dir / f"{s.id}.png") for s in bench.samples],
                       foreground=foreground, description=f"predict {name}")
        with progress(len(bench.samples), f"eval {name}") as advance:
            result = evaluate(bench, PngPredictions(pred_dir), workers=workers, bootstrap=bootstrap, advance=advance)
        print_metrics(result.metrics)
        paths[name] = out / f"eval-{name}"
        write_eval(paths[name], result)
    success(f"demo results in {out} (metrics.json, per_image.npz, confusion.png per benchmark)")
    return paths
