"""The grounding head's relation terms for relation phrases only (the CPU's path) against
every phrase scored as a relation (the GPU's path), on one phase-2 micro-batch.

    python benchmarks/bench_relation_terms.py --data QS/data [--preset synthetic] [--reps 40]

One micro-batch of the preset's phase 2 (random weights: speed does not depend on them),
drawn as bench_compile.py draws it; its forward and backward timed `--reps` times per path,
the two paths alternating call by call (so a drifting machine slows both alike). Prints
the medians and the largest difference between the two paths' loss terms.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from bench_compile import load_preset, phase2_step, training_step

from ssamt.model import grounding


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="precomp folder with train and dev")
    p.add_argument("--preset", default="synthetic")
    p.add_argument("--reps", type=int, default=40)
    args = p.parse_args(argv)
    device = torch.device("cpu")
    cfg, train, _, model = load_preset(args.preset, args.data, [], device)
    step = training_step(*phase2_step(cfg, train, model, device, np.random.default_rng(0))[:4])
    original = grounding.relations_only

    def use(compact: bool) -> None:  # the path to take, whatever the device would choose
        grounding.relations_only = lambda device: compact

    times: dict[bool, list[float]] = {True: [], False: []}
    outputs = {}
    for rep in range(args.reps + 2):
        for compact in ((True, False) if rep % 2 else (False, True)):
            use(compact)
            t0 = time.perf_counter()
            outputs[compact] = step()
            if rep >= 2:  # the first calls grow the allocator
                times[compact].append(time.perf_counter() - t0)
    grounding.relations_only = original
    every, compact = statistics.median(times[False]), statistics.median(times[True])
    diff = float((outputs[True] - outputs[False]).abs().max())
    print(f"{args.preset}, {torch.get_num_threads()} threads, {args.reps} calls each: "
          f"every phrase {every * 1e3:.1f} ms, relation phrases only {compact * 1e3:.1f} ms "
          f"({(compact - every) / every:+.1%}); largest loss-term difference {diff:.1e}")


if __name__ == "__main__":
    main()
