"""The graph side of ``deploy quantize``: which operator types ONNX Runtime can quantize,
initializers untied before quantizing, and what a quantized graph really holds.

* ``--op-types`` names are checked against ONNX Runtime's own registries (case-sensitive ONNX
  operator types), then against the graph: a name ONNX Runtime skips or the graph lacks would
  otherwise quantize less than asked, or nothing at all.
* :func:`untie_initializers` gives every Conv, Gemm or MatMul its own weight and bias. The
  PyTorch exporter shares equal-valued constants between layers (through an ``Identity`` or
  the same initializer name); ONNX Runtime's QOperator quantizer then fails on a bias that
  is an ``Identity`` output (an AttributeError without ``quant_pre_process``) and quantizes a
  shared bias once, with the first layer's scales, for every layer that reads it. Its QDQ
  quantizer copies shared biases itself; equalisation (:mod:`deploy.equalize`) would rescale
  a shared tensor once per layer.
* :func:`quantized_operators` counts the quantized operators of a written graph, so a graph
  with nothing quantized is never reported as INT8.
"""

from __future__ import annotations

from collections import Counter

from c2fbench.errors import InputError

WEIGHTED = ("Conv", "ConvTranspose", "Gemm", "MatMul")  # inputs 1 (weight) and 2 (bias) are tensors of their own
# QOperator forms of quantized nodes besides the QLinear* family (com.microsoft and integer ops)
QOPERATOR_NODES = ("QGemm", "QAttention", "QEmbedLayerNormalization", "ConvInteger", "MatMulInteger")


def supported_op_types(fmt: str) -> list[str]:
    """The operator types ONNX Runtime's static quantizer quantizes in ``fmt`` ("qdq" or
    "qoperator"), sorted: what it quantizes by default (``op_types_to_quantize`` None) for
    QDQ, its QLinear registry for QOperator (any other type is left FP32 there)."""
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    ops = set(QLinearOpsRegistry) | (set(QDQRegistry) if fmt == "qdq" else set())
    return sorted(ops)


def check_op_types(op_types: tuple[str, ...], fmt: str) -> tuple[str, ...]:
    """``op_types`` (``--op-types``), each one ONNX Runtime quantizes in ``fmt``; InputError
    naming the first that is not, with the right spelling where only the case differs."""
    supported = supported_op_types(fmt)
    by_lower = {op.lower(): op for op in supported}
    for op in op_types:
        if op in supported:
            continue
        if op.lower() in by_lower:
            raise InputError(f"--op-types {op}: operator types are case-sensitive ONNX names; did you mean "
                             f"{by_lower[op.lower()]}?")
        raise InputError(f"--op-types {op}: not an operator type ONNX Runtime quantizes with --format {fmt} "
                         f"(expected some of {', '.join(supported)})")
    return tuple(dict.fromkeys(op_types))


def check_op_types_in_graph(op_types: tuple[str, ...], proto, *, path, fmt: str) -> None:
    """InputError naming ``path`` unless every type of ``op_types`` has a node in ``proto``
    (the graph as it is quantized: after ``quant_pre_process``, which folds batch norms and
    splits HardSwish into HardSigmoid and Mul)."""
    present = {node.op_type for node in proto.graph.node}
    missing = [op for op in op_types if op not in present]
    if missing:
        quantizable = sorted(present & set(supported_op_types(fmt)))
        raise InputError(f"{path}: --op-types {','.join(missing)}: the graph has no such nodes (it has "
                         f"{', '.join(quantizable) or 'nothing ONNX Runtime quantizes'})")


def untie_initializers(proto) -> int:
    """Give each weight and bias input of a :data:`WEIGHTED` node an initializer of its own,
    in place; returns how many were copied. An ``Identity`` of an initializer becomes a copy
    of it (under the Identity's output name); an initializer read by several such inputs is
    copied for every reader after the first. The function of the graph is unchanged."""
    from onnx import numpy_helper

    graph = proto.graph
    inits = {t.name: t for t in graph.initializer}
    kept = {o.name for o in graph.output} | {i.name for i in graph.input}
    copied, sources = 0, set()
    for node in list(graph.node):  # Identity of an initializer -> an initializer
        if (node.op_type == "Identity" and node.input and node.input[0] in inits and node.input[0] not in kept
                and node.output[0] not in kept and node.output[0] not in inits):
            graph.initializer.append(numpy_helper.from_array(numpy_helper.to_array(inits[node.input[0]]),
                                                             node.output[0]))
            inits[node.output[0]] = graph.initializer[-1]
            sources.add(node.input[0])
            graph.node.remove(node)
            copied += 1
    seen: set[str] = set()
    taken = set(inits) | {name for node in graph.node for name in (*node.input, *node.output)}
    for node in graph.node:
        if node.op_type not in WEIGHTED:
            continue
        for k in range(1, min(len(node.input), 3)):
            name = node.input[k]
            if name not in inits or name in kept:  # a graph input may be fed another value
                continue
            if name in seen:
                copy = _fresh_name(f"{name}.{node.name or node.op_type}", taken)
                graph.initializer.append(numpy_helper.from_array(numpy_helper.to_array(inits[name]), copy))
                node.input[k] = copy
                copied += 1
            seen.add(name)
    used = _read_names(graph) | kept
    for name in sources - used:  # read by the removed Identity nodes only
        graph.initializer.remove(inits[name])
    return copied


def _read_names(graph) -> set[str]:
    """Every tensor name a node of ``graph`` or of its subgraphs (If, Loop, Scan) reads."""
    names = set()
    for node in graph.node:
        names.update(node.input)
        for attribute in node.attribute:
            for sub in [attribute.g, *attribute.graphs] if attribute.HasField("g") else attribute.graphs:
                names |= _read_names(sub)
    return names


def _fresh_name(base: str, taken: set[str]) -> str:
    name, k = base, 1
    while name in taken:
        name, k = f"{base}.{k}", k + 1
    taken.add(name)
    return name


def quantized_operators(proto, fmt: str) -> Counter:
    """Quantized operators of an INT8 graph in the form ``fmt``, by type. "qoperator": its
    QOperator nodes (``QLinear*`` and :data:`QOPERATOR_NODES`). "qdq": its QDQ groups, a
    node of a type ONNX Runtime quantizes that reads a DequantizeLinear output and either
    writes only into QuantizeLinear nodes or reads an integer weight through a
    DequantizeLinear (a layer whose output stays FP32). (An FP32 node between two quantized
    ones sits between a DequantizeLinear and a QuantizeLinear too; in QDQ form its type tells
    it apart, in QOperator form only QOperator nodes count.) Zero: nothing was quantized."""
    from onnx import TensorProto

    quantizable = set(supported_op_types("qdq"))
    graph = proto.graph
    integer = {t.name for t in graph.initializer
               if t.data_type in (TensorProto.INT8, TensorProto.UINT8, TensorProto.INT32)}
    dequantized = {node.output[0]: node.input[0] in integer for node in graph.node
                   if node.op_type == "DequantizeLinear"}
    readers: dict[str, list[str]] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node.op_type)
    found: Counter = Counter()
    for node in graph.node:
        if node.op_type.startswith("QLinear") or node.op_type in QOPERATOR_NODES:
            found[node.op_type] += 1
            continue
        if fmt != "qdq" or node.op_type not in quantizable or not any(name in dequantized for name in node.input):
            continue
        into_q = all(readers.get(o) and all(r == "QuantizeLinear" for r in readers[o]) for o in node.output)
        if into_q or any(dequantized.get(name) for name in node.input):
            found[node.op_type] += 1
    return found
