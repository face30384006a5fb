"""The synthetic benchmark generator: determinism, on-disk layout, class plans, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from c2fbench.data.png import VOID, read_label_png
from c2fbench.data.synth import PRESETS, write_synth
from c2fbench.data.synth.plan import imagenet_plan, od_plan, voc_plan
from c2fbench.data.synth.scenes import add_void_band
from c2fbench.data.synth.write import class_wnids
from c2fbench.data.voc import find_voc_root, read_split
from c2fbench.errors import InputError

TINY = PRESETS["tiny"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    write_synth(out, preset="tiny", seed=0)
    return out


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tiny, tmp_path):
    first = _tree(tiny)
    write_synth(tmp_path / "again", preset="tiny", seed=0)
    assert _tree(tmp_path / "again") == first
    write_synth(tmp_path / "again", preset="tiny", seed=0)  # rerun over existing files
    assert _tree(tmp_path / "again") == first
    write_synth(tmp_path / "other", preset="tiny", seed=1)
    other = _tree(tmp_path / "other")
    images = [k for k in other if k.endswith((".jpg", ".JPEG"))]
    assert images and all(other[k] != first.get(k) for k in images)


def test_rendering_processes_write_the_same_bytes(tiny, tmp_path):
    """Two rendering processes: the same files as one (the scenes keep their order)."""
    write_synth(tmp_path / "two", preset="tiny", seed=0, workers=2)
    assert _tree(tmp_path / "two") == _tree(tiny)


def test_voc_part_layout_labels_and_void_band(tiny):
    voc = find_voc_root(tiny)
    train, val = read_split(voc, "train"), read_split(voc, "val")
    assert (len(train), len(val)) == (TINY.voc_train, TINY.voc_val)
    assert not set(train) & set(val)
    assert read_split(voc, "trainval") == sorted(train + val)
    for image_id in train + val:
        with Image.open(voc / "JPEGImages" / f"{image_id}.jpg") as im:
            assert im.mode == "RGB"
            size = im.size
        with Image.open(voc / "SegmentationClass" / f"{image_id}.png") as lab:
            assert lab.mode == "P" and lab.size == size
        label = read_label_png(voc / "SegmentationClass" / f"{image_id}.png")
        assert set(np.unique(label)) <= set(range(21)) | {VOID}
        assert (label == VOID).any() and (label == 0).any()
        # The void band separates every object from everything else: no two 4-neighbours
        # carry different non-void labels.
        for a, b in ((label[1:], label[:-1]), (label[:, 1:], label[:, :-1])):
            assert not ((a != b) & (a != VOID) & (b != VOID)).any(), image_id


def test_void_band_covers_both_sides_of_each_border():
    inst = np.zeros((9, 12), np.uint8)
    inst[2:7, 2:6] = 1
    inst[2:7, 6:10] = 2
    label = np.where(inst > 0, inst + 4, 0).astype(np.uint8)
    out = add_void_band(label, inst, radius=1)
    V = VOID  # one pixel each side of the object-background and object-object borders
    assert out[4].tolist() == [0, V, V, 5, 5, V, V, 6, 6, V, V, 0]
    assert out[:, 4].tolist() == [0, V, V, 5, 5, 5, V, V, 0]


def test_imagenet_part_has_one_folder_per_class_and_binary_masks(tiny):
    wnids = class_wnids()
    with open(Path(__file__).parents[2] / "c2fbench" / "data" / "voc_synsets.json") as f:
        synsets = json.load(f)["classes"]
    assert sorted(wnids.values()) == sorted(v["synsets"][0] for v in synsets.values())
    train = tiny / "imagenet" / "train"
    assert sorted(p.name for p in train.iterdir()) == sorted(wnids.values())
    for wnid in wnids.values():
        images = sorted((train / wnid).glob("*.JPEG"))
        assert len(images) == TINY.imagenet_per_class
        for image in images:
            assert image.stem.startswith(f"{wnid}_")
            with Image.open(tiny / "imagenet" / "masks" / wnid / f"{image.stem}.png") as m:
                assert m.mode == "L" and m.size == Image.open(image).size
                mask = np.asarray(m)
            assert set(np.unique(mask)) == {0, 255}


def test_object_discovery_subsets_are_copies_with_noise_images(tiny):
    data = tiny / "ObjectDiscovery" / "Data"
    for folder in ("Airplane", "Car", "Horse"):
        full, subset = data / folder, data / f"{folder}100"
        names = sorted(p.stem for p in full.glob("*.jpg"))
        sub_names = sorted(p.stem for p in subset.glob("*.jpg"))
        assert len(names) == TINY.od_full and len(sub_names) == TINY.od_subset
        assert set(sub_names) <= set(names) and all(len(n) == 4 and n.isdigit() for n in names)
        for name in sub_names:
            for rel in (f"{name}.jpg", f"GroundTruth/{name}.png"):
                assert (subset / rel).read_bytes() == (full / rel).read_bytes()
        empty = []
        for name in names:
            with Image.open(full / "GroundTruth" / f"{name}.png") as g:
                assert g.mode == "L" and g.size == Image.open(full / f"{name}.jpg").size
                gt = np.asarray(g)
            assert set(np.unique(gt)) <= {0, 255}
            empty.append(not gt.any())
        assert 1 <= sum(e for n, e in zip(names, empty) if n in sub_names) < TINY.od_subset


def test_summary_is_returned_and_written(tiny):
    summary = json.loads((tiny / "synth.json").read_text())
    assert summary["preset"] == "tiny" and summary["seed"] == 0
    assert summary["voc"] == {"train": 6, "val": 6, "trainval": 12}
    assert summary["imagenet"]["images"] == 20 * TINY.imagenet_per_class
    assert summary["object_discovery"]["Car100"]["images"] == TINY.od_subset


def test_progress_reports_every_image(tmp_path):
    calls = []
    write_synth(tmp_path, preset="tiny", progress=lambda done, total: calls.append((done, total)))
    total = calls[0][1]
    assert calls == [(i, total) for i in range(1, total + 1)]


def test_demo_plan_covers_every_class_in_each_voc_split():
    plan = voc_plan(PRESETS["demo"], seed=0)
    for split, items in plan.items():
        classes = {o.cls for item in items for o in item.objects}
        assert classes == set(range(1, 21)), split
        for item in items:
            per_class = np.bincount([o.cls for o in item.objects])
            assert 1 <= np.count_nonzero(per_class) <= 4 and per_class.max() <= 4, item.name
    ids = [item.name for items in plan.values() for item in items]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_demo_plan_shares_of_second_objects_and_noise():
    demo = PRESETS["demo"]
    items = [it for its in imagenet_plan(demo, seed=0).values() for it in its]
    second = [it for it in items if len(it.objects) == 2]
    assert 0.18 < len(second) / len(items) < 0.32
    assert all(it.objects[0].cls != it.objects[1].cls for it in second)
    for folder, od in od_plan(demo, seed=0).items():
        share = len(od.noise & set(od.subset)) / len(od.subset)
        assert 0.10 <= share <= 0.18, folder


def test_unknown_preset_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="huge") as err:
        write_synth(tmp_path, preset="huge")
    assert "\n" not in str(err.value) and "tiny" in str(err.value)
    assert not any(tmp_path.iterdir())


def test_negative_seed_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="seed"):
        write_synth(tmp_path, preset="tiny", seed=-1)


def _box_share(mask: np.ndarray) -> float:
    ys, xs = np.nonzero(mask)
    return (np.ptp(ys) + 1) * (np.ptp(xs) + 1) / mask.size


def test_demo_object_scales_match_the_real_datasets():
    """Against published statistics, measured on the rendered demo preset:
    - mean bounding-box share of the image of an object (the ILSVRC 2012 analysis's
      "average object scale", section 2.3): ImageNet 0.358 (every 4th ImageNet-format
      image's main object), PASCAL VOC 0.241 (every instance of every VOC scene);
    - VOC 2012 val's distinct classes per image: 927, 374, 122, 26 of its 1,449 images hold
      1, 2, 3, 4+ classes (mean 1.48; DRS's VOC2012_list/val_cls.txt);
    - VOC 2012 trainval's area of a class in an image that holds it, 17.3% of the image on
      average over the classes, and its void ("neutral") share, 5.5%; 1.61 instances per class
      present (dataset-ninja/pascal-voc-2012, stats/class_balance.json)."""
    from c2fbench.data.synth.write import _render

    demo = PRESETS["demo"]
    imagenet = [it for items in imagenet_plan(demo, seed=0).values() for it in items][::4]
    shares = []
    for item in imagenet:
        _, label, _ = _render(item, 0)
        shares.append(_box_share(label == item.objects[-1].cls))  # the main object is drawn last
    assert abs(np.mean(shares) - 0.358) < 0.03
    voc = [it for items in voc_plan(demo, seed=0).values() for it in items]
    boxes, areas, voids, classes, instances = [], [], [], [], []
    for item in voc:
        _, label, inst = _render(item, 0)
        scored = add_void_band(label, inst, demo.void_radius)
        present = [c for c in np.unique(label) if c != 0]
        boxes += [_box_share(inst == k) for k in np.unique(inst) if k != 0]
        areas += [np.mean(scored == c) for c in present]
        instances += [len(np.unique(inst[label == c])) for c in present]
        voids.append(np.mean(scored == VOID))
        classes.append(len(present))
    assert abs(np.mean(boxes) - 0.241) < 0.03
    assert abs(np.mean(classes) - 1.48) < 0.1
    assert abs(np.mean(np.array(classes) == 1) - 927 / 1449) < 0.06
    assert abs(np.mean(areas) - 0.173) < 0.02
    assert abs(np.mean(voids) - 0.055) < 0.02
    assert abs(np.mean(instances) - 1.61) < 0.15
