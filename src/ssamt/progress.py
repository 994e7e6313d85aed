"""Progress bars: tqdm when asked for, the plain iterable otherwise (tqdm imported lazily)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(items: Iterable[T], enabled: bool, desc: str, *, total: int | None = None,
             unit: str = "it") -> Iterable[T]:
    """`items`, wrapped in a tqdm bar (cleared when done) when `enabled`."""
    if not enabled:
        return items

    return tqdm(items, total=total, desc=desc, unit=unit, leave=False)
