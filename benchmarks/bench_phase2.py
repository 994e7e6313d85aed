"""Phase-2 seconds per update with and without the thread that builds the next batch ahead.

    python benchmarks/bench_phase2.py --run runs/quickstart/run --data runs/quickstart/data \
        --steps 150 --reps 2 [--device cuda] [--set recipe=paper]

Each rep trains `--steps` phase-2 updates (`ssamt train --phase 2`) from the run's
phase1.pt and its own config.yaml, with no dev evaluation during the phase, once with the
prefetch thread and once without, alternating, in a fresh temporary run folder, after one
untimed warm-up run of a few updates (a process's first training pays CUDA's start-up,
cuBLAS's heuristics and the allocator's growth: seconds that would otherwise land on
whichever variant runs first). The figure is the median `update_s` the training logs
(one update's micro-batches and optimizer step), so the end-of-phase choice of Eq. 5's
weights and the checkpoint writes do not count. Prints a markdown table (BENCHMARKS.md,
"The prefetch thread"). The trainer's own choice is: the thread only when the device is
not the CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import shutil
import statistics
import tempfile
from pathlib import Path

import torch

from ssamt.cli import main as ssamt_main
from ssamt.train import trainer
from ssamt.train.logging import read_metrics


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
               overrides: list[str] = ()) -> list[float]:
    """The logged seconds per update of one `ssamt train --phase 2` of `steps` updates
    (one every train.log_every), with the prefetch thread forced on or off."""
    make_context = trainer._make_context

    def forced(*args, **kwargs):
        return dataclasses.replace(make_context(*args, **kwargs), prefetch=prefetch)

    trainer._make_context = forced
    try:
        with tempfile.TemporaryDirectory(prefix="ssamt-bench-phase2-") as tmp:
            for name in ("phase1.pt", "config.yaml"):
                shutil.copy(run / name, Path(tmp) / name)
            code = ssamt_main(["train", "--phase", "2", "--data", data, "--out", tmp,
                               "--quiet", "--device", device,
                               "--set", f"phase2.max_steps={steps}",
                               "--set", "eval.every_epochs=0",
                               *(a for kv in overrides for a in ("--set", kv))])
            seconds = [m["update_s"] for m in read_metrics(tmp)
                       if m.get("phase") == "phase2" and "update_s" in m]
    finally:
        trainer._make_context = make_context
    if code != 0:
        raise SystemExit(f"ssamt train exited with {code}")
    return seconds


def median_update_s(*args, **kwargs) -> float:
    """Median of train_once's seconds per update."""
    seconds = train_once(*args, **kwargs)
    if not seconds:
        raise SystemExit("the training logged no update_s: raise --steps above phase2.log_every")
    return statistics.median(seconds)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    times: dict[bool, list[float]] = {True: [], False: []}
    run = Path(args.run)
    train_once(run, args.data, 5, args.device, False, args.set)  # warm-up
    for _ in range(args.reps):
        for prefetch in (True, False):
            times[prefetch].append(median_update_s(run, args.data, args.steps, args.device,
                                                   prefetch, args.set))
    print(f"{platform.node()} {platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device {args.device}, {args.steps} updates"
          f"{''.join(f', {kv}' for kv in args.set)}\n")
    print("| prefetch thread | median s/update (each rep) | updates/s (best) |\n|---|---|---:|")
    for prefetch, secs in times.items():
        runs = " / ".join(f"{s:.3f}" for s in secs)
        print(f"| {'on' if prefetch else 'off'} | {runs} | {1 / min(secs):.2f} |")


if __name__ == "__main__":
    main()
