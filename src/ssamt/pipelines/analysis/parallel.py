"""Every training of the three analyses, several at a time (`ssamt analyze all --jobs N`).

    train_all(setup, runs, fractions, jobs=8)

The runs are exactly those `run_ablation`, `train_pm_models` and `run_data_fraction` train one
after another (trainings.py): phase 1 of each group first, then phase 2 of each variant from its
group's phase 1. Each job is its own process (spawn) that loads its own data and writes only
its own run folder, so a stopped call resumes as the sequential analyses do, and the report
commands afterwards find every run trained. On a GPU box the steps of these small models are
bound by the CPU (batch assembly, kernel launches), so N processes on N cores share one GPU
well.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import torch

from ssamt.errors import SsamtError
from ssamt.pipelines.analysis.trainings import (
    VARIANTS,
    TrainSetup,
    data_for_fraction,
    ensure_phase1,
    ensure_phase2,
    group_name,
    load_training_data,
    run_config,
)


@dataclass(frozen=True)
class Job:
    """One run folder: phase 1 of a group (variant None) or phase 2 of one variant."""

    use_phrases: bool
    fraction: float
    variant: str | None

    @property
    def name(self) -> str:
        return f"{group_name(self.use_phrases, self.fraction)}/{self.variant or 'phase1'}"


def plan_jobs(fractions) -> tuple[list[Job], list[Job]]:
    """-> (phase-1 jobs, phase-2 jobs) of Table 3 (both groups) and Table 5 (`fractions`);
    Table 4 reuses the +LM and +PM runs of the phrases group."""
    groups = [(False, 1.0)] + [(True, f) for f in sorted({1.0, *fractions}, reverse=True)]
    return ([Job(p, f, None) for p, f in groups],
            [Job(p, f, v) for p, f in groups for v in VARIANTS])


def run_job(setup: TrainSetup, runs: Path, job: Job, subset_seed: int, threads: int,
            log_path: Path | None = None) -> str:
    """Train one job's run folder (skipped when done) -> a one-line status."""

    if log_path is not None:  # a worker: its output goes to its own log, not the terminal
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 (lives as long as the worker)
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        sys.stdout = sys.stderr = log
    torch.set_num_threads(threads)
    data = data_for_fraction(setup, load_training_data(setup), job.fraction, subset_seed)
    group = runs / group_name(job.use_phrases, job.fraction)
    if job.variant is None:
        return ensure_phase1(run_config(setup, job.use_phrases, None), *data, group / "phase1", setup)
    result = ensure_phase2(run_config(setup, job.use_phrases, job.variant), *data,
                            group / "phase1", group / job.variant, setup)
    final = result.get("reranked", result["intra"])
    return f"test RSum {final['rsum']:.1f} (stage 1 {result['intra']['rsum']:.1f})"


def _run_stage(setup: TrainSetup, runs: Path, jobs: list[Job], subset_seed: int,
               workers: int) -> None:
    threads = max(1, (os.cpu_count() or 1) // workers)
    ctx = multiprocessing.get_context("spawn")  # CUDA cannot be forked
    failed: list[str] = []
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        pending = {pool.submit(run_job, setup, runs, job, subset_seed, threads,
                               runs / "logs" / f"{job.name.replace('/', '.')}.log"): job
                   for job in jobs}
        done_count = 0
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                job = pending.pop(future)
                done_count += 1
                try:
                    status = future.result()
                except Exception as exc:  # noqa: BLE001 (reported below with its log)
                    status = f"FAILED: {exc.__class__.__name__}: {exc}"
                    failed.append(job.name)
                print(f"[analyze] {done_count}/{len(jobs)} {job.name}: {status} "
                      f"({time.perf_counter() - t0:.0f} s)", flush=True)
    if failed:
        raise SsamtError(f"{len(failed)} training job(s) failed: {', '.join(failed)}; "
                         f"see their logs in {runs / 'logs'}")


def train_all(setup: TrainSetup, runs: Path, fractions, subset_seed: int = 0,
              jobs: int = 1) -> None:
    """Phase 1 of every group, then phase 2 of every variant, `jobs` processes at a time."""
    if jobs < 1:
        raise SsamtError("--jobs must be >= 1")
    intra, inter = plan_jobs(fractions)
    for stage in (intra, inter):
        _run_stage(setup, runs, stage, subset_seed, min(jobs, len(stage)))
