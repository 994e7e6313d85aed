"""A config's values checked and converted to the dataclass fields' declared types, with
unknown keys refused by their dotted name (ssamt.train.config builds TrainConfig with it)."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any, get_type_hints

from ssamt.errors import ConfigError, shown
from ssamt.model.config import ModelConfig


def _number(value: Any) -> float | None:
    """`value` as a float, None when it is not a number. Numeric text counts: YAML reads
    `1e-4` (no dot) as a string."""
    if isinstance(value, (bool, list, tuple, dict)) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):  # an integer beyond float's range too
        return None


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Check and convert one leaf value to its declared type."""
    text = str(hint)
    if text.endswith("| None"):  # optional: None stays None, anything else its type
        if value is None:
            return None
        return _coerce(value, {"int": int, "float": float, "str": str}[text.split(" |")[0]], key)
    if text.startswith("tuple"):
        numbers = [_number(v) for v in value] if isinstance(value, (list, tuple)) else None
        if numbers is None or None in numbers:
            raise ConfigError(f"{key}: expected a list of numbers, got {shown(value)}")
        return tuple(numbers)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true/false, got {shown(value)}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{key}: expected an integer, got {shown(value)}")
    if hint is float:
        number = _number(value)
        if number is None:
            raise ConfigError(f"{key}: expected a number, got {shown(value)}")
        return number
    if hint is str:
        if isinstance(value, (list, tuple, dict)) or value is None:
            raise ConfigError(f"{key}: expected text, got {shown(value)}")
        return str(value)
    return value


def build_dataclass(cls: type, data: dict[str, Any] | None, prefix: str) -> Any:
    """Instantiate dataclass `cls` from `data`, rejecting unknown keys by their dotted name.
    A section left empty in a file (None) takes its defaults; any other value that is not a
    mapping (`model: 0`) is refused, never read as an empty section."""
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {shown(data)}")
    hints = get_type_hints(cls)
    # model.grounding follows the recipe (TrainConfig): no config sets it
    known = {f.name for f in fields(cls) if not (cls is ModelConfig and f.name == "grounding")}
    for key in data:
        if key not in known:
            raise ConfigError(f"unknown config key '{prefix}{key}' (known: {', '.join(sorted(known))})")
    values = {}
    for name, value in data.items():
        hint = hints[name]
        if is_dataclass(hint):
            values[name] = build_dataclass(hint, value, f"{prefix}{name}.")
        else:
            values[name] = _coerce(value, hint, f"{prefix}{name}")
    return cls(**values)
