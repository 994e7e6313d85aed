"""The manifest of an index folder: what it was built from, so a search can refuse a
checkpoint or data folder that changed since (never rank with stale embeddings).

Both checks are cheap on purpose (a search opens them every time): the checkpoint file is
hashed whole (tens of MB), the data split by its fingerprint (ssamt.data.fingerprint:
captions and ids whole, feature and box files by header, size and blocks sampled across
them).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ssamt.errors import DataError

FORMAT = "ssamt-index/1"
MANIFEST = "manifest.json"
REQUIRED = ("checkpoint", "checkpoint_sha256", "data", "split", "data_fingerprint",
            "num_images", "num_captions", "kind", "recall")


def file_sha256(path: str | Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(index_dir: str | Path) -> dict[str, Any]:
    """The manifest of an index folder; DataError naming the folder when it is not one."""
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
        raise DataError(path, f"unreadable manifest: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DataError(path, f"not an ssamt index manifest (format {FORMAT} expected)")
    missing = [key for key in REQUIRED if key not in manifest]
    if missing:
        raise DataError(path, f"manifest lacks {', '.join(missing)}: rebuild the index")
    return manifest
