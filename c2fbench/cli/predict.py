"""``c2fbench predict``: label maps for a folder of images."""

from pathlib import Path

import click

from c2fbench.cli.options import foreign_model_options

EPILOG = """\b
Examples:
  c2fbench predict --model runs/voc/final.pt --images VOC2012/JPEGImages --out pred/
  c2fbench eval voc-val --data-root VOC2012 --predictions pred/
  c2fbench predict --model model.onnx --images ObjectDiscovery/Data --out fg/ --device cuda
  c2fbench predict --model torchvision:deeplabv3_resnet101 --weights w.pth --images JPEGImages --out pred/

\b
Every image is read whole (file, header, size, data) before the first label map is written.
GroundTruth folders (Object Discovery's masks) are skipped, and the count is reported.
--out is refused when it is, holds or lies inside --images, --model or --weights: label
maps are never written over or among the inputs.
"""


@click.command(epilog=EPILOG)
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Checkpoint (.pt), ONNX file (.onnx), TensorRT engine (.engine) or torchvision:NAME (with "
                   "--weights).")
@click.option("--images", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder of images (.jpg, .jpeg, .png, .bmp, .webp), searched recursively; "
                   "<sub>/<name>.jpg gives --out/<sub>/<name>.png.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Mirrored tree of VOC palette PNGs (<id>.png) of class indices; for a one-channel "
                   "(foreground) model, 1 = foreground.")
@click.option("--tta", is_flag=True, help="Average over scales 0.75/1/1.25 and horizontal flips.")
@click.option("--crf", is_flag=True, help="Dense CRF post-processing (extra: c2fbench[crf]).")
@click.option("--device", default="cpu", show_default=True,
              help="cpu, cuda or cuda:N (checked before anything runs).")
@foreign_model_options
def predict(model, images, out, tta, crf, device, weights, classes, mean, std, no_normalize):
    """Predict a label map for every image under --images (whole image, original size).

    A model without c2fbench metadata (an ONNX file from elsewhere, torchvision:NAME
    --weights FILE) takes --classes and --mean/--std (or --no-normalize), as in eval.
    """
    from c2fbench.console import info, progress, success
    from c2fbench.devices import resolve_device
    from c2fbench.predict import check_predict_out, predict_folder, prediction_inputs
    from deploy.foreign import MetadataOverride
    from deploy.runtimes import load_runtime

    check_predict_out(out, images=images, model=model, weights=weights)  # before anything is read or written
    override = MetadataOverride.from_options(classes, mean, std, no_normalize)
    device = resolve_device(device)
    runtime = load_runtime(model, device=device, weights=weights, override=override)
    ids, files, skipped = prediction_inputs(images)
    if skipped:
        info(f"skipped {len(skipped)} images in GroundTruth folders (ground truth, not inputs; "
             f"first: {skipped[0]})")
    with progress(len(ids), "predict") as advance:
        written = predict_folder(runtime, ids, files, out, tta=tta, crf=crf, advance=advance)
    success(f"wrote {written} label maps to {out}")
