"""``c2fbench deploy quantize``: static INT8 with ONNX Runtime, with the measured defaults
(benchmarks/README.md, "int8_cpu.py") and the options they were measured against."""

from pathlib import Path

import click

from c2fbench.cli.options import LibraryDefault, or_default
from deploy import CALIBRATION_IMAGES, CALIBRATION_METHOD, QUANTIZE_TARGET


@click.command("quantize", epilog="""\b
Example:
  c2fbench deploy quantize --onnx model.onnx --out model-int8.onnx --calib-images DATA/imagenet/train
  c2fbench deploy parity --model run/final.pt --deployed model-int8.onnx --data-root DATA
  c2fbench deploy quantize --onnx model.onnx --out model-trt-int8.onnx --calib-images DIR --target tensorrt
""")
@click.option("--onnx", "onnx_path", type=click.Path(dir_okay=False, path_type=Path), required=True, help="An FP32 ONNX file from `deploy export`.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The INT8 ONNX file to write.")
@click.option("--calib-images", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Training images for calibration (e.g. the imagenet/train tree); spread-out picks.")
@click.option("--num", type=click.IntRange(min=1), cls=LibraryDefault, show_default=str(CALIBRATION_IMAGES),
              help="Calibration images.")
@click.option("--method", type=click.Choice(["minmax", "entropy", "percentile"]), cls=LibraryDefault,
              show_default=CALIBRATION_METHOD,
              help="Calibration: activation ranges from min/max, KL entropy or a percentile.")
@click.option("--head", type=click.Choice(["int8", "fp32"]), cls=LibraryDefault,
              show_default="int8 for cpu, fp32 for tensorrt", help="The classifier's convolutions.")
@click.option("--stem", type=click.Choice(["int8", "fp32"]), cls=LibraryDefault,
              show_default="fp32 for cpu, int8 for tensorrt", help="The convolutions that read the image.")
@click.option("--quantize-head", is_flag=True, hidden=True, help="Before 2026-12: what --head int8 does now.")
@click.option("--keep-fp32", multiple=True, metavar="REGEX",
              help="Repeatable: nodes whose names match stay FP32, e.g. 'backbone\\.1[0-6]/'.")
@click.option("--target", type=click.Choice(["cpu", "tensorrt"]), cls=LibraryDefault, show_default=QUANTIZE_TARGET,
              help="The runtime the graph is for: cpu (ONNX Runtime, unsigned activations) or tensorrt "
                   "(signed, symmetric: build it with `deploy build --precision int8`).")
@click.option("--format", "fmt", type=click.Choice(["qdq", "qoperator"]), default="qdq", show_default=True,
              help="ONNX form of the INT8 graph (ONNX Runtime runs both with the same kernels).")
@click.option("--per-tensor", is_flag=True, help="One scale per weight tensor instead of per output channel.")
@click.option("--no-preprocess", is_flag=True, help="Skip ONNX Runtime's quant_pre_process (shape inference, "
                                                    "batch norm folding).")
@click.option("--equalize", type=click.Choice(["none", "cle", "smoothquant"]), default="none", show_default=True,
              help="Rescale Conv-ReLU-Conv chains before calibration: cross-layer equalisation, or "
                   "SmoothQuant-style from measured activation ranges.")
@click.option("--op-types", metavar="OPS",
              help="Comma-separated ONNX operator types to quantize, case-sensitive (e.g. Conv,Add); each must be "
                   "one ONNX Runtime quantizes and one the graph has (default: all it can).")
def quantize(onnx_path, out, calib_images, num, method, head, stem, quantize_head, keep_fp32, target, fmt,
             per_tensor, no_preprocess, equalize, op_types):
    """Static INT8 quantization with ONNX Runtime (QDQ, per-channel weights; for the CPU the
    stem and the final upsampling stay FP32, measured in benchmarks/README.md)."""
    from c2fbench.console import success
    from c2fbench.errors import InputError
    from deploy.quantize import quantize_static_int8

    if quantize_head:
        if head == "fp32":
            raise InputError("--quantize-head and --head fp32 contradict each other")
        head = "int8"
    ops = tuple(o.strip() for o in op_types.split(",") if o.strip()) if op_types is not None else None
    if ops is not None and not ops:
        raise InputError(f"--op-types {op_types!r}: give operator types, e.g. Conv,MaxPool,Add")
    record = quantize_static_int8(onnx_path, out, calib_images=calib_images, num=or_default(num, CALIBRATION_IMAGES),
                                  method=or_default(method, CALIBRATION_METHOD),
                                  keep_head_fp32=None if head is None else head == "fp32",
                                  keep_stem_fp32=None if stem is None else stem == "fp32",
                                  keep_fp32=tuple(keep_fp32), target=or_default(target, QUANTIZE_TARGET), fmt=fmt,
                                  per_channel=not per_tensor, preprocess=not no_preprocess, op_types=ops,
                                  equalize=equalize)
    quantized = sum(record["quantized_ops"].values())
    success(f"wrote {out} (INT8 {record['format']}, {quantized} quantized operators, {record['num_images']} "
            f"calibration images, {record['method']}); check its accuracy with `c2fbench deploy parity`")
