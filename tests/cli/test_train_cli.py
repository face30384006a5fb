"""``c2fbench train deeplab|dfpn`` refusals through click's CliRunner: every bad start is one
line, exit status 2, and leaves --out as it was (absent, or empty)."""

import json
import os
from urllib.error import URLError

import click
import pytest
from click.testing import CliRunner

from c2fbench.cli.main import cli
from trainers.config import RECIPES_DIR


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from c2fbench.data.synth import write_synth

    root = tmp_path_factory.mktemp("synth")
    write_synth(root, preset="tiny", seed=6)
    return root


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_refused(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def deeplab(synth, out, *args):
    return run("train", "deeplab", "--imagenet", synth / "imagenet", "--out", out, "--workers", 1, "--threads", 1,
               *args)


def dfpn(synth, out, *args):
    return run("train", "dfpn", "--images", synth / "imagenet" / "train", "--out", out, "--workers", 1,
               "--threads", 1, *args)


# -- item 1: a command trains its own task only -----------------------------------------------

@pytest.mark.parametrize("command, args, fragments", [
    ("dfpn", ["--recipe", "tiny"], ["recipe tiny", "task semantic", "dfpn-tiny"]),
    ("dfpn", ["--recipe", "dfpn-tiny", "--arch", "deeplab_v2_mobilenet"], ["arch deeplab_v2_mobilenet", "semantic"]),
    ("dfpn", ["--arch", "deeplab_v2_vgg_lite"], ["arch deeplab_v2_vgg_lite", "train deeplab"]),
    ("deeplab", ["--recipe", "dfpn-demo"], ["recipe dfpn-demo", "task foreground", "tiny"]),
    ("deeplab", ["--recipe", "tiny", "--arch", "fpn_mobilenet"], ["arch fpn_mobilenet", "foreground"]),
])
def test_a_command_refuses_the_other_tasks_recipes_and_models(synth, tmp_path, command, args, fragments):
    train = deeplab if command == "deeplab" else dfpn
    assert_refused(train(synth, tmp_path / "run", *args), *fragments)
    assert not (tmp_path / "run").exists()


def test_a_validation_set_of_the_other_task_is_refused(synth, tmp_path):
    (tmp_path / "voc.json").write_text(json.dumps({"val_benchmark": "voc-val"}))
    refused = dfpn(synth, tmp_path / "a", "--recipe", "dfpn-tiny", "--config", tmp_path / "voc.json",
                   "--val-root", synth)
    assert_refused(refused, "voc-val is a semantic benchmark (21 classes)", "foreground model (1 output channel)")
    (tmp_path / "mit.json").write_text(json.dumps({"val_benchmark": "mit-subset"}))
    refused = deeplab(synth, tmp_path / "b", "--recipe", "tiny", "--config", tmp_path / "mit.json",
                      "--val-root", synth)
    assert_refused(refused, "mit-subset is a foreground benchmark", "semantic model (21 output channels)")
    assert_refused(deeplab(synth, tmp_path / "c", "--recipe", "tiny", "--val-root", tmp_path / "nowhere"),
                   "nowhere")
    assert not any((tmp_path / k).exists() for k in "abc")


# -- item 4: typed config files ---------------------------------------------------------------

@pytest.mark.parametrize("values, fragments", [
    ({"epochs": "2"}, ["'epochs' must be an integer", 'got "2" (a string)']),
    ({"lr": "0.1"}, ["'lr' must be a number"]),
    ({"flip": 1}, ["'flip' must be true or false", "got 1 (an integer)"]),
    ({"val_root": 3}, ["'val_root' must be a string or null"]),
    ({"rounds": 2.5}, ["'rounds' must be an integer"]),
    ({"learning_rate": 1}, ["unknown options learning_rate"]),
])
def test_a_config_file_of_wrong_types_is_refused_naming_key_file_and_type(synth, tmp_path, values, fragments):
    (tmp_path / "c.json").write_text(json.dumps(values))
    result = deeplab(synth, tmp_path / "run", "--recipe", "tiny", "--config", tmp_path / "c.json")
    assert_refused(result, str(tmp_path / "c.json"), *fragments)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("text, fragments", [
    ('{"lr": Infinity}', ["'lr' must be a finite number, got Infinity"]),
    ('{"weight_decay": NaN}', ["'weight_decay' must be a finite number, got NaN"]),
    ('{"rounds": 0}', ["rounds must be at least 1"]),
    ('{"grabcut_iterations": 0}', ["grabcut_iterations must be at least 1"]),
    ('{"momentum": -5}', ["momentum must be in [0, 1)"]),
    ('{"saliency": "foo"}', ["saliency must be one of"]),
    ('{"loss_resolution": "half"}', ["loss_resolution must be input, output or input/N"]),
    ('{"loss_resolution": "input/0"}', ["loss_resolution must be input, output or input/N"]),
    ('{"loss_resolution": "input/-2"}', ["loss_resolution must be input, output or input/N"]),
    ('{"loss_resolution": "input/2.5"}', ["loss_resolution must be input, output or input/N"]),
    ('{"loss_resolution": "input/"}', ["loss_resolution must be input, output or input/N"]),
    ('{"loss_resolution": " input/3"}', ["loss_resolution must be input, output or input/N"]),
])
def test_a_config_file_of_values_out_of_range_is_refused_naming_the_file(synth, tmp_path, text, fragments):
    (tmp_path / "c.json").write_text(text)
    result = deeplab(synth, tmp_path / "run", "--recipe", "tiny", "--config", tmp_path / "c.json")
    assert_refused(result, str(tmp_path / "c.json"), *fragments)
    assert not (tmp_path / "run").exists()


def test_lr_inf_on_the_command_line_is_refused(synth, tmp_path):
    assert_refused(deeplab(synth, tmp_path / "run", "--recipe", "tiny", "--lr", "inf"), "'lr' must be a finite number")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("value", ["input/0", "input/x", "stride2", "INPUT"])
def test_a_bad_loss_resolution_on_the_command_line_is_refused(synth, tmp_path, value):
    result = deeplab(synth, tmp_path / "run", "--recipe", "tiny", "--loss-resolution", value)
    assert_refused(result, "loss_resolution must be input, output or input/N")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("value", ["input", "output", "input/1", "input/3", "input/16"])
def test_every_loss_resolution_of_the_documented_forms_is_taken(value):
    result = run("train", "deeplab", "--recipe", "tiny", "--loss-resolution", value, "--print-config")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["loss_resolution"] == value


def test_a_config_file_with_a_utf8_bom_is_read(tmp_path):
    (tmp_path / "c.json").write_bytes(b"\xef\xbb\xbf" + json.dumps({"epochs": 7}).encode())
    result = run("train", "deeplab", "--recipe", "tiny", "--config", tmp_path / "c.json", "--print-config")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["epochs"] == 7


# -- items 5, 7, 8, 13: a failed start leaves --out as it was --------------------------------

@pytest.mark.parametrize("existing", [False, True])
@pytest.mark.parametrize("case", ["arch", "student", "missing-student", "branch", "cuda", "gpu", "rank", "world"])
def test_a_failed_start_writes_nothing(synth, tmp_path, monkeypatch, case, existing):
    import torch

    out = tmp_path / "run"
    if existing:
        out.mkdir()
    (tmp_path / "bad-student.pt").write_bytes(b"not a checkpoint")
    args = {"arch": ["--recipe", "tiny", "--arch", "deeplab_v2_nope"],
            "student": ["--recipe", "tiny", "--coarse-method", "student", "--student-weights",
                        tmp_path / "bad-student.pt"],
            "missing-student": ["--recipe", "paper-voc", "--arch", "deeplab_v2_mobilenet_small",
                                "--no-pretrained-backbone"],
            "branch": ["--branch-from", tmp_path / "no-run", "--no-refine-grabcut"],
            "cuda": ["--recipe", "tiny", "--device", "cuda"],
            "gpu": ["--recipe", "tiny", "--device", "gpu"],
            "rank": ["--recipe", "tiny"], "world": ["--recipe", "tiny"]}[case]
    expected = {"arch": ["unknown model architecture 'deeplab_v2_nope'"],
                "student": [str(tmp_path / "bad-student.pt"), "not a readable student checkpoint"],
                "missing-student": [str(tmp_path / "student.pt"), "not found", "masks student-train --images"],
                "branch": [str(tmp_path / "no-run"), "round-01/model.pt"],
                "cuda": ["--device cuda", "CUDA is not available"],
                "gpu": ["--device gpu", "expected cpu, cuda or cuda:N"],
                "rank": ["RANK=3 WORLD_SIZE=2: expected 0 <= RANK < WORLD_SIZE"],
                "world": ["RANK=0 WORLD_SIZE=0: expected 0 <= RANK < WORLD_SIZE"]}[case]
    monkeypatch.chdir(tmp_path)  # paper-voc's "student.pt" is taken from the current folder
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    if case == "rank":
        monkeypatch.setenv("RANK", "3"), monkeypatch.setenv("WORLD_SIZE", "2")
    if case == "world":
        monkeypatch.setenv("RANK", "0"), monkeypatch.setenv("WORLD_SIZE", "0")
    assert_refused(deeplab(synth, out, *args), *expected)
    assert (list(out.iterdir()) == []) if existing else not out.exists()


def test_branch_from_a_missing_or_damaged_source_names_it_first(synth, tmp_path):
    """Before any complaint about options that may not differ, and before --out is written."""
    assert_refused(deeplab(synth, tmp_path / "run", "--recipe", "tiny", "--branch-from", tmp_path / "no-run"),
                   str(tmp_path / "no-run"), "round-01/model.pt")
    source = tmp_path / "source"
    (source / "round-01").mkdir(parents=True)
    (source / "config.json").write_text(json.dumps({"task": "semantic", "arch": "deeplab_v2_mobilenet"}))
    (source / "round-01" / "model.pt").write_bytes(b"PK\x03\x04 cut short")
    assert_refused(deeplab(synth, tmp_path / "run", "--branch-from", source, "--no-refine-grabcut"),
                   str(source / "round-01" / "model.pt"), "corrupt")
    assert not (tmp_path / "run").exists()


def test_branch_from_with_resume_is_refused(synth, tmp_path):
    assert_refused(deeplab(synth, tmp_path / "run", "--resume", "--branch-from", tmp_path / "src"),
                   "--resume continues one: give one of them")
    assert not (tmp_path / "run").exists()


def test_an_error_message_is_printed_as_it_is(synth, tmp_path):
    """rich would turn ':x:' into an emoji."""
    assert_refused(deeplab(synth, tmp_path / "run", "--recipe", "tiny", "--device", "cuda:x"),
                   "--device cuda:x: expected cpu, cuda or cuda:N")


def test_offline_pretrained_weights_say_what_to_do(synth, tmp_path, monkeypatch):
    """The download raises URLError (no network in tests): one line naming the cache folder
    and the options that need no download; nothing written."""
    import torch.hub

    def offline(url, dst, *args, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    result = deeplab(synth, tmp_path / "run", "--recipe", "paper-voc", "--coarse-method", "saliency",
                     "--arch", "deeplab_v2_mobilenet_small")
    assert result.exit_code == 2, result.output
    line = [x for x in result.output.splitlines() if x.startswith("error:")]
    assert len(line) == 1 and "Traceback" not in result.output
    for fragment in ("cannot download the ImageNet weights", "offline?", str(tmp_path / "torch-home" / "hub" /
                     "checkpoints"), "--no-pretrained-backbone", "--backbone-weights"):
        assert fragment in line[0], fragment
    assert not (tmp_path / "run").exists()


# -- item 10: list, --print-config, absolute paths --------------------------------------------

def test_list_recipes_shows_each_recipes_task_arch_rounds_and_epochs():
    result = CliRunner().invoke(cli, ["list", "recipes"], terminal_width=80)
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[0].strip(): [c.strip() for c in line.split("│")] for line in result.output.splitlines()
            if "│" in line}
    files = sorted(RECIPES_DIR.glob("*.json"))
    assert sorted(rows) == sorted(p.stem for p in files) and len(files) >= 6
    for path in files:
        recipe = json.loads(path.read_text())
        row = rows[path.stem]
        assert row[1:5] == [recipe["task"], recipe["arch"], str(recipe["rounds"]), str(recipe["epochs"])], row


def test_list_models_and_benchmarks():
    from c2fbench.eval.benchmarks import BENCHMARKS
    from c2fbench.models import MODELS

    models = CliRunner().invoke(cli, ["list", "models"], terminal_width=80)
    assert models.exit_code == 0
    tasks = {line.split("│")[0].strip(): line.split("│")[1].strip() for line in models.output.splitlines()
             if "│" in line and line.split("│")[0].strip()}
    assert set(tasks) == set(MODELS)
    assert tasks["dfpn_resnet101"] == tasks["fpn_mobilenet"] == "foreground"
    assert tasks["deeplab_v2_resnet101"] == tasks["deeplab_v2_vgg_lite"] == "semantic"
    benchmarks = CliRunner().invoke(cli, ["list", "benchmarks"], terminal_width=80)
    assert benchmarks.exit_code == 0 and all(name in benchmarks.output for name in BENCHMARKS)
    assert CliRunner().invoke(cli, ["list", "nothing"]).exit_code == 2


def test_print_config_resolves_recipe_config_and_options_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.json").write_text(json.dumps({"epochs": 3, "seed": 7}))
    result = CliRunner().invoke(cli, ["train", "deeplab", "--recipe", "tiny", "--config", "c.json",
                                                      "--seed", "9", "--val-root", "data", "--print-config"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    recipe = json.loads((RECIPES_DIR / "tiny.json").read_text())
    recipe.pop("_comment")
    assert {k: printed[k] for k in recipe if k != "epochs"} == {k: v for k, v in recipe.items() if k != "epochs"}
    assert printed["epochs"] == 3 and printed["seed"] == 9  # --config over the recipe, options over both
    assert printed["val_root"] == os.path.join(str(tmp_path), "data")  # stored absolute
    assert printed["val_benchmark"] == "voc-val" and printed["task"] == "semantic"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json"]
    foreground = CliRunner().invoke(cli, ["train", "dfpn", "--print-config"])
    assert json.loads(foreground.stdout)["arch"] == "dfpn_resnet101"
    assert json.loads(foreground.stdout)["val_benchmark"] == "mit-subset"
    assert CliRunner().invoke(cli, ["train", "deeplab", "--recipe", "tiny"]).exit_code == 2  # no --out


# -- item 12: help --------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["deeplab", "dfpn"])
def test_help_has_examples_and_describes_every_option(command):
    from c2fbench.cli.train import train

    result = CliRunner().invoke(cli, ["train", command, "--help"], terminal_width=80)
    assert result.exit_code == 0
    assert "Examples:" in result.output and "--resume --rounds 3" in result.output
    assert "recipe's, else 2" in result.output and "recipe's, else 0.00025" in result.output
    undocumented = [p.name for p in train.commands[command].params if not getattr(p, "help", None)]
    assert undocumented == []


@pytest.mark.parametrize("command", ["deeplab", "dfpn"])
def test_help_shows_the_defaults_the_command_resolves_to(command):
    """Every option's --help default is the value `--print-config` gives without a recipe."""
    from c2fbench.cli.train import train
    from trainers.config import FLAT_KEYS

    printed = json.loads(CliRunner().invoke(cli, ["train", command, "--print-config"]).stdout)
    shown = {p.name: p.show_default for p in train.commands[command].params if p.name in FLAT_KEYS}
    assert len(shown) >= 25
    for name, text in shown.items():
        value = printed[name]
        if value is None:  # a file or folder given by no default (--student-weights, --val-root)
            assert not text, name
            continue
        assert text == f"recipe's, else {({True: 'on', False: 'off'}[value] if isinstance(value, bool) else value)}"
    assert shown["arch"] == f"recipe's, else {'dfpn_resnet101' if command == 'dfpn' else 'deeplab_v2_resnet101'}"


def test_train_help_loads_no_numpy_or_torch():
    """The defaults --help shows come from TrainConfig, read without numpy or torch."""
    import subprocess
    import sys

    code = ("import sys; from click.testing import CliRunner; from c2fbench.cli.main import cli; "
            "codes = [CliRunner().invoke(cli, ['train', c, '--help']).exit_code for c in ('deeplab', 'dfpn')]; "
            "print(codes, [m for m in ('numpy', 'torch') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[0, 0] []"


def test_an_explicit_option_overrides_config_even_at_its_default(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"drop_outside": False, "lr": 0.5, "refine_init": "rect"}))
    result = run("train", "deeplab", "--config", tmp_path / "c.json", "--drop-outside", "--lr", "0.00025",
                 "--refine-init", "mask", "--print-config")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert (printed["drop_outside"], printed["lr"], printed["refine_init"]) == (True, 0.00025, "mask")


@pytest.mark.parametrize("args", [["train", "classifier"], ["demo"], ["list"], ["data", "synth"],
                                  *[["masks", name] for name in ("coarse", "enhance", "labels", "score",
                                                                 "student-train")]])
def test_every_option_of_the_other_training_commands_is_described(args):
    import importlib

    from c2fbench.cli.main import COMMANDS

    module, attribute = COMMANDS[args[0]].split(":")
    command = getattr(importlib.import_module(module), attribute)
    if len(args) > 1:
        command = command.commands[args[1]]
    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0 and "Example" in result.output, result.output
    undocumented = [p.name for p in command.params if isinstance(p, click.Option) and not p.help]
    assert undocumented == []


@pytest.mark.parametrize("args, fragment", [
    (["train", "deeplab", "--recipe", "tiny", "--threads", "0"], "Invalid value for '--threads'"),
    (["train", "dfpn", "--recipe", "dfpn-tiny", "--bogus"], "No such option '--bogus'"),
    (["train", "deeplab", "--out", "x", "--recipe", "tiny"], "Missing option '--imagenet'"),
    (["masks", "enhance", "--images", ".", "--coarse", ".", "--out", "x", "--iterations", "0"],
     "Invalid value for '--iterations'"),
    (["masks", "nope"], "No such command 'nope'"),
])
def test_a_usage_error_is_one_line_too(tmp_path, monkeypatch, args, fragment):
    monkeypatch.chdir(tmp_path)
    result = run(*args)
    assert_refused(result, fragment, "--help")
    assert "Usage:" not in result.output and not (tmp_path / "x").exists()


def test_a_config_file_without_a_suffix_is_read_as_a_file(tmp_path):
    (tmp_path / "myconfig").write_text(json.dumps({"epochs": 3}))
    result = run("train", "deeplab", "--recipe", "tiny", "--config", tmp_path / "myconfig", "--print-config")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["epochs"] == 3


@pytest.mark.parametrize("option", ["--config", "--backbone-weights", "--student-weights"])
@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_fifo_or_device_given_as_a_file_is_refused_unopened(synth, tmp_path, option, kind):
    """Reading a FIFO would hang, /dev/zero would fill the memory: both refused by their mode."""
    import os

    path = tmp_path / "special"
    os.mkfifo(path) if kind == "fifo" else path.symlink_to("/dev/zero")
    extra = ["--coarse-method", "student"] if option == "--student-weights" else []
    result = deeplab(synth, tmp_path / "run", "--recipe", "tiny", option, path, *extra)
    assert_refused(result, str(path), "not a regular file")
    assert not (tmp_path / "run").exists()


def test_resume_of_a_run_whose_config_is_a_device_link_names_it(synth, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").symlink_to("/dev/zero")
    assert_refused(deeplab(synth, out, "--resume"), str(out / "config.json"), "not a regular file")


def test_a_run_directory_inside_the_training_images_is_refused(synth, tmp_path):
    out = synth / "imagenet" / "train" / "run"
    assert_refused(deeplab(synth, out, "--recipe", "tiny"), "inside the training images")
    assert_refused(dfpn(synth, out, "--recipe", "dfpn-tiny"), "inside the training images")
    assert not out.exists()


def test_a_validation_label_out_of_the_classes_is_refused_before_training(synth, tmp_path):
    """Value 30 in one VOC val label map (21 classes): named at the start, not after round 1."""
    import shutil

    import numpy as np
    from PIL import Image

    root = tmp_path / "data"
    shutil.copytree(synth / "VOCdevkit", root / "VOCdevkit")
    first = (root / "VOCdevkit" / "VOC2012" / "ImageSets" / "Segmentation" / "val.txt").read_text().split()[0]
    path = root / "VOCdevkit" / "VOC2012" / "SegmentationClass" / f"{first}.png"
    with Image.open(path) as im:
        label, palette = np.array(im), im.getpalette()
    label[0, 0] = 30
    bad = Image.fromarray(label, "P")
    bad.putpalette(palette)
    bad.save(path)
    assert_refused(deeplab(synth, tmp_path / "run", "--recipe", "tiny", "--val-root", root),
                   str(path), "holds value 30")
    assert not (tmp_path / "run").exists()


def test_rank_and_world_size_without_torchrun_rendezvous_is_refused(synth, tmp_path, monkeypatch):
    """torchrun sets MASTER_ADDR and MASTER_PORT; without them torch raised a ValueError traceback."""
    monkeypatch.setenv("RANK", "0"), monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("MASTER_ADDR", raising=False), monkeypatch.delenv("MASTER_PORT", raising=False)
    assert_refused(deeplab(synth, tmp_path / "run", "--recipe", "tiny", "--device", "cpu"),
                   "without MASTER_ADDR and MASTER_PORT")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("out, fragment", [("", "the current folder"), (".", "the current folder"),
                                           ("/", "the filesystem root")])
@pytest.mark.parametrize("command", ["train", "masks", "demo"])
def test_the_current_folder_or_the_root_as_out_is_refused(synth, tmp_path, monkeypatch, out, fragment, command):
    """`--out ""` trained into the current folder and `--out /` into the root."""
    monkeypatch.chdir(tmp_path)
    args = {"train": ["train", "deeplab", "--imagenet", synth / "imagenet", "--recipe", "tiny", "--threads", 1],
            "masks": ["masks", "coarse", "--images", synth / "imagenet" / "train"],
            "demo": ["demo", "--preset", "tiny", "--recipe", "tiny"]}[command]
    assert_refused(run(*args, "--out", out), fragment)
    assert list(tmp_path.iterdir()) == []
