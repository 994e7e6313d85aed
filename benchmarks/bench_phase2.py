"""Phase-2 updates/s with and without the thread that builds the next batch ahead.

    python benchmarks/bench_phase2.py --run runs/quickstart/run --data runs/quickstart/data \
        --steps 150 --reps 2 [--device cuda]

Each rep trains `--steps` phase-2 updates from the run's phase1.pt (its own config.yaml; no
dev evaluation, no Eq. 5 weight choice) once with the prefetch thread and once without,
alternating, in a fresh temporary run folder, after one untimed warm-up run of a few updates
(a process's first training pays CUDA's start-up, cuBLAS's heuristics and the allocator's
growth: seconds that would otherwise land on whichever variant runs first). Prints a markdown table (BENCHMARKS.md, "Stage
2 and phase 2 speed"). The runner's own choice is: the thread only when the device is not
the CPU.
"""

from __future__ import annotations

import argparse
import functools
import platform
import shutil
import tempfile
import time
from pathlib import Path

import torch


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="run folder with phase1.pt and config.yaml")
    p.add_argument("--data", required=True, help="the run's data folder")
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for both variants, e.g. phase2.accum_steps=1")
    return p.parse_args(argv)


def train_once(run: Path, data: str, steps: int, device: str, prefetch: bool,
               overrides: list[str] = ()) -> float:
    """Seconds of one `ssamt train --phase inter` of `steps` updates."""
    from ssamt.cli import main
    from ssamt.train import trainer

    context = runner.RunContext
    runner.RunContext = functools.partial(context, prefetch=prefetch)
    try:
        with tempfile.TemporaryDirectory(prefix="ssamt-bench-phase2-") as tmp:
            for name in ("phase1.pt", "config.yaml"):
                shutil.copy(run / name, Path(tmp) / name)
            t0 = time.perf_counter()
            code = main(["train", "--phase", "inter", "--data", data, "--out", tmp, "--quiet",
                         "--device", device, "--set", f"phase2.max_steps={steps}",
                         "--set", "eval.select_mu=false", "--set", "eval.every_epochs=0",
                         *(a for kv in overrides for a in ("--set", kv))])
            seconds = time.perf_counter() - t0
    finally:
        runner.RunContext = context
    if code != 0:
        raise SystemExit(f"ssamt train exited with {code}")
    return seconds


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    times: dict[bool, list[float]] = {True: [], False: []}
    run = Path(args.run)
    train_once(run, args.data, min(args.steps, 5), args.device, False, args.set)  # warm-up
    for _ in range(args.reps):
        for prefetch in (True, False):
            times[prefetch].append(train_once(run, args.data, args.steps, args.device,
                                              prefetch, args.set))
    print(f"{platform.node()} {platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device {args.device}, {args.steps} updates"
          f"{''.join(f', {kv}' for kv in args.set)}\n")
    print("| prefetch thread | seconds (each rep) | updates/s (best) |\n|---|---|---:|")
    for prefetch, secs in times.items():
        runs = " / ".join(f"{s:.1f}" for s in secs)
        print(f"| {'on' if prefetch else 'off'} | {runs} | {args.steps / min(secs):.2f} |")


if __name__ == "__main__":
    main()
