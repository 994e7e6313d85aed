"""Training configuration: frozen dataclasses read from YAML, with dotted overrides.

A run is described by one `TrainConfig` (sections model, phase1, phase2, loss, eval). It is
saved inside every checkpoint (docs/DESIGN.md section 6: "any command rebuilds the model
from the file alone"), so values here must stay plain (str, int, float, bool, None, tuples).

    cfg = load_config("ssamt-f30k")                  # a preset under configs/
    cfg = load_config("my.yaml", ["phase2.lr=1e-4"])  # a file plus overrides

Each dataclass's docstring has one "key: text" entry per field, the one place a key is
described: docs/CONFIG.md is generated from them (ssamt.train.config_reference). A field
only the ssamt recipe reads carries the metadata SSAMT_ONLY.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, is_dataclass
from importlib import resources
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from ssamt.errors import ConfigError
from ssamt.model.config import ModelConfig
from ssamt.train.config_upgrade import upgrade_stored_config
from ssamt.train.config_values import build_dataclass
from ssamt.train.config_yaml import MAX_BYTES, YamlLimitError, load_config_yaml

PRESETS = ("paper-coco", "paper-f30k", "ssamt-coco", "ssamt-f30k", "synthetic")

# Field metadata of a key that only the ssamt recipe reads (docs/CONFIG.md's recipe column).
SSAMT_ONLY = {"recipe": "ssamt"}


@dataclass(frozen=True)
class PhaseConfig:
    """One training phase (paper 3.2): Adam with linear warm-up then linear decay.

    lr:           Adam's peak learning rate, reached at the end of the warm-up.
    token_budget: instances per micro-batch, #regions + #tokens (docs/DESIGN.md section 4);
                  in phase 2 it counts the positives' instances. It must hold two of the
                  training split's largest items, checked when training starts (a batch of
                  one has no in-batch negative).
    accum_steps:  micro-batches per update (gradient accumulation).
    max_steps:    number of updates; the phase ends there (paper: 10K). 0 runs no update:
                  the phase only evaluates and saves its starting weights.
    warmup_steps: updates over which the learning rate rises linearly to lr; it then falls
                  linearly to 0 at max_steps.
    max_epochs:   a safety cap on passes over the training pairs (0 = no cap).
    betas:        Adam's two moment decay rates (paper: 0.9, 0.999).
    weight_decay: Adam's weight decay (an L2 term added to the gradient; 0 = none).
    clip_norm:    the gradients' total norm is clipped to this before each step (0 = no
                  clipping; the paper clips none).
    save_every:   also write last.pt every N updates (0 = only at the end of each epoch).
    log_every:    write the training losses to metrics.jsonl every N updates, and after the
                  first (0 or 1 = every update).
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
    save_every: int = 0
    log_every: int = 20


@dataclass(frozen=True)
class Phase1Config(PhaseConfig):
    """Phase 1: the keys of every phase (PhaseConfig) and the warm-up of L0's hinge.

    mean_negatives_epochs: epochs that average the hinge over all in-batch negatives
                  instead of taking the hardest (docs/DESIGN.md section 2, L0 warm-up;
                  ssamt.losses.intra_loss).
    """

    mean_negatives_epochs: int = 1


@dataclass(frozen=True)
class LossConfig:
    """The losses (paper 2.4): margins and weights of Eq. 4, Eq. 5's weights, negatives.

    alpha0:  margin of L0, the intra encoders' global triplet loss (phase 1).
    alpha1:  margin of L1, the inter encoder's global triplet loss (phase 2).
    alpha2:  margin of L2, the local triplet loss (phrase-to-image and region-to-sentence).
    alpha3:  margin of L3, phrase matching (Eq. 3); `ssamt explain` flags parts below
             alpha3 / 2 when it has no part levels.
    lambda0: weight of L0 in Eq. 4.
    lambda1: weight of L1 in Eq. 4.
    lambda2: weight of L2 in Eq. 4 (0 = without local matching, Table 3's MT+GM).
    lambda3: weight of L3 in Eq. 4 (0 = without phrase matching, "w/o PM").
    mu1:     Eq. 5's weight of cos(h^I, h^T). The paper recipe ranks with it everywhere;
             the ssamt recipe only in the dev evaluation during phase 2, then chooses the
             weights on dev (eval.mu1_grid).
    mu2:     Eq. 5's weight of the local scores s_P + s_R, read as mu1 is (eval.mu2_grid).
    negatives_m: m of the end of paper 2.4: negatives (paper recipe) or hard partners
             (ssamt recipe) are drawn from the m candidates the frozen intra encoders score
             highest.
    random_partner_share: the share of the phase-2 updates, the first ones, whose partners
             are drawn at random; the rest draw them from the intra top-m (docs/PHASE2.md).
    """

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
    random_partner_share: float = field(default=0.5, metadata=SSAMT_ONLY)


@dataclass(frozen=True)
class EvalConfig:
    """Dev-set evaluation after each epoch, and the choice of Eq. 5's weights after phase 2.

    rerank_k:   candidates the inter encoder re-scores per query in phase 2's dev evaluation
                (two-stage, docs/DESIGN.md section 2; 0 = the intra dual encoder only), and
                the K the weights are chosen at.
    max_images: evaluate on the first N dev images (0 = all) to keep epochs cheap.
    batch_size: images (captions) per forward pass in the dev evaluation, the weight choice
                and the phase-2 pass that embeds the training set for negatives.
    select_by:  the dev metric that picks best.pt.
    every_epochs: 0 = no dev evaluation (best.pt is then never written); any other value
                evaluates after every epoch.
    select_mu_images: the ssamt recipe chooses Eq. 5's mu1 / mu2 at the end of phase 2 on
                this many dev images (0 = all) and stores them in the checkpoint, where
                evaluate, explain and search read them (the paper tunes them per dataset;
                its recipe keeps loss.mu1 / mu2).
    mu1_grid:   the values of mu1 that choice tries (every pair with mu2_grid).
    mu2_grid:   the values of mu2 that choice tries; mu1 = mu2 = 0 is stage 1's order.
    """

    rerank_k: int = 20
    max_images: int = 1000
    batch_size: int = 256
    select_by: str = "rsum"
    every_epochs: int = 1
    select_mu_images: int = field(default=1000, metadata=SSAMT_ONLY)
    mu1_grid: tuple[float, ...] = field(default=(0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0),
                                        metadata=SSAMT_ONLY)
    mu2_grid: tuple[float, ...] = field(
        default=(0.0, 0.05, 0.1, 0.2, 0.4, 0.7, 1.0, 1.5, 2.0, 3.0), metadata=SSAMT_ONLY)


RECIPE_NAMES = ("paper", "ssamt")


@dataclass(frozen=True)
class TrainConfig:
    """One training run: four top-level keys and five sections. The recipe also decides
    the architecture's phrase-grounding head (model.grounding), which a config never sets.

    name:    the run's name, kept in its config.yaml (loading a file or preset without one
             names the run after it).
    recipe:  how phase 2 trains the inter encoder and how Eq. 5 is weighed: "paper" (the
             paper as written) or "ssamt" (ssamt's measured design; docs/RECIPES.md);
             phase 1 is the same in both.
    seed:    seed of the initial weights, dropout, batch order and phase-2 negatives or
             partners (drawn per epoch from seed and epoch, so a resumed run draws the same).
    vocab_min_count: words seen fewer times than this in the training captions are left out
             of the vocabulary (paper 3.2: 5).
    model:   the architecture: the sizes of the three encoders (intra image, intra text,
             inter), which share them; stored complete in every checkpoint.
    phase1:  phase 1 (paper 3.2) trains the intra encoders, the dual encoder, with L0: Adam
             with linear warm-up then linear decay.
    phase2:  phase 2 trains the inter encoder with L1-L3 while the intra encoders stay
             frozen; Adam as in phase 1.
    loss:    the losses (paper 2.4): margins and weights of Eq. 4, Eq. 5's weights, the
             negatives.
    eval:    the dev evaluation after each epoch, and the choice of Eq. 5's weights after
             phase 2.
    """

    name: str = "custom"
    recipe: str = "ssamt"
    seed: int = 0
    vocab_min_count: int = 5
    model: ModelConfig = field(default_factory=ModelConfig)  # sizes from the data left None
    phase1: Phase1Config = field(default_factory=Phase1Config)
    phase2: PhaseConfig = field(default_factory=PhaseConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        if self.recipe not in RECIPE_NAMES:
            raise ConfigError(f"recipe must be one of {', '.join(RECIPE_NAMES)}, got {self.recipe!r}")
        grounding = self.recipe == "ssamt"
        if self.model.grounding != grounding:  # derived: the recipe's architecture
            object.__setattr__(self, "model", self.model.replace(grounding=grounding))

    @property
    def selects_eq5_weights(self) -> bool:
        """Whether phase 2 ends by choosing Eq. 5's weights on dev (the ssamt recipe)."""
        return self.recipe == "ssamt"

    def to_dict(self) -> dict[str, Any]:
        out = _to_plain(dataclasses.asdict(self))
        del out["model"]["grounding"]  # follows the recipe
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        model = data.get("model") if isinstance(data, dict) else None
        if isinstance(model, dict) and "grounding" in model:
            raise ConfigError("unknown config key 'model.grounding': the recipe decides the "
                              "phrase scores (recipe: paper | ssamt)")
        return build_dataclass(cls, data, prefix="")

    @classmethod
    def from_checkpoint(cls, data: dict[str, Any]) -> TrainConfig:
        """The config stored in a checkpoint, also one written before recipes existed: those
        trained what is now the ssamt recipe, and their keys of removed switches are dropped
        (each was at the value the ssamt recipe fixes, or off)."""
        return cls.from_dict(upgrade_stored_config(data))


# TrainConfig's sections: their keys are set one by one, never the section as a whole.
SECTIONS = tuple(name for name, hint in get_type_hints(TrainConfig).items() if is_dataclass(hint))


def _to_plain(value: Any) -> Any:
    """Tuples -> lists, so the dict survives YAML, JSON and torch.load(weights_only=True)."""
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    return value


def _parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise ConfigError(f"override '{item}' is not key=value")
    key, raw = item.split("=", 1)
    try:
        value = load_config_yaml(raw) if raw.strip() else ""
    except YamlLimitError as exc:
        raise ConfigError(f"--set {key.strip()}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {key.strip()}: not a YAML value ({_yaml_problem(exc)})") \
            from None
    return key.strip().split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Set dotted keys (`phase2.lr=1e-4`) in a nested dict; values are parsed as YAML. A
    whole section (`model=0`, `loss=null`) cannot be set: its keys would silently fall back
    to their defaults."""
    data = _to_plain(data)
    for item in overrides:
        path, value = _parse_override(item)
        if len(path) == 1 and path[0] in SECTIONS:
            raise ConfigError(f"--set {path[0]}: {path[0]} is a section, not a key; set its "
                              f"keys one by one ({path[0]}.KEY=VALUE)")
        node = data
        for part in path[:-1]:
            if node.get(part) is None:  # absent, or a section left empty in the file
                node[part] = {}
            child = node[part]
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
    """A config file's mapping, read by the one config reader (ssamt.train.config_yaml);
    every problem is a ConfigError naming the file."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)  # a larger file is refused, not read whole
        data = load_config_yaml(raw)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a YAML config (binary or not UTF-8 text)") from None
    except YamlLimitError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({_yaml_problem(exc)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config must be a mapping of sections")
    return data


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """What PyYAML found wrong, and where."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or "syntax error"
    return f"{problem}{where}"


def load_config(preset_or_file: str, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """A preset name (PRESETS) or a YAML path, then overrides."""
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
