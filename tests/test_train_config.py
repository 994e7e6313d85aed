"""Training config: presets, YAML files, dotted overrides, unknown keys."""

from __future__ import annotations

import dataclasses

import pytest

from ssamt.errors import ConfigError
from ssamt.train.config import PRESETS, TrainConfig, config_to_yaml, load_config


def test_presets_load_with_paper_values():
    for name in PRESETS:
        assert load_config(name).name == name
    f30k, coco = load_config("paper-f30k"), load_config("paper-coco")
    # DESIGN.md section 4 table.
    assert (coco.loss.alpha0, coco.loss.alpha2, coco.loss.alpha3) == (0.1, 0.2, 0.2)
    assert (coco.loss.lambda2, coco.loss.mu1) == (1.0, 0.2)
    assert (coco.phase1.lr, coco.phase1.token_budget) == (2e-4, 32768)
    assert (coco.phase2.lr, coco.phase2.token_budget, coco.phase2.accum_steps) == (6e-4, 8192, 16)
    assert (f30k.loss.alpha0, f30k.loss.alpha3, f30k.loss.lambda2, f30k.loss.mu1) == (0.05, 0.1, 0.1, 0.3)
    assert (f30k.phase1.lr, f30k.phase2.lr, f30k.phase2.accum_steps) == (1e-4, 8e-4, 4)
    for cfg in (f30k, coco):
        assert (cfg.model.d_model, cfg.model.n_heads, cfg.model.d_ffn, cfg.model.dropout) == (1024, 16, 2048, 0.3)
        assert (cfg.phase1.max_steps, cfg.phase1.warmup_steps, cfg.loss.negatives_m) == (10000, 1000, 10)
        assert cfg.phase2.betas == (0.9, 0.999)


def test_overrides_and_types():
    cfg = load_config("synthetic", ["phase2.lr=1e-4", "model.d_model=64", "phase1.betas=[0.8, 0.99]",
                                    "model.use_phrases=false", "seed=7"])
    assert cfg.phase2.lr == 1e-4 and cfg.model.d_model == 64 and cfg.seed == 7
    assert cfg.phase1.betas == (0.8, 0.99) and cfg.model.use_phrases is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 1  # type: ignore[misc]


@pytest.mark.parametrize("override,key", [("phase2.lrr=1", "phase2.lrr"), ("optim.lr=1", "optim"),
                                          ("model.d_model.x=1", "model.d_model.x")])
def test_unknown_key_named(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config("synthetic", [override])


def test_bad_values():
    with pytest.raises(ConfigError, match="phase1.max_steps"):
        load_config("synthetic", ["phase1.max_steps=abc"])
    with pytest.raises(ConfigError, match="model.use_phrases"):
        load_config("synthetic", ["model.use_phrases=3"])
    with pytest.raises(ConfigError, match="not key=value"):
        load_config("synthetic", ["phase1.lr"])
    with pytest.raises(ConfigError, match="unknown preset"):
        load_config("no-such-preset")


def test_yaml_file_round_trip(tmp_path):
    cfg = load_config("paper-coco", ["phase2.lr=1e-4"])
    path = tmp_path / "mine.yaml"
    path.write_text(config_to_yaml(cfg))
    assert load_config(str(path)) == cfg
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    (tmp_path / "bad.yaml").write_text("phase1:\n  lr: 1\n  nope: 2\n")
    with pytest.raises(ConfigError, match=r"phase1\.nope"):
        load_config(str(tmp_path / "bad.yaml"))


def test_packaged_presets_match_repo():
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    for name in PRESETS:
        assert (repo / "configs" / f"{name}.yaml").read_text() == \
            (repo / "src" / "ssamt" / "configs" / f"{name}.yaml").read_text()


def test_a_key_no_code_reads_is_unknown_and_dropped_from_stored_configs():
    assert load_config("synthetic", ["phase1.mean_negatives_epochs=2"]).phase1.mean_negatives_epochs == 2
    with pytest.raises(ConfigError, match=r"unknown config key 'phase2\.mean_negatives_epochs'"):
        load_config("synthetic", ["phase2.mean_negatives_epochs=1"])
    stored = load_config("synthetic").to_dict()
    stored["phase2"]["mean_negatives_epochs"] = 1  # what every config stored before held
    assert TrainConfig.from_checkpoint(stored) == load_config("synthetic")


def test_presets_are_within_the_config_reader_s_limits():
    from ssamt.train.config import preset_path
    from ssamt.train.config_yaml import load_config_yaml

    for name in PRESETS:  # no anchors, aliases or repeated keys, and small
        assert load_config_yaml(preset_path(name).read_text())["name"] == name
