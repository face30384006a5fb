"""The report's "Worst images" section: a table and a thumbnail strip per semantic result,
and the table alone, with a note, when the images or predictions cannot be read."""

import io
import json
import shutil

import numpy as np
from PIL import Image

from c2fbench.report.build import build_report
from c2fbench.report.document import Figure, Table
from c2fbench.report.inputs import load_inputs
from report_helpers import scored, scored_mit


def worst_section(folders, load_model="cpu"):
    """The section as `c2fbench report` builds it (models run by deploy's loader on the CPU)."""
    from functools import partial

    from deploy.runtimes import load_runtime

    if load_model == "cpu":
        load_model = partial(load_runtime, device="cpu")
    doc = build_report(load_inputs([f"{label}={folder}" for label, folder in folders]), load_model=load_model)
    sections = [s for s in doc.sections if s.title == "Worst images"]
    assert len(sections) <= 1
    return sections[0] if sections else None


def oracle_order(folder):
    """Image ids by their own mIoU from the stored matrices, computed here (worst first, then id)."""
    npz = np.load(folder / "per_image.npz")
    scores = []
    for image_id, m in zip(npz["ids"], npz["confusion"]):
        tp, union = np.diag(m), m.sum(0) + m.sum(1) - np.diag(m)
        scores.append((np.mean(tp[union > 0] / union[union > 0]), str(image_id)))
    return [i for _, i in sorted(scores)]


def test_a_strip_and_table_per_semantic_result(voc_tree, tmp_path):
    a = scored(voc_tree, tmp_path, "a", 0.2, seed=1)
    b = scored(voc_tree, tmp_path, "b", 0.6, seed=2)
    section = worst_section([("A", a), ("B", b)])
    tables = [x for x in section.blocks if isinstance(x, Table)]
    figures = [x for x in section.blocks if isinstance(x, Figure)]
    assert len(tables) == 2 and [f.name for f in figures] == ["worst-a", "worst-b"]
    assert [row[1] for row in tables[0].rows] == oracle_order(a)  # 5 images, fewer than the strip's 8
    assert tables[0].header == ["rank", "image", "mIoU", "pixel acc", "classes that differ"]
    with Image.open(io.BytesIO(figures[0].png)) as im:
        assert im.size[0] <= 1056  # fits the page


def test_missing_predictions_leave_the_table_and_a_note(voc_tree, tmp_path):
    a = scored(voc_tree, tmp_path, "a", 0.2, seed=1)
    shutil.rmtree(tmp_path / "a" / "pred")
    section = worst_section([("A", a)])
    assert not any(isinstance(x, Figure) for x in section.blocks)
    assert any(isinstance(x, Table) for x in section.blocks)
    assert any(isinstance(x, str) and x.startswith("A: no thumbnails") and "not found" in x for x in section.blocks)


def test_changed_predictions_are_not_drawn_as_the_scored_ones(voc_tree, tmp_path):
    a = scored(voc_tree, tmp_path, "a", 0.2, seed=1)
    for png in (tmp_path / "a" / "pred").iterdir():
        Image.open(png).point(lambda v: 0).save(png)  # every prediction background now
    section = worst_section([("A", a)])
    assert not any(isinstance(x, Figure) for x in section.blocks)
    assert any(isinstance(x, str) and "not the one this eval scored" in x for x in section.blocks)


def test_a_model_result_or_no_per_image_file_gets_a_note(voc_tree, tmp_path):
    a = scored(voc_tree, tmp_path, "a", 0.2, seed=1)
    metrics = json.loads((a / "metrics.json").read_text())
    metrics["source"] = {"model": str(tmp_path / "gone" / "final.pt"), "sha256": "0" * 64}
    (a / "metrics.json").write_text(json.dumps(metrics))
    b = scored(voc_tree, tmp_path, "b", 0.2, seed=2)
    (b / "per_image.npz").unlink()
    section = worst_section([("A", a), ("B", b)])
    notes = [x for x in section.blocks if isinstance(x, str)]
    assert any(n.startswith("A: no thumbnails") and "model file it was scored with is not found" in n for n in notes)
    assert any(n.startswith("B: no per_image.npz") for n in notes)


def test_no_section_without_a_semantic_result(mit_tree, tmp_path):
    assert worst_section([("M", scored_mit(mit_tree, tmp_path, "m", seed=1))]) is None


def test_a_per_image_file_of_nonzero_cells_ranks_and_draws_alike(voc_tree, tmp_path, monkeypatch):
    """COCO-sized results store each image's nonzero cells instead of dense matrices."""
    import c2fbench.eval.results as results

    dense = scored(voc_tree, tmp_path, "a", 0.2, seed=1)
    order = oracle_order(dense)
    monkeypatch.setattr(results, "DENSE_MAX_BYTES", 0)
    cells = scored(voc_tree, tmp_path, "b", 0.2, seed=1)
    assert "cell_image" in np.load(cells / "per_image.npz").files
    section = worst_section([("B", cells)])
    assert [row[1] for row in next(x for x in section.blocks if isinstance(x, Table)).rows] == order
    assert [x.name for x in section.blocks if isinstance(x, Figure)] == ["worst-b"]


def scored_by_model(voc_tree, tmp_path):
    """An `eval voc-val --model final.pt --out` folder: a random 21-class checkpoint, run by eval's own code."""
    import torch

    from c2fbench.data.voc import VOC_CLASSES
    from c2fbench.eval.benchmarks import load_benchmark
    from c2fbench.eval.evaluator import evaluate
    from c2fbench.eval.results import write_eval
    from c2fbench.eval.sources import ModelPredictions
    from c2fbench.models import build_model, save_checkpoint
    from deploy.runtimes import load_runtime

    torch.manual_seed(int(np.random.default_rng().integers(1 << 31)))
    model = build_model("deeplab_v2_mobilenet", num_classes=21)
    save_checkpoint(tmp_path / "run" / "final.pt", model, arch="deeplab_v2_mobilenet", kwargs={"num_classes": 21},
                    classes=list(VOC_CLASSES))
    bench = load_benchmark("voc-val", voc_tree[0])
    source = ModelPredictions(load_runtime(tmp_path / "run" / "final.pt"))
    write_eval(tmp_path / "model-eval", evaluate(bench, source, workers=1))
    return tmp_path / "model-eval"


def test_a_result_scored_from_a_model_gets_thumbnails_by_running_it_again(voc_tree, tmp_path):
    """The main result of a run is scored from its checkpoint: the report runs the same file on
    its worst images and draws them, each panel wide enough to see an error."""
    folder = scored_by_model(voc_tree, tmp_path)
    assert "model" in json.loads((folder / "metrics.json").read_text())["source"]
    section = worst_section([("final model", folder)])
    [figure] = [x for x in section.blocks if isinstance(x, Figure)]
    assert figure.name == "worst-final-model" and "two a row" in figure.caption
    with Image.open(io.BytesIO(figure.png)) as im:
        assert 900 <= im.size[0] <= 1056  # the page's width: three panels of about 170 px, two images a row
        assert im.size[1] >= 3 * 150  # 5 images: three rows

    with open(tmp_path / "run" / "final.pt", "ab") as f:  # the checkpoint changed since: not drawn as the scored one
        f.write(b"\0")
    notes = [x for x in worst_section([("final model", folder)]).blocks if isinstance(x, str)]
    assert any(n.startswith("final model: no thumbnails") and "changed since it was scored" in n for n in notes)
    notes = [x for x in worst_section([("final model", folder)], load_model=None).blocks if isinstance(x, str)]
    assert any("built without running models" in n for n in notes)  # the core alone does not run models
