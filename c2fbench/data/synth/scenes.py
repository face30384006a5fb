"""Compose synthetic scenes: cluttered background, placed class objects, label maps.

A scene is rendered from a list of :class:`ObjectSpec` in drawing order: later objects
occlude earlier ones in both the image and the label map. Clutter (distractor shapes and
lines) is drawn before any object and is never labelled. The finished image gets mild
blur and noise so that object edges are not pixel-perfect giveaways.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from c2fbench.data.png import VOID
from c2fbench.data.synth.shapes import draw_parts
from c2fbench.data.synth.style import STYLES, hsv_rgb, paint, smooth_noise, texture

MIN_VISIBLE = 0.6      # each placed object keeps at least this share of its pixels visible
PLACEMENT_TRIES = 12
MAX_ANGLE = 15.0       # degrees of in-plane rotation either way


@dataclass(frozen=True)
class ObjectSpec:
    """One object to place: VOC class index, the range of its longer side as a fraction
    of min(H, W), and the range of its centre as a fraction of the image's width and height."""

    cls: int
    size: tuple[float, float]
    centre: tuple[float, float] = (0.2, 0.8)


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    return hsv_rgb(rng.uniform(0, 360), rng.uniform(0, 0.8), rng.uniform(0.2, 0.95))


def _background(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A two-colour gradient plus smooth noise: (h, w, 3) uint8 RGB."""
    a, b = _random_colour(rng), _random_colour(rng)
    angle = rng.uniform(0, 2 * np.pi)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (x * np.cos(angle) + y * np.sin(angle))
    t = ((t - t.min()) / max(float(np.ptp(t)), 1.0))[..., None]
    img = a * (1 - t) + b * t
    noise = smooth_noise(h, w, rng.uniform(6, 20), rng) - 0.5
    img += rng.uniform(20, 60) * noise[..., None] * rng.uniform(0.6, 1.0, 3)
    return np.clip(img, 0, 255).astype(np.uint8)


def _clutter(img: np.ndarray, rng: np.random.Generator) -> None:
    """Draw unlabelled distractors: a few large blobs, then many small blobs and lines.

    About a third are filled with a random class's texture, so that neither texture nor
    saturated colour alone marks an object.
    """
    h, w = img.shape[:2]
    side = min(h, w)
    n_large = int(rng.integers(1, 4))
    n_small = int(h * w / 1000 * rng.uniform(0.6, 1.3))
    for i in range(n_large + n_small):
        mask = np.zeros((h, w), np.uint8)
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        r = int(side * (rng.uniform(0.12, 0.3) if i < n_large else rng.uniform(0.03, 0.12)))
        kind = rng.integers(0, 4)
        if kind == 0:
            cv2.circle(mask, (cx, cy), r, 1, -1)
        elif kind == 1:
            cv2.rectangle(mask, (cx - r, cy - r // 2), (cx + r, cy + r // 2), 1, -1)
        elif kind == 2:
            pts = np.array([(cx + rng.integers(-r, r + 1), cy + rng.integers(-r, r + 1)) for _ in range(3)])
            cv2.fillPoly(mask, [pts.astype(np.int32)], 1)
        else:
            end = (cx + int(rng.integers(-2 * r, 2 * r + 1)), cy + int(rng.integers(-2 * r, 2 * r + 1)))
            cv2.line(mask, (cx, cy), end, 1, int(rng.integers(1, 3)))
        fill = np.broadcast_to(_random_colour(rng), (h, w, 3))
        if rng.random() < 0.35:  # borrow a class texture so texture alone does not mean "object"
            style = STYLES[int(rng.integers(1, len(STYLES)))]
            pattern = texture(style, h, w, rng)[..., None]
            fill = fill * (1 - 0.5 * pattern)
        sel = mask > 0
        img[sel] = np.clip(fill[sel], 0, 255).astype(np.uint8)


def _render_instance(spec: ObjectSpec, h: int, w: int, rng: np.random.Generator):
    """Draw, paint, scale, flip, rotate and position one object in an (h, w) frame.

    Returns premultiplied colour (h, w, 3) float32 and coverage (h, w) float32 in [0, 1].
    """
    parts = draw_parts(spec.cls, rng)
    colour = paint(spec.cls, parts, rng)
    cover = (parts > 0).astype(np.float32)
    ph, pw = parts.shape
    scale = rng.uniform(*spec.size) * min(h, w) / max(ph, pw)
    size = (max(1, round(pw * scale)), max(1, round(ph * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    colour = cv2.resize(colour, size, interpolation=interp)
    cover = cv2.resize(cover, size, interpolation=interp)
    if rng.random() < 0.5:
        colour, cover = colour[:, ::-1].copy(), cover[:, ::-1].copy()
    centre = (rng.uniform(*spec.centre) * w, rng.uniform(*spec.centre) * h)
    pivot = ((size[0] - 1) / 2, (size[1] - 1) / 2)
    m = cv2.getRotationMatrix2D(pivot, rng.uniform(-MAX_ANGLE, MAX_ANGLE), 1.0)
    m[:, 2] += (centre[0] - pivot[0], centre[1] - pivot[1])
    colour = cv2.warpAffine(colour, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    cover = cv2.warpAffine(cover, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    return colour, cover


def _fits(mask: np.ndarray, inst: np.ndarray, areas: list[int]) -> bool:
    """Whether ``mask`` leaves every earlier instance at least MIN_VISIBLE visible."""
    for k, area in enumerate(areas, start=1):
        if np.count_nonzero((inst == k) & ~mask) < MIN_VISIBLE * area:
            return False
    return True


def render_scene(h: int, w: int, objects: list[ObjectSpec], rng: np.random.Generator):
    """Render one scene.

    Returns ``(image, label, instances)``: (h, w, 3) uint8 RGB, (h, w) uint8 VOC class
    indices (0 = background, no void yet) and (h, w) uint8 instance ids (0 = none, k = the
    k-th object of ``objects``). An object that cannot be placed without hiding too much
    of an earlier one is placed at its last tried position anyway.
    """
    img = _background(h, w, rng)
    _clutter(img, rng)
    out = img.astype(np.float32)
    label = np.zeros((h, w), np.uint8)
    inst = np.zeros((h, w), np.uint8)
    areas: list[int] = []
    for k, spec in enumerate(objects, start=1):
        for _ in range(PLACEMENT_TRIES):
            colour, cover = _render_instance(spec, h, w, rng)
            mask = cover >= 0.5
            if mask.any() and _fits(mask, inst, areas):
                break
        out = out * (1 - cover[..., None]) + colour
        label[mask] = spec.cls
        inst[mask] = k
        areas.append(int(np.count_nonzero(mask)))
    out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.4, 0.9))
    out += rng.normal(0, rng.uniform(3, 7), out.shape).astype(np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), label, inst


def add_void_band(label: np.ndarray, inst: np.ndarray, radius: int) -> np.ndarray:
    """Set pixels within ``radius`` of any instance boundary to 255, like VOC's outlines.

    Boundaries are where the instance id changes in a (2r+1)-wide neighbourhood, so
    object-background and object-object borders both get the band.
    """
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    border = cv2.dilate(inst, kernel) != cv2.erode(inst, kernel)
    out = label.copy()
    out[border] = VOID
    return out
