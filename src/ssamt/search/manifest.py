"""The manifest of an index folder: what it was built from, so a search can refuse a
checkpoint or data folder that changed since (never rank with stale embeddings), and the
size and checksum of each file the build wrote, so it can refuse a file changed since.

The checks are cheap on purpose (a search opens them every time): the checkpoint file is
hashed whole (tens of MB), the data split by its fingerprint (ssamt.data.fingerprint:
captions and ids whole, feature and box files by header, size and blocks sampled across
them), the index's own files by their size and `sampled_file_digest` (whole below 4 MiB,
64 sampled blocks above: a few MiB of reads for the GBs of a 100,000-image index).

The manifest is checked field by field when it is read: a path that is null or a count
that is a string would otherwise surface as a TypeError deep inside a search. Its
`format` string is the folder's signature: `ssamt index` replaces only a folder that
carries it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any

from ssamt.data.fingerprint import sampled_file_digest
from ssamt.errors import DataError
from ssamt.search.ann import KINDS

FORMAT_PREFIX = "ssamt-index/"
VERSION = 2  # 2: the manifest records each file's size and checksum (1 did not)
FORMAT = f"{FORMAT_PREFIX}{VERSION}"
MANIFEST = "manifest.json"
# The files `ssamt index` writes beside the manifest (thumbs/ is checked by the picture
# loader instead, file by file: ssamt.render.pictures).
INDEX_FILES = ("images.npy", "captions.npy", "images.faiss", "captions.faiss",
               "captions.jsonl", "captions.offsets.npy")
THUMBS = "thumbs"
REBUILD = "rebuild the index with `ssamt index`"

# The JSON type of each manifest field: (python types, how a message names it).
_TEXT = ((str,), "a string")
_PATH = ((str,), "a string (a path)")
_COUNT = ((int,), "a whole number")
_FLAG = ((bool,), "true or false")
_OBJECT = ((dict,), "an object")
_NUMBER = ((int, float), "a number")
FIELDS: dict[str, tuple[tuple[type, ...], str]] = {
    "format": _TEXT, "checkpoint": _PATH, "checkpoint_sha256": _TEXT, "data": _PATH,
    "split": _TEXT, "data_fingerprint": _TEXT, "num_images": _COUNT, "num_captions": _COUNT,
    "captions_per_image": _COUNT, "dim": _COUNT, "has_ids": _FLAG, "kind": _TEXT,
    "thumbnails": _COUNT, "options": _OBJECT, "recall": _OBJECT, "max_tokens": _COUNT,
    "seconds": _NUMBER, "files": _OBJECT}
FILE_FIELDS: dict[str, tuple[tuple[type, ...], str]] = {"bytes": _COUNT, "sampled_sha256": _TEXT}
_HEX64 = re.compile(r"[0-9a-f]{64}")


def file_sha256(path: str | Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def file_record(path: Path) -> dict[str, Any]:
    """What the manifest records of an index file: its size and sampled checksum."""
    return {"bytes": path.stat().st_size, "sampled_sha256": sampled_file_digest(path)}


def read_manifest(index_dir: str | Path) -> dict[str, Any]:
    """The manifest of an index folder, every field of the type it must have; DataError
    naming the folder when it is not an index, or the manifest when it is damaged or was
    written by another version."""
    index_dir = Path(index_dir)
    path = index_dir / MANIFEST
    if not index_dir.is_dir():
        raise DataError(index_dir, "index folder not found (build one with `ssamt index`)")
    if not path.is_file():
        raise DataError(index_dir, f"not an ssamt index: no {MANIFEST} (build one with "
                                   "`ssamt index`)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(path, f"unreadable manifest: {exc}: {REBUILD}") from None
    check_manifest(path, manifest)
    return manifest


def is_index_folder(folder: Path) -> bool:
    """Whether `folder` carries an index's signature: a manifest whose format is an ssamt
    index's, of this version or an earlier one (which a rebuild may replace)."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(manifest, dict) and _format_version(manifest.get("format")) is not None


def _format_version(value: Any) -> int | None:
    """N of 'ssamt-index/N', else None."""
    if not isinstance(value, str) or not value.startswith(FORMAT_PREFIX):
        return None
    number = value[len(FORMAT_PREFIX):]
    return int(number) if number.isdigit() else None


def check_manifest(path: Path, manifest: Any) -> None:
    """DataError naming the manifest unless it is this version's, with every field (and
    every file's record) of its type and in its range."""
    version = _format_version(manifest.get("format")) if isinstance(manifest, dict) else None
    if version is None:
        raise DataError(path, f"not an ssamt index manifest (format {FORMAT} expected)")
    if version < VERSION:
        raise DataError(path, f"built by an earlier ssamt ({manifest['format']}), which "
                              "recorded no file sizes or checksums to check the index by: "
                              f"{REBUILD}")
    if version > VERSION:
        raise DataError(path, f"built by a newer ssamt ({manifest['format']}; this one reads "
                              f"{FORMAT}): upgrade ssamt, or {REBUILD}")
    missing = [key for key in FIELDS if key not in manifest]
    if missing:
        raise DataError(path, f"manifest lacks {', '.join(missing)}: {REBUILD}")
    for key, kind in FIELDS.items():
        _check_type(path, f"field {key!r}", manifest[key], kind)
    _check_values(path, manifest)
    _check_file_records(path, manifest["files"])


def _check_type(path: Path, what: str, value: Any, kind: tuple[tuple[type, ...], str]) -> None:
    types, expected = kind
    # bool is an int in Python, but `true` is no count; NaN and inf are no JSON numbers
    wrong = (not isinstance(value, types) or (isinstance(value, bool) and bool not in types)
             or (isinstance(value, float) and not math.isfinite(value))
             or (isinstance(value, str) and not value.strip()))
    if wrong:
        raise DataError(path, f"{what} must be {expected}, not {_json_kind(value)}: {REBUILD}")


def _json_kind(value: Any) -> str:
    """How a JSON value reads in a message: null, true, a number, a list, ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return "an empty string" if not value.strip() else "a string"
    return "a list" if isinstance(value, list) else "an object"


def _check_values(path: Path, m: dict[str, Any]) -> None:
    """The ranges the counts and names must be in, and the counts' agreement."""
    problems = []
    for key in ("num_images", "captions_per_image", "dim"):
        if m[key] < 1:
            problems.append(f"{key} is {m[key]} (at least 1)")
    for key in ("thumbnails", "max_tokens"):
        if m[key] < 0:
            problems.append(f"{key} is {m[key]} (at least 0)")
    if m["num_captions"] != m["num_images"] * m["captions_per_image"]:
        problems.append(f"num_captions {m['num_captions']} is not num_images "
                        f"{m['num_images']} x captions_per_image {m['captions_per_image']}")
    if m["kind"] not in KINDS:
        problems.append(f"kind {m['kind']!r} is none of {', '.join(KINDS)}")
    if not _HEX64.fullmatch(m["checkpoint_sha256"]):
        problems.append("checkpoint_sha256 is not a sha256 (64 hex digits)")
    for key, value in m["recall"].items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not 0 <= value <= 1:
            problems.append(f"recall {key!r} is not a number in 0..1")
    if problems:
        raise DataError(path, f"manifest damaged: {problems[0]}: {REBUILD}")


def _check_file_records(path: Path, files: dict[str, Any]) -> None:
    """One record per index file: {"bytes": size, "sampled_sha256": 64 hex digits}."""
    missing = [name for name in INDEX_FILES if name not in files]
    if missing:
        raise DataError(path, f"manifest records no size or checksum of {', '.join(missing)}"
                              f": {REBUILD}")
    for name in INDEX_FILES:
        record = files[name]
        _check_type(path, f"files[{name!r}]", record, _OBJECT)
        for key, kind in FILE_FIELDS.items():
            _check_type(path, f"files[{name!r}][{key!r}]", record.get(key), kind)
        if record["bytes"] < 0 or not _HEX64.fullmatch(record["sampled_sha256"]):
            raise DataError(path, f"manifest damaged: the record of {name} is not a size and "
                                  f"a sha256: {REBUILD}")
