"""A trained run opened for use: the one way every command and pipeline opens a checkpoint.

    run = load_run("runs/synth", device="cpu")     # a run folder (best.pt, else last.pt) or a file
    run.model, run.vocab, run.config.loss.alpha3, run.max_tokens
    mu1, mu2 = run.eq5_weights()                   # chosen on dev by phase 2, else the config's

A Run is also where Eq. 5's weights and the caption length are read: every command and
pipeline takes them from `run.eq5_weights()` and `run.max_tokens`, and the code below
train (retrieval, model) takes them as plain values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ssamt.bounds import EQ5_WEIGHT_LIMIT
from ssamt.data.vocab import Vocab
from ssamt.errors import CheckpointError, ConfigError, SsamtError
from ssamt.model.config import ModelConfig
from ssamt.model.ssamt import SSAMT
from ssamt.train.checkpoint import check_vocab, load_checkpoint, resolve_checkpoint
from ssamt.train.config import TrainConfig


@dataclass(frozen=True)
class Run:
    """model: SSAMT in eval mode; vocab: its Vocab; config: the TrainConfig it was trained
    with; path: the checkpoint file read; phase: "phase1" (the inter encoder is untrained) or
    "phase2"; data_fingerprint: of its training data (None for runs made before
    fingerprints); eq5: Eq. 5's weights chosen on dev after phase 2 ({"mu1", "mu2", "rsum",
    "stage1_rsum", "split", "images", ...}) or None."""

    model: Any
    vocab: Any
    config: TrainConfig
    path: Path
    phase: str | None
    data_fingerprint: str | None
    eq5: dict[str, Any] | None

    @property
    def recipe(self) -> str:
        """The phase-2 recipe it was trained with, "paper" or "ssamt" (a checkpoint from
        before recipes: "ssamt"); its scores follow it (the grounding head or not)."""
        return self.config.recipe

    @property
    def max_tokens(self) -> int:
        """Word positions of the model: captions are cut here as in training."""
        return int(self.model.config.max_tokens)

    def settings(self) -> dict[str, Any]:
        """The training config as a plain dict, with "eq5" when phase 2 chose the weights
        (the form eq5_weights below reads)."""
        out = self.config.to_dict()
        if self.eq5:
            out["eq5"] = dict(self.eq5)
        return out

    def eq5_weights(self, mu1: float | None = None, mu2: float | None = None) -> tuple[float, float]:
        """mu1, mu2: as given, else chosen on dev, else the training config's."""
        return eq5_weights(self.settings(), mu1, mu2)

    def eq5_source(self, mu1: float | None = None, mu2: float | None = None) -> str:
        """Where eq5_weights takes them from: "given", "eq5" (chosen on dev) or "loss"."""
        return eq5_source(self.settings(), mu1, mu2)

    def describe_eq5(self, mu1: float | None = None, mu2: float | None = None) -> str:
        """One line naming the recipe, Eq. 5's weights and where they come from."""
        return f"recipe {self.recipe}: {describe_eq5(self.settings(), mu1, mu2)}"


def eq5_weights(config: dict[str, Any], mu1: float | None = None,
                mu2: float | None = None) -> tuple[float, float]:
    """Eq. 5's mu1 / mu2 of a run's settings() (Run.eq5_weights): as given, else those phase
    2 chose on dev (config["eq5"]), else the run's config (loss section), else the paper's
    Flickr30K values (0.3, 0.1)."""
    for name, value in (("mu1", mu1), ("mu2", mu2)):
        if value is not None and not (math.isfinite(value) and abs(value) <= EQ5_WEIGHT_LIMIT):
            raise ConfigError(f"{name} must be between -{EQ5_WEIGHT_LIMIT} and "
                              f"{EQ5_WEIGHT_LIMIT}, got {value}")
    source = eq5_source(config)
    chosen = config.get(source, {}) if source in ("eq5", "loss") else {}
    return (float(chosen.get("mu1", 0.3)) if mu1 is None else mu1,
            float(chosen.get("mu2", 0.1)) if mu2 is None else mu2)


def eq5_source(config: dict[str, Any], mu1: float | None = None,
               mu2: float | None = None) -> str:
    """Where eq5_weights takes the weights from: "given", "eq5" (chosen on dev), "loss"
    (the training config) or "paper"."""
    if mu1 is not None and mu2 is not None:
        return "given"
    if isinstance(config, dict) and isinstance(config.get("eq5"), dict):
        return "eq5"
    if isinstance(config, dict) and isinstance(config.get("loss"), dict):
        return "loss"
    return "paper"


def describe_eq5(config: dict[str, Any], mu1: float | None = None,
                 mu2: float | None = None) -> str:
    """One line naming Eq. 5's weights and where they come from."""
    w1, w2 = eq5_weights(config, mu1, mu2)
    source = eq5_source(config, mu1, mu2)
    where = {"given": "given on the command line", "loss": "the training config",
             "paper": "the paper's Flickr30K values"}.get(source)
    if source == "eq5":
        e = config["eq5"]
        where = (f"chosen on {e.get('images', '?')} {e.get('split', 'dev')} images, dev RSum "
                 f"{e.get('rsum', float('nan')):.1f} vs stage 1 {e.get('stage1_rsum', float('nan')):.1f}")
    return f"Eq. 5 weights mu1={w1:g} mu2={w2:g} ({where})"


def load_run(path_or_run_dir: str | Path, device: str | torch.device = "cpu") -> Run:
    """Open a checkpoint file, or a run folder's best.pt (else last.pt), on `device`.

    The architecture comes from the checkpoint itself (docs/DESIGN.md section 6), so no preset or
    flag is needed. Weights that do not fit the stored architecture, and a vocabulary that
    does not belong to the weights (another size, or another token list than the one
    trained: every caption would be encoded into the wrong rows), raise CheckpointError.
    """
    path = resolve_checkpoint(path_or_run_dir)
    payload = load_checkpoint(path)
    try:
        model_config = ModelConfig.from_dict(payload["model_config"])
        model = SSAMT(model_config)
        model.load_state_dict(payload["model"], strict=True)
        vocab = Vocab.from_dict(payload["vocab"])
    except (RuntimeError, TypeError, KeyError, ValueError, SsamtError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(path, f"weights do not match the stored model config: {first}") from None
    check_vocab(path, payload, len(vocab), model_config.vocab_size)
    try:
        config = TrainConfig.from_checkpoint(payload["train_config"])
    except ConfigError as exc:
        raise CheckpointError(path, f"its training config cannot be read: {exc}") from None
    model.to(device).eval()
    state = payload.get("state") if isinstance(payload.get("state"), dict) else {}
    eq5 = payload.get("eq5") if isinstance(payload.get("eq5"), dict) else None
    return Run(model, vocab, config, path, state.get("phase"), payload.get("data_fingerprint"), eq5)
