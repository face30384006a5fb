"""The "Worst images" section: for each semantic result, the images it scores worst on by
their own mIoU (:mod:`c2fbench.eval.worst`, ranked from ``per_image.npz``), with the classes
that differ, and a strip of thumbnails (image, ground truth, prediction) when those files
can still be read.

Thumbnails need the predictions (``source.predictions`` in metrics.json, or for a result
scored from a model, ``source.model``: the same .pt or .onnx file, checked by its sha256 and
run again on the CPU on the ranked images alone, as ``eval --show-dir`` does) and the
benchmark's images and ground truth (``data.root``). A folder or model since moved, changed
or deleted, or predictions that no longer give the confusion matrices the eval recorded
leave the table alone, with a note saying why: the report never fails for a missing image
folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from c2fbench.errors import InputError
from c2fbench.eval.results import read_per_image
from c2fbench.eval.worst import RankedImage, fmt_score, worst_of_arrays
from c2fbench.report.cells import row_name
from c2fbench.report.document import Figure, Section, Table, slug
from c2fbench.report.inputs import ReportInput

STRIP = 8  # images per result


def worst_section(inputs: list[ReportInput], *, k: int = STRIP, load_model=None) -> list[Section]:
    """``load_model(path)``: a runtime for a .pt or .onnx file on the CPU (the command line
    passes :func:`deploy.runtimes.load_runtime`; the core does not import deploy), used to
    draw a result scored from a model; without it such a result gets the table alone."""
    semantic = [i for i in inputs if i.kind == "semantic"]
    if not semantic:
        return []
    blocks: list = [f"The {k} images each result scores worst on, by the image's own mIoU: IoU per class from the "
                    f"image's confusion matrix (void excluded), averaged over the classes in its ground truth or "
                    f"prediction; ties by pixel accuracy, then id. 'missed' classes are in the ground truth but "
                    f"never predicted, 'extra' ones predicted but absent; 'confused' pairs give the ground-truth "
                    f"class, what it was taken for and the share of the image's pixels. `c2fbench eval --worst K "
                    f"--show-dir DIR` draws every such image at full size."]
    for item in semantic:
        blocks += _result_blocks(item, k, load_model)
    return [Section("Worst images", blocks)]


def _result_blocks(item: ReportInput, k: int, load_model) -> list:
    name = row_name(item)
    if not (item.path.parent / "per_image.npz").is_file():
        return [f"{name}: no per_image.npz beside its metrics.json, so its images cannot be ranked."]
    arrays = read_per_image(item.path.parent, item.data)  # checked when the inputs were loaded
    ranked = worst_of_arrays(arrays, item.data, k)
    rows = [[str(r.rank), r.id, fmt_score(r.score), fmt_score(r.accuracy), r.differences() or "—"] for r in ranked]
    blocks: list = [Table(["rank", "image", "mIoU", "pixel acc", "classes that differ"], rows,
                          caption=f"{name}: the {len(ranked)} worst images of {item.data['benchmark']} (%)")]
    try:
        views = _views(item, ranked, arrays, load_model)
    except (InputError, OSError, ValueError, KeyError, ImportError, RuntimeError) as e:  # a model that will not run
        return [*blocks, f"{name}: no thumbnails ({e})."]
    from c2fbench.report.overlays import strip_png

    blocks.append(Figure(f"worst-{slug(item.label)}", strip_png(views, classes=item.data["classes"], kind="semantic"),
                         f"The {len(views)} worst images of {name} on {item.data['benchmark']}, worst first, two a "
                         f"row: image, ground truth and prediction (VOC palette over the image)."))
    return blocks


def _recorded(arrays: dict, index: int, c: int) -> np.ndarray:
    """(C, C) matrix the eval recorded for image ``index``: dense, or from its nonzero cells."""
    if "confusion" in arrays:
        return arrays["confusion"][index]
    mine = arrays["cell_image"] == index
    m = np.zeros(c * c, dtype=np.int64)
    np.add.at(m, arrays["cell_gt"][mine].astype(np.int64) * c + arrays["cell_pred"][mine], arrays["cell_count"][mine])
    return m.reshape(c, c)


def _views(item: ReportInput, ranked: list[RankedImage], arrays: dict, load_model) -> list:
    """The ranked images with their ground truth and prediction, read again; InputError
    saying why when they cannot be, or no longer give the recorded per-image matrices."""
    from c2fbench.data.images import read_rgb
    from c2fbench.eval.benchmarks import BENCHMARKS, load_benchmark
    from c2fbench.eval.evaluator import UNCERTAIN, read_truth, settle_uncertain
    from c2fbench.eval.show import View
    from c2fbench.eval.sources import PngPredictions
    from c2fbench.metrics.confusion import image_confusion

    source, data = item.data.get("source") or {}, item.data.get("data") or {}
    if isinstance(source.get("predictions"), str):
        predictions = PngPredictions(Path(source["predictions"]), resize_nearest=True)
    elif isinstance(source.get("model"), str):
        predictions = _model(source, load_model)
    else:
        raise InputError("metrics.json records neither a predictions folder nor a model file")
    if item.data["benchmark"] not in BENCHMARKS or not isinstance(data.get("root"), str):
        raise InputError(f"the benchmark {item.data['benchmark']!r} or its data root is unknown here")
    split = data.get("split") if isinstance(data.get("split"), str) else None  # eval --split
    bench = load_benchmark(item.data["benchmark"], data["root"], split=split)
    uncertain = item.data.get("uncertain") if item.data.get("uncertain") in UNCERTAIN else None
    samples = {s.id: s for s in bench.samples}
    views = []
    for r in ranked:
        if r.id not in samples:
            raise InputError(f"{r.id} is not in {bench.name} at {data['root']} any more")
        sample = samples[r.id]
        truth = read_truth(bench, sample)
        pred = predictions.load(sample, truth.shape, "semantic")
        c = len(item.data["classes"])
        scored = settle_uncertain(truth, pred, uncertain)[:2] if uncertain else (truth, pred)  # 255 drawn as is
        if not np.array_equal(image_confusion(*scored, c), _recorded(arrays, r.index, c)):
            where = predictions.path(sample) if hasattr(predictions, "path") else f"{r.id} run again"
            raise InputError(f"{where}: the prediction or ground truth on disk is not the one this eval scored")
        views.append(View(r, read_rgb(sample.image), truth, pred))
    return views


MODEL_KEYS = {"model", "sha256", "tta", "crf"}  # what `eval --model FILE` records of a .pt or .onnx file


def _model(source: dict, load_model):
    """The prediction source that scored ``source`` (metrics.json's): the same checkpoint or
    ONNX file, run again on the CPU on the ranked images alone, as ``eval --show-dir`` does.
    InputError where the file is gone or changed (sha256), or was loaded with options the
    report cannot repeat (``--arch``, ``torchvision:``, a TensorRT engine)."""
    from c2fbench.eval.sources import ModelPredictions
    from c2fbench.files import file_sha256

    if load_model is None:
        raise InputError("the result was scored from a model, and this report was built without running models")
    path = Path(source["model"])
    if set(source) - MODEL_KEYS or path.suffix.lower() not in (".pt", ".onnx"):
        raise InputError(f"the result was scored from {source['model']} with options the report does not repeat "
                         f"(it runs .pt and .onnx files on the CPU); `c2fbench eval --show-dir` draws them")
    if not path.is_file():
        raise InputError(f"{path}: the model file it was scored with is not found any more")
    if isinstance(source.get("sha256"), str) and file_sha256(path) != source["sha256"]:
        raise InputError(f"{path}: the model file changed since it was scored (sha256)")
    runtime = load_model(path)
    return ModelPredictions(runtime, tta=bool(source.get("tta")), crf=bool(source.get("crf")))
