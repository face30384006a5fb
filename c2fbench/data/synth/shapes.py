"""One procedural silhouette per VOC class, drawn with cv2 primitives.

Each drawer paints a part map on a square canonical canvas of ``CANVAS`` pixels, object
facing right, upright: 0 = outside, ``BODY`` = the class-coloured textured body, ``DARK`` and
``LIGHT`` = accent parts (wheels, windows, screens, heads) that make the silhouette read
as the class. The scene code crops the drawn part map to its bounding box, then scales,
rotates, flips and places it. A drawer takes the instance's ``rng`` for small shape
variation (proportions, leg spread), so no two instances are identical.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

CANVAS = 128
BODY, DARK, LIGHT = 1, 2, 3

Drawer = Callable[[np.ndarray, np.random.Generator], None]


def _pts(points) -> list[np.ndarray]:
    return [np.asarray(points, dtype=np.int32)]


def _poly(c, points, v=BODY):
    cv2.fillPoly(c, _pts(points), v)


def _ell(c, center, axes, v=BODY, angle=0.0):
    cv2.ellipse(c, (int(center[0]), int(center[1])), (int(axes[0]), int(axes[1])), angle, 0, 360, v, -1)


def _rect(c, p1, p2, v=BODY):
    cv2.rectangle(c, (int(p1[0]), int(p1[1])), (int(p2[0]), int(p2[1])), v, -1)


def _line(c, p1, p2, v=BODY, t=5):
    cv2.line(c, (int(p1[0]), int(p1[1])), (int(p2[0]), int(p2[1])), v, int(t))


def _circ(c, center, r, v=BODY, t=-1):
    cv2.circle(c, (int(center[0]), int(center[1])), int(r), v, int(t))


def _j(rng: np.random.Generator, amount: int) -> int:
    """A jitter in ``[-amount, amount]``."""
    return int(rng.integers(-amount, amount + 1))


def draw_aeroplane(c, rng):
    """Top view: long fuselage, swept wings, small tailplane, dark cockpit."""
    sweep = 18 + _j(rng, 8)
    _ell(c, (64, 64), (54, 8))
    _poly(c, [(76, 60), (76 - sweep, 10), (64 - sweep, 10), (52, 60)])
    _poly(c, [(76, 68), (76 - sweep, 118), (64 - sweep, 118), (52, 68)])
    _poly(c, [(24, 61), (10, 40), (4, 40), (12, 64), (4, 88), (10, 88), (24, 67)])
    _ell(c, (108, 64), (7, 4), DARK)


def draw_bicycle(c, rng):
    """Side view: two dark rings joined by a thin diamond frame, seat and handlebar."""
    gap = 66 + _j(rng, 6)
    rear, front = (64 - gap // 2, 84), (64 + gap // 2, 84)
    _circ(c, rear, 22, DARK, 6)
    _circ(c, front, 22, DARK, 6)
    crank, seat, head = (62, 84), (52, 50), (front[0] - 14, 50)
    for a, b in [(rear, crank), (crank, seat), (seat, rear), (crank, head), (seat, head), (head, front)]:
        _line(c, a, b, BODY, 5)
    _line(c, (44, 44), (60, 44), DARK, 6)
    _line(c, head, (head[0] + 4, 38), BODY, 5)
    _line(c, (head[0] - 2, 38), (head[0] + 12, 38), DARK, 5)


def draw_bird(c, rng):
    """Side view: oval body, round head, light beak, dark wing, fanned tail, thin legs."""
    tilt = -15 + _j(rng, 8)
    _ell(c, (60, 66), (32, 17), BODY, tilt)
    _circ(c, (92, 46), 13)
    _poly(c, [(102, 42), (122, 48), (102, 54)], LIGHT)
    _poly(c, [(32, 70), (6, 58 + _j(rng, 6)), (8, 90)])
    _ell(c, (54, 64), (20, 9), DARK, tilt - 10)
    _circ(c, (96, 43), 3, DARK)
    _line(c, (56, 80), (52, 106), DARK, 3)
    _line(c, (68, 80), (70, 106), DARK, 3)


def draw_boat(c, rng):
    """Sailing boat: trapezoid hull, mast, two light sails."""
    mast = 64 + _j(rng, 6)
    _poly(c, [(6, 84), (122, 84), (104, 106), (24, 106)])
    _line(c, (mast, 86), (mast, 14), DARK, 4)
    _poly(c, [(mast + 3, 16), (mast + 3, 80), (mast + 44 + _j(rng, 6), 80)], LIGHT)
    _poly(c, [(mast - 3, 28), (mast - 3, 80), (mast - 34, 80)], LIGHT)


def draw_bottle(c, rng):
    """Upright bottle: body, sloped shoulder, neck, dark cap, light label."""
    w = 17 + _j(rng, 3)
    _rect(c, (64 - w, 52), (64 + w, 120))
    _poly(c, [(64 - w, 54), (58, 32), (70, 32), (64 + w, 54)])
    _rect(c, (58, 14), (70, 34))
    _rect(c, (56, 8), (72, 16), DARK)
    _rect(c, (64 - w, 72), (64 + w, 98), LIGHT)


def draw_bus(c, rng):
    """Side view: long box, row of dark windows, door, two big wheels."""
    top = 26 + _j(rng, 4)
    _rect(c, (4, top), (124, 96))
    n_win = 5 + int(rng.integers(0, 2))
    step = 104 // n_win
    for i in range(n_win):
        _rect(c, (12 + i * step, top + 8), (12 + i * step + step - 6, top + 26), DARK)
    _rect(c, (104, top + 8), (116, 90), LIGHT)
    _circ(c, (30, 98), 11, DARK)
    _circ(c, (94, 98), 11, DARK)


def draw_car(c, rng):
    """Side view: low body, sloping cabin with light windows, two dark wheels."""
    roof = 46 + _j(rng, 5)
    _rect(c, (6, 70), (122, 94))
    _poly(c, [(26, 72), (42, roof), (86, roof), (104, 72)])
    _poly(c, [(36, 70), (46, roof + 6), (62, roof + 6), (62, 70)], LIGHT)
    _poly(c, [(68, 70), (68, roof + 6), (84, roof + 6), (96, 70)], LIGHT)
    _circ(c, (32, 94), 13, DARK)
    _circ(c, (96, 94), 13, DARK)


def draw_cat(c, rng):
    """Sitting-low cat: body, round head with pointed ears, long curled tail."""
    _ell(c, (58, 82), (34, 18))
    _circ(c, (96, 60), 17)
    _poly(c, [(82, 52), (86, 26 + _j(rng, 4)), (96, 46)])
    _poly(c, [(98, 46), (110, 26 + _j(rng, 4)), (112, 54)])
    tail = [(28, 82), (14, 70), (12, 50), (22, 36 + _j(rng, 6))]
    cv2.polylines(c, _pts(tail), False, BODY, 7)
    for x in (36, 50, 70, 82):
        _rect(c, (x - 4, 92), (x + 4, 112))
    _circ(c, (92, 58), 3, DARK)
    _circ(c, (104, 58), 3, DARK)


def draw_chair(c, rng):
    """Front-three-quarter chair: slatted back (cut out), seat, four legs."""
    _rect(c, (34, 8), (94, 62))
    for y in (20, 34, 48):
        _rect(c, (42, y), (86, y + 6), 0)
    _poly(c, [(28, 62), (100, 62), (108, 74), (20, 74)])
    for x in (24, 102):
        _rect(c, (x - 3, 74), (x + 3, 122), DARK)
    for x in (38, 90):
        _rect(c, (x - 3, 74), (x + 3, 110), DARK)


def draw_cow(c, rng):
    """Side view: heavy boxy body, short thick legs, boxy head with light horns."""
    _ell(c, (58, 56), (40, 22))
    _rect(c, (20, 40), (96, 70))
    _poly(c, [(92, 40), (118, 46 + _j(rng, 4)), (120, 68), (100, 70)])
    _line(c, (102, 40), (96, 28), LIGHT, 4)
    _line(c, (110, 42), (114, 30), LIGHT, 4)
    for x in (26, 40, 80, 92):
        _rect(c, (x - 5, 70), (x + 5, 108 + _j(rng, 3)))
        _rect(c, (x - 5, 104), (x + 5, 112), DARK)
    _ell(c, (56, 78), (8, 5), LIGHT)


def draw_diningtable(c, rng):
    """Table in perspective: thick top slab, light plates, four dark legs."""
    depth = 14 + _j(rng, 4)
    _poly(c, [(18, 40), (110, 40), (124, 40 + depth), (4, 40 + depth)])
    _rect(c, (4, 40 + depth), (124, 48 + depth))
    _ell(c, (42, 46), (10, 3), LIGHT)
    _ell(c, (84, 46), (10, 3), LIGHT)
    for x, bottom in ((10, 120), (118, 120), (26, 104), (102, 104)):
        _rect(c, (x - 3, 48 + depth), (x + 3, bottom), DARK)


def draw_dog(c, rng):
    """Standing dog: body, head with long snout, floppy dark ear, legs, raised tail."""
    _ell(c, (58, 64), (32, 15))
    _circ(c, (94, 46), 13)
    _rect(c, (98, 44), (122, 56))
    _circ(c, (121, 46), 3, DARK)
    _ell(c, (88, 54), (5, 11), DARK, 15)
    for x in (34, 46, 72, 82):
        _rect(c, (x - 4, 70), (x + 4, 106 + _j(rng, 3)))
    _line(c, (28, 58), (12, 36 + _j(rng, 6)), BODY, 6)


def draw_horse(c, rng):
    """Side view: body, long thin legs, raised neck with dark mane, long tail."""
    _ell(c, (56, 56), (34, 16))
    neck_top = 16 + _j(rng, 5)
    _poly(c, [(76, 48), (90, neck_top), (104, neck_top + 6), (90, 60)])
    _ell(c, (108, neck_top + 12), (15, 7), BODY, 35)
    _line(c, (80, 46), (92, neck_top - 2), DARK, 4)
    for x, dx in ((30, -4), (40, 2), (70, -2), (80, 4)):
        _line(c, (x, 62), (x + dx, 120), BODY, 6)
        _rect(c, (x + dx - 3, 116), (x + dx + 3, 122), DARK)
    cv2.polylines(c, _pts([(24, 52), (14, 66), (12, 96)]), False, DARK, 6)


def draw_motorbike(c, rng):
    """Side view: two thick dark wheels, engine block, tank, seat, front fork."""
    _circ(c, (26, 92), 18, DARK, 8)
    _circ(c, (102, 92), 18, DARK, 8)
    _poly(c, [(42, 68), (84, 68), (78, 94), (50, 94)])
    _ell(c, (66, 60), (20, 9))
    _rect(c, (30, 56), (52, 64), DARK)
    _line(c, (102, 92), (90, 40 + _j(rng, 4)), LIGHT, 5)
    _line(c, (84, 40), (100, 38), DARK, 5)
    _line(c, (26, 92), (48, 70), BODY, 6)
    _line(c, (50, 96), (10, 100), LIGHT, 4)


def draw_person(c, rng):
    """Upright: light head, body-coloured torso and arms, dark legs."""
    spread = 4 + _j(rng, 4)
    _circ(c, (64, 14), 11, LIGHT)
    _rect(c, (50, 28), (78, 72))
    _line(c, (52, 32), (38 - spread, 70 + _j(rng, 6)), BODY, 8)
    _line(c, (76, 32), (90 + spread, 70 + _j(rng, 6)), BODY, 8)
    _line(c, (57, 72), (54 - spread, 122), DARK, 10)
    _line(c, (71, 72), (74 + spread, 122), DARK, 10)


def draw_pottedplant(c, rng):
    """Light pot with a dark rim under a bushy crown of leaf ellipses."""
    _poly(c, [(42, 84), (86, 84), (78, 122), (50, 122)], LIGHT)
    _rect(c, (40, 80), (88, 88), DARK)
    for k in range(9):
        angle = -160 + k * 17.5 + _j(rng, 6)
        rad = np.deg2rad(angle)
        length = 28 + _j(rng, 6)
        cx, cy = 64 + 0.9 * length * np.cos(rad), 72 + 1.5 * length * np.sin(rad)
        _ell(c, (cx, cy), (length * 0.55, 8), BODY, angle)
    _line(c, (64, 82), (64, 50), BODY, 5)


def draw_sheep(c, rng):
    """Fluffy cluster of overlapping circles, dark face and thin dark legs."""
    for _ in range(14):
        _circ(c, (int(rng.integers(28, 92)), int(rng.integers(40, 76))), int(rng.integers(10, 17)))
    _ell(c, (104, 54), (12, 8), DARK, 25)
    for x in (40, 52, 74, 86):
        _rect(c, (x - 3, 76), (x + 3, 106), DARK)


def draw_sofa(c, rng):
    """Front view: tall back, wide seat, two armrests, short dark feet."""
    _rect(c, (14, 28 + _j(rng, 4)), (114, 66))
    _rect(c, (10, 62), (118, 92))
    _rect(c, (4, 50), (24, 96))
    _rect(c, (104, 50), (124, 96))
    _rect(c, (30, 66), (98, 72), LIGHT)
    for x in (10, 118):
        _rect(c, (x - 4, 96), (x + 4, 104), DARK)


def draw_train(c, rng):
    """Side view: locomotive with sloped nose, cab window, chimney, row of small wheels."""
    nose = 108 + _j(rng, 6)
    _poly(c, [(4, 40), (nose, 40), (124, 70), (124, 96), (4, 96)])
    _rect(c, (20, 24), (30, 40))
    _rect(c, (76, 48), (98, 64), LIGHT)
    _rect(c, (4, 70), (124, 74), DARK)
    for x in range(14, 122, 18):
        _circ(c, (x, 98), 8, DARK)


def draw_tvmonitor(c, rng):
    """Monitor: body-coloured frame around a dark screen, neck and base."""
    h = 70 + _j(rng, 6)
    _rect(c, (10, 10), (118, 10 + h))
    _rect(c, (18, 18), (110, 2 + h), DARK)
    _rect(c, (58, 10 + h), (70, 22 + h))
    _rect(c, (36, 22 + h), (92, 30 + h))


# Index i is the drawer of VOC class i (c2fbench.data.voc.VOC_CLASSES), background at 0.
DRAWERS: tuple[Drawer | None, ...] = (
    None, draw_aeroplane, draw_bicycle, draw_bird, draw_boat, draw_bottle, draw_bus, draw_car,
    draw_cat, draw_chair, draw_cow, draw_diningtable, draw_dog, draw_horse, draw_motorbike,
    draw_person, draw_pottedplant, draw_sheep, draw_sofa, draw_train, draw_tvmonitor,
)


def draw_parts(cls: int, rng: np.random.Generator) -> np.ndarray:
    """The part map of one instance of VOC class ``cls`` (1..20), cropped to its bounding box.

    Returns (h, w) uint8 with values in {0, BODY, DARK, LIGHT}.
    """
    canvas = np.zeros((CANVAS, CANVAS), dtype=np.uint8)
    DRAWERS[cls](canvas, rng)
    ys, xs = np.nonzero(canvas)
    return canvas[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
