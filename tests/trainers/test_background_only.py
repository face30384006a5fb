"""The warning for a model that predicts only background: the validation source counts the
pixels predicted as anything else, checked against constant models on a hand-built VOC tree."""

from types import SimpleNamespace

import pytest
import torch

from c2fbench.data.voc import VOC_CLASSES
from c2fbench.eval.benchmarks import load_benchmark
from c2fbench.eval.evaluator import evaluate_distributed
from c2fbench.eval.sources import ModelPredictions
from c2fbench.inference import ModuleRuntime
from c2fbench.models import IMAGENET_MEAN, IMAGENET_STD
from trainers.distributed import Dist
from trainers.recursive import _warn_background_only
from trainers.stats import CountingPredictions

NORM = {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}


class Constant(torch.nn.Module):
    """Logits that pick class ``cls`` at every pixel."""

    def __init__(self, cls: int, classes: int) -> None:
        super().__init__()
        self.cls, self.classes = cls, classes

    def forward(self, x):
        logits = torch.zeros(x.shape[0], self.classes, *x.shape[2:])
        if self.classes == 1:  # one foreground logit: positive means foreground
            return logits + (5.0 if self.cls else -5.0)
        logits[:, self.cls] = 5.0
        return logits


@pytest.mark.parametrize("cls", [0, 7])
def test_semantic_validation_counts_pixels_of_object_classes(voc_tree, cls):
    data_root, _, labels = voc_tree
    source = CountingPredictions(ModelPredictions(ModuleRuntime(Constant(cls, 21), classes=VOC_CLASSES,
                                                                normalization=NORM)))
    metrics = evaluate_distributed(load_benchmark("voc-val", data_root), source, rank=0, world=1,
                                   reduce_sum=lambda a: a)
    assert source.foreground == (0 if cls == 0 else sum(label.size for label in labels.values()))
    assert metrics["num_images"] == len(labels)  # everything else passes through


@pytest.mark.parametrize("cls", [0, 1])
def test_foreground_validation_counts_foreground_pixels(mit_tree, cls):
    data_root, masks = mit_tree
    source = CountingPredictions(ModelPredictions(ModuleRuntime(Constant(cls, 1), classes=["foreground"],
                                                                normalization=NORM)))
    evaluate_distributed(load_benchmark("mit-subset", data_root), source, rank=0, world=1, reduce_sum=lambda a: a)
    subset = [m for k, m in masks.items() if k.split("/")[0].endswith("100")]
    assert source.foreground == (0 if cls == 0 else sum(m.size for m in subset))


@pytest.mark.parametrize("task, says", [("semantic", "no pixel of any object class"),
                                        ("foreground", "no foreground pixel")])
def test_the_warning_is_shown_and_logged(capsys, task, says):
    run, line = SimpleNamespace(cfg=SimpleNamespace(task=task), dist=Dist()), {"round": 1}
    _warn_background_only(run, line, "round 1: the model predicts only background on every voc-val image")
    assert says in capsys.readouterr().err and says in line["warnings"][0]
