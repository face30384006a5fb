"""What each synthetic image contains, decided before anything is drawn.

Plans fix the structure of the benchmark (ids, splits, image sizes, which classes go in
which image, which Object Discovery images are noise) from ``(preset, seed)`` alone. Each
image is then rendered from its own generator seeded by ``(seed, part, index)``, so an
image never depends on the order in which images are generated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from c2fbench.data.synth.presets import SynthPreset
from c2fbench.data.synth.scenes import ObjectSpec
from c2fbench.data.voc import VOC_CLASSES

PART_VOC, PART_IMAGENET, PART_OD = 1, 2, 3
_PLAN = 0  # index reserved for a part's plan generator; images use 1 and up

# VOC scenes follow VOC 2012 segmentation's own statistics:
# - distinct classes per image: the 1,449 val images hold 1, 2, 3 and 4-5 classes in 927, 374,
#   122 and 26 images (mean 1.48), counted from the image-level labels of the val split as
#   shipped by DRS (github.com/qjadud1994/DRS, VOC2012_list/val_cls.txt);
# - instances of a class in an image that holds it: the per-class mean of VOC 2012 trainval's
#   masks ("Count on image", github.com/dataset-ninja/pascal-voc-2012, stats/class_balance.json;
#   6,934 objects in 2,913 images, 1.61 instances per class present), as 1 + Poisson(mean - 1),
#   at most _MAX_INSTANCES;
# - object size (longer side / min(H, W)) shrinking with the number of instances in the scene,
#   between two targets that one shape per class cannot both meet: the mean bounding-box share
#   of an instance, the "average object scale" of the ILSVRC 2012 analysis, PASCAL VOC 0.241
#   (https://image-net.org/challenges/LSVRC/2012/analysis/, section 2.3), and the area of a
#   class in an image that holds it, VOC 2012 trainval's 17.3% (the mean over classes of "Area
#   on image", class_balance.json above). A decay of 0.5 gives a box of 0.245 and an area of
#   15.5%, 0.4 a box of 0.28 and 17.3%; at 0.45 the demo preset (seed 0, test_synth.py) has
#   0.26 and 16.3%;
# - the void band: the demo preset's 1 px gives 6.9% of the pixels (VOC's "neutral", 5.5%).
_VOC_CLASSES_PER_IMAGE = {1: 927, 2: 374, 3: 122, 4: 26}
_VOC_INSTANCES = dict(zip(VOC_CLASSES[1:], (
    1.22, 1.37, 1.33, 1.55, 1.95, 1.56, 1.79, 1.14, 2.03, 2.1,
    1.07, 1.2, 1.39, 1.3, 1.96, 1.93, 2.57, 1.14, 1.13, 1.26,
)))
_MAX_INSTANCES = 4
_VOC_SIZE, _VOC_SIZE_DECAY = (0.75, 1.25), 0.45  # an instance's size range: _VOC_SIZE * n ** -decay
_IMAGENET_SIZE = (0.58, 0.85)  # the main object of an ImageNet-format image
_SECOND_OBJECT_SHARE = 0.25  # ImageNet images that also hold a smaller object of another class
OD_CLASSES = {"Airplane": "aeroplane", "Car": "car", "Horse": "horse"}
# Share of noise images (no object) in each 100-image subset; the real subsets have
# 18 / 11 / 7 noise images, the last raised to 10% so small presets still get some.
_OD_SUBSET_NOISE = {"Airplane": 0.18, "Car": 0.11, "Horse": 0.10}


@dataclass(frozen=True)
class SceneItem:
    """One image to render: its name, size, objects in drawing order, and its rng key."""

    name: str
    width: int
    height: int
    objects: tuple[ObjectSpec, ...]
    key: tuple[int, ...]

    def rng(self, seed: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([seed, *self.key]))


def _plan_rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *key, _PLAN]))


def _size(rng: np.random.Generator, widths: tuple[int, int], heights: tuple[int, int]) -> tuple[int, int]:
    return int(rng.integers(widths[0], widths[1] + 1)), int(rng.integers(heights[0], heights[1] + 1))


def _voc_size(n_instances: int) -> tuple[float, float]:
    shrink = n_instances ** -_VOC_SIZE_DECAY
    return _VOC_SIZE[0] * shrink, _VOC_SIZE[1] * shrink


def voc_plan(preset: SynthPreset, seed: int) -> dict[str, list[SceneItem]]:
    """VOC scenes by split (``train``, ``val``): 1-4 classes each, each class in 1 to
    _MAX_INSTANCES instances, ids ``synth_000001`` up.

    Classes are dealt from shuffled decks of all 20, per split, so every block of 20
    consecutive classes holds each class once and a split of 20+ of them covers them all.
    """
    rng = _plan_rng(seed, PART_VOC)
    plan: dict[str, list[SceneItem]] = {}
    index = 0
    counts = np.array(list(_VOC_CLASSES_PER_IMAGE.values()), dtype=np.float64)
    for split, count in (("train", preset.voc_train), ("val", preset.voc_val)):
        n_classes = rng.choice(list(_VOC_CLASSES_PER_IMAGE), size=count, p=counts / counts.sum())
        n_decks = -(-int(n_classes.sum()) // 20)
        deck = np.concatenate([rng.permutation(np.arange(1, 21)) for _ in range(n_decks)])
        items, used = [], 0
        for n in n_classes:
            index += 1
            w, h = _size(rng, preset.voc_width, preset.voc_height)
            classes = [int(c) for c in deck[used: used + n]]
            used += n
            extra = [int(rng.poisson(_VOC_INSTANCES[VOC_CLASSES[c]] - 1)) for c in classes]
            repeats = [1 + min(e, _MAX_INSTANCES - 1) for e in extra]
            size = _voc_size(sum(repeats))
            objects = tuple(ObjectSpec(c, size) for c, r in zip(classes, repeats) for _ in range(r))
            items.append(SceneItem(f"synth_{index:06d}", w, h, objects, (PART_VOC, index)))
        plan[split] = items
    return plan


def imagenet_plan(preset: SynthPreset, seed: int) -> dict[int, list[SceneItem]]:
    """ImageNet-style images by VOC class: one large object of the class, and in about a
    quarter of them a smaller object of another class drawn behind it. Names ``<n>`` from 1."""
    rng = _plan_rng(seed, PART_IMAGENET)
    plan: dict[int, list[SceneItem]] = {}
    lo, hi = preset.imagenet_size
    for cls in range(1, len(VOC_CLASSES)):
        items = []
        for n in range(1, preset.imagenet_per_class + 1):
            w, h = _size(rng, (lo, hi), (lo, hi))
            objects = (ObjectSpec(cls, _IMAGENET_SIZE, (0.4, 0.6)),)
            if rng.random() < _SECOND_OBJECT_SHARE:
                other = int(rng.choice([c for c in range(1, len(VOC_CLASSES)) if c != cls]))
                objects = (ObjectSpec(other, (0.3, 0.45)), *objects)
            items.append(SceneItem(str(n), w, h, objects, (PART_IMAGENET, cls, n)))
        plan[cls] = items
    return plan


@dataclass(frozen=True)
class OdPlan:
    """One Object Discovery class: the full set (``items``, noise flags) and its subset."""

    items: tuple[SceneItem, ...]
    noise: frozenset[str]   # names of images without the class
    subset: tuple[str, ...]  # names copied into the <Class>100 folder


def od_plan(preset: SynthPreset, seed: int) -> dict[str, OdPlan]:
    """Object Discovery sets by folder name (``Airplane``, ``Car``, ``Horse``).

    Object images hold one (sometimes two) objects of the class; noise images hold none,
    half of them an object of some other class instead. The subset takes its exact noise
    share (at least one image) from the full set's noise images.
    """
    rng = _plan_rng(seed, PART_OD)
    other_classes = [c for c in range(1, len(VOC_CLASSES)) if VOC_CLASSES[c] not in OD_CLASSES.values()]
    plan = {}
    for k, (folder, voc_name) in enumerate(OD_CLASSES.items(), start=1):
        cls = VOC_CLASSES.index(voc_name)
        sub_noise = max(1, round(_OD_SUBSET_NOISE[folder] * preset.od_subset))
        n_noise = sub_noise + max(1, round(0.1 * (preset.od_full - preset.od_subset)))
        is_noise = rng.permutation(np.arange(preset.od_full) < n_noise)
        items, noise = [], set()
        for i in range(preset.od_full):
            name = f"{i + 1:04d}"
            w, h = _size(rng, preset.od_size, preset.od_size)
            if is_noise[i]:
                noise.add(name)
                objects = ()
                if rng.random() < 0.5:
                    objects = (ObjectSpec(int(rng.choice(other_classes)), (0.35, 0.7)),)
            elif rng.random() < 0.2:
                objects = (ObjectSpec(cls, (0.3, 0.5)), ObjectSpec(cls, (0.3, 0.5)))
            else:
                objects = (ObjectSpec(cls, (0.45, 0.8), (0.3, 0.7)),)
            items.append(SceneItem(name, w, h, objects, (PART_OD, k, i + 1)))
        noise_names = sorted(noise)
        object_names = sorted({it.name for it in items} - noise)
        subset = list(rng.choice(noise_names, sub_noise, replace=False))
        subset += list(rng.choice(object_names, preset.od_subset - sub_noise, replace=False))
        plan[folder] = OdPlan(tuple(items), frozenset(noise), tuple(sorted(str(s) for s in subset)))
    return plan
