"""The configuration reference, docs/CONFIG.md, generated from the code so it cannot drift.

Every fact on the page is read from one place in the code:
- the keys, their types and defaults from the dataclasses of ssamt.train.config and
  ssamt.model.config (`TrainConfig.to_dict` names the settable ones);
- each key's description from the "key: text" entries of its dataclass's docstring;
- the allowed values from the range checks (ssamt.train.validate.RULES, and the tables
  ModelConfig.__post_init__ checks);
- the recipe that reads a key from its field metadata (ssamt.train.config.SSAMT_ONLY);
- the presets' values from the presets themselves.

    python -m ssamt.train.config_reference --write docs/CONFIG.md
    python -m ssamt.train.config_reference > docs/CONFIG.md
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
import typing
from collections.abc import Sequence
from dataclasses import Field, dataclass, fields, is_dataclass
from typing import Any

from ssamt.fileio import write_text
from ssamt.model.config import (
    DATA_SIZES,
    DROPOUT_RANGE,
    MULTIPLE_OF,
    SIZE_MAXIMUM,
    SIZE_MINIMUMS,
)
from ssamt.train.config import PRESETS, RECIPE_NAMES, TrainConfig, load_config
from ssamt.train.validate import RULES

REGENERATE = "python -m ssamt.train.config_reference --write docs/CONFIG.md"
ENTRY = re.compile(r"^([a-z][a-z0-9_]*):\s+(\S.*)$")
DOC_PATH = re.compile(r"docs/([A-Z0-9_]+\.md)")


@dataclass(frozen=True)
class Key:
    """One settable config key, as the page lists it."""

    dotted: str
    type: str
    default: Any
    allowed: str
    recipe: str
    description: str


# ----- reading the dataclasses ----------------------------------------------------------


def field_descriptions(cls: type) -> dict[str, str]:
    """The "key: text" entries of the docstrings of `cls` and of the dataclasses it extends
    (Phase1Config adds its key to PhaseConfig's), each with its indented continuation
    lines joined into one line."""
    found: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if is_dataclass(klass):
            found |= _own_descriptions(klass)
    return found


def _own_descriptions(cls: type) -> dict[str, str]:
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in inspect.cleandoc(cls.__doc__ or "").splitlines():
        match = ENTRY.match(line)
        if match:
            current = found.setdefault(match.group(1), [])
            current.append(match.group(2))
        elif current is not None and line[:1].isspace() and line.strip():
            current.append(line.strip())
        else:
            current = None
    return {name: " ".join(words) for name, words in found.items()}


def summary(cls: type) -> str:
    """The first paragraph of `cls`'s docstring, as one line."""
    first = inspect.cleandoc(cls.__doc__ or "").split("\n\n", 1)[0]
    return " ".join(first.split())


def type_name(hint: Any) -> str:
    """A field's type in the words of a YAML file."""
    args = typing.get_args(hint)
    if type(None) in args:
        inner = next(a for a in args if a is not type(None))
        return f"{type_name(inner)} or null"
    if typing.get_origin(hint) is tuple:
        return "list of numbers" if Ellipsis in args else f"list of {len(args)} numbers"
    return {int: "integer", float: "number", str: "text", bool: "true or false"}[hint]


def yaml_value(value: Any) -> str:
    """A value as a YAML file writes it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(yaml_value(v) for v in value) + "]"
    return str(value)


def model_allowed(name: str) -> str:
    """The allowed values of model.`name`, from the tables ModelConfig checks."""
    parts = []
    if name in SIZE_MINIMUMS:
        parts.append(f">= {SIZE_MINIMUMS[name]} and <= {SIZE_MAXIMUM}")
    parts += [f"a multiple of model.{by}" for key, by in MULTIPLE_OF.items() if key == name]
    parts += [f"divides model.{key}" for key, by in MULTIPLE_OF.items() if by == name]
    if name == "dropout":
        parts.append(f"in [{DROPOUT_RANGE[0]:g}, {DROPOUT_RANGE[1]:g})")
    if name in DATA_SIZES:
        parts.append("or null: from the data")
    return ", ".join(parts)


def allowed(dotted: str) -> str:
    if dotted in RULES:
        return RULES[dotted].text
    if dotted == "recipe":
        return "one of " + ", ".join(RECIPE_NAMES)
    section, _, name = dotted.rpartition(".")
    return (model_allowed(name) if section == "model" else "") or "–"


def _key(prefix: str, item: Field, hints: dict[str, Any], docs: dict[str, str],
         default: Any) -> Key:
    dotted = f"{prefix}{item.name}"
    if item.name not in docs:
        raise ValueError(f"{dotted}: no 'key: text' entry in its dataclass's docstring")
    return Key(dotted, type_name(hints[item.name]), default, allowed(dotted),
               item.metadata.get("recipe", "both"), docs[item.name])


def section_keys(section: str | None) -> list[Key]:
    """The settable keys of one section (None: the top-level keys), in field order."""
    saved = TrainConfig().to_dict()  # the config as stored: settable keys only
    cls = TrainConfig if section is None else type(getattr(TrainConfig(), section))
    values = saved if section is None else saved[section]
    prefix = "" if section is None else f"{section}."
    hints, docs = typing.get_type_hints(cls), field_descriptions(cls)
    return [_key(prefix, f, hints, docs, values[f.name]) for f in fields(cls)
            if f.name in values and not is_dataclass(hints[f.name])]


def sections() -> list[str]:
    """TrainConfig's sections, in field order."""
    hints = typing.get_type_hints(TrainConfig)
    return [f.name for f in fields(TrainConfig) if is_dataclass(hints[f.name])]


def derived_keys() -> dict[str, str]:
    """Dotted fields a config never sets (they follow another key) -> their description."""
    saved = TrainConfig().to_dict()
    out = {}
    for section in sections():
        cls = type(getattr(TrainConfig(), section))
        docs = field_descriptions(cls)
        out |= {f"{section}.{f.name}": docs[f.name] for f in fields(cls)
                if f.name not in saved[section]}
    return out


# ----- markdown -------------------------------------------------------------------------


def _links(text: str) -> str:
    """docs/X.md as a link from a page of docs/."""
    return DOC_PATH.sub(r"[\1](\1)", text)


def _cell(text: str) -> str:
    """Markdown of plain text: pipes and stars escaped, docs/X.md turned into links."""
    return _links(text.replace("|", "\\|").replace("*", "\\*"))


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def key_table(keys: Sequence[Key]) -> list[str]:
    rows = [[f"`{k.dotted}`", k.type, f"`{yaml_value(k.default)}`", _cell(k.allowed),
             k.recipe, _cell(k.description)] for k in keys]
    return _table(["key", "type", "default", "allowed", "recipe", "description"], rows)


def flatten_config(saved: dict[str, Any]) -> dict[str, Any]:
    """A config's dict (TrainConfig.to_dict) as dotted keys -> values (`phase2.lr`: 6e-4)."""
    out = {}
    for key, value in saved.items():
        if isinstance(value, dict):
            out |= {f"{key}.{inner}": v for inner, v in value.items()}
        else:
            out[key] = value
    return out


def preset_table() -> list[str]:
    """Every settable key's value in each preset; a value the preset's recipe does not read
    is marked so."""
    values = {name: flatten_config(load_config(name).to_dict()) for name in PRESETS}
    reader = {k.dotted: k.recipe for section in (None, *sections()) for k in section_keys(section)}

    def cell(preset: str, key: str) -> str:
        text = f"`{yaml_value(values[preset][key])}`"
        unread = reader[key] not in ("both", values[preset]["recipe"])
        return f"{text} (not read)" if unread else text

    return _table(["key", *PRESETS], [[f"`{key}`", *(cell(p, key) for p in PRESETS)]
                                      for key in values[PRESETS[0]]])


INTRO = f"""# Configuration reference

This page is generated from the code (the config dataclasses, their docstrings and their
range checks): do not edit it by hand. Regenerate it with

    {REGENERATE}

and `tests/test_config_reference.py` fails whenever it and the code differ.

A run's configuration is a preset (`--config synthetic`, the [table at the end](#presets))
or a YAML file of the sections below, and any key can be changed with `--set key=value`
(dotted, repeatable) on `ssamt train`, `ssamt quickstart` and `ssamt analyze`:

```bash
ssamt train --config synthetic --data data/synth-small --out runs/synth --set phase2.lr=5e-4 --set eval.rerank_k=20
```

An unknown key is refused by its dotted name, and a value of the wrong type when the config
is read. The allowed values below are checked before any data is read (every number must
also be finite); a bad one is one line naming the key. The config is saved in every
checkpoint and in the run folder's `config.yaml`, so every command rebuilds the model from
the checkpoint alone.

Column *allowed*: a dash is any value of the key's type. Column *recipe*: `both`, or the
one recipe that reads the key (the other ignores it). What each recipe does is in
docs/RECIPES.md; the paper's own values are in docs/DESIGN.md section 4."""


PRESETS_INTRO = """\
The presets ship in the package (`src/ssamt/configs/`, linked as `configs/`); their comments
say where each value comes from. A value the preset's recipe does not read is marked
"(not read)"."""


def _derived_lines() -> list[str]:
    lines = []
    for dotted, text in derived_keys().items():
        note = (f"**`{dotted}` is not a config key**; a config file or `--set` that names "
                f"it is refused. {_sentence(_cell(text))}")
        lines += ["", note]
    return lines


def render_reference() -> str:
    """The whole of docs/CONFIG.md."""
    lines = [_links(INTRO), "", "## Top level", "", _cell(summary(TrainConfig)), "",
             *key_table(section_keys(None))]
    about = field_descriptions(TrainConfig)
    for section in sections():
        lines += ["", f"## {section}", "", _sentence(_cell(about[section])), "",
                  *key_table(section_keys(section))]
        if section == "model":
            lines += _derived_lines()
    lines += ["", "## Presets", "", PRESETS_INTRO, "", *preset_table()]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ssamt.train.config_reference",
                                     description="print (or write) docs/CONFIG.md")
    parser.add_argument("--write", metavar="PATH", help="write the page here instead of "
                        "printing it (e.g. docs/CONFIG.md)")
    args = parser.parse_args(argv)
    text = render_reference()
    if args.write:
        write_text(args.write, text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
