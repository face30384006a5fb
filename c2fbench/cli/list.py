"""``c2fbench list recipes|models|benchmarks``: what the names on the command line can be."""

import click

from c2fbench.data.voc import ROOT_FORMS as VOC

# What each benchmark scores and what its --data-root holds (c2fbench.eval.benchmarks loads them).
_BENCHMARKS = {
    "voc-val": ("semantic", "mIoU over 21 classes", f"{VOC}: val.txt, 1,449 images"),
    "voc-train": ("semantic", "mIoU over 21 classes", f"{VOC}: train.txt, 1,464 images"),
    "voc-train-aug": ("semantic", "mIoU over 21 classes",
                      f"{VOC}, with SegmentationClassAug/ and ImageSets/Segmentation/train_aug.txt "
                      f"(10,582 images, SBD labels)"),
    # COCO's own count: val2014 holds 40,504 images (instances_val2014.json; Lin et al. arXiv:1405.0312,
    # "Dataset Splits"); data coco-labels writes the 40,137 with an annotation (coco2voc's rule, --empty skip).
    "coco-val": ("semantic", "mIoU over 81 classes",
                 "COCO 2014: SegmentationClass/val2014 (data coco-labels: 40,137 of val2014's 40,504 images, "
                 "those with annotations) and val2014/"),
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

        from deploy.torchvision_models import NAMES

        # three columns, the description folded (never cut) so that the table fits 80 columns
        table.caption = "; ".join(f"{task}: {command} --arch NAME" for task, command in COMMAND_OF_TASK.items())
        table.add_column("model", no_wrap=True)
        table.add_column("task", no_wrap=True)
        table.add_column("description", overflow="fold")
        for name, builder in MODELS.items():
            table.add_row(name, arch_task(name), _first_sentence(builder.__doc__))
        out.print(table)
        out.print(f"\ntorchvision's segmentation models, for eval, predict and deploy profile as --model "
                  f"torchvision:NAME --weights FILE (a state dict; --classes if not VOC's 21): {', '.join(NAMES)}",
                  markup=False)
        return
    else:
        from c2fbench.eval.benchmarks import BENCHMARKS

        table.caption = "voc-* and coco-val also score any list of image ids: eval --split FILE"
        for column in ("benchmark", "task", "metric", "--data-root"):
            table.add_column(column, overflow="fold")  # folded, never cut with "…"
        for name in BENCHMARKS:
            table.add_row(name, *_BENCHMARKS[name])  # every benchmark needs its row (tests/eval)
    out.print(table)


def _first_sentence(doc: str | None) -> str:
    """A docstring's first sentence, without Sphinx markup."""
    import re

    text = " ".join((doc or "").split())
    text = re.sub(r":\w+:`([^`]+)`", r"\1", text).replace("``", "")
    return re.split(r"(?<=[.:])\s", text, maxsplit=1)[0].rstrip(":.")
