"""Per-split caption parses and image label sets, cached on disk (paper 2.1).

Parsing COCO's 590K training captions takes minutes; the cache makes every later run read
them back in seconds. The cache is one JSON Lines file: a header naming the content hash of
the captions (with captions_per_image and the parser version), then one compact record per
caption. A header that does not match means the captions or the parser changed: the file is
rebuilt. The one exception is a machine without spaCy (a GPU box that trains on labels parsed
elsewhere): there a cache whose captions match is used as is, with a note naming the parser
that built it, since nothing could rebuild it. Image label sets L_i are derived from the cached graphs on demand (a set union over
an image's captions, microseconds), so the graphs stay the single source of truth.

Where the cache lives (`label_cache_paths`): DIR/{split}_labels.jsonl when `--labels-cache
DIR` is given (the SSAMT_LABELS_CACHE variable); otherwise next to the features, or, when
the data folder cannot be written (a read-only mount), in the user cache folder
(~/.cache/ssamt/labels/<hash of the data folder's path>/). A cache that cannot be written
anywhere is a warning, not an error: the parses are used for this run only.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ssamt.errors import DataError, OutputError
from ssamt.fileio import atomic_open, check_output, is_stdout, user_cache_dir
from ssamt.labels import parser
from ssamt.labels.graph import CaptionGraph, Phrase
from ssamt.labels.matching import ImageLabels, build_image_labels
from ssamt.labels.parser import clean

FORMAT = "ssamt-labels/1"
CACHE_ENV = "SSAMT_LABELS_CACHE"  # set by --labels-cache DIR
_KINDS = {"o": "object", "a": "attribute", "r": "relation"}


@dataclass
class LabelStore:
    """The parses of a split's captions, with per-image label sets L_i."""

    graphs: list[CaptionGraph]
    captions_per_image: int
    _labels: dict[int, ImageLabels] = field(default_factory=dict, repr=False)

    @property
    def num_images(self) -> int:
        return len(self.graphs) // self.captions_per_image

    def image_graphs(self, i: int) -> list[CaptionGraph]:
        k = self.captions_per_image
        return self.graphs[i * k : (i + 1) * k]

    def image_labels(self, i: int) -> ImageLabels:
        """L_i of image i (its captions are lines i*k .. i*k+k-1, docs/DESIGN.md section 3)."""
        if not 0 <= i < self.num_images:
            raise IndexError(f"image {i} out of range (0..{self.num_images - 1})")
        if i not in self._labels:
            self._labels[i] = build_image_labels(self.image_graphs(i))
        return self._labels[i]


def content_hash(captions: Sequence[str], captions_per_image: int, version: str) -> str:
    digest = hashlib.sha256(f"{version}\n{captions_per_image}\n{len(captions)}\n".encode())
    for caption in captions:
        digest.update(caption.encode("utf-8", "surrogatepass"))
        digest.update(b"\n")
    return digest.hexdigest()


def build_or_load_labels(
    captions: Sequence[str],
    captions_per_image: int,
    cache_path: str | Path | list[Path] | None,
    *,
    workers: int = 1,
    progress: bool = False,
) -> LabelStore:
    """Parse `captions` (or read the cache at `cache_path` if it matches them) into a LabelStore.

    `cache_path` may be a list of candidates: the first that matches is read, a new parse is
    written to the first that can be written (none: a warning). A single path given must be
    writable."""
    if captions_per_image < 1 or len(captions) % captions_per_image:
        raise DataError(cache_path, f"{len(captions)} captions do not split into images of "
                                    f"{captions_per_image}")
    keys = cache_keys(captions, captions_per_image)
    candidates = cache_path if isinstance(cache_path, list) else (
        [] if cache_path is None else [Path(cache_path)])
    for path in candidates:
        graphs = _read_cache(path, keys, captions)
        if graphs is not None:
            return LabelStore(graphs, captions_per_image)
    graphs = parser.parse(captions, workers=workers, progress=progress)
    if isinstance(cache_path, list):
        _write_first_writable(candidates, keys, captions_per_image, graphs)
    elif cache_path is not None:
        _write_cache(Path(cache_path), keys, captions_per_image, graphs)
    return LabelStore(graphs, captions_per_image)


def label_cache_paths(data_dir: str | Path, split: str,
                      cache_dir: str | Path | None = None) -> list[Path]:
    """Where the label cache of a split may be, in the order tried (module docstring)."""
    cache_dir = cache_dir or os.environ.get(CACHE_ENV) or None
    if cache_dir:
        return [Path(cache_dir) / f"{split}_labels.jsonl"]
    return default_label_cache_paths(data_dir, split)


def default_label_cache_paths(data_dir: str | Path, split: str) -> list[Path]:
    """Where the label cache of a split goes without --labels-cache: next to the features,
    else in the user cache folder, under a hash of the data folder's path (so these two
    belong to this data folder alone)."""
    name = f"{split}_labels.jsonl"
    key = hashlib.sha256(str(Path(data_dir).resolve()).encode()).hexdigest()[:16]
    return [Path(data_dir) / name, user_cache_dir() / "labels" / key / name]


def _write_first_writable(paths: list[Path], keys: CacheKeys, captions_per_image: int,
                          graphs: list[CaptionGraph]) -> None:
    for path in paths:
        try:
            check_output(path)
        except OutputError:
            continue
        _write_cache(path, keys, captions_per_image, graphs)
        return
    print(f"ssamt: warning: cannot write the label cache to {' or '.join(map(str, paths))}; "
          "the captions were parsed for this run only (pass --labels-cache DIR to keep them)",
          file=sys.stderr)


# ---- cache file ---------------------------------------------------------------------------
def _encode(graph: CaptionGraph) -> dict:
    return {
        "t": list(graph.tokens),
        "l": [lem if lem != tok else 0 for tok, lem in zip(graph.tokens, graph.lemmas)],
        "s": "".join("1" if s else "0" for s in graph.stop),
        "p": [[p.type[0], *p.key[1:], p.span] for p in graph.phrases],
    }


def _decode(text: str, rec: dict) -> CaptionGraph:
    tokens = tuple(rec["t"])
    lemmas = tuple(tok if lem == 0 else lem for tok, lem in zip(tokens, rec["l"]))
    phrases, objects, attributes, relations = [], [], [], []
    for kind, *parts, span in rec["p"]:
        ptype = _KINDS[kind]
        tag = {"object": "obj", "attribute": "attr", "relation": "rel"}[ptype]
        phrases.append(Phrase(ptype, (tag, *parts), tuple(span)))
        if ptype == "object":
            objects.append(parts[0])
        elif ptype == "attribute":
            attributes.append((parts[1], parts[0]))
        else:
            relations.append(tuple(parts))
    return CaptionGraph(clean(text), tokens, lemmas, tuple(c == "1" for c in rec["s"]), tuple(objects),
                        tuple(attributes), tuple(relations), tuple(phrases))


@dataclass(frozen=True)
class CacheKeys:
    """What a cache header must match: captions + parser, or captions alone (no spaCy here)."""

    full: str       # content_hash with the parser version
    captions: str   # content_hash without it
    parser: str     # parser_version(), written for the record


def parser_installed() -> bool:

    return importlib.util.find_spec("spacy") is not None


def cache_keys(captions: Sequence[str], captions_per_image: int) -> CacheKeys:
    """The keys a cache of `captions` is written under, for this parser."""
    version = parser.parser_version()
    return CacheKeys(content_hash(captions, captions_per_image, version),
                     content_hash(captions, captions_per_image, ""), version)


def cache_header(keys: CacheKeys, captions_per_image: int, num_captions: int) -> str:
    """A cache file's first line (then one encoded graph a line)."""
    return json.dumps({"format": FORMAT, "hash": keys.full, "captions_hash": keys.captions,
                       "parser": keys.parser, "captions_per_image": captions_per_image,
                       "num_captions": num_captions}) + "\n"


def _write_cache(path: Path, keys: CacheKeys, captions_per_image: int,
                 graphs: list[CaptionGraph]) -> None:
    try:
        with atomic_open(path, "w") as handle:
            handle.write(cache_header(keys, captions_per_image, len(graphs)))
            for graph in graphs:
                handle.write(json.dumps(_encode(graph), ensure_ascii=False, separators=(",", ":")))
                handle.write("\n")
    except OSError as exc:
        reason = exc.problem if isinstance(exc, OutputError) else exc.strerror or exc
        raise DataError(path, f"cannot write the label cache ({reason}); "
                              "choose another place with --labels-cache DIR (or `ssamt "
                              "labels --out FILE`)") from None


def _header_matches(path: Path, header: dict, keys: CacheKeys) -> bool:
    if header.get("format") != FORMAT:
        return False
    if header.get("hash") == keys.full:
        return True
    if header.get("captions_hash") == keys.captions and not parser_installed():
        print(f"ssamt: spaCy is not installed; using the label cache {path} as it is "
              f"(parsed elsewhere with {header.get('parser', 'an unknown parser')})",
              file=sys.stderr)
        return True
    return False


def _read_cache(path: Path, keys: CacheKeys, captions: Sequence[str]) -> list[CaptionGraph] | None:
    """The cached graphs, or None when the file is missing, stale or unreadable."""
    if is_stdout(path) or not path.is_file():
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            header = json.loads(handle.readline() or "{}")
            if not _header_matches(path, header, keys):
                return None
            graphs = [_decode(text, json.loads(line)) for text, line in zip(captions, handle)]
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        print(f"ssamt: rebuilding label cache {path} ({exc.__class__.__name__})", file=sys.stderr)
        return None
    return graphs if len(graphs) == len(captions) else None
