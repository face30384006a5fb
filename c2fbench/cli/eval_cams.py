"""``eval --cams DIR``'s options, their checks and its prediction source (the sweep itself:
:mod:`c2fbench.eval.seeds`). Kept apart from ``cli/eval.py``, which calls these once each."""

from __future__ import annotations

from pathlib import Path

import click

from c2fbench.cli.options import FiniteFloatRange

CAM_FORMATS = ("auto", "irn", "seam", "dense")  # c2fbench.eval.cams.FORMATS, without importing numpy for --help


class ThresholdParam(FiniteFloatRange):
    """``--threshold``: one value in [0, 1], or ``START:STOP:STEP`` (STOP included) for a
    sweep, returned as a tuple of floats."""

    name = "threshold"

    def __init__(self) -> None:
        super().__init__(0, 1)

    def convert(self, value, param, ctx):
        if isinstance(value, str) and ":" in value:
            from c2fbench.eval.seeds import parse_thresholds

            try:
                thresholds = parse_thresholds(value)
            except ValueError as e:
                self.fail(str(e), param, ctx)
            return tuple(super(ThresholdParam, self).convert(t, param, ctx) for t in thresholds)
        return super().convert(value, param, ctx)


cam_options = (
    click.option("--cams", type=click.Path(path_type=Path),
                 help="Score CAM seeds: a folder of <id>.npy CAMs (IRN's make_cam dicts, SEAM's/PSA's "
                      "{class: map} dicts, or plain (20|21, H, W) arrays), with --threshold or --bg-power."),
    click.option("--cam-format", type=click.Choice(CAM_FORMATS), default="auto", show_default=True,
                 help="With --cams: the files' format (auto: told from each file's content)."),
    click.option("--bg-power", type=FiniteFloatRange(min=0, min_open=True), default=None, metavar="ALPHA",
                 help="With --cams: background is PSA's (1 - max_c CAM_c)^ALPHA instead of a threshold."),
)


def with_cam_options(command):
    for option in reversed(cam_options):
        command = option(command)
    return command


def check_cam_options(benchmark: str, *, cams: Path | None, cam_format: str, threshold, bg_power: float | None,
                      others: dict) -> None:
    """Refuse CAM options without ``--cams`` (a sweep of thresholds included), and with it,
    a foreground benchmark, both background rules, or any option of ``others`` (name ->
    value given) that does not apply to CAMs."""
    from c2fbench.errors import InputError

    if cams is None:
        for given, option in ((cam_format != "auto", "--cam-format"), (bg_power is not None, "--bg-power"),
                              (isinstance(threshold, tuple), "--threshold START:STOP:STEP")):
            if given:
                raise InputError(f"{option} applies to --cams DIR")
        return
    if benchmark.startswith("mit"):
        raise InputError(f"--cams applies to the semantic benchmarks (voc-*, coco-val), not {benchmark}")
    if threshold is not None and bg_power is not None:
        raise InputError("--cams: give --threshold or --bg-power, not both")
    for option, value in others.items():
        if value:
            raise InputError(f"{option} does not apply to --cams DIR")


def cam_source(cams: Path, *, cam_format: str, threshold, bg_power: float | None):
    """The :class:`~c2fbench.eval.seeds.CamSeeds` of the options."""
    from c2fbench.eval.seeds import CamSeeds

    thresholds = None if threshold is None else (threshold if isinstance(threshold, tuple) else (threshold,))
    return CamSeeds(cams, fmt=cam_format, thresholds=thresholds, bg_power=bg_power)
