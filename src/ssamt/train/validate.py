"""Range checks of a TrainConfig, run where a config is read (train, quickstart, analyze).

`TrainConfig.from_dict` checks types; this checks values, before any data is read, so a
bad value is one line naming the key rather than a traceback minutes into training (a
negative seed crashes numpy, lr=0 trains nothing, accum_steps=0 divides by zero).

The allowed values are data (`RULES`, one rule per dotted key, checked in that order), so
the configuration reference (docs/CONFIG.md, `ssamt.train.config_reference`) is generated
from the same table the check reads. What a zero means where it is allowed is said by the
key's description in ssamt/train/config.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ssamt.bounds import COUNT_MAX, EQ5_WEIGHT_LIMIT, GRID_MAX_VALUES, SEED_MAX
from ssamt.errors import ConfigError, shown
from ssamt.retrieval.metrics import METRIC_KEYS


def _fail(source: str, key: str, value: Any, must: str) -> None:
    raise ConfigError(f"{source}: {key} must be {must}, got {shown(value)}")


def _finite(source: str, key: str, value: float) -> None:
    if not math.isfinite(value):
        _fail(source, key, value, "a finite number")


@dataclass(frozen=True)
class AtLeast:
    """A finite number at least `low` (above it when `strict`)."""

    low: float
    strict: bool = False

    @property
    def text(self) -> str:
        return f"> {self.low}" if self.strict else f">= {self.low}"

    def check(self, source: str, key: str, value: float) -> None:
        _finite(source, key, value)
        if value < self.low or (self.strict and value == self.low):
            _fail(source, key, value, self.text)


@dataclass(frozen=True)
class Count:
    """An integer from `low` to `high`, both included."""

    low: int
    high: int = COUNT_MAX

    @property
    def text(self) -> str:
        return f">= {self.low} and <= {self.high}"

    def check(self, source: str, key: str, value: int) -> None:
        if value < self.low:
            _fail(source, key, value, f">= {self.low}")
        if value > self.high:
            _fail(source, key, value, f"<= {self.high}")


@dataclass(frozen=True)
class Between:
    """A finite number from `low` to `high`, both included."""

    low: float
    high: float

    @property
    def text(self) -> str:
        return f"between {self.low} and {self.high}"

    def check(self, source: str, key: str, value: float) -> None:
        _finite(source, key, value)
        if not self.low <= value <= self.high:
            _fail(source, key, value, self.text)


@dataclass(frozen=True)
class PairIn:
    """Two numbers, each from `low` (included) to `high` (excluded): Adam's betas."""

    low: float
    high: float

    @property
    def text(self) -> str:
        return f"two numbers in [{self.low}, {self.high})"

    def check(self, source: str, key: str, value: Any) -> None:
        pair = tuple(value)
        if len(pair) != 2 or not all(self.low <= b < self.high for b in pair):
            _fail(source, key, list(pair), self.text)


@dataclass(frozen=True)
class OneOf:
    """One of a fixed list of names."""

    choices: tuple[str, ...]

    @property
    def text(self) -> str:
        return f"one of {', '.join(self.choices)}"

    def check(self, source: str, key: str, value: Any) -> None:
        if value not in self.choices:
            _fail(source, key, value, self.text)


@dataclass(frozen=True)
class Grid:
    """A list of 1 to `most` numbers, each from `low` to `high`: the values a choice tries."""

    low: float
    high: float
    most: int = GRID_MAX_VALUES

    @property
    def text(self) -> str:
        return f"a list of 1 to {self.most} numbers, each between {self.low} and {self.high}"

    def check(self, source: str, key: str, value: Any) -> None:
        values = list(value)
        if not 1 <= len(values) <= self.most or not all(
                math.isfinite(v) and self.low <= v <= self.high for v in values):
            _fail(source, key, values, self.text)


Rule = AtLeast | Count | Between | PairIn | OneOf | Grid

_PHASE_RULES: dict[str, Rule] = {
    "lr": AtLeast(0, strict=True), "token_budget": Count(1), "accum_steps": Count(1),
    "max_steps": Count(0), "warmup_steps": Count(0), "max_epochs": Count(0),
    "weight_decay": AtLeast(0), "clip_norm": AtLeast(0), "save_every": Count(0),
    "log_every": Count(0), "betas": PairIn(0, 1)}
_EQ5_WEIGHT = Between(-EQ5_WEIGHT_LIMIT, EQ5_WEIGHT_LIMIT)
_LOSS_RULES: dict[str, Rule] = {
    **{key: AtLeast(0) for key in ("alpha0", "alpha1", "alpha2", "alpha3",
                                   "lambda0", "lambda1", "lambda2", "lambda3")},
    "mu1": _EQ5_WEIGHT, "mu2": _EQ5_WEIGHT, "negatives_m": Count(1),
    "random_partner_share": Between(0, 1)}
_EVAL_RULES: dict[str, Rule] = {
    "rerank_k": Count(0), "max_images": Count(0), "batch_size": Count(1),
    "every_epochs": Count(0), "select_by": OneOf(tuple(METRIC_KEYS)),
    "select_mu_images": Count(0),
    "mu1_grid": Grid(-EQ5_WEIGHT_LIMIT, EQ5_WEIGHT_LIMIT),
    "mu2_grid": Grid(-EQ5_WEIGHT_LIMIT, EQ5_WEIGHT_LIMIT)}

# Dotted key -> its rule, in the order they are checked (the first bad value is reported).
# The model section checks itself (ModelConfig.__post_init__) when the config is read.
RULES: dict[str, Rule] = {
    "seed": Count(0, SEED_MAX), "vocab_min_count": Count(1),
    **{f"{phase}.{key}": rule for phase in ("phase1", "phase2")
       for key, rule in _PHASE_RULES.items()},
    "phase1.mean_negatives_epochs": Count(0),
    **{f"loss.{key}": rule for key, rule in _LOSS_RULES.items()},
    **{f"eval.{key}": rule for key, rule in _EVAL_RULES.items()},
}


def _value(cfg: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        cfg = getattr(cfg, part)
    return cfg


def validate_config(cfg: Any, source: str = "config") -> None:
    """Raise ConfigError naming the first out-of-range value of `cfg` (a TrainConfig)."""
    for key, rule in RULES.items():
        rule.check(source, key, _value(cfg, key))
