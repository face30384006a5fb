"""Real eval results on the hand-built fixtures: predictions = ground truth with a share of
pixels replaced by random classes, scored by `eval`'s own code path and written as `--out`."""

import numpy as np
from PIL import Image

from c2fbench.benchmarks import load_benchmark
from c2fbench.evaluator import PngPredictions, evaluate
from c2fbench.results import write_eval
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
    write_eval(tmp_path / name / "res", result, figures=False)
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
