"""Write the synthetic benchmark to disk in the layout of DESIGN.md ("Synthetic benchmark layout").

Every file is written atomically and its bytes depend only on ``(preset, seed)``, so a
rerun into the same folder rewrites identical files.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from c2fbench.atomic import atomic_write_bytes, atomic_write_text
from c2fbench.data.png import write_label_png, write_mask_png
from c2fbench.data.synth.coco import CocoPart
from c2fbench.data.synth.plan import OD_CLASSES, SceneItem, imagenet_plan, od_plan, voc_plan
from c2fbench.data.synth.presets import get_preset
from c2fbench.data.synth.scenes import add_void_band, render_scene
from c2fbench.data.voc import VOC_CLASSES
from c2fbench.errors import InputError

Progress = Callable[[int, int], None]


def class_wnids() -> dict[int, str]:
    """VOC class index -> the ImageNet wnid used as that class's folder (first listed synset)."""
    text = resources.files("c2fbench.data").joinpath("voc_synsets.json").read_text()
    classes = json.loads(text)["classes"]
    return {i: classes[name]["synsets"][0] for i, name in enumerate(VOC_CLASSES) if i > 0}


def _write_jpeg(path: Path, rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise RuntimeError(f"{path}: JPEG encoding failed")
    atomic_write_bytes(path, buf.tobytes())
    return buf.tobytes()


def _render(item: SceneItem, seed: int):
    return render_scene(item.height, item.width, list(item.objects), item.rng(seed))


class _Renderer:
    """Scenes rendered in order, by ``workers`` processes when more than one: each scene
    depends only on its own generator (plan.py), so the bytes are the same either way."""

    def __init__(self, seed: int, workers: int) -> None:
        self.seed, self.workers, self.pool = seed, workers, None

    def __enter__(self):
        if self.workers > 1:
            from c2fbench.parallel import pool

            self.pool = pool(self.workers)
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()

    def __call__(self, items):
        if self.pool is None:
            return (_render(item, self.seed) for item in items)
        return self.pool.imap(partial(_render, seed=self.seed), items, chunksize=8)


def _write_voc(root: Path, plan: dict[str, list[SceneItem]], render: _Renderer, void_radius: int, tick) -> dict:
    """VOC 2012's layout; the val scenes also go to the COCO part (:mod:`.coco`)."""
    voc = root / "VOCdevkit" / "VOC2012"
    coco = CocoPart(root)
    for split, items in plan.items():
        for item, (image, label, inst) in zip(items, render(items)):
            jpeg = _write_jpeg(voc / "JPEGImages" / f"{item.name}.jpg", image)
            if split == "val":
                coco.add(item.name, jpeg, label, inst)
            write_label_png(voc / "SegmentationClass" / f"{item.name}.png", add_void_band(label, inst, void_radius))
            tick()
    coco_summary = coco.write()
    splits = {split: sorted(it.name for it in items) for split, items in plan.items()}
    splits["trainval"] = sorted(splits["train"] + splits["val"])
    for split, ids in splits.items():
        atomic_write_text(voc / "ImageSets" / "Segmentation" / f"{split}.txt", "".join(f"{i}\n" for i in ids))
    return {split: len(ids) for split, ids in splits.items()}, coco_summary


def _write_imagenet(root: Path, plan: dict[int, list[SceneItem]], render: _Renderer, tick) -> dict:
    wnids = class_wnids()
    with_second = 0
    for cls, items in plan.items():
        wnid = wnids[cls]
        for item, (image, label, _) in zip(items, render(items)):
            _write_jpeg(root / "imagenet" / "train" / wnid / f"{wnid}_{item.name}.JPEG", image)
            write_mask_png(root / "imagenet" / "masks" / wnid / f"{wnid}_{item.name}.png", label == cls)
            with_second += len(item.objects) > 1
            tick()
    return {"classes": len(plan), "images": sum(map(len, plan.values())), "with_second_object": with_second}


def _write_od(root: Path, plan, render: _Renderer, tick) -> dict:
    summary = {}
    for folder, od in plan.items():
        cls = VOC_CLASSES.index(OD_CLASSES[folder])
        full = root / "ObjectDiscovery" / "Data" / folder
        for item, (image, label, _) in zip(od.items, render(od.items)):
            _write_jpeg(full / f"{item.name}.jpg", image)
            write_mask_png(full / "GroundTruth" / f"{item.name}.png", label == cls)
            tick()
        subset = root / "ObjectDiscovery" / "Data" / f"{folder}100"
        for name in od.subset:
            for rel in (f"{name}.jpg", f"GroundTruth/{name}.png"):
                atomic_write_bytes(subset / rel, (full / rel).read_bytes())
            tick()
        summary[folder] = {"images": len(od.items), "noise": len(od.noise)}
        summary[f"{folder}100"] = {"images": len(od.subset), "noise": len(od.noise & set(od.subset))}
    return summary


def write_synth(out: Path, *, preset: str = "demo", seed: int = 0, progress: Progress | None = None,
                workers: int = 1) -> dict:
    """Generate the synthetic benchmark under ``out`` and return its summary; ``workers``
    processes render the scenes (the files are the same for any number).

    ``progress(n_done, n_total)`` is called after each image (VOC, ImageNet, Object
    Discovery, subset copies). The summary (preset sizes, seed, image counts per part) is
    also written to ``out/synth.json``. Raises InputError for an unknown preset or a
    negative seed.
    """
    sizes = get_preset(preset)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"synth seed must be a non-negative integer, got {seed!r}")
    out = Path(out)
    voc, imagenet, od = voc_plan(sizes, seed), imagenet_plan(sizes, seed), od_plan(sizes, seed)
    total = (
        sizes.voc_train + sizes.voc_val
        + sum(map(len, imagenet.values()))
        + sum(len(p.items) + len(p.subset) for p in od.values())
    )
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    with _Renderer(seed, workers) as render:
        voc_summary, coco_summary = _write_voc(out, voc, render, sizes.void_radius, tick)
        summary = {
            "preset": preset,
            "seed": seed,
            "sizes": asdict(sizes),
            "voc": voc_summary,
            "coco": coco_summary,
            "imagenet": _write_imagenet(out, imagenet, render, tick),
            "object_discovery": _write_od(out, od, render, tick),
        }
    atomic_write_text(out / "synth.json", json.dumps(summary, indent=2) + "\n")
    return summary
