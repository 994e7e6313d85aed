"""One training run: phase 1, phase 2 or both, fresh, resumed or continued (paper 3.2).

    result = train(cfg, train_data, dev_data, vocab, run_dir, phase="both", resume=False)

Files in `run_dir`: last.pt (resume point, written every epoch and every
`save_every` updates), best.pt (best dev metric of the latest phase), phase1.pt (the intra
encoders at the end of phase 1, the start of phase 2), metrics.jsonl, config.yaml.
"""

from __future__ import annotations

import contextlib
import random
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from ssamt.errors import RunFolderError, SsamtError
from ssamt.fileio import write_text
from ssamt.model.ssamt import SSAMT
from ssamt.retrieval.eq5_select import select_eq5_weights
from ssamt.retrieval.evaluate import evaluate_tables
from ssamt.train.checkpoint import (
    BEST_NAME,
    LAST_NAME,
    PHASE1_NAME,
    load_checkpoint,
    restore_rng_state,
    restore_training,
    save_checkpoint,
    training_payload,
    vocab_hash,
)
from ssamt.train.config import TrainConfig, config_to_yaml
from ssamt.train.data import SplitData
from ssamt.train.distributed import (
    DistInfo,
    barrier,
    broadcast_parameters,
    device_for,
    init_from_env,
    wrap_ddp,
)
from ssamt.train.engine import RunContext, TrainState, run_phase
from ssamt.train.logging import MetricsLogger
from ssamt.train.phase1 import IntraObjective, intra_task
from ssamt.train.phase2 import phase2_task
from ssamt.train.recipes import build_recipe
from ssamt.train.resources import check_memory, check_token_budgets, phases_of
from ssamt.train.run_folder import check_same_data, lock_run, write_data_identity
from ssamt.train.schedule import build_optimizer, build_scheduler
from ssamt.train.validate import validate_config

PHASES = ("phase1", "phase2", "both")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_model(cfg: TrainConfig, vocab_size: int, data: SplitData) -> SSAMT:
    """SSAMT from the config's architecture (its recipe's: cfg.model.grounding) plus the
    data's sizes (filled in here only)."""
    return SSAMT(cfg.model.with_data(vocab_size=vocab_size, d_region=data.feature_dim,
                                     d_box=data.box_dim))


def dev_evaluator(model, dev: SplitData | None, cfg: TrainConfig, device: torch.device, k: int):
    """() -> dev R@K: intra similarity (k=0, phase 1) or two-stage re-ranking (phase 2)."""
    if dev is None or cfg.eval.every_epochs <= 0:
        return None
    dev = dev.head(cfg.eval.max_images)  # the cheap per-epoch subset

    def evaluate() -> dict[str, float]:
        res = evaluate_tables(model, dev.images, dev.texts, dev.caption_image, protocol="f30k",
                              k=k, mu1=cfg.loss.mu1, mu2=cfg.loss.mu2,
                              batch_size=cfg.eval.batch_size, device=device)
        metrics = dict(res["reranked"] if k else res["intra"])
        if k:
            metrics.update({f"intra_{key}": value for key, value in res["intra"].items()})
        metrics["eval_seconds"] = res["seconds"]["total"]
        return metrics

    return evaluate


class StartPoint(NamedTuple):
    """Where a run starts, as `start_point` read it from the run folder.

    payload:  the checkpoint to start from (None: a new run);
    first:    the first phase to run ("phase1" or "phase2");
    stale:    results to clear before training;
    settings: the checkpoint whose train_config and vocab the run continues with: last.pt on
              resume, phase1.pt for phase 2 alone (None: a new run, configured by the caller).
    """

    payload: dict | None
    first: str
    stale: tuple[str, ...]
    settings: dict | None


def start_point(run_dir: Path, phase: str, resume: bool, overwrite: bool = False) -> StartPoint:
    """Read where a run starts; each checkpoint file is read once.

    Reads only, so a command can call it before loading any data, and hand the result to
    `train(start=...)` instead of having it read again. A run's results are only replaced
    with `overwrite`, and then cleared first so no old file stays mixed in."""
    if resume:
        last = load_checkpoint(run_dir / LAST_NAME)
        st = last["state"]
        if st["phase"] == "phase1" and not st["done"]:
            return StartPoint(last, "phase1", (), last)
        if st["phase"] == "phase1":  # phase 1 finished: phase 2 starts from phase1.pt
            phase1 = run_dir / PHASE1_NAME
            start = load_checkpoint(phase1) if phase1.is_file() else last
            return StartPoint(start, "phase2", (), last)
        return StartPoint(last, "phase2", (), last)
    last = run_dir / LAST_NAME
    if phase == "phase2":
        start = load_checkpoint(run_dir / PHASE1_NAME)
        if last.is_file() and load_checkpoint(last)["state"]["phase"] == "phase2":
            if not overwrite:
                raise RunFolderError(f"{run_dir} already holds phase-2 results (last.pt, "
                                     "best.pt): pass --resume to continue them, --overwrite "
                                     "to train phase 2 again, or choose another --out")
            return StartPoint(start, "phase2", (BEST_NAME, LAST_NAME, "test.json"), start)
        return StartPoint(start, "phase2", (), start)
    if last.exists():
        if not overwrite:
            raise RunFolderError(f"{last} exists: pass --resume to continue that run, "
                                 "--overwrite to start it over, or choose another --out")
        return StartPoint(None, "phase1",
                          (BEST_NAME, LAST_NAME, PHASE1_NAME, "metrics.jsonl", "test.json"), None)
    return StartPoint(None, "phase1", (), None)


def _clear(run_dir: Path, names: tuple[str, ...]) -> None:
    for name in names:
        (run_dir / name).unlink(missing_ok=True)


def _check_data(run_dir: Path, payload: dict | None, train_data: SplitData, resume: bool) -> None:
    action = "resume it" if resume else "continue it"
    if payload is not None:
        check_same_data(payload.get("data_fingerprint"), train_data.split, run_dir, action)


def _make_context(run_dir: Path, static: dict, model, info: DistInfo, device, cfg: TrainConfig,
                  logger: MetricsLogger, progress: bool) -> RunContext:
    def save(name: str, state: TrainState, optimizer, scheduler, with_optimizer: bool) -> None:
        if info.is_main:
            save_checkpoint(run_dir / name, training_payload(
                static, model, state.to_dict(), optimizer if with_optimizer else None,
                scheduler if with_optimizer else None))

    # Batches are built ahead in a thread only when the model runs elsewhere (a GPU): on a
    # CPU the thread takes cores from the model's own threads and slows the step
    # (BENCHMARKS.md, "The prefetch thread").
    return RunContext(device, info, logger, save, seed=cfg.seed, progress=progress,
                      prefetch=torch.device(device).type != "cpu")


def _run_one(task, phase_cfg, ctx: RunContext, payload: dict | None, model, name: str) -> dict:
    """Optimizer + schedule for `task`, restored from `payload` when it is this phase's."""
    optimizer = build_optimizer(task.params, phase_cfg)
    scheduler = build_scheduler(optimizer, phase_cfg)
    state = TrainState(name)
    if payload is not None and payload["state"]["phase"] == name:
        state = TrainState.from_dict(restore_training(payload, model, optimizer, scheduler))
    elif payload is not None:  # continue from the previous phase's weights and RNG streams
        load_previous_phase(model, payload["model"])
        restore_rng_state(payload["rng"])
    t0 = time.perf_counter()
    out = run_phase(task, phase_cfg, state, ctx, optimizer, scheduler)
    out["seconds"] = time.perf_counter() - t0
    return out


def load_previous_phase(model: SSAMT, state: dict) -> None:
    """The phase-1 weights into `model`. Phase 1 trains the intra part only, so the inter
    part (the phrase-grounding head included) may come from a phase 1 of the other recipe:
    phase 2 trains the head from its initialization, and a head the recipe lacks is left
    out. Every other key must match."""
    head = tuple(k for k in state if k.startswith("grounding."))
    if model.grounding is None:
        state = {k: v for k, v in state.items() if k not in head}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith("grounding.") for k in missing):
        model.load_state_dict(state)  # raises, with torch's list of the keys


def _phase1(model, cfg, train_data, dev_data, device, info, ctx, payload) -> dict:
    for p in model.inter_parameters():  # phase 1 trains the intra part only
        p.requires_grad_(False)
    objective = wrap_ddp(IntraObjective(model, cfg.loss.alpha0), info, device)
    task = intra_task(model, objective, train_data, cfg, device,
                      dev_evaluator(model, dev_data, cfg, device, 0))
    return _run_one(task, cfg.phase1, ctx, payload, model, "phase1")


def _phase2(model, cfg, train_data, dev_data, device, info, ctx, payload) -> dict:
    model.freeze_intra()  # paper 3.2: fix the intra-modality model
    for p in model.inter_parameters():
        p.requires_grad_(True)
    # on a GPU every update's batch is a gather there; the same batches either way
    recipe = build_recipe(model, train_data.on_device(device), cfg, device,
                          progress=ctx.progress and info.is_main)
    task = phase2_task(recipe, model, cfg, lambda module: wrap_ddp(module, info, device),
                       dev_evaluator(model, dev_data, cfg, device, cfg.eval.rerank_k))
    return _run_one(task, cfg.phase2, ctx, payload, model, "phase2")


def train(cfg: TrainConfig, train_data: SplitData, dev_data: SplitData | None, vocab,
          run_dir: str | Path, *, phase: str = "both", resume: bool = False,
          overwrite: bool = False, device: str = "cpu", progress: bool = True,
          info: DistInfo | None = None, start: StartPoint | None = None) -> dict[str, Any]:
    """Train; returns {"phase1": ..., "phase2": ...} with each phase's final state, last epoch
    train means, last dev metrics and seconds. Checkpoints and metrics go to `run_dir`,
    locked for the whole run (ssamt.train.run_folder).

    start: `start_point(run_dir, phase, resume, overwrite)` as the caller already read it
    while holding the run folder's lock (`ssamt train` reads it once, before loading the
    data); read here when None."""
    if phase not in PHASES:
        raise SsamtError(f"--phase must be one of {', '.join(PHASES)}, not {phase!r}")
    validate_config(cfg)  # commands check it on reading; this guards library callers
    check_trainable(train_data)
    # before the run folder is touched or anything allocated
    check_token_budgets(cfg, train_data, phases_of(phase))
    check_memory(cfg, device, phases_of(phase), train_data, len(vocab))
    run_dir = Path(run_dir)
    info = info or init_from_env(device)
    lock = lock_run(run_dir) if info.is_main else contextlib.nullcontext()
    with lock:
        if start is None:
            start = start_point(run_dir, phase, resume, overwrite)
        _check_data(run_dir, start.payload, train_data, resume)
        _clear(run_dir, start.stale)
        return _train_locked(cfg, train_data, dev_data, vocab, run_dir, phase, device,
                             progress, info, start.payload, start.first)


def _train_locked(cfg: TrainConfig, train_data: SplitData, dev_data: SplitData | None, vocab,
                  run_dir: Path, phase: str, device: str, progress: bool, info: DistInfo,
                  payload: dict | None, first: str) -> dict[str, Any]:
    dev = device_for(info, device)
    seed_everything(cfg.seed)
    model = build_model(cfg, len(vocab), train_data).to(dev)
    torch.manual_seed(cfg.seed + 1000 * info.rank)  # per-rank dropout streams
    static = {"train_config": cfg.to_dict(), "model_config": model.config.to_dict(),
              "vocab": vocab.to_dict(), "vocab_hash": vocab_hash(vocab.to_dict()),
              "data_fingerprint": train_data.fingerprint}
    logger = MetricsLogger(run_dir, enabled=info.is_main)
    if info.is_main:
        write_text(run_dir / "config.yaml", config_to_yaml(cfg))
        write_data_identity(run_dir, train_data.fingerprint, _data_dir(train_data))
    ctx = _make_context(run_dir, static, model, info, dev, cfg, logger, progress)
    results: dict[str, Any] = {}
    try:
        if first == "phase1" and phase in ("phase1", "both"):
            results["phase1"] = _phase1(model, cfg, train_data, dev_data, dev, info, ctx, payload)
            keep_best_intra(model, run_dir, info)
            ctx.save(PHASE1_NAME, TrainState.from_dict(results["phase1"]["state"]), None, None, False)
            payload = None  # phase 2 continues from the live model
        if phase in ("phase2", "both") and not phase2_done(payload):
            results["phase2"] = _phase2(model, cfg, train_data, dev_data, dev, info, ctx, payload)
        if phase in ("phase2", "both") and info.is_main:
            results["eq5"] = store_eq5_weights(model, run_dir, dev_data, cfg, dev, logger, progress)
    finally:
        logger.close()
        barrier(info)
    return results


def store_eq5_weights(model, run_dir: Path, dev: SplitData | None, cfg: TrainConfig,
                      device: torch.device, logger: MetricsLogger,
                      progress: bool) -> dict[str, Any] | None:
    """The ssamt recipe: choose Eq. 5's mu1 / mu2 on dev with the phase-2 model of best.pt
    and store them in best.pt and last.pt ("eq5"), where evaluate and explain read them (the
    paper tunes them per dataset; its recipe keeps the config's). Skipped without a dev
    split, for the paper recipe, or when done before."""
    best = run_dir / BEST_NAME
    if dev is None or not cfg.selects_eq5_weights or not best.is_file():
        return None
    payload = load_checkpoint(best)
    if payload["state"]["phase"] != "phase2":
        return None
    if "eq5" in payload:
        return payload["eq5"]
    model.load_state_dict(payload["model"])
    dev = dev.head(cfg.eval.select_mu_images)
    chosen = select_eq5_weights(model, dev.images, dev.texts, dev.caption_image,
                                k=max(cfg.eval.rerank_k, 1), mu1_grid=cfg.eval.mu1_grid,
                                mu2_grid=cfg.eval.mu2_grid, batch_size=cfg.eval.batch_size,
                                device=device, progress=progress)
    chosen = {**chosen, "split": "dev", "images": dev.num_images}
    for name in (BEST_NAME, LAST_NAME):
        if (run_dir / name).is_file():
            stored = payload if name == BEST_NAME else load_checkpoint(run_dir / name)
            save_checkpoint(run_dir / name, {**stored, "eq5": chosen})
    logger.log("eval", "eq5", payload["state"]["step"],
               {k: chosen[k] for k in ("mu1", "mu2", "rsum", "stage1_rsum")})
    if progress:
        print(f"Eq. 5 weights chosen on {dev.num_images} dev images: mu1={chosen['mu1']:g} "
              f"mu2={chosen['mu2']:g} (dev RSum {chosen['rsum']:.1f}, stage 1 "
              f"{chosen['stage1_rsum']:.1f})", flush=True)
    return chosen


def _data_dir(data: SplitData) -> str | None:
    split = getattr(data.images, "split", None)
    return str(getattr(split, "data_dir", None)) if split is not None else None


def check_trainable(train_data: SplitData) -> None:
    """Both phases rank each positive against in-batch negatives: one image has none."""
    if train_data.num_images < 2:
        raise SsamtError(f"the training split has {train_data.num_images} image(s); training "
                         "needs at least 2 (negatives come from other images)")


def keep_best_intra(model, run_dir: Path, info: DistInfo) -> None:
    """Phase 2 starts from the phase-1 weights with the best dev score (best.pt), not the
    last ones: hardest-negative training can degrade late (VSE++-style collapse)."""
    best = run_dir / BEST_NAME
    if info.is_main and best.is_file():
        payload = load_checkpoint(best)
        if payload["state"]["phase"] == "phase1":
            model.load_state_dict(payload["model"])
    broadcast_parameters(model, info)


def phase2_done(payload: dict | None) -> bool:
    """Whether a checkpoint's phase 2 has run to its end."""
    return payload is not None and payload["state"]["phase"] == "phase2" and payload["state"]["done"]
