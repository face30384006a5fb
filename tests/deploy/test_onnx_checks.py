"""An ONNX file must describe its own graph: the output is picked by name, its channels
match the metadata's classes and the benchmark's, and the normalisation is usable."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from c2fbench.data.voc import VOC_CLASSES
from c2fbench.errors import InputError
from deploy.onnx_meta import read_onnx
from deploy.runtimes import OnnxRuntime
from deploy_helpers import hand_onnx_expected, write_hand_onnx
from cli_helpers import assert_refused, run


def test_the_output_named_logits_is_used_whatever_its_position(tmp_path):
    path = write_hand_onnx(tmp_path / "two.onnx", [("aux", 3), ("logits", 2)], classes=["background", "cat"])
    runtime = OnnxRuntime(path)
    x = np.random.default_rng().standard_normal((2, 3, 5, 7)).astype(np.float32)
    np.testing.assert_allclose(runtime.infer(x), hand_onnx_expected(x, 2, k=1), rtol=1e-6)
    # a single output under another name is unambiguous
    one = write_hand_onnx(tmp_path / "one.onnx", [("out", 2)], classes=["background", "cat"])
    np.testing.assert_allclose(OnnxRuntime(one).infer(x), hand_onnx_expected(x, 2), rtol=1e-6)


def test_read_with_onnx_alone_the_file_says_what_onnx_runtime_says(tmp_path):
    """What the TensorRT builder reads (no session), against an ONNX Runtime session's view."""
    path = write_hand_onnx(tmp_path / "two.onnx", [("aux", 3), ("logits", 2)], classes=["background", "cat"])
    meta, node = read_onnx(path)
    runtime = OnnxRuntime(path)
    assert (node.name, node.shape) == (runtime.input_name, runtime.input_shape) == ("image", ["batch", 3, "height",
                                                                                                "width"])
    assert (meta["classes"], meta["normalization"]) == (runtime.classes, runtime.normalization)


@pytest.mark.parametrize("reader", [OnnxRuntime, read_onnx])
def test_several_outputs_none_named_logits_are_refused(tmp_path, reader):
    path = write_hand_onnx(tmp_path / "amb.onnx", [("a", 2), ("b", 2)], classes=["background", "cat"])
    with pytest.raises(InputError, match=r"amb\.onnx: 2 graph outputs \('a', 'b'\) and none named 'logits'"):
        reader(path)


@pytest.mark.parametrize("reader", [OnnxRuntime, read_onnx])
def test_declared_channels_must_match_the_metadata(tmp_path, reader):
    path = write_hand_onnx(tmp_path / "five.onnx", [("logits", 5)], classes=["background", "cat", "dog"])
    with pytest.raises(InputError, match=r"five\.onnx: output 'logits' declares 5 channels but its metadata "
                                         r"names 3 classes"):
        reader(path)


def test_symbolic_channels_are_checked_at_the_first_run(tmp_path):
    path = write_hand_onnx(tmp_path / "sym.onnx", [("logits", "height")], classes=["background", "cat", "dog"])
    runtime = OnnxRuntime(path)  # as many channels as rows: nothing to check before a run
    x = np.random.default_rng().standard_normal((1, 3, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(runtime.infer(x), hand_onnx_expected(x, "height"), rtol=1e-6)  # 3 rows: fits
    with pytest.raises(InputError, match=r"sym\.onnx: output 'logits' gives 5 channels but its metadata names 3"):
        runtime.infer(np.zeros((1, 3, 5, 4), np.float32))
    with pytest.raises(InputError, match=r"sym\.onnx: output 'logits' gives 4 channels"):
        runtime.logits(np.zeros((4, 4, 3), np.uint8))


GOOD = {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}


@pytest.mark.parametrize("normalization, words", [
    ({**GOOD, "std": [0, 0, 0]}, "std must be above 0"),
    ({**GOOD, "std": [0.2, -0.1, 0.2]}, "std must be above 0"),
    ({**GOOD, "std": [0.2, math.nan, 0.2]}, "std must be finite"),
    ({**GOOD, "std": [0.2, math.inf, 0.2]}, "std must be finite"),
    ({**GOOD, "mean": [math.nan, 0.5, 0.5]}, "mean must be finite"),
    ({**GOOD, "std": [0.2, 0.2]}, "std must be 3 numbers"),
    ({**GOOD, "std": ["0.2", 0.2, 0.2]}, "std must be 3 numbers"),
    ({"mean": GOOD["mean"]}, "lacks 'std'"),
    ({"std": GOOD["std"]}, "lacks 'mean'"),
    ([0.5, 0.25], "normalization must be"),
])
def test_bad_normalisation_metadata_is_one_line(tmp_path, normalization, words):
    path = write_hand_onnx(tmp_path / "norm.onnx", [("logits", 2)], classes=["background", "cat"],
                           normalization=normalization)
    with pytest.raises(InputError, match=r"norm\.onnx: metadata c2fbench\.normalization: ") as info:
        OnnxRuntime(path)
    assert words in str(info.value) and "\n" not in str(info.value)
    (tmp_path / "img").mkdir()
    result = run("predict", "--model", path, "--images", tmp_path / "img", "--out", tmp_path / "pred")
    assert_refused(result, tmp_path / "pred", "norm.onnx", words)


@pytest.mark.parametrize("classes, words", [
    ([f"c{i}" for i in range(50_000)], "50000 class names, more than the 1000"),
    ([], "non-empty list of class names"),
    (["background", 7], "class 1 is 7"),
    (["background", "cat", "cat"], "'cat' appears twice"),
    ({"background": 0}, "non-empty list of class names"),
])
def test_bad_class_metadata_is_refused(tmp_path, classes, words):
    path = write_hand_onnx(tmp_path / "cls.onnx", [("logits", 2)], classes=["background", "cat"],
                           extra_props={"c2fbench.classes": json.dumps(classes)})
    with pytest.raises(InputError, match=r"cls\.onnx: metadata c2fbench\.classes: ") as info:
        OnnxRuntime(path)
    assert words in str(info.value)


def test_eval_refuses_an_onnx_whose_graph_has_more_channels_than_voc(voc_tree, tmp_path):
    data_root, _, _ = voc_tree
    path = write_hand_onnx(tmp_path / "five.onnx", [("logits", 5)], classes=list(VOC_CLASSES))
    result = run("eval", "voc-val", "--data-root", data_root, "--model", path, "--out", tmp_path / "res")
    assert_refused(result, tmp_path / "res", "five.onnx", "declares 5 channels but its metadata names 21")
    # a graph whose channel count only a run reveals (one per image row: 40 to 52 here)
    path = write_hand_onnx(tmp_path / "rows.onnx", [("logits", "height")], classes=list(VOC_CLASSES))
    result = run("eval", "voc-val", "--data-root", data_root, "--model", path, "--out", tmp_path / "res")
    assert_refused(result, tmp_path / "res", "rows.onnx", "gives 40 channels but its metadata names 21")


def test_eval_refuses_an_onnx_of_other_classes(voc_tree, tmp_path):
    data_root, _, _ = voc_tree
    swapped = list(VOC_CLASSES)
    swapped[8], swapped[12] = swapped[12], swapped[8]  # cat <-> dog
    path = write_hand_onnx(tmp_path / "swap.onnx", [("logits", 21)], classes=swapped)
    result = run("eval", "voc-val", "--data-root", data_root, "--model", path, "--out", tmp_path / "res")
    assert_refused(result, tmp_path / "res", "swap.onnx", "model class 8 is 'dog', voc-val expects 'cat'")
