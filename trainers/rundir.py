"""Reading a run directory back (``--resume``): its configuration, its log, its epoch
checkpoints, and which options a resumed run may change.

Every file is checked before anything is written, and a damaged one is an InputError
naming it: a resume never stops halfway on a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

from c2fbench.atomic import atomic_write_text
from c2fbench.errors import InputError
from c2fbench.jsonfile import parse_json
from trainers.config import TrainConfig, absolute_paths, check_types, validate, without_record
from trainers.resolve import read_json_object

# Options a resumed run may change. ``rounds`` extends (or shortens, down to the last round
# started) the run: round r's training does not depend on the number of rounds, so the
# extended run equals a straight run with the new count, and config.json still reproduces
# it. ``loader_workers`` does not change results (data.py seeds by index). Anything else
# (``epochs`` included: a round's poly schedule spans its epochs) would leave a config.json
# that no longer describes the rounds already trained, so it is refused.
# ``threads`` changes the floats of the epochs trained after the resume; each round's line of
# metrics.jsonl records the count it was trained with (``numerics``).
RESUMABLE = ("rounds", "loader_workers", "threads")


def read_run_config(out: Path) -> TrainConfig:
    """The configuration a run directory was started with (``out/config.json``)."""
    path = Path(out) / "config.json"
    if not path.exists() and not path.is_symlink():
        raise InputError(f"{path}: nothing to resume (no run directory here)")
    values = check_types(without_record(read_json_object(path, "run configuration")), str(path))
    try:
        cfg = TrainConfig.from_flat(absolute_paths(values))
        validate(cfg)
    except InputError as e:
        raise InputError(f"{path}: {e}") from None
    return cfg


def read_log(out: Path) -> dict[int, dict]:
    """``out/metrics.jsonl`` by round; InputError naming the file and line when damaged."""
    path = Path(out) / "metrics.jsonl"
    if not path.is_file():
        return {}
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read the run's log ({e})") from None
    lines = {}
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            line = parse_json(raw, f"{path}, line {number}")
        except InputError as e:
            raise InputError(f"{e}; delete the line to redo that round's last step") from None
        round_index = line.get("round") if isinstance(line, dict) else None
        if not isinstance(round_index, int) or isinstance(round_index, bool) or round_index < 1:
            raise InputError(f"{path}, line {number}: expected a JSON object with an integer 'round'")
        lines[round_index] = line
    return lines


def append_log(out: Path, line: dict) -> None:
    """Add (or replace) ``line``'s round in ``out/metrics.jsonl``, atomically."""
    lines = read_log(out)
    lines[line["round"]] = line
    atomic_write_text(Path(out) / "metrics.jsonl", "".join(json.dumps(lines[k]) + "\n" for k in sorted(lines)))


def check_epoch_checkpoint(path: Path) -> dict:
    """The metadata of a round's ``last.pt`` (an interrupted round), checked for what a
    resume needs: ``epoch``, ``optimizer`` and ``losses``."""
    from c2fbench.models.checkpoint import read_checkpoint_meta

    meta = read_checkpoint_meta(path)
    problems = [key for key, kind in (("epoch", int), ("optimizer", dict), ("losses", list))
                if not isinstance(meta.get(key), kind) or isinstance(meta.get(key), bool)]
    if problems:
        raise InputError(f"{path}: not an epoch checkpoint (no {' or '.join(repr(p) for p in problems)}); "
                         "delete it to train that round from its start")
    return meta


def rounds_started(out: Path) -> int:
    """The highest round with a log line, a model or an epoch checkpoint (0: none)."""
    out = Path(out)
    started = [int(p.name[len("round-"):]) for p in out.glob("round-*")
               if p.is_dir() and p.name[len("round-"):].isdigit() and any(p.iterdir())]
    return max([0, *started, *read_log(out)])


def check_run_files(out: Path) -> None:
    """Every file a resume reads, before it writes anything."""
    from c2fbench.models.checkpoint import read_checkpoint_meta

    read_log(out)
    for last in sorted(Path(out).glob("round-*/last.pt")):
        check_epoch_checkpoint(last)
    for model in sorted(Path(out).glob("round-*/model.pt")):  # the next round starts from it
        read_checkpoint_meta(model)


def resume_config(out: Path, requested: dict, origin: dict | None = None) -> TrainConfig:
    """The configuration to resume ``out`` with: its own, with the ``requested`` values of
    RESUMABLE options applied; a requested value of any other option that differs from the
    run's is an InputError naming the option (``origin[key]``, e.g. ``--lr``) and the stored value."""
    stored = read_run_config(out)
    values = stored.to_flat()
    path = Path(out) / "config.json"
    origin = origin or {}
    requested = absolute_paths(check_types(requested, "the resumed configuration"))
    if requested.get("task", stored.task) != stored.task:
        from trainers.config import COMMAND_OF_TASK

        raise InputError(f"{out}: a {stored.task} run; resume it with `c2fbench {COMMAND_OF_TASK[stored.task]}`")
    changes = {}
    for key, value in requested.items():
        if value == values[key]:
            continue
        name = origin.get(key, key)
        if key not in RESUMABLE:
            raise InputError(f"--resume: {name} {json.dumps(value)} differs from this run's {key} "
                             f"{json.dumps(values[key])} ({path}); a resumed run keeps its settings "
                             f"(only {', '.join(RESUMABLE)} may change): start another --out, or --branch-from it")
        changes[key] = value
    if "rounds" in changes:
        started = rounds_started(out)
        if changes["rounds"] < started:
            raise InputError(f"--resume: {origin.get('rounds', 'rounds')} {changes['rounds']} is fewer than the "
                             f"{started} rounds this run has started ({out}); a run cannot be cut below them")
    cfg = stored.updated(**changes)
    validate(cfg)
    return cfg
