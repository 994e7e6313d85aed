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

# The allowed values, as data: __post_init__ checks them and the configuration reference
# (docs/CONFIG.md) is generated from them. A size left to the data (None) is always allowed.
SIZE_MINIMUMS = {"vocab_size": 1, "d_model": 1, "n_heads": 1, "n_layers": 1, "d_ffn": 1,
                 "d_region": 1, "max_tokens": 1, "d_box": 0}
# The most any of those sizes may be: a weight matrix of two sizes then counts its bytes far
# inside torch's 64-bit arithmetic (whether it fits in memory is checked before training
# allocates it, ssamt.train.resources).
SIZE_MAXIMUM = 2**24
MULTIPLE_OF = {"d_model": "n_heads"}  # attention splits d_model evenly among the heads
DROPOUT_RANGE = (0.0, 1.0)  # the first included, the second excluded


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
    use_phrases: whether captions get phrase nodes; false is Table 3's "mask transformer
                 w/o phrases".
    grounding:   the phrase-grounding head, which scores each phrase and word by the
                 region(s) it finds: on in the ssamt recipe; off in the paper recipe, which
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
        for name, low in SIZE_MINIMUMS.items():
            value = getattr(self, name)
            # d_box as given (0 allowed, -0.5 not); the other sizes as integers
            if value is not None and (value if name == "d_box" else int(value)) < low:
                raise ConfigError(f"model.{name} must be >= {low}, got {value}")
            if value is not None and value > SIZE_MAXIMUM:
                raise ConfigError(f"model.{name} must be <= {SIZE_MAXIMUM}, got {value}")
        for name, divisor in MULTIPLE_OF.items():
            value, by = getattr(self, name), getattr(self, divisor)
            if value % by:
                raise ConfigError(
                    f"model.{name} must be a multiple of model.{divisor} ({by}), got "
                    f"{value}: it is not divisible"
                )
        low, high = DROPOUT_RANGE
        if not low <= self.dropout < high:
            raise ConfigError(f"model.dropout must be in [{low:g}, {high:g}), got {self.dropout}")

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
