"""Cross-layer equalisation of an ONNX graph's convolution chains, with numpy.

For a chain ``Conv1 -> Relu [-> MaxPool] -> Conv2...`` (Conv1's output read by the Relu
only, every reader of the Relu's output a convolution or a max-pool feeding them), channel
``i`` of the intermediate activation can be divided by ``s_i > 0`` at no change in the
function: ``relu(x / s) = relu(x) / s`` and ``maxpool(x / s) = maxpool(x) / s`` for positive
``s``, so Conv1's output channel ``i`` (weights and bias) is divided by ``s_i`` and every
reading convolution's input channel ``i`` multiplied by it. With ``s_i = sqrt(r1_i / r2_i)``
(``r1_i``: the largest weight of Conv1's output channel ``i``; ``r2_i``: of the readers'
input channel ``i``) both weight ranges become ``sqrt(r1_i r2_i)`` (Nagel et al., "Data-Free
Quantization Through Weight Equalization and Bias Correction", arXiv:1906.04721, Sec. 4.1).
Given measured activation maxima ``a_i`` instead (``activation_max``), ``s_i = sqrt(a_i /
r2_i)`` (SmoothQuant's rule with alpha 0.5, Xiao et al., arXiv:2211.10438, Eq. 4): the
channels with the widest activations are shrunk, so one per-tensor activation scale fits
them all better. No maintained library does either for ONNX graphs, so this is done here on
the weights directly; the FP32 function is unchanged up to rounding (tested).
"""

from __future__ import annotations

import numpy as np


def _consumers(graph) -> dict[str, list]:
    readers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    return readers


def conv_chains(proto) -> list[tuple[object, str, list]]:
    """``(conv1, activation tensor, reading convolutions)`` for each equalisable chain."""
    graph = proto.graph
    weights = {t.name for t in graph.initializer}
    readers = _consumers(graph)
    outputs = {o.name for o in graph.output}
    chains = []
    for node in graph.node:
        if node.op_type != "Conv" or len(node.input) < 2 or node.input[1] not in weights or _group(node) != 1:
            continue
        after = readers.get(node.output[0], [])
        if len(after) != 1 or after[0].op_type != "Relu" or node.output[0] in outputs:
            continue
        relu = after[0]
        frontier, convs, ok = [relu.output[0]], [], relu.output[0] not in outputs
        while frontier and ok:
            tensor = frontier.pop()
            for reader in readers.get(tensor, []):
                if reader.op_type == "MaxPool" and reader.output[0] not in outputs:
                    frontier.append(reader.output[0])
                elif (reader.op_type == "Conv" and reader.input[0] == tensor and reader.input[1] in weights
                      and _group(reader) == 1):
                    convs.append(reader)
                else:
                    ok = False
        if ok and convs:
            chains.append((node, relu.output[0], convs))
    return chains


def _group(node) -> int:
    return next((a.i for a in node.attribute if a.name == "group"), 1)


def equalize_convolutions(proto, *, activation_max: dict[str, np.ndarray] | None = None, passes: int = 4) -> int:
    """Equalise every chain of :func:`conv_chains` in place (``passes`` sweeps, as the ranges
    of a layer depend on both neighbours); returns the number of chains. With
    ``activation_max`` (activation tensor name -> per-channel max over calibration images),
    one sweep with SmoothQuant's rule for the chains it names."""
    from onnx import numpy_helper

    inits = {t.name: t for t in proto.graph.initializer}
    arrays = {name: numpy_helper.to_array(t).astype(np.float64) for name, t in inits.items()}
    chains = conv_chains(proto)
    for _ in range(1 if activation_max is not None else passes):
        for conv1, tensor, readers in chains:
            w1 = arrays[conv1.input[1]]
            r2 = np.max([np.abs(arrays[c.input[1]]).max(axis=(0, 2, 3)) for c in readers], axis=0)
            if activation_max is not None:
                if tensor not in activation_max:
                    continue
                r1 = np.asarray(activation_max[tensor], dtype=np.float64)
            else:
                r1 = np.abs(w1).reshape(w1.shape[0], -1).max(axis=1)
            valid = (r1 > 0) & (r2 > 0)
            s = np.ones_like(r1)
            s[valid] = np.sqrt(r1[valid] / r2[valid])
            arrays[conv1.input[1]] = w1 / s[:, None, None, None]
            if len(conv1.input) > 2 and conv1.input[2] in arrays:
                arrays[conv1.input[2]] = arrays[conv1.input[2]] / s
            for c in readers:
                arrays[c.input[1]] = arrays[c.input[1]] * s[None, :, None, None]
    touched = {c.input[k] for conv1, _, readers in chains for c in [conv1, *readers] for k in (1, 2)
               if len(c.input) > k and c.input[k] in arrays}
    for name in touched:
        dtype = numpy_helper.to_array(inits[name]).dtype
        inits[name].CopyFrom(numpy_helper.from_array(arrays[name].astype(dtype), name))
    return len(chains)


def activation_maxima(proto, tensors: list[str], reader) -> dict[str, np.ndarray]:
    """Per-channel maxima of ``tensors`` over every input of ``reader`` (an ONNX Runtime
    CalibrationDataReader: ``get_next()`` until None), from an FP32 run of ``proto`` that
    also returns them."""
    import onnx
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(proto)
    known = {o.name for o in probe.graph.output}
    probe.graph.output.extend(onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None)
                              for t in tensors if t not in known)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    maxima: dict[str, np.ndarray] = {}
    while (feed := reader.get_next()) is not None:
        for name, value in zip(tensors, session.run(tensors, feed)):
            channel_max = np.asarray(value).max(axis=(0, 2, 3))
            maxima[name] = channel_max if name not in maxima else np.maximum(maxima[name], channel_max)
    return maxima
