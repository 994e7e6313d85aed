"""Phase-2 updates/s with and without the thread that builds the next batch ahead (issue 15).

    python benchmarks/bench_phase2.py --run runs/quickstart/run --data runs/quickstart/data \
        --steps 150 --reps 2 [--device cuda]

Each rep trains `--steps` phase-2 updates from the run's phase1.pt (its own config.yaml; no
dev evaluation, no Eq. 5 weight choice) once with the prefetch thread and once without,
alternating, in a fresh temporary run folder. Prints a markdown table (BENCHMARKS.md, "Stage
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
    return p.parse_args(argv)


def train_once(run: Path, data: str, steps: int, device: str, prefetch: bool) -> float:
    """Seconds of one `ssamt train --phase inter` of `steps` updates."""
    from ssamt.cli import main
    from ssamt.train import runner

    context = runner.RunContext
    runner.RunContext = functools.partial(context, prefetch=prefetch)
    try:
        with tempfile.TemporaryDirectory(prefix="ssamt-bench-phase2-") as tmp:
            for name in ("phase1.pt", "config.yaml"):
                shutil.copy(run / name, Path(tmp) / name)
            t0 = time.perf_counter()
            code = main(["train", "--phase", "inter", "--data", data, "--out", tmp, "--quiet",
                         "--device", device, "--set", f"phase2.max_steps={steps}",
                         "--set", "eval.select_mu=false", "--set", "eval.every_epochs=0"])
            seconds = time.perf_counter() - t0
    finally:
        runner.RunContext = context
    if code != 0:
        raise SystemExit(f"ssamt train exited with {code}")
    return seconds


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(args.reps):
        for prefetch in (True, False):
            times[prefetch].append(train_once(Path(args.run), args.data, args.steps,
                                              args.device, prefetch))
    print(f"{platform.node()} {platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device {args.device}, {args.steps} updates\n")
    print("| prefetch thread | seconds (each rep) | updates/s (best) |\n|---|---|---:|")
    for prefetch, secs in times.items():
        runs = " / ".join(f"{s:.1f}" for s in secs)
        print(f"| {'on' if prefetch else 'off'} | {runs} | {args.steps / min(secs):.2f} |")


if __name__ == "__main__":
    main()
