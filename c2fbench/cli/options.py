"""Option types shared by the commands."""

import math
from pathlib import Path

import click

from c2fbench.data import mit, voc

# --data-root of the commands that take a benchmark name: what find_voc_root, find_mit_root
# and find_coco_val search, in their words (c2fbench/data/).
DATA_ROOT_HELP = (f"voc-*: {voc.ROOT_FORMS} (up to two levels above VOC2012); mit-*: {mit.ROOT_FORMS}; "
                  f"coco-val: the folder holding SegmentationClass/val2014/ and val2014/.")

class FiniteFloatRange(click.FloatRange):
    """``click.FloatRange`` that also refuses ``nan``: NaN compares false with both bounds,
    so FloatRange lets it through (``--threshold nan`` scored every mask as background)."""

    name = "float range"

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if isinstance(number, float) and math.isnan(number):
            self.fail(f"{value!r} is not a number; expected {self._describe_range()}", param, ctx)
        return number


class LibraryDefault(click.Option):
    """An option that defaults to None (the library then applies its own constant) and shows
    that constant in ``--help`` as a plain default: give it as ``show_default=str(CONSTANT)``.
    Click would print a string ``show_default`` in parentheses, as if it were a remark."""

    def get_help_extra(self, ctx):
        extra = super().get_help_extra(ctx)
        if isinstance(self.show_default, str):
            extra["default"] = self.show_default
        return extra


_FOREIGN_OPTIONS = (
    click.option("--weights", type=click.Path(dir_okay=False, path_type=Path),
                 help="With --model torchvision:NAME: its state dict (or a checkpoint holding 'model'); "
                      "read with torch.load(weights_only=True), nothing is downloaded."),
    click.option("--classes", type=click.Choice(["voc", "coco", "mit"]),
                 help="Class names of a model without c2fbench metadata (an ONNX file from elsewhere, torchvision:NAME "
                      "[default: voc], a state dict with --arch MODULE:FUNCTION): voc (21), coco (81: background and the 80 categories in id order), mit "
                      "(foreground; background and foreground for two channels)."),
    click.option("--mean", metavar="R,G,B",
                 help="Input mean of such a model on the 0-1 scale (c2fbench divides images by 255 first; "
                      "ImageNet: 0.485,0.456,0.406) [torchvision:NAME default: ImageNet's]."),
    click.option("--std", metavar="R,G,B", help="Input std, 0-1 scale, with --mean (ImageNet: 0.229,0.224,0.225)."),
    click.option("--no-normalize", is_flag=True, help="The model takes the 0-1 image as it is (mean 0, std 1)."),
)


def foreign_model_options(command):
    """Adds ``--weights --classes --mean --std --no-normalize`` (models without c2fbench
    metadata; see :mod:`deploy.foreign`) to a command."""
    for option in reversed(_FOREIGN_OPTIONS):
        command = option(command)
    return command


_ARCH_OPTIONS = (
    click.option("--arch", metavar="MODULE:FUNCTION",
                 help="The network of a --model FILE that holds weights alone (a state dict, .pth or .pt): "
                      "torchvision:NAME, one of torchvision's segmentation models, or MODULE:FUNCTION (or "
                      "FILE.py:FUNCTION), a function or class of your own code that builds it "
                      "(importable from the current folder or PYTHONPATH, or a .py file). Your code is imported and "
                      "run; the weights are read with torch.load(weights_only=True) first."),
    click.option("--arch-kwargs", metavar="JSON",
                 help="Keyword arguments for --arch MODULE:FUNCTION, a JSON object, e.g. '{\"num_classes\": 21}'."),
)


def arch_options(command):
    """Adds ``--arch --arch-kwargs`` (a state dict's network; see :mod:`deploy.user_models`)
    to a command."""
    for option in reversed(_ARCH_OPTIONS):
        command = option(command)
    return command


def or_default(value, default):
    """An option's value, or the default its --help shows when it was not given."""
    return default if value is None else value
