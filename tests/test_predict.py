"""Probabilities from logits: a sigmoid that does not overflow, and outputs that must match
the classes a model names."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from c2fbench.errors import InputError
from c2fbench.predict import predict_label, predict_probs


class FixedRuntime:
    """A runtime whose logits are given, whatever the image."""

    def __init__(self, logits, classes):
        self.value, self.classes, self.source = np.asarray(logits, np.float32), classes, {"model": "fixed.onnx"}

    def logits(self, rgb):
        return self.value


def test_one_channel_sigmoid_of_extreme_logits_raises_no_warning():
    row = [-1000.0, -88.0, -2.0, 0.0, 2.0, 88.0, 1000.0]
    runtime = FixedRuntime([[row]], ["foreground"])
    rgb = np.zeros((1, len(row), 3), np.uint8)
    with warnings.catch_warnings(), np.errstate(over="warn", divide="warn", invalid="warn", under="ignore"):
        warnings.simplefilter("error")  # an overflow in exp would raise here
        probs = predict_probs(runtime, rgb)
        labels = predict_label(runtime, rgb)
    expected = [1.0 / (1.0 + math.exp(-v)) if v > -700 else 0.0 for v in row]  # math.exp: a second code path
    np.testing.assert_allclose(probs[1, 0], expected, rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(probs[0, 0], [1.0 - e for e in expected], rtol=1e-6, atol=1e-30)
    assert probs[0, 0, 0] == 1.0 and probs[1, 0, -1] == 1.0 and probs[0, 0, -1] == 0.0
    assert 0 < probs[0, 0, 5] < 1e-37  # exp(-88): the small side is computed, not 1 - (1 - tiny)
    assert labels.tolist() == [[0, 0, 0, 0, 1, 1, 1]]  # foreground where the sigmoid exceeds 0.5
    assert probs.dtype == np.float32


def test_softmax_of_extreme_logits_raises_no_warning():
    runtime = FixedRuntime([[[1000.0, -1000.0]], [[-1000.0, 1000.0]], [[0.0, 0.0]]], ["a", "b", "c"])
    with warnings.catch_warnings(), np.errstate(over="warn", divide="warn", invalid="warn", under="ignore"):
        warnings.simplefilter("error")
        probs = predict_probs(runtime, np.zeros((1, 2, 3), np.uint8))
    np.testing.assert_array_equal(probs[:, 0, 0], [1, 0, 0])
    np.testing.assert_array_equal(probs[:, 0, 1], [0, 1, 0])


@pytest.mark.parametrize("shape", [(3, 2, 2), (2, 2, 3), (2, 2)])
def test_an_output_that_does_not_fit_the_classes_is_refused(shape):
    runtime = FixedRuntime(np.zeros(shape), ["background", "cat"])
    with pytest.raises(InputError, match=r"fixed\.onnx: output of shape .* for a 2x2 image; expected \(2, 2, 2\)"):
        predict_probs(runtime, np.zeros((2, 2, 3), np.uint8))
