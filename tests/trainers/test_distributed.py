"""Two gloo processes on CPU: validation split across ranks and reduced with all_reduce
equals the single-process evaluation; a 1-round DDP training run under torchrun completes."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from c2fbench.data.voc import VOC_CLASSES
from c2fbench.eval.benchmarks import load_benchmark
from c2fbench.eval.evaluator import evaluate, evaluate_distributed
from c2fbench.eval.sources import ModelPredictions
from c2fbench.inference import ModuleRuntime
from c2fbench.models import IMAGENET_MEAN, IMAGENET_STD, build_model

NORM = {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from c2fbench.data.synth import write_synth

    root = tmp_path_factory.mktemp("synth")
    write_synth(root, preset="tiny", seed=5)
    return root


def _model():
    torch.manual_seed(0)
    model = build_model("deeplab_v2_mobilenet", num_classes=21)
    return model


def _rank(rank, world, port, root, out):
    import torch.distributed as dist

    from trainers.distributed import Dist, all_reduce_sum

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    d = Dist(rank, world)
    bench = load_benchmark("voc-val", root)
    source = ModelPredictions(ModuleRuntime(_model(), classes=VOC_CLASSES, normalization=NORM))
    metrics = evaluate_distributed(bench, source, rank=rank, world=world, reduce_sum=lambda a: all_reduce_sum(d, a))
    if rank == 0:
        out.write_text(json.dumps(metrics))
    dist.destroy_process_group()


def test_two_process_validation_equals_one_process(synth, tmp_path):
    port = 29500 + os.getpid() % 1000
    mp.spawn(_rank, args=(2, port, synth, tmp_path / "ddp.json"), nprocs=2, join=True)
    two = json.loads((tmp_path / "ddp.json").read_text())
    bench = load_benchmark("voc-val", synth)
    one = evaluate(bench, ModelPredictions(ModuleRuntime(_model(), classes=VOC_CLASSES, normalization=NORM))).metrics
    assert two["confusion_matrix"] == one["confusion_matrix"]
    assert two["mIoU"] == pytest.approx(one["mIoU"])
    assert np.array(one["confusion_matrix"]).sum() > 0


def test_torchrun_trains_one_round_with_two_processes(synth, tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "c2fbench.cli.main", "train", "deeplab", "--imagenet", str(synth / "imagenet"),
           "--out", str(tmp_path / "run"), "--arch", "deeplab_v2_mobilenet", "--rounds", "1", "--epochs", "1",
           "--batch-size", "4", "--lr", "0.01", "--resize", "72", "--crop", "64", "--workers", "1",
           "--val-root", str(synth)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    line = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    assert line["round"] == 1 and line["val"]["num_images"] == 6
    assert (tmp_path / "run" / "final.pt").is_file()


@pytest.mark.parametrize("env, expected", [
    ({}, None), ({"WORLD_SIZE": "4"}, None), ({"RANK": "0", "WORLD_SIZE": "1"}, None),
    ({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}, (1, 2, 1)),
    ({"RANK": "3", "WORLD_SIZE": "2"}, "RANK=3 WORLD_SIZE=2: expected 0 <= RANK < WORLD_SIZE"),
    ({"RANK": "0", "WORLD_SIZE": "0"}, "RANK=0 WORLD_SIZE=0: expected 0 <= RANK < WORLD_SIZE"),
    ({"RANK": "-1", "WORLD_SIZE": "2"}, "RANK=-1 WORLD_SIZE=2: expected 0 <= RANK < WORLD_SIZE"),
    ({"RANK": "one", "WORLD_SIZE": "2"}, "RANK='one': expected an integer"),
    ({"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "-2"}, "LOCAL_RANK=-2: expected 0 or more"),
])
def test_torchrun_environment_is_checked(monkeypatch, env, expected):
    from c2fbench.errors import InputError
    from trainers.distributed import torchrun_env

    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if isinstance(expected, str):
        with pytest.raises(InputError) as e:
            torchrun_env()
        assert str(e.value).startswith(expected)
    else:
        assert torchrun_env() == expected
