"""The results writer takes figures already drawn: written in the same unit as the other
files and recorded with their sha256; names it does not know are refused before writing."""

import hashlib
import json

import numpy as np
import pytest

from c2fbench.eval.benchmarks import load_benchmark
from c2fbench.eval.evaluator import evaluate
from c2fbench.eval.results import write_eval
from c2fbench.eval.sources import PngPredictions
from conftest import save_palette_png


@pytest.fixture
def result(voc_tree, tmp_path):
    data_root, _, labels = voc_tree
    for image_id, label in labels.items():
        save_palette_png(tmp_path / "pred" / f"{image_id}.png", np.where(label == 255, 0, label).astype(np.uint8))
    return evaluate(load_benchmark("voc-val", data_root), PngPredictions(tmp_path / "pred"), workers=1)


def test_figures_are_written_and_recorded_beside_the_other_files(result, tmp_path):
    figure = b"\x89PNG not really"
    written = write_eval(tmp_path / "out", result, figures={"confusion.png": figure})
    assert sorted(p.name for p in written) == ["confusion.csv", "confusion.png", "metrics.json", "per_image.npz"]
    assert (tmp_path / "out" / "confusion.png").read_bytes() == figure
    recorded = json.loads((tmp_path / "out" / "metrics.json").read_text())["files"]
    assert list(recorded) == ["per_image.npz", "confusion.csv", "confusion.png"]
    assert recorded["confusion.png"]["sha256"] == hashlib.sha256(figure).hexdigest()


def test_without_figures_only_the_data_files_are_written(result, tmp_path):
    write_eval(tmp_path / "out", result)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["confusion.csv", "metrics.json", "per_image.npz"]


def test_a_figure_name_outside_the_folder_contract_is_refused_before_writing(result, tmp_path):
    with pytest.raises(ValueError, match="not an eval figure: notes.txt"):
        write_eval(tmp_path / "out", result, figures={"notes.txt": b""})
    assert not (tmp_path / "out").exists()
