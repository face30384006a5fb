"""Two of the demo's trainings at once against one after the other (``c2fbench demo``'s side runs).

``c2fbench demo`` trains its side runs (Table I's two rounds, the Fig. 6 branch) in a second
process beside the main run (trainers/demo.py ``SideRuns``), each at the recipe's thread
count, so that the numbers stay those of one training after the other. This times the demo's
training step (``deeplab_v2_vgg_lite``, batch 12, 96x96 crops, the loss at ``input/3``
through ``trainers.train.batch_loss``, Adam) in fresh processes under passive OpenMP waiting
(the command line's policy):

- peer, one after the other: two trainings of ``--threads`` threads, the second started when
  the first ends (the demo before the side process);
- two at once: the same two trainings started together (the demo now: 2 x ``--threads``
  threads on the machine's cores);
- two at once at 1 thread each, for reference (other floats: the thread count changes them).

    python benchmarks/demo_lanes.py [--threads 2] [--steps 40] [--warmup 5] [--repeats 3]

Each configuration's rate is the images both trainings took over the wall time from the first
timed step to the last (each process reports its own clock), the median of ``--repeats``
interleaved runs; the ratio is over the peer's. The loss after the last step shows that
running beside another process leaves a training's floats alone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

_CHILD = r"""
import json, sys, time
import torch
from c2fbench.models import build_model
from trainers.train import batch_loss
threads, steps, warmup = map(int, sys.argv[1:4])
torch.set_num_threads(threads)
torch.manual_seed(0)
model = build_model("deeplab_v2_vgg_lite", num_classes=21).train()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
g = torch.Generator().manual_seed(1)
images = torch.randn(12, 3, 96, 96, generator=g)
labels = torch.randint(0, 21, (12, 96, 96), generator=g)
labels[:, :4] = 255
for step in range(warmup + steps):
    if step == warmup:
        start = time.time()
    loss = batch_loss(model, images, labels, 3)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
print(json.dumps({"start": start, "end": time.time(), "images": 12 * steps, "loss": loss.item()}))
"""

CONFIGS = (("one after the other", False, None), ("two at once", True, None), ("two at once, 1 thread each", True, 1))


def _environment() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_NUM_THREADS")}
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


def two_trainings(threads: int, *, together: bool, steps: int, warmup: int) -> dict:
    """Images/s of two trainings of ``threads`` threads, started together or one after the other."""
    command = [sys.executable, "-c", _CHILD, str(threads), str(steps), str(warmup)]
    if together:
        children = [subprocess.Popen(command, env=_environment(), stdout=subprocess.PIPE, text=True) for _ in range(2)]
        outputs = [child.communicate()[0] for child in children]
        if any(child.returncode for child in children):
            raise SystemExit("a training process failed")
    else:
        outputs = [subprocess.run(command, env=_environment(), capture_output=True, text=True, check=True).stdout
                   for _ in range(2)]
    runs = [json.loads(out.strip().splitlines()[-1]) for out in outputs]
    if together:
        wall = max(r["end"] for r in runs) - min(r["start"] for r in runs)
    else:
        wall = sum(r["end"] - r["start"] for r in runs)  # the start-up between them is not training
    return {"rate": sum(r["images"] for r in runs) / wall, "losses": [r["loss"] for r in runs]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads of each training (the recipe's)")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import torch

    from c2fbench.numerics import cpu_model, onednn_isa

    print(f"{cpu_model()}, oneDNN {onednn_isa()}, {len(os.sched_getaffinity(0))} CPUs, torch {torch.__version__}, "
          f"{time.strftime('%Y-%m-%d')}, load average {os.getloadavg()[0]:.2f}")
    runs = {label: [] for label, *_ in CONFIGS}
    for _ in range(args.repeats):  # interleaved: A B C A B C ...
        for label, together, threads in CONFIGS:
            runs[label].append(two_trainings(threads or args.threads, together=together, steps=args.steps,
                                             warmup=args.warmup))
    peer = statistics.median(r["rate"] for r in runs[CONFIGS[0][0]])
    for label, together, threads in CONFIGS:
        rate = statistics.median(r["rate"] for r in runs[label])
        losses = ", ".join(f"{loss:.6f}" for loss in runs[label][0]["losses"])
        print(f"{label:28s} {threads or args.threads} threads each  {rate:6.1f} images/s  {rate / peer:.2f}x  "
              f"losses {losses}")


if __name__ == "__main__":
    main()
