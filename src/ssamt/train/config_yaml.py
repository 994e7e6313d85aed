"""The one YAML reader of configuration text: config files and `--set` values.

A config is a few sections of plain keys, so anything beyond that is refused before it is
built, quickly and in one line naming where it is:

- anchors and aliases (`&a`, `*a`): nested aliases expand exponentially (a few hundred
  bytes can stand for billions of nodes) and no config needs them;
- nesting deeper than MAX_DEPTH (the composer recurses once per level);
- text longer than MAX_BYTES (the pure-Python parser would take seconds per megabyte);
- a key written twice in one mapping (YAML keeps the last silently).
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_BYTES = 64 * 1024  # about 30 times the largest preset
MAX_DEPTH = 16  # a config nests 3 levels: sections, keys, list items


class YamlLimitError(Exception):
    """Text a config may not hold; the message says what and on which line."""


class _ConfigLoader(yaml.SafeLoader):
    """yaml.SafeLoader without anchors or aliases, with a depth limit and unique keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise YamlLimitError(f"line {line}: YAML anchors and aliases (&name, *name) are "
                                 "not allowed in a config")
        if self._depth >= MAX_DEPTH:
            raise YamlLimitError(f"line {line}: nested more than {MAX_DEPTH} levels deep (a "
                                 "config holds sections of keys)")
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                earlier = lines.get(key)
            except TypeError:  # an unhashable key: the base class reports it
                continue
            if earlier is not None:
                where = f"line {line}" if earlier == line else f"lines {earlier} and {line}"
                raise YamlLimitError(f"{where}: key {key!r} is given twice in one mapping")
            lines[key] = line
        return super().construct_mapping(node, deep)


def load_config_yaml(text: str | bytes) -> Any:
    """`text` (bytes: UTF-8) parsed as YAML within the limits above: YamlLimitError past
    them, yaml.YAMLError for text that is not YAML, UnicodeDecodeError for bytes that are
    not UTF-8. A file's first MAX_BYTES + 1 bytes are enough to tell."""
    raw = text if isinstance(text, bytes) else text.encode("utf-8")
    if len(raw) > MAX_BYTES:
        raise YamlLimitError(f"larger than {MAX_BYTES // 1024} KiB, too large for a config")
    loader = _ConfigLoader(raw.decode("utf-8"))
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
