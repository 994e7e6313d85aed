"""docs/CONFIG.md is generated from the config dataclasses: it must equal what the generator
writes today, name every field, and take each range from the checks themselves."""

from __future__ import annotations

import typing
from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest

from ssamt.errors import ConfigError
from ssamt.model.config import SIZE_MINIMUMS, ModelConfig
from ssamt.train.config import PRESETS, TrainConfig
from ssamt.train.config_reference import (
    REGENERATE,
    field_descriptions,
    main,
    render_reference,
    section_keys,
    sections,
)
from ssamt.train.validate import RULES

PAGE = Path(__file__).resolve().parents[1] / "docs" / "CONFIG.md"


def all_fields(cls: type = TrainConfig, prefix: str = "") -> list[str]:
    """Every dataclass field under TrainConfig, dotted (sections themselves left out)."""
    hints = typing.get_type_hints(cls)
    out = []
    for item in fields(cls):
        if is_dataclass(hints[item.name]):
            out += all_fields(hints[item.name], f"{prefix}{item.name}.")
        else:
            out.append(f"{prefix}{item.name}")
    return out


@pytest.fixture(scope="module")
def page() -> str:
    return render_reference()


def test_the_page_is_what_the_generator_writes(page):
    assert PAGE.read_text(encoding="utf-8") == page, f"docs/CONFIG.md is stale: run {REGENERATE}"


def test_every_field_appears(page):
    missing = [key for key in all_fields() if f"`{key}`" not in page]
    assert not missing, f"fields missing from docs/CONFIG.md: {missing}"


def test_every_field_has_one_description():
    for section in [None, *sections()]:
        cls = TrainConfig if section is None else typing.get_type_hints(TrainConfig)[section]
        described = field_descriptions(cls)
        assert {f.name for f in fields(cls)} <= set(described), cls.__name__


def test_grounding_is_a_note_not_a_row(page):
    listed = {k.dotted for section in (None, *sections()) for k in section_keys(section)}
    assert "model.grounding" not in listed
    assert "**`model.grounding` is not a config key**" in page
    with pytest.raises(ConfigError, match="model.grounding"):
        TrainConfig.from_dict({"model": {"grounding": True}})


def test_ranges_come_from_the_checks():
    listed = {k.dotted: k for section in (None, *sections()) for k in section_keys(section)}
    assert set(RULES) <= set(listed), "a rule names a key that does not exist"
    for key, rule in RULES.items():
        assert listed[key].allowed == rule.text
    for name, low in SIZE_MINIMUMS.items():
        assert name in {f.name for f in fields(ModelConfig)}
        assert listed[f"model.{name}"].allowed.startswith(f">= {low}")


def test_recipe_column_and_presets(page):
    listed = {k.dotted: k.recipe for section in (None, *sections()) for k in section_keys(section)}
    assert listed["loss.random_partner_share"] == "ssamt"
    assert listed["eval.mu1_grid"] == listed["eval.select_mu_images"] == "ssamt"
    assert listed["loss.mu1"] == "both"
    header = next(line for line in page.splitlines() if line.startswith("| key | paper-coco"))
    assert header == "| key | " + " | ".join(PRESETS) + " |"


def test_write_flag_writes_the_page(tmp_path, capsys):
    target = tmp_path / "CONFIG.md"
    assert main(["--write", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == render_reference()
    assert main([]) == 0
    assert capsys.readouterr().out == render_reference()
