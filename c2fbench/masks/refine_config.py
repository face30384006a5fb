"""The settings of the between-round strategies (a), (b), (c) (c2fbench/masks/refine.py), in
a module of their own that imports nothing: the training configuration holds them, and
``c2fbench train ... --help`` shows their defaults without loading numpy.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RefineConfig:
    """The settings of strategies (a), (b) and (c), shared by the round-0 labels (which
    apply (a) only) and every refinement between rounds.

    ``iterations`` is GrabCut's in (c) and, being one setting in the paper, in the round-0
    GrabCut too (``grabcut_iterations`` in a run's config.json).
    """

    drop_outside: bool = True  # (a)
    min_foreground: float = 0.01
    max_foreground: float = 0.80
    keep_own_category: bool = True  # (b)
    grabcut: bool = True  # (c)
    init: str = "mask"  # how GrabCut starts from a prediction, "mask" or "rect" (see refine.py)
    iterations: int = 5


# The settings of strategy (a): all the round-0 labels read, and record, of a RefineConfig.
DROP_SETTINGS = ("drop_outside", "min_foreground", "max_foreground")
