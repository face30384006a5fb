"""Inference latency: ONNX Runtime FP32 (and INT8) against PyTorch eager, same threads.

Models: the paper's DeepLab-v2 ResNet-101 (random weights; latency does not depend on
them) at 1x3x321x321, and the demo's light model (DeepLab-v2 MobileNet; the trained demo
checkpoint when given, else random weights) at 1x3x128x128 (its training crop) and
1x3x321x321. Each model is profiled by ``deploy.profile.profile_model`` on both backends
(and INT8) in one run, interleaved run by run, with the same random input and the same
thread count (torch.set_num_threads and ORT intra-op threads), so the ratio compares like
with like. The peer is PyTorch eager
(``model(x)`` under ``inference_mode``), the way a checkpoint is usually run.

    python benchmarks/inference_latency.py [--threads 2] [--iterations 20] [--warmup 3] [--duration 0]
        [--demo-checkpoint c2fbench-demo/run/final.pt] [--int8-calib DIR [--int8-keep-fp32 REGEX]]
        [--with-deeplabv3] [--out FILE.json]

``--with-deeplabv3`` adds torchvision's DeepLab-v3 ResNet-101 (random weights) at 321x321,
the model the issue's 1.41x was measured on, timed by the same code through the same
runtimes, so the two ResNet-101 ratios can be told apart from the machine.

Ratio = the other median / this one's (``ratio_<row>_vs_<baseline>``; > 1: this row
faster), INT8's against both torch and ORT FP32. Each row's CV is printed, and ``unstable``
lists the rows whose spread shows interference (``deploy.timing.stability``): a ratio from
one of them is not a measurement of the model. The 1-minute load average is printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from pathlib import Path


def random_checkpoint(path: Path, arch: str, num_classes: int = 21) -> Path:
    """A checkpoint of ``arch`` with random weights (no download)."""
    import torch

    from c2fbench.models import build_model, save_checkpoint

    torch.manual_seed(0)
    model = build_model(arch, num_classes=num_classes)
    save_checkpoint(path, model, arch=arch, kwargs={"num_classes": num_classes},
                    classes=[f"class{i}" for i in range(num_classes)])
    return path


def cases(tmp: Path, demo_checkpoint: Path | None) -> list[tuple[str, Path, tuple]]:
    """(label, checkpoint, shape) for every measurement."""
    paper = random_checkpoint(tmp / "resnet101.pt", "deeplab_v2_resnet101")
    if demo_checkpoint is not None and demo_checkpoint.is_file():
        light, label = demo_checkpoint, "demo model (deeplab_v2_mobilenet, trained)"
    else:
        light, label = random_checkpoint(tmp / "mobilenet.pt", "deeplab_v2_mobilenet"), "deeplab_v2_mobilenet (random)"
    return [("deeplab_v2_resnet101 (random)", paper, (1, 3, 321, 321)),
            (label, light, (1, 3, 128, 128)), (label, light, (1, 3, 321, 321))]


def measure(label: str, checkpoint: Path, shape: tuple, args, int8: Path | None) -> dict:
    """Profile torch and ORT FP32 on one model (plus ORT INT8 when ``int8`` is given), all
    interleaved run by run in one ``profile_model`` call."""
    from deploy.profile import profile_model

    results = profile_model(checkpoint, more_models=[int8] if int8 is not None else [], shape=shape,
                            warmup=args.warmup, iterations=args.iterations, duration_s=args.duration,
                            threads=args.threads)["results"]

    def name(r: dict) -> str:
        return f"{r['backend']}_{r['precision']}"
    row = {"model": label, "shape": list(shape), "threads": args.threads,
           "load_average_1m": round(os.getloadavg()[0], 2),
           **{f"{name(r)}_median_ms": round(r["median_ms"], 2) for r in results},
           **{f"{name(r)}_cv": round(r["cv"], 3) for r in results},
           **{f"ratio_{name(r)}_vs_{v['backend']}_{v['precision']}": round(v["ratio"], 3)
              for r in results for v in r["vs"]},
           "unstable": [name(r) for r in results if r["unstable"]], "results": results}
    return row


def deeplabv3_row(tmp: Path, args) -> dict:
    """torchvision DeepLab-v3 ResNet-101 (random weights), eager against ORT FP32 at 321x321."""
    import onnx
    import torch
    import torchvision

    from c2fbench.inference import ModuleRuntime
    from c2fbench.models import IMAGENET_MEAN, IMAGENET_STD
    from deploy.timing import time_runtimes
    from deploy.runtimes import OnnxRuntime

    class Logits(torch.nn.Module):  # torchvision's segmentation models return a dict
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x)["out"]

    torch.manual_seed(0)
    net = Logits(torchvision.models.segmentation.deeplabv3_resnet101(weights=None, weights_backbone=None)).eval()
    shape = (1, 3, 321, 321)
    path = tmp / "deeplabv3.onnx"
    torch.onnx.export(net, (torch.zeros(shape),), str(path), opset_version=17, dynamo=False,
                      input_names=["image"], output_names=["logits"])
    model = onnx.load(str(path))  # the metadata a c2fbench runtime reads
    meta = {"c2fbench.classes": json.dumps([f"class{i}" for i in range(21)]),
            "c2fbench.normalization": json.dumps({"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)})}
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    eager = ModuleRuntime(net, classes=[f"class{i}" for i in range(21)], threads=args.threads,
                          normalization={"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)})
    eager_row, ort_row = time_runtimes([eager, OnnxRuntime(path, threads=args.threads)], shape, warmup=args.warmup,
                                       iterations=args.iterations, duration_s=args.duration, seed=0)
    torch_ms, ort_ms = eager_row["median_ms"], ort_row["median_ms"]
    return {"model": "torchvision deeplabv3_resnet101 (random)", "shape": list(shape), "threads": args.threads,
            "load_average_1m": round(os.getloadavg()[0], 2), "torch_fp32_median_ms": round(torch_ms, 2),
            "onnxruntime_fp32_median_ms": round(ort_ms, 2),
            "ratio_onnxruntime_fp32_vs_torch_fp32": round(torch_ms / ort_ms, 3),
            "unstable": [name for name, r in (("torch_fp32", eager_row), ("onnxruntime_fp32", ort_row))
                         if r["unstable"]]}


def int8_model(checkpoint: Path, shape: tuple, calib: Path, tmp: Path, keep_fp32: tuple) -> Path:
    """Static INT8 (QDQ, per channel) of ``checkpoint`` at ``shape``, calibrated on ``calib``;
    nodes matching ``keep_fp32`` (and the head) stay FP32."""
    from deploy.export import export_onnx
    from deploy.quantize import quantize_static_int8

    fp32 = tmp / f"{checkpoint.stem}-{shape[2]}.onnx"
    export_onnx(checkpoint, fp32, height=shape[2], width=shape[3], verify=False)
    out = tmp / f"{checkpoint.stem}-{shape[2]}-int8.onnx"
    quantize_static_int8(fp32, out, calib_images=calib, num=64, keep_fp32=keep_fp32)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--duration", type=float, default=0.0, help="least timed seconds per backend (trtexec: 3)")
    parser.add_argument("--demo-checkpoint", type=Path, default=Path("c2fbench-demo/run/final.pt"),
                        help="The demo's trained model (from make demo); random weights when absent.")
    parser.add_argument("--int8-calib", type=Path, default=None,
                        help="Training images for INT8 calibration (adds ORT INT8 to the light model's rows).")
    parser.add_argument("--int8-keep-fp32", action="append", default=[], metavar="REGEX",
                        help="Nodes kept FP32 in the INT8 model (the demo model needs 'backbone\\.1[0-6]/').")
    parser.add_argument("--with-deeplabv3", action="store_true",
                        help="Also time torchvision's DeepLab-v3 ResNet-101, the issue's reference model.")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    import onnxruntime
    import torch

    print(f"{platform.platform()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"onnxruntime {onnxruntime.__version__}, threads {args.threads}, iterations {args.iterations}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, checkpoint, shape in cases(Path(tmp), args.demo_checkpoint):
            int8 = None
            if args.int8_calib is not None and "mobilenet" in label:
                int8 = int8_model(checkpoint, shape, args.int8_calib, Path(tmp), tuple(args.int8_keep_fp32))
            rows.append(measure(label, checkpoint, shape, args, int8))
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "results"}), flush=True)
        if args.with_deeplabv3:
            rows.append(deeplabv3_row(Path(tmp), args))
            print(json.dumps(rows[-1]), flush=True)
    if args.out is not None:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
