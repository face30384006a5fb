"""COCO 2014 val scoring: ``c2fbench eval coco-val`` against a numpy bincount loop, its
per-pixel speed against ``eval voc-val``, and its memory from 2,000 to 40,504 images.

Data (generated once and cached): a COCO-format instances file with COCO val's statistics
where they matter here: 640x480 images, 7 instances per image (COCO has 7.7 per image:
Lin et al., "Microsoft COCO", arXiv:1405.0312, Sec. 5), polygon outlines, categories drawn
from the 80, every twentieth instance a crowd region. ``c2fbench data coco-labels`` turns it
into label maps with pycocotools (the labels both sides score), and predictions are those
maps with dilated borders and one wrong blob. The peer loop decodes both PNGs with PIL and
adds ``np.bincount(81 * gt + pred)`` on int64, one process; both must give the same matrix.

    python benchmarks/coco_eval.py [--images 2000] [--repeats 3] [--memory]

``--memory`` also writes 40,504 small (160x120) images, the size of COCO 2014 val, and
prints the eval process's peak memory at 2,000 and at 40,504 images.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from eval_throughput import BASELINE as VOC_BASELINE  # noqa: E402
from eval_throughput import make_dataset as make_voc  # noqa: E402
from eval_throughput import peak_rss_mb, timed  # noqa: E402

C = 81
COCO_VAL_IMAGES = 40_504


def make_coco(root: Path, n: int, size: tuple[int, int] = (640, 480), seed: int = 0) -> tuple[Path, Path]:
    """``root`` as eval coco-val reads it (val2014/, SegmentationClass/val2014/) and predictions."""
    import cv2

    from c2fbench.data.coco import COCO_CATEGORIES
    from c2fbench.data.coco_labels import write_coco_labels
    from c2fbench.data.png import read_label_png, write_label_png

    stamp = {"n": n, "size": list(size), "seed": seed}
    pred_dir = root / "pred"
    if (root / "done.json").is_file() and json.loads((root / "done.json").read_text()) == stamp:
        return root, pred_dir
    shutil.rmtree(root, ignore_errors=True)
    w, h = size
    rng = np.random.default_rng(seed)
    ok, jpeg = cv2.imencode(".jpg", np.zeros((h, w, 3), np.uint8))
    images, annotations = [], []
    for k in range(1, n + 1):
        name = f"COCO_val2014_{k:012d}.jpg"
        (root / "val2014").mkdir(parents=True, exist_ok=True)
        (root / "val2014" / name).write_bytes(jpeg.tobytes())
        images.append({"id": k, "file_name": name, "height": h, "width": w})
        for _ in range(7):
            centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            axes = (int(rng.integers(w // 40, w // 4)), int(rng.integers(h // 40, h // 4)))
            poly = cv2.ellipse2Poly(centre, axes, int(rng.integers(0, 180)), 0, 360, 12).reshape(-1)
            annotations.append({"id": len(annotations) + 1, "image_id": k,
                                "category_id": COCO_CATEGORIES[int(rng.integers(0, 80))][0],
                                "segmentation": [poly.astype(float).tolist()], "area": float(np.pi * axes[0] * axes[1]),
                                "iscrowd": int(len(annotations) % 20 == 19)})
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    ann = root / "annotations" / "instances_val2014.json"
    ann.write_text(json.dumps({"images": images, "annotations": annotations,
                               "categories": [{"id": i, "name": nm} for i, nm in COCO_CATEGORIES]}))
    labels = root / "SegmentationClass" / "val2014"
    write_coco_labels(ann, root / "val2014", labels)
    for k in range(1, n + 1):
        image_id = f"COCO_val2014_{k:012d}"
        gt = read_label_png(labels / f"{image_id}.png")
        pred = cv2.dilate(gt, np.ones((7, 7), np.uint8)) if rng.random() < 0.5 else gt.copy()
        cv2.circle(pred, (int(rng.integers(0, w)), int(rng.integers(0, h))), int(rng.integers(10, 60)),
                   int(rng.integers(0, C)), -1)
        write_label_png(pred_dir / f"{image_id}.png", pred)
    (root / "done.json").write_text(json.dumps(stamp))
    return root, pred_dir


# The peer, run as its own process: PIL decode + int64 bincount over the ids coco-labels wrote.
BASELINE = r"""
import sys, numpy as np
from PIL import Image
labels, pred, out = sys.argv[1:4]
hist = np.zeros((81, 81), np.int64)
for i in open(labels + "/ids.txt").read().split():
    gt = np.asarray(Image.open(f"{labels}/{i}.png"))
    p = np.asarray(Image.open(f"{pred}/{i}.png"))
    keep = gt != 255
    hist += np.bincount(81 * gt[keep].astype(np.int64) + p[keep], minlength=6561).reshape(81, 81)
np.save(out, hist)
"""


def pixels(label_dir: Path, ids: list[str]) -> int:
    from PIL import Image

    return sum(int(np.prod(Image.open(label_dir / f"{i}.png").size)) for i in ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "c2fbench-bench-coco")
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--memory", action="store_true", help="also the peak memory at 2,000 and 40,504 images")
    args = parser.parse_args()

    root, pred_dir = make_coco(args.data, args.images)
    labels = root / "SegmentationClass" / "val2014"
    voc_root, voc_pred = make_voc(args.data.with_name("c2fbench-bench-voc"))
    voc = voc_root / "VOCdevkit" / "VOC2012"
    exe = shutil.which("c2fbench", path=str(Path(sys.executable).parent)) or "c2fbench"
    workers = ["--workers", str(args.workers)] if args.workers else []
    ours_cmd = [exe, "eval", "coco-val", "--data-root", str(root), "--predictions", str(pred_dir), "--no-figures",
                *workers]
    voc_cmd = [exe, "eval", "voc-val", "--data-root", str(voc_root), "--predictions", str(voc_pred), "--no-figures",
               *workers]
    with tempfile.TemporaryDirectory() as tmp:
        peer_cmd = [sys.executable, "-c", BASELINE, str(labels), str(pred_dir), f"{tmp}/peer.npy"]
        voc_peer_cmd = [sys.executable, "-c", VOC_BASELINE, str(voc), str(voc_pred), f"{tmp}/voc-peer.npy"]
        subprocess.run(ours_cmd + ["--out", f"{tmp}/ours"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        subprocess.run(peer_cmd, check=True)
        ours_matrix = np.array(json.loads(Path(f"{tmp}/ours/metrics.json").read_text())["confusion_matrix"])
        identical = np.array_equal(np.load(f"{tmp}/peer.npy"), ours_matrix)
        times = {name: [] for name in ("peer", "ours", "voc", "voc_peer")}
        for _ in range(args.repeats):  # interleaved, so a change of load hits all four alike
            for name, cmd in (("peer", peer_cmd), ("ours", ours_cmd), ("voc", voc_cmd), ("voc_peer", voc_peer_cmd)):
                times[name].append(timed(cmd))
    t = {name: statistics.median(v) for name, v in times.items()}
    coco_ids = (labels / "ids.txt").read_text().split()
    voc_ids = (voc / "ImageSets/Segmentation/val.txt").read_text().split()
    coco_px, voc_px = pixels(labels, coco_ids), pixels(voc / "SegmentationClass", voc_ids)
    coco_rate, voc_rate = coco_px / t["ours"] / 1e6, voc_px / t["voc"] / 1e6

    import cv2
    import PIL

    print(f"machine: {platform.machine()}, {len(os.sched_getaffinity(0))} CPUs, python {platform.python_version()}, "
          f"numpy {np.__version__}, pillow {PIL.__version__}, opencv {cv2.__version__}, "
          f"date {time.strftime('%Y-%m-%d')}")
    print(f"coco-val, {len(coco_ids)} pairs of 640x480: peer loop {t['peer']:.2f} s, c2fbench eval {t['ours']:.2f} s, "
          f"ratio {t['peer'] / t['ours']:.2f}x, identical matrices: {identical}")
    print(f"per-pixel speed (whole process): coco-val {coco_rate:.0f} Mpx/s, voc-val {voc_rate:.0f} Mpx/s "
          f"({len(voc_ids)} pairs, {t['voc']:.2f} s; its peer loop {t['voc_peer']:.2f} s): "
          f"voc-val / coco-val = {voc_rate / coco_rate:.2f} (target <= 1.5)")
    if args.memory:
        small_root, small_pred = make_coco(args.data.with_name("c2fbench-bench-coco-2000"), 2000, (160, 120))
        full_root, full_pred = make_coco(args.data.with_name("c2fbench-bench-coco-full"), COCO_VAL_IMAGES, (160, 120))
        rss = [peak_rss_mb([exe, "eval", "coco-val", "--data-root", str(r), "--predictions", str(p), "--no-figures",
                            "--bootstrap", "100", "--out", f"{tempfile.mkdtemp()}/out", *workers])
               for r, p in ((small_root, small_pred), (full_root, full_pred))]
        print(f"peak memory of eval coco-val --bootstrap 100 --out (160x120 images): 2,000 images {rss[0]:.0f} MB, "
              f"{COCO_VAL_IMAGES:,} images {rss[1]:.0f} MB")
    if not identical:
        sys.exit("matrices differ")


if __name__ == "__main__":
    main()
