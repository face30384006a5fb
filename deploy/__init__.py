"""Deployment: ONNX export, runtimes, TensorRT engines, INT8, latency profiles, parity.

Constants shared by the CLI and the modules live here, so that ``c2fbench --help`` can show
them without importing numpy, torch or onnxruntime.
"""

# trtexec's timing defaults: --warmUp=200 (ms), --iterations=10 (at least), --duration=3 (s)
WARMUP_MS: float = 200.0
ITERATIONS: int = 10
DURATION_S: float = 3.0
