"""Deployment: ONNX export, runtimes, TensorRT engines, INT8, latency profiles, parity.

Every default that the ``deploy`` commands show in ``--help`` lives here, and the modules
take theirs from here too: one source, importable without numpy, torch or onnxruntime
(``c2fbench --help`` imports none of them).
"""

# trtexec's timing defaults: --warmUp=200 (ms), --iterations=10 (at least), --duration=3 (s)
WARMUP_MS: float = 200.0
ITERATIONS: int = 10
DURATION_S: float = 3.0
WARMUP_RUNS: int = 1  # the least number of warm-up runs, besides WARMUP_MS

EXPORT_SIZE: int = 321  # the paper's crop: an export's height and width (static), or its first check (dynamic)
PROFILE_SHAPE: tuple[int, int, int, int] = (1, 3, EXPORT_SIZE, EXPORT_SIZE)  # B x 3 x H x W a profile times
DEFAULT_OPSET: int = 17  # 11 at least: Resize with coordinate_transformation_mode
DEFAULT_TOLERANCE: float = 0.1  # mIoU points: FP32 ONNX must agree with PyTorch within this (issue #6)

# TensorRT: the shape profile of a dynamic input (B x 3 x H x W), and the builder's scratch memory
DEFAULT_PROFILE: dict[str, tuple[int, int, int, int]] = {"min": (1, 3, 128, 128), "opt": PROFILE_SHAPE,
                                                         "max": (1, 3, 512, 512)}
WORKSPACE_MB: int = 4096

# INT8 (deploy quantize): calibration images, their method, and the runtime the graph is for
CALIBRATION_IMAGES: int = 64
CALIBRATION_METHOD: str = "minmax"
QUANTIZE_TARGET: str = "cpu"  # ONNX Runtime's U8S8; "tensorrt": signed, symmetric
