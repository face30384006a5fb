"""Static INT8 quantization of an exported ONNX file, calibrated on real training images.

ONNX Runtime's post-training static quantization: ``quant_pre_process`` (symbolic shape
inference and graph optimisation, as ORT recommends), then ``quantize_static`` in the QDQ
format with per-channel weight scales, unsigned 8-bit activations and signed 8-bit weights
(the U8S8 combination ORT recommends for x86 CPUs), MinMax calibration by default. Calibration
inputs are training images preprocessed exactly as inference does
(:func:`c2fbench.inference.normalise` on the whole image); for a graph with a static input
size they are first resized to it (bilinear), as they would have to be to run at all.

The output keeps the input's c2fbench metadata (classes, normalisation, ...) and adds
``c2fbench.quantization`` (JSON: method, images, format), so every runtime and
``c2fbench eval --model`` treat it like the FP32 file.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from c2fbench.errors import InputError

CALIBRATION_METHODS = ("minmax", "entropy", "percentile")


class ImageCalibrationReader:
    """ONNX Runtime CalibrationDataReader over image files: each ``get_next()`` is
    ``{input_name: (1, 3, H, W) float32}``, normalised like inference; None at the end."""

    def __init__(self, images: list[Path], *, input_name: str, normalization: dict,
                 static_hw: tuple[int, int] | None) -> None:
        self.images, self.input_name = list(images), input_name
        self.normalization, self.static_hw = normalization, static_hw
        self.position = 0

    def get_next(self) -> dict | None:
        from c2fbench.data.images import read_rgb
        from c2fbench.inference import normalise

        if self.position >= len(self.images):
            return None
        rgb = read_rgb(self.images[self.position])
        self.position += 1
        if self.static_hw is not None and rgb.shape[:2] != self.static_hw:
            import cv2

            rgb = cv2.resize(rgb, self.static_hw[::-1], interpolation=cv2.INTER_LINEAR)
        return {self.input_name: normalise(rgb, self.normalization).unsqueeze(0).numpy()}

    def rewind(self) -> None:
        self.position = 0


def calibration_images(folder: Path, num: int) -> list[Path]:
    """``num`` images spread evenly over the sorted images under ``folder`` (all classes of an
    ImageNet-style tree, not the first one only); InputError if there are none."""
    from c2fbench.data.images import find_image, list_images

    ids = list_images(folder)
    if not ids:
        raise InputError(f"{folder}: no images for calibration")
    picks = np.unique(np.linspace(0, len(ids) - 1, num=min(num, len(ids))).round().astype(int))
    return [find_image(Path(folder), ids[i]) for i in picks]


def quantize_static_int8(onnx_path: Path, out: Path, *, calib_images: Path, num: int = 64,
                         method: str = "minmax") -> dict:
    """Write the INT8 (QDQ, per-channel) version of ``onnx_path`` to ``out``; returns the
    quantization record stored in its metadata."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from c2fbench.data.atomic import atomic_write_bytes
    from deploy.runtimes import OnnxRuntime

    if method not in CALIBRATION_METHODS:
        raise InputError(f"--method {method!r}: expected one of {', '.join(CALIBRATION_METHODS)}")
    runtime = OnnxRuntime(onnx_path)  # checks the file and its c2fbench metadata
    if runtime.precision != "fp32":
        raise InputError(f"{onnx_path}: already {runtime.precision}; quantize the FP32 export")
    images = calibration_images(calib_images, num)
    reader = ImageCalibrationReader(images, input_name=runtime.input_name,
                                    normalization=runtime.normalization, static_hw=runtime.static_hw)
    calibrate = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                 "percentile": CalibrationMethod.Percentile}[method]
    with tempfile.TemporaryDirectory(prefix="c2fbench-int8-") as tmp:
        prepared, quantized = Path(tmp) / "pre.onnx", Path(tmp) / "int8.onnx"
        quant_pre_process(str(onnx_path), str(prepared))
        quantize_static(str(prepared), str(quantized), reader, quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=calibrate)
        proto = onnx.load(str(quantized))
    record = {"method": method, "format": "QDQ", "per_channel": True, "activations": "uint8", "weights": "int8",
              "num_images": len(images), "images": str(Path(calib_images).resolve())}
    source = onnx.load(str(onnx_path), load_external_data=False)
    props = {p.key: p.value for p in source.metadata_props if p.key.startswith("c2fbench.")}
    onnx.helper.set_model_props(proto, {**props, "c2fbench.quantization": json.dumps(record)})
    atomic_write_bytes(out, proto.SerializeToString())
    return record
