"""Deployment section: latency across backends and precisions (speed-up over PyTorch eager in
the same profile, INT8 over ONNX Runtime FP32, each marked when its measurement was unstable),
accuracy matched to each profiled model file by sha256, latency against accuracy, and parity
checks."""

from __future__ import annotations

from c2fbench.report import figures
from c2fbench.report.cells import DASH, fmt, headline, model_name, short_path, signed
from c2fbench.report.document import Data, Figure, Section, Table, slug
from c2fbench.report.inputs import ReportInput


def _accuracy_by_model(inputs: list[ReportInput]) -> dict[str, tuple[str, float, str]]:
    """sha256 of a model file -> (metric, value, benchmark) from the evals and parity checks given."""
    found = {}

    def add(metrics: dict):
        sha = (metrics.get("source") or {}).get("sha256")
        if sha and sha not in found:
            metric, value = headline(metrics)
            found[sha] = (metric, value, metrics["benchmark"])

    for item in inputs:
        if item.kind in ("semantic", "foreground"):
            add(item.data)
        elif item.kind == "parity":
            add(item.data["reference"])
            add(item.data["deployed"])
    return found


def deploy_section(inputs: list[ReportInput]) -> list[Section]:
    profiles = [i for i in inputs if i.kind == "profile"]
    parities = [i for i in inputs if i.kind == "parity"]
    if not profiles and not parities:
        return []
    blocks = []
    if profiles:
        accuracy = _accuracy_by_model(inputs)
        rows, numbers = [], []
        points: dict[tuple, list[dict]] = {}
        for item in profiles:
            source = item.data.get("source") or {}
            for e in item.data["results"]:
                path = e.get("model") or source.get("model")
                model = short_path(path) if path else item.label
                score = accuracy.get(e.get("sha256") or source.get("sha256") or "")
                vs_torch = _ratio(e, item.data["results"], "torch", None)
                vs_fp32 = _ratio(e, item.data["results"], "onnxruntime", "fp32") if e["precision"] == "int8" else None
                unstable = e.get("unstable")
                rows.append([model, e["backend"], e["precision"], "x".join(map(str, e["shape"])),
                             str(e.get("threads", DASH)), e.get("device", DASH), fmt(e["median_ms"], 2),
                             fmt(e.get("p90_ms"), 2), fmt(e["throughput_ips"], 1), _ratio_cell(vs_torch),
                             f"{score[1]:.2f} ({score[2]} {score[0]})" if score else DASH, _ratio_cell(vs_fp32),
                             fmt(e.get("cv"), 3), DASH if unstable is None else "UNSTABLE" if unstable else "stable"])
                numbers.append([model, e["backend"], e["precision"], "x".join(map(str, e["shape"])),
                                e.get("threads"), e.get("device"), e["median_ms"], e.get("p90_ms"),
                                e["throughput_ips"], vs_torch and vs_torch[0], score[1] if score else None,
                                f"{score[2]} {score[0]}" if score else None, vs_fp32 and vs_fp32[0], e.get("p95_ms"),
                                e.get("cv"), unstable])
                if score:
                    points.setdefault((score[2], score[0]), []).append(
                        {"name": f"{model} {e['backend']} {e['precision']} {'x'.join(map(str, e['shape'][2:]))}",
                         "ms": e["median_ms"], "score": score[1]})
        header = ["model", "backend", "precision", "shape", "threads", "device", "median ms", "p90 ms", "images/s",
                  "vs torch", "accuracy", "INT8 vs onnxruntime fp32", "CV", "stability"]
        caption = "Latency across backends and precisions"
        blocks += ["Median host latency per batch from `c2fbench deploy profile`; speed-up is against PyTorch eager "
                   "in the same profile at the same shape, and an INT8 model's against ONNX Runtime FP32 timed in the "
                   "same run (the backends take turns run by run). CV is the runs' standard deviation over their "
                   "mean; a row whose CV or median/min shows that other work shared the machine is UNSTABLE, and "
                   "so is every ratio taken from it. Accuracy is that of the profiled model file, matched by "
                   "its sha256 to the eval and parity results given to this report (a checkpoint's score also "
                   "stands for its FP32 export, whose parity `deploy parity` checks).",
                   Table(header, rows, caption=caption,
                         data=Data("latency", header[:9] + ["speed-up vs torch", "accuracy", "accuracy of",
                                                            "speed-up vs onnxruntime fp32", "p95 ms", "CV",
                                                            "unstable"],
                                   numbers, source=["yours"] * len(numbers), caption=caption))]
        for (benchmark, metric), pts in points.items():
            blocks.append(Figure(f"latency-{slug(benchmark)}-{slug(metric)}", figures.latency_accuracy_png(
                pts, ylabel=f"{benchmark} {metric} (%)"),
                f"Median latency against {benchmark} {metric}: up and to the left is better."))
        if not points:
            blocks.append("No eval or parity result given here shares a model file with the profiles, so there is "
                          "no latency-against-accuracy plot: add the eval of the profiled model.")
    if parities:
        rows, numbers = [], []
        for item in parities:
            d = item.data
            (_, ref), (_, dep) = headline(d["reference"]), headline(d["deployed"])
            logits = d.get("logits") or {}
            tolerance = d.get("tolerance")
            verdict = DASH if tolerance is None else "pass" if abs(dep - ref) <= tolerance else "FAIL"
            rows.append([item.label, d.get("benchmark", DASH), model_name(d["reference"]), model_name(d["deployed"]),
                         f"{ref:.2f}", f"{dep:.2f}", signed(dep - ref, 2), fmt(tolerance, 2), verdict,
                         fmt(logits["argmax_agreement"], 2) if "argmax_agreement" in logits else DASH])
            numbers.append([item.label, d.get("benchmark"), _known(model_name(d["reference"])),
                            _known(model_name(d["deployed"])),
                            ref, dep, dep - ref, tolerance, None if verdict == DASH else verdict,
                            logits.get("argmax_agreement")])
        blocks.append("A deployed model passes when its score is within the tolerance recorded by `deploy parity` "
                      "of its checkpoint's, in points.")
        header = ["parity", "benchmark", "reference", "deployed", "reference score", "deployed score",
                  "difference", "tolerance", "within tolerance", "argmax agreement %"]
        caption = "Accuracy of the deployed model against its checkpoint"
        blocks.append(Table(header, rows, caption=caption,
                            data=Data("parity", header, numbers, source=["yours"] * len(numbers), caption=caption)))
    return [Section("Deployment", blocks)]


def profile_rows(item: ReportInput) -> list[dict]:
    """One profile's rows as the summary shows them: model, backend, precision, shape and
    median, the speed-up over PyTorch eager and (INT8) over ONNX Runtime FP32 as cells that
    say "(unstable)" where either measurement was, and the row's stability."""
    source = item.data.get("source") or {}
    rows = []
    for e in item.data["results"]:
        path = e.get("model") or source.get("model")
        unstable = e.get("unstable")
        rows.append({"model": short_path(path) if path else item.label, "backend": e["backend"],
                     "precision": e["precision"], "shape": "x".join(map(str, e["shape"])),
                     "median_ms": e["median_ms"],
                     "vs_torch": _ratio_cell(_ratio(e, item.data["results"], "torch", None)),
                     "vs_fp32": _ratio_cell(_ratio(e, item.data["results"], "onnxruntime", "fp32"))
                     if e["precision"] == "int8" else DASH,
                     "stability": DASH if unstable is None else "UNSTABLE" if unstable else "stable"})
    return rows


def _ratio(entry: dict, results: list[dict], backend: str, precision: str | None) -> tuple[float, bool] | None:
    """(speed-up, unstable) of ``entry`` against the ``backend`` (and ``precision``) row it was
    timed with: from the entry's own ``vs`` (kept when a profile is split into files), else
    the first such row of its profile at the same shape (files written before ``vs``)."""
    def fits(other: dict) -> bool:
        return other["backend"] == backend and (precision is None or other["precision"] == precision)

    for other in entry.get("vs", []):
        if fits(other) and other.get("ratio") is not None:
            return other["ratio"], bool(other.get("unstable"))
    if fits(entry):  # the baseline itself
        return 1.0, bool(entry.get("unstable"))
    if "vs" in entry:
        return None
    base = next((o for o in results if fits(o) and o["shape"] == entry["shape"]), None)
    if base is None or not entry["median_ms"] > 0:
        return None
    return base["median_ms"] / entry["median_ms"], bool(base.get("unstable") or entry.get("unstable"))


def _ratio_cell(ratio: tuple[float, bool] | None) -> str:
    """"2.31x", or "2.31x (unstable)": a ratio from an unstable measurement never stands bare."""
    return DASH if ratio is None else f"{ratio[0]:.2f}x" + (" (unstable)" if ratio[1] else "")


def _known(text: str) -> str | None:
    """A table cell's text as a value: None for the dash of a missing one."""
    return None if text == DASH else text
