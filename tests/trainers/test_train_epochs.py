"""One round of training: a NaN loss stops with a clear message before any checkpoint of
the bad state; the poly schedule and the head's learning rate."""

import pytest
import torch
import torch.nn.functional as F

from trainers.config import OptimConfig
from trainers.train import TrainingDiverged, make_optimizer, train_epochs


class Tiny(torch.nn.Module):
    def __init__(self, poison: bool = False, classes: int = 3):
        super().__init__()
        self.body = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.head = torch.nn.Conv2d(4, classes, 1)
        self.poison = poison

    def forward(self, x):
        out = self.head(self.body(x))
        return out * float("nan") if self.poison else out

    def param_groups(self):
        return list(self.body.parameters()), list(self.head.parameters())


class Strided(Tiny):
    """Tiny at output stride 4, its logits upsampled bilinearly to the input while ``upsample``
    (as DeepLabV2 and the FPNs do; trainers.train switches it off for the loss)."""

    upsample = True

    def strided(self, x):
        return super().forward(x)[:, :, ::4, ::4]

    def forward(self, x):
        out = self.strided(x)
        return F.interpolate(out, size=x.shape[-2:], mode="bilinear") if self.upsample else out



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


def test_shrunk_labels_are_pil_nearest_at_pixel_centres():
    """Oracle: PIL's NEAREST resize (what kazuto1011/deeplab-pytorch shrinks DeepLab's labels
    with); void stays void and no value is invented."""
    import numpy as np
    from PIL import Image

    from trainers.train import shrink_labels

    rng = np.random.default_rng()
    labels = rng.choice(np.array([0, 3, 7, 255], np.uint8), size=(3, 96, 88))
    for size in ((12, 11), (7, 5), (96, 88)):
        got = shrink_labels(torch.from_numpy(labels).long(), size).numpy()
        want = np.stack([np.asarray(Image.fromarray(x).resize(size[::-1], Image.NEAREST)) for x in labels])
        assert got.shape == (3, *size) and (got == want).all()


def test_loss_at_the_output_resolution_scores_the_shrunk_labels():
    """loss_resolution="output": the model is asked for its logits before upsampling and the
    loss equals cross-entropy against the labels shrunk by hand (every 4th pixel's centre)."""
    from trainers.train import segmentation_loss

    seen = []

    def loader(epoch):
        g = torch.Generator().manual_seed(epoch)
        return [(torch.randn(2, 3, 8, 8, generator=g), torch.randint(0, 3, (2, 8, 8), generator=g))]

    model = Strided()
    model.register_forward_hook(lambda m, args, out: seen.append(out.shape))
    train_epochs(model, loader, OptimConfig(loss_resolution="output"), epochs=1, round_index=1,
                 device=torch.device("cpu"))
    assert seen == [torch.Size([2, 3, 2, 2])] and model.upsample  # upsampling again after training
    logits = torch.randn(2, 3, 2, 2)
    labels = torch.randint(0, 3, (2, 8, 8))
    labels[0, 2, 2] = 255  # a void centre pixel stays void
    by_hand = labels[:, 2::4, 2::4]  # nearest at pixel centres: 8 -> 2 takes pixels 2 and 6
    assert torch.equal(segmentation_loss(logits, labels), F.cross_entropy(logits, by_hand, ignore_index=255))


def _bilinear_2_to_4() -> "np.ndarray":
    """Bilinear upsampling 2 -> 4 with half-pixel centres (align_corners False), by hand: output
    pixel i samples source coordinate (i + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25, clamped to [0, 1]."""
    import numpy as np

    return np.array([[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]])


@pytest.mark.parametrize("resolution, size", [("input/2", 4), ("input/4", 2), ("input", 8), ("input/1", 8)])
def test_loss_at_a_fraction_of_the_input_upsamples_the_logits_and_shrinks_the_labels(resolution, size):
    """loss_resolution="input/N" on an 8x8 crop of a stride-4 model (2x2 logits): the logits
    upsampled bilinearly to ceil(8 / N) and the labels shrunk to it at pixel centres; the first
    epoch's loss (one batch, taken before the step) equals cross-entropy computed by hand in numpy."""
    import numpy as np

    torch.manual_seed(0)
    model = Strided()
    images = torch.randn(2, 3, 8, 8)
    labels = torch.randint(0, 3, (2, 8, 8))
    labels[1, 5, 5] = labels[0, 0, 0] = 255
    with torch.no_grad():
        coarse = model.strided(images).double().numpy()  # (2, 3, 2, 2)
    if size == 8:  # the model's own upsampling to the crop (as torch does it: a second code path)
        logits = F.interpolate(torch.from_numpy(coarse), size=(8, 8), mode="bilinear").numpy()
        target = labels.numpy()
    else:
        a = _bilinear_2_to_4() if size == 4 else np.eye(2)
        logits = np.einsum("ik,bckl,jl->bcij", a, coarse, a)
        step = 8 // size
        target = labels.numpy()[:, step // 2::step, step // 2::step]  # nearest at pixel centres
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    valid = target != 255
    picked = np.take_along_axis(log_p, np.where(valid, target, 0)[:, None], axis=1)[:, 0]
    by_hand = -picked[valid].mean()
    losses = train_epochs(model, lambda epoch: [(images, labels)], OptimConfig(loss_resolution=resolution),
                          epochs=1, round_index=1, device=torch.device("cpu"))
    assert losses[0] == pytest.approx(by_hand, rel=1e-5)
    assert model.upsample  # the model upsamples to the input again after training


def test_loss_at_a_fraction_of_the_input_for_a_foreground_model_is_bce_on_the_shrunk_labels():
    """The one-channel (FPN / DFPN) loss at input/2: binary cross-entropy of the logits
    upsampled 2 -> 4 against the labels shrunk at pixel centres, void left out; by hand in numpy."""
    import numpy as np

    torch.manual_seed(1)
    model = Strided(classes=1)
    images = torch.randn(2, 3, 8, 8)
    labels = torch.randint(0, 2, (2, 8, 8))
    labels[0, 1, 1] = labels[1, 5, 3] = 255  # void at two sampled centres
    with torch.no_grad():
        coarse = model.strided(images)[:, 0].double().numpy()
    a = _bilinear_2_to_4()
    logits = np.einsum("ik,bkl,jl->bij", a, coarse, a)
    target = labels.numpy()[:, 1::2, 1::2]
    valid = target != 255
    x, y = logits[valid], target[valid]
    by_hand = np.mean(np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x))))
    losses = train_epochs(model, lambda epoch: [(images, labels)], OptimConfig(loss_resolution="input/2"),
                          epochs=1, round_index=1, device=torch.device("cpu"))
    assert valid.sum() == 30 and losses[0] == pytest.approx(by_hand, rel=1e-5)
