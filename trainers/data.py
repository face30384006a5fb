"""Training data: ImageNet images with the label maps of the current round.

Augmentation follows the paper: resize to ``resize`` x ``resize``, random crop to
``crop`` x ``crop`` (plus a random horizontal flip). With ``scale=(lo, hi)`` the resized
side is first multiplied by a factor drawn uniformly from [lo, hi], as DeepLab v2 trains
(0.5-1.5); an image then smaller than the crop is padded with the mean colour and void.
Randomness comes from a generator seeded by (seed, round, epoch, index), so an epoch is
the same whether it runs straight or after a resume, and whatever the number of loader
workers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from c2fbench.data.images import read_rgb
from c2fbench.data.png import read_label_png
from c2fbench.inference import normalise


class MaskDataset(torch.utils.data.Dataset):
    """(image, label) pairs; labels are VOC-palette maps at ``labels/<rel>.png``.

    Images whose label map is entirely void (255) were dropped by the between-round
    filter and are left out.
    """

    def __init__(self, samples, labels: Path, *, resize: int, crop: int, flip: bool, normalization: dict,
                 seed: int, scale: tuple[float, float] = (1.0, 1.0)) -> None:
        self.samples = [s for s in samples if not _all_void(labels / f"{s.rel}.png")]
        self.labels, self.resize, self.crop, self.flip = labels, resize, crop, flip
        self.normalization, self.seed, self.scale = normalization, seed, scale
        self.epoch_key = (0, 0)
        # decoded images and labels, kept while they fit CACHE_BYTES: decoding took half of a
        # demo sample's 1.5 ms (measured), every epoch again; the pixels are the same either way
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._cached_bytes = 0

    def set_epoch(self, round_index: int, epoch: int) -> None:
        self.epoch_key = (round_index, epoch)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        import cv2

        rng = np.random.default_rng([self.seed, *self.epoch_key, index])
        side = self.resize
        if self.scale != (1.0, 1.0):
            side = max(1, round(self.resize * rng.uniform(*self.scale)))
        rgb, label = self._decoded(index)
        rgb = cv2.resize(rgb, (side, side), interpolation=cv2.INTER_LINEAR)
        label = cv2.resize(label, (side, side), interpolation=cv2.INTER_NEAREST)
        if side < self.crop:
            pad = self.crop - side
            mean = [round(255 * m) for m in self.normalization["mean"]]
            rgb = cv2.copyMakeBorder(rgb, 0, pad, 0, pad, cv2.BORDER_CONSTANT, value=mean)
            label = cv2.copyMakeBorder(label, 0, pad, 0, pad, cv2.BORDER_CONSTANT, value=255)
            side = self.crop
        y, x = rng.integers(0, side - self.crop + 1, size=2)
        rgb, label = rgb[y:y + self.crop, x:x + self.crop], label[y:y + self.crop, x:x + self.crop]
        if self.flip and rng.random() < 0.5:
            rgb, label = rgb[:, ::-1], label[:, ::-1]
        return normalise(rgb, self.normalization), torch.from_numpy(np.ascontiguousarray(label)).long()


    def _decoded(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(H, W, 3) uint8 RGB and (H, W) uint8 labels of sample ``index``."""
        if index in self._cache:
            return self._cache[index]
        sample = self.samples[index]
        pair = read_rgb(sample.path), read_label_png(self.labels / f"{sample.rel}.png")
        size = pair[0].nbytes + pair[1].nbytes
        if self._cached_bytes + size <= CACHE_BYTES:
            self._cache[index] = pair
            self._cached_bytes += size
        return pair


# Per dataset (a round's), and per loader worker process when there are any: the demo's 800
# images take about 40 MB; a paper-size set fills it and decodes the rest every epoch.
CACHE_BYTES = 512 << 20


def _all_void(path: Path) -> bool:
    return bool((read_label_png(path) == 255).all())
