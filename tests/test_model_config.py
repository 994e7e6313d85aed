"""ModelConfig round trip, validation, the presets' model sections (one schema) and the
paper's parameter count (3.2)."""

import pytest
import torch

from ssamt.errors import ConfigError
from ssamt.model import SSAMT, ModelConfig
from ssamt.train.config import PRESETS, load_config


def preset_model(name: str, vocab_size: int, **overrides) -> ModelConfig:
    """A training preset's model section with the data's sizes (as training builds it)."""
    return load_config(name).model.replace(**overrides).with_data(
        vocab_size=vocab_size, d_region=overrides.get("d_region", 2048),
        d_box=overrides.get("d_box", 0))


def test_round_trip():
    cfg = preset_model("synthetic", 123, d_box=5, use_phrases=False)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg


def test_rejects_unknown_keys_and_bad_values():
    with pytest.raises(ConfigError, match="unknown keys"):
        ModelConfig.from_dict({"vocab_size": 10, "d_modle": 4})
    with pytest.raises(ConfigError):
        ModelConfig.from_dict({"d_model": 4})
    with pytest.raises(ConfigError, match="divisible"):
        ModelConfig(vocab_size=10, d_model=10, n_heads=4)
    with pytest.raises(ConfigError):
        load_config("nope")


def test_presets():
    assert set(PRESETS) >= {"paper-f30k", "paper-coco", "synthetic"}
    cfg = preset_model("paper-coco", 9568)
    assert (cfg.n_layers, cfg.d_model, cfg.n_heads, cfg.d_ffn, cfg.dropout, cfg.d_region) == (
        2, 1024, 16, 2048, 0.3, 2048)


def test_paper_parameter_count_within_3_percent():
    with torch.device("meta"):  # no memory, no init cost
        counts = SSAMT(preset_model("paper-coco", 9568)).num_parameters()
    # the paper's modules; the phrase-grounding head (docs/PHASE2.md) is ssamt's addition
    paper = counts["total"] - counts.get("phrase grounding", 0)
    assert abs(paper / 64.7e6 - 1) < 0.03
    parts = sum(v for k, v in counts.items() if k != "total")
    assert parts == counts["total"]


def test_training_config_leaves_data_sizes_to_the_data():
    model = load_config("synthetic").model
    assert (model.vocab_size, model.d_region, model.d_box) == (None, None, None)
    with pytest.raises(ConfigError, match="come from the data"):
        SSAMT(model)
    full = model.with_data(vocab_size=50, d_region=256, d_box=5)
    assert (full.vocab_size, full.d_region, full.d_box, full.d_model) == (50, 256, 5, 128)
    with pytest.raises(ConfigError, match="d_region is 2048 but the data has 256"):
        model.replace(d_region=2048).with_data(vocab_size=50, d_region=256, d_box=0)
