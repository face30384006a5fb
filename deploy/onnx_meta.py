"""What an exported ONNX file holds besides its weights, and the checks that it describes itself.

``c2fbench deploy export`` names the graph's input ``image`` (B, 3, H, W) and its output
``logits`` (B, C, H, W), and writes ``metadata_props`` (keys in :data:`META_KEYS`) that let a
runtime stand in for the checkpoint: class names and normalisation (JSON), the
architecture, the c2fbench version and the checkpoint's sha256. Every reader of such a file
(ONNX Runtime, the TensorRT builder, quantization) reads and checks them here, whether it
sees the graph through an ONNX Runtime session or through ``onnx`` itself: both describe a
node by ``name`` and ``shape`` (ints, names of dynamic axes, None where unknown).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

from c2fbench.console import plural
from c2fbench.errors import InputError

INPUT, OUTPUT = "image", "logits"
META_KEYS = ("c2fbench.classes", "c2fbench.normalization", "c2fbench.arch", "c2fbench.kwargs",
             "c2fbench.version", "c2fbench.checkpoint_sha256")


class Node(NamedTuple):
    """A graph input or output read with ``onnx``, described as ONNX Runtime describes one."""

    name: str
    shape: list  # ints, names of dynamic axes, None where the graph leaves a dimension unnamed


def metadata_props(meta: dict) -> dict[str, str]:
    """The metadata_props (:data:`META_KEYS`) of an export, from a checkpoint's ``meta``
    (``classes``, ``normalization``, ``arch``, ``kwargs``, ``checkpoint_sha256``)."""
    from c2fbench import __version__

    return {"c2fbench.classes": json.dumps(meta["classes"]),
            "c2fbench.normalization": json.dumps(meta["normalization"]),
            "c2fbench.arch": meta["arch"], "c2fbench.kwargs": json.dumps(meta["kwargs"]),
            "c2fbench.version": __version__, "c2fbench.checkpoint_sha256": meta["checkpoint_sha256"]}


def read_onnx_metadata(path: Path, props: dict[str, str]) -> dict:
    """``classes``, ``normalization``, ``arch`` from an exported file's metadata_props
    ``props``; InputError naming ``path`` if they are missing (not exported by c2fbench),
    not JSON, or not what a checkpoint would hold (class names: distinct strings, at most
    :data:`c2fbench.models.metadata.MAX_CLASSES`; normalisation: 3 finite means, 3 stds > 0)."""
    from c2fbench.models.metadata import check_class_names, check_normalization

    missing = [k for k in ("c2fbench.classes", "c2fbench.normalization") if k not in props]
    if missing:
        raise InputError(f"{path}: ONNX file lacks the metadata {', '.join(missing)}; "
                         "export it with `c2fbench deploy export`, or write them into it with `c2fbench deploy tag "
                         "--onnx FILE --classes voc|coco|mit --mean R,G,B --std R,G,B` (class names and "
                         "normalisation are needed)")
    values = {key: metadata_json(props, key, path=path) for key in ("c2fbench.classes", "c2fbench.normalization")}
    return {"classes": check_class_names(values["c2fbench.classes"], where=f"{path}: metadata c2fbench.classes: "),
            "normalization": check_normalization(values["c2fbench.normalization"],
                                                 where=f"{path}: metadata c2fbench.normalization: "),
            "arch": props.get("c2fbench.arch"), "c2fbench_version": props.get("c2fbench.version")}


def metadata_json(props: dict[str, str], key: str, *, path: Path, default: str | None = None):
    """The value of the JSON string ``props[key]`` (``default`` when absent), read by the one
    JSON reader (:func:`c2fbench.jsonfile.parse_json`): InputError naming ``path`` and ``key``
    when it is not JSON or nests deeper than any c2fbench metadata."""
    from c2fbench.jsonfile import parse_json

    text = props.get(key, default)
    if not isinstance(text, str):
        raise InputError(f"{path}: metadata {key} is not a JSON string")
    return parse_json(text, f"{path}: metadata {key}")


def load_onnx(path: Path):
    """The ModelProto of ``path`` (external data not loaded); InputError unless it is a
    regular file of bounded size that parses as ONNX."""
    import onnx

    from c2fbench.files import MAX_MODEL_BYTES, check_regular_file

    check_regular_file(path, max_bytes=MAX_MODEL_BYTES, what="ONNX file")
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as e:  # DecodeError and friends: not an ONNX protobuf
        raise InputError(f"{path}: not a readable ONNX file ({type(e).__name__})") from None


def read_onnx(path: Path) -> tuple[dict, Node]:
    """``(metadata, input)`` of an exported file read with ``onnx``, no session: the
    metadata as :func:`read_onnx_metadata` gives it and the input :func:`check_input` picks;
    the output is checked against the classes (:func:`check_output`) as a runtime checks it."""
    proto = load_onnx(path)
    meta = read_onnx_metadata(path, {p.key: p.value for p in proto.metadata_props})
    initializers = {t.name for t in proto.graph.initializer}  # inputs before IR 4 list the weights too
    node = check_input([Node(i.name, _dims(i)) for i in proto.graph.input if i.name not in initializers], path=path)
    check_output([Node(o.name, _dims(o)) for o in proto.graph.output], len(meta["classes"]), path=path)
    return meta, node


def _dims(value_info) -> list:
    shape = value_info.type.tensor_type.shape
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in shape.dim]


def check_input(inputs: list, *, path: Path):
    """The graph's one input, (batch, 3, height, width) images; InputError for several
    inputs (c2fbench feeds one) or another shape."""
    if len(inputs) > 1:
        names = ", ".join(repr(i.name) for i in inputs)
        raise InputError(f"{path}: the graph has {len(inputs)} inputs ({names}); c2fbench feeds one, "
                         f"the normalised image {INPUT!r}")
    node = pick_node(inputs, INPUT, path=path, what="input")
    shape = list(node.shape)
    if len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != 3):
        raise InputError(f"{path}: input {node.name!r} has shape {shape}; expected (batch, 3, height, width) images")
    return node


def check_output(outputs: list, num_classes: int, *, path: Path):
    """The output c2fbench reads (:func:`pick_node`), its declared channels checked against
    ``num_classes`` (:func:`check_channels`)."""
    node = pick_node(outputs, OUTPUT, path=path, what="output")
    check_channels(list(node.shape or []), num_classes, path=path, name=node.name)
    return node


def pick_node(nodes: list, name: str, *, path: Path, what: str):
    """The graph input or output called ``name`` (what ``deploy export`` writes), or the only
    one; InputError naming the candidates when there are several and none is ``name``
    (taking the first would score whatever tensor happens to come first)."""
    def name_of(node) -> str:
        return node if isinstance(node, str) else node.name  # TensorRT lists names, ORT node args

    if not nodes:
        raise InputError(f"{path}: the graph has no {what}")
    named = [n for n in nodes if name_of(n) == name]
    if named:
        return named[0]
    if len(nodes) == 1:
        return nodes[0]
    names = ", ".join(repr(name_of(n)) for n in nodes)
    raise InputError(f"{path}: {len(nodes)} graph {what}s ({names}) and none named {name!r}; "
                     f"c2fbench reads the {what} {name!r} (re-export with `c2fbench deploy export`)")


def check_channels(shape: list, num_classes: int, *, path: Path, name: str, ran: bool = False) -> None:
    """InputError unless output ``shape`` is (B, C, H, W) with C = ``num_classes`` (the
    metadata's class count); symbolic dimensions pass until a run gives them a size."""
    source = "gives" if ran else "declares"
    if shape and len(shape) != 4:
        raise InputError(f"{path}: output {name!r} {source} shape {list(shape)}; expected (batch, "
                         f"{num_classes}, height, width), one channel per class of its metadata")
    if len(shape) == 4 and isinstance(shape[1], int) and shape[1] != num_classes:
        raise InputError(f"{path}: output {name!r} {source} {shape[1]} channels but its metadata names "
                         f"{plural(num_classes, 'class')}; the file does not describe its own graph")


def onnx_precision(path: Path) -> str:
    """"int8" for a graph with QuantizeLinear / QLinear nodes, "fp16" for one with float16
    weights, else "fp32" (read with the weights, not from file names)."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    ops = {n.op_type for n in proto.graph.node}
    if "QuantizeLinear" in ops or any(op.startswith("QLinear") for op in ops):
        return "int8"
    if any(t.data_type == onnx.TensorProto.FLOAT16 for t in proto.graph.initializer):
        return "fp16"
    return "fp32"
