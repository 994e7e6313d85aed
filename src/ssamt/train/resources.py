"""What a training run needs before it allocates anything, checked where the run starts.

- Token budgets: a micro-batch must hold two training items, or every item is a batch of
  its own, with no in-batch negative: every loss is 0 and the run "trains" nothing.
- Memory: the model's weights, its gradients and Adam's moments, and the activations of a
  micro-batch, estimated from the config (the parameters counted on torch's meta device,
  exact and without allocating), against the memory of the device. The estimate is a lower
  bound, so a refusal is a run that could not have fit; a run just under it may still run
  out, which torch then reports.

Each refusal is one ConfigError naming the keys that drive it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ssamt.errors import ConfigError
from ssamt.model.config import ModelConfig
from ssamt.model.ssamt import SSAMT
from ssamt.train.config import TrainConfig
from ssamt.train.data import SplitData
from ssamt.train.phase1 import intra_item_costs
from ssamt.train.recipes import RECIPES

GIB = 2**30
WEIGHT_BYTES = 4  # float32 weights
TRAINED_BYTES = 12  # a trained weight's float32 gradient and Adam's two moments
CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def phases_of(phase: str) -> tuple[str, ...]:
    """The phases a run of `phase` ("phase1", "phase2" or "both") trains."""
    return ("phase1", "phase2") if phase == "both" else (phase,)


def item_costs(cfg: TrainConfig, train: SplitData, phase: str) -> np.ndarray:
    """(N,) token-budget cost of each training item of `phase`, as its loop counts them."""
    if phase == "phase1":
        return intra_item_costs(train)
    return RECIPES[cfg.recipe].item_costs(train)


def check_token_budgets(cfg: TrainConfig, train: SplitData, phases: Sequence[str],
                        source: str = "config") -> None:
    """ConfigError when a phase's token budget cannot hold two of its largest items."""
    for phase in phases:
        costs = item_costs(cfg, train, phase)
        if not len(costs):
            continue
        largest = int(costs.max())
        budget = getattr(cfg, phase).token_budget
        if budget < 2 * largest:
            raise ConfigError(
                f"{source}: {phase}.token_budget must be >= {2 * largest} to hold 2 of the "
                f"training split's largest items ({largest} instances each), got {budget}: a "
                "batch of one item has no in-batch negative, so every loss would be 0")


@dataclass(frozen=True)
class MemoryNeed:
    """The bytes one phase of training needs at least, in its two parts."""

    phase: str
    model: int  # weights, plus gradients and Adam's moments of the weights it trains
    batch: int  # the activations of one micro-batch
    instances: int  # the micro-batch's instances (0: the data not read yet)

    @property
    def total(self) -> int:
        return self.model + self.batch


def parameter_counts(model: ModelConfig) -> dict[str, int]:
    """Parameters of SSAMT(model): total, intra (phase 1 trains) and inter (phase 2 trains),
    counted on the meta device: shapes only, nothing allocated."""
    with torch.device("meta"):
        net = SSAMT(model)

    def count(params) -> int:
        return sum(p.numel() for p in params)

    return {"total": count(net.parameters()), "phase1": count(net.intra_parameters()),
            "phase2": count(net.inter_parameters())}


def memory_needs(model: ModelConfig, phases: Sequence[str],
                 instances: dict[str, int]) -> list[MemoryNeed]:
    """The least memory each phase needs. An instance keeps, in each layer, at least its
    query, key, value and attention output (4 x d_model) and its feed-forward hidden units
    (d_ffn) for the backward pass."""
    counts = parameter_counts(model)
    per_instance = model.n_layers * (4 * model.d_model + model.d_ffn) * WEIGHT_BYTES
    return [MemoryNeed(phase, WEIGHT_BYTES * counts["total"] + TRAINED_BYTES * counts[phase],
                       instances.get(phase, 0) * per_instance, instances.get(phase, 0))
            for phase in phases]


def device_memory(device: str | torch.device) -> int | None:
    """Bytes of memory of `device`: a GPU's own, or this machine's (within its cgroup's
    limit); None where it cannot be told."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return int(torch.cuda.get_device_properties(dev).total_memory)
    if dev.type != "cpu":
        return None
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system that tells
        return None
    for limit in CGROUP_LIMITS:
        try:
            text = Path(limit).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            memory = min(memory, int(text))
    return memory


def _drivers(model: ModelConfig, data_known: bool) -> str:
    keys = ", ".join(f"model.{name}={getattr(model, name)}"
                     for name in ("d_model", "d_ffn", "n_layers", "max_tokens"))
    return f"{keys}, a vocabulary of {model.vocab_size:,}" if data_known else keys


def check_memory(cfg: TrainConfig, device: str | torch.device, phases: Sequence[str],
                 train: SplitData | None = None, vocab_size: int | None = None,
                 source: str = "config") -> None:
    """ConfigError when training `phases` of `cfg` needs more memory than `device` has.

    With the training data (and its vocabulary size), the model's data sizes are the
    data's and a micro-batch holds min(token budget, the split's instances); before the
    data is read, the sizes the config leaves to the data count as 1 and batches as empty,
    a lower bound still (a model too large for any data is refused before minutes of
    label parsing)."""
    have = device_memory(device)
    if have is None:
        return
    known = train is not None and vocab_size is not None
    given = cfg.model
    model = given.with_data(
        vocab_size=vocab_size if known else (given.vocab_size or 1),
        d_region=train.feature_dim if known else (given.d_region or 1),
        d_box=train.box_dim if known else (given.d_box or 0))
    instances = {phase: min(getattr(cfg, phase).token_budget,
                            int(item_costs(cfg, train, phase).sum()))
                 for phase in phases} if known else {}
    need = max(memory_needs(model, phases, instances), key=lambda n: n.total)
    if need.total <= have:
        return
    counts = parameter_counts(model)["total"]
    batch = (f", a {need.phase} micro-batch of {need.instances:,} instances "
             f"({need.phase}.token_budget={getattr(cfg, need.phase).token_budget}) "
             f"{need.batch / GIB:.1f} GiB" if need.instances else "")
    dev = torch.device(device)
    where = "this machine has (cpu)" if dev.type == "cpu" else f"{dev} has"
    raise ConfigError(
        f"{source}: training would need at least {need.total / GIB:.1f} GiB of memory, more "
        f"than the {have / GIB:.1f} GiB {where}: the model's {counts:,} "
        f"parameters ({_drivers(model, known)}) take {need.model / GIB:.1f} GiB with their "
        f"gradients and Adam's moments{batch}")
