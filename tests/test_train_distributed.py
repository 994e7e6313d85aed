"""DistributedDataParallel on CPU: two gloo processes stay in step (same parameters)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

HERE = Path(__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(rank: int, world: int, port: int) -> None:
    os.environ.update({"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})


def _toy_worker(rank: int, world: int, port: int, out: str) -> None:
    """Generic loop with DDP, gradient accumulation (no_sync) and sharded batches."""
    _env(rank, world, port)
    torch.set_num_threads(1)
    sys.path.insert(0, str(HERE))
    from test_train_engine import CFG, DATA, TARGET, Toy

    from ssamt.train.distributed import cleanup, init_from_env, wrap_ddp
    from ssamt.train.engine import PhaseTask, RunContext, TrainState, run_phase
    from ssamt.train.logging import MetricsLogger
    from ssamt.train.schedule import build_optimizer, build_scheduler

    info = init_from_env("cpu")
    torch.manual_seed(rank)  # different inits: DDP must broadcast rank 0's parameters
    model = Toy()
    objective = wrap_ddp(model, info, torch.device("cpu"))
    torch.manual_seed(100 + rank)  # different dropout streams per rank
    task = PhaseTask("toy", objective, {"L0": 1.0, "L1": 1.0}, np.full(len(DATA), 4, dtype=np.int64),
                     lambda idx, e, u: {"x": DATA[idx], "y": TARGET[idx]}, list(model.parameters()))
    opt = build_optimizer(model.parameters(), CFG)
    ctx = RunContext(torch.device("cpu"), info, MetricsLogger(out, enabled=info.is_main,
                                                              tensorboard=False),
                     lambda *a: None, seed=0, progress=False)
    result = run_phase(task, CFG, TrainState("toy"), ctx, opt, build_scheduler(opt, CFG))
    torch.save({"params": [p.detach() for p in model.parameters()], "result": result},
               os.path.join(out, f"rank{rank}.pt"))
    cleanup(info)


def _runner_worker(rank: int, world: int, port: int, out: str) -> None:
    """The real two-phase runner on the tiny hand-made data, two ranks."""
    _env(rank, world, port)
    torch.set_num_threads(1)
    sys.path.insert(0, str(HERE))
    from test_train_trainer import TINY, tiny_data

    from ssamt.train.config import load_config
    from ssamt.train.distributed import cleanup, init_from_env
    from ssamt.train.trainer import train

    info = init_from_env("cpu")
    data, vocab = tiny_data(Path(out) / f"data{rank}")
    cfg = load_config("synthetic", [*TINY, "phase1.save_every=0", "phase2.save_every=0"])
    result = train(cfg, data, data, vocab, Path(out) / "run", progress=False, info=info)
    torch.save({"steps": [result[p]["state"]["step"] for p in ("phase1", "phase2")]},
               os.path.join(out, f"rank{rank}.pt"))
    cleanup(info)


def test_two_gloo_processes_stay_in_step(tmp_path):
    mp.spawn(_toy_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    a, b = (torch.load(tmp_path / f"rank{r}.pt") for r in range(2))
    assert a["result"]["state"]["step"] == b["result"]["state"]["step"] > 0
    for p, q in zip(a["params"], b["params"]):
        assert torch.allclose(p, q, atol=1e-6), "ranks drifted apart"
    torch.manual_seed(0)
    init = [p.detach() for p in __import__("test_train_engine").Toy().parameters()]
    assert any(not torch.allclose(p, q) for p, q in zip(a["params"], init))


@pytest.mark.slow
def test_two_phase_runner_with_two_ranks(tmp_path):
    mp.spawn(_runner_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    steps = [torch.load(tmp_path / f"rank{r}.pt")["steps"] for r in range(2)]
    assert steps[0] == steps[1] == [5, 5]
    assert (tmp_path / "run" / "best.pt").is_file() and (tmp_path / "run" / "last.pt").is_file()
