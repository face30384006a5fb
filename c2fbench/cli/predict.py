"""``c2fbench predict``: label maps for a folder of images."""

from pathlib import Path

import click

from c2fbench.cli.options import arch_options, foreign_model_options

EPILOG = """\b
Examples:
  c2fbench predict --model runs/voc/final.pt --images VOC2012/JPEGImages --out pred/
  c2fbench eval voc-val --data-root VOC2012 --predictions pred/
  c2fbench predict --model model.onnx --images ObjectDiscovery/Data --out fg/ --device cuda
  c2fbench predict --model torchvision:deeplabv3_resnet101 --weights w.pth --images JPEGImages --out pred/
  c2fbench predict --model theirs.pth --arch mynets.seg:build --arch-kwargs '{"num_classes": 21}' \\
      --classes voc --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 --images JPEGImages --out pred/
  c2fbench predict --model final.pt --images VOC2012/JPEGImages --split test.txt --out test_pred/

\b
Every image is read whole (file, header, size, data) before the first label map is written.
GroundTruth folders (Object Discovery's masks) are skipped, and the count is reported.
--out is refused when it is, holds or lies inside --images, --model, --weights, --arch or
--split: label maps are never written over or among the inputs.
"""


@click.command(epilog=EPILOG)
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Checkpoint (.pt), ONNX file (.onnx), TensorRT engine (.engine), torchvision:NAME (with "
                   "--weights), or a state dict (.pth) with --arch.")
@click.option("--images", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder of images (.jpg, .jpeg, .png, .bmp, .webp), searched recursively; "
                   "<sub>/<name>.jpg gives --out/<sub>/<name>.png.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Mirrored tree of VOC palette PNGs (<id>.png) of class indices; for a one-channel "
                   "(foreground) model, 1 = foreground.")
@click.option("--split", "--ids", "split", type=click.Path(dir_okay=False, path_type=Path),
              help="A file of image ids, one a line: predict only <id>.jpg (or another image suffix) of "
                   "--images, e.g. VOC's test.txt over a JPEGImages folder shared with trainval.")
@click.option("--tta", is_flag=True, help="Average over scales 0.75/1/1.25 and horizontal flips.")
@click.option("--crf", is_flag=True, help="Dense CRF post-processing (extra: c2fbench[crf]).")
@click.option("--device", default="cpu", show_default=True,
              help="cpu, cuda or cuda:N (checked before anything runs).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads of the model (default: the CPUs this process may use, never a count read from the "
                   "load; c2fbench/threads.py).")
@foreign_model_options
@arch_options
def predict(model, images, out, tta, crf, device, weights, classes, mean, std, no_normalize, split, arch,
            arch_kwargs, threads):
    """Predict a label map for every image under --images (whole image, original size).

    A model without c2fbench metadata (an ONNX file from elsewhere, torchvision:NAME
    --weights FILE, a state dict with --arch) takes --classes and --mean/--std (or
    --no-normalize), as in eval. --arch MODULE:FUNCTION imports and runs your code.
    """
    from c2fbench.console import info, progress, success
    from c2fbench.devices import resolve_device
    from c2fbench.predict import check_predict_out, predict_folder, prediction_inputs
    from deploy.foreign import MetadataOverride
    from deploy.runtimes import load_runtime
    from deploy.user_models import parse_arch

    check_predict_out(out, images=images, model=model, weights=weights, split=split)  # before anything is read
    arch = parse_arch(arch, arch_kwargs)
    if arch is not None and arch.file is not None:
        from c2fbench.files import check_output_apart

        check_output_apart(out, {"--arch": arch.file})
    override = MetadataOverride.from_options(classes, mean, std, no_normalize)
    device = resolve_device(device)
    from c2fbench.threads import default_threads

    runtime = load_runtime(model, device=device, threads=threads or default_threads(), weights=weights,
                           override=override, arch=arch)
    ids, files, skipped = prediction_inputs(images, split)
    if skipped:
        info(f"skipped {len(skipped)} images in GroundTruth folders (ground truth, not inputs; "
             f"first: {skipped[0]})")
    with progress(len(ids), "predict") as advance:
        written = predict_folder(runtime, ids, files, out, tta=tta, crf=crf, advance=advance)
    success(f"wrote {written} label maps to {out}")
