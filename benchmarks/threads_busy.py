"""What a busy core costs the demo's training, by torch thread count, OpenMP wait policy and
memory format.

Each configuration trains the demo's network (``deeplab_v2_vgg_lite``, batch 12, 96x96
crops, Adam, ``trainers.train``'s loss at the output stride, as the ``demo`` recipe trains)
for ``--steps`` steps in a fresh process, since OpenMP reads ``OMP_WAIT_POLICY`` once, when
torch is loaded. Configurations are timed one
after the other, first on idle cores and then while another process keeps one core busy
(a Python busy loop). The peer is OpenMP's default policy (spinning at every barrier), the
policy every c2fbench command used before it started OpenMP with ``PASSIVE``. Every
configuration runs channels-last (NHWC, the ``cpu_channels_last`` option) but one, the
NCHW peer of the passive policy.

    python benchmarks/threads_busy.py [--steps 30] [--warmup 5] [--repeats 3]

Prints images/s (the median of ``--repeats`` runs) and the loss after the last step of
each configuration: the wait policy must not change the loss; the thread count does.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time

PASSIVE = {"OMP_WAIT_POLICY": "PASSIVE"}
CONFIGS = (  # (label, threads, OpenMP environment ({} is OpenMP's default), channels-last)
    ("1 thread", 1, {}, True),
    ("2 threads, default (spin)", 2, {}, True),
    ("2 threads, PASSIVE", 2, PASSIVE, True),
    ("2 threads, GOMP_SPINCOUNT=1000", 2, {"GOMP_SPINCOUNT": "1000"}, True),
    ("2 threads, GOMP_SPINCOUNT=10000", 2, {"GOMP_SPINCOUNT": "10000"}, True),
    ("2 threads, PASSIVE, NCHW", 2, PASSIVE, False),
)

_CHILD = r"""
import json, sys, time
import torch
from c2fbench.models import build_model
from trainers.train import output_stride_logits, segmentation_loss
threads, steps, warmup, nhwc = map(int, sys.argv[1:5])
fmt = torch.channels_last if nhwc else torch.contiguous_format
torch.set_num_threads(threads)
torch.manual_seed(0)
model = build_model("deeplab_v2_vgg_lite", num_classes=21).eval().to(memory_format=fmt)
x = torch.randn(1, 3, 112, 112).contiguous(memory_format=fmt)  # a between-round prediction at the training scale
with torch.inference_mode():
    for _ in range(20):
        model(x)
    start = time.perf_counter()
    for _ in range(10 * steps):
        model(x)
    infer = 10 * steps / (time.perf_counter() - start)
model.train()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
g = torch.Generator().manual_seed(1)
images = torch.randn(12, 3, 96, 96, generator=g).contiguous(memory_format=fmt)
labels = torch.randint(0, 21, (12, 96, 96), generator=g)
labels[:, :4] = 255
for step in range(warmup + steps):
    if step == warmup:
        start = time.perf_counter()
    with output_stride_logits(model, True):
        loss = segmentation_loss(model(images), labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
print(json.dumps({"rate": 12 * steps / (time.perf_counter() - start), "loss": loss.item(), "infer": infer}))
"""


def _busy(stop) -> None:
    while not stop.is_set():
        pass


def run_config(threads: int, openmp: dict, nhwc: bool, *, steps: int, warmup: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")}
    env.update(openmp)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", _CHILD, str(threads), str(steps), str(warmup), str(int(nhwc))],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from c2fbench.numerics import cpu_model, onednn_isa

    import torch

    print(f"{cpu_model()}, oneDNN {onednn_isa()}, {len(os.sched_getaffinity(0))} CPUs, torch {torch.__version__}, "
          f"{time.strftime('%Y-%m-%d')}")
    results = {}
    for load in ("idle", "one core busy"):
        stop, busy = multiprocessing.Event(), None
        if load != "idle":
            busy = multiprocessing.Process(target=_busy, args=(stop,), daemon=True)
            busy.start()
            time.sleep(0.5)
        try:
            runs = {label: [] for label, *_ in CONFIGS}
            for _ in range(args.repeats):  # interleaved: A B C D A B C D ...
                for label, threads, openmp, nhwc in CONFIGS:
                    runs[label].append(run_config(threads, openmp, nhwc, steps=args.steps, warmup=args.warmup))
            for label, *_ in CONFIGS:
                train = statistics.median(r["rate"] for r in runs[label])
                infer = statistics.median(r["infer"] for r in runs[label])
                results[load, label] = train, infer
                print(f"{load:14s} {label:32s} train {train:6.1f} images/s  predict {infer:6.1f} images/s  "
                      f"loss {runs[label][0]['loss']:.6f}")
        finally:
            stop.set()
            if busy is not None:
                busy.join()
    spin = CONFIGS[1][0]
    for load in ("idle", "one core busy"):
        for label, *_ in CONFIGS[2:]:
            (t, i), (t0, i0) = results[load, label], results[load, spin]
            print(f"{load}: {label} / default spin: train {t / t0:.2f}x, predict {i / i0:.2f}x")
    for label, *_ in CONFIGS[1:]:
        (t, i), (t0, i0) = results["one core busy", label], results["idle", label]
        print(f"{label}, busy / idle: train {t / t0:.2f}x, predict {i / i0:.2f}x")
    for load in ("idle", "one core busy"):
        (t, i), (t0, i0) = results[load, "2 threads, PASSIVE"], results[load, "2 threads, PASSIVE, NCHW"]
        print(f"{load}: channels-last / NCHW (PASSIVE): train {t / t0:.2f}x, predict {i / i0:.2f}x")

if __name__ == "__main__":
    main()
