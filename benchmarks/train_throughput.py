"""Training throughput of the demo's network against the MobileNetV3 DeepLab it replaced.

Both models take the same training steps as the demo recipe takes them (batch 12, 96x96
crops, 21 classes, cross-entropy ignoring void, Adam), through ``trainers.train``'s own
loss, on the same random batch and the same torch thread count, one after the other in
one process. The peer is ``deeplab_v2_mobilenet`` (torchvision's MobileNetV3-Large,
dilated, with the DeepLab v2 head), the demo's network until 2026-12-02.

    python benchmarks/train_throughput.py [--threads 2] [--steps 12] [--warmup 3] [--size 96]

Ratio = images/s of the first arch over the peer's (> 1: the first trains faster). The
1-minute load average is printed with the numbers.

With ``--loss-resolutions A B ...`` it times instead the first arch with the loss taken at
each of those ``loss_resolution`` values (``trainers.train.batch_loss``, as the trainer takes
it), the values interleaved ``--repeats`` times in one process; the peer is the first value,
and each ratio is the median images/s over the peer's.

    python benchmarks/train_throughput.py --loss-resolutions input input/3 output --repeats 3
"""

from __future__ import annotations

import argparse
import os
import platform
import time


def images_per_second(arch: str, *, size: int, batch: int, steps: int, warmup: int,
                      loss_resolution: str = "input") -> float:
    """Training images/s of ``arch``, the loss taken as the trainer takes it at ``loss_resolution``
    (``input``, the logits at the input size, for the comparison of archs)."""
    import torch

    from c2fbench.models import build_model
    from trainers.config import loss_divisor
    from trainers.train import batch_loss

    torch.manual_seed(0)
    model = build_model(arch, num_classes=21).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    images = torch.randn(batch, 3, size, size)
    labels = torch.randint(0, 21, (batch, size, size))
    labels[:, :4] = 255  # some void, as the masks have
    for step in range(warmup + steps):
        if step == warmup:
            start = time.perf_counter()
        loss = batch_loss(model, images, labels, loss_divisor(loss_resolution))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return batch * steps / (time.perf_counter() - start)


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", default=["deeplab_v2_vgg_lite", "deeplab_v2_mobilenet"],
                        help="models to time; the ratio is of the first over the last")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--batch", type=int, default=12)
    parser.add_argument("--loss-resolutions", nargs="+", metavar="VALUE",
                        help="time the first arch at each loss_resolution (input, output, input/N); peer: the first")
    parser.add_argument("--repeats", type=int, default=3, help="with --loss-resolutions: interleaved rounds")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{args.threads} threads, load average {os.getloadavg()[0]:.2f}")
    if args.loss_resolutions:
        _compare_loss_resolutions(args)
        return
    rates = {}
    for arch in args.archs:
        rates[arch] = images_per_second(arch, size=args.size, batch=args.batch, steps=args.steps, warmup=args.warmup)
        print(f"{arch:32s} {rates[arch]:7.1f} images/s  (batch {args.batch}, {args.size}x{args.size})")
    first, peer = args.archs[0], args.archs[-1]
    print(f"ratio {first} / {peer}: {rates[first] / rates[peer]:.2f}x")


def _compare_loss_resolutions(args) -> None:
    import statistics

    arch, values = args.archs[0], args.loss_resolutions
    rates = {value: [] for value in values}
    for _ in range(args.repeats):
        for value in values:
            rates[value].append(images_per_second(arch, size=args.size, batch=args.batch, steps=args.steps,
                                                  warmup=args.warmup, loss_resolution=value))
    peer = statistics.median(rates[values[0]])
    for value in values:
        runs = ", ".join(f"{r:.1f}" for r in rates[value])
        print(f"{arch} loss at {value:10s} {statistics.median(rates[value]):7.1f} images/s (runs {runs}), "
              f"{statistics.median(rates[value]) / peer:.2f}x {values[0]}")


if __name__ == "__main__":
    main()
