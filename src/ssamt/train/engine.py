"""The generic training loop shared by both phases (DETR engine.py style: explicit
arguments in, metrics out; no argument namespace).

A phase supplies a `PhaseTask`: an objective module whose forward returns a dict of named
loss terms (docs/DESIGN.md section 2, combined by one weight dict), per-item costs for the
token-budget batches, a function building one batch, an optional hook at the
start of each epoch (phase 2 samples its negatives there) and an optional dev evaluation.
`run_phase` drives epochs and updates, checkpoints and resumes; `train_one_epoch` runs the
updates of one epoch.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ssamt.data.batching import TokenBudgetSampler
from ssamt.errors import SsamtError
from ssamt.losses import combine
from ssamt.train.config import PhaseConfig
from ssamt.train.distributed import DistInfo, all_mean
from ssamt.train.logging import MetricsLogger


@dataclass
class TrainState:
    """Where a phase stands; saved in every checkpoint so `--resume` continues exactly."""

    phase: str
    step: int = 0  # optimizer updates done in this phase
    epoch: int = 0  # current epoch (0-based)
    batch_in_epoch: int = 0  # micro-batches of this epoch already consumed (this rank)
    best: float = -math.inf
    done: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"phase": self.phase, "step": self.step, "epoch": self.epoch,
                "batch_in_epoch": self.batch_in_epoch, "best": float(self.best), "done": self.done}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainState:
        return cls(**{k: d[k] for k in ("phase", "step", "epoch", "batch_in_epoch", "best", "done")})


@dataclass
class PhaseTask:
    """What a phase plugs into the loop.

    objective:   module (maybe DDP-wrapped) whose forward(batch) -> dict[str, Tensor] of
                 scalar loss terms (a phase's criterion).
    weights:     term name -> weight (Eq. 4's lambdas, ssamt.losses.combine): a term not
                 listed is logged, not trained (DETR's weight_dict rule).
    costs:       (N,) cost of each training item (#regions + #tokens, docs/DESIGN.md section 4).
    make_batch: (item indices, epoch, update) -> the objective's batch, already on the
                 device; `update` (updates done so far) drives schedules such as the ssamt
                 recipe's random-to-hard partners. A function of its arguments only (no
                 global random state): the loop may build the next batch in a background
                 thread.
    start_epoch: called with the epoch number before its first batch (also after a resume).
    evaluate:    () -> dict of dev metrics (rank 0 only), or None.
    params:      the parameters this phase trains.
    """

    name: str
    objective: torch.nn.Module
    weights: dict[str, float]
    costs: np.ndarray
    make_batch: Callable[[list[int], int, int], Any]
    params: list[torch.nn.Parameter]
    start_epoch: Callable[[int], None] | None = None
    evaluate: Callable[[], dict[str, float]] | None = None
    select_by: str = "rsum"


@dataclass
class RunContext:
    """Where a run writes and how it talks to other ranks.

    save: (file name, state, optimizer, scheduler, with_optimizer) -> None; builds the full
          payload (configs, vocabulary, weights, random states) and writes it atomically.
    """

    device: torch.device
    info: DistInfo
    logger: MetricsLogger
    save: Callable[..., None]
    seed: int = 0
    progress: bool = True
    prefetch: bool = True  # build the next micro-batch in a background thread (_Prefetch);
    # the runner turns it off on a CPU, where the thread competes with the model for cores
    history: list[dict[str, Any]] = field(default_factory=list)


def check_finite(terms: dict[str, float], phase: str, step: int) -> None:
    """Stop with a clear message instead of training on NaN/inf (names the step and term).
    terms: the micro-batches' loss terms of this update, as floats, "loss" the weighted sum."""
    bad = [n for n, v in terms.items() if not math.isfinite(v)]
    if not bad:
        return
    name = next((n for n in bad if n != "loss"), "total")
    raise SsamtError(
        f"non-finite loss in phase {phase} at update {step + 1}: term {name} = "
        f"{terms.get(name, terms['loss'])}; lower the learning rate or check the data"
    )


def _autocast(device: torch.device):
    # bf16 autocast on CUDA only: on a CPU, even one with native bf16, a quick start gained
    # about a tenth, and the trained numbers would depend on the CPU (BENCHMARKS.md,
    # "bf16 on a CPU").
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _no_sync(objective: torch.nn.Module, sync: bool):
    """DDP: skip the gradient all-reduce on micro-batches that do not end an update."""
    if not sync and hasattr(objective, "no_sync"):
        return objective.no_sync()
    return contextlib.nullcontext()


def _update(task: PhaseTask, cfg: PhaseConfig, optimizer, scheduler) -> float:
    """Clip, step, schedule; returns the gradient norm before clipping."""
    norm = torch.nn.utils.clip_grad_norm_(task.params, cfg.clip_norm if cfg.clip_norm > 0 else math.inf)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return float(norm)


def _micro_step(task: PhaseTask, batch: Any, scale: float, sync: bool,
                device: torch.device) -> dict[str, torch.Tensor]:
    """Forward + backward of one micro-batch; returns the loss terms ("loss": their weighted
    sum) as detached scalars on the device. They are read on the host once an update
    (_window_floats): reading each here would make the host wait for the device every
    micro-batch, and on a GPU the host's launches are what bounds a step."""
    with _no_sync(task.objective, sync):
        with _autocast(device):
            terms = task.objective(batch)
        total = combine(terms, task.weights)
        (total * scale).backward()
    out = {name: v.detach().float() for name, v in terms.items()}
    out["loss"] = total.detach().float()
    return out


def _window_floats(window: list[dict[str, torch.Tensor]]) -> list[dict[str, float]]:
    """The micro-batches' loss terms as floats, in one copy to the host."""
    values = iter(torch.stack([v for terms in window for v in terms.values()]).tolist())
    return [{name: next(values) for name in terms} for terms in window]


class _Prefetch:
    """The next micro-batch built in a background thread while this one trains.

    make_batch is a function of (item indices, epoch, update) only (no global random
    state: phase 2 draws its partners at the start of the epoch), so building it early, in
    another thread, gives the same batches in the same order; the update it will see is
    known in advance (this micro-batch's update + 1 when this one ends an update). Nothing
    is prefetched past the epoch or past cfg.max_steps, so no batch is built that the loop
    without prefetch would not build, and a resume (which restarts at state.batch_in_epoch)
    is unaffected. An exception in make_batch surfaces when its batch is taken, as before.
    On a GPU the batch's gathers and copies are queued on the same stream as the step, so
    the step never waits for the host to assemble the next batch.
    """

    def __init__(self, task: PhaseTask, enabled: bool) -> None:
        self.task = task
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="ssamt-prefetch") if enabled else None
        self.pending: tuple[tuple[int, int, int], Future] | None = None

    def take(self, batches: list[list[int]], pos: int, epoch: int, update: int) -> dict:
        key = (pos, epoch, update)
        if self.pending is not None and self.pending[0] == key:
            future, self.pending = self.pending[1], None
            return future.result()
        return self.task.make_batch(batches[pos], epoch, update)

    def ahead(self, batches: list[list[int]], pos: int, epoch: int, update: int) -> None:
        if self.pool is not None and pos < len(batches):
            self.pending = ((pos, epoch, update),
                            self.pool.submit(self.task.make_batch, batches[pos], epoch, update))

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


def train_one_epoch(task: PhaseTask, batches: list[list[int]], cfg: PhaseConfig, optimizer,
                    scheduler, state: TrainState, ctx: RunContext) -> dict[str, float]:
    """Updates over this rank's `batches` of epoch `state.epoch`, from `state.batch_in_epoch`
    on, until the epoch or `cfg.max_steps` ends. Returns the epoch's mean loss terms.
    With ctx.prefetch the next micro-batch is built while this one trains."""
    task.objective.train()
    sums: dict[str, float] = {}
    count, window, t0, items = 0, [], time.perf_counter(), 0
    update_start = t0
    bar = tqdm(total=len(batches), initial=state.batch_in_epoch, leave=False,
               desc=f"{task.name} epoch {state.epoch}", disable=not (ctx.progress and ctx.info.is_main))
    prefetch = _Prefetch(task, ctx.prefetch)
    try:
        while state.batch_in_epoch < len(batches) and state.step < cfg.max_steps:
            idx = batches[state.batch_in_epoch]
            batch = prefetch.take(batches, state.batch_in_epoch, state.epoch, state.step)
            state.batch_in_epoch += 1
            last = state.batch_in_epoch == len(batches)
            sync = state.batch_in_epoch % cfg.accum_steps == 0 or last
            next_update = state.step + int(sync)
            if next_update < cfg.max_steps:
                prefetch.ahead(batches, state.batch_in_epoch, state.epoch, next_update)
            window.append(_micro_step(task, batch, 1.0 / cfg.accum_steps, sync, ctx.device))
            del batch  # let the batch's memory go before the next one arrives
            items += len(idx)
            count += 1
            bar.update(1)
            if sync:
                window = _window_floats(window)  # the update's one wait for the device
                for terms in window:
                    check_finite(terms, task.name, state.step)  # before the optimizer step
                    for k, v in terms.items():
                        sums[k] = sums.get(k, 0.0) + v
                lr = optimizer.param_groups[0]["lr"]  # the rate this update uses
                norm = _update(task, cfg, optimizer, scheduler)
                state.step += 1
                now = time.perf_counter()
                speed = items / max(now - t0, 1e-9)
                extra = {"grad_norm": norm, "lr": lr, "pairs_per_s": speed,
                         "update_s": now - update_start}  # the update's micro-batches and step
                update_start = now
                _after_update(task.name, cfg, state, ctx, window, extra, bar)
                window = []
                if cfg.save_every and state.step % cfg.save_every == 0:
                    ctx.save("last.pt", state, optimizer, scheduler, True)
    finally:
        prefetch.close()
    bar.close()
    return {k: v / max(count, 1) for k, v in sums.items()}


def _after_update(phase: str, cfg: PhaseConfig, state: TrainState, ctx: RunContext,
                  window: list[dict[str, float]], extra: dict[str, float], bar) -> None:
    """Progress bar every update; metrics.jsonl every `log_every` updates."""
    mean = {k: float(np.mean([w[k] for w in window])) for k in window[0]}
    bar.set_postfix(loss=f"{mean['loss']:.4f}", step=state.step,
                    pairs_s=f"{extra['pairs_per_s']:.0f}")
    if state.step % max(cfg.log_every, 1) == 0 or state.step == 1:
        mean["loss"] = all_mean(mean["loss"], ctx.info)
        record = {**mean, **extra, "epoch": state.epoch}
        ctx.logger.log("train", phase, state.step, record)
        ctx.history.append({"kind": "train", "phase": phase, "step": state.step, **record})


def epoch_batches(task: PhaseTask, cfg: PhaseConfig, epoch: int, seed: int,
                  info: DistInfo) -> list[list[int]]:
    """This rank's token-budget batches of `epoch`: deterministic in (seed, epoch), so a
    resumed run sees the same batches and skips the ones it already trained on."""
    sampler = TokenBudgetSampler(task.costs, cfg.token_budget, shuffle=True, seed=seed,
                                 rank=info.rank, world_size=info.world_size)
    sampler.set_epoch(epoch)
    return sampler.batches()


def _evaluate(task: PhaseTask, state: TrainState, ctx: RunContext, optimizer, scheduler) -> dict:
    """Dev metrics on rank 0, best.pt when they improve, last.pt always."""
    metrics: dict[str, float] = {}
    if ctx.info.is_main and task.evaluate is not None:
        metrics = task.evaluate()
        ctx.logger.log("eval", task.name, state.step, {**metrics, "epoch": state.epoch})
        ctx.history.append({"kind": "eval", "phase": task.name, "step": state.step,
                            "epoch": state.epoch, **metrics})
        value = metrics.get(task.select_by, -math.inf)
        if value > state.best:
            state.best = value
            ctx.save("best.pt", state, optimizer, scheduler, False)
    return metrics


def run_phase(task: PhaseTask, cfg: PhaseConfig, state: TrainState, ctx: RunContext,
              optimizer, scheduler) -> dict[str, Any]:
    """Epochs until `cfg.max_steps` updates (or `cfg.max_epochs`); checkpoint each epoch.

    `state`, `optimizer`, `scheduler` and the random generators are either fresh or were
    restored from last.pt by the caller; the loop continues from `state` exactly.
    Returns {"state": final state dict, "train": last epoch means, "eval": last dev metrics}.
    """
    train_metrics: dict[str, float] = {}
    eval_metrics: dict[str, float] = {}
    while not state.done:
        batches = epoch_batches(task, cfg, state.epoch, ctx.seed, ctx.info)
        if not batches:
            raise SsamtError(f"phase {task.name}: no training batches (empty training split?)")
        if task.start_epoch is not None:
            task.start_epoch(state.epoch)
        train_metrics = train_one_epoch(task, batches, cfg, optimizer, scheduler, state, ctx)
        epoch_done = state.batch_in_epoch >= len(batches)
        if epoch_done:
            state.epoch += 1
            state.batch_in_epoch = 0
        capped = cfg.max_epochs and state.epoch >= cfg.max_epochs
        state.done = state.step >= cfg.max_steps or bool(capped)
        eval_metrics = _evaluate(task, state, ctx, optimizer, scheduler) or eval_metrics
        ctx.save("last.pt", state, optimizer, scheduler, True)
    return {"state": state.to_dict(), "train": train_metrics, "eval": eval_metrics}
