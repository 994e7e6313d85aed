"""Open the files of an index folder only when they are the ones its build wrote.

A search trusts the files to agree with each other and with the manifest: a FAISS index of
another dimension fails inside FAISS (an assertion), one swapped with the other modality's
returns ids past the end of the gallery, an .npy with fewer rows or other vectors ranks
with them silently, and a shifted offset makes stage 2 parse half a line. So an index is
checked once, when it is opened, in this order:

1. every file's size and sampled checksum against those the build recorded (a file
   changed, truncated or swapped since);
2. the shapes: the .npy embeddings (rows, dim) float32, each FAISS index's `d`, `ntotal`
   and metric, the caption offsets (num_captions + 1, from 0, increasing, ending at the
   size of captions.jsonl);
3. every vector finite, of the .npy files and of the FAISS indexes (a NaN row would rank
   as NaN, and FAISS silently leaves one out of its answers).

Each problem is one DataError naming the file and saying to rebuild the index. A sampled
checksum cannot see a few bytes changed between its sampled blocks of a large file; the
vectors are scanned whole for that reason, and caption lines are checked as they are read
(`read_caption_graph`): captions.jsonl is read line by line, never whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ssamt.data.fingerprint import sampled_file_digest
from ssamt.data.npyfile import open_npy
from ssamt.data.precomp import split_paths
from ssamt.errors import DataError
from ssamt.labels.graph import CaptionGraph
from ssamt.labels.parser import clean
from ssamt.search.ann import import_faiss, load_ann
from ssamt.search.manifest import INDEX_FILES, MANIFEST, REBUILD

# Rows per finite-check chunk: about 64 MiB of float32 at a time, whatever the dimension.
CHUNK_BYTES = 64 << 20


@dataclass(frozen=True)
class IndexFiles:
    """The opened files of a checked index folder."""

    image_emb: np.ndarray  # (num_images, dim) float32, memory-mapped
    caption_emb: np.ndarray  # (num_captions, dim) float32, memory-mapped
    offsets: np.ndarray  # (num_captions + 1,) int64: byte offset of each captions.jsonl line
    image_index: Any  # FAISS index of image_emb
    caption_index: Any  # FAISS index of caption_emb


def open_index_files(index_dir: Path, manifest: dict[str, Any]) -> IndexFiles:
    """The files of an index folder whose manifest read_manifest accepted, each checked
    (module docstring); DataError naming the first file that is not as built."""
    for name in INDEX_FILES:
        check_recorded(index_dir / name, manifest["files"][name])
    n_img, n_cap, dim = manifest["num_images"], manifest["num_captions"], manifest["dim"]
    image_emb = _embeddings(index_dir / "images.npy", n_img, dim, "images")
    caption_emb = _embeddings(index_dir / "captions.npy", n_cap, dim, "captions")
    offsets = _offsets(index_dir / "captions.offsets.npy", n_cap,
                       (index_dir / "captions.jsonl").stat().st_size)
    kind = manifest["kind"]
    image_index = _ann(index_dir / "images.faiss", n_img, dim, kind, "images")
    caption_index = _ann(index_dir / "captions.faiss", n_cap, dim, kind, "captions")
    # A full scan of every vector, once per open. Cheap next to what opening costs anyway:
    # numpy checks about 1.4 GB/s from the page cache (0.3 s for the 400 MB of 100,000
    # images at d=1024), while FAISS takes longer than that just to read the same file, and
    # the checkpoint and the split's captions are hashed whole. Chunks of CHUNK_BYTES keep
    # the memory flat. The FAISS copies are scanned too: FAISS silently leaves a NaN vector
    # out of its answers, so a damaged one would only go missing from the results.
    check_finite(index_dir / "images.npy", _row_chunks(image_emb), "image")
    check_finite(index_dir / "captions.npy", _row_chunks(caption_emb), "caption")
    check_finite(index_dir / "images.faiss", _faiss_chunks(image_index), "image")
    check_finite(index_dir / "captions.faiss", _faiss_chunks(caption_index), "caption")
    return IndexFiles(image_emb, caption_emb, offsets, image_index, caption_index)


def check_recorded(path: Path, record: dict[str, Any]) -> None:
    """DataError unless `path` has the size and sampled checksum the build recorded."""
    if not path.exists():
        raise DataError(path, f"missing from the index folder: {REBUILD}")
    if not path.is_file():
        raise DataError(path, f"not a regular file: {REBUILD}")
    try:
        size = path.stat().st_size
        if size != record["bytes"]:
            raise DataError(path, f"{size:,} bytes, but the index was built with "
                                  f"{record['bytes']:,}: the file was changed, truncated or "
                                  f"swapped since; {REBUILD}")
        if sampled_file_digest(path) != record["sampled_sha256"]:
            raise DataError(path, "its checksum differs from the one recorded at the build: "
                                  f"the file was changed or swapped since; {REBUILD}")
    except OSError as exc:
        raise DataError(path, f"cannot read the index file ({exc.strerror or exc}): "
                              f"{REBUILD}") from None


def _embeddings(path: Path, rows: int, dim: int, what: str) -> np.ndarray:
    try:
        emb = open_npy(path, ndim=2, what=f"{what} embeddings (N, d)")
    except DataError as exc:
        raise DataError(path, f"{exc.problem}: {REBUILD}") from None
    if emb.shape != (rows, dim) or emb.dtype != np.float32:
        raise DataError(path, f"shape {emb.shape} {emb.dtype}, but the manifest says {rows} "
                              f"{what} of {dim} dims (float32): {REBUILD}")
    return emb


def _offsets(path: Path, rows: int, jsonl_size: int) -> np.ndarray:
    """The byte offsets of the caption lines (small: 8 bytes a caption, read whole)."""
    try:
        offsets = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(path, f"cannot read the index file ({exc}): {REBUILD}") from None
    if not isinstance(offsets, np.ndarray):  # an .npz archive
        raise DataError(path, f"not a .npy file: {REBUILD}")
    if offsets.shape != (rows + 1,) or offsets.dtype != np.int64:
        raise DataError(path, f"shape {offsets.shape} {offsets.dtype}, but the manifest says "
                              f"{rows} captions ({rows + 1} int64 offsets): {REBUILD}")
    if offsets[0] != 0 or not np.all(np.diff(offsets) > 0) or offsets[-1] != jsonl_size:
        raise DataError(path, "the offsets do not start at 0, grow line by line and end at "
                              f"the size of captions.jsonl ({jsonl_size:,} bytes): {REBUILD}")
    return offsets


def _ann(path: Path, rows: int, dim: int, kind: str, what: str) -> Any:
    faiss = import_faiss()
    index = load_ann(path)  # DataError when FAISS cannot read it
    # The class ssamt.search.ann.build_ann makes for the manifest's kind (and the only
    # ones _faiss_chunks knows how to read the vectors of).
    built = {"flat": faiss.IndexFlat, "hnsw": faiss.IndexHNSWFlat, "ivf": faiss.IndexIVFFlat}
    if not isinstance(index, built[kind]):
        raise DataError(path, f"a FAISS {type(index).__name__}, but the manifest says a "
                              f"{kind} index: {REBUILD}")
    if index.d != dim or index.ntotal != rows:
        raise DataError(path, f"a FAISS index of {index.ntotal} vectors of {index.d} dims, but "
                              f"the manifest says {rows} {what} of {dim} dims (swapped with "
                              f"another index's file?): {REBUILD}")
    if index.metric_type != faiss.METRIC_INNER_PRODUCT:
        raise DataError(path, f"a FAISS index of another metric than inner product: {REBUILD}")
    return index


def check_finite(path: Path, chunks: Iterator[tuple[int, np.ndarray]], what: str) -> None:
    """DataError naming the first row with NaN or infinite values of the (start, rows)
    chunks of a file's vectors."""
    for start, rows in chunks:
        finite = np.isfinite(rows).all(axis=1)
        if not finite.all():
            row = start + int(np.argmin(finite))
            raise DataError(path, f"row {row} ({what} {row}) has NaN or infinite values: "
                                  f"{REBUILD}")


def _rows_per_chunk(dim: int) -> int:
    return max(1, CHUNK_BYTES // (4 * max(1, dim)))  # float32


def _row_chunks(emb: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    step = _rows_per_chunk(emb.shape[1])
    for start in range(0, emb.shape[0], step):
        yield start, emb[start : start + step]


def _faiss_chunks(index: Any) -> Iterator[tuple[int, np.ndarray]]:
    """The vectors a FAISS index holds, in chunks: read in place from a flat or HNSW
    index's flat storage, copied out of an IVF index (which needs its id map for that)."""
    faiss = import_faiss()
    step = _rows_per_chunk(index.d)
    flat = faiss.downcast_index(index.storage) if isinstance(index, faiss.IndexHNSW) else index
    if isinstance(flat, faiss.IndexFlat):
        stored = faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * flat.d)
        vectors = stored.reshape(flat.ntotal, flat.d)
        for start in range(0, flat.ntotal, step):
            yield start, vectors[start : start + step]
        return
    index.make_direct_map()
    for start in range(0, index.ntotal, step):
        yield start, index.reconstruct_n(start, min(step, index.ntotal - start))


def read_caption_graph(handle: Any, path: Path, offsets: np.ndarray, line: int,
                       caption: str) -> CaptionGraph:
    """The CaptionGraph of caption `line` from captions.jsonl (`handle`, opened "rb" at
    `path`): exactly the bytes between its offsets, one JSON record ending in a newline,
    the parse of `caption` (the split's text of that line). DataError naming the file and
    the line otherwise: the file or its offsets changed since the build."""
    start, end = int(offsets[line]), int(offsets[line + 1])
    handle.seek(start)
    raw = handle.read(end - start)
    try:
        if len(raw) != end - start or not raw.endswith(b"\n"):
            raise EOFError
        graph = CaptionGraph.from_json(json.loads(raw.decode("utf-8")))
    except (EOFError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataError(path, f"line {line + 1} (bytes {start}..{end}) does not parse "
                              f"({_why_unparsed(exc)}): the file or captions.offsets.npy "
                              f"changed since the build; {REBUILD}") from None
    if graph.text != clean(caption):
        raise DataError(path, f"line {line + 1} is the parse of another caption than line "
                              f"{line + 1} of the split's captions: {REBUILD}")
    return graph


def _why_unparsed(exc: Exception) -> str:
    if isinstance(exc, EOFError):
        return "not one whole line"
    if isinstance(exc, UnicodeDecodeError):  # (a ValueError, as JSONDecodeError is)
        return "not UTF-8"
    if isinstance(exc, json.JSONDecodeError):
        return "not JSON"
    return "not a caption's parse"


def check_fits_split(index_dir: Path, manifest: dict[str, Any], split: Any) -> None:
    """The manifest's counts must be the split's (the data folder it was checked against)."""
    ours = (manifest["num_images"], manifest["num_captions"], manifest["captions_per_image"])
    theirs = (split.num_images, split.num_captions, split.captions_per_image)
    if ours != theirs:
        raise DataError(index_dir / MANIFEST, f"{ours[0]} images and {ours[1]} captions, but "
                                              f"split '{split.split}' has {theirs[0]} and "
                                              f"{theirs[1]}: {REBUILD}")
    if manifest["has_ids"] != (split.ids is not None):
        raise DataError(index_dir / MANIFEST, f"has_ids does not match split '{split.split}' "
                                              f"of {split.data_dir}: {REBUILD}")


def image_rows_by_id(split: Any) -> dict[str, int] | None:
    """Image row of each id of a split with an ids file, else None. DataError naming the
    ids file when an id names two images: a search by id (`ssamt search --image`, the web
    app's links) could not tell which one is meant, so an index refuses such a split."""
    if split.ids is None:
        return None
    rows: dict[str, int] = {}
    repeated: list[tuple[str, int, int]] = []
    for row, image_id in enumerate(split.ids):
        key = str(image_id)
        if key in rows:
            repeated.append((key, rows[key], row))
        else:
            rows[key] = row
    if repeated:
        key, first, second = repeated[0]
        more = f" (and {len(repeated) - 1} more repeats)" if len(repeated) > 1 else ""
        raise DataError(split_paths(split.data_dir, split.split)["ids"],
                        f"id {key!r} is given to two images, rows {first} and {second} of "
                        f"split '{split.split}'{more}: each image needs its own id for `ssamt "
                        "search --image` and the web app to pick it; make the ids unique")
    return rows
