"""Evaluation throughput: ``c2fbench eval voc-val`` against the straightforward loop.

The peer is the loop most VOC code bases use (mmsegmentation's confusion-matrix tool,
chainercv, torchvision's references): decode both PNGs with PIL, mask out void, then
``np.bincount(21 * gt + pred)`` on int64, one process. Both run over the same
VOC-val-sized folder (1,449 pairs of 500x375 palette PNGs, generated once and cached),
both as whole processes started from the shell, and must produce identical matrices.

    python benchmarks/eval_throughput.py [--data DIR] [--repeats 3] [--workers N]

Prints the whole-process ratio, the ratio of the confusion-matrix update alone, and the
peak memory of the eval process at two dataset sizes (it must not grow with images).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

NUM_VAL, H, W, C = 1449, 375, 500, 21


def make_dataset(root: Path, n: int = NUM_VAL, seed: int = 0) -> tuple[Path, Path]:
    """VOC-style ground truth (objects with a 5 px void band) and imperfect predictions."""
    import cv2

    from c2fbench.data.png import write_label_png

    voc, pred_dir = root / "VOCdevkit" / "VOC2012", root / "pred"
    if (root / "done.json").is_file() and json.loads((root / "done.json").read_text()) == {"n": n, "seed": seed}:
        return root, pred_dir
    rng = np.random.default_rng(seed)
    ids = [f"2008_{k:06d}" for k in range(n)]
    for image_id in ids:
        gt = np.zeros((H, W), np.uint8)
        for _ in range(rng.integers(1, 4)):
            centre = (int(rng.integers(60, W - 60)), int(rng.integers(60, H - 60)))
            axes = (int(rng.integers(30, 150)), int(rng.integers(30, 120)))
            cv2.ellipse(gt, centre, axes, float(rng.uniform(0, 180)), 0, 360, int(rng.integers(1, C)), -1)
        edges = cv2.morphologyEx(gt, cv2.MORPH_GRADIENT, np.ones((5, 5), np.uint8)) > 0
        pred = cv2.dilate(gt, np.ones((7, 7), np.uint8)) if rng.random() < 0.5 else gt.copy()
        cv2.circle(pred, (int(rng.integers(0, W)), int(rng.integers(0, H))), int(rng.integers(10, 60)),
                   int(rng.integers(0, C)), -1)
        gt[edges] = 255
        write_label_png(voc / "SegmentationClass" / f"{image_id}.png", gt)
        write_label_png(pred_dir / f"{image_id}.png", pred)
    split = voc / "ImageSets" / "Segmentation"
    split.mkdir(parents=True, exist_ok=True)
    (split / "val.txt").write_text("".join(f"{i}\n" for i in ids))
    (root / "done.json").write_text(json.dumps({"n": n, "seed": seed}))
    return root, pred_dir


# The peer, run as its own process: PIL decode + int64 bincount, one process.
BASELINE = r"""
import sys, numpy as np
from PIL import Image
voc, pred, out = sys.argv[1:4]
ids = open(voc + "/ImageSets/Segmentation/val.txt").read().split()
hist = np.zeros((21, 21), np.int64)
for i in ids:
    gt = np.asarray(Image.open(f"{voc}/SegmentationClass/{i}.png"))
    p = np.asarray(Image.open(f"{pred}/{i}.png"))
    keep = gt != 255
    hist += np.bincount(21 * gt[keep].astype(np.int64) + p[keep], minlength=441).reshape(21, 21)
np.save(out, hist)
"""


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def peak_rss_mb(cmd: list[str]) -> float:
    """Peak resident memory of a command, via GNU time if present, else resource of children."""
    probe = [sys.executable, "-c", "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
             "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)", *cmd]
    return int(subprocess.run(probe, check=True, capture_output=True, text=True).stdout) / 1024


def update_only(root: Path, pred_dir: Path, n: int = 300) -> tuple[float, float]:
    """Milliseconds per pair for the update alone, on pairs already in memory; ours is the
    metric object as eval uses it, keeping each image's matrix by id for per_image.npz."""
    from PIL import Image

    from c2fbench.metrics import ConfusionMatrix

    ids = (root / "VOCdevkit/VOC2012/ImageSets/Segmentation/val.txt").read_text().split()[:n]
    pairs = [(np.asarray(Image.open(root / f"VOCdevkit/VOC2012/SegmentationClass/{i}.png")),
              np.asarray(Image.open(pred_dir / f"{i}.png"))) for i in ids]
    hist = np.zeros((C, C), np.int64)
    start = time.perf_counter()
    for gt, p in pairs:
        keep = gt != 255
        hist += np.bincount(C * gt[keep].astype(np.int64) + p[keep], minlength=C * C).reshape(C, C)
    peer = (time.perf_counter() - start) / n * 1e3
    cm = ConfusionMatrix(num_classes=C, images=ids)
    start = time.perf_counter()
    for image_id, (gt, p) in zip(ids, pairs):
        cm.update(gt, p, image_id=image_id)
    ours = (time.perf_counter() - start) / n * 1e3
    assert np.array_equal(hist, cm.matrix), "update paths disagree"
    return peer, ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "c2fbench-bench-voc")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()

    root, pred_dir = make_dataset(args.data)
    voc = root / "VOCdevkit" / "VOC2012"
    exe = shutil.which("c2fbench", path=str(Path(sys.executable).parent)) or "c2fbench"
    ours_cmd = [exe, "eval", "voc-val", "--data-root", str(root), "--predictions", str(pred_dir), "--no-figures"]
    if args.workers:
        ours_cmd += ["--workers", str(args.workers)]
    with tempfile.TemporaryDirectory() as tmp:
        peer_cmd = [sys.executable, "-c", BASELINE, str(voc), str(pred_dir), f"{tmp}/peer.npy"]
        subprocess.run(ours_cmd + ["--out", f"{tmp}/ours"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        subprocess.run(peer_cmd, check=True)
        ours_matrix = np.array(json.loads(Path(f"{tmp}/ours/metrics.json").read_text())["confusion_matrix"])
        identical = np.array_equal(np.load(f"{tmp}/peer.npy"), ours_matrix)
        peer_s = statistics.median(timed(peer_cmd) for _ in range(args.repeats))
        ours_s = statistics.median(timed(ours_cmd) for _ in range(args.repeats))
    peer_ms, ours_ms = update_only(root, pred_dir)
    small_root, small_pred = make_dataset(args.data.with_name(args.data.name + "-300"), n=300)
    rss_small = peak_rss_mb([exe, "eval", "voc-val", "--data-root", str(small_root), "--predictions",
                             str(small_pred), "--no-figures"])
    rss_full = peak_rss_mb(ours_cmd)

    import cv2
    import PIL

    print(f"machine: {platform.machine()}, {len(__import__('os').sched_getaffinity(0))} CPUs, "
          f"python {platform.python_version()}, numpy {np.__version__}, pillow {PIL.__version__}, "
          f"opencv {cv2.__version__}, date {time.strftime('%Y-%m-%d')}")
    print(f"whole process, {NUM_VAL} pairs of {W}x{H}: peer {peer_s:.2f} s, c2fbench eval {ours_s:.2f} s, "
          f"ratio {peer_s / ours_s:.2f}x, identical matrices: {identical}")
    print(f"confusion update alone: peer {peer_ms:.3f} ms/pair, c2fbench {ours_ms:.3f} ms/pair, "
          f"ratio {peer_ms / ours_ms:.2f}x")
    print(f"peak memory of the eval process (all workers' parent): 300 pairs {rss_small:.0f} MB, "
          f"{NUM_VAL} pairs {rss_full:.0f} MB")
    if not identical:
        sys.exit("matrices differ")


if __name__ == "__main__":
    main()
