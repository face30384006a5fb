"""Between rounds (section IV-C, Algorithm 1 lines 5-6): turn a prediction into the next
round's mask with the paper's three strategies, each of which can be switched off.

(a) drop the image from the next round when under 1% or over 80% of its pixels are
    foreground (written as an all-void map, which the dataset leaves out); the round-0
    labels are dropped by the same rule, so :func:`drop_outside` lives with them, in
    masks/categories.py, which this module imports (never the reverse);
(b) keep only pixels of the image's own category, the rest background;
(c) GrabCut on the prediction.

How GrabCut is initialised on a prediction the paper does not say. ``init="rect"`` uses
the prediction's bounding box, as for the first masks; ``init="mask"`` (the default) puts
the largest predicted component as probable foreground, a padded box around it as probable
background and sure background outside (``GC_INIT_WITH_MASK``): stray predicted pixels then
cannot stretch the box over clutter. The measurements behind the default are in the README.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from c2fbench.errors import InputError
from c2fbench.masks.categories import VOID, category_of, drop_outside
from c2fbench.masks.grabcut import enhance, largest_component
from c2fbench.masks.refine_config import RefineConfig
from c2fbench.masks.runner import ItemResult, item_seed


def predicted_label(probs: np.ndarray, category: int, *, argmax: str = "all",
                    crf_image: np.ndarray | None = None) -> np.ndarray:
    """(H, W) uint8 prediction of class probabilities (C, H, W) for an image of ``category``.

    ``argmax="all"`` takes the most probable of all classes; ``"label"`` only chooses between
    background and the image's own category (known from its image-level label), so a pixel
    the model gives to a confusable class still goes to the category when it beats background.
    A one-channel (foreground) model has only those two anyway. With ``crf_image`` (the RGB
    image) the dense CRF runs first, on the classes the argmax chooses from: with ``"label"``
    on (background, category) renormalised, so a confusable class cannot take the object.
    """
    from c2fbench.predict import crf_refine  # looked up per call: tests replace it

    if argmax == "label" and probs.shape[0] > 2:
        pair = probs[[0, category]]
        pair = pair / np.maximum(pair.sum(axis=0, keepdims=True), 1e-12)
        if crf_image is not None:
            pair = crf_refine(crf_image, pair)
        return np.where(pair[1] > pair[0], category, 0).astype(np.uint8)
    if crf_image is not None:
        probs = crf_refine(crf_image, probs)
    label = probs.argmax(axis=0)
    return np.where(label > 0, category, 0).astype(np.uint8) if probs.shape[0] == 2 else label.astype(np.uint8)


def refine_label(rgb: np.ndarray, pred: np.ndarray, category: int, refine: RefineConfig = RefineConfig(), *,
                 seed: int = 0) -> tuple[np.ndarray, str | None]:
    """The next round's (H, W) uint8 label map from a prediction (H, W) of the image ``rgb``
    (H, W, 3), and a counted event (a GrabCut fallback, or ``dropped_small`` / ``dropped_large``)."""
    if refine.keep_own_category:
        label = np.where(pred == category, category, 0).astype(np.uint8)
    else:
        label = pred.astype(np.uint8).copy()
    event = None
    foreground = label > 0
    if refine.grabcut and foreground.any():
        start = largest_component(foreground) if refine.init == "mask" else foreground
        result = enhance(rgb, start, init=refine.init, iterations=refine.iterations, seed=seed)
        event = result.fallback
        label = np.where(result.mask, np.where(label > 0, label, category), 0).astype(np.uint8)
    label, dropped = drop_outside(label, refine)
    return label, dropped or event


@dataclass(frozen=True)
class RefineJob:
    """Refine every prediction of a round (runs under masks.runner: parallel, resumable).

    ``options.json`` records ``refine`` as its settings, one key each (record.job_options).
    """

    images: Path
    predictions: Path
    out: Path
    wnid_labels: dict | None  # None: foreground task (category 1; strategy (b) has no meaning)
    refine: RefineConfig = RefineConfig()
    seed: int = 0
    previous: Path | None = None  # with it, an image (a) drops keeps its mask from there instead
    name: str = "refine masks"

    def outputs(self, image_id: str) -> list[Path]:
        return [self.out / f"{image_id}.png"]

    def process(self, image_id: str) -> ItemResult:
        from c2fbench.data.images import find_image, read_rgb
        from c2fbench.data.png import read_label_png, write_label_png

        try:
            category = category_of(image_id, self.wnid_labels)
            rgb = read_rgb(find_image(self.images, image_id))
            pred = read_label_png(self.predictions / f"{image_id}.png")
        except InputError as e:
            return ItemResult(image_id, "failed", error=str(e))
        label, event = refine_label(rgb, pred, category, self.refine, seed=item_seed(self.seed, image_id))
        if self.previous is not None and event in ("dropped_small", "dropped_large"):
            kept = read_label_png(self.previous / f"{image_id}.png")
            if not (kept == VOID).all():
                label, event = kept, event.replace("dropped", "kept_previous")
        write_label_png(self.out / f"{image_id}.png", label)
        return ItemResult(image_id, "done", stat=event)
