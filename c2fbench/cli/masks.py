"""``c2fbench masks``: coarse masks, GrabCut enhancement, label assignment."""

from pathlib import Path

import click

from c2fbench.cli.masks_student import student_train

DirPath = click.Path(file_okay=False, path_type=Path)


def _run_options(f):
    f = click.option("--strict", is_flag=True, help="Stop at the first unreadable image instead of skipping it.")(f)
    f = click.option("--shard", metavar="K/N",
                     help="Process the K-th of N shares (K = 0..N-1); under torchrun RANK/WORLD_SIZE decide.")(f)
    f = click.option("--workers", type=click.IntRange(min=1), default=None, help="Processes (default: all CPUs).")(f)
    return f


RESUME_NOTE = """
\b
A rerun into the same --out resumes: finished images are skipped, and options that
change the outputs must be the same (they are kept in OUT/options.json). Unreadable
images are skipped, counted and listed in OUT/failed.json (failed-K-of-N.json when
sharded); the run fails (exit 2) when every image failed."""


def _run(job, ids, out, *, workers, shard, strict):
    """Run ``job`` over ``ids`` with a progress bar and print the summary."""
    from c2fbench.console import info, progress, success, warn
    from c2fbench.errors import InputError
    from c2fbench.masks.runner import Shard, failure_message, run_job
    from c2fbench.parallel import default_workers

    from c2fbench.files import check_out_folder

    check_out_folder(out)
    if getattr(job, "soft_out", None) is not None:
        check_out_folder(job.soft_out, "--soft-out")
    shard = Shard.resolve(shard)  # before anything is written
    with progress(len(shard.take(ids)), job.name) as advance:
        summary = run_job(job, ids, out=out, shard=shard, workers=workers or default_workers(), strict=strict,
                          advance=advance, warn=warn)
    problem = failure_message(summary, out)
    if problem:
        raise InputError(problem)
    counts = ", ".join(f"{k} {v}" for k, v in summary.stats.items()) or "none"
    info(f"{summary.done} done, {summary.skipped_existing} already there, {summary.failed} failed; "
         f"counted events over all {summary.finished} finished: {counts}")
    if summary.failed:
        warn(f"{summary.failed} of {summary.total} images failed, listed in {out / summary.failed_list}")
    success(f"{job.name}: outputs in {out} (summary in {out / shard.summary_name})")


@click.group()
def masks() -> None:
    """Coarse masks, GrabCut enhancement and label maps (Algorithm 1, lines 1-2)."""


masks.add_command(student_train)


@masks.command(epilog="""
\b
Examples:
  c2fbench masks coarse --images synth/imagenet/train --out masks/coarse
  c2fbench masks coarse --images synth/imagenet/train --out masks/student \\
      --method student --weights student.pt
  c2fbench masks coarse --images imagenet/train --out masks/coarse --shard 0/4   (one of 4 jobs)
""" + RESUME_NOTE)
@click.option("--images", type=DirPath, required=True, help="Image tree, e.g. imagenet/train.")
@click.option("--out", type=DirPath, required=True, help="Mirrored tree of 0/255 mask PNGs.")
@click.option("--method", type=click.Choice(["saliency", "student"]), default="saliency", show_default=True,
              help="saliency: the OpenCV teacher (fast baseline); student: the paper's student network.")
@click.option("--weights", type=click.Path(dir_okay=False, path_type=Path),
              help="Student network checkpoint or compatible state dict (from masks student-train).")
@click.option("--saliency", type=click.Choice(["spectral", "fine"]), default="spectral", show_default=True,
              help="OpenCV saliency for --method saliency.")
@click.option("--threshold", default="mean", show_default=True,
              help="Binarise soft maps at their mean, or at this fraction of their maximum (e.g. 0.5).")
@click.option("--soft-out", type=DirPath, help="Also write the soft maps (8-bit PNG) to this tree.")
@_run_options
def coarse(images, out, method, weights, saliency, threshold, soft_out, workers, shard, strict):
    """Coarse foreground masks (Algorithm 1, line 1)."""
    from c2fbench.data.images import list_images
    from c2fbench.errors import InputError
    from c2fbench.masks.coarse import CoarseJob

    if threshold != "mean":
        try:
            threshold = float(threshold)
        except ValueError:
            raise InputError(f"--threshold {threshold!r}: expected 'mean' or a number in (0, 1]") from None
        if not 0 < threshold <= 1:
            raise InputError(f"--threshold {threshold}: expected 'mean' or a number in (0, 1]")
    if method != "student" and weights is not None:  # it would be recorded, unused, in options.json
        raise InputError(f"--weights {weights}: the student's checkpoint, for --method student (this run: "
                         f"--method {method})")
    if method == "student":
        if weights is None:
            raise InputError("--method student needs --weights FILE (train one with `c2fbench masks student-train`)")
        from c2fbench.masks.student import load_student

        load_student(weights)  # refuse a bad file before starting workers
    job = CoarseJob(images, out, method=method, saliency=saliency, weights=weights, threshold=threshold,
                    soft_out=soft_out)
    _run(job, list_images(images), out, workers=workers, shard=shard, strict=strict)


@masks.command(epilog="""
\b
Examples:
  c2fbench masks enhance --images synth/imagenet/train --coarse masks/coarse --out masks/enhanced
  c2fbench masks enhance --images imagenet/train --coarse masks/coarse --out masks/enhanced \\
      --box robust --scale 0.5 --workers 8
""" + RESUME_NOTE)
@click.option("--images", type=DirPath, required=True, help="Image tree, e.g. imagenet/train.")
@click.option("--coarse", type=DirPath, required=True, help="Coarse masks from `masks coarse` (same ids).")
@click.option("--out", type=DirPath, required=True, help="Mirrored tree of enhanced 0/255 mask PNGs.")
@click.option("--iterations", type=click.IntRange(min=1), default=5, show_default=True,
              help="GrabCut iterations per image.")
@click.option("--init", type=click.Choice(["rect", "mask"]), default="rect", show_default=True,
              help="rect: the coarse mask's bounding box (the paper); mask: a trimap from the mask.")
@click.option("--box", type=click.Choice(["tight", "robust"]), default="tight", show_default=True,
              help="tight: the smallest box of the coarse mask (the paper); robust: its 5-95th percentile box.")
@click.option("--scale", type=click.FloatRange(min=0, max=1, min_open=True), default=1.0, show_default=True,
              help="Run GrabCut on the image resized by this factor, then resize the mask back.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of GrabCut's GMM initialisation; each image's own seed derives from it and its id.")
@_run_options
def enhance(images, coarse, out, iterations, init, box, scale, seed, workers, shard, strict):
    """GrabCut enhancement of coarse masks (Algorithm 1, line 2)."""
    from c2fbench.data.images import list_images
    from c2fbench.errors import InputError
    from c2fbench.masks.enhance import EnhanceJob

    if not coarse.is_dir():
        raise InputError(f"{coarse}: coarse mask folder not found")
    job = EnhanceJob(images, coarse, out, init=init, box=box, iterations=iterations, scale=scale, seed=seed)
    _run(job, list_images(images), out, workers=workers, shard=shard, strict=strict)


@masks.command(epilog="""
\b
Example:
  c2fbench masks labels --masks masks/enhanced --out masks/labels
""" + RESUME_NOTE)
@click.option("--masks", "masks_dir", type=DirPath, required=True, help="Tree of foreground masks <wnid>/<stem>.png.")
@click.option("--out", type=DirPath, required=True, help="Mirrored tree of VOC palette label PNGs.")
@_run_options
def labels(masks_dir, out, workers, shard, strict):
    """Label maps: the image's category (its ImageNet folder's VOC class) on the foreground."""
    from c2fbench.data.images import list_images
    from c2fbench.data.imagenet import wnid_to_voc_label
    from c2fbench.masks.categories import LabelJob

    job = LabelJob(masks_dir, out, wnid_to_voc_label())
    _run(job, list_images(masks_dir), out, workers=workers, shard=shard, strict=strict)


@masks.command(epilog="""
\b
Example (synthetic data hides the true masks in imagenet/masks):
  c2fbench masks score --masks masks/enhanced --truth synth/imagenet/masks
""")
@click.option("--masks", "masks_dir", type=DirPath, required=True, help="Tree of foreground masks <id>.png.")
@click.option("--truth", type=DirPath, required=True, help="Ground-truth masks with the same ids (e.g. imagenet/masks).")
def score(masks_dir, truth):
    """Mask quality: IoU of each mask with its hidden ground truth (synthetic data has it)."""
    from c2fbench.console import out
    from c2fbench.masks.quality import score_masks

    result = score_masks(masks_dir, truth)
    if not result["num_images"]:
        from c2fbench.errors import InputError

        raise InputError(f"{masks_dir}: no mask to score (every label map there is entirely void: images dropped between rounds)")
    out.print(f"{result['num_images']} masks: mean IoU {result['mean_iou']:.2f}, dataset IoU "
              f"{result['dataset_iou']:.2f}, empty {result['empty_masks']}")
