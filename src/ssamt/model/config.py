"""Architecture of the SSAMT model as one frozen dataclass (docs/DESIGN.md section 6).

The config is saved inside every checkpoint (`to_dict`), so any command rebuilds the model
from the file alone (`from_dict`). Paper sizes are in section 3.2 of the paper.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from ssamt.errors import ConfigError

# Sizes a training config leaves to the data: the vocabulary and the feature files.
DATA_SIZES = ("vocab_size", "d_region", "d_box")


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the three encoders (intra image, intra text, inter), which share them: the
    one architecture schema, read from the `model:` section of configs/*.yaml by every
    command and stored complete in every checkpoint.

    vocab_size:  word vocabulary size (id 0 = padding).
    d_model:     hidden size d of every encoder.
    n_heads:     attention heads (d_model must be divisible by it).
    n_layers:    transformer layers per encoder.
    d_ffn:       inner size of the feed-forward block.
    dropout:     dropout on embeddings, attention weights and residual branches.
    d_region:    size of a region feature (2048 for BUTD features).
    d_box:       size of the box geometry of a region; 0 = the data has no boxes.
    max_tokens:  number of word positions (position embedding table size); longer captions
                 are cut there.
    use_phrases: False drops phrase nodes (Table 3 "mask transformer w/o phrases").
    grounding:   the phrase-grounding head (model.grounding), which scores each phrase and
                 word by the region(s) it finds: the ssamt recipe's; False (the paper recipe)
                 scores parts by cos(h^I, H^T_k). A training config never sets it: it
                 follows the config's recipe (TrainConfig.recipe).
    vocab_size, d_region and d_box may be None in a training config: they come from the
    data, filled in at one place (`with_data`, called when training builds the model).
    """

    vocab_size: int | None = None
    d_model: int = 1024
    n_heads: int = 16
    n_layers: int = 2
    d_ffn: int = 2048
    dropout: float = 0.3
    d_region: int | None = None
    d_box: int | None = None
    max_tokens: int = 64
    use_phrases: bool = True
    grounding: bool = False

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "n_heads", "n_layers", "d_ffn", "d_region",
                     "max_tokens"):
            value = getattr(self, name)
            if value is not None and int(value) < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {value}")
        if self.d_box is not None and self.d_box < 0:
            raise ConfigError(f"model.d_box must be >= 0, got {self.d_box}")
        if self.d_model % self.n_heads:
            raise ConfigError(
                f"model.d_model must be a multiple of model.n_heads ({self.n_heads}), got "
                f"{self.d_model}: it is not divisible"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout must be in [0, 1), got {self.dropout}")

    @property
    def complete(self) -> bool:
        """True when every size is known (a model can be built)."""
        return all(getattr(self, name) is not None for name in DATA_SIZES)

    def with_data(self, vocab_size: int, d_region: int, d_box: int) -> ModelConfig:
        """The sizes that come from the data filled in; a size the config sets itself must
        agree with the data (ConfigError naming both)."""
        given = {"vocab_size": vocab_size, "d_region": d_region, "d_box": d_box}
        for name, value in given.items():
            mine = getattr(self, name)
            if mine is not None and name != "vocab_size" and int(mine) != int(value):
                raise ConfigError(f"model config: {name} is {mine} but the data has {value}")
        return self.replace(**given)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(obj) - known)
        if unknown:
            raise ConfigError(f"model config: unknown keys {unknown}")
        return cls(**obj)

    def replace(self, **changes: Any) -> ModelConfig:
        """A copy with some fields changed (unknown names raise ConfigError)."""
        return ModelConfig.from_dict({**self.to_dict(), **changes})
