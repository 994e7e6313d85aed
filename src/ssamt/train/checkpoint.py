"""Checkpoints: one file holds everything needed to resume a run or rebuild the model.

Payload (plain containers, primitives and tensors only, so `torch.load(weights_only=True)`
can read it without running arbitrary pickled code):

    format, version     "ssamt-checkpoint", 1
    train_config        TrainConfig.to_dict(), its recipe included
    model_config        ModelConfig.to_dict(), the complete architecture
    vocab, vocab_hash   Vocab.to_dict() and vocab_hash of it: the vocabulary of these weights
    data_fingerprint    ssamt.data.fingerprint of the training split (or None)
    model               state_dict of the bare SSAMT (never the DDP wrapper)
    state               TrainState.to_dict(): phase ("phase1" / "phase2"), step, epoch,
                        batch_in_epoch, best (the dev metric of best.pt), done
    rng                 python / numpy / torch (/ cuda) states, see capture_rng_state
    optimizer, scheduler  state_dicts of the current phase (last.pt only: resume)
    eq5                 Eq. 5's weights chosen on dev after phase 2 (the ssamt recipe)

Writes are atomic (ssamt.fileio): temp file + os.replace, so a crash mid-write leaves the
previous checkpoint intact.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import random
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ssamt.errors import CheckpointError
from ssamt.fileio import atomic_open

FORMAT = "ssamt-checkpoint"
VERSION = 1
REQUIRED_KEYS = ("format", "version", "train_config", "model_config", "vocab", "model")
BEST_NAME, LAST_NAME, PHASE1_NAME = "best.pt", "last.pt", "phase1.pt"
# The names files written before today's phase names ("phase1", "phase2") give the phases.
LEGACY_PHASES = {"intra": "phase1", "inter": "phase2"}


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write `payload` to `path` atomically; stamps the format and version."""
    payload = {"format": FORMAT, "version": VERSION, **payload}
    with atomic_open(path, "wb", encoding=None) as handle:
        torch.save(payload, handle)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint`.

    Raises CheckpointError naming the path when the file is missing, unreadable, truncated,
    corrupt, holds anything but tensors and plain containers, or is not an ssamt checkpoint
    of a known version.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "no such checkpoint file")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError,
            OSError, KeyError, AttributeError, TypeError) as exc:
        raise CheckpointError(path, _unreadable_reason(path, exc)) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(path, "not an ssamt checkpoint")
    if payload.get("version") != VERSION:
        raise CheckpointError(path, f"checkpoint version {payload.get('version')!r}, expected {VERSION}")
    missing = [key for key in REQUIRED_KEYS if key not in payload]
    if missing:
        raise CheckpointError(path, f"checkpoint lacks {', '.join(missing)}")
    state = payload.get("state")
    if isinstance(state, dict) and state.get("phase") in LEGACY_PHASES:
        payload["state"] = {**state, "phase": LEGACY_PHASES[state["phase"]]}
    return payload


def _unreadable_reason(path: Path, exc: BaseException) -> str:
    """One line saying why torch could not read `path`, without torch's advice to retry with
    weights_only=False: unpickling an untrusted file can run arbitrary code."""
    if not zipfile.is_zipfile(path):
        return "cannot read checkpoint: not a PyTorch checkpoint file (truncated or corrupt)"
    text = str(exc)
    if "Weights only load failed" in text or isinstance(exc, pickle.UnpicklingError):
        return ("cannot read checkpoint: it holds objects other than tensors and plain "
                "containers (unsafe pickle; refused, never unpickled)")
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return f"cannot read checkpoint (truncated or corrupt?): {first}"


def resolve_checkpoint(path_or_run_dir: str | Path) -> Path:
    """A file as is; a run folder -> its best.pt, else last.pt."""
    path = Path(path_or_run_dir)
    if path.is_dir():
        for name in (BEST_NAME, LAST_NAME):
            if (path / name).is_file():
                return path / name
        raise CheckpointError(path, f"run folder holds neither {BEST_NAME} nor {LAST_NAME}")
    return path


def vocab_hash(vocab_dict: dict[str, Any]) -> str:
    """Identity of a vocabulary (its token list in order): ids index the embedding rows."""
    tokens = vocab_dict.get("tokens") if isinstance(vocab_dict, dict) else None
    return hashlib.sha256(json.dumps(tokens).encode()).hexdigest()[:16]


def check_vocab(path: Path, payload: dict[str, Any], size: int, rows: int) -> None:
    if size != rows:
        raise CheckpointError(path, f"its vocabulary has {size:,} tokens but the weights have "
                                    f"{rows:,} embedding rows: the vocabulary does not belong "
                                    "to these weights")
    stored = payload.get("vocab_hash")
    if stored is not None and stored != vocab_hash(payload["vocab"]):
        raise CheckpointError(path, "its vocabulary is not the one these weights were trained "
                                    "with (vocab_hash differs): the vocabulary was replaced")


# ---------------------------------------------------------------- random states


def capture_rng_state() -> dict[str, Any]:
    """Every generator training draws from, as tensors/lists (weights_only-safe)."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": [version, list(internal), gauss],
        "numpy": [name, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos),
                  int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((int(version), tuple(int(x) for x in internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached)))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


# ---------------------------------------------------------------- training state


def training_payload(static: dict[str, Any], model: torch.nn.Module, state: dict[str, Any],
                     optimizer=None, scheduler=None) -> dict[str, Any]:
    """The checkpoint of a run at an update boundary.

    static: train_config, model_config, vocab (fixed for the run).
    state:  TrainState.to_dict() (phase, step, epoch, batch_in_epoch, best, done).
    optimizer/scheduler: included for last.pt (resume), left out of best.pt (inference).
    """
    payload = {
        **static,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "state": dict(state),
        "rng": capture_rng_state(),
    }
    if optimizer is not None:
        payload["optimizer"] = optimizer.state_dict()
    if scheduler is not None:
        payload["scheduler"] = scheduler.state_dict()
    return payload


def restore_training(payload: dict[str, Any], model: torch.nn.Module, optimizer=None,
                     scheduler=None, path: str | Path = "checkpoint") -> dict[str, Any]:
    """Load weights, optimizer, scheduler and random states; returns the saved state dict."""
    try:
        model.load_state_dict(payload["model"], strict=True)
        if optimizer is not None:
            optimizer.load_state_dict(payload["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(payload["scheduler"])
        restore_rng_state(payload["rng"])
        return dict(payload["state"])
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(path, f"cannot resume from this checkpoint: {first}") from None
