"""Sizes of the synthetic benchmark: one frozen dataclass per preset.

``tiny`` is for tests (generates in well under two seconds); ``demo`` is large enough to
train a small CNN meaningfully on a laptop CPU in minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

from c2fbench.errors import InputError


@dataclass(frozen=True)
class SynthPreset:
    """Image counts and size ranges (inclusive, pixels) of each part of the benchmark."""

    name: str
    voc_train: int
    voc_val: int
    voc_width: tuple[int, int]
    voc_height: tuple[int, int]
    imagenet_per_class: int
    imagenet_size: tuple[int, int]
    od_full: int
    od_subset: int
    od_size: tuple[int, int]
    void_radius: int  # half-width of the VOC void band along object borders


PRESETS: dict[str, SynthPreset] = {
    "tiny": SynthPreset(
        name="tiny", voc_train=6, voc_val=6, voc_width=(64, 80), voc_height=(64, 80),
        imagenet_per_class=2, imagenet_size=(64, 80),
        od_full=8, od_subset=5, od_size=(64, 80), void_radius=1,
    ),
    "demo": SynthPreset(
        name="demo", voc_train=200, voc_val=200, voc_width=(144, 176), voc_height=(112, 144),
        imagenet_per_class=40, imagenet_size=(112, 144),
        od_full=120, od_subset=100, od_size=(112, 144), void_radius=1,
    ),
}


def get_preset(name: str) -> SynthPreset:
    """Look up a preset by name, raising InputError listing the valid names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(
            f"unknown synth preset {name!r} (expected one of: {', '.join(sorted(PRESETS))})"
        ) from None
