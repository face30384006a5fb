"""``c2fbench eval BENCHMARK``: score predictions with the official protocol."""

from pathlib import Path

import click

from c2fbench.cli.eval_cams import ThresholdParam, with_cam_options
from c2fbench.cli.options import DATA_ROOT_HELP, FiniteFloatRange, arch_options, foreign_model_options
from c2fbench.eval.benchmarks import BENCHMARKS


@click.command("eval")
@click.argument("benchmark", type=click.Choice(sorted(BENCHMARKS)))
@click.option("--data-root", type=click.Path(path_type=Path), required=True, help=DATA_ROOT_HELP)
@click.option("--split", "--ids", "split", type=click.Path(dir_okay=False, path_type=Path),
              help="A file of image ids, one a line, scored instead of the benchmark's own list (VOC and COCO "
                   "benchmarks; each id's label in the benchmark's folder).")
@click.option("--uncertain", type=click.Choice(["ignore", "background"]), default=None,
              help="Predictions may hold 255, a pseudo-mask's uncertain pixels: 'ignore' scores only the pixels "
                   "they commit to and reports the coverage; 'background' scores them as background (IRN's rule).")
@click.option("--predictions", type=click.Path(path_type=Path),
              help="Folder of <id>.png predictions (single-channel class indices; nonzero = foreground for MIT).")
@click.option("--model", type=click.Path(path_type=Path),
              help="A checkpoint (.pt), ONNX file (.onnx), TensorRT engine (.engine), torchvision:NAME (with "
                   "--weights), or a state dict (.pth) with --arch; scored with the same evaluator as --predictions.")
@click.option("--tta", is_flag=True, help="With --model: multi-scale and flip test-time augmentation.")
@click.option("--device", default="cpu", show_default=True, help="With --model: cpu, cuda or cuda:N.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Write metrics.json, per_image.npz, confusion.csv and confusion.png here (a new folder, "
                   "or an earlier eval's, replaced whole; apart from every input and from --show-dir).")
@click.option("--bootstrap", type=click.IntRange(0, 1_000_000), default=0, show_default=True,
              help="Resamples over images for a 95% interval of mIoU (or mean J).")
@click.option("--threshold", type=ThresholdParam(), default=None,
              help="mit-*: predictions are soft maps (8-bit 0..255); foreground where value >= threshold * 255. "
                   "Without it, nonzero is foreground. With --cams: background score T (foreground where a class "
                   "scores > T), or START:STOP:STEP (STOP included) to sweep, e.g. 0.05:0.95:0.05.")
@click.option("--resize-nearest", is_flag=True, help="Resize predictions of the wrong size (nearest neighbour).")
@click.option("--no-figures", is_flag=True, help="Skip confusion.png.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Processes (default: all CPUs).")
@click.option("--worst", type=int, default=None, metavar="K",
              help="Rank the images by their own mIoU (mit-*: J) and print the K worst; with --out, also "
                   "worst.csv there.")
@click.option("--show-dir", type=click.Path(path_type=Path),
              help="Write <rank>_<id>.png overlays (image | ground truth | prediction, VOC palette) of the K worst "
                   "images here, or of every image, worst first, without --worst (a new folder, or an earlier "
                   "--show-dir's, known by the c2fbench-show-dir.json it writes, replaced whole; apart from every "
                   "input and from --out).")
@with_cam_options
@foreign_model_options
@arch_options
def eval_command(benchmark, data_root, predictions, model, tta, device, out, bootstrap, threshold, resize_nearest,
                 no_figures, workers, worst, show_dir, weights, classes, mean, std, no_normalize, split, uncertain,
                 cams, cam_format, bg_power, arch, arch_kwargs):
    """Score predictions on BENCHMARK (voc-val, voc-train, voc-train-aug, coco-val, mit-subset, mit-full).

    voc-train is the official train.txt (1,464 images); voc-train-aug is train_aug.txt with
    SegmentationClassAug/ (10,582 images, the WSSS training set with SBD's labels).

    With --out, the folder is written as one unit: an earlier result there is replaced
    whole, or left as it was if the run fails.

    A model without c2fbench metadata (an ONNX file exported elsewhere, torchvision:NAME
    --weights FILE, or a state dict with --arch) takes --classes and --mean/--std (or
    --no-normalize); `c2fbench deploy tag` writes them into an ONNX file once. Flags given
    for a file that has metadata must agree with it. --arch MODULE:FUNCTION imports and runs
    your code (docs/models-from-elsewhere.md).

    Per-image diagnostics: --worst K ranks the images by their own score (the mean IoU of
    the classes in the image's ground truth or prediction; J for mit-*), worst first, and
    --show-dir DIR draws them (e.g. `--worst 20 --show-dir worst/`).
    """
    from c2fbench.cli.eval_cams import cam_source, check_cam_options
    from c2fbench.console import info, progress, success, warn
    from c2fbench.errors import InputError
    from c2fbench.eval.benchmarks import load_benchmark
    from c2fbench.eval.evaluator import evaluate
    from c2fbench.eval.outputs import benchmark_inputs, check_eval_outputs, given_inputs
    from c2fbench.eval.results import check_out_folder, write_eval
    from c2fbench.eval.sources import PngPredictions
    from c2fbench.report.terminal import print_metrics

    check_cam_options(benchmark, cams=cams, cam_format=cam_format, threshold=threshold, bg_power=bg_power,
                      others={"--predictions": predictions, "--model": model, "--resize-nearest": resize_nearest,
                              "--uncertain": uncertain, "--show-dir": show_dir})
    if (predictions is None) == (model is None) and cams is None:
        raise InputError("give exactly one of --predictions DIR, --model FILE or --cams DIR")
    if threshold is not None and cams is None and (model is not None or not benchmark.startswith("mit")):
        raise InputError("--threshold applies to --predictions on the foreground benchmarks (mit-subset, mit-full)")
    from deploy.foreign import MetadataOverride
    from deploy.user_models import parse_arch

    override = MetadataOverride.from_options(classes, mean, std, no_normalize)
    arch = parse_arch(arch, arch_kwargs)
    if model is None and (override is not None or weights is not None or arch is not None):
        raise InputError("--weights, --arch, --classes, --mean, --std and --no-normalize describe a --model")
    if model is not None or device != "cpu":
        from c2fbench.devices import resolve_device

        device = resolve_device(device)
    if worst is not None and worst < 1:
        raise InputError(f"--worst {worst}: expected a number of images, 1 or more")
    if uncertain is not None and (model is not None or benchmark.startswith("mit")):
        raise InputError("--uncertain applies to --predictions on the semantic benchmarks (voc-*, coco-val)")
    bench = load_benchmark(benchmark, data_root, split=split)  # the split file's ids; no image is read yet
    inputs = {**given_inputs(predictions=predictions, model=model, weights=weights), "--cams": cams,
              "--arch": arch.file if arch is not None else None, **benchmark_inputs(bench)}
    inputs["--split" if bench.custom_split else "the split file"] = bench.split_file
    check_eval_outputs(out, show_dir, inputs)
    if out is not None:
        check_out_folder(out)
    if show_dir is not None:
        from c2fbench.eval.show import check_show_dir

        check_show_dir(show_dir)
    if bench.skipped:
        warn(f"{len(bench.skipped)} images have no ground truth and are not scored (first: {bench.skipped[0]})")
    if cams is not None:
        source = cam_source(cams, cam_format=cam_format, threshold=threshold, bg_power=bg_power)
    elif model is not None:
        from c2fbench.eval.sources import ModelPredictions
        from deploy.runtimes import load_runtime

        runtime = load_runtime(model, device=device, weights=weights, override=override, arch=arch)
        source = ModelPredictions(runtime, tta=tta)
    else:
        source = PngPredictions(predictions, resize_nearest=resize_nearest, threshold=threshold)
    for message in source.check(bench):  # a model that does not fit the benchmark is refused here
        warn(message)
    with progress(len(bench.samples), f"eval {benchmark}") as advance:
        if cams is not None:
            from c2fbench.eval.seeds import sweep_cams

            result = sweep_cams(bench, source, workers=workers, bootstrap=bootstrap, advance=advance, inform=warn)
        else:
            result = evaluate(bench, source, workers=workers, bootstrap=bootstrap, uncertain=uncertain,
                              advance=advance)
    print_metrics(result.metrics)
    if result.finds_no_object():
        warn("the predictions hold no object on any image (background only); check the model or the prediction "
             "files' class indices")
    ranking = None
    if worst is not None or show_dir is not None:
        ranking = _rank(result, source, worst, show_dir, workers=workers)
    if out is not None:
        from c2fbench.report.figures import eval_figures

        write_eval(out, result, figures=None if no_figures else eval_figures(result), worst=ranking, inform=info)
        success(f"results in {out}")


def _rank(result, source, worst: int | None, show_dir: Path | None, *, workers: int | None) -> str:
    """Print the ``worst`` images (all, unprinted, for ``show_dir`` alone), draw them into
    ``show_dir``; returns worst.csv's text."""
    from c2fbench.console import progress, success
    from c2fbench.eval.worst import worst_csv, worst_of_result
    from c2fbench.report.terminal import print_worst

    bench = result.benchmark
    ranked = worst_of_result(result, worst)
    ranking = worst_csv(ranked, bench.kind)
    if worst is not None:
        print_worst(ranked, benchmark=bench.name, kind=bench.kind)
    if show_dir is not None:
        from functools import partial

        from c2fbench.eval.show import drawn, write_show_dir
        from c2fbench.parallel import default_workers
        from c2fbench.report.overlays import overlay_png

        draw = partial(overlay_png, classes=bench.classes, kind=bench.kind)
        overlays = drawn(bench, source, ranked, draw, workers=workers or default_workers())
        with progress(len(ranked), "overlays") as advance:
            count = write_show_dir(show_dir, overlays, ranking, advance=advance)
        success(f"{count} overlays in {show_dir}")
    return ranking
