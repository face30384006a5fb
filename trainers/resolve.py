"""Where a run's configuration comes from, each layer over the last: TrainConfig's defaults,
the command's own (``train dfpn``: a DFPN), a shipped recipe (``--recipe``), a JSON file of
options (``--config``), explicit command-line options. Every layer is a flat object of
options (trainers.config.FLAT_KEYS), checked for type as it is read and named in errors.
"""

from __future__ import annotations

from pathlib import Path

from c2fbench.errors import InputError
from c2fbench.jsonfile import read_json
from trainers.config import (COMMAND_OF_TASK, DEFAULT_VAL_BENCHMARK, RECIPES_DIR, TASKS, TrainConfig, absolute_paths,
                             arch_task, check_types, shipped_recipes, validate, without_record)


def read_json_object(path: Path, what: str) -> dict:
    """A JSON object from ``path`` (at most 1 MiB, nested at most a few levels); InputError
    naming the file when it is missing or not one (a FIFO or a link to a device is refused
    unopened). The reading is c2fbench.jsonfile's, so JSON nested thousands deep is one line too."""
    values = read_json(path, what, max_bytes=1 << 20)
    if not isinstance(values, dict):
        raise InputError(f"{path}: expected a JSON object of options")
    return values


def load_recipe(name_or_path: str | Path, *, file: bool = False) -> dict:
    """A shipped recipe by name (trainers/recipes/NAME.json) or a JSON file of options (always
    a file with ``file``, as ``--config`` is, whatever its name)."""
    path = Path(name_or_path)
    if not file and not path.suffix:
        path = RECIPES_DIR / f"{name_or_path}.json"
        if not path.is_file():
            known = ", ".join(shipped_recipes())
            raise InputError(f"unknown recipe {name_or_path!r} (shipped: {known})")
    values = read_json_object(path, "config file")
    values.pop("_comment", None)
    return check_types(without_record(values), str(path))


def resolve_config(*, recipe: str | None, config: Path | None, overrides: dict, defaults: dict | None = None,
                   task: str | None = None) -> TrainConfig:
    """TrainConfig's defaults, then ``defaults`` (a command's own), the recipe, ``--config``,
    then explicit command-line options ``overrides``.

    With ``task`` (the command's), a source that sets another task, or an architecture of
    another task, is an InputError naming where it came from.
    """
    values, origin = {}, {}
    layers = [("this command's defaults", defaults or {}),
              (f"recipe {recipe}", load_recipe(recipe) if recipe else {}),
              (str(config), load_recipe(config, file=True) if config else {}),
              ("the command line", check_types(overrides, "command-line options"))]
    for name, layer in layers:
        values.update(layer)
        origin.update(dict.fromkeys(layer, name))
    if task is not None:
        check_task(values, origin, task)
        values["task"] = task
    values.setdefault("val_benchmark", DEFAULT_VAL_BENCHMARK.get(values.get("task", "semantic"), "voc-val"))
    cfg = TrainConfig.from_flat(absolute_paths(values))
    validate(cfg, origin=origin)
    return cfg


def check_task(values: dict, origin: dict, task: str) -> None:
    """Refuse a recipe, config or option of the other task (``task``: the command's)."""
    def others(t: str) -> str:
        names = [n for n, r in shipped_recipes().items()
                 if r.get("task", "semantic") == t and arch_task(r.get("arch", "")) == t]
        return f"{t} recipes: {', '.join(names)}"

    command = COMMAND_OF_TASK[task]
    given = values.get("task", task)
    if given != task:
        if given not in COMMAND_OF_TASK:
            raise InputError(f"{origin['task']}: task must be one of {', '.join(TASKS)}, got {given!r}")
        raise InputError(f"{origin['task']} sets task {given} (for `c2fbench {COMMAND_OF_TASK[given]}`); "
                         f"`c2fbench {command}` trains {task} models ({others(task)})")
    arch = values.get("arch", TrainConfig.arch)
    if arch_task(arch) != task:
        where = origin.get("arch", "the default")
        raise InputError(f"arch {arch} (from {where}) is a {arch_task(arch)} model (for `c2fbench "
                         f"{COMMAND_OF_TASK[arch_task(arch)]}`); `c2fbench {command}` trains {task} models "
                         f"({'fpn_*, dfpn_*' if task == 'foreground' else 'deeplab_*'}; {others(task)})")
