"""``c2fbench train deeplab``: the recursive coarse-to-fine trainer (Algorithm 1)."""

from pathlib import Path

import click
from click.core import ParameterSource


THREADS_OPTION = click.option(
    "--threads", type=click.IntRange(min=1),
    help="torch threads (default: the cores not already busy, by the load average; see README).")


@click.group()
def train() -> None:
    """Train the paper's networks."""


def _options(f):
    """Options shared by both trainers (the paper's settings as defaults)."""
    options = [
        click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Run directory."),
        click.option("--recipe", help="Shipped recipe (trainers/recipes/NAME.json): paper-voc, demo, dfpn-demo, ..."),
        click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
                     help="JSON file of options (a run's own config.json reproduces it)."),
        click.option("--resume", is_flag=True, help="Continue the run in --out from its last completed step."),
        click.option("--branch-from", type=click.Path(file_okay=False, path_type=Path),
                     help="Start from this run's round-0 masks and round-1 model; only refinement options "
                          "(--[no-]refine-grabcut, --refine-init, --[no-]keep-own-category, --reinit, --rounds) "
                          "may differ: the Fig. 6 ablation without retraining round 1."),
        click.option("--arch", help="Model name from c2fbench.models.MODELS."),
        click.option("--rounds", type=click.IntRange(min=1), default=5, show_default=True),
        click.option("--epochs", type=click.IntRange(min=1), default=2, show_default=True, help="Epochs per round."),
        click.option("--batch-size", type=click.IntRange(min=1), default=12, show_default=True),
        click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=2.5e-4, show_default=True),
        click.option("--resize", type=click.IntRange(min=8), default=321, show_default=True),
        click.option("--crop", type=click.IntRange(min=8), default=256, show_default=True),
        click.option("--scale-min", type=click.FloatRange(min=0, min_open=True),
                     help="Random scaling before the crop, lowest factor (DeepLab v2: 0.5; the paper: 1)."),
        click.option("--scale-max", type=click.FloatRange(min=0, min_open=True),
                     help="Random scaling before the crop, highest factor (DeepLab v2: 1.5; the paper: 1)."),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--reinit", is_flag=True, help="Start each round from fresh weights instead of the last round's."),
        click.option("--pretrained-backbone", is_flag=True, help="ImageNet backbone weights (downloads; needs network)."),
        click.option("--coarse-method", type=click.Choice(["saliency", "student"]), default="saliency",
                     show_default=True),
        click.option("--student-weights", type=click.Path(dir_okay=False), help="For --coarse-method student."),
        click.option("--coarse-box", type=click.Choice(["tight", "robust"]), default="tight", show_default=True),
        click.option("--refine-init", type=click.Choice(["mask", "rect"]), default="mask", show_default=True,
                     help="How GrabCut starts from a prediction between rounds (see README)."),
        click.option("--drop-outside/--no-drop-outside", default=True, help="Strategy (a): drop <1% or >80% fg."),
        click.option("--refine-grabcut/--no-refine-grabcut", default=True, help="Strategy (c): GrabCut between rounds."),
        click.option("--loader-workers", type=click.IntRange(min=0), default=0, show_default=True),
        click.option("--workers", type=click.IntRange(min=1), default=None, help="Processes for masks and GrabCut."),
        click.option("--device", help="cpu, cuda, cuda:1 (default: cuda when present)."),
        click.option("--backbone-weights", type=click.Path(dir_okay=False),
                     help="Backbone pretrained on image-level labels (`c2fbench train classifier --out FILE`)."),
        click.option("--refine-argmax", type=click.Choice(["all", "label"]),
                     help="Strategy (b): argmax over all classes, or over {background, the image's category}."),
        click.option("--refine-predict-at", type=click.Choice(["image", "train"]),
                     help="Between-round predictions on the image as it is, or resized to --resize (training scale)."),
        click.option("--optimizer", type=click.Choice(["sgd", "adam"]), help="The paper: sgd."),
        click.option("--drop-keeps-previous", is_flag=True, default=None,
                     help="Not the paper: an image (a) drops keeps its previous round's mask."),
        click.option("--refine-tta/--no-refine-tta", default=None,
                     help="Between-round predictions averaged over scales 0.75/1/1.25 and flips."),
        click.option("--refine-crf/--no-refine-crf", default=None,
                     help="Dense CRF on the between-round predictions before (b) and (c) (extra c2fbench[crf])."),
        click.option("--initial-boxes", is_flag=True, default=None,
                     help="Round 1 on the filled bounding box of each enhanced mask (Table I)."),
        THREADS_OPTION,
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _run(ctx, images, out, recipe, config_file, resume, workers, device, options, fixed):
    from c2fbench.console import success
    from c2fbench.threads import set_threads
    from c2fbench.errors import InputError
    from c2fbench.parallel import default_workers
    from trainers.branch import BRANCHABLE, branch_after_round_one
    from trainers.config import resolve_config
    from trainers.recursive import headline, train_recursive
    from trainers.train import TrainingDiverged

    branch_from = options.pop("branch_from")
    set_threads(options.pop("threads"))
    explicit = {k: v for k, v in options.items() if ctx.get_parameter_source(k) == ParameterSource.COMMANDLINE}
    defaults = {k: v for k, v in options.items() if k not in explicit and v is not None}
    base = {} if (recipe or config_file) else defaults
    if branch_from is not None:
        others = sorted(set(explicit) - set(BRANCHABLE)) + (["--recipe"] if recipe else []) + \
            (["--config"] if config_file else []) + (["--resume"] if resume else [])
        if others:
            raise InputError(f"--branch-from {branch_from}: {', '.join(others)} cannot differ from the source run "
                             f"(only {', '.join(BRANCHABLE)} act after round 1)")
        cfg, resume = branch_after_round_one(branch_from, out, **explicit), True
    else:
        cfg = resolve_config(recipe=recipe, config=config_file, overrides={**base, **fixed, **explicit})
    try:
        line = train_recursive(cfg, images=images, out=out, resume=resume, workers=workers or default_workers(),
                               device=device)
    except TrainingDiverged as e:
        raise click.ClickException(str(e)) from None
    score = f", val {headline(line['val'])}" if "val" in line else ""
    success(f"trained {line.get('round', cfg.rounds)} rounds{score}; run directory {out} (final.pt, metrics.jsonl)")


@train.command()
@click.option("--imagenet", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="ImageNet-format folder (train/<wnid>/*.JPEG), e.g. the synthetic DATA/imagenet.")
@_options
@click.option("--keep-own-category/--no-keep-own-category", default=True, help="Strategy (b).")
@click.option("--val-root", type=click.Path(file_okay=False), help="VOC-format folder to evaluate every round on.")
@click.pass_context
def deeplab(ctx, imagenet, out, recipe, config_file, resume, workers, device, **options):
    """Recursive DeepLab training on image-level labels (Algorithm 1)."""
    if options.get("arch") is None:
        options.pop("arch")
    _run(ctx, imagenet, out, recipe, config_file, resume, workers, device, options, {})


@train.command()
@click.option("--images", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Training images (any folder tree; e.g. the synthetic DATA/imagenet/train).")
@_options
@click.option("--val-root", type=click.Path(file_okay=False),
              help="Object Discovery folder (holding Data/) to score J and P on every round.")
@click.option("--val-benchmark", type=click.Choice(["mit-subset", "mit-full"]), default="mit-subset",
              show_default=True)
@click.pass_context
def dfpn(ctx, images, out, recipe, config_file, resume, workers, device, **options):
    """Recursive foreground training (FPN / DFPN, section III-F): strategies (a) and (c)."""
    if options.get("arch") is None:
        options["arch"] = "dfpn_resnet101"
    _run(ctx, images, out, recipe, config_file, resume, workers, device, options,
         {"task": "foreground", "keep_own_category": True})


@train.command()
@click.option("--images", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="ImageNet-format folder (train/<wnid>/*.JPEG): each image's label is its folder's class.")
@click.option("--arch", default="deeplab_v2_mobilenet", show_default=True,
              help="The segmentation model whose backbone to train (c2fbench.models.MODELS).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Backbone weights file, for `train deeplab|dfpn --backbone-weights`.")
@click.option("--epochs", type=click.IntRange(min=1), default=12, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=0.05, show_default=True)
@click.option("--resize", type=click.IntRange(min=8), default=112, show_default=True)
@click.option("--crop", type=click.IntRange(min=8), default=96, show_default=True)
@click.option("--holdout", type=click.IntRange(min=2), default=10, show_default=True,
              help="Hold out every N-th image of each class to report top-1.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--resume", is_flag=True, help="Continue from OUT.partial (the last finished epoch).")
@THREADS_OPTION
def classifier(images, arch, out, epochs, batch_size, lr, resize, crop, holdout, seed, resume, threads):
    """Pretrain a segmentation model's backbone as an image classifier on image-level labels."""
    from c2fbench.console import info, progress, success
    from c2fbench.errors import InputError
    from c2fbench.models import MODELS
    from c2fbench.threads import set_threads
    from trainers.classifier import ClassifierConfig, run_classifier

    if arch not in MODELS:
        raise InputError(f"unknown model architecture {arch!r}; known: {', '.join(MODELS)}")
    if crop > resize:
        raise InputError(f"--crop {crop} must not exceed --resize {resize}")
    set_threads(threads)
    cfg = ClassifierConfig(arch=arch, epochs=epochs, batch_size=batch_size, lr=lr, resize=resize, crop=crop,
                           holdout=holdout, seed=seed)
    result = run_classifier(images, out, cfg, resume=resume, progress=progress, info=info)
    last = result["history"][-1]
    success(f"backbone of {arch} written to {out}: held-out top-1 {last['top1']:.1f}% "
            f"({result['held_out']} images, epoch {last['epoch']})")
