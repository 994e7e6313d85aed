"""Part levels: where each part (a word's lemma, a phrase's key) usually scores against
images it matches, measured once per checkpoint on training pairs.

The explain verdict judges a part by how far its phrase-to-image score falls below a
reference (ssamt.pipelines.explain). The mean of its type in the image's own captions
treats every part of a type as if it sat at the type's level, and they do not: a word's
score is its best region, whatever the caption says around it (model.grounding), so a word
no region shows ("front", "two", "image") scores low against every image, true captions
included. Part levels replace it: a part is judged against level(key), the mean score of
its key over the image-caption pairs of a training sample (its type's mean for a key seen
fewer than MIN_COUNT times), so the verdict asks whether the part scores lower here than it
does where it matches. The same sample gives the margins: for each type, how far below its
level the FALSE_FLAGS quantile of its matched parts falls (docs/EXPLAIN.md; the flag
rates in BENCHMARKS.md, "Explain's flags").

Only the model's own scores on pairs that match by construction (an image and its own
captions) enter; no label, no edit, no test image. Measuring takes one inter-encoder pass
over the sample. The result is cached beside the checkpoint (part_levels.json),
re-measured when the checkpoint, the data or the sample change, and used with any data
folder once measured on the run's own training data (`ssamt train` measures it when phase
2 ends).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ssamt.data.fingerprint import fingerprint_matches, split_fingerprint
from ssamt.data.precomp import open_split
from ssamt.data.split_labels import caption_graphs
from ssamt.data.tables import ImageTable, TextTable
from ssamt.errors import DataError
from ssamt.fileio import write_json
from ssamt.pipelines.parts import Part, score_parts
from ssamt.train.trained_run import Run

MIN_COUNT = 3  # occurrences of a key in the sample before it gets its own offset
SAMPLE_IMAGES = 1000  # training images whose own captions are scored
FALSE_FLAGS = 0.05  # share of the sample's matched parts the default margins flag
MIN_RESIDUALS = 50  # matched parts of a type before it gets its own margin
CACHE_NAME = "part_levels.json"
FORMAT = 3


@dataclass(frozen=True)
class PartLevels:
    """type_means: level ("object", "attribute", "relation", "word") -> mean score;
    key_means: part key -> (mean score, count); images: how many images were scored;
    margins: level -> how far below its level (`level`) a matched part of that type falls
    at the FALSE_FLAGS quantile, over the sample (from_parts): the default margin of the
    explain verdict."""

    type_means: dict[str, float]
    key_means: dict[tuple[str, ...], tuple[float, int]]
    images: int
    margins: dict[str, float] = field(default_factory=dict)

    @property
    def false_flags(self) -> float:
        """The share of matched parts the margins flag (FALSE_FLAGS)."""
        return FALSE_FLAGS

    def offset(self, key: tuple[str, ...], level: str) -> float:
        """Mean score of `key` minus that of its level; 0 when either is unknown or the key
        was seen fewer than MIN_COUNT times."""
        mean, count = self.key_means.get(tuple(key), (0.0, 0))
        if count < MIN_COUNT or level not in self.type_means:
            return 0.0
        return mean - self.type_means[level]

    def level(self, key: tuple[str, ...], level: str) -> float | None:
        """Where a part usually scores against images it matches: its type's mean plus its
        own offset (its key's mean when seen MIN_COUNT times); None for an unknown type."""
        if level not in self.type_means:
            return None
        return self.type_means[level] + self.offset(key, level)

    @classmethod
    def from_parts(cls, rows: Iterable[Sequence[Part]], images: int) -> PartLevels:
        """Means over the judged parts of `rows` (one list of explain.Part per matched
        pair), and the margin of each type: minus the FALSE_FLAGS quantile of its parts'
        score - level(key) (at least 0; types with MIN_RESIDUALS parts or more)."""
        judged = [p for parts in rows for p in parts if p.judged]
        by_level: dict[str, list[float]] = {}
        by_key: dict[tuple[str, ...], list[float]] = {}
        for p in judged:
            by_level.setdefault(p.level, []).append(p.score)
            by_key.setdefault(tuple(p.key), []).append(p.score)
        means = cls({k: float(np.mean(v)) for k, v in by_level.items()},
                    {k: (float(np.mean(v)), len(v)) for k, v in by_key.items()}, images)
        residuals: dict[str, list[float]] = {}
        for p in judged:
            residuals.setdefault(p.level, []).append(p.score - means.level(p.key, p.level))
        margins = {level: max(0.0, -float(np.quantile(v, FALSE_FLAGS)))
                   for level, v in residuals.items() if len(v) >= MIN_RESIDUALS}
        return replace(means, margins=margins)

    def to_dict(self) -> dict[str, Any]:
        return {"type_means": dict(self.type_means), "images": self.images,
                "margins": dict(self.margins),
                "keys": [[list(k), m, n] for k, (m, n) in self.key_means.items()]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PartLevels:
        """KeyError / TypeError / ValueError when `d` is not what to_dict writes (a value
        that is not a finite number included)."""
        keys = {tuple(str(x) for x in k): (_finite(m), int(n)) for k, m, n in d["keys"]}
        return cls({str(k): _finite(v) for k, v in d["type_means"].items()}, keys,
                   int(d["images"]), {str(k): _finite(v) for k, v in d["margins"].items()})


def _finite(value: Any) -> float:
    out = float(value)
    if not np.isfinite(out):
        raise ValueError(f"not a finite number: {value}")
    return out


def sample_images(num_images: int, n: int = SAMPLE_IMAGES, seed: int = 0) -> np.ndarray:
    """Sorted rows of the (at most n) training images scored, the same on every machine."""
    if num_images <= n:
        return np.arange(num_images, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(num_images, n, replace=False))


def measure_part_levels(run: Run, images: Any, image_rows: np.ndarray,
                        graphs: Sequence[Any], *, batch_size: int = 128,
                        device: str = "cpu") -> PartLevels:
    """PartLevels of `run` over the images `image_rows` and their own captions.

    images: an ImageTable, indexed by image_rows;
    graphs: the CaptionGraphs of those images' captions, image by image (K per image, K =
    len(graphs) / len(image_rows))."""
    if len(image_rows) == 0 or len(graphs) % len(image_rows):
        raise ValueError(f"{len(graphs)} captions for {len(image_rows)} images")
    img = np.repeat(np.asarray(image_rows, dtype=np.int64), len(graphs) // len(image_rows))
    cap = np.arange(len(graphs), dtype=np.int64)
    texts = TextTable(graphs, run.vocab, max_tokens=run.max_tokens)
    mu1, mu2 = run.eq5_weights()
    scored = score_parts(run.model, images, texts, graphs, img, cap, mu1, mu2, vocab=run.vocab,
                         max_tokens=run.max_tokens, batch_size=batch_size, device=device)
    return PartLevels.from_parts(scored.parts, len(image_rows))


def _identity(run: Run, fingerprint: str | None, rows: np.ndarray) -> dict[str, Any] | None:
    """What the cached levels were measured from; a change in any re-measures them. None for
    a run not read from a file (nothing to cache beside)."""
    try:
        stat = run.path.stat()
    except OSError:
        return None
    return {"format": FORMAT, "checkpoint": run.path.name, "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns, "data": fingerprint, "images": len(rows),
            "rows_sum": int(rows.sum())}


CHECKPOINT_FIELDS = ("format", "checkpoint", "size", "mtime_ns")


def _read_cache(path: Path, identity: dict[str, Any],
                fields: tuple[str, ...] | None = None) -> PartLevels | None:
    """The cached levels when their identity matches (on `fields` only, when given)."""
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        found = stored.get("identity")
        if (found == identity if fields is None
                else all(found.get(f) == identity.get(f) for f in fields)):
            return PartLevels.from_dict(stored["levels"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass  # unreadable or from another checkpoint: measured again, then rewritten
    return None


def _cached_for_run(run: Run) -> PartLevels | None:
    """The levels cached beside this very checkpoint, measured on its own training data
    (fingerprint as recorded in the run): usable with any data folder, one's own photos
    included."""
    identity = _identity(run, run.data_fingerprint, np.zeros(0, np.int64))
    if identity is None or run.data_fingerprint is None:
        return None
    return _read_cache(run.path.parent / CACHE_NAME, identity, (*CHECKPOINT_FIELDS, "data"))


def _write_cache(path: Path, identity: dict[str, Any], levels: PartLevels) -> None:
    """Best effort: a read-only run folder only costs the next call a re-measure."""
    if path.is_symlink() or (path.exists() and not path.is_file()):
        return  # never write through a link or over something that is not our file
    try:
        write_json(path, {"identity": identity, "levels": levels.to_dict()}, indent=None)
    except OSError:
        pass


def part_levels_for(run: Run, data_dir: str | Path, *, split: str = "train",
                    batch_size: int = 128, device: str = "cpu",
                    progress: bool = False) -> PartLevels | None:
    """The run's PartLevels: those cached beside the checkpoint when measured on its own
    training data (any `data_dir` then), else measured on `split` of `data_dir` and cached;
    None (with one line on stderr when progress) when that folder has no such split or it
    is not the data the run was trained on (its fingerprint differs)."""
    cached = _cached_for_run(run)  # before opening (and hashing) any data
    if cached is not None:
        return cached
    try:
        opened = open_split(data_dir, split)
    except DataError:
        return _skip(progress, f"no '{split}' split in {data_dir}")
    fingerprint = split_fingerprint(opened)
    if run.data_fingerprint is not None and not fingerprint_matches(run.data_fingerprint, opened):
        return _skip(progress, f"the '{split}' split of {data_dir} is not the run's training data")
    rows = sample_images(opened.num_images)
    if len(rows) == 0 or opened.captions_per_image == 0:
        return _skip(progress, f"the '{split}' split of {data_dir} has no captioned images")
    identity = _identity(run, run.data_fingerprint or fingerprint, rows)  # as the run records it
    cache = run.path.parent / CACHE_NAME
    levels = None if identity is None else _read_cache(cache, identity)
    if levels is None:
        if progress:
            print(f"part levels: scoring the own captions of {len(rows)} '{split}' images "
                  "(once per checkpoint)", file=sys.stderr)
        k = opened.captions_per_image
        graphs = caption_graphs(data_dir, split, [int(i) * k + c for i in rows for c in range(k)],
                                opened=opened)
        levels = measure_part_levels(run, ImageTable(opened), rows, graphs,
                                     batch_size=batch_size, device=device)
        if identity is not None:
            _write_cache(cache, identity, levels)
    return levels


def _skip(progress: bool, why: str) -> None:
    if progress:
        print(f"part levels: {why}, and none are cached beside the checkpoint; the verdict "
              "uses the type means of the image's own captions", file=sys.stderr)
