"""Training data: ImageNet images with the label maps of the current round.

Augmentation follows the paper: resize to ``resize`` x ``resize``, random crop to
``crop`` x ``crop`` (plus a random horizontal flip). Randomness comes from a generator
seeded by (seed, round, epoch, index), so an epoch is the same whether it runs straight
or after a resume, and whatever the number of loader workers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from c2fbench.data.images import read_rgb
from c2fbench.data.labels import read_label_png
from c2fbench.inference import normalise


class MaskDataset(torch.utils.data.Dataset):
    """(image, label) pairs; labels are VOC-palette maps at ``labels/<rel>.png``.

    Images whose label map is entirely void (255) were dropped by the between-round
    filter and are left out.
    """

    def __init__(self, samples, labels: Path, *, resize: int, crop: int, flip: bool, normalization: dict,
                 seed: int) -> None:
        self.samples = [s for s in samples if not _all_void(labels / f"{s.rel}.png")]
        self.labels, self.resize, self.crop, self.flip = labels, resize, crop, flip
        self.normalization, self.seed = normalization, seed
        self.epoch_key = (0, 0)

    def set_epoch(self, round_index: int, epoch: int) -> None:
        self.epoch_key = (round_index, epoch)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        import cv2

        sample = self.samples[index]
        rng = np.random.default_rng([self.seed, *self.epoch_key, index])
        rgb = cv2.resize(read_rgb(sample.path), (self.resize, self.resize), interpolation=cv2.INTER_LINEAR)
        label = cv2.resize(read_label_png(self.labels / f"{sample.rel}.png"), (self.resize, self.resize),
                           interpolation=cv2.INTER_NEAREST)
        y, x = rng.integers(0, self.resize - self.crop + 1, size=2)
        rgb, label = rgb[y:y + self.crop, x:x + self.crop], label[y:y + self.crop, x:x + self.crop]
        if self.flip and rng.random() < 0.5:
            rgb, label = rgb[:, ::-1], label[:, ::-1]
        return normalise(rgb, self.normalization), torch.from_numpy(np.ascontiguousarray(label)).long()


def _all_void(path: Path) -> bool:
    return bool((read_label_png(path) == 255).all())
