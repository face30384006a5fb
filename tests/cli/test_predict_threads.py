"""``c2fbench predict --threads`` (issue 28): the same option as deploy profile's, the count
the model runs with, by default the CPUs this process may use (never the load)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "deploy"))
from deploy_helpers import write_checkpoint  # noqa: E402
from cli_helpers import run  # noqa: E402


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("threads") / "m.pt"
    write_checkpoint(path, "deeplab_v2_vgg_lite", 3)
    return path


@pytest.mark.parametrize("given", [None, 1, 3])
def test_predict_runs_the_model_with_the_threads_given_or_the_cpus_it_may_use(ckpt, tmp_path, monkeypatch, given):
    import torch

    rng = np.random.default_rng()
    (tmp_path / "img").mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(rng.integers(0, 256, (20, 28, 3), dtype=np.uint8)).save(tmp_path / "img" / name)
    seen = []
    from c2fbench import inference

    original = inference.ModuleRuntime.logits

    def logits(self, rgb):  # the count torch has while the model runs, read by the model's forward
        forward = self.model.forward
        self.model.forward = lambda x: (seen.append((self.threads, torch.get_num_threads())), forward(x))[1]
        try:
            return original(self, rgb)
        finally:
            del self.model.forward

    monkeypatch.setattr(inference.ModuleRuntime, "logits", logits)
    before = torch.get_num_threads()
    extra = [] if given is None else ["--threads", given]
    result = run("predict", "--model", ckpt, "--images", tmp_path / "img", "--out", tmp_path / "pred", *extra)
    assert result.exit_code == 0, result.output
    expected = given or len(os.sched_getaffinity(0))  # the oracle: the CPUs this process may use
    assert seen and all(pair == (expected, expected) for pair in seen), seen
    assert torch.get_num_threads() == before  # restored after each call


def test_predict_threads_below_one_is_refused(ckpt, tmp_path):
    result = run("predict", "--model", ckpt, "--images", tmp_path, "--out", tmp_path / "pred", "--threads", "0")
    assert result.exit_code == 2 and "--threads" in result.output
