"""Where phase 2's time goes: torch.profiler over a few updates.

    python benchmarks/profile_phase2.py --run RUN --data DIR --steps 10 --device cuda

Trains `--steps` phase-2 updates from RUN/phase1.pt (its config.yaml; no dev evaluation) in a
temporary run folder, after an untimed warm-up, under torch.profiler. Prints the wall time,
the time the device was busy (the sum of its kernels' own times) and the operators that
take most host time and most device time; then the same updates once more under cProfile:
the Python functions that hold the host longest (on CUDA a function that waits for the
device, e.g. `.item()`, also holds the time the device needed). A device busy for a small share of the wall
means the step waits on the host (Python, batch assembly, launches).
"""

from __future__ import annotations

import argparse
import time

from bench_phase2 import train_once


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="run folder with phase1.pt and config.yaml")
    p.add_argument("--data", required=True, help="the run's data folder")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--device", default="cpu")
    p.add_argument("--rows", type=int, default=20, help="operators listed per table")
    return p.parse_args(argv)


def device_time(event) -> float:
    """An operator's own device time in microseconds (the attribute's name moved in torch 2.4)."""
    for name in ("self_device_time_total", "self_cuda_time_total"):
        if hasattr(event, name):
            return float(getattr(event, name))
    return 0.0


def main(argv: list[str] | None = None) -> None:
    from pathlib import Path

    from torch.profiler import ProfilerActivity, profile

    args = parse_args(argv)
    run = Path(args.run)
    train_once(run, args.data, 3, args.device, prefetch=False)  # warm-up, untimed
    activities = [ProfilerActivity.CPU]
    if args.device.startswith("cuda"):
        activities.append(ProfilerActivity.CUDA)
    t0 = time.perf_counter()
    with profile(activities=activities) as prof:
        train_once(run, args.data, args.steps, args.device, prefetch=False)
    wall = time.perf_counter() - t0
    events = prof.key_averages()
    busy = sum(device_time(e) for e in events) / 1e6
    print(f"{args.steps} updates under the profiler: wall {wall:.2f} s (start-up included), "
          f"device busy {busy:.2f} s ({busy / wall:.1%})\n")
    print(events.table(sort_by="self_cpu_time_total", row_limit=args.rows))
    if busy > 0:
        key = "self_device_time_total" if hasattr(events[0], "self_device_time_total") \
            else "self_cuda_time_total"
        print(events.table(sort_by=key, row_limit=args.rows))
    python_profile(run, args)


def python_profile(run, args: argparse.Namespace) -> None:
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.runcall(train_once, run, args.data, args.steps, args.device, False)
    print(f"\n{args.steps} updates under cProfile: wall {time.perf_counter() - t0:.2f} s")
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
    stats.print_stats(r"ssamt|torch/(nn/modules/module|autograd|optim)", 3 * args.rows)
    print(out.getvalue())


if __name__ == "__main__":
    main()
