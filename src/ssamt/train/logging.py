"""Metrics to JSON Lines (always) and TensorBoard (when installed)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ssamt.train.checkpoint import LEGACY_PHASES


class MetricsLogger:
    """Appends one JSON object per record to `run_dir/metrics.jsonl`.

    Each record carries `phase`, `step` and a `kind` ("train" or "eval"). TensorBoard is
    imported here and only when available (an optional dependency, docs/DESIGN.md section 6).
    Only rank 0 writes (`enabled=False` elsewhere).
    """

    def __init__(self, run_dir: str | Path, enabled: bool = True, tensorboard: bool = True) -> None:
        self.path = Path(run_dir) / "metrics.jsonl"
        self.enabled = enabled
        self._tb = None
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if tensorboard:
                self._tb = _open_tensorboard(Path(run_dir) / "tensorboard")

    def log(self, kind: str, phase: str, step: int, values: dict[str, Any]) -> None:
        if not self.enabled:
            return
        record = {"kind": kind, "phase": phase, "step": int(step)}
        record.update({k: _plain(v) for k, v in values.items()})
        # Appends are line-sized; a crash loses at most the last line, never earlier ones.
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for key, value in record.items():
                if isinstance(value, (int, float)) and key != "step":
                    self._tb.add_scalar(f"{phase}/{kind}/{key}", value, step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _open_tensorboard(log_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter  # optional dependency
    except ImportError:  # tensorboard is optional: pip install ssamt[tensorboard]
        return None
    return SummaryWriter(log_dir=str(log_dir))


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """All records of a run, skipping a torn last line; phases by today's names (a run
    written before them names its phases "intra" and "inter")."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("phase") in LEGACY_PHASES:
            record["phase"] = LEGACY_PHASES[record["phase"]]
        records.append(record)
    return records
