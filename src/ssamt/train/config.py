"""Training configuration: frozen dataclasses read from YAML, with dotted overrides.

A run is described by one `TrainConfig` (sections model, phase1, phase2, loss, eval). It is
saved inside every checkpoint (DESIGN.md section 6: "any command rebuilds the model from the
file alone"), so values here must stay plain (str, int, float, bool, None, tuples).

    cfg = load_config("paper-f30k")                  # a preset under configs/
    cfg = load_config("my.yaml", ["phase2.lr=1e-4"])  # a file plus overrides
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields, is_dataclass
from importlib import resources
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from ssamt.errors import ConfigError
from ssamt.model.config import ModelConfig

PRESETS = ("paper-f30k", "paper-coco", "synthetic")


@dataclass(frozen=True)
class PhaseConfig:
    """One training phase (paper 3.2): Adam with linear warm-up then linear decay.

    token_budget: instances per micro-batch, #regions + #tokens (DESIGN.md section 4).
    accum_steps:  micro-batches per update (gradient accumulation).
    max_steps:    number of updates; the phase ends there (paper: 10K).
    max_epochs:   a safety cap on passes over the training pairs (0 = no cap).
    mean_negatives_epochs: phase 1 only: epochs that average the hinge over all in-batch
                  negatives instead of taking the hardest (DESIGN.md section 2, L0 warm-up;
                  ssamt.losses.intra_loss).
    """

    lr: float = 1e-4
    token_budget: int = 32768
    accum_steps: int = 1
    max_steps: int = 10000
    warmup_steps: int = 1000
    max_epochs: int = 0
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    clip_norm: float = 2.0
    mean_negatives_epochs: int = 1
    save_every: int = 0  # also write last.pt every N updates (0 = only at epoch ends)
    log_every: int = 20


@dataclass(frozen=True)
class LossConfig:
    """Margins a0..a3 and weights l0..l3 of Eq. 4, Eq. 5's mu1/mu2, m negatives (2.4)."""

    alpha0: float = 0.05
    alpha1: float = 0.05
    alpha2: float = 0.05
    alpha3: float = 0.1
    lambda0: float = 1.0
    lambda1: float = 1.0
    lambda2: float = 0.1
    lambda3: float = 0.1
    mu1: float = 0.3
    mu2: float = 0.1
    negatives_m: int = 10
    # Phase 2 (DESIGN.md section 2, revised; docs/PHASE2.md): share of the updates that pair
    # anchors with random partners before the intra top-m ones (0 = top-m from the start).
    hard_negatives_from: float = 0.5
    l1_with_intra: bool = True  # L1 ranks s_A + s_G, the sum Eq. 5 ranks by
    l3_within_type: bool = True  # L3 compares parts of one type (object/attribute/...)
    l3_reference: bool = True  # the positive caption's matched parts join H+ of their type
    # Issue 11: L3 also compares word parts (True, the paper: words are in H^T). With the
    # grounding head a word's score is its best region whatever the caption says around it
    # (docs/PHASE2.md "Phrase grounding"), so the only way L3 can lower a word marked
    # mismatched in one caption is to lower it in every caption.
    l3_words: bool = True
    # Issue 11: with l3_words, also compare a relation's predicate words ("front" of "in front
    # of"); False leaves only those out (the relation phrase scores them with its regions).
    l3_predicate_words: bool = True
    # Issue 11 (docs/PHASE2.md "Binding and roles"): each positive also gets a minimal edit of
    # its own caption (attributes or roles swapped) as a negative, marked by the label rule.
    edited_negatives: bool = False
    # Issue 11 (docs/PHASE2.md "Binding and roles"): share of the captions whose partner is
    # a caption of a near-miss image (all its words fit, some attribute / relation does not).
    near_miss_share: float = 0.0
    # Issue 11 (docs/PHASE2.md "Phrase grounding"): weight of LR, the hinge of each matched
    # relation over itself with subject and object exchanged (train.role_contrast); 0 = off.
    # Needs the grounding head (model.grounding).
    lambda_role: float = 0.0


@dataclass(frozen=True)
class EvalConfig:
    """Dev-set evaluation each epoch.

    rerank_k:   candidates the inter encoder re-scores per query (two-stage, DESIGN.md 2).
    max_images: evaluate on the first N dev images (0 = all) to keep epochs cheap.
    select_by:  metric that picks best.pt.
    select_mu:  at the end of phase 2, choose Eq. 5's mu1 / mu2 on the whole dev split from
                the grids below (the paper tunes them per dataset) and store them in the
                checkpoint; evaluate and explain use them by default.
    """

    rerank_k: int = 20
    max_images: int = 1000
    batch_size: int = 256
    select_by: str = "rsum"
    every_epochs: int = 1
    select_mu: bool = True
    select_mu_images: int = 1000  # dev images the weights are chosen on (0 = all)
    mu1_grid: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0)
    mu2_grid: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.4, 0.7, 1.0, 1.5, 2.0, 3.0)


@dataclass(frozen=True)
class TrainConfig:
    name: str = "custom"
    seed: int = 0
    vocab_min_count: int = 5  # paper 3.2: drop words seen fewer than 5 times
    model: ModelConfig = field(default_factory=ModelConfig)  # sizes from the data left None
    phase1: PhaseConfig = field(default_factory=PhaseConfig)
    phase2: PhaseConfig = field(default_factory=PhaseConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        if self.loss.lambda_role < 0:
            raise ConfigError(f"loss.lambda_role must be >= 0, got {self.loss.lambda_role}")
        if self.loss.lambda_role > 0 and not self.model.grounding:
            raise ConfigError("loss.lambda_role > 0 needs model.grounding: true (the role "
                              "contrast trains the grounding head)")

    def to_dict(self) -> dict[str, Any]:
        return _to_plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return _build(cls, data, prefix="")


def _to_plain(value: Any) -> Any:
    """Tuples -> lists, so the dict survives YAML, JSON and torch.load(weights_only=True)."""
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    return value


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Check and convert one leaf value to its declared type."""
    text = str(hint)
    if text.endswith("| None"):  # optional: None stays None, anything else its type
        if value is None:
            return None
        return _coerce(value, {"int": int, "float": float, "str": str}[text.split(" |")[0]], key)
    if text.startswith("tuple"):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return tuple(float(v) for v in value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if hint is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a number, got {value!r}") from None
    if hint is str:
        return str(value)
    return value


def _build(cls: type, data: dict[str, Any] | None, prefix: str) -> Any:
    """Instantiate dataclass `cls` from `data`, rejecting unknown keys by their dotted name."""
    data = data or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {data!r}")
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    for key in data:
        if key not in known:
            raise ConfigError(f"unknown config key '{prefix}{key}' (known: {', '.join(sorted(known))})")
    values = {}
    for name, value in data.items():
        hint = hints[name]
        if is_dataclass(hint):
            values[name] = _build(hint, value, f"{prefix}{name}.")
        else:
            values[name] = _coerce(value, hint, f"{prefix}{name}")
    return cls(**values)


def _parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise ConfigError(f"override '{item}' is not key=value")
    key, raw = item.split("=", 1)
    value = yaml.safe_load(raw) if raw.strip() else ""
    return key.strip().split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Set dotted keys (`phase2.lr=1e-4`) in a nested dict; values are parsed as YAML."""
    data = _to_plain(data)
    for item in overrides:
        path, value = _parse_override(item)
        node = data
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"unknown config key '{'.'.join(path)}'")
            node = child
        node[path[-1]] = value
    return data


def preset_path(name: str) -> Path | None:
    """The YAML file of a named preset, shipped in the package (`src/ssamt/configs/`; the
    repository's `configs/` is a link to it: one copy of the presets)."""
    packaged = resources.files("ssamt") / "configs" / f"{name}.yaml"
    return Path(str(packaged)) if packaged.is_file() else None


def read_yaml(path: str | Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a YAML config (binary or not UTF-8 text)") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or "syntax error"
        raise ConfigError(f"{path}: not valid YAML ({problem}{where})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config must be a mapping of sections")
    return data


def load_config(preset_or_file: str, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """A preset name (`paper-f30k`, `paper-coco`, `synthetic`) or a YAML path, then overrides."""
    path = Path(preset_or_file)
    if not path.suffix and not path.exists():
        found = preset_path(preset_or_file)
        if found is None:
            raise ConfigError(
                f"unknown preset '{preset_or_file}' (presets: {', '.join(PRESETS)}; or a .yaml file)"
            )
        path = found
    data = read_yaml(path)
    data.setdefault("name", path.stem)
    return TrainConfig.from_dict(apply_overrides(data, list(overrides)))


def config_to_yaml(cfg: TrainConfig) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
