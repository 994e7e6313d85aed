"""Architecture of the SSAMT model as one frozen dataclass (DESIGN.md section 6).

The config is saved inside every checkpoint (`to_dict`), so any command rebuilds the model
from the file alone (`from_dict`). Paper sizes are in section 3.2 of the paper.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from ssamt.errors import ConfigError


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the three encoders (intra image, intra text, inter), which share them.

    vocab_size:  word vocabulary size (id 0 = padding).
    d_model:     hidden size d of every encoder.
    n_heads:     attention heads (d_model must be divisible by it).
    n_layers:    transformer layers per encoder.
    d_ffn:       inner size of the feed-forward block.
    dropout:     dropout on embeddings, attention weights and residual branches.
    d_region:    size of a region feature (2048 for BUTD features).
    d_box:       size of the box geometry of a region; 0 = the data has no boxes.
    max_tokens:  number of word positions (position embedding table size).
    use_phrases: False drops phrase nodes (Table 3 "mask transformer w/o phrases").
    """

    vocab_size: int
    d_model: int = 1024
    n_heads: int = 16
    n_layers: int = 2
    d_ffn: int = 2048
    dropout: float = 0.3
    d_region: int = 2048
    d_box: int = 0
    max_tokens: int = 512
    use_phrases: bool = True

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "n_heads", "n_layers", "d_ffn", "d_region",
                     "max_tokens"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"model config: {name} must be >= 1, got {getattr(self, name)}")
        if self.d_box < 0:
            raise ConfigError(f"model config: d_box must be >= 0, got {self.d_box}")
        if self.d_model % self.n_heads:
            raise ConfigError(
                f"model config: d_model {self.d_model} is not divisible by n_heads {self.n_heads}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model config: dropout must be in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(obj) - known)
        if unknown:
            raise ConfigError(f"model config: unknown keys {unknown}")
        if "vocab_size" not in obj:
            raise ConfigError("model config: vocab_size is missing")
        return cls(**obj)

    def replace(self, **changes: Any) -> ModelConfig:
        """A copy with some fields changed (unknown names raise ConfigError)."""
        return ModelConfig.from_dict({**self.to_dict(), **changes})


# Presets without a vocabulary size: it comes from the data (`model_config(name, vocab)`).
# Paper section 3.2: 2 layers, d 1024, 16 heads, FFN 2048, dropout 0.3, BUTD 2048-d regions.
_PAPER = {"d_model": 1024, "n_heads": 16, "n_layers": 2, "d_ffn": 2048, "dropout": 0.3,
          "d_region": 2048}
MODEL_PRESETS: dict[str, dict[str, Any]] = {
    "paper-f30k": dict(_PAPER),
    "paper-coco": dict(_PAPER),
    # Small enough to train on a laptop CPU; same structure.
    "small": {"d_model": 256, "n_heads": 4, "n_layers": 2, "d_ffn": 512, "dropout": 0.1,
              "d_region": 2048},
}


def model_config(preset: str, vocab_size: int, **overrides: Any) -> ModelConfig:
    """The ModelConfig of a named preset with the data's vocabulary size and overrides."""
    if preset not in MODEL_PRESETS:
        raise ConfigError(f"unknown model preset {preset!r}; known: {sorted(MODEL_PRESETS)}")
    return ModelConfig.from_dict({**MODEL_PRESETS[preset], "vocab_size": vocab_size, **overrides})
