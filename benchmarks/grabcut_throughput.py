"""GrabCut enhancement throughput: ``masks enhance`` with workers and downscaling against
the plain one-process, full-size loop, on VOC-size images.

Images: synthetic scenes (the generator of ``c2fbench data synth``) of 375..500 pixels a
side, coarse masks from spectral-residual saliency. The peer is the plain loop: read the
image and its coarse mask, run GrabCut (5 iterations) from the mask's bounding box, write
the mask, one image after another in one process. c2fbench runs the same command with
``--workers 2`` (outputs must be byte-identical), with ``--scale 0.5 --workers 2`` and
with ``--iterations 3 --workers 2`` (the demo recipe's count; mean IoU against the plain
loop's masks reported for both). ``--demo-size`` renders the images at the demo preset's
ImageNet sizes (112-144 pixels a side) instead.

    python benchmarks/grabcut_throughput.py [--images 40] [--workers 2] [--iterations 3] [--demo-size]
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import tempfile
import time
from pathlib import Path

import numpy as np


def make_images(root: Path, n: int, seed: int = 0, *, demo_size: bool = False) -> list[str]:
    import cv2

    from c2fbench.data.synth.plan import imagenet_plan
    from c2fbench.data.synth.presets import PRESETS
    from c2fbench.data.synth.scenes import render_scene

    sizes = dataclasses.replace(PRESETS["demo"], imagenet_per_class=max(1, -(-n // 20)))
    if not demo_size:
        sizes = dataclasses.replace(sizes, imagenet_size=(375, 500))
    items = [item for per_class in imagenet_plan(sizes, seed).values() for item in per_class][:n]
    ids = []
    for k, item in enumerate(items):
        image, _, _ = render_scene(item.height, item.width, list(item.objects), item.rng(seed))
        (root / "images" / "bench").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "images" / "bench" / f"img_{k:04d}.jpg"), image[:, :, ::-1])
        ids.append(f"bench/img_{k:04d}")
    return ids


def real_photo_fidelity() -> list[tuple[str, float, float]]:
    """IoU of half-scale vs full-size GrabCut, and of two full-size seeds (GrabCut's own
    noise floor), on the real photos that scikit-learn and matplotlib ship."""
    import cv2
    import matplotlib
    import sklearn

    from c2fbench.data.images import read_rgb
    from c2fbench.masks.grabcut import enhance
    from c2fbench.masks.saliency import binarize, saliency_map

    photos = [Path(sklearn.__file__).parent / "datasets" / "images" / n for n in ("china.jpg", "flower.jpg")]
    photos.append(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg")
    rows = []
    for photo in photos:
        rgb = read_rgb(photo)
        s = 500 / max(rgb.shape[:2])
        rgb = cv2.resize(rgb, (round(rgb.shape[1] * s), round(rgb.shape[0] * s)), interpolation=cv2.INTER_AREA)
        for method in ("spectral", "fine"):
            coarse = binarize(saliency_map(rgb, method=method))
            full, other_seed = enhance(rgb, coarse, seed=1).mask, enhance(rgb, coarse, seed=2).mask
            half = enhance(rgb, coarse, seed=1, scale=0.5).mask
            rows.append((f"{photo.name} ({method})", _iou(full, half), _iou(full, other_seed)))
    return rows


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def plain_loop(job, ids: list[str]) -> None:
    for image_id in ids:
        job.process(image_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=3, help="GrabCut iterations of the last row (5 elsewhere)")
    parser.add_argument("--demo-size", action="store_true", help="the demo preset's image sizes (112-144 px)")
    args = parser.parse_args()

    import cv2

    from c2fbench.data.images import read_rgb
    from c2fbench.data.png import read_mask_png
    from c2fbench.masks.grabcut import enhance
    from c2fbench.masks.coarse import CoarseJob
    from c2fbench.masks.enhance import EnhanceJob
    from c2fbench.masks.runner import run_job

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ids = make_images(root, args.images, demo_size=args.demo_size)
        images, coarse = root / "images", root / "coarse"
        run_job(CoarseJob(images, coarse), ids, out=coarse, workers=args.workers)
        sizes = [cv2.imread(str(images / f"{i}.jpg")).shape[:2] for i in ids]

        timings = {}
        for name, scale, iterations, workers in (
                ("plain loop, 1 process, full size", 1.0, 5, 0),
                (f"c2fbench --workers {args.workers}", 1.0, 5, args.workers),
                (f"c2fbench --scale 0.5 --workers {args.workers}", 0.5, 5, args.workers),
                (f"c2fbench --iterations {args.iterations} --workers {args.workers}", 1.0, args.iterations,
                 args.workers)):
            out = root / name.split(",")[0].replace(" ", "_").replace("-", "")
            job = EnhanceJob(images, coarse, out, scale=scale, iterations=iterations)
            cv2.setNumThreads(1)
            start = time.perf_counter()
            if workers == 0:
                plain_loop(job, ids)
            else:
                run_job(job, ids, out=out, workers=workers)
            timings[name] = (time.perf_counter() - start, out)

        (base_s, base_out), (par_s, par_out), (half_s, half_out), (few_s, few_out) = timings.values()
        identical = all((base_out / f"{i}.png").read_bytes() == (par_out / f"{i}.png").read_bytes() for i in ids)
        ious = [_iou(read_mask_png(base_out / f"{i}.png"), read_mask_png(half_out / f"{i}.png")) for i in ids]
        few_ious = [_iou(read_mask_png(base_out / f"{i}.png"), read_mask_png(few_out / f"{i}.png")) for i in ids]
        seed_ious = []
        for i in ids[:10]:
            rgb = read_rgb(images / f"{i}.jpg")
            coarse_mask = read_mask_png(coarse / f"{i}.png")
            seed_ious.append(_iou(enhance(rgb, coarse_mask, seed=1).mask, enhance(rgb, coarse_mask, seed=2).mask))

    print(f"machine: {platform.machine()}, {len(__import__('os').sched_getaffinity(0))} CPUs, python "
          f"{platform.python_version()}, opencv {cv2.__version__}, date {time.strftime('%Y-%m-%d')}")
    mean_px = np.mean([h * w for h, w in sizes])
    print(f"{len(ids)} images, mean {mean_px:.0f} pixels (500x375 = 187500), 5 GrabCut iterations but in the last row")
    print(f"plain loop: {base_s:.2f} s ({1000 * base_s / len(ids):.0f} ms per image)")
    print(f"--workers {args.workers}: {par_s:.2f} s, {base_s / par_s:.2f}x, identical output: {identical}")
    print(f"--scale 0.5 --workers {args.workers}: {half_s:.2f} s, {base_s / half_s:.2f}x, "
          f"mean IoU vs full size {np.mean(ious):.3f} (min {np.min(ious):.3f}); GrabCut's own seed-to-seed "
          f"IoU at full size on 10 of them: {np.mean(seed_ious):.3f}")
    print(f"--iterations {args.iterations} --workers {args.workers}: {few_s:.2f} s, {base_s / few_s:.2f}x "
          f"({par_s / few_s:.2f}x the 5 iterations at --workers {args.workers}), mean IoU vs 5 iterations "
          f"{np.mean(few_ious):.3f} (median {np.median(few_ious):.3f}, min {np.min(few_ious):.3f})")
    rows = real_photo_fidelity()
    for name, half, seed in rows:
        print(f"  real photo {name}: half vs full IoU {half:.3f}, seed-to-seed IoU {seed:.3f}")
    print(f"real photos: mean half vs full IoU {np.mean([r[1] for r in rows]):.3f}, "
          f"mean seed-to-seed {np.mean([r[2] for r in rows]):.3f}")


if __name__ == "__main__":
    main()
