"""ModelConfig round trip, validation, presets and the paper's parameter count (3.2)."""

import pytest
import torch

from ssamt.errors import ConfigError
from ssamt.model import MODEL_PRESETS, SSAMT, ModelConfig, model_config


def test_round_trip():
    cfg = model_config("small", 123, d_box=5, use_phrases=False)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg


def test_rejects_unknown_keys_and_bad_values():
    with pytest.raises(ConfigError, match="unknown keys"):
        ModelConfig.from_dict({"vocab_size": 10, "d_modle": 4})
    with pytest.raises(ConfigError):
        ModelConfig.from_dict({"d_model": 4})
    with pytest.raises(ConfigError, match="divisible"):
        ModelConfig(vocab_size=10, d_model=10, n_heads=4)
    with pytest.raises(ConfigError):
        model_config("nope", 10)


def test_presets():
    assert set(MODEL_PRESETS) >= {"paper-f30k", "paper-coco", "small"}
    cfg = model_config("paper-coco", 9568)
    assert (cfg.n_layers, cfg.d_model, cfg.n_heads, cfg.d_ffn, cfg.dropout, cfg.d_region) == (
        2, 1024, 16, 2048, 0.3, 2048)


def test_paper_parameter_count_within_3_percent():
    with torch.device("meta"):  # no memory, no init cost
        counts = SSAMT(model_config("paper-coco", 9568)).num_parameters()
    assert abs(counts["total"] / 64.7e6 - 1) < 0.03
    parts = sum(v for k, v in counts.items() if k != "total")
    assert parts == counts["total"]
