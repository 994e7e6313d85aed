"""Seconds per update of phase 1 and phase 2 with 1 or 2 torch threads, on an idle CPU and
beside a competing job.

    python benchmarks/bench_threads.py --run runs/quickstart/run --data runs/quickstart/data \
        [--steps 60] [--threads 1 2] [--reps 1]

Each measurement is a fresh `ssamt train` process (phase 1 from scratch for `--steps`
updates, then phase 2 from the run's phase1.pt for `--steps` updates, no dev evaluation)
with OMP_NUM_THREADS set, once on an otherwise idle machine and once beside a competing
job: a process that keeps one core busy (a pure-Python loop, as a second training or a
build would). The figure is the median `update_s` the engine logs (one update's
micro-batches and optimizer step). Run it on an idle machine: the "idle" rows assume
nothing else runs. Prints a markdown table (BENCHMARKS.md, "Torch threads").
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ssamt.train.logging import read_metrics

SPIN = "while True: pass"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="run folder with phase1.pt and config.yaml")
    p.add_argument("--data", required=True, help="the run's data folder")
    p.add_argument("--steps", type=int, default=60, help="updates per phase and measurement")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--reps", type=int, default=1)
    return p.parse_args(argv)


@contextlib.contextmanager
def competing_job(on: bool) -> Iterator[None]:
    """A process keeping one core busy while the block runs (when `on`)."""
    job = subprocess.Popen([sys.executable, "-c", SPIN]) if on else None
    try:
        yield
    finally:
        if job is not None:
            job.kill()
            job.wait()


def median_update_s(run_dir: Path, phase: str) -> float:
    seconds = [m["update_s"] for m in read_metrics(run_dir)
               if m.get("phase") == phase and "update_s" in m]
    if not seconds:
        raise SystemExit(f"{run_dir}: no update_s logged for {phase}: raise --steps")
    return statistics.median(seconds)


def train(args: list[str], threads: int) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    subprocess.run([sys.executable, "-m", "ssamt", "train", "--quiet", "--device", "cpu",
                    "--set", "eval.every_epochs=0", *args], check=True, env=env)


def measure(run: Path, data: str, steps: int, threads: int) -> dict[str, float]:
    """Median s/update of phase 1 (from scratch) and phase 2 (from the run's phase1.pt)."""
    with tempfile.TemporaryDirectory(prefix="ssamt-bench-threads-") as tmp:
        p1, p2 = Path(tmp) / "p1", Path(tmp) / "p2"
        train(["--phase", "1", "--config", str(run / "config.yaml"), "--data", data,
               "--out", str(p1), "--set", f"phase1.max_steps={steps}"], threads)
        p2.mkdir()
        for name in ("phase1.pt", "config.yaml"):
            shutil.copy(run / name, p2 / name)
        train(["--phase", "2", "--data", data, "--out", str(p2),
               "--set", f"phase2.max_steps={steps}"], threads)
        return {"phase1": median_update_s(p1, "phase1"), "phase2": median_update_s(p2, "phase2")}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    rows = []
    for competing in (False, True):
        for threads in args.threads:
            for _ in range(args.reps):
                with competing_job(competing):
                    r = measure(Path(args.run), args.data, args.steps, threads)
                rows.append((competing, threads, r))
                print(f"competing={competing} threads={threads}: {r}", file=sys.stderr,
                      flush=True)
    print(f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
          f"{args.steps} updates a phase\n")
    print("| machine | torch threads | phase 1 s/update | phase 2 s/update |\n|---|---:|---:|---:|")
    for competing, threads, r in rows:
        where = "beside a job using one core" if competing else "idle"
        print(f"| {where} | {threads} | {r['phase1']:.3f} | {r['phase2']:.3f} |")


if __name__ == "__main__":
    main()
