"""``c2fbench deploy``: export to ONNX, build TensorRT engines, quantize, profile, check parity.

Each command parses its options and calls one function of the ``deploy`` package, imported
inside the body (``c2fbench --help`` needs neither torch nor onnxruntime).
"""

from pathlib import Path

import click

from c2fbench.cli.options import FiniteFloatRange
from deploy import DURATION_S, ITERATIONS, WARMUP_MS

_FILE = click.Path(dir_okay=False, path_type=Path)


_GROUP_EPILOG = """\b
Typical order:
  c2fbench deploy export  --model run/final.pt --out model.onnx --dynamic
  c2fbench deploy parity  --model run/final.pt --deployed model.onnx --benchmark voc-val --data-root DATA
  c2fbench deploy profile --model run/final.pt --threads 4 --out prof/
  c2fbench deploy build   --onnx model.onnx --out model.engine --precision fp16   (NVIDIA GPU)
"""

_DEVICE_HELP = "cpu, cuda or cuda:N; checked before anything runs (CUDA must be present)."


@click.group(epilog=_GROUP_EPILOG)
def deploy():
    """Deploy models: ONNX export, TensorRT engines, INT8, latency profiles, accuracy parity."""


@deploy.command("export", epilog="""\b
Examples:
  c2fbench deploy export --model run/final.pt --out model.onnx --dynamic
  c2fbench deploy export --model run/final.pt --out model-321.onnx --height 321 --width 321 \\
      --verify-images DATA/VOCdevkit/VOC2012/JPEGImages --num 8

\b
The file is written only after the checker and the comparison ran; a bad checkpoint or
image leaves no file behind.
""")
@click.option("--model", type=_FILE, required=True, help="A c2fbench checkpoint (.pt).")
@click.option("--out", type=_FILE, required=True, help="The ONNX file to write (atomically).")
@click.option("--dynamic", is_flag=True, help="Dynamic batch, height and width (needed to run whole images).")
@click.option("--height", type=click.IntRange(8, 8000), default=321, show_default=True,
              help="Input height (the graph's, when static; the first verification size, when dynamic).")
@click.option("--width", type=click.IntRange(8, 8000), default=321, show_default=True,
              help="Input width (as --height).")
@click.option("--opset", type=click.IntRange(min=11), default=17, show_default=True,
              help="ONNX opset of the graph (11 or later: Resize with coordinate_transformation_mode).")
@click.option("--verify-images", type=click.Path(file_okay=False, path_type=Path),
              help="Also compare with PyTorch on (up to --num) real images from this folder; "
                   "they are read before anything is exported.")
@click.option("--num", type=click.IntRange(min=1), default=4, show_default=True,
              help="How many images of --verify-images (the first, in sorted order).")
@click.option("--no-verify", is_flag=True, help="Skip the comparison with PyTorch.")
def export(model, out, dynamic, height, width, opset, verify_images, num, no_verify):
    """Export a checkpoint to ONNX, check it, and compare ONNX Runtime with PyTorch."""
    from c2fbench.console import success
    from deploy.export import export_onnx

    images = _some_images(verify_images, num) if verify_images else []
    report = export_onnx(model, out, dynamic=dynamic, height=height, width=width, opset=opset,
                         verify=not no_verify, images=images)
    if report.checks:
        _print_checks(report.checks, title=f"{out}: ONNX Runtime vs PyTorch")
    shape = "x".join(str(d) for d in report.input_shape)
    success(f"wrote {out} (input {shape}, opset {opset})")


def _some_images(folder: Path, num: int) -> list[Path]:
    from c2fbench.data.images import find_image, list_images

    return [find_image(folder, i) for i in list_images(folder)[:num]]


def _print_checks(checks: list[dict], *, title: str) -> None:
    from rich.table import Table

    from c2fbench.console import out

    table = Table(title=title)
    for column in ("input", "max |diff|", "mean |diff|", "argmax agree %"):
        table.add_column(column, justify="left" if column == "input" else "right")
    for c in checks:
        table.add_row(c["input"], f"{c['max_abs_diff']:.2e}", f"{c['mean_abs_diff']:.2e}",
                      f"{c['argmax_agreement']:.3f}")
    out.print(table)


@deploy.command("parity", epilog="""\b
Examples:
  c2fbench deploy parity --model run/final.pt --deployed model.onnx --benchmark voc-val --data-root DATA
  c2fbench deploy parity --model dfpn/final.pt --deployed dfpn-int8.onnx --benchmark mit-subset \\
      --data-root ObjectDiscovery --tolerance 0.5 --out parity/

\b
voc-* needs a model of the benchmark's classes (same names, same order); mit-* a
foreground model (one output channel). Anything else is refused before any image runs.
""")
@click.option("--model", type=_FILE, required=True, help="The reference: a c2fbench checkpoint (.pt).")
@click.option("--deployed", type=_FILE, required=True, help="Its deployed form (.onnx or .engine).")
@click.option("--benchmark", default="voc-val", show_default=True, help="A benchmark name (see c2fbench eval).")
@click.option("--data-root", type=click.Path(path_type=Path), required=True,
              help="VOCdevkit/VOC2012 (or a folder above it); for mit-*, the folder holding Data/.")
@click.option("--device", default="cpu", show_default=True, help=_DEVICE_HELP)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads for both runtimes.")
@click.option("--tolerance", type=FiniteFloatRange(0, 100), default=0.1, show_default=True,
              help="Allowed |delta| in metric points.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Write parity.json here.")
def parity(model, deployed, benchmark, data_root, device, threads, tolerance, out):
    """Score a checkpoint and its deployed form with the same evaluator; exit 1 if they differ
    by more than --tolerance."""
    from c2fbench.console import out as console, progress, success, warn
    from c2fbench.errors import InputError
    from c2fbench.devices import resolve_device
    from c2fbench.eval.benchmarks import BENCHMARKS, load_benchmark
    from deploy.parity import parity as run_parity, summary_rows, write_parity
    from deploy.runtimes import load_runtime

    device = resolve_device(device)
    if benchmark not in BENCHMARKS:
        raise InputError(f"unknown benchmark {benchmark!r}; known: {', '.join(sorted(BENCHMARKS))}")
    bench = load_benchmark(benchmark, data_root)
    reference = load_runtime(model, device=device, threads=threads)
    runtime = load_runtime(deployed, device=device, threads=threads)
    with progress(len(bench.samples), f"parity {benchmark}") as advance:
        result = run_parity(reference, runtime, bench, tolerance=tolerance, advance=advance)
    for label, value in summary_rows(result):
        console.print(f"{label:>20}  {value}", markup=False)
    if out is not None:
        write_parity(out, result)
    if not result["within_tolerance"]:
        warn(f"{deployed}: {result['metric']} differs by {result['delta']:+.3f} points (> {tolerance})")
        raise SystemExit(1)
    success(f"{deployed}: within {tolerance} {result['metric']} points of {model}")


@deploy.command("profile", epilog="""\b
Examples:
  c2fbench deploy profile --model run/final.pt --threads 4 --out prof/
  c2fbench deploy profile --model model.onnx --shape 1x3x513x513 --duration 10
  c2fbench deploy profile --model run/final.pt --backend torch --device cuda --amp --channels-last
  c2fbench deploy profile --model model.engine --device cuda --cuda-graph --out prof/

\b
Timing follows trtexec: warm-up for --warmup-ms, then runs until both --iterations
and --duration are reached, one inference at a time. Latency columns are host wall time
per inference; on CUDA, torch and TensorRT rows add the GPU's own figures from CUDA
events: H2D copy, GPU compute, D2H copy and their sum (trtexec's "latency"). The
"vs <backend>" column is the first row's median over each row's median (above 1 is
faster than that baseline).
""")
@click.option("--model", type=_FILE, required=True, help="A checkpoint (.pt), ONNX file or TensorRT engine.")
@click.option("--backend", "backends", type=click.Choice(["torch", "onnxruntime", "tensorrt"]), multiple=True,
              help="Repeatable. Default: torch and onnxruntime for a .pt, the file's own backend otherwise.")
@click.option("--shape", default="1x3x321x321", show_default=True, help="Input BxCxHxW.")
@click.option("--warmup-ms", type=FiniteFloatRange(0, 600_000), default=WARMUP_MS, show_default=True,
              help="Untimed warm-up, in milliseconds (trtexec's --warmUp).")
@click.option("--warmup", type=click.IntRange(min=0), default=1, show_default=True,
              help="Least number of untimed warm-up runs (besides --warmup-ms).")
@click.option("--iterations", type=click.IntRange(1, 10_000_000), default=ITERATIONS, show_default=True,
              help="Least number of timed runs per backend (trtexec's --iterations).")
@click.option("--duration", type=FiniteFloatRange(0, 3600), default=DURATION_S, show_default=True,
              help="Least timed seconds per backend (trtexec's --duration); 0: exactly --iterations runs.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads for every backend (default: all CPUs), so ratios compare like with like.")
@click.option("--device", default="cpu", show_default=True, help=_DEVICE_HELP)
@click.option("--cuda-graph", is_flag=True, help="CUDA only: replay a captured CUDA graph (torch, TensorRT).")
@click.option("--amp", is_flag=True, help="torch backend: autocast (FP16 on CUDA, BF16 on the CPU).")
@click.option("--channels-last", is_flag=True, help="torch backend: NHWC memory format.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Write profile.json here.")
def profile(model, backends, shape, warmup_ms, warmup, iterations, duration, threads, device, cuda_graph, amp,
            channels_last, out):
    """Latency of a model on one or more backends: warm-up, then timed runs (trtexec's method)."""
    from c2fbench.console import info, success
    from c2fbench.devices import resolve_device
    from deploy.profile import parse_shape, profile_model, write_profile

    device = resolve_device(device)
    result = profile_model(model, backends=list(backends) or None, shape=parse_shape(shape), warmup_ms=warmup_ms,
                           warmup=warmup, iterations=iterations, duration_s=duration, threads=threads,
                           device=device, cuda_graph=cuda_graph, amp=amp, channels_last=channels_last,
                           advance=lambda name: info(f"profiled {name}"))
    _print_profile(result["results"])
    if out is not None:
        success(f"wrote {write_profile(out, result)}")


def baseline_column(results: list[dict]) -> str:
    """The ratio column's name: the baseline it divides, the first row ("vs torch")."""
    first = results[0]
    same = [r for r in results if r["backend"] == first["backend"]]
    return f"vs {first['backend']}" + (f" {first['precision']}" if len(same) > 1 else "")


def _print_profile(results: list[dict]) -> None:
    from rich.table import Table

    from c2fbench.console import out

    gpu = any(r.get("gpu_events") for r in results)
    table = Table(title="latency (ms, host wall time" + ("; GPU columns from CUDA events)" if gpu else ")"))
    columns = ["backend", "precision", "options", "shape", "threads", "mean", "median", "p90", "p99", "min", "max",
               "img/s"]
    columns += ["H2D", "GPU compute", "D2H", "latency"] if gpu else []
    columns.append(baseline_column(results))
    for column in columns:
        table.add_column(column, justify="left" if column in ("backend", "precision", "options", "shape") else "right")
    first = results[0]["median_ms"]
    for r in results:
        row = [r["backend"], r["precision"], _options(r), "x".join(map(str, r["shape"])), str(r["threads"]),
               *(f"{r[k]:.2f}" for k in ("mean_ms", "median_ms", "p90_ms", "p99_ms", "min_ms", "max_ms")),
               f"{r['throughput_ips']:.1f}"]
        if gpu:
            row += [f"{r[k]:.3f}" if k in r else "-" for k in ("h2d_median_ms", "gpu_median_ms", "d2h_median_ms",
                                                              "latency_median_ms")]
        table.add_row(*row, f"{first / r['median_ms']:.2f}x")
    if out.is_terminal:
        out.print(table)
    else:  # logs and pipes: rich would assume 80 columns and truncate every number
        from rich.console import Console

        Console(file=out.file, width=200, highlight=False).print(table)


def _options(row: dict) -> str:
    """What a row ran with besides its backend and precision ("-" for nothing special)."""
    on = [name for name, flag in (("channels_last", row.get("memory_format") == "channels_last"),
                                  ("cuda graph", row.get("cuda_graph"))) if flag]
    return ", ".join(on) or "-"


@deploy.command("quantize", epilog="""\b
Example:
  c2fbench deploy quantize --onnx model.onnx --out model-int8.onnx --calib-images DATA/imagenet/train
  c2fbench deploy parity --model run/final.pt --deployed model-int8.onnx --data-root DATA
  c2fbench deploy quantize --onnx model.onnx --out model-trt-int8.onnx --calib-images DIR --target tensorrt
""")
@click.option("--onnx", "onnx_path", type=_FILE, required=True, help="An FP32 ONNX file from `deploy export`.")
@click.option("--out", type=_FILE, required=True, help="The INT8 ONNX file to write.")
@click.option("--calib-images", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Training images for calibration (e.g. the imagenet/train tree); spread-out picks.")
@click.option("--num", type=click.IntRange(min=1), default=64, show_default=True, help="Calibration images.")
@click.option("--method", type=click.Choice(["minmax", "entropy", "percentile"]), default="minmax",
              show_default=True, help="Calibration: activation ranges from min/max, KL entropy or a percentile.")
@click.option("--quantize-head", is_flag=True, help="Quantize the classifier too (default: it stays FP32).")
@click.option("--keep-fp32", multiple=True, metavar="REGEX",
              help="Repeatable: nodes whose names match stay FP32, e.g. 'backbone\\.1[0-6]/'.")
@click.option("--target", type=click.Choice(["cpu", "tensorrt"]), default="cpu", show_default=True,
              help="The runtime the graph is for: cpu (ONNX Runtime, unsigned activations) or tensorrt "
                   "(signed, symmetric: build it with `deploy build --precision int8`).")
def quantize(onnx_path, out, calib_images, num, method, quantize_head, keep_fp32, target):
    """Static INT8 quantization (QDQ, per-channel weights) with ONNX Runtime."""
    from c2fbench.console import success
    from deploy.quantize import quantize_static_int8

    record = quantize_static_int8(onnx_path, out, calib_images=calib_images, num=num, method=method,
                                  keep_head_fp32=not quantize_head, keep_fp32=tuple(keep_fp32), target=target)
    success(f"wrote {out} (INT8 {record['format']}, {record['num_images']} calibration images, {method}); "
            "check its accuracy with `c2fbench deploy parity`")


def _shape_option(name: str, text: str | None):
    from deploy.profile import parse_shape

    return None if text is None else parse_shape(text)


@deploy.command("build", epilog="""\b
Examples:
  c2fbench deploy build --onnx model.onnx --out model.engine
  c2fbench deploy build --onnx model.onnx --out model-fp16.engine --precision fp16 --device cuda:1 \\
      --opt-shape 1x3x321x321 --max-shape 1x3x513x513 --timing-cache trt.cache
  c2fbench deploy build --onnx model-trt-int8.onnx --out model-int8.engine --precision int8
""")
@click.option("--onnx", "onnx_path", type=_FILE, required=True, help="An ONNX file from `deploy export`.")
@click.option("--out", type=_FILE, required=True, help="The engine to write; FILE.json beside it records "
              "TensorRT version, GPU, shapes, precision and classes.")
@click.option("--precision", type=click.Choice(["fp32", "fp16", "int8"]), default="fp32", show_default=True,
              help="Kernel precision (fp16: half the memory traffic; int8: from a Q/DQ graph of `deploy quantize "
                   "--target tensorrt`, built strongly typed; check either with `deploy parity`).")
@click.option("--workspace-mb", type=click.IntRange(min=16), default=4096, show_default=True,
              help="Scratch memory TensorRT may use while choosing kernels (MiB).")
@click.option("--min-shape", help="Dynamic inputs: smallest BxCxHxW (default 1x3x128x128).")
@click.option("--opt-shape", help="Dynamic inputs: the shape kernels are tuned for (default 1x3x321x321).")
@click.option("--max-shape", help="Dynamic inputs: largest BxCxHxW (default 1x3x512x512).")
@click.option("--timing-cache", type=_FILE, help="Timing cache file: read if present, written after the build.")
@click.option("--device", default=None, help="cuda or cuda:N, the GPU the engine is built for (default: the "
              "current CUDA device); checked before anything runs.")
def build(onnx_path, out, precision, workspace_mb, min_shape, opt_shape, max_shape, timing_cache, device):
    """Build a TensorRT engine (needs TensorRT and an NVIDIA GPU: pip install 'c2fbench[tensorrt]')."""
    from c2fbench.console import success
    from deploy.tensorrt import import_tensorrt
    from deploy.tensorrt_build import build_engine, check_graph_precision, resolve_build_device

    device = resolve_build_device(device)
    check_graph_precision(onnx_path, precision)  # an INT8 build needs a Q/DQ graph for TensorRT
    import_tensorrt()  # before any work: without TensorRT, say what to install (exit 2)

    sidecar = build_engine(onnx_path, out, precision=precision, workspace_mb=workspace_mb,
                           min_shape=_shape_option("min", min_shape), opt_shape=_shape_option("opt", opt_shape),
                           max_shape=_shape_option("max", max_shape), timing_cache=timing_cache,
                           device=device or "cuda")
    success(f"wrote {out} ({precision}, TensorRT {sidecar['tensorrt_version']}, {sidecar['gpu_name']}, "
            f"shapes {sidecar['shapes']['min']}..{sidecar['shapes']['max']})")
