"""Weights alone with the network named on the command line (issue 27, item 5):
``--model FILE.pth --arch module:function`` (or ``file.py:function``, ``torchvision:NAME``).

The oracle is the user's network built and run directly in the test: its label maps,
written as a prediction folder, must score exactly as ``eval --model --arch``, and must be
the maps ``predict --arch`` writes; the ONNX export must compute its logits."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cli_helpers import assert_refused, run

NETS = '''"""A user's own segmentation networks, as someone writes them outside c2fbench."""
import pathlib

import torch
from torch import nn

pathlib.Path(__file__).with_name("imported.marker").touch()  # shows whether this file was ever imported


class TinySeg(nn.Module):
    def __init__(self, num_classes=21, stride=1, output="tensor", extra=False):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, stride=stride), nn.BatchNorm2d(8), nn.ReLU())
        self.head = nn.Conv2d(8, num_classes, 1)
        self.extra = nn.Conv2d(num_classes, num_classes, 1) if extra else None
        self.output = output

    def forward(self, x):
        y = self.head(self.body(x))
        if self.output == "dict":
            return {"aux": y * 0, "out": y}
        if self.output == "tuple":
            return y, y * 0
        if self.output == "logits-dict":
            return {"logits": y}
        if self.output == "set":
            return {1, 2}
        if self.output == "labels":
            return y.argmax(1)
        if self.output == "crash":
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")
        return y


def build(**kwargs):
    return TinySeg(**kwargs)


NOT_CALLABLE = 3


def broken():
    raise ValueError("this constructor needs a config file")


def not_a_module():
    return "a network"
'''

MEAN, STD = [0.5, 0.4, 0.3], [0.25, 0.2, 0.3]
FLAGS = ["--classes", "voc", "--mean", "0.5,0.4,0.3", "--std", "0.25,0.2,0.3"]


def import_user_file(path: Path):
    """The user's module, imported the plain Python way (not through c2fbench)."""
    spec = importlib.util.spec_from_file_location(f"oracle_{path.parent.name}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def user_code(tmp_path):
    """(folder holding nets.py and the package mynets/seg.py, oracle module). The package
    name is unique to the test: the import system caches a module by name."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "nets.py").write_text(NETS)
    package = f"mynets_{tmp_path.name.replace('-', '_')}"
    (code / package).mkdir()
    (code / package / "__init__.py").write_text("")
    (code / package / "seg.py").write_text(NETS)
    yield code, package, import_user_file(code / "nets.py")
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[name]


def save_weights(path: Path, net, *, wrap: str | None = "state_dict", ddp: bool = True) -> None:
    """The network's weights as a training script saves them: under ``wrap`` (None: bare),
    with DataParallel's ``module.`` prefix when ``ddp``."""
    state = {("module." if ddp else "") + k: v for k, v in net.state_dict().items()}
    torch.save(state if wrap is None else {wrap: state, "epoch": 7}, path)


def random_net(oracle, seed: int = 0, **kwargs):
    torch.manual_seed(seed)
    net = oracle.TinySeg(**kwargs)
    with torch.no_grad():
        net.body[1].running_mean.uniform_(-0.2, 0.2)
        net.body[1].running_var.uniform_(0.5, 1.5)
        net.head.weight.mul_(4)  # well-separated logits: no argmax tie between two classes
    return net.eval()


def direct_labels(net, rgb: np.ndarray) -> np.ndarray:
    """(H, W) argmax of the network run directly: normalised by hand, main output picked and
    upsampled to the image's size by hand."""
    x = torch.from_numpy(rgb.copy()).permute(2, 0, 1).float() / 255
    x = (x - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)
    with torch.no_grad():
        y = net(x[None])
    y = y["out"] if isinstance(y, dict) else y[0] if isinstance(y, tuple) else y
    y = torch.nn.functional.interpolate(y, size=rgb.shape[:2], mode="bilinear", align_corners=False)
    return y[0].argmax(0).numpy().astype(np.uint8)


def read_png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def eval_metrics(data_root, out, *args):
    result = run("eval", "voc-val", "--data-root", data_root, "--out", out, "--workers", "1", "--no-figures", *args)
    assert result.exit_code == 0, result.output
    return json.loads((out / "metrics.json").read_text()), result


def test_eval_scores_the_network_as_run_directly(voc_tree, tmp_path, user_code):
    data_root, voc, labels = voc_tree
    code, _, oracle = user_code
    net = random_net(oracle, stride=2, output="tuple")
    weights = tmp_path / "theirs.pth"
    save_weights(weights, net)
    direct = tmp_path / "direct"
    direct.mkdir()
    for image_id in labels:
        rgb = np.asarray(Image.open(voc / "JPEGImages" / f"{image_id}.jpg").convert("RGB"))
        Image.fromarray(direct_labels(net, rgb)).save(direct / f"{image_id}.png")
    expected, _ = eval_metrics(data_root, tmp_path / "a", "--predictions", direct)
    got, result = eval_metrics(data_root, tmp_path / "b", "--model", weights, "--arch", f"{code / 'nets.py'}:build",
                               "--arch-kwargs", '{"stride": 2, "output": "tuple"}', *FLAGS)
    assert got["confusion_matrix"] == expected["confusion_matrix"] and got["mIoU"] == expected["mIoU"]
    assert 0 < got["mIoU"] < 100
    assert got["source"]["model"] == f"{code / 'nets.py'}:build" and got["source"]["arch_kwargs"] == \
        {"stride": 2, "output": "tuple"}
    said = [line for line in result.stderr.splitlines() if line.startswith("--arch")]
    assert len(said) == 1, result.stderr
    for words in ("the 'state_dict' entry of theirs.pth", "'module.' prefix removed", "the first of the 2 elements",
                  "upsampled bilinearly", "21 channels"):
        assert words in said[0]


def write_png_images(folder: Path, sizes, seed: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    folder.mkdir()
    images = {}
    for k, (h, w) in enumerate(sizes):
        images[f"im{k}"] = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        Image.fromarray(images[f"im{k}"]).save(folder / f"im{k}.png")
    return images


def test_predict_with_a_module_from_the_current_folder(tmp_path, user_code, monkeypatch):
    """``--arch package.module:function`` from the current folder (a console script does not
    search it by itself), a dict output, weights under 'model' without a prefix."""
    code, package, oracle = user_code
    net = random_net(oracle, seed=1, num_classes=21, output="dict")
    save_weights(tmp_path / "w.pth", net, wrap="model", ddp=False)
    images = write_png_images(tmp_path / "images", [(33, 47), (20, 64)])
    monkeypatch.chdir(code)
    result = run("predict", "--model", tmp_path / "w.pth", "--arch", f"{package}.seg:build", "--arch-kwargs",
                 '{"output": "dict"}', *FLAGS, "--images", tmp_path / "images", "--out", tmp_path / "pred")
    assert result.exit_code == 0, result.output
    for name, rgb in images.items():
        assert np.array_equal(read_png(tmp_path / "pred" / f"{name}.png"), direct_labels(net, rgb)), name
    said = [line for line in result.stderr.splitlines() if line.startswith("--arch")]
    assert len(said) == 1 and "the 'model' entry of w.pth;" in said[0] and "the 'out' entry" in said[0], said
    assert "upsampled" not in said[0]


def test_export_carries_the_network_and_the_flags(tmp_path, user_code):
    import onnxruntime as ort

    from c2fbench.data.voc import VOC_CLASSES

    code, _, oracle = user_code
    net = random_net(oracle, seed=2, stride=2)
    save_weights(tmp_path / "w.pth", net, wrap=None)
    out = tmp_path / "theirs.onnx"
    result = run("deploy", "export", "--model", tmp_path / "w.pth", "--arch", f"{code / 'nets.py'}:build",
                 "--arch-kwargs", '{"stride": 2}', *FLAGS, "--out", out, "--dynamic", "--height", "32", "--width", "40")
    assert result.exit_code == 0, result.output
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(3).standard_normal((1, 3, 36, 52)).astype(np.float32)
    with torch.no_grad():
        expected = torch.nn.functional.interpolate(net(torch.from_numpy(x)), size=(36, 52), mode="bilinear",
                                                   align_corners=False).numpy()
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, expected, atol=1e-4)
    props = session.get_modelmeta().custom_metadata_map
    assert json.loads(props["c2fbench.classes"]) == list(VOC_CLASSES)
    assert json.loads(props["c2fbench.normalization"]) == {"mean": MEAN, "std": STD}
    assert props["c2fbench.arch"] == f"{code / 'nets.py'}:build" and json.loads(props["c2fbench.kwargs"]) == \
        {"stride": 2}


TV_NAME = "lraspp_mobilenet_v3_large"


def test_arch_torchvision_runs_torchvision_s_network(tmp_path):
    from torchvision.models.segmentation import lraspp_mobilenet_v3_large

    torch.manual_seed(0)
    net = lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=21).eval()
    with torch.no_grad():
        net.classifier.low_classifier.bias.normal_(0, 2)
    save_weights(tmp_path / "tv.pth", net, wrap="model", ddp=False)
    images = write_png_images(tmp_path / "images", [(40, 48)])
    result = run("predict", "--model", tmp_path / "tv.pth", "--arch", f"torchvision:{TV_NAME}", "--images",
                 tmp_path / "images", "--out", tmp_path / "pred")
    assert result.exit_code == 0, result.output
    rgb = images["im0"]
    x = torch.from_numpy(rgb.copy()).permute(2, 0, 1).float() / 255
    x = (x - torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    with torch.no_grad():
        expected = net(x[None])["out"][0].argmax(0).numpy()
    assert np.array_equal(read_png(tmp_path / "pred" / "im0.png"), expected)


@pytest.fixture
def armed(tmp_path, user_code):
    """(weights of TinySeg(), the folder of nets.py): the usual case the refusals vary."""
    code, _, oracle = user_code
    save_weights(tmp_path / "w.pth", random_net(oracle))
    (tmp_path / "images").mkdir()
    Image.fromarray(np.zeros((16, 16, 3), dtype=np.uint8)).save(tmp_path / "images" / "a.png")
    return tmp_path / "w.pth", code


@pytest.mark.parametrize("function, kwargs, fragments", [
    ("missing", None, ["--arch", "nets.py has no 'missing'"]),
    ("NOT_CALLABLE", None, ["'NOT_CALLABLE' is a int, not a function or class"]),
    ("broken", None, ["broken() raised ValueError: this constructor needs a config file"]),
    ("build", '{"bogus": 1}', ["raised TypeError", "bogus"]),
    ("not_a_module", None, ["not_a_module() returned a str; expected a torch.nn.Module"]),
    ("build", '{"output": "set"}', ["the network returns a set; expected logits (B, C, H, W)"]),
    ("build", '{"output": "logits-dict"}', ["returns a dict without 'out' (keys 'logits')"]),
    ("build", '{"output": "labels"}', ["the tensor it returns is a tensor of shape (1, 64, 64), torch.int64",
                                       "expected float logits"]),
    ("build", '{"output": "crash"}', ["the network failed on a 1x3x64x64 zero image: RuntimeError: mat1"]),
    ("build", '{"num_classes": 5}', ["w.pth: does not fit the network of --arch", "2 of another shape",
                                     "(first 'head.weight': (21, 8, 1, 1), model (5, 8, 1, 1))"]),
    ("build", '{"extra": true}', ["w.pth: does not fit", "keys 2 missing (first 'extra.weight')"]),
    ("build", '[1, 2]', ["--arch-kwargs [1, 2]: expected a JSON object"]),
    ("build", '{"stride": 2', ["--arch-kwargs: not valid JSON"]),
])
def test_refusals_are_one_line(armed, tmp_path, function, kwargs, fragments):
    weights, code = armed
    extra = [] if kwargs is None else ["--arch-kwargs", kwargs]
    out = tmp_path / "pred"
    assert_refused(run("predict", "--model", weights, "--arch", f"{code / 'nets.py'}:{function}", *extra, *FLAGS,
                       "--images", tmp_path / "images", "--out", out), out, *fragments)


def test_refusals_before_any_user_code_runs(armed, voc_tree, tmp_path):
    weights, code = armed
    data_root, _, _ = voc_tree
    (code / "imported.marker").unlink()
    nets = f"{code / 'nets.py'}:build"
    out = tmp_path / "res"

    def refused(*args, fragments):
        assert_refused(run("eval", "voc-val", "--data-root", data_root, "--out", out, *args), out, *fragments)

    refused("--model", weights, "--arch", nets, fragments=["--arch", "give --classes voc|coco|mit", "--no-normalize"])
    refused("--model", weights, "--arch", nets, "--classes", "voc", fragments=["give --classes"])
    refused("--model", weights, "--arch", "nets.py", *FLAGS, fragments=["--arch 'nets.py'", "module.path:function"])
    refused("--model", weights, "--arch", "no_such_module_here:build", *FLAGS,
            fragments=["no module named 'no_such_module_here' in the current folder"])
    refused("--model", weights, "--arch", "torchvision:resnet50", *FLAGS,
            fragments=["unknown torchvision segmentation model", TV_NAME])
    refused("--model", weights, "--arch", f"torchvision:{TV_NAME}", "--arch-kwargs", "{}",
            fragments=["--arch-kwargs is for --arch module.path:function"])
    refused("--predictions", tmp_path, "--arch", nets, fragments=["describe a --model"])
    refused("--model", weights, "--arch-kwargs", "{}", fragments=["--arch-kwargs goes with --arch"])
    refused("--model", weights, "--weights", weights, "--arch", nets, *FLAGS,
            fragments=["--weights is for --model torchvision:NAME"])
    (tmp_path / "m.onnx").write_bytes(b"not read")
    refused("--model", tmp_path / "m.onnx", "--arch", nets, *FLAGS, fragments=["--arch is for a state dict"])
    refused("--model", tmp_path / "missing.pth", "--arch", nets, *FLAGS, fragments=["missing.pth: weights file not found"])
    assert not (code / "imported.marker").exists()
    # 21 channels, but --classes mit names 2 (background, foreground): found once the network ran
    refused("--model", weights, "--arch", nets, "--classes", "mit", "--no-normalize",
            fragments=["gives 21 output channels but --classes mit names 2"])
    (code / "typo.py").write_text("def build(:\n")
    (code / "needs.py").write_text("import a_dependency_not_installed\n")
    refused("--model", weights, "--arch", f"{code / 'typo.py'}:build", *FLAGS,
            fragments=["typo.py raised SyntaxError"])
    refused("--model", weights, "--arch", f"{code / 'needs.py'}:build", *FLAGS,
            fragments=["needs.py raised ModuleNotFoundError", "a_dependency_not_installed"])


def test_a_pickled_file_that_would_run_code_is_refused_with_nothing_run(armed, tmp_path):
    _, code = armed
    (code / "imported.marker").unlink()
    marker = tmp_path / "pwned"

    class RunsCode:
        def __reduce__(self):
            return exec, (f"open({str(marker)!r}, 'w').close()",)

    weights = tmp_path / "evil.pth"
    torch.save({"state_dict": {"head.weight": torch.zeros(1)}, "payload": RunsCode()}, weights)
    out = tmp_path / "pred"
    for command in (["predict", "--images", tmp_path / "images", "--out", out],
                    ["deploy", "export", "--out", tmp_path / "evil.onnx"]):
        assert_refused(run(*command, "--model", weights, "--arch", f"{code / 'nets.py'}:build", *FLAGS), out,
                       "evil.pth", "holds a pickled object", "exec", "not opened")
    assert not marker.exists() and not (code / "imported.marker").exists() and not (tmp_path / "evil.onnx").exists()
    torch.load(weights, weights_only=False)  # the file was armed: a plain load runs its code
    assert marker.exists()


def test_weights_without_arch_are_refused_naming_arch(armed, tmp_path, user_code):
    weights, _ = armed
    _, _, oracle = user_code
    images, out = tmp_path / "images", tmp_path / "pred"
    assert_refused(run("predict", "--model", weights, "--images", images, "--out", out), out,
                   "w.pth: a .pth file holds weights without their network", "--arch torchvision:NAME",
                   "--arch module.path:function")
    for wrap in (None, "state_dict"):
        bare = tmp_path / f"bare-{wrap}.pt"
        save_weights(bare, random_net(oracle), wrap=wrap, ddp=False)
        assert_refused(run("predict", "--model", bare, "--images", images, "--out", out), out,
                       "not a c2fbench checkpoint", "--arch torchvision:NAME or --arch module.path:function")


def test_a_c2fbench_checkpoint_with_arch_is_refused(armed, tmp_path):
    from deploy_helpers import write_checkpoint

    _, code = armed
    write_checkpoint(tmp_path / "ours.pt", "deeplab_v2_vgg_lite", 21)
    out = tmp_path / "pred"
    assert_refused(run("predict", "--model", tmp_path / "ours.pt", "--arch", f"{code / 'nets.py'}:build", *FLAGS,
                       "--images", tmp_path / "images", "--out", out), out,
                   "ours.pt: a c2fbench checkpoint", "without --arch")


def test_the_arch_file_is_an_input(armed, tmp_path):
    weights, code = armed
    nets = f"{code / 'nets.py'}:build"
    assert_refused(run("predict", "--model", weights, "--arch", nets, *FLAGS, "--images", tmp_path / "images",
                       "--out", code), None, "--out", "holds --arch")
    assert_refused(run("deploy", "export", "--model", weights, "--arch", nets, *FLAGS, "--out", code / "nets.py"),
                   None, "is --arch")
    assert (code / "nets.py").read_text() == NETS
