"""A precomp split's caption parses and phrase labels, cached on disk (the label cache of
ssamt.labels.store, paper 2.1). Here, on the data side, because it opens the split; the
labels layer itself knows only captions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ssamt.data.precomp import PrecompSplit, open_split
from ssamt.labels.graph import CaptionGraph
from ssamt.labels.parser import parse
from ssamt.labels.store import LabelStore, build_or_load_labels, label_cache_paths


def labels_for_split(data_dir: str | Path, split: str, out: str | Path | None = None, *,
                     workers: int = 1, progress: bool = False,
                     cache_dir: str | Path | None = None, opened: Any = None) -> LabelStore:
    """Labels of a precomp split, cached at `out` (default: label_cache_paths).
    opened: the split already opened by ssamt.data.precomp.open_split, so it is not opened
    twice."""
    data = opened if opened is not None else open_split(data_dir, split)
    where = [Path(out)] if out is not None else label_cache_paths(data_dir, split, cache_dir)
    return build_or_load_labels(data.captions, data.captions_per_image,
                                where[0] if out is not None else where,
                                workers=workers, progress=progress)


def caption_graphs(data_dir: str | Path, split: str, lines: Sequence[int], *,
                   opened: PrecompSplit | None = None,
                   progress: bool = False) -> list[CaptionGraph]:
    """CaptionGraphs of some caption lines of a split: from the split's label cache when it
    exists (brought up to date if stale, as everywhere), else only these are parsed now, so
    a few captions of a large split never cost a parse of all of it."""
    if any(path.is_file() for path in label_cache_paths(data_dir, split)):
        graphs = labels_for_split(data_dir, split, progress=progress, opened=opened).graphs
        return [graphs[j] for j in lines]
    data = opened if opened is not None else open_split(data_dir, split)
    return list(parse([data.captions[j] for j in lines]))
