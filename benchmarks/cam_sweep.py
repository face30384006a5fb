"""CAM seed sweep: ``eval --cams --threshold 0.05:0.95:0.05`` against IRN's loop.

Peer: IRN's ``eval_cam.py`` loop, one full pass per threshold (``np.load(allow_pickle=True)``
of each ``<id>.npy`` dict, ``np.pad`` with the threshold, argmax, the keys, a bincount
confusion matrix), as a sweep is usually run with it. Ours: :func:`c2fbench.eval.seeds.sweep_cams`
in one process (``workers=1``), with 19 thresholds and with one. Data: VOC-train-sized,
1,464 images of 500x375 with 1-3 classes each (blurred blobs as CAMs, IRN's
``{"keys", "high_res"}`` dicts, float32), generated once into ``--data``. Each run is its own
process; its peak resident memory is ``ru_maxrss``. Every threshold's matrix is compared.

    .venv/bin/python benchmarks/cam_sweep.py [--images 1464] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
THRESHOLDS = "0.05:0.95:0.05"


def make_data(root: Path, n: int, seed: int = 0) -> None:
    import cv2
    from PIL import Image

    voc = root / "VOCdevkit" / "VOC2012"
    if (voc / "ImageSets" / "Segmentation" / "train.txt").exists():
        return
    rng = np.random.default_rng(seed)
    (voc / "SegmentationClass").mkdir(parents=True, exist_ok=True)
    (root / "cams").mkdir(parents=True, exist_ok=True)
    ids = []
    h, w = 375, 500
    palette = [v for i in range(256) for v in (i, (37 * i) % 256, (91 * i) % 256)]
    for k in range(n):
        image_id = f"2007_{k:06d}"
        label = np.zeros((h, w), np.uint8)
        classes = sorted(rng.choice(20, size=rng.integers(1, 4), replace=False).tolist())
        maps = []
        for c in classes:
            blob = np.zeros((h, w), np.uint8)
            cv2.ellipse(blob, (int(rng.integers(60, w - 60)), int(rng.integers(60, h - 60))),
                        (int(rng.integers(30, 150)), int(rng.integers(30, 120))), 0, 0, 360, 1, -1)
            label[blob > 0] = c + 1
            cam = cv2.GaussianBlur(blob.astype(np.float32), (0, 0), 25) + 0.1 * rng.random((h, w), np.float32)
            maps.append(cam / cam.max())
        edge = cv2.morphologyEx(label, cv2.MORPH_GRADIENT, np.ones((5, 5), np.uint8)) > 0
        label[edge] = 255
        im = Image.fromarray(label, mode="P")
        im.putpalette(palette)
        im.save(voc / "SegmentationClass" / f"{image_id}.png")
        np.save(root / "cams" / f"{image_id}.npy", {"keys": np.array(classes), "high_res": np.stack(maps)})
        ids.append(image_id)
    (voc / "ImageSets" / "Segmentation").mkdir(parents=True, exist_ok=True)
    (voc / "ImageSets" / "Segmentation" / "train.txt").write_text("".join(f"{i}\n" for i in ids))


def thresholds(count: int) -> list[float]:
    from c2fbench.eval.seeds import parse_thresholds

    every = list(parse_thresholds(THRESHOLDS))
    return every if count == len(every) else every[len(every) // 2 - count // 2:][:count]


def run_ours(root: Path, count: int) -> dict:
    from c2fbench.eval.benchmarks import load_benchmark
    from c2fbench.eval.seeds import CamSeeds, sweep_cams

    bench = load_benchmark("voc-train", root)
    start = time.perf_counter()
    result = sweep_cams(bench, CamSeeds(root / "cams", thresholds=tuple(thresholds(count))), workers=1)
    seconds = time.perf_counter() - start
    sweep = result.metrics.get("cam_sweep")
    return {"seconds": seconds, "mIoU": [s["mIoU"] for s in sweep]}


def run_peer(root: Path, count: int) -> dict:
    """IRN's eval_cam.py loop, once per threshold; the label PNG read with PIL, as IRN's
    VOCSemanticSegmentationDataset (chainercv) reads it."""
    from PIL import Image

    voc = root / "VOCdevkit" / "VOC2012"
    ids = (voc / "ImageSets" / "Segmentation" / "train.txt").read_text().split()
    start = time.perf_counter()
    mious = []
    for t in thresholds(count):
        matrix = np.zeros(21 * 21, np.int64)
        for image_id in ids:
            cam_dict = np.load(root / "cams" / f"{image_id}.npy", allow_pickle=True).item()
            cams = np.pad(cam_dict["high_res"], ((1, 0), (0, 0), (0, 0)), mode="constant", constant_values=t)
            keys = np.pad(cam_dict["keys"] + 1, (1, 0), mode="constant")
            pred = keys[np.argmax(cams, axis=0)]
            gt = np.asarray(Image.open(voc / "SegmentationClass" / f"{image_id}.png"))
            keep = gt != 255
            matrix += np.bincount(21 * gt[keep].astype(np.int64) + pred[keep], minlength=21 * 21)
        m = matrix.reshape(21, 21).astype(np.float64)
        union = m.sum(0) + m.sum(1) - np.diag(m)
        mious.append(float(100 * np.mean(np.diag(m)[union > 0] / union[union > 0])))
    return {"seconds": time.perf_counter() - start, "mIoU": mious}


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM). Not ru_maxrss: Linux keeps that across
    exec, so a child would report its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(which: str, root: Path, count: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", which, "--count", str(count), "--data", str(root)],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=1464)
    parser.add_argument("--data", type=Path, default=Path("/tmp/c2fbench-bench-cams"))
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--child", choices=["ours", "peer"])
    parser.add_argument("--count", type=int, default=19)
    args = parser.parse_args()
    if args.child:
        result = (run_ours if args.child == "ours" else run_peer)(args.data, args.count)
        result["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(result))
        return
    make_data(args.data, args.images)
    runs = {key: [] for key in ("ours-19", "ours-1", "peer-19", "peer-1")}
    for _ in range(args.repeats):  # interleaved, so that load on the machine falls on all alike
        for key in runs:
            which, count = key.split("-")
            runs[key].append(child(which, args.data, int(count)))
            print(f"{key}: {runs[key][-1]['seconds']:.2f} s, peak {runs[key][-1]['peak_rss_mb']:.0f} MB", flush=True)
    median = {key: float(np.median([r["seconds"] for r in v])) for key, v in runs.items()}
    ours, peer = runs["ours-19"][0]["mIoU"], runs["peer-19"][0]["mIoU"]
    print(f"every threshold's mIoU equal to the peer's: {np.allclose(ours, peer, rtol=0, atol=1e-9)} "
          f"(max difference {np.max(np.abs(np.subtract(ours, peer))):.2e})")
    print(f"ours, 19 thresholds / 1 threshold: {median['ours-19'] / median['ours-1']:.2f}x "
          f"({median['ours-19']:.2f} / {median['ours-1']:.2f} s)")
    print(f"peer (19 passes) / ours (19 thresholds, one pass): {median['peer-19'] / median['ours-19']:.2f}x "
          f"({median['peer-19']:.2f} / {median['ours-19']:.2f} s); peer one pass {median['peer-1']:.2f} s")
    print("peak RSS (MB): " + ", ".join(f"{k} {max(r['peak_rss_mb'] for r in v):.0f}" for k, v in runs.items()))


if __name__ == "__main__":
    main()
