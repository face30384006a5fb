"""``c2fbench deploy``: export to ONNX, build TensorRT engines, quantize, profile, check parity.

Each command parses its options and calls one function of the ``deploy`` package, imported
inside the body (``c2fbench --help`` needs neither torch nor onnxruntime); tables are printed
by :mod:`c2fbench.report.terminal`. Options that the library has a default for default to
None here, and take that default from ``deploy/__init__.py``, which ``--help`` shows.
"""

from pathlib import Path

import click

from c2fbench.cli.deploy_quantize import quantize
from c2fbench.cli.options import (DATA_ROOT_HELP, FiniteFloatRange, LibraryDefault, arch_options, foreign_model_options,
                                  or_default)
from deploy import (DEFAULT_OPSET, DEFAULT_PROFILE, DEFAULT_TOLERANCE, DURATION_S, EXPORT_SIZE, ITERATIONS,
                    PROFILE_SHAPE, WARMUP_MS, WARMUP_RUNS, WORKSPACE_MB)

_FILE = click.Path(dir_okay=False, path_type=Path)


def _shape_text(shape: tuple) -> str:
    return "x".join(map(str, shape))


_GROUP_EPILOG = """\b
Typical order:
  c2fbench deploy export  --model run/final.pt --out model.onnx --dynamic
  c2fbench deploy parity  --model run/final.pt --deployed model.onnx --benchmark voc-val --data-root DATA
  c2fbench deploy profile --model run/final.pt --threads 4 --out prof/
  c2fbench deploy build   --onnx model.onnx --out model.engine --precision fp16   (NVIDIA GPU)

\b
A model exported elsewhere:
  c2fbench deploy tag --onnx theirs.onnx --classes voc --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225
"""

_DEVICE_HELP = "cpu, cuda or cuda:N; checked before anything runs (CUDA must be present)."


@click.group(epilog=_GROUP_EPILOG)
def deploy():
    """Deploy models: ONNX export, TensorRT engines, INT8, latency profiles, accuracy parity."""


deploy.add_command(quantize)


@deploy.command("export", epilog="""\b
Examples:
  c2fbench deploy export --model run/final.pt --out model.onnx --dynamic
  c2fbench deploy export --model run/final.pt --out model-321.onnx --height 321 --width 321 \\
      --verify-images DATA/VOCdevkit/VOC2012/JPEGImages --num 8
  c2fbench deploy export --model theirs.pth --arch mynets.seg:build --classes voc \\
      --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 --out theirs.onnx --dynamic

\b
The file is written only after the checker and the comparison ran; a bad checkpoint or
image leaves no file behind. A state dict exported with --arch carries the class names and
normalisation of --classes and --mean/--std in the ONNX file, as a checkpoint's export does.
""")
@click.option("--model", type=_FILE, required=True,
              help="A c2fbench checkpoint (.pt), torchvision:NAME (with --weights), or a state dict (.pth) with "
                   "--arch.")
@click.option("--out", type=_FILE, required=True, help="The ONNX file to write (atomically).")
@click.option("--dynamic", is_flag=True, help="Dynamic batch, height and width (needed to run whole images).")
@click.option("--height", type=click.IntRange(8, 8000), cls=LibraryDefault, show_default=str(EXPORT_SIZE),
              help="Input height (the graph's, when static; the first verification size, when dynamic).")
@click.option("--width", type=click.IntRange(8, 8000), cls=LibraryDefault, show_default=str(EXPORT_SIZE),
              help="Input width (as --height).")
@click.option("--opset", type=click.IntRange(min=11), cls=LibraryDefault, show_default=str(DEFAULT_OPSET),
              help="ONNX opset of the graph (11 or later: Resize with coordinate_transformation_mode).")
@click.option("--verify-images", type=click.Path(file_okay=False, path_type=Path),
              help="Also compare with PyTorch on (up to --num) real images from this folder; "
                   "they are read before anything is exported.")
@click.option("--num", type=click.IntRange(min=1), default=4, show_default=True,
              help="How many images of --verify-images (the first, in sorted order).")
@click.option("--no-verify", is_flag=True, help="Skip the comparison with PyTorch.")
@foreign_model_options
@arch_options
def export(model, out, dynamic, height, width, opset, verify_images, num, no_verify, weights, classes, mean, std,
           no_normalize, arch, arch_kwargs):
    """Export a checkpoint (or a state dict with --arch) to ONNX, check it, and compare ONNX
    Runtime with PyTorch."""
    from c2fbench.console import success
    from c2fbench.errors import InputError
    from c2fbench.files import check_output_apart
    from c2fbench.report.terminal import print_checks
    from deploy.export import export_onnx
    from deploy.foreign import MetadataOverride
    from deploy.user_models import model_and_arch, parse_arch

    override = MetadataOverride.from_options(classes, mean, std, no_normalize)
    arch = parse_arch(arch, arch_kwargs)
    if arch is not None or str(model).startswith("torchvision:"):
        model, arch = model_and_arch(model, weights=weights, arch=arch)
    elif weights is not None:
        raise InputError(f"--weights is for --model torchvision:NAME; {model} holds its own weights")
    check_output_apart(out, {"--model" if weights is None else "--weights": model,
                             "--arch": arch.file if arch is not None else None, "--verify-images": verify_images})
    images = _some_images(verify_images, num) if verify_images else []
    report = export_onnx(model, out, dynamic=dynamic, height=or_default(height, EXPORT_SIZE), width=or_default(width, EXPORT_SIZE),
                         opset=or_default(opset, DEFAULT_OPSET), verify=not no_verify, images=images, arch=arch,
                         override=override)
    if report.checks:
        print_checks(report.checks, title=f"{out}: ONNX Runtime vs PyTorch")
    success(f"wrote {out} (input {_shape_text(report.input_shape)}, opset {report.opset})")


def _some_images(folder: Path, num: int) -> list[Path]:
    from c2fbench.data.images import find_image, list_images

    return [find_image(folder, i) for i in list_images(folder)[:num]]


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
@click.option("--data-root", type=click.Path(path_type=Path), required=True, help=DATA_ROOT_HELP)
@click.option("--device", default="cpu", show_default=True, help=_DEVICE_HELP)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads for both runtimes.")
@click.option("--tolerance", type=FiniteFloatRange(0, 100), cls=LibraryDefault, show_default=str(DEFAULT_TOLERANCE),
              help="Allowed |delta| in metric points.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Write parity.json here.")
@click.option("--classes", "deployed_classes", type=click.Choice(["voc", "coco", "mit"]),
              help="Class names of a --deployed ONNX file without c2fbench metadata (see eval --classes).")
@click.option("--mean", metavar="R,G,B", help="Input mean of such a file, 0-1 scale.")
@click.option("--std", metavar="R,G,B", help="Input std of such a file, 0-1 scale, with --mean.")
@click.option("--no-normalize", is_flag=True, help="Such a file takes the 0-1 image as it is.")
def parity(model, deployed, benchmark, data_root, device, threads, tolerance, out, deployed_classes, mean, std,
           no_normalize):
    """Score a checkpoint and its deployed form with the same evaluator; exit 1 if they differ
    by more than --tolerance. A --deployed ONNX file without c2fbench metadata (converted
    elsewhere) takes --classes and --mean/--std (or --no-normalize)."""
    from c2fbench.console import out as console, progress, success, warn
    from c2fbench.errors import InputError
    from c2fbench.devices import resolve_device
    from c2fbench.eval.benchmarks import BENCHMARKS, load_benchmark
    from c2fbench.eval.outputs import benchmark_inputs
    from c2fbench.files import check_output_apart
    from deploy.parity import parity as run_parity, summary_rows, write_parity
    from deploy.runtimes import load_runtime

    from deploy.foreign import MetadataOverride

    override = MetadataOverride.from_options(deployed_classes, mean, std, no_normalize)
    written = None if out is None else Path(out) / "parity.json"
    if written is not None:  # the models now, the dataset once found (--data-root may be a folder above it)
        check_output_apart(written, {"--model": model, "--deployed": deployed}, option="--out")
    device, tolerance = resolve_device(device), or_default(tolerance, DEFAULT_TOLERANCE)
    if benchmark not in BENCHMARKS:
        raise InputError(f"unknown benchmark {benchmark!r}; known: {', '.join(sorted(BENCHMARKS))}")
    bench = load_benchmark(benchmark, data_root)
    if written is not None:
        check_output_apart(written, benchmark_inputs(bench), option="--out")
    reference = load_runtime(model, device=device, threads=threads)
    runtime = load_runtime(deployed, device=device, threads=threads, override=override)
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
  c2fbench deploy profile --model theirs.onnx          (no c2fbench metadata needed for latency)
  c2fbench deploy profile --model model.onnx --model model-int8.onnx --threads 2   (INT8 against FP32)
  c2fbench deploy profile --model torchvision:deeplabv3_resnet101 --weights dlv3.pth --device cuda

\b
Timing follows trtexec: warm-up for --warmup-ms, then runs until both --iterations
and --duration are reached, one inference at a time. Every backend (and every --model)
takes turns run by run, on the same input with the same threads, so that a busy core
slows them alike. Latency columns are host wall time per inference (p90/p95/p99 are
trtexec's percentiles, CV the standard deviation over the mean); on CUDA, torch and
TensorRT rows add the GPU's own figures from CUDA events: H2D copy, GPU compute, D2H copy
and their sum (trtexec's "latency"). The "vs <backend>" column is the first row's median
over each row's median (above 1 is faster than that baseline); an INT8 row is also set
against ONNX Runtime FP32. A row whose CV or median/min shows interference is marked
unstable, and so is every ratio taken from it: rerun on idle cores.
""")
@click.option("--model", "models", type=_FILE, required=True, multiple=True,
              help="A checkpoint (.pt), ONNX file, TensorRT engine, or torchvision:NAME with --weights. "
                   "Repeatable: every model is profiled, interleaved with the others.")
@click.option("--backend", "backends", type=click.Choice(["torch", "onnxruntime", "tensorrt"]), multiple=True,
              help="Repeatable. Default: torch and onnxruntime for a .pt, the file's own backend otherwise.")
@click.option("--shape", cls=LibraryDefault, show_default=_shape_text(PROFILE_SHAPE), help="Input BxCxHxW.")
@click.option("--warmup-ms", type=FiniteFloatRange(0, 600_000), cls=LibraryDefault, show_default=str(WARMUP_MS),
              help="Untimed warm-up, in milliseconds (trtexec's --warmUp).")
@click.option("--warmup", type=click.IntRange(min=0), cls=LibraryDefault, show_default=str(WARMUP_RUNS),
              help="Least number of untimed warm-up runs (besides --warmup-ms).")
@click.option("--iterations", type=click.IntRange(1, 10_000_000), cls=LibraryDefault, show_default=str(ITERATIONS),
              help="Least number of timed runs per backend (trtexec's --iterations).")
@click.option("--duration", type=FiniteFloatRange(0, 3600), cls=LibraryDefault, show_default=str(DURATION_S),
              help="Least timed seconds per backend (trtexec's --duration); 0: exactly --iterations runs.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads for every backend (default: the CPUs this process may use, never a count "
                   "read from the load), so ratios compare like with like; printed first.")
@click.option("--device", default="cpu", show_default=True, help=_DEVICE_HELP)
@click.option("--cuda-graph", is_flag=True, help="CUDA only: replay a captured CUDA graph (torch, TensorRT).")
@click.option("--amp", is_flag=True, help="torch backend: autocast (FP16 on CUDA, BF16 on the CPU).")
@click.option("--channels-last", is_flag=True, help="torch backend: NHWC memory format.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Write profile.json here.")
@foreign_model_options
def profile(models, backends, shape, warmup_ms, warmup, iterations, duration, threads, device, cuda_graph, amp,
            channels_last, out, weights, classes, mean, std, no_normalize):
    """Latency of models on one or more backends: warm-up, then timed runs, interleaved (trtexec's method)."""
    from c2fbench.console import info, success
    from c2fbench.devices import resolve_device
    from c2fbench.files import check_output_apart
    from c2fbench.report.terminal import print_profile
    from deploy.foreign import MetadataOverride
    from deploy.profile import parse_shape, profile_model, write_profile

    override = MetadataOverride.from_options(classes, mean, std, no_normalize)  # latency needs none of them
    if out is not None:
        files = {"--model" if len(models) == 1 else f"--model #{i + 1}":  # torchvision:NAME is a name, not a file
                 None if str(m).startswith("torchvision:") else m for i, m in enumerate(models)}
        check_output_apart(Path(out) / "profile.json", {**files, "--weights": weights})
    device = resolve_device(device)
    result = profile_model(models[0], more_models=list(models[1:]), backends=list(backends) or None,
                           shape=PROFILE_SHAPE if shape is None else parse_shape(shape),
                           warmup_ms=or_default(warmup_ms, WARMUP_MS), warmup=or_default(warmup, WARMUP_RUNS),
                           iterations=or_default(iterations, ITERATIONS), duration_s=or_default(duration, DURATION_S),
                           threads=threads, device=device, cuda_graph=cuda_graph, amp=amp, channels_last=channels_last,
                           weights=weights, override=override, advance=lambda name: info(f"profiled {name}"),
                           announce=lambda n, why: info(f"threads: {n} for every backend ({why}"
                                                        + ("; set --threads to choose)" if why != "--threads" else ")")))
    print_profile(result)
    if out is not None:
        success(f"wrote {write_profile(out, result)}")


def _shape_option(text: str | None):
    """``--min-shape`` and friends: None (the profile's default) or (B, 3, H, W)."""
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
                   "--target tensorrt`, its other layers in FP16 or FP32 on TensorRT 10 as trtexec --int8 --fp16, "
                   "FP32 on TensorRT 11; check either with `deploy parity`).")
@click.option("--workspace-mb", type=click.IntRange(min=16), cls=LibraryDefault, show_default=str(WORKSPACE_MB),
              help="Scratch memory TensorRT may use while choosing kernels (MiB).")
@click.option("--min-shape", cls=LibraryDefault, show_default=_shape_text(DEFAULT_PROFILE["min"]),
              help="Dynamic inputs: smallest BxCxHxW (the default is lowered to fit a smaller --opt-shape).")
@click.option("--opt-shape", cls=LibraryDefault, show_default=_shape_text(DEFAULT_PROFILE["opt"]),
              help="Dynamic inputs: the shape kernels are tuned for.")
@click.option("--max-shape", cls=LibraryDefault, show_default=_shape_text(DEFAULT_PROFILE["max"]),
              help="Dynamic inputs: largest BxCxHxW (the default is raised to fit a larger --opt-shape).")
@click.option("--timing-cache", type=_FILE, help="Timing cache file: read if present, written after the build.")
@click.option("--device", default=None, help="cuda or cuda:N, the GPU the engine is built for (default: the "
              "current CUDA device); checked before anything runs.")
def build(onnx_path, out, precision, workspace_mb, min_shape, opt_shape, max_shape, timing_cache, device):
    """Build a TensorRT engine (needs TensorRT and an NVIDIA GPU: pip install -e '.[tensorrt]' in the
    c2fbench checkout)."""
    from c2fbench.console import success
    from deploy.tensorrt import import_tensorrt
    from deploy.tensorrt_build import build_engine, check_build_paths, check_graph_precision, resolve_build_device

    check_build_paths(onnx_path, out, timing_cache)  # before anything else: no output over an input
    device = resolve_build_device(device)
    check_graph_precision(onnx_path, precision)  # an INT8 build needs a Q/DQ graph for TensorRT
    import_tensorrt()  # before any work: without TensorRT, say what to install (exit 2)

    sidecar = build_engine(onnx_path, out, precision=precision, workspace_mb=or_default(workspace_mb, WORKSPACE_MB),
                           min_shape=_shape_option(min_shape), opt_shape=_shape_option(opt_shape),
                           max_shape=_shape_option(max_shape), timing_cache=timing_cache, device=device or "cuda")
    kind = precision if sidecar["int8_float_layers"] is None else f"int8, other layers {sidecar['int8_float_layers']}"
    success(f"wrote {out} ({kind}, TensorRT {sidecar['tensorrt_version']}, {sidecar['gpu_name']}, "
            f"shapes {sidecar['shapes']['min']}..{sidecar['shapes']['max']})")


@deploy.command("tag", epilog="""\b
Examples:
  c2fbench deploy tag --onnx theirs.onnx --classes voc --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225
  c2fbench deploy tag --onnx fg.onnx --classes mit --no-normalize --out fg-tagged.onnx
  c2fbench deploy tag --onnx theirs.onnx --classes voc --no-normalize --replace   (re-tag)
  c2fbench eval voc-val --data-root DATA --model theirs.onnx          (no flags needed any more)

\b
Means and stds are on the 0-1 scale: c2fbench divides images by 255 before normalising.
""")
@click.option("--onnx", "onnx_path", type=_FILE, required=True, help="An ONNX file (from c2fbench or elsewhere).")
@click.option("--out", type=_FILE, help="Write the tagged file here (default: replace --onnx in place, atomically).")
@click.option("--classes", type=click.Choice(["voc", "coco", "mit"]), required=True,
              help="voc (21), coco (81: background and the 80 categories in id order), mit (foreground; "
                   "background and foreground for two output channels).")
@click.option("--mean", metavar="R,G,B", help="Input mean on the 0-1 scale (ImageNet: 0.485,0.456,0.406).")
@click.option("--std", metavar="R,G,B", help="Input std on the 0-1 scale (ImageNet: 0.229,0.224,0.225).")
@click.option("--no-normalize", is_flag=True, help="The model takes the 0-1 image as it is (mean 0, std 1).")
@click.option("--replace", is_flag=True, help="Write over the class names and normalisation the file already "
              "has (without it they must agree with the flags).")
def tag(onnx_path, out, classes, mean, std, no_normalize, replace):
    """Write c2fbench metadata (class names, normalisation) into an ONNX file, so that eval,
    parity, build and quantize read it without flags. Metadata already there must agree,
    unless --replace (to re-tag a file tagged wrongly)."""
    from c2fbench.console import success
    from c2fbench.errors import InputError
    from deploy.foreign import MetadataOverride
    from deploy.tag import tag_onnx

    override = MetadataOverride.from_options(classes, mean, std, no_normalize)
    if override.normalization is None:
        raise InputError("deploy tag needs --mean R,G,B --std R,G,B (0-1 scale) or --no-normalize")
    meta = tag_onnx(onnx_path, out, override, replace=replace)
    success(f"wrote {out or onnx_path} ({len(meta['classes'])} classes, {classes}; mean {meta['normalization']['mean']}, "
            f"std {meta['normalization']['std']})")
