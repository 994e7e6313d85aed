"""Would bf16 autocast speed up training on a CPU with native bf16 (AVX512-BF16, AMX)?

    python benchmarks/probe_cpu_bf16.py --run QS/run --data QS/data [--steps 60] [--reps 2]
    python benchmarks/probe_cpu_bf16.py --quickstart OUT   # a whole quick start under bf16

Training autocasts to bf16 on CUDA only (train.engine). This probe asks whether a CPU whose
bf16 matrix products are fast would gain from it too. It prints, first, one bare matrix
product at the shape of an encoder's widest projection (8,192 positions x d_model ->
3 d_model) in float32 and in bf16. Then it trains `--steps` phase-2 updates from the run's
phase1.pt (`ssamt train --phase 2`, as bench_phase2.py does: trained weights, real batches)
in float32 and under `torch.autocast("cpu", torch.bfloat16)`, alternating `--reps` times,
and prints the median of the seconds per update that each training logs (one every
train.log_every updates, the first left out). Under autocast attention runs in float32
(its bf16 backward is about 4x slower than float32's on such a CPU); both are patched into
train.engine and model.encoders for the probe only. `--quickstart OUT` instead runs
`ssamt quickstart --out OUT --quiet` with the same patch (compare it with a plain
`ssamt quickstart` run back to back).

Random weights make a poor yardstick here: on one phase-1 micro-batch of a freshly built
model float32 took 193-218 ms, and 161 ms with subnormal numbers flushed to zero, against
135-142 ms in bf16, so a step of random weights overstates what bf16 saves (BENCHMARKS.md,
"bf16 on a CPU").
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch
from bench_phase2 import train_once

from ssamt.cli import main as ssamt_main
from ssamt.model import encoders
from ssamt.train import engine


def matmul_ms(dtype: torch.dtype, rows: int = 8192, d: int = 128, reps: int = 50) -> float:
    """Median milliseconds of one (rows, d) @ (d, 3d) product in `dtype`."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(rows, d, generator=gen).to(dtype)
    b = torch.randn(d, 3 * d, generator=gen).to(dtype)
    times = []
    for rep in range(reps + 2):
        t0 = time.perf_counter()
        a @ b
        if rep >= 2:
            times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


PLAIN_SDPA, PLAIN_AUTOCAST = encoders.masked_sdpa, engine._autocast


def float32_sdpa(q, k, v, mask, dropout_p=0.0):
    """Attention in float32 inside a bf16 autocast (masked_sdpa's arguments)."""
    with torch.autocast("cpu", enabled=False):
        return PLAIN_SDPA(q.float(), k.float(), v.float(), mask, dropout_p)


def cpu_bf16_autocast(device: torch.device):
    """engine._autocast with bf16 on the CPU too."""
    if device.type == "cpu":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return PLAIN_AUTOCAST(device)


def cpu_bf16(enabled: bool) -> None:
    """Patch the training step to autocast to bf16 on the CPU, attention in float32 (or
    back to the plain step)."""
    encoders.masked_sdpa = float32_sdpa if enabled else PLAIN_SDPA
    engine._autocast = cpu_bf16_autocast if enabled else PLAIN_AUTOCAST


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", help="run folder with phase1.pt and config.yaml")
    p.add_argument("--data", help="the run's data folder")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--quickstart", metavar="OUT", help="run the quick start into OUT under bf16")
    args = p.parse_args(argv)
    if args.quickstart:
        cpu_bf16(True)
        raise SystemExit(ssamt_main(["quickstart", "--out", args.quickstart, "--quiet"]))
    if not (args.run and args.data):
        p.error("--run and --data are needed (or --quickstart OUT)")
    run = Path(args.run)
    print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}\n")
    fp32, bf16 = matmul_ms(torch.float32), matmul_ms(torch.bfloat16)
    train_once(run, args.data, 3, "cpu", prefetch=False)  # warm-up, untimed
    seconds: dict[bool, list[float]] = {False: [], True: []}
    for rep in range(args.reps):
        for enabled in ((False, True) if rep % 2 == 0 else (True, False)):
            cpu_bf16(enabled)
            seconds[enabled].append(statistics.median(
                train_once(run, args.data, args.steps, "cpu", prefetch=False)[1:]))
    cpu_bf16(False)
    print("\n| what | float32 | bf16 | bf16 / float32 |\n|---|---:|---:|---:|")
    print(f"| matrix product (8192 x 128) @ (128 x 384), ms | {fp32:.2f} | {bf16:.2f} | "
          f"{bf16 / fp32:.2f} |")
    for rep in range(args.reps):
        a, b = seconds[False][rep], seconds[True][rep]
        print(f"| phase-2 update, rep {rep + 1} ({args.steps} updates), s | {a:.3f} | {b:.3f} "
              f"| {b / a:.2f} |")


if __name__ == "__main__":
    main()
