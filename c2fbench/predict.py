"""Prediction from a runtime: class probabilities (with test-time augmentation and at a
chosen size), the dense CRF, label maps, and ``c2fbench predict``'s folder of them.

Every function takes any :class:`c2fbench.inference.Runtime` and checks its output against
the classes it names (:func:`checked_logits`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from c2fbench.errors import InputError

TTA_SCALES = (0.75, 1.0, 1.25)


def predict_probs(runtime, rgb: np.ndarray, *, tta: bool = False, size: tuple[int, int] | None = None) -> np.ndarray:
    """(C, H, W) class probabilities; with ``tta``, averaged over scales 0.75/1/1.25 and flips.

    ``size`` (width, height): run the model on the image resized to it (bilinear) and
    resize the probabilities back to the image's size.
    """
    import cv2

    if size is not None and tuple(size) != (rgb.shape[1], rgb.shape[0]):
        h, w = rgb.shape[:2]
        probs = predict_probs(runtime, cv2.resize(rgb, tuple(size), interpolation=cv2.INTER_LINEAR), tta=tta)
        return np.stack([cv2.resize(np.ascontiguousarray(p), (w, h), interpolation=cv2.INTER_LINEAR) for p in probs])
    if not tta:
        return _softmax(checked_logits(runtime, rgb))
    h, w = rgb.shape[:2]
    total = None
    for scale in TTA_SCALES:
        size = (max(8, round(w * scale)), max(8, round(h * scale)))
        scaled = cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR) if scale != 1.0 else rgb
        for flip in (False, True):
            image = scaled[:, ::-1] if flip else scaled
            probs = _softmax(checked_logits(runtime, np.ascontiguousarray(image)))
            probs = probs[:, :, ::-1] if flip else probs
            probs = np.stack([cv2.resize(np.ascontiguousarray(p), (w, h), interpolation=cv2.INTER_LINEAR)
                              for p in probs])
            total = probs if total is None else total + probs
    return total / (2 * len(TTA_SCALES))


def crf_refine(rgb: np.ndarray, probs: np.ndarray, *, iterations: int = 10) -> np.ndarray:
    """Dense CRF (Krähenbühl & Koltun) on class probabilities, with the parameters psa uses
    (Gaussian sxy 3, compat 3; bilateral sxy 80, srgb 13, compat 10). Needs the optional
    extra ``c2fbench[crf]`` (pydensecrf2)."""
    try:
        import pydensecrf.densecrf as dcrf
        from pydensecrf.utils import unary_from_softmax
    except ImportError:
        raise InputError("--crf needs the dense CRF extra: pip install -e '.[crf]' in the c2fbench checkout") from None
    c, h, w = probs.shape
    crf = dcrf.DenseCRF2D(w, h, c)
    crf.setUnaryEnergy(np.ascontiguousarray(unary_from_softmax(probs.astype(np.float32))))
    crf.addPairwiseGaussian(sxy=3, compat=3)
    crf.addPairwiseBilateral(sxy=80, srgb=13, rgbim=np.require(rgb, np.uint8, ["C", "W"]), compat=10)
    return np.asarray(crf.inference(iterations), dtype=np.float32).reshape(c, h, w)


def predict_label(runtime, rgb: np.ndarray, *, tta: bool = False, crf: bool = False) -> np.ndarray:
    """(H, W) uint8 class indices."""
    probs = predict_probs(runtime, rgb, tta=tta)
    if crf:
        probs = crf_refine(rgb, probs)
    return probs.argmax(axis=0).astype(np.uint8)


def checked_logits(runtime, rgb: np.ndarray) -> np.ndarray:
    """``runtime.logits(rgb)``, (C, H, W) with one channel per class the runtime names and
    the image's size; InputError naming the model otherwise (an ONNX file whose graph does
    not match its metadata would else be scored as if it did)."""
    logits = runtime.logits(rgb)
    expected = (len(runtime.classes), *rgb.shape[:2])
    if logits.shape != expected:
        raise InputError(f"{runtime.source.get('model')}: output of shape {tuple(logits.shape)} for a "
                         f"{rgb.shape[1]}x{rgb.shape[0]} image; expected {expected}, one channel per class "
                         f"of its metadata ({len(runtime.classes)})")
    return logits


def _softmax(logits: np.ndarray) -> np.ndarray:
    """(C, H, W) logits -> (C, H, W) probabilities; one channel gives (background, foreground)."""
    if logits.shape[0] == 1:
        return np.stack(_sigmoid_pair(logits[0]))
    z = np.exp(logits - logits.max(axis=0, keepdims=True))
    return z / z.sum(axis=0, keepdims=True)


def _sigmoid_pair(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(1 - sigmoid(x), sigmoid(x)) without overflow: exp only ever sees -|x|, and each side
    is computed directly rather than as 1 minus the other (which loses the small one)."""
    e = np.exp(-np.abs(x))  # in (0, 1]
    big, small = 1.0 / (1.0 + e), e / (1.0 + e)
    positive = x >= 0
    return np.where(positive, small, big), np.where(positive, big, small)


# Object Discovery keeps each folder's masks in GroundTruth/ beside its images: they are not
# inputs, and predicting them would also write label maps nobody asked for.
GROUND_TRUTH_FOLDERS = ("groundtruth",)


def prediction_inputs(images: Path, split: Path | None = None) -> tuple[list[str], list[Path], list[str]]:
    """``(ids, files, skipped)`` for ``c2fbench predict``: every image under ``images``
    (``<sub>/<stem>`` ids) but those in GroundTruth folders (``skipped``), or with ``split``
    the images of its ids alone (:func:`c2fbench.data.ids.read_id_list`: VOC's test.txt
    over a JPEGImages folder shared with trainval), each file checked up front (a regular
    file of bounded size that decodes whole, see :func:`c2fbench.data.images.read_rgb`) so
    that a bad file, a truncated JPEG too, stops the run before any prediction is written.
    Decoding twice costs a few milliseconds an image, little next to the model."""
    from c2fbench.data.images import find_image, list_images, read_rgb

    if split is not None:
        ids = _split_ids(images, split)
        files = [find_image(Path(images), image_id) for image_id in ids]
        for path in files:
            read_rgb(path)
        return ids, files, []
    ids = list_images(images)
    in_ground_truth = [any(part.lower() in GROUND_TRUTH_FOLDERS for part in i.split("/")[:-1]) for i in ids]
    skipped = [i for i, gt in zip(ids, in_ground_truth) if gt]
    ids = [i for i, gt in zip(ids, in_ground_truth) if not gt]
    if not ids:
        raise InputError(f"{images}: only ground-truth masks found (GroundTruth folders); "
                         "--images takes the folder of images")
    files = []
    for image_id in ids:
        path = find_image(Path(images), image_id)
        read_rgb(path)  # decoded and dropped: one image in memory at a time
        files.append(path)
    return ids, files, skipped


def _split_ids(images: Path, split: Path) -> list[str]:
    """The ids of ``split``, each refused (the first named, the others counted) unless
    ``images`` holds ``<id>`` with an image suffix."""
    from c2fbench.data.ids import read_id_list
    from c2fbench.data.images import IMAGE_SUFFIXES, find_image

    if not Path(images).is_dir():
        raise InputError(f"{images}: image folder not found")
    ids = read_id_list(split, what="id list")
    missing = []
    for image_id in ids:
        try:
            find_image(Path(images), image_id)
        except InputError:
            missing.append(image_id)
    if missing:
        more = f" (and {len(missing) - 1} more ids)" if len(missing) > 1 else ""
        raise InputError(f"{split}: image id {missing[0]}{more} not found in {images} (expected "
                         f"{missing[0]} with one of {', '.join(IMAGE_SUFFIXES)})")
    return ids


def check_predict_out(out: Path, *, images: Path, model, weights: Path | None = None,
                      split: Path | None = None) -> None:
    """Refuse an ``--out`` that is, lies inside or holds ``--images``, ``--model``,
    ``--weights`` or ``--split`` (:func:`c2fbench.files.check_output_apart`, links followed):
    label maps written among the images would replace ``.png`` images of the same name, and a
    rerun would read them back as images."""
    from c2fbench.files import check_output_apart

    model_file = None if str(model).startswith("torchvision:") else model
    check_output_apart(out, {"--images": images, "--model": model_file, "--weights": weights, "--split": split})


def predict_folder(runtime, ids: list[str], files: list[Path], out: Path, *, tta: bool = False,
                   crf: bool = False, advance=lambda n: None) -> int:
    """Write ``out/<id>.png`` (VOC palette, atomically) for each image; returns the count.

    :func:`prediction_inputs` decoded every image already; one that changed since (and no
    longer decodes), or a write the disk refuses, stops the run with an InputError saying how
    many label maps were written.
    """
    from c2fbench.atomic import remove_stale_temporaries
    from c2fbench.data.images import read_rgb
    from c2fbench.data.png import write_label_png

    names: dict[Path, list[str]] = {}
    for image_id in ids:  # the temporaries a run killed while writing here left beside its label maps
        target = Path(out) / f"{image_id}.png"
        names.setdefault(target.parent, []).append(target.name)
    for folder, files_there in names.items():
        remove_stale_temporaries(folder, files_there)
    for done, (image_id, path) in enumerate(zip(ids, files)):
        try:
            label = predict_label(runtime, read_rgb(path), tta=tta, crf=crf)
            write_label_png(Path(out) / f"{image_id}.png", label)  # a full disk: InputError
        except InputError as e:
            if not done:
                raise
            raise InputError(f"{e}; {done} of {len(ids)} label maps were written to {out} before it "
                             "(a rerun overwrites them)") from None
        advance(1)
    return len(ids)
