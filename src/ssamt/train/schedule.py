"""Optimizer and learning-rate schedule (paper 3.2): Adam(0.9, 0.999), linear warm-up to the
peak rate, then linear decay to zero at the last update."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from ssamt.train.config import PhaseConfig


def warmup_linear_factor(step: int, warmup_steps: int, max_steps: int) -> float:
    """Multiplier of the peak lr at update `step` (0-based): 0 -> 1 over warm-up, 1 -> 0 after."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    remaining = max_steps - step
    span = max(1, max_steps - warmup_steps)
    return max(0.0, remaining / span)


def build_optimizer(params: Iterable[torch.nn.Parameter], cfg: PhaseConfig) -> torch.optim.Adam:
    params = [p for p in params if p.requires_grad]
    return torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: PhaseConfig) -> torch.optim.lr_scheduler.LambdaLR:
    """LambdaLR whose state_dict is plain (its lambda is not pickled, only the step count)."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_linear_factor(step, cfg.warmup_steps, cfg.max_steps)
    )
