"""Range checks of a TrainConfig, run where a config is read (train, quickstart, analyze).

`TrainConfig.from_dict` checks types; this checks values, before any data is read, so a
bad value is one line naming the key rather than a traceback minutes into training (a
negative seed crashes numpy, lr=0 trains nothing, accum_steps=0 divides by zero).

Zero where allowed means what ssamt/train/config.py says: max_steps=0 runs no updates (the
phase only evaluates and saves its starting weights), max_epochs=0 is no epoch cap,
save_every=0 saves at epoch ends only, clip_norm=0 is no clipping, eval.max_images=0 is the
whole dev split, eval.rerank_k=0 evaluates the intra dual encoder only, eval.every_epochs=0
never evaluates.
"""

from __future__ import annotations

import math
from typing import Any

from ssamt.errors import ConfigError
from ssamt.retrieval.metrics import METRIC_KEYS

# key -> (lowest allowed, whether the lowest is excluded); every value must also be finite.
_PHASE_RANGES = {"lr": (0, True), "token_budget": (1, False), "accum_steps": (1, False),
                 "max_steps": (0, False), "warmup_steps": (0, False), "max_epochs": (0, False),
                 "weight_decay": (0, False), "clip_norm": (0, False),
                 "mean_negatives_epochs": (0, False), "save_every": (0, False),
                 "log_every": (0, False)}
_LOSS_MIN = {"negatives_m": 1}  # alphas and lambdas >= 0, mu1/mu2 any finite number
_EVAL_RANGES = {"rerank_k": 0, "max_images": 0, "batch_size": 1, "every_epochs": 0}


def validate_config(cfg: Any, source: str = "config") -> None:
    """Raise ConfigError naming the first out-of-range value of `cfg` (a TrainConfig)."""
    _at_least(source, "seed", cfg.seed, 0)
    _at_least(source, "vocab_min_count", cfg.vocab_min_count, 1)
    # the model section checks itself (ModelConfig.__post_init__) when the config is read
    for name in ("phase1", "phase2"):
        _phase(source, name, getattr(cfg, name))
    _loss(source, cfg.loss)
    for key, low in _EVAL_RANGES.items():
        _at_least(source, f"eval.{key}", getattr(cfg.eval, key), low)
    _select_by(source, cfg.eval.select_by)


def _fail(source: str, key: str, value: Any, must: str) -> None:
    raise ConfigError(f"{source}: {key} must be {must}, got {value!r}")


def _finite(source: str, key: str, value: float) -> None:
    if not math.isfinite(value):
        _fail(source, key, value, "a finite number")


def _at_least(source: str, key: str, value: float, low: float, strict: bool = False) -> None:
    _finite(source, key, value)
    if value < low or (strict and value == low):
        _fail(source, key, value, f"> {low}" if strict else f">= {low}")


def _phase(source: str, name: str, phase: Any) -> None:
    for key, (low, strict) in _PHASE_RANGES.items():
        _at_least(source, f"{name}.{key}", getattr(phase, key), low, strict)
    betas = tuple(phase.betas)
    if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
        _fail(source, f"{name}.betas", list(betas), "two numbers in [0, 1)")


def _loss(source: str, loss: Any) -> None:
    for key in ("alpha0", "alpha1", "alpha2", "alpha3", "lambda0", "lambda1", "lambda2",
                "lambda3"):
        _at_least(source, f"loss.{key}", getattr(loss, key), 0)
    for key in ("mu1", "mu2"):
        _finite(source, f"loss.{key}", getattr(loss, key))
    for key, low in _LOSS_MIN.items():
        _at_least(source, f"loss.{key}", getattr(loss, key), low)
    share = loss.random_partner_share
    _finite(source, "loss.random_partner_share", share)
    if not 0.0 <= share <= 1.0:
        _fail(source, "loss.random_partner_share", share, "between 0 and 1")


def _select_by(source: str, metric: str) -> None:

    if metric not in METRIC_KEYS:
        _fail(source, "eval.select_by", metric, f"one of {', '.join(METRIC_KEYS)}")
