"""Branching a run after round 1: the Fig. 6 ablation without retraining round 1.

Two runs that differ only in how they refine between rounds share their round-0 masks and
their round-1 training, so the second can start from the first's files.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from c2fbench.atomic import atomic_write_text
from c2fbench.errors import InputError
from c2fbench.jsonfile import read_json
from trainers.config import TrainConfig, check_types, validate
from trainers.rundir import read_run_config

# Settings that act only from round 1's refinement on.
BRANCHABLE = ("refine_grabcut", "refine_init", "keep_own_category", "refine_argmax", "refine_predict_at",
              "refine_crf", "refine_tta", "drop_keeps_previous", "reinit", "rounds", "later_epochs", "later_lr",
              "threads")
# Settings that change round 1's predictions: the branch predicts again when they differ.
_PREDICTION = ("refine_argmax", "refine_predict_at", "refine_crf", "refine_tta")


def branch_config(source: Path, out: Path, **changes) -> TrainConfig:
    """The configuration of a branch of ``source`` into ``out`` with refinement settings
    ``changes`` (names in BRANCHABLE), every input checked; writes nothing."""
    source, out = Path(source), Path(out)
    unknown = sorted(set(changes) - set(BRANCHABLE))
    if unknown:
        raise InputError(f"cannot branch on {', '.join(unknown)}: only {', '.join(BRANCHABLE)} act after round 1")
    check_branch_source(source)
    if (out / "config.json").is_file():
        raise InputError(f"{out}: a run exists here already (continue it with --resume, without --branch-from)")
    cfg = read_run_config(source).updated(**check_types(changes, "--branch-from options"))
    validate(cfg)
    return cfg


def check_branch_source(source: Path) -> None:
    """``source`` is a run with a readable finished round 1 (its files are copied as they are)."""
    from c2fbench.models.checkpoint import read_checkpoint_meta

    source = Path(source)
    if not (source / "config.json").is_file() or not (source / "round-01" / "model.pt").is_file():
        raise InputError(f"{source}: a run directory with a finished round 1 (round-01/model.pt) is needed")
    read_run_config(source)
    read_checkpoint_meta(source / "round-01" / "model.pt")


def branch_after_round_one(source: Path, out: Path, **changes) -> TrainConfig:
    """Start the run ``out`` from ``source``'s round-0 masks and round-1 model, with refinement
    settings ``changes`` (names in BRANCHABLE). Resuming ``out`` then refines, validates and
    trains rounds 2.. as a straight run with those settings would (the ablation of Fig. 6,
    one round of training cheaper). Returns the branch's configuration."""
    source, out = Path(source), Path(out)
    cfg = branch_config(source, out, **changes)
    base = read_run_config(source)
    same_predictions = all(cfg.to_flat()[k] == base.to_flat()[k] for k in _PREDICTION)
    parts = ("masks/coarse", "masks/enhanced", "masks/round-00", "round-01") + \
        (("predictions/round-01",) if same_predictions else ())
    for part in parts:
        if (source / part).is_dir():
            copy_run_part(source, out, part)
    atomic_write_text(out / "config.json", cfg.to_json())
    return cfg


def copy_run_part(source: Path, out: Path, part: str) -> None:
    """Copy the folder ``source/part`` into ``out/part`` (no epoch checkpoints, no hidden
    files). The ``options.json`` a masks folder records names its input folders; those
    inside ``source`` are renamed to their copies inside ``out``, so that the masks runner
    takes the copies for what they are (the same masks from the same options)."""
    source, out = Path(source), Path(out)
    shutil.copytree(source / part, out / part, ignore=shutil.ignore_patterns("last.pt", ".*"), dirs_exist_ok=True)
    options = out / part / "options.json"
    if not options.is_file():
        return
    old, new = str(source.resolve()), str(out.resolve())

    def moved(value):
        if isinstance(value, str) and (value == old or value.startswith(old + os.sep)):
            return new + value[len(old):]
        if isinstance(value, dict):
            return {k: moved(v) for k, v in value.items()}
        return [moved(v) for v in value] if isinstance(value, list) else value

    recorded = read_json(options, "masks options file")
    atomic_write_text(options, json.dumps(moved(recorded), indent=2) + "\n")
