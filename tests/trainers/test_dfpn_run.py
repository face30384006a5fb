"""``c2fbench train dfpn`` end to end on the tiny preset, and ``eval mit-subset --model``
against ``predict`` + ``eval --predictions``."""

import json
import shutil

import pytest
import torch
from click.testing import CliRunner

from c2fbench.cli.main import cli



@pytest.fixture(scope="module")
def dfpn_run(tmp_path_factory):
    from c2fbench.data.synth import write_synth

    root = tmp_path_factory.mktemp("dfpn")
    write_synth(root / "synth", preset="tiny", seed=4)
    args = ["train", "dfpn", "--images", str(root / "synth" / "imagenet" / "train"), "--out", str(root / "run"),
            "--arch", "dfpn_mobilenet", "--rounds", "2", "--epochs", "2", "--batch-size", "4", "--lr", "0.02",
            "--resize", "80", "--crop", "64", "--coarse-box", "robust", "--no-drop-outside", "--workers", "1",
            "--val-root", str(root / "synth")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return root


def test_foreground_run_logs_j_and_p_every_round(dfpn_run):
    lines = [json.loads(x) for x in (dfpn_run / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [line["round"] for line in lines] == [1, 2]
    for line in lines:
        assert line["val"]["benchmark"] == "mit-subset"
        assert 0 <= line["val"]["mean_J"] <= 100 and 0 <= line["val"]["mean_P"] <= 100
    config = json.loads((dfpn_run / "run" / "config.json").read_text())
    assert config["task"] == "foreground" and config["arch"] == "dfpn_mobilenet"
    payload = torch.load(dfpn_run / "run" / "final.pt", weights_only=True)
    assert payload["classes"] == ["foreground"]
    labels = set()
    for path in (dfpn_run / "run" / "masks" / "round-01").rglob("*.png"):
        from c2fbench.data.png import read_label_png

        labels |= set(read_label_png(path).ravel().tolist())
    assert labels <= {0, 1}


def test_eval_mit_model_equals_predict_then_eval(dfpn_run, tmp_path):
    model, synth = dfpn_run / "run" / "final.pt", dfpn_run / "synth"
    data = synth / "ObjectDiscovery" / "Data"
    images = tmp_path / "images"
    for folder in ("Airplane100", "Car100", "Horse100"):
        (images / folder).mkdir(parents=True)
        for jpg in (data / folder).glob("*.jpg"):
            shutil.copy(jpg, images / folder / jpg.name)
    runner = CliRunner()
    assert runner.invoke(cli, ["predict", "--model", str(model), "--images", str(images),
                               "--out", str(tmp_path / "pred")]).exit_code == 0
    a = runner.invoke(cli, ["eval", "mit-subset", "--data-root", str(synth), "--model", str(model),
                            "--out", str(tmp_path / "a")])
    b = runner.invoke(cli, ["eval", "mit-subset", "--data-root", str(synth), "--predictions", str(tmp_path / "pred"),
                            "--out", str(tmp_path / "b")])
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    ma, mb = (json.loads((tmp_path / k / "metrics.json").read_text()) for k in "ab")
    assert ma["per_class"] == mb["per_class"] and ma["mean_J"] == mb["mean_J"]


def test_a_foreground_run_counts_its_dropped_images(tmp_path):
    """Strategy (a) on the foreground task: the dropped images are logged under "foreground"
    (this raised IndexError when any image was dropped); the oracle is the all-void masks on disk."""
    from c2fbench.data.png import read_label_png
    from c2fbench.data.synth import write_synth

    write_synth(tmp_path / "synth", preset="tiny", seed=4)
    (tmp_path / "c.json").write_text(json.dumps({"min_foreground": 0.15, "max_foreground": 0.6}))
    result = CliRunner().invoke(cli, ["train", "dfpn", "--images", str(tmp_path / "synth" / "imagenet" / "train"),
                                      "--out", str(tmp_path / "run"), "--recipe", "dfpn-tiny", "--config",
                                      str(tmp_path / "c.json"), "--arch", "fpn_mobilenet", "--rounds", "1",
                                      "--epochs", "1", "--workers", "1", "--threads", "1"])
    assert result.exit_code == 0, result.output
    line = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    void = sum(bool((read_label_png(p) == 255).all()) for p in (tmp_path / "run" / "masks" / "round-00").rglob("*.png"))
    assert 0 < void < 40
    assert line["train_masks"]["dropped_by_class"] == {"foreground": void} and line["train_masks"]["dropped"] == void
