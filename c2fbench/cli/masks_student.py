"""``c2fbench masks student-train``: train the Croitoru et al. student on a saliency teacher."""

from pathlib import Path

import click


@click.command("student-train", epilog="""
\b
Examples:
  c2fbench masks student-train --images synth/imagenet/train --out student.pt --width 32
      (on a CPU: about a minute on the tiny preset with one thread)
  c2fbench masks student-train --images imagenet/train --out student.pt --device cuda
      (the paper's width 256, for a GPU: about an hour on the tiny preset with one CPU thread)
""")
@click.option("--images", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="Image tree to train on (e.g. imagenet/train); no labels are used.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Checkpoint file to write (.pt).")
@click.option("--teacher", type=click.Choice(["spectral", "fine"]), default="spectral", show_default=True,
              help="OpenCV saliency teacher: spectral residual or fine-grained.")
@click.option("--keep", type=click.FloatRange(0, 1, min_open=True), default=0.15, show_default=True,
              help="Fraction of the most confident teacher masks to train on (the authors keep 10-20%), "
                   "but at least one batch of images: on fewer than batch-size / keep images (about 213 at "
                   "the defaults) that is more than this fraction.")
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True,
              help="Passes over the kept images.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True,
              help="Images per Adam step (the authors' 32); also the fewest images kept.")
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=1e-3, show_default=True,
              help="Adam learning rate.")
@click.option("--width", type=click.IntRange(min=1), default=256, show_default=True,
              help="Channels of every convolution: the paper's 256 is for a GPU (about an hour on the tiny "
                   "preset with one CPU thread); 32 trains there in about a minute.")
@click.option("--head-channels", type=click.IntRange(min=1), default=64, show_default=True,
              help="Channels of the last convolution, before the fully connected layer.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the initial weights, crops and flips (runs on the CPU repeat exactly).")
@click.option("--device", help="cpu, cuda or cuda:N (default: CUDA when present, else the CPU).")
def student_train(images: Path, out: Path, teacher: str, keep: float, epochs: int, batch_size: int, lr: float,
                  width: int, head_channels: int, seed: int, device: str | None) -> None:
    """Train the student network on the teacher's most confident masks (Algorithm 1, line 1).

    It keeps the --keep fraction of the teacher's masks, ranked by confidence, but at least
    one batch (--batch-size) of them."""
    from c2fbench.console import progress, success, warn
    from c2fbench.data.images import list_images
    from c2fbench.devices import resolve_device
    from c2fbench.masks.student_train import progress_total, train_student

    from c2fbench.files import check_output_apart

    check_output_apart(out, {"--images": images})
    device = resolve_device(device)
    if out.exists() or out.is_symlink():  # a student is replaced; any other file is kept
        from c2fbench.errors import InputError
        from c2fbench.masks.student import load_student

        try:
            load_student(out)
        except InputError as e:
            raise InputError(f"{out}: exists and is not a student checkpoint, left as it is ({e}); choose "
                             "another --out (an existing student checkpoint would be replaced)") from None

    total = progress_total(len(list_images(images)), keep=keep, batch_size=batch_size, epochs=epochs)
    with progress(total, "student-train") as advance:
        summary = train_student(images, out, teacher=teacher, keep=keep, epochs=epochs, batch_size=batch_size,
                                lr=lr, width=width, head_channels=head_channels, seed=seed, device=device,
                                advance=advance)
    if summary["unreadable"]:
        warn(f"{summary['unreadable']} unreadable images skipped (first: {summary['unreadable_ids'][0]})")
    success(f"wrote the student network to {out}: trained on {summary['kept']} of {summary['images']} images, "
            f"final loss {summary['final_loss']:.4f}")
