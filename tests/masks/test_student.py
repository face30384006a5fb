"""The Croitoru et al. student network: shapes, input channels, learning, checkpoints, CLI."""

import colorsys

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from c2fbench.cli.masks_student import student_train
from c2fbench.errors import InputError
from c2fbench.masks.student import StudentNet, load_student, predict_soft, save_student, student_inputs
from c2fbench.masks.student_train import kept_count, progress_total, select_confident, train_student




def small_net(seed: int = 0) -> StudentNet:
    torch.manual_seed(seed)
    return StudentNet(width=8, head_channels=4)


def test_output_shape_and_range():
    net = small_net()
    out = net(torch.rand(3, 6, 128, 128))
    assert out.shape == (3, 1, 32, 32) and (out >= 0).all()
    with pytest.raises(ValueError, match="128"):
        net(torch.rand(1, 6, 96, 96))


def test_paper_size_parameter_count():
    """Width 256, head 64 as in model.py, counted by hand (built on the meta device: no memory)."""
    with torch.device("meta"):
        net = StudentNet()
    convs = sum(3 * 3 * c * 256 + 256 + 5 * 5 * 256 * 256 + 256 for c in (3, 2, 1))  # the three pathways
    convs += (3 * 3 * 768 * 256 + 256) + (5 * 5 * 256 * 256 + 256)                  # conv2_1, conv2_2
    convs += (3 * 3 * 256 * 256 + 256) + (5 * 5 * 256 * 256 + 256) + (5 * 5 * 256 * 64 + 64)
    fc = 64 * 32 * 32 * 1024 + 1024
    assert sum(p.numel() for p in net.parameters()) == convs + fc
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())


def test_each_pathway_receives_its_own_channels():
    net = small_net()
    seen = {}
    for name in ("rgb", "derivatives", "hue"):
        getattr(net, name).register_forward_hook(lambda mod, inp, out, name=name: seen.__setitem__(name, inp[0]))
    x = torch.rand(2, 6, 128, 128)
    net(x)
    assert torch.equal(seen["rgb"], x[:, 0:3])
    assert torch.equal(seen["derivatives"], x[:, 3:5])
    assert torch.equal(seen["hue"], x[:, 5:6])
    # and every channel reaches the output
    x.requires_grad_(True)
    net(x).sum().backward()
    assert (x.grad.abs().sum(dim=(0, 2, 3)) > 0).all()


def test_student_inputs_against_independent_computation():
    rng = np.random.default_rng()
    rgb = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    x = student_inputs(rgb)
    assert x.shape == (6, 128, 128) and x.dtype == np.float32
    f = rgb.astype(np.float64) / 255
    np.testing.assert_allclose(x[:3], f.transpose(2, 0, 1), atol=1e-6)
    grey = f @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(x[3], np.gradient(grey, axis=0), atol=1e-4)
    np.testing.assert_allclose(x[4], np.gradient(grey, axis=1), atol=1e-4)
    hue = np.array([colorsys.rgb_to_hsv(*p)[0] for p in f.reshape(-1, 3)]).reshape(128, 128)
    diff = np.abs(x[5] - hue)
    assert np.minimum(diff, 1 - diff).max() < 1e-3  # hue is circular
    assert student_inputs(rng.integers(0, 256, (75, 200, 3), dtype=np.uint8)).shape == (6, 128, 128)


def test_short_training_lowers_the_loss():
    torch.manual_seed(1)
    net = StudentNet(width=8, head_channels=4)
    x = torch.rand(4, 6, 128, 128)
    y = torch.nn.functional.avg_pool2d(x[:, :1], 4)  # a target the net can fit: the red channel at 32x32
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    losses = []
    for _ in range(20):
        loss = torch.nn.functional.mse_loss(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0], losses


def test_predict_soft_is_image_sized_and_in_unit_range():
    net = small_net()
    rgb = np.random.default_rng().integers(0, 256, (50, 70, 3), dtype=np.uint8)
    soft = predict_soft(net, rgb)
    assert soft.shape == (50, 70) and soft.dtype == np.float32
    assert 0 <= soft.min() and soft.max() <= 1
    assert net.training  # mode restored


def test_checkpoint_round_trip(tmp_path):
    net = small_net(3)
    path = tmp_path / "student.pt"
    save_student(path, net, extra={"teacher": "spectral", "keep": 0.15})
    payload = torch.load(path, map_location="cpu", weights_only=True)
    assert payload["arch"] == "student" and payload["kwargs"] == {"width": 8, "head_channels": 4, "fc_out": 32}
    assert payload["teacher"] == "spectral"
    loaded = load_student(path)
    x = torch.rand(2, 6, 128, 128)
    net.eval()
    with torch.no_grad():
        assert torch.equal(net(x), loaded(x))


def test_bare_state_dict_loads_with_inferred_sizes(tmp_path):
    torch.manual_seed(0)
    net = StudentNet(width=6, head_channels=3, fc_out=16)
    torch.save(net.state_dict(), tmp_path / "bare.pt")
    loaded = load_student(tmp_path / "bare.pt")
    assert loaded.kwargs == {"width": 6, "head_channels": 3, "fc_out": 16}
    x = torch.rand(1, 6, 128, 128)
    with torch.no_grad():
        assert torch.equal(net.eval()(x), loaded(x))


class NotAllowed:
    """A pickled custom object: a weights-only load must refuse it, not run it."""


@pytest.mark.parametrize("content", ["garbage", "pickled-object", "foreign-state-dict", "wrong-shapes", "other-arch"])
def test_bad_checkpoints_raise_input_error_naming_the_file(tmp_path, content):
    path = tmp_path / f"{content}.pt"
    if content == "garbage":
        path.write_bytes(b"this is not a checkpoint")
    elif content == "pickled-object":
        torch.save({"x": NotAllowed()}, path)
    elif content == "foreign-state-dict":
        torch.save(torch.nn.Linear(3, 4).state_dict(), path)
    elif content == "wrong-shapes":
        state = small_net().state_dict()
        state["shared.0.weight"] = torch.zeros(8, 5, 3, 3)
        torch.save(state, path)
    else:
        torch.save({"arch": "deeplab", "kwargs": {}, "state_dict": {}}, path)
    with pytest.raises(InputError, match=path.name):
        load_student(path)


def test_selection_keeps_the_most_confident():
    confidences = [0.2, 0.9, 0.5, 0.9, 0.1, 0.7, 0.3, 0.8, 0.4, 0.6]
    assert list(select_confident(confidences, 3)) == [1, 3, 7]  # ties keep the earlier image
    assert kept_count(10, keep=0.2, batch_size=1) == 2
    assert kept_count(100, keep=0.15, batch_size=4) == 15
    assert kept_count(100, keep=0.01, batch_size=4) == 4  # at least one batch
    assert kept_count(3, keep=0.1, batch_size=32) == 3


def write_images(root, count, rng, *, corrupt=0):
    from PIL import Image

    (root / "cls").mkdir(parents=True)
    for k in range(count):
        image = np.full((60, 70, 3), 40, np.uint8)
        y, x = rng.integers(5, 30, size=2)
        image[y:y + 25, x:x + 30] = rng.integers(150, 256, size=3)
        Image.fromarray(image).save(root / "cls" / f"img_{k}.png")
    for k in range(corrupt):
        (root / "cls" / f"broken_{k}.jpg").write_bytes(b"\xff\xd8 not a jpeg")


def test_train_student_skips_unreadable_and_is_deterministic(tmp_path):
    write_images(tmp_path / "images", 6, np.random.default_rng(), corrupt=1)
    runs = []
    for k in range(2):
        ticks = []
        summary = train_student(tmp_path / "images", tmp_path / f"s{k}.pt", keep=0.5, epochs=2, batch_size=2,
                                width=4, head_channels=2, seed=7, advance=ticks.append)
        runs.append(summary)
    assert runs[0]["images"] == 7 and runs[0]["unreadable"] == 1 and runs[0]["kept"] == 3
    assert runs[0]["unreadable_ids"] == ["cls/broken_0"]
    assert runs[0]["epoch_losses"] == runs[1]["epoch_losses"] and len(runs[0]["epoch_losses"]) == 2
    assert sum(ticks) == progress_total(7, keep=0.5, batch_size=2, epochs=2) == 7 + 3 * 4
    a, b = load_student(tmp_path / "s0.pt"), load_student(tmp_path / "s1.pt")
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert torch.load(tmp_path / "s0.pt", weights_only=True)["teacher"] == "spectral"


@pytest.fixture(scope="module")
def tiny_imagenet(tmp_path_factory):
    from c2fbench.data.synth import write_synth

    root = tmp_path_factory.mktemp("synth")
    write_synth(root, preset="tiny", seed=0)
    return root / "imagenet" / "train"


def test_cli_trains_and_writes_a_loadable_checkpoint(tiny_imagenet, tmp_path):
    out = tmp_path / "student.pt"
    result = CliRunner().invoke(student_train, ["--images", str(tiny_imagenet), "--out", str(out), "--width", "8",
                                                "--head-channels", "4", "--epochs", "1", "--keep", "0.1",
                                                "--batch-size", "4"])
    assert result.exit_code == 0, result.output
    assert str(out) in result.output and "4 of 40" in result.output
    assert load_student(out).kwargs["width"] == 8


def test_cli_missing_images_folder_exits_2(tmp_path):
    result = CliRunner().invoke(student_train, ["--images", str(tmp_path / "nope"), "--out", str(tmp_path / "s.pt")])
    assert result.exit_code == 2 and "nope" in result.output


def test_cli_keeps_an_existing_file_that_is_not_a_student(tiny_imagenet, tmp_path):
    out = tmp_path / "backbone.pt"
    out.write_bytes(b"someone else's weights")
    from c2fbench.cli.main import cli

    result = CliRunner().invoke(cli, ["masks", "student-train", "--images", str(tiny_imagenet), "--out", str(out),
                                      "--width", "4", "--head-channels", "4", "--epochs", "1"])
    assert result.exit_code == 2 and "exists and is not a student checkpoint" in result.output, result.output
    assert out.read_bytes() == b"someone else's weights"
