"""The checkpoint format: exact round trip, weights-only reading, and refusals naming the file."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from c2fbench.errors import InputError
from c2fbench.models import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    deeplab_v2_mobilenet,
    load_checkpoint,
    read_checkpoint_meta,
    save_checkpoint,
)

CLASSES = ["background", "cat", "dog", "horse"]
KWARGS = {"num_classes": 4, "rates": (1, 2, 3, 4)}
RAN = []  # set by _record_run if unpickling ever executes code


def _record_run(*args):
    RAN.append(args)
    return args


class Plain:
    """An ordinary user class."""


class Payload:
    """An object whose unpickling would run ``_record_run``."""

    def __reduce__(self):
        return (_record_run, ("unpickled",))



@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """(path, model, extra) of a mobilenet DeepLab with random BN statistics, saved once."""
    model = deeplab_v2_mobilenet(**KWARGS)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2.0)
    backbone, head = model.param_groups()
    optimizer = torch.optim.SGD([{"params": backbone}, {"params": head, "lr": 0.1}], lr=0.01, momentum=0.9)
    model(torch.randn(2, 3, 32, 32)).mean().backward()
    optimizer.step()
    path = tmp_path_factory.mktemp("ckpt") / "round-01" / "model.pt"
    extra = {"round": 1, "epoch": 3, "optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state(),
             "python_rng": random.Random(7).getstate(), "numpy_rng": np.random.default_rng(5).bit_generator.state}
    save_checkpoint(path, model, arch="deeplab_v2_mobilenet", kwargs={**KWARGS, "pretrained_backbone": True},
                    classes=CLASSES, extra=extra)
    return path, model.eval(), extra


def _payload(path):
    return torch.load(path, weights_only=True)


def test_round_trip_gives_identical_outputs_and_meta(saved):
    path, model, extra = saved
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temporary left behind
    loaded, meta = load_checkpoint(path, expect_classes=CLASSES)
    assert not loaded.training
    x = torch.randn(2, 3, 40, 36)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    state = model.state_dict()
    assert all(torch.equal(v, state[k]) for k, v in loaded.state_dict().items())
    assert meta["format"] == "c2fbench-checkpoint" and meta["version"] == 1
    assert meta["arch"] == "deeplab_v2_mobilenet" and meta["classes"] == CLASSES
    assert meta["kwargs"] == {"num_classes": 4, "rates": (1, 2, 3, 4), "pretrained_backbone": False}
    assert meta["normalization"] == {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}
    assert "state_dict" not in meta and meta["round"] == 1 and meta["epoch"] == 3
    fresh = torch.optim.SGD([{"params": loaded.param_groups()[0]}, {"params": loaded.param_groups()[1], "lr": 0.1}],
                            lr=0.01, momentum=0.9)
    fresh.load_state_dict(meta["optimizer"])
    assert fresh.param_groups[1]["lr"] == 0.1
    assert torch.equal(meta["torch_rng"], extra["torch_rng"])
    python_rng = random.Random()
    python_rng.setstate(meta["python_rng"])
    numpy_rng = np.random.default_rng()
    numpy_rng.bit_generator.state = meta["numpy_rng"]
    assert python_rng.random() == random.Random(7).random()
    assert numpy_rng.integers(1 << 30) == np.random.default_rng(5).integers(1 << 30)
    assert read_checkpoint_meta(path).keys() == meta.keys()


def test_custom_objects_are_refused_without_running_code(saved, tmp_path):
    for obj, name in ((Payload(), "_record_run"), (Plain(), "Plain")):
        path = tmp_path / f"evil-{name}.pt"
        payload = _payload(saved[0])
        payload["extra_object"] = obj
        torch.save(payload, path)
        for read in (load_checkpoint, read_checkpoint_meta):
            with pytest.raises(InputError, match=rf"evil-{name}\.pt: .*pickled object \(\S*{name}\).*weights-only"):
                read(path)
    assert RAN == []
    torch.load(tmp_path / "evil-_record_run.pt", weights_only=False)  # oracle: unrestricted loading runs it
    assert RAN == [("unpickled",)]
    with pytest.raises(TypeError, match=r"extra\['mask'\] is a numpy.ndarray"):
        save_checkpoint(tmp_path / "x.pt", saved[1], arch="deeplab_v2_mobilenet", kwargs=KWARGS, classes=CLASSES,
                        extra={"mask": np.zeros(3)})
    assert not (tmp_path / "x.pt").exists()


def test_a_plain_pickle_with_code_is_refused_in_one_line(tmp_path, recwarn):
    import os
    import pickle

    ran_before = list(RAN)
    for protocol in (2, 4):  # torch warns about protocol 4: that warning must not leak out
        path = tmp_path / f"p{protocol}.pt"
        path.write_bytes(pickle.dumps(Payload(), protocol=protocol))
        with pytest.raises(InputError, match=rf"p{protocol}\.pt: .*expected a c2fbench checkpoint"):
            load_checkpoint(path)
    assert RAN == ran_before and not [w for w in recwarn if "pickle" in str(w.message)]
    path = tmp_path / "system.pt"
    torch.save({"format": "c2fbench-checkpoint", "x": _System()}, path)
    with pytest.raises(InputError, match=r"system\.pt: it holds a pickled object \((posix|nt)\.system\)"):
        load_checkpoint(path)
    assert os.system is not None


class _System:
    def __reduce__(self):
        import os

        return (os.system, ("false",))


def test_other_classes_are_refused(saved):
    with pytest.raises(InputError, match=r"model\.pt: checkpoint has 4 classes, expected 21"):
        load_checkpoint(saved[0], expect_classes=[f"c{i}" for i in range(21)])
    with pytest.raises(InputError, match=r"class 2 is 'dog', expected 'cow'"):
        load_checkpoint(saved[0], expect_classes=["background", "cat", "cow", "horse"])


@pytest.mark.parametrize("change, message", [
    (lambda p: p.update(arch="deeplab_v9"), r"unknown model architecture 'deeplab_v9'.*deeplab_v2_resnet101"),
    (lambda p: p.pop("format"), r"not a c2fbench checkpoint.*no 'format'"),
    (lambda p: p.update(version=2), r"format version 2"),
    (lambda p: p["kwargs"].update(num_classes=5) or p.update(classes=CLASSES + ["cow"]),
     r"weights do not fit.*shape mismatches.*head\.branches\.0\.weight \(4, 960, 3, 3\) vs \(5, 960, 3, 3\)"),
    (lambda p: p["state_dict"].pop("backbone.0.0.weight"), r"1 missing keys \(backbone\.0\.0\.weight\)"),
    (lambda p: p.update(state_dict={f"module.{k}": v for k, v in p["state_dict"].items()}),
     r"missing keys.*unexpected keys.*DistributedDataParallel"),
    (lambda p: p.update(classes=CLASSES[:3]), r"names 3 classes but its model has num_classes=4"),
    (lambda p: p["kwargs"].update(width=3), r"bad arguments.*width"),
    (lambda p: p.update(normalization={"mean": [0.5]}), r"normalization"),
    (lambda p: p["kwargs"].update({5: 1}), r"field 'kwargs' has the key 5; expected .*strings"),
    (lambda p: p["state_dict"].update({"backbone.0.0.weight": 3}),
     r"entry 'backbone\.0\.0\.weight' is a int; expected tensors only"),
    (lambda p: p["state_dict"].update({"head.branches.0.weight": "w"}), r"is a str; expected tensors only"),
    (lambda p: p["kwargs"].update(num_classes="4"), r"num_classes='4'"),
])
def test_bad_contents_are_input_errors_naming_the_file(saved, tmp_path, change, message):
    payload = _payload(saved[0])
    change(payload)
    path = tmp_path / "bad.pt"
    torch.save(payload, path)
    with pytest.raises(InputError, match=r"bad\.pt: .*" + message):
        load_checkpoint(path)


def test_unreadable_files_are_input_errors(saved, tmp_path):
    data = saved[0].read_bytes()
    files = {
        "missing.pt": None,
        "garbage.pt": np.random.default_rng().integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "empty.pt": b"",
        "text.pt": b"not a checkpoint\n",
        "truncated.pt": data[: len(data) // 2],
    }
    for name, content in files.items():
        if content is not None:
            (tmp_path / name).write_bytes(content)
        for read in (load_checkpoint, read_checkpoint_meta):
            with pytest.raises(InputError, match=rf"{name}: .*expected a c2fbench checkpoint"):
                read(tmp_path / name)
    bare = tmp_path / "bare.pt"
    torch.save(saved[1].state_dict(), bare)
    with pytest.raises(InputError, match=r"bare\.pt: not a c2fbench checkpoint \(.*bare state dict"):
        load_checkpoint(bare)


def test_save_refuses_inconsistent_arguments(saved, tmp_path):
    model = saved[1]
    with pytest.raises(ValueError, match="3 class names.*num_classes=4"):
        save_checkpoint(tmp_path / "a.pt", model, arch="deeplab_v2_mobilenet", kwargs=KWARGS, classes=CLASSES[:3])
    with pytest.raises(ValueError, match="reserved"):
        save_checkpoint(tmp_path / "a.pt", model, arch="deeplab_v2_mobilenet", kwargs=KWARGS, classes=CLASSES,
                        extra={"state_dict": {}})
    with pytest.raises(ValueError, match="unknown arch"):
        save_checkpoint(tmp_path / "a.pt", model, arch="fpn", kwargs=KWARGS, classes=CLASSES)
    with pytest.raises(ValueError, match="normalization"):
        save_checkpoint(tmp_path / "a.pt", model, arch="deeplab_v2_mobilenet", kwargs=KWARGS, classes=CLASSES,
                        normalization={"mean": [0, 0, 0], "std": [1, 0, 1]})
    assert not (tmp_path / "a.pt").exists()
    save_checkpoint(tmp_path / "b.pt", model, arch="deeplab_v2_mobilenet", kwargs={"rates": (1, 2, 3, 4)},
                    classes=CLASSES, normalization={"mean": [0.5] * 3, "std": [0.25] * 3})
    meta = read_checkpoint_meta(tmp_path / "b.pt")
    assert meta["kwargs"]["num_classes"] == 4  # filled in from the model
    assert meta["normalization"] == {"mean": [0.5] * 3, "std": [0.25] * 3}


@pytest.fixture
def build_log(monkeypatch):
    """Every model build while loading, as the default device it ran under ("meta" builds
    allocate nothing): a spy around the real builder in c2fbench.models.MODELS."""
    from c2fbench import models

    log = []
    real = models.MODELS["deeplab_v2_mobilenet"]

    def spy(**kwargs):
        log.append(torch.empty(0).device.type)
        return real(**kwargs)

    monkeypatch.setitem(models.MODELS, "deeplab_v2_mobilenet", spy)
    return log


def test_50000_classes_are_refused_before_any_layer_is_built(saved, tmp_path, build_log):
    payload = _payload(saved[0])
    payload["classes"] = [f"c{i}" for i in range(50_000)]
    payload["kwargs"]["num_classes"] = 50_000
    torch.save(payload, tmp_path / "huge.pt")
    for read in (load_checkpoint, read_checkpoint_meta):
        with pytest.raises(InputError, match=r"huge\.pt: checkpoint field 'classes': 50000 class names, more than"):
            read(tmp_path / "huge.pt")
    assert build_log == []


def test_a_class_count_the_weights_do_not_have_is_found_on_the_meta_device(saved, tmp_path, build_log):
    payload = _payload(saved[0])  # weights for 4 classes
    payload["classes"] = [f"c{i}" for i in range(900)]  # plausible, but not these weights
    payload["kwargs"]["num_classes"] = 900
    torch.save(payload, tmp_path / "wide.pt")
    with pytest.raises(InputError, match=r"wide\.pt: weights do not fit.*\(4, 960, 3, 3\) vs \(900, 960, 3, 3\)"):
        load_checkpoint(tmp_path / "wide.pt")
    assert build_log == ["meta"]  # shapes only: the 900-class head was never allocated
    load_checkpoint(saved[0])
    assert build_log == ["meta", "meta", "cpu"]  # a good file: checked, then built for real


def test_expected_classes_are_checked_before_building(saved, build_log):
    with pytest.raises(InputError, match=r"model\.pt: checkpoint class 1 is 'cat', expected 'aeroplane'"):
        load_checkpoint(saved[0], expect_classes=["background", "aeroplane", "bicycle", "bird"])
    assert build_log == []


@pytest.mark.parametrize("change, message", [
    (lambda p: p.update(classes=["background", "cat", "cat", "horse"]), r"'cat' appears twice"),
    (lambda p: p.update(classes=["background", "", "dog", "horse"]), r"class 1 is ''"),
    (lambda p: p.update(classes=[]) or p["kwargs"].pop("num_classes"), r"non-empty list of class names"),
    (lambda p: p.update(normalization={"mean": [0.5] * 3, "std": [0.0, 0.0, 0.0]}), r"std must be above 0"),
    (lambda p: p.update(normalization={"mean": [0.5] * 3, "std": [0.2, float("inf"), 0.2]}), r"std must be finite"),
    (lambda p: p.update(normalization={"mean": [float("nan")] * 3, "std": [0.2] * 3}), r"mean must be finite"),
    (lambda p: p.update(normalization={"mean": [0.5] * 3}), r"normalization lacks 'std'"),
    (lambda p: p.update(arch=["deeplab"]), r"field 'arch' is missing or not a str"),
])
def test_bad_metadata_is_refused_before_building(saved, tmp_path, build_log, change, message):
    payload = _payload(saved[0])
    change(payload)
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(InputError, match=r"bad\.pt: .*" + message):
        load_checkpoint(tmp_path / "bad.pt")
    assert build_log == []


def test_50000_classes_beside_large_weights_are_refused_without_reading_the_weights(saved, tmp_path):
    """The file is memory-mapped: its 400 MB tensor is never read (reading it whole held the
    process's peak memory 400 MB higher)."""
    import subprocess
    import sys

    payload = _payload(saved[0])
    payload.update(classes=[f"c{i}" for i in range(50_000)], kwargs={"num_classes": 50_000})
    payload["state_dict"]["head.huge"] = torch.ones(100_000_000)
    path = tmp_path / "huge.pt"
    torch.save(payload, path)
    del payload
    code = ("import resource, sys, torch\n"
            "from c2fbench.errors import InputError\nfrom c2fbench.models import load_checkpoint\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "try:\n    load_checkpoint(sys.argv[1])\nexcept InputError as e:\n    print(e)\n"
            "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)\n")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    message, grown_mb = done.stdout.strip().splitlines()
    assert "50000 class names, more than the 1000" in message, done.stdout + done.stderr
    assert int(grown_mb) < 100, grown_mb


def test_a_checkpoint_in_the_legacy_format_still_loads(saved, tmp_path):
    path = tmp_path / "legacy.pt"
    torch.save(_payload(saved[0]), path, _use_new_zipfile_serialization=False)
    model, meta = load_checkpoint(path)
    assert meta["classes"] == CLASSES
    for name, value in saved[1].state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name
