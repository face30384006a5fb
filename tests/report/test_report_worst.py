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


def worst_section(folders):
    doc = build_report(load_inputs([f"{label}={folder}" for label, folder in folders]))
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
    metrics["source"] = {"model": "/m/final.pt", "sha256": "0" * 64}
    (a / "metrics.json").write_text(json.dumps(metrics))
    b = scored(voc_tree, tmp_path, "b", 0.2, seed=2)
    (b / "per_image.npz").unlink()
    section = worst_section([("A", a), ("B", b)])
    notes = [x for x in section.blocks if isinstance(x, str)]
    assert any("scored from a model" in n for n in notes) and any(n.startswith("B: no per_image.npz") for n in notes)


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
