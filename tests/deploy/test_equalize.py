"""Cross-layer equalisation and SmoothQuant-style rescaling leave the FP32 function as it
was (ONNX Runtime on the original graph is the oracle) and even out the ranges they target."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from deploy.equalize import activation_maxima, conv_chains, equalize_convolutions
from tests.deploy.deploy_helpers import write_checkpoint


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from deploy.export import export_onnx

    folder = tmp_path_factory.mktemp("eq")
    write_checkpoint(folder / "m.pt", "deeplab_v2_vgg_lite", 21)
    export_onnx(folder / "m.pt", folder / "m.onnx", dynamic=True, height=64, width=64)
    quant_pre_process(str(folder / "m.onnx"), str(folder / "pre.onnx"))  # folds batch norm into Conv
    return onnx.load(str(folder / "pre.onnx"))


def _run(proto, x):
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def _ranges(proto, chain):
    weights = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    conv1, _, readers = chain
    w1 = weights[conv1.input[1]]
    r1 = np.abs(w1).reshape(w1.shape[0], -1).max(axis=1)
    r2 = np.max([np.abs(weights[c.input[1]]).max(axis=(0, 2, 3)) for c in readers], axis=0)
    return r1, r2


def test_cle_keeps_the_function_and_equalises_weight_ranges(prepared):
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    before = _run(prepared, x)
    proto = onnx.ModelProto()
    proto.CopyFrom(prepared)
    chains = conv_chains(proto)
    # vgg_lite: stem + every backbone conv feeds the next (through max-pools); the last feeds the 4 ASPP branches
    assert len(chains) >= 5 and len(chains[-1][2]) == 4
    spread_before = [np.ptp(np.log(np.divide(*_ranges(proto, c)))) for c in chains]
    assert equalize_convolutions(proto) == len(chains)
    np.testing.assert_allclose(_run(proto, x), before, rtol=1e-4, atol=1e-4 * np.abs(before).max())
    for chain, spread in zip(conv_chains(proto), spread_before):
        r1, r2 = _ranges(proto, chain)
        assert np.ptp(np.log(r1 / r2)) < 0.5 * spread + 1e-6  # r1 / r2 pulled towards 1 in every channel


def test_smoothquant_rule_evens_out_the_activation_channels(prepared):
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal((1, 3, 64, 64)).astype(np.float32) for _ in range(4)]

    class Reader:
        def __init__(self):
            self.k = 0

        def get_next(self):
            self.k += 1
            return {prepared.graph.input[0].name: inputs[self.k - 1]} if self.k <= len(inputs) else None

    tensors = [t for _, t, _ in conv_chains(prepared)]
    before = activation_maxima(prepared, tensors, Reader())
    proto = onnx.ModelProto()
    proto.CopyFrom(prepared)
    equalize_convolutions(proto, activation_max=before)
    np.testing.assert_allclose(_run(proto, inputs[0]), _run(prepared, inputs[0]), rtol=1e-4,
                               atol=1e-4 * np.abs(_run(prepared, inputs[0])).max())
    after = activation_maxima(proto, tensors, Reader())
    for name in tensors:  # the widest channel comes closer to the tensor's typical channel
        b, a = before[name][before[name] > 0], after[name][after[name] > 0]
        assert a.max() / np.median(a) <= b.max() / np.median(b) + 1e-6
