"""Colour and texture of each synthetic class, so that appearance carries class evidence.

Every class gets its own hue (20 hues 18 degrees apart, assigned so that look-alike shapes
such as bus/train or cat/dog are far apart on the wheel) and its own texture. Both are
jittered per instance; accents (wheels, windows, heads) are near-black or near-white.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

from c2fbench.data.synth.shapes import BODY, DARK, LIGHT


@dataclass(frozen=True)
class ClassStyle:
    hue: float        # degrees
    saturation: float
    value: float
    texture: str      # a key of TEXTURES
    period: float     # texture scale, canonical-canvas pixels
    amplitude: float  # how much darker the texture's second colour is


_S = ClassStyle
# Index i styles VOC class i; background (0) has no style.
STYLES: tuple[ClassStyle | None, ...] = (
    None,
    _S(216, 0.45, 0.85, "gradient", 0, 0.45),   # aeroplane
    _S(0, 0.85, 0.80, "solid", 0, 0.0),         # bicycle
    _S(54, 0.80, 0.90, "speckle", 0, 0.45),     # bird
    _S(234, 0.70, 0.70, "stripes_h", 12, 0.5),  # boat
    _S(126, 0.70, 0.70, "rings", 10, 0.45),     # bottle
    _S(36, 0.85, 0.90, "stripes_v", 16, 0.35),  # bus
    _S(342, 0.80, 0.80, "gradient", 0, 0.5),    # car
    _S(288, 0.55, 0.75, "stripes_d", 10, 0.55), # cat
    _S(18, 0.70, 0.65, "waves", 9, 0.45),       # chair
    _S(180, 0.55, 0.80, "dots", 24, 0.65),      # cow
    _S(72, 0.70, 0.75, "waves", 14, 0.35),      # diningtable
    _S(90, 0.60, 0.70, "noise", 4, 0.5),        # dog
    _S(306, 0.60, 0.65, "noise", 2, 0.35),      # horse
    _S(270, 0.65, 0.75, "checks", 14, 0.5),     # motorbike
    _S(162, 0.70, 0.70, "stripes_h", 8, 0.4),   # person
    _S(108, 0.75, 0.70, "noise", 7, 0.55),      # pottedplant
    _S(144, 0.35, 0.90, "speckle", 0, 0.35),    # sheep
    _S(252, 0.60, 0.75, "checks", 22, 0.35),    # sofa
    _S(198, 0.75, 0.75, "stripes_d", 14, 0.45), # train
    _S(324, 0.60, 0.80, "dots", 12, 0.5),       # tvmonitor
)


def hsv_rgb(hue: float, sat: float, val: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb((hue % 360) / 360, np.clip(sat, 0, 1), np.clip(val, 0, 1))) * 255


def smooth_noise(h: int, w: int, cell: float, rng: np.random.Generator) -> np.ndarray:
    """Value noise in [0, 1]: a coarse random grid upsampled bilinearly."""
    gh, gw = int(h / cell) + 2, int(w / cell) + 2
    grid = rng.random((gh, gw)).astype(np.float32)
    ys = np.linspace(0, gh - 1.001, h)[:, None]
    xs = np.linspace(0, gw - 1.001, w)[None, :]
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = ys - y0, xs - x0
    top = grid[y0, x0] * (1 - fx) + grid[y0, x0 + 1] * fx
    bottom = grid[y0 + 1, x0] * (1 - fx) + grid[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def texture(style: ClassStyle, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """The class's pattern over an (h, w) object crop, values in [0, 1]."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    p = style.period * rng.uniform(0.85, 1.15)
    phase = rng.uniform(0, 2 * np.pi)
    kind = style.texture
    if kind == "solid":
        return np.zeros((h, w), np.float32)
    if kind == "gradient":
        a = rng.uniform(0, np.pi)
        ramp = x * np.cos(a) + y * np.sin(a)
        return (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1.0)
    if kind in ("stripes_h", "stripes_v", "stripes_d"):
        coord = {"stripes_h": y, "stripes_v": x, "stripes_d": x + y}[kind]
        return (np.sin(2 * np.pi * coord / p + phase) > 0).astype(np.float32)
    if kind == "checks":
        return ((np.floor(x / p) + np.floor(y / p)) % 2).astype(np.float32)
    if kind == "dots":
        dx = (x + phase) % p - p / 2
        dy = (y + phase) % p - p / 2
        return (dx**2 + dy**2 < (0.3 * p) ** 2).astype(np.float32)
    if kind == "rings":
        r = np.hypot(x - w / 2, y - h / 2)
        return 0.5 + 0.5 * np.sin(2 * np.pi * r / p + phase)
    if kind == "waves":
        return 0.5 + 0.5 * np.sin(2 * np.pi * (y + 4 * np.sin(x / p)) / p + phase)
    if kind == "noise":
        return smooth_noise(h, w, p, rng)
    if kind == "speckle":
        return (rng.random((h, w)) < 0.35).astype(np.float32)
    raise ValueError(f"unknown texture {kind!r}")


def paint(cls: int, parts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Colour an instance's (h, w) part map: returns (h, w, 3) float32 RGB in [0, 255].

    Body pixels blend the class colour with a darker shade through the class texture;
    accents get an instance-jittered near-black or near-white; a random lighting ramp
    shades the whole object. Pixels outside the object are left 0.
    """
    style = STYLES[cls]
    h, w = parts.shape
    hue = style.hue + rng.uniform(-5, 5)
    sat = style.saturation + rng.uniform(-0.1, 0.1)
    val = style.value + rng.uniform(-0.1, 0.1)
    c1 = hsv_rgb(hue, sat, val)
    c2 = hsv_rgb(hue, sat, val * (1 - style.amplitude))
    pattern = texture(style, h, w, rng)[..., None]
    out = np.zeros((h, w, 3), np.float32)
    body = c1 * (1 - pattern) + c2 * pattern
    out[parts == BODY] = body[parts == BODY]
    out[parts == DARK] = rng.uniform(25, 60, 3)
    out[parts == LIGHT] = rng.uniform(195, 240, 3)
    a = rng.uniform(0, 2 * np.pi)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = ((x - w / 2) * np.cos(a) + (y - h / 2) * np.sin(a)) / max(h, w)
    out *= (1 + 0.35 * ramp)[..., None]
    return np.clip(out, 0, 255)
