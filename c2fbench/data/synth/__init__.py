"""A deterministic synthetic stand-in for VOC 2012, ImageNet and Object Discovery.

Twenty procedural object classes (one silhouette, colour and texture each, see
``shapes.py`` and ``style.py``) are placed on cluttered backgrounds (``scenes.py``) in
images planned from ``(preset, seed)`` (``plan.py``) and written in the three datasets'
own layouts (``write.py``), so every pipeline stage can run end to end without downloads.

>>> from c2fbench.data.synth import write_synth
>>> summary = write_synth(Path("synth"), preset="tiny", seed=0)  # doctest: +SKIP
"""

from c2fbench.data.synth.presets import PRESETS, SynthPreset
from c2fbench.data.synth.write import write_synth

__all__ = ["PRESETS", "SynthPreset", "write_synth"]
