"""Which row of a metric object's per-image arrays holds which image."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from c2fbench.errors import InputError


class ImageIndex:
    """Image ids in row order, and the row of each. An id listed twice is an InputError:
    each image is scored once, and ``per_image.npz`` is keyed by id."""

    def __init__(self, ids: Sequence[str]) -> None:
        self.ids = tuple(ids)
        self._row = {image_id: k for k, image_id in enumerate(self.ids)}
        if len(self._row) != len(self.ids):
            twice = next(i for k, i in enumerate(self.ids) if self._row[i] != k)
            raise InputError(f"{twice}: image listed twice; each image is scored once")

    def __len__(self) -> int:
        return len(self.ids)

    def row(self, image_id: str | None) -> int:
        try:
            return self._row[image_id]
        except KeyError:
            raise ValueError(f"{image_id!r} is not one of the {len(self.ids)} images this metric keeps") from None

    def rows(self, ids: Sequence[str]) -> np.ndarray:
        """(len(ids),) rows of ``ids``, for adding another metric object's per-image arrays."""
        return np.array([self.row(i) for i in ids], dtype=np.intp)
