"""``c2fbench predict``: label maps for a folder of images."""

from pathlib import Path

import click


@click.command()
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Checkpoint (.pt), ONNX file (.onnx) or TensorRT engine (.engine).")
@click.option("--images", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Mirrored tree of VOC palette PNGs (<id>.png).")
@click.option("--tta", is_flag=True, help="Average over scales 0.75/1/1.25 and horizontal flips.")
@click.option("--crf", is_flag=True, help="Dense CRF post-processing (extra: c2fbench[crf]).")
@click.option("--device", default="cpu", show_default=True)
def predict(model, images, out, tta, crf, device):
    """Predict a label map for every image under --images (whole image, original size)."""
    from c2fbench.console import progress, success
    from c2fbench.data.images import find_image, list_images, read_rgb
    from c2fbench.data.labels import write_label_png
    from c2fbench.inference import predict_label
    from deploy.runtimes import load_runtime

    runtime = load_runtime(model, device=device)
    ids = list_images(images)
    with progress(len(ids), "predict") as advance:
        for image_id in ids:
            label = predict_label(runtime, read_rgb(find_image(images, image_id)), tta=tta, crf=crf)
            write_label_png(out / f"{image_id}.png", label)
            advance(1)
    success(f"wrote {len(ids)} label maps to {out}")
