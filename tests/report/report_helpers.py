"""Real eval results on the hand-built fixtures: predictions = ground truth with a share of
pixels replaced by random classes, scored by `eval`'s own code path and written as `--out`."""

import numpy as np
from PIL import Image

from c2fbench.eval.benchmarks import load_benchmark
from c2fbench.eval.evaluator import evaluate
from c2fbench.eval.results import write_eval
from c2fbench.eval.sources import PngPredictions
from conftest import save_palette_png


def scored(voc_tree, tmp_path, name, corrupt_rate, seed, *, bootstrap=0):
    """An `eval voc-val --out` folder for predictions with ``corrupt_rate`` of pixels randomised."""
    data_root, _, labels = voc_tree
    rng = np.random.default_rng(seed)
    for image_id, label in labels.items():
        pred = np.where(rng.random(label.shape) < corrupt_rate, rng.integers(0, 21, label.shape), label)
        pred[pred == 255] = 0
        save_palette_png(tmp_path / name / "pred" / f"{image_id}.png", pred.astype(np.uint8))
    bench = load_benchmark("voc-val", data_root)
    result = evaluate(bench, PngPredictions(tmp_path / name / "pred"), workers=1, bootstrap=bootstrap)
    write_eval(tmp_path / name / "res", result)
    return tmp_path / name / "res"


def scored_mit(mit_tree, tmp_path, name, seed, *, benchmark="mit-subset"):
    """An `eval mit-subset --out` folder for ground-truth masks with a random block flipped."""
    data_root, masks = mit_tree
    rng = np.random.default_rng(seed)
    for image_id, mask in masks.items():
        pred = mask.copy()
        y, x = rng.integers(0, 12), rng.integers(0, 20)
        pred[y:y + 6, x:x + 8] ^= True
        (tmp_path / name / "pred" / image_id).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pred.astype(np.uint8) * 255).save(tmp_path / name / "pred" / f"{image_id}.png")
    bench = load_benchmark(benchmark, data_root)
    write_eval(tmp_path / name / "res", evaluate(bench, PngPredictions(tmp_path / name / "pred"), workers=1))
    return tmp_path / name / "res"


def fake_semantic(miou, *, benchmark="voc-val", synthetic=False, classes=None, model=None):
    """A well-formed semantic metrics.json dict with every class at ``miou`` (not from eval:
    for tests of the report's own checks and layout, which need no consistent numbers)."""
    from c2fbench.data.voc import VOC_CLASSES

    classes = list(classes or VOC_CLASSES)
    n = len(classes)
    data = {"benchmark": benchmark, "num_images": 3, "num_classes": n, "classes": classes, "mIoU": miou,
            "aAcc": 90.0, "mAcc": 80.0, "fwIoU": 85.0, "per_class_iou": dict.fromkeys(classes, miou),
            "per_class_acc": dict.fromkeys(classes, 80.0),
            "confusion_matrix": [[7 if i == j else 1 for j in range(n)] for i in range(n)],
            "c2fbench_version": "0.1.0", "source": {"predictions": "/p"},
            "data": {"root": "/data", "synthetic": synthetic}, "time_utc": "2026-01-01T00:00:00+00:00"}
    if model:
        data["source"] = {"model": model, "sha256": "0" * 64}
    return data


def write_run(folder, config, scores, *, synthetic=False):
    """A training run directory: ``config.json`` and one metrics.jsonl line per round with a
    fabricated voc-val result of mIoU ``scores[r - 1]``."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "metrics.jsonl").write_text("".join(
        json.dumps({"round": r, "losses": [1.0, 0.5], "train_masks": {"iou": 50.0 + r, "empty": 0},
                    "val": fake_semantic(score, synthetic=synthetic)}) + "\n"
        for r, score in enumerate(scores, 1)))
    return folder
