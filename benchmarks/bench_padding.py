"""Seconds per update with the encoders' position-wise layers on real positions only
(model.padding, "packed") against the padded batch run whole, at 1 and 2 torch threads.

    python benchmarks/bench_padding.py --run QS/run --data QS/data [--steps 25] [--reps 3]

RUN is a quick start's run folder (its phase1.pt and config.yaml). Each measurement trains
`--steps` updates of phase 1 from scratch and of phase 2 from RUN/phase1.pt in this process
(no dev evaluation, every update logged), both ways in turn, after one untimed
warm-up; the first two updates of each run are left out. Every way sees the same batches,
so the figure is the median over the same updates. Run it on an idle machine. Prints a
markdown table (BENCHMARKS.md, "Less padding").
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
from pathlib import Path

import torch
from update_seconds import update_seconds

from ssamt.model import encoders
from ssamt.model.padding import Packed

LAYOUT = encoders.packed_layout
WAYS = {"whole": lambda x, mask: None, "packed": lambda x, mask: Packed.of(mask)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="run folder with phase1.pt and config.yaml")
    p.add_argument("--data", required=True, help="the run's data folder")
    p.add_argument("--steps", type=int, default=25, help="updates per phase and measurement")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    return p.parse_args(argv)


def measure(run: Path, data: str, steps: int, reps: int) -> dict[tuple[str, str], float]:
    """{(phase, way): median s/update} at the current torch thread count."""
    seconds: dict[tuple[str, str], list[float]] = {}
    for _ in range(reps):
        for phase in ("1", "2"):
            for way, layout in WAYS.items():
                encoders.packed_layout = layout
                try:
                    seconds.setdefault((phase, way), []).extend(
                        update_seconds(run, data, phase, steps))
                finally:
                    encoders.packed_layout = LAYOUT
    return {key: statistics.median(v) for key, v in seconds.items()}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    run = Path(args.run)
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        os.environ["OMP_NUM_THREADS"] = str(threads)  # so the trainer keeps this choice
        update_seconds(run, args.data, "2", 4)  # warm-up: allocator, first-call costs
        rows.append((threads, measure(run, args.data, args.steps, args.reps)))
    print(f"{platform.node()} {platform.machine()} {platform.processor() or ''}, "
          f"{os.cpu_count()} CPUs, torch {torch.__version__}, {args.steps} updates x "
          f"{args.reps} reps per phase and way\n")
    print("| torch threads | phase | whole s/update | packed s/update | change |\n"
          "|---:|---|---:|---:|---:|")
    for threads, r in rows:
        for phase in ("1", "2"):
            whole, packed = r[(phase, "whole")], r[(phase, "packed")]
            print(f"| {threads} | {phase} | {whole:.3f} | {packed:.3f} | "
                  f"{100 * (packed / whole - 1):+.0f}% |")


if __name__ == "__main__":
    main()
