"""INT8 on the CPU: which `deploy quantize` variant makes ONNX Runtime INT8 pay, against ONNX
Runtime FP32 in the same run, the same threads, and at what accuracy.

Models: the demo's trained DeepLab (`--checkpoint`, e.g. c2fbench-demo/run/final.pt) at
1x3x128x128 and 1x3x321x321, with its mIoU on the synthetic voc-val split through `deploy
parity` (the checkpoint is the reference); the MobileNetV3 DeepLab (the demo's network
before 2026-12-02: depthwise convolutions and HardSwish) and DeepLab v2 ResNet-101, both with
random weights at 1x3x321x321 (latency only: random weights say nothing of accuracy). Each variant's session is
timed alternately with the FP32 session of the same model (both with intra-op spinning off, so
that an idle session's spinning threads do not steal the other's cores), `--iterations` runs
each after warm-up, and the ratio is the median over `--repeats` such alternations.

    python benchmarks/int8_cpu.py --checkpoint c2fbench-demo/run/final.pt --data c2fbench-demo/data
        [--threads 2] [--iterations 40] [--repeats 3] [--no-resnet] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DEMO_VARIANTS = {  # name -> quantize_static_int8 options; "default" is what `deploy quantize` does
    "default (head INT8; stem and upsampling FP32)": {},
    "before: head FP32 + stem INT8": {"keep_head_fp32": True, "keep_stem_fp32": False},
    "head FP32": {"keep_head_fp32": True},
    "stem INT8": {"keep_stem_fp32": False},
    "upsampling INT8 too": {"keep_tail_fp32": False},
    "everything INT8": {"keep_stem_fp32": False, "keep_tail_fp32": False},
    "QOperator format": {"fmt": "qoperator"},
    "per-tensor weights": {"per_channel": False},
    "no pre-processing": {"preprocess": False},
    "Conv only (op_types)": {"op_types": ("Conv",)},
    "entropy calibration": {"method": "entropy"},
    "percentile calibration": {"method": "percentile"},
    "16 calibration images": {"num": 16},
    "256 calibration images": {"num": 256},
    "cross-layer equalisation": {"equalize": "cle"},
    "SmoothQuant-style": {"equalize": "smoothquant"},
}
MOBILENET_VARIANTS = ("default (head INT8; stem and upsampling FP32)", "depthwise convolutions FP32",
                      "HardSwish FP32")
RESNET_VARIANTS = ("default (head INT8; stem and upsampling FP32)", "before: head FP32 + stem INT8",
                   "QOperator format")


def session(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def alternate(fp32: Path, int8: Path, hw: tuple[int, int], *, threads: int, iterations: int,
              repeats: int) -> dict:
    """Median milliseconds of each, and the median over repeats of FP32 / INT8."""
    x = np.random.default_rng(0).standard_normal((1, 3, *hw)).astype(np.float32)
    a, b = session(fp32, threads), session(int8, threads)
    feed = {a.get_inputs()[0].name: x}
    for _ in range(5):
        a.run(None, feed), b.run(None, feed)
    ratios, fp32_ms, int8_ms = [], [], []
    for _ in range(repeats):
        ta, tb = [], []
        for _ in range(iterations):
            start = time.perf_counter()
            a.run(None, feed)
            ta.append(time.perf_counter() - start)
            start = time.perf_counter()
            b.run(None, feed)
            tb.append(time.perf_counter() - start)
        fp32_ms.append(1e3 * statistics.median(ta))
        int8_ms.append(1e3 * statistics.median(tb))
        ratios.append(fp32_ms[-1] / int8_ms[-1])
    return {"fp32_ms": statistics.median(fp32_ms), "int8_ms": statistics.median(int8_ms),
            "ratio": statistics.median(ratios), "ratios": ratios}


def parity_miou(checkpoint: Path, deployed: Path, data: Path, threads: int) -> dict:
    from c2fbench.eval.benchmarks import load_benchmark
    from deploy.parity import parity
    from deploy.runtimes import load_runtime

    checked = parity(load_runtime(checkpoint, threads=threads), load_runtime(deployed, threads=threads),
                     load_benchmark("voc-val", data))
    return {"fp32_mIoU": checked["reference"]["mIoU"], "int8_mIoU": checked["deployed"]["mIoU"],
            "argmax_agreement": (checked.get("logits") or {}).get("argmax_agreement")}


def structural_fp32(fp32: Path, variant: str) -> tuple[str, ...]:
    """Exact-name patterns of the nodes a structural variant keeps FP32, found in the graph as
    `deploy quantize` sees it (pre-processed, nodes named): depthwise convolutions (group > 1),
    or HardSwish (and the HardSigmoid * x it may be inlined into)."""
    import re

    import onnx
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from deploy.quantize import name_nodes

    pre = fp32.with_name(fp32.stem + "-pre.onnx")
    quant_pre_process(str(fp32), str(pre))
    graph = name_nodes(onnx.load(str(pre))).graph
    if variant == "depthwise convolutions FP32":
        names = [n.name for n in graph.node if n.op_type == "Conv"
                 and any(a.name == "group" and a.i > 1 for a in n.attribute)]
    else:
        sigmoid = {o for n in graph.node if n.op_type == "HardSigmoid" for o in n.output}
        names = [n.name for n in graph.node if n.op_type in ("HardSwish", "HardSigmoid")
                 or (n.op_type == "Mul" and sigmoid & set(n.input))]
    return tuple(f"^{re.escape(name)}$" for name in names)


def run_model(name, checkpoint, fp32, variants, calib, shapes, args, tmp, data=None) -> list[dict]:
    from deploy.quantize import quantize_static_int8

    rows = []
    for variant in variants:
        options = dict(DEMO_VARIANTS.get(variant, {}))
        if variant in ("depthwise convolutions FP32", "HardSwish FP32"):
            options["keep_fp32"] = structural_fp32(fp32, variant)
            variant = f"{variant} ({len(options['keep_fp32'])} nodes)"
        num = options.pop("num", 64 if data is not None else 8)
        int8 = tmp / f"{name}-{len(rows)}.onnx"
        start = time.perf_counter()
        quantize_static_int8(fp32, int8, calib_images=calib, num=num, **options)
        row = {"model": name, "variant": variant, "quantize_s": round(time.perf_counter() - start, 1)}
        for hw in shapes:
            row[f"{hw[0]}"] = alternate(fp32, int8, hw, threads=args.threads, iterations=args.iterations,
                                        repeats=args.repeats)
        if data is not None:
            row.update(parity_miou(checkpoint, int8, data, args.threads))
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="The synthetic benchmark (calibration and voc-val).")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variants", default=None, help="Comma-separated subset of the demo variants' names.")
    parser.add_argument("--no-resnet", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).parent))
    from inference_latency import random_checkpoint

    from deploy.export import export_onnx

    calib = args.data / "imagenet" / "train"
    variants = list(DEMO_VARIANTS) if args.variants is None else [v.strip() for v in args.variants.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="c2fbench-int8-") as tmp:
        tmp = Path(tmp)
        export_onnx(args.checkpoint, tmp / "demo.onnx", dynamic=True, height=128, width=128)
        rows += run_model("demo", args.checkpoint, tmp / "demo.onnx", variants, calib, [(128, 128), (321, 321)],
                          args, tmp, data=args.data)
        if not args.no_resnet:
            checkpoint = random_checkpoint(tmp / "mnv3.pt", "deeplab_v2_mobilenet")
            export_onnx(checkpoint, tmp / "mnv3.onnx", dynamic=True, height=321, width=321)
            rows += run_model("mobilenetv3 (random)", checkpoint, tmp / "mnv3.onnx", MOBILENET_VARIANTS, calib,
                              [(321, 321)], args, tmp)
            checkpoint = random_checkpoint(tmp / "r101.pt", "deeplab_v2_resnet101")
            export_onnx(checkpoint, tmp / "r101.onnx", dynamic=True, height=321, width=321)
            rows += run_model("resnet101", checkpoint, tmp / "r101.onnx", RESNET_VARIANTS, calib, [(321, 321)],
                              args, tmp)
    import onnxruntime

    print(f"\nmachine: {platform.machine()}, {len(os.sched_getaffinity(0))} CPUs, python {platform.python_version()}, "
          f"onnxruntime {onnxruntime.__version__}, threads {args.threads}, date {time.strftime('%Y-%m-%d')}, "
          f"load {os.getloadavg()[0]:.2f}")
    print("| model | variant | 128: FP32 / INT8 ms | ratio | 321: FP32 / INT8 ms | ratio | mIoU FP32 / INT8 |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        small = r.get("128")
        cells = [f"{small['fp32_ms']:.2f} / {small['int8_ms']:.2f}", f"{small['ratio']:.2f}x"] if small else ["-", "-"]
        big = r["321"]
        miou = f"{r['fp32_mIoU']:.2f} / {r['int8_mIoU']:.2f}" if "int8_mIoU" in r else "-"
        print(f"| {r['model']} | {r['variant']} | {cells[0]} | {cells[1]} | {big['fp32_ms']:.2f} / "
              f"{big['int8_ms']:.2f} | {big['ratio']:.2f}x | {miou} |")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
