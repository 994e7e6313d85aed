"""Data: precomp reader (memory-mapped), synthetic scenes, vocabulary, batching.

Names are imported lazily so `import ssamt.data` stays light (no torch until needed).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "open_split": "precomp",
    "PrecompSplit": "precomp",
    "SPLITS": "precomp",
    "available_splits": "precomp",
    "Vocab": "vocab",
    "TextTable": "tables",
    "ImageTable": "tables",
    "marks_batch": "tables",
    "TokenBudgetSampler": "batching",
    "generate": "synth",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"ssamt.data.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'ssamt.data' has no attribute {name!r}")
