"""``data synth`` and ``demo`` on the tiny preset, through click's CliRunner (the demo end to end:
tests/cli/test_demo_numerics.py)."""

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from c2fbench.cli.main import cli


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    result = CliRunner().invoke(cli, ["data", "synth", "--out", str(root), "--preset", "tiny", "--seed", "3"])
    assert result.exit_code == 0, result.output
    return root


def test_ground_truth_scored_as_its_own_prediction_is_perfect(synth_root, tmp_path):
    """The synthetic VOC split through the real eval path: void must be excluded, so a
    prediction equal to the labels (void replaced by background) scores 100."""
    voc = synth_root / "VOCdevkit" / "VOC2012"
    for image_id in (voc / "ImageSets/Segmentation/val.txt").read_text().split():
        label = (voc / "SegmentationClass" / f"{image_id}.png").read_bytes()
        (tmp_path / "pred").mkdir(exist_ok=True)
        (tmp_path / "pred" / f"{image_id}.png").write_bytes(label)
    result = CliRunner().invoke(cli, ["eval", "voc-val", "--data-root", str(synth_root), "--predictions",
                                      str(tmp_path / "pred"), "--out", str(tmp_path / "res"), "--no-figures"])
    # the labels hold 255 (void), which is not a valid prediction value: refused, as the devkit does
    assert result.exit_code == 2 and "value 255" in result.output
    from c2fbench.data.png import read_label_png, write_label_png

    for path in (tmp_path / "pred").iterdir():
        label = read_label_png(path).copy()
        label[label == 255] = 0
        write_label_png(path, label)
    result = CliRunner().invoke(cli, ["eval", "voc-val", "--data-root", str(synth_root), "--predictions",
                                      str(tmp_path / "pred"), "--out", str(tmp_path / "res"), "--no-figures"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "res" / "metrics.json").read_text())
    present = [v for v in metrics["per_class_iou"].values() if v is not None]
    assert present and all(v == 100.0 for v in present)


def test_mit_ground_truth_copied_as_predictions_scores_100(synth_root, tmp_path):
    data = synth_root / "ObjectDiscovery" / "Data"
    for folder in ("Airplane100", "Car100", "Horse100"):
        shutil.copytree(data / folder / "GroundTruth", tmp_path / "pred" / folder)
    result = CliRunner().invoke(cli, ["eval", "mit-subset", "--data-root", str(synth_root), "--predictions",
                                      str(tmp_path / "pred"), "--out", str(tmp_path / "res")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "res" / "metrics.json").read_text())
    assert metrics["mean_J"] == 100.0 and metrics["mean_P"] == 100.0
    npz = np.load(tmp_path / "res" / "per_image.npz")
    assert np.isnan(npz["J"]).sum() == sum(r["num_images"] - r["num_images_scored_J"]
                                           for r in metrics["per_class"].values()) > 0


def test_unknown_benchmark_and_preset_are_usage_errors(tmp_path):
    assert CliRunner().invoke(cli, ["eval", "voc-test", "--data-root", str(tmp_path)]).exit_code == 2
    assert CliRunner().invoke(cli, ["data", "synth", "--out", str(tmp_path), "--preset", "huge"]).exit_code == 2


def test_demo_refuses_a_foreground_recipe_before_writing(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "demo"), "--preset", "tiny",
                                      "--recipe", "dfpn-tiny", "--workers", "1", "--threads", "1"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()  # the one error line, no "torch threads" before it
    assert len(lines) == 1 and lines[0].startswith("error:") and "recipe dfpn-tiny sets task foreground" in lines[0]
    assert not (tmp_path / "demo").exists()


@pytest.mark.parametrize("args, fragment", [
    (["--preset", "demo"], "made with --preset tiny --seed 0"),
    (["--seed", "1"], "made with --preset tiny --seed 0"),
    (["--recipe", "demo"], "trained with other settings (arch"),
    (["--pretrain"], "trained with other settings (backbone_weights"),
])
def test_demo_refuses_a_folder_made_with_other_options(tmp_path, args, fragment):
    """The folder of `demo --preset tiny --recipe tiny` (its stamp and run configuration, as
    `train deeplab --print-config` gives it) is left byte for byte as it was."""
    out = tmp_path / "demo"
    (out / "data").mkdir(parents=True)
    (out / "data" / "synth.json").write_text(json.dumps({"preset": "tiny", "seed": 0}))
    config = CliRunner().invoke(cli, ["train", "deeplab", "--recipe", "tiny", "--seed", "0", "--val-root",
                                      str(out / "data"), "--print-config"])
    (out / "run").mkdir()
    (out / "run" / "config.json").write_text(config.output)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    base = {"--preset": "tiny", "--recipe": "tiny"}
    for i in range(0, len(args), 2):
        base.pop(args[i], None)
    result = CliRunner().invoke(cli, ["demo", "--out", str(out), *[x for kv in base.items() for x in kv], *args,
                                      "--workers", "1", "--threads", "1"])
    assert result.exit_code == 2, result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith("error:") and fragment in line, line
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
