"""``c2fbench list recipes|models|benchmarks``: what the names on the command line can be."""

import click

# What each benchmark scores and what its --data-root holds (c2fbench.eval.benchmarks loads them).
_BENCHMARKS = {
    "voc-val": ("semantic", "mIoU over 21 classes", "VOCdevkit/VOC2012 (val split), or a folder above it"),
    "voc-train": ("semantic", "mIoU over 21 classes", "VOCdevkit/VOC2012 (train split), or a folder above it"),
    "coco-val": ("semantic", "mIoU over 81 classes", "COCO (SegmentationClass/val2014 from data coco-labels, val2014)"),
    "mit-subset": ("foreground", "J and P per class", "Object Discovery (Data/*100, the paper's subsets)"),
    "mit-full": ("foreground", "J and P per class", "Object Discovery (Data/Airplane, Car, Horse)"),
}


@click.command("list", epilog="""
\b
Examples:
  c2fbench list recipes
  c2fbench list models
  c2fbench list benchmarks
""")
@click.argument("what", type=click.Choice(["recipes", "models", "benchmarks"]))
def list_command(what: str) -> None:
    """List the shipped training recipes, the model architectures or the benchmarks."""
    from rich.table import Table

    from c2fbench.console import out

    table = Table(show_edge=False)
    if what == "recipes":
        from trainers.config import COMMAND_OF_TASK, TrainConfig, shipped_recipes

        table.caption = "; ".join(f"{task} recipes: c2fbench {command} --recipe NAME"
                                  for task, command in COMMAND_OF_TASK.items())
        for column in ("recipe", "task", "arch", "rounds", "epochs"):
            table.add_column(column, justify="right" if column in ("rounds", "epochs") else "left", no_wrap=True)
        for name, recipe in shipped_recipes().items():
            table.add_row(name, recipe.get("task", TrainConfig.task), recipe.get("arch", TrainConfig.arch),
                          str(recipe.get("rounds", TrainConfig.rounds)), str(recipe.get("epochs", TrainConfig.epochs)))
    elif what == "models":
        from c2fbench.models import MODELS
        from trainers.config import COMMAND_OF_TASK, arch_task

        for column in ("model", "task", "command", "description"):
            table.add_column(column, no_wrap=column != "description")
        for name, builder in MODELS.items():
            table.add_row(name, arch_task(name), COMMAND_OF_TASK[arch_task(name)], _first_sentence(builder.__doc__))
    else:
        from c2fbench.eval.benchmarks import BENCHMARKS

        for column in ("benchmark", "task", "metric", "--data-root"):
            table.add_column(column)
        for name in BENCHMARKS:
            table.add_row(name, *_BENCHMARKS[name])  # every benchmark needs its row (tests/eval)
    out.print(table)


def _first_sentence(doc: str | None) -> str:
    """A docstring's first sentence, without Sphinx markup."""
    import re

    text = " ".join((doc or "").split())
    text = re.sub(r":\w+:`([^`]+)`", r"\1", text).replace("``", "")
    return re.split(r"(?<=[.:])\s", text, maxsplit=1)[0].rstrip(":.")
