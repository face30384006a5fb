"""One round of training: a NaN loss stops with a clear message before any checkpoint of
the bad state; the poly schedule and the head's learning rate."""

import pytest
import torch

from trainers.config import OptimConfig
from trainers.train import TrainingDiverged, make_optimizer, train_epochs


class Tiny(torch.nn.Module):
    def __init__(self, poison: bool = False):
        super().__init__()
        self.body = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.head = torch.nn.Conv2d(4, 3, 1)
        self.poison = poison

    def forward(self, x):
        out = self.head(self.body(x))
        return out * float("nan") if self.poison else out

    def param_groups(self):
        return list(self.body.parameters()), list(self.head.parameters())



def loader(epoch):
    g = torch.Generator().manual_seed(epoch)
    x = torch.randn(4, 3, 8, 8, generator=g)
    y = torch.randint(0, 3, (4, 8, 8), generator=g)
    return [(x[:2], y[:2]), (x[2:], y[2:])]


def test_nan_loss_stops_the_round_and_no_epoch_is_saved():
    saved = []
    with pytest.raises(TrainingDiverged, match="loss is nan.*last good checkpoint is kept"):
        train_epochs(Tiny(poison=True), loader, OptimConfig(), epochs=2, round_index=3, device=torch.device("cpu"),
                    on_epoch_end=saved.append)
    assert saved == []


def test_epochs_are_checkpointed_and_the_loss_falls():
    saved = []
    losses = train_epochs(Tiny(), loader, OptimConfig(lr=0.05, head_lr_mult=1.0), epochs=15, round_index=1,
                         device=torch.device("cpu"), on_epoch_end=saved.append)
    assert [s.epoch for s in saved] == list(range(1, 16))
    assert losses[-1] < losses[0]


def test_head_gets_ten_times_the_learning_rate():
    groups = make_optimizer(Tiny(), OptimConfig(lr=0.001)).param_groups
    assert groups[0]["lr"] == pytest.approx(0.001) and groups[1]["lr"] == pytest.approx(0.01)
