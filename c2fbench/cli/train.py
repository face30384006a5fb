"""``c2fbench train deeplab``: the recursive coarse-to-fine trainer (Algorithm 1)."""

from functools import partial
from pathlib import Path

import click

from c2fbench.cli.options import LibraryDefault

# every option shows its default plainly: the config's value, or the recipe's
option = partial(click.option, cls=LibraryDefault)

THREADS_OPTION = option(
    "--threads", type=click.IntRange(min=1, max=1024),
    help="torch threads (default: the recipe's, else the CPUs this process may use; never the load: "
         "the numbers follow the count, see docs/training.md).")


@click.group()
def train() -> None:
    """Train the paper's networks."""


def _defaults(task: str) -> dict:
    """What the command of ``task`` trains with where no recipe, --config or option sets a
    value: TrainConfig's defaults (the paper's settings) and the command's own
    (trainers/config.py, a light import). The options themselves default to None."""
    from trainers.config import command_defaults

    return command_defaults(task)


def _shown(name: str, task: str = "semantic") -> str:
    """The default --help shows for option ``name`` of the command of ``task``."""
    value = _defaults(task)[name]
    return f"recipe's, else {({True: 'on', False: 'off'}.get(value, value) if isinstance(value, bool) else value)}"


def _options(task: str):
    """Options shared by both trainers, their defaults shown as the command of ``task`` has them."""
    def flag(name: str) -> str:
        return f"--{name}/--no-{name}"

    def shown(name: str) -> str:
        return _shown(name, task)

    defaults = _defaults(task)
    drop = f"<{defaults['min_foreground']:.0%} or >{defaults['max_foreground']:.0%}"
    options = [
        option("--out", type=click.Path(file_okay=False, path_type=Path),
                     help="Run directory (required; not created with --print-config)."),
        option("--recipe", help="Shipped recipe (trainers/recipes/NAME.json; `c2fbench list recipes`)."),
        option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
                     help="JSON file of options, over the recipe (a run's own config.json reproduces it)."),
        option("--print-config", is_flag=True,
                     help="Print the configuration that would be used (recipe, --config and options resolved) "
                          "as JSON, and exit without creating anything."),
        option("--resume", is_flag=True,
                     help="Continue the run in --out from its last completed step, with its own settings; "
                          "--rounds may extend it (other changed options are refused)."),
        option("--branch-from", type=click.Path(file_okay=False, path_type=Path),
                     help="Start from this run's round-0 masks and round-1 model; only refinement options "
                          "(--[no-]refine-grabcut, --refine-init, --[no-]keep-own-category, --reinit, --rounds) "
                          "may differ: the Fig. 6 ablation without retraining round 1."),
        option("--arch", show_default=shown("arch"), help="Model name (`c2fbench list models`)."),
        option("--rounds", type=click.IntRange(min=1), show_default=shown("rounds"),
                     help="Rounds of Algorithm 1 (train, predict, refine)."),
        option("--epochs", type=click.IntRange(min=1), show_default=shown("epochs"),
                     help="Epochs per round (the paper gives rounds, not epochs)."),
        option("--later-epochs", type=click.IntRange(min=1),
                     help="Epochs of rounds 2 and later, which continue from the previous round (default: --epochs)."),
        option("--later-lr", type=click.FloatRange(min=0, min_open=True),
                     help="Learning rate of rounds 2 and later, which continue from a trained network (default: --lr)."),
        option("--batch-size", type=click.IntRange(min=1), show_default=shown("batch_size"),
                     help="Images per step (the paper: 12)."),
        option("--lr", type=click.FloatRange(min=0, min_open=True), show_default=shown("lr"),
                     help="Learning rate of the backbone, decayed by poly within each round (the paper: 2.5e-4)."),
        option("--resize", type=click.IntRange(min=8), show_default=shown("resize"),
                     help="Training images are resized to this square side (the paper: 321) ..."),
        option("--crop", type=click.IntRange(min=8), show_default=shown("crop"),
                     help="... then randomly cropped to this square side (the paper: 256; at most --resize)."),
        option("--scale-min", type=click.FloatRange(min=0, min_open=True), show_default=shown("scale_min"),
                     help="Random scaling before the crop, lowest factor (DeepLab v2: 0.5; the paper: 1)."),
        option("--scale-max", type=click.FloatRange(min=0, min_open=True), show_default=shown("scale_max"),
                     help="Random scaling before the crop, highest factor (DeepLab v2: 1.5; the paper: 1)."),
        option("--seed", type=int, show_default=shown("seed"), help="Seed of weights, crops and GrabCut."),
        option(flag("reinit"), default=None, show_default=shown("reinit"),
                     help="Start each round from fresh weights instead of the last round's."),
        option(flag("pretrained-backbone"), default=None,
                     show_default=shown("pretrained_backbone"),
                     help="torchvision's ImageNet backbone weights (downloaded once into torch's cache)."),
        option("--coarse-method", type=click.Choice(["saliency", "student"]),
                     show_default=shown("coarse_method"), help="Round-0 coarse masks (student: --student-weights)."),
        option("--student-weights", type=click.Path(dir_okay=False),
                     help="For --coarse-method student (`c2fbench masks student-train --out FILE`)."),
        option("--coarse-box", type=click.Choice(["tight", "robust"]), show_default=shown("coarse_box"),
                     help="The first GrabCut's box around the coarse mask (the paper: tight)."),
        option("--refine-init", type=click.Choice(["mask", "rect"]), show_default=shown("refine_init"),
                     help="How GrabCut starts from a prediction between rounds (see docs/training.md)."),
        option(flag("drop-outside"), default=None, show_default=shown("drop_outside"),
                     help=f"Strategy (a): drop images with {drop} foreground (min_foreground, max_foreground)."),
        option(flag("refine-grabcut"), default=None,
                     show_default=shown("refine_grabcut"), help="Strategy (c): GrabCut between rounds."),
        option("--loader-workers", type=click.IntRange(min=0), show_default=shown("loader_workers"),
                     help="DataLoader worker processes (results do not depend on it)."),
        option("--workers", type=click.IntRange(min=1), default=None,
                     help="Processes for masks and GrabCut (default: the free cores)."),
        option("--device", help="cpu, cuda, cuda:1 (default: cuda when present)."),
        option("--backbone-weights", type=click.Path(dir_okay=False),
                     help="Backbone pretrained on image-level labels (`c2fbench train classifier --out FILE`)."),
        option("--refine-argmax", type=click.Choice(["all", "label"]), show_default=shown("refine_argmax"),
                     help="Strategy (b): argmax over all classes, or over {background, the image's category}."),
        option("--refine-predict-at", type=click.Choice(["image", "train"]),
                     show_default=shown("refine_predict_at"),
                     help="Between-round predictions on the image as it is, or resized to --resize (training scale)."),
        option("--optimizer", type=click.Choice(["sgd", "adam"]), show_default=shown("optimizer"),
                     help="The paper: sgd."),
        option("--loss-resolution", metavar="input|output|input/N", show_default=shown("loss_resolution"),
                     help="The loss on logits upsampled to the crop, on labels shrunk to the output stride "
                          "(DeepLab v2's training), or both at the crop's size / N."),
        option(flag("drop-keeps-previous"), default=None,
                     show_default=shown("drop_keeps_previous"),
                     help="Not the paper: an image (a) drops keeps its previous round's mask."),
        option(flag("refine-tta"), default=None, show_default=shown("refine_tta"),
                     help="Between-round predictions averaged over scales 0.75/1/1.25 and flips."),
        option(flag("refine-crf"), default=None, show_default=shown("refine_crf"),
                     help="Dense CRF on the between-round predictions before (b) and (c) (extra c2fbench[crf])."),
        option(flag("initial-boxes"), default=None, show_default=shown("initial_boxes"),
                     help="Round 1 on the filled bounding box of each enhanced mask (Table I)."),
        option("--enhanced-box", type=click.Choice(["tight", "robust"]), show_default=shown("enhanced_box"),
                     help="That box: every foreground pixel's, or the 5th-95th percentile's "
                          "(see docs/reproduction.md, Table I)."),
        THREADS_OPTION,
    ]

    def decorate(f):
        for option in reversed(options):
            f = option(f)
        return f

    return decorate


def _run(*, task: str, images, images_option: str, out, recipe, config_file, resume, print_config, workers,
         device, options):
    """Resolve the configuration (or the resumed one), check every input, then train."""
    from c2fbench.errors import InputError
    from trainers.branch import BRANCHABLE, branch_after_round_one, branch_config, check_branch_source
    from trainers.config import COMMAND_DEFAULTS, check_types
    from trainers.resolve import load_recipe, resolve_config
    from trainers.rundir import resume_config

    branch_from = options.pop("branch_from")
    if out is None and (not print_config or resume or branch_from is not None):
        raise click.UsageError("Missing option '--out'.")
    if images is None and not print_config:
        raise click.UsageError(f"Missing option '{images_option}'.")
    if not print_config:  # the inputs in the configuration: trainers/preflight.py
        from c2fbench.files import check_output_apart

        check_output_apart(out, {"--config": config_file, "--branch-from": branch_from,
                                 "--recipe": recipe if recipe and Path(recipe).suffix else None})
    explicit = {k: v for k, v in options.items() if v is not None}  # every option defaults to None
    origin = {k: "--" + k.replace("_", "-") for k in explicit}
    if branch_from is not None:
        if resume:
            raise InputError(f"--branch-from {branch_from} starts a new run in --out; --resume continues one: "
                             "give one of them")
        check_branch_source(branch_from)  # a missing source first: then what may differ from it
        others = sorted(set(explicit) - set(BRANCHABLE)) + (["--recipe"] if recipe else []) + \
            (["--config"] if config_file else [])
        if others:
            raise InputError(f"--branch-from {branch_from}: {', '.join(others)} cannot differ from the source run "
                             f"(only {', '.join(BRANCHABLE)} act after round 1)")
        cfg = branch_config(branch_from, out, **explicit)
        if cfg.task != task:
            raise InputError(f"--branch-from {branch_from}: a {cfg.task} run; branch it with the command that "
                             "trained it")
    elif resume:
        requested, where = {}, {}
        for name, layer in ((f"recipe {recipe}", load_recipe(recipe) if recipe else {}),
                            (str(config_file), load_recipe(config_file, file=True) if config_file else {}),
                            ("command line", check_types(explicit, "command-line options"))):
            requested.update(layer)
            where.update({k: f"{k} (from {name})" for k in layer})
        where.update(origin)
        cfg = resume_config(out, {**requested, "task": task}, where)
    else:
        cfg = resolve_config(recipe=recipe, config=config_file, overrides=explicit, defaults=COMMAND_DEFAULTS[task],
                             task=task)
    if print_config:
        click.echo(cfg.to_json(), nl=False)
        return
    if branch_from is not None:
        from trainers.preflight import check_before_start

        check_before_start(cfg, images=images, out=out, resume=False, device=device)
        branch_after_round_one(branch_from, out, **explicit)
        resume = True
    _train(cfg, images=images, out=out, resume=resume, workers=workers, device=device)


def _train(cfg, *, images, out, resume, workers, device) -> None:
    from c2fbench.console import plural, success
    from c2fbench.parallel import default_workers
    from trainers.recursive import headline, train_recursive
    from trainers.train import TrainingDiverged

    try:
        line = train_recursive(cfg, images=images, out=out, resume=resume, workers=workers or default_workers(),
                               device=device, say_numerics=True)
    except TrainingDiverged as e:
        raise click.ClickException(str(e)) from None
    score = f", val {headline(line['val'])}" if "val" in line else ""
    success(f"trained {plural(line.get('round', cfg.rounds), 'round')}{score}; run directory {out} "
            "(final.pt, metrics.jsonl)")


_EXAMPLES = """\b
Examples:
  c2fbench data synth --out DATA --preset tiny
  c2fbench train {cmd} --{images} DATA/{path} --out runs/a --recipe {tiny} --val-root DATA
  c2fbench train {cmd} --{images} DATA/{path} --out runs/a --resume --rounds 3
  c2fbench train {cmd} --recipe {recipe} --lr 1e-3 --print-config
  c2fbench list recipes

Options marked "recipe's, else X" take the value of --recipe / --config when it sets one,
else X; an option given on the command line overrides both.
"""


@train.command(epilog=_EXAMPLES.format(cmd="deeplab", images="imagenet", path="imagenet", tiny="tiny",
                                       recipe="paper-voc"))
@option("--imagenet", type=click.Path(file_okay=False, path_type=Path),
              help="ImageNet-format folder (train/<wnid>/*.JPEG), e.g. the synthetic DATA/imagenet (required).")
@_options("semantic")
@option("--keep-own-category/--no-keep-own-category", default=None,
              show_default=_shown("keep_own_category"), help="Strategy (b): keep only the image's own category.")
@option("--val-root", type=click.Path(file_okay=False),
              help=f"VOC-format folder to evaluate every round on ({_defaults('semantic')['val_benchmark']}).")
def deeplab(imagenet, out, recipe, config_file, resume, print_config, workers, device, **options):
    """Recursive DeepLab training on image-level labels (Algorithm 1): 21 VOC classes."""
    _run(task="semantic", images=imagenet, images_option="--imagenet", out=out, recipe=recipe,
         config_file=config_file, resume=resume, print_config=print_config, workers=workers, device=device,
         options=options)


@train.command(epilog=_EXAMPLES.format(cmd="dfpn", images="images", path="imagenet/train", tiny="dfpn-tiny",
                                       recipe="dfpn-demo"))
@option("--images", type=click.Path(file_okay=False, path_type=Path),
              help="Training images (any folder tree; e.g. the synthetic DATA/imagenet/train) (required).")
@_options("foreground")
@option("--val-root", type=click.Path(file_okay=False),
              help="Object Discovery folder (holding Data/) to score J and P on every round.")
@option("--val-benchmark", type=click.Choice(["mit-subset", "mit-full"]),
              show_default=_shown("val_benchmark", "foreground"),
              help="The Object Discovery images to score: the 100-image subsets (the paper) or the full folders.")
def dfpn(images, out, recipe, config_file, resume, print_config, workers, device, **options):
    """Recursive foreground training (FPN / DFPN, section III-F): one foreground channel,
    strategies (a) and (c)."""
    _run(task="foreground", images=images, images_option="--images", out=out, recipe=recipe,
         config_file=config_file, resume=resume, print_config=print_config, workers=workers, device=device,
         options=options)


@train.command(epilog="""\b
Examples:
  c2fbench train classifier --images DATA/imagenet --arch deeplab_v2_vgg_lite --out bb.pt
  c2fbench train deeplab --imagenet DATA/imagenet --out runs/a --recipe demo --backbone-weights bb.pt
""")
@option("--images", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="ImageNet-format folder (train/<wnid>/*.JPEG): each image's label is its folder's class.")
@option("--arch", default="deeplab_v2_mobilenet", show_default=True,
              help="The segmentation model whose backbone to train (c2fbench.models.MODELS).")
@option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Backbone weights file, for `train deeplab|dfpn --backbone-weights`.")
@option("--epochs", type=click.IntRange(min=1), default=12, show_default=True,
              help="Epochs of image classification.")
@option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True, help="Images per step.")
@option("--lr", type=click.FloatRange(min=0, min_open=True), default=0.05, show_default=True,
              help="SGD learning rate, decayed by poly over all epochs.")
@option("--resize", type=click.IntRange(min=8), default=112, show_default=True,
              help="Images are resized to this square side ...")
@option("--crop", type=click.IntRange(min=8), default=96, show_default=True,
              help="... then randomly cropped to this square side (at most --resize; use the segmentation run's).")
@option("--holdout", type=click.IntRange(min=2), default=10, show_default=True,
              help="Hold out every N-th image of each class to report top-1.")
@option("--seed", type=int, default=0, show_default=True, help="Seed of weights, order and crops.")
@option("--resume", is_flag=True,
        help="Continue from OUT.partial (the last finished epoch), or keep a finished OUT; either only with "
             "the options that made it (the learning rate decays over all --epochs).")
@THREADS_OPTION
def classifier(images, arch, out, epochs, batch_size, lr, resize, crop, holdout, seed, resume, threads):
    """Pretrain a segmentation model's backbone as an image classifier on image-level labels."""
    from c2fbench.console import info, plural, progress, success
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
            f"({plural(result['held_out'], 'image')}, epoch {last['epoch']})")
