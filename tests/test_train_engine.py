"""The generic loop: schedule, accumulation, non-finite stop, and exact resume after a crash."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from ssamt.errors import SsamtError
from ssamt.train.checkpoint import (
    load_checkpoint,
    restore_training,
    save_checkpoint,
    training_payload,
)
from ssamt.train.config import PhaseConfig
from ssamt.train.distributed import DistInfo
from ssamt.train.engine import PhaseTask, RunContext, TrainState, run_phase
from ssamt.train.logging import MetricsLogger, read_metrics
from ssamt.train.schedule import build_optimizer, build_scheduler, warmup_linear_factor


class Toy(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Dropout(0.3),
                                       torch.nn.ReLU(), torch.nn.Linear(16, 1))

    def forward(self, batch):
        pred = self.net(batch["x"]).squeeze(1)
        y = batch["y"]
        return {"L0": ((pred - y) ** 2).mean(), "L1": (pred - y).abs().mean()}  # named as Eq. 4 terms


DATA = torch.randn(60, 4, generator=torch.Generator().manual_seed(1))
TARGET = DATA.sum(1)
CFG = PhaseConfig(lr=1e-2, token_budget=40, accum_steps=2, max_steps=14, warmup_steps=3,
                  log_every=1)


def _run(run_dir, crash_at=None, resume=False, cfg=CFG, seed_model=0, prefetch=True,
         log=None):
    torch.manual_seed(seed_model)
    model = Toy()
    calls = {"n": 0}

    def make_batch(idx, epoch, update):
        calls["n"] += 1
        if log is not None:
            log.append((list(idx), epoch, update))
        if crash_at is not None and calls["n"] == crash_at:
            raise KeyboardInterrupt  # a crash mid-epoch, after some checkpoints
        return {"x": DATA[idx], "y": TARGET[idx]}

    costs = np.full(len(DATA), 4, dtype=np.int64)  # 10 items per batch
    task = PhaseTask("toy", model, {"L0": 1.0, "L1": 0.5}, costs, make_batch,
                     list(model.parameters()))
    opt = build_optimizer(model.parameters(), cfg)
    sched = build_scheduler(opt, cfg)
    state = TrainState("toy")
    static = {"train_config": {}, "model_config": {}, "vocab": {}}

    def save(name, st, o, s, with_opt):
        save_checkpoint(run_dir / name, training_payload(static, model, st.to_dict(),
                                                         o if with_opt else None,
                                                         s if with_opt else None))

    if resume:
        state = TrainState.from_dict(restore_training(load_checkpoint(run_dir / "last.pt"),
                                                      model, opt, sched))
    ctx = RunContext(torch.device("cpu"), DistInfo(), MetricsLogger(run_dir, tensorboard=False),
                     save, seed=3, progress=False, prefetch=prefetch)
    if not resume:
        torch.manual_seed(123)  # dropout stream; a resumed run must restore it from the file
    out = run_phase(task, cfg, state, ctx, opt, sched)
    return model, out


def test_warmup_linear_factor():
    f = [warmup_linear_factor(s, 4, 12) for s in range(12)]
    assert f[:4] == [0.25, 0.5, 0.75, 1.0]
    assert f[4] == 1.0 and f[-1] == pytest.approx(1 / 8) and all(a >= b for a, b in itertools.pairwise(f[3:]))
    assert warmup_linear_factor(12, 4, 12) == 0.0


def test_resume_after_crash_matches_straight_run(tmp_path):
    straight, out = _run(tmp_path / "a")
    assert out["state"]["step"] == CFG.max_steps and out["state"]["done"]
    cfg = PhaseConfig(**{**CFG.__dict__, "save_every": 2})
    straight2, _ = _run(tmp_path / "b", cfg=cfg)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "c", crash_at=9, cfg=cfg)  # mid-epoch 1 (6 batches an epoch)
    saved = load_checkpoint(tmp_path / "c" / "last.pt")
    assert 0 < saved["state"]["step"] < CFG.max_steps and saved["state"]["batch_in_epoch"] > 0
    resumed, _ = _run(tmp_path / "c", resume=True, cfg=cfg, seed_model=99)
    for a, b, c in zip(straight.parameters(), straight2.parameters(), resumed.parameters()):
        assert torch.equal(a, b)
        assert torch.equal(a, c)


def test_metrics_logged(tmp_path):
    _run(tmp_path)
    records = read_metrics(tmp_path)
    train = [r for r in records if r["kind"] == "train"]
    assert [r["step"] for r in train] == list(range(1, CFG.max_steps + 1))
    assert {"loss", "L0", "L1", "lr", "grad_norm", "pairs_per_s"} <= set(train[0])
    assert train[0]["lr"] == pytest.approx(CFG.lr / 3)


def test_non_finite_loss_stops_with_step_and_term(tmp_path):
    class Bad(Toy):
        def forward(self, batch):
            terms = super().forward(batch)
            terms["L1"] = terms["L1"] * math.nan
            return terms

    with pytest.raises(SsamtError, match=r"update 1: term L1"):
        _run_toy(Bad(), CFG, tmp_path)


def _run_toy(model: Toy, cfg: PhaseConfig, tmp_path) -> None:
    """run_phase of `model` on the toy data with weights L0 = L1 = 1, logging to tmp_path."""
    task = PhaseTask("toy", model, {"L0": 1.0, "L1": 1.0}, np.ones(60, dtype=np.int64),
                     lambda idx, e, u: {"x": DATA[idx], "y": TARGET[idx]}, list(model.parameters()))
    opt = build_optimizer(model.parameters(), cfg)
    ctx = RunContext(torch.device("cpu"), DistInfo(), MetricsLogger(tmp_path, tensorboard=False),
                     lambda *a: None, progress=False)
    run_phase(task, cfg, TrainState("toy"), ctx, opt, build_scheduler(opt, cfg))


@pytest.mark.parametrize("accum", [1, 2, 4])
def test_prefetch_builds_the_same_batches_in_the_same_order(tmp_path, accum):
    """The background thread asks make_batch for exactly the (items, epoch, update) the
    loop without it asks, no more (nothing past max_steps), and training ends identical."""
    cfg = PhaseConfig(**{**CFG.__dict__, "accum_steps": accum, "max_steps": 7})
    with_log, without_log = [], []
    a, _ = _run(tmp_path / "a", cfg=cfg, prefetch=True, log=with_log)
    b, _ = _run(tmp_path / "b", cfg=cfg, prefetch=False, log=without_log)
    assert with_log == without_log and len(with_log) >= 7
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


def test_prefetch_error_surfaces_when_its_batch_is_taken(tmp_path):
    cfg = PhaseConfig(**{**CFG.__dict__, "save_every": 1})
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, crash_at=5, cfg=cfg)
    # batches 1-4 trained (accum 2: two updates) and were saved before batch 5 failed
    assert load_checkpoint(tmp_path / "last.pt")["state"]["batch_in_epoch"] == 4


