"""``c2fbench deploy tag``: write c2fbench metadata (class names, normalisation) into an ONNX
file exported elsewhere, so that eval, parity, build and quantize read it without flags.

Metadata already in the file must agree with what is given, as flags must everywhere else;
``replace`` (``--replace``) is the one way to change it, for a file tagged wrongly."""

from __future__ import annotations

import os
from pathlib import Path

from c2fbench.errors import InputError
from deploy.foreign import MetadataOverride

REPLACE_HINT = "add --replace to write the new ones over them"


def tag_onnx(path: Path, out: Path | None, override: MetadataOverride, *, replace: bool = False) -> dict:
    """Write the c2fbench metadata of ``override`` (classes and normalisation, both needed)
    into the ONNX file ``path``, saved atomically as ``out`` (None: ``path`` itself, in
    place; through a link, the file it points to). ``out`` must lie apart from ``path``.

    The graph is loaded and run once by ONNX Runtime on a zero image (its static size, else
    64x64), so the class count is checked against the channels the output really gives.
    Metadata already there must agree (as with flags) unless ``replace``, which writes over
    it without reading it; the architecture is recorded as ``foreign`` unless the file names
    one. Returns the metadata written."""
    import numpy as np
    import onnx

    from c2fbench.atomic import atomic_write_bytes
    from c2fbench.files import check_output_apart
    from deploy.onnx_meta import check_channels, load_onnx, metadata_json, metadata_props, read_onnx_metadata
    from deploy.runtimes import OnnxRuntime

    if override is None or override.classes is None or override.normalization is None:
        raise InputError(f"{path}: deploy tag needs --classes and --mean/--std (or --no-normalize)")
    if out is None:
        out = Path(os.path.realpath(path))
    else:
        check_output_apart(out, {"--onnx": path})  # to tag in place, leave --out out
    proto = load_onnx(path)
    if Path(out) != Path(os.path.realpath(path)) and any(t.data_location == onnx.TensorProto.EXTERNAL
                                                         for t in proto.graph.initializer):
        raise InputError(f"{path}: its weights are in external data files, which --out would leave behind; "
                         "tag it in place (without --out)")
    props = {p.key: p.value for p in proto.metadata_props}
    runtime = OnnxRuntime(path, metadata_optional=True, read_metadata=False)
    h, w = runtime.static_hw or (64, 64)
    channels = int(runtime.infer(np.zeros((1, 3, h, w), dtype=np.float32)).shape[1])
    tagged = "c2fbench.classes" in props or "c2fbench.normalization" in props
    own = read_onnx_metadata(path, props) if tagged and not replace else None
    meta = override.apply(own, path=path, channels=channels, hint=REPLACE_HINT)
    check_channels([1, channels, h, w], len(meta["classes"]), path=path, name=runtime.output_name, ran=True)
    written = metadata_props({"classes": meta["classes"], "normalization": meta["normalization"],
                              "arch": props.get("c2fbench.arch", "foreign"),
                              "kwargs": metadata_json(props, "c2fbench.kwargs", path=path, default="{}"),
                              "checkpoint_sha256": props.get("c2fbench.checkpoint_sha256", "")})
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key not in written]
    del proto.metadata_props[:]
    for key, value in [*kept, *written.items()]:
        proto.metadata_props.add(key=key, value=value)
    atomic_write_bytes(Path(out), proto.SerializeToString())
    return meta
