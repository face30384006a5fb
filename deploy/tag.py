"""``c2fbench deploy tag``: write c2fbench metadata (class names, normalisation) into an ONNX
file exported elsewhere, so that eval, parity, build and quantize read it without flags."""

from __future__ import annotations

import json
from pathlib import Path

from c2fbench.errors import InputError
from deploy.foreign import MetadataOverride


def tag_onnx(path: Path, out: Path, override: MetadataOverride) -> dict:
    """Write the c2fbench metadata of ``override`` (classes and normalisation, both needed)
    into the ONNX file ``path``, saved atomically as ``out`` (``path`` itself for in place).

    The graph is loaded and run once by ONNX Runtime on a zero image (its static size, else
    64x64), so the class count is checked against the channels the output really gives.
    Metadata already there must agree (as with flags); the architecture is recorded as
    ``foreign`` unless the file names one. Returns the metadata written."""
    import numpy as np
    import onnx

    from c2fbench.atomic import atomic_write_bytes
    from deploy.onnx_meta import check_channels, load_onnx, metadata_props, read_onnx_metadata
    from deploy.runtimes import OnnxRuntime

    if override is None or override.classes is None or override.normalization is None:
        raise InputError(f"{path}: deploy tag needs --classes and --mean/--std (or --no-normalize)")
    proto = load_onnx(path)
    if Path(out) != Path(path) and any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer):
        raise InputError(f"{path}: its weights are in external data files, which --out would leave behind; "
                         "tag it in place (without --out)")
    props = {p.key: p.value for p in proto.metadata_props}
    runtime = OnnxRuntime(path, metadata_optional=True)
    h, w = runtime.static_hw or (64, 64)
    channels = int(runtime.infer(np.zeros((1, 3, h, w), dtype=np.float32)).shape[1])
    own = read_onnx_metadata(path, props) if "c2fbench.classes" in props or "c2fbench.normalization" in props else None
    meta = override.apply(own, path=path, channels=channels)
    check_channels([1, channels, h, w], len(meta["classes"]), path=path, name=runtime.output_name, ran=True)
    written = metadata_props({"classes": meta["classes"], "normalization": meta["normalization"],
                              "arch": props.get("c2fbench.arch", "foreign"),
                              "kwargs": json.loads(props.get("c2fbench.kwargs", "{}")),
                              "checkpoint_sha256": props.get("c2fbench.checkpoint_sha256", "")})
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key not in written]
    del proto.metadata_props[:]
    for key, value in [*kept, *written.items()]:
        proto.metadata_props.add(key=key, value=value)
    atomic_write_bytes(Path(out), proto.SerializeToString())
    return meta
