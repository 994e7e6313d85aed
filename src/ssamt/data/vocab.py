"""Word vocabulary: token <-> id, saved inside a checkpoint as plain JSON.

Words seen fewer than `min_count` times in the training captions map to UNK (paper 3.2:
"we prune the vocabulary by dropping words that appear less than five times").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from ssamt.errors import ConfigError

PAD, UNK = 0, 1
PAD_TOKEN, UNK_TOKEN = "<pad>", "<unk>"
_FORMAT = "ssamt-vocab-1"


class Vocab:
    """Ordered token list; id = position. Id 0 is PAD, id 1 is UNK."""

    def __init__(self, tokens: Sequence[str]) -> None:
        tokens = list(tokens)
        if tokens[:2] != [PAD_TOKEN, UNK_TOKEN]:
            tokens = [PAD_TOKEN, UNK_TOKEN, *(t for t in tokens if t not in (PAD_TOKEN, UNK_TOKEN))]
        if len(set(tokens)) != len(tokens):
            raise ConfigError("vocabulary has duplicate tokens")
        self.tokens: list[str] = tokens
        self._ids: dict[str, int] = {t: i for i, t in enumerate(tokens)}

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], min_count: int = 5) -> Vocab:
        """Tokens seen at least `min_count` times, most frequent first (ties alphabetical,
        so the ids do not depend on caption order)."""
        counts = Counter(t for tokens in token_lists for t in tokens)
        kept = [t for t, c in counts.items() if c >= min_count and t not in (PAD_TOKEN, UNK_TOKEN)]
        kept.sort(key=lambda t: (-counts[t], t))
        return cls([PAD_TOKEN, UNK_TOKEN, *kept])

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self._ids

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.tokens == other.tokens

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens)"

    def id(self, token: str) -> int:
        return self._ids.get(token, UNK)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Ids of `tokens`, UNK for unknown ones."""
        get = self._ids.get
        return [get(t, UNK) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.tokens[i] for i in ids]

    def to_dict(self) -> dict[str, Any]:
        return {"format": _FORMAT, "tokens": list(self.tokens)}

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> Vocab:
        if not isinstance(obj, dict) or obj.get("format") != _FORMAT:
            raise ConfigError(f"not a vocabulary dict (expected format {_FORMAT!r})")
        tokens = obj.get("tokens")
        if not isinstance(tokens, list) or tokens[:2] != [PAD_TOKEN, UNK_TOKEN]:
            raise ConfigError("vocabulary dict must list tokens starting with <pad>, <unk>")
        return cls(tokens)
