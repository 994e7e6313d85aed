"""The identity of a dataset split: which data a run was trained on.

A fingerprint hashes what makes two splits different for a model: every caption, the
feature and box file headers (shape and dtype, not the gigabytes of values) and, for a
subset, which images it keeps. It is stored in checkpoints, run folders and reports, and
compared on resume, on a phase-2-only run and when an analysis reuses a run, so a run is
never continued or reused on other data. Hashing COCO's 590K training captions takes
about a second.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

PREFIX = "sha256:"


def split_fingerprint(split) -> str:
    """'sha256:<16 hex>' of a PrecompSplit (or a subset of one)."""
    digest = hashlib.sha256(b"ssamt-data/1\n")
    images = split.base_images
    digest.update(f"ims {tuple(images.shape)} {images.dtype.str}\n".encode())
    boxes = split.base_boxes
    digest.update(f"boxes {None if boxes is None else (tuple(boxes.shape), boxes.dtype.str)}\n"
                  .encode())
    digest.update(f"k {split.captions_per_image}\n".encode())
    rows = np.asarray(split.rows, dtype=np.int64)
    if len(rows) != images.shape[0] or not np.array_equal(rows, np.arange(len(rows))):
        digest.update(b"rows ")
        digest.update(rows.tobytes())
    for caption in split.captions:
        digest.update(caption.encode("utf-8", "surrogatepass"))
        digest.update(b"\n")
    return PREFIX + digest.hexdigest()[:16]


def data_fingerprint(data_dir: str | Path, split: str = "train") -> str:
    """The fingerprint of `split` of a precomp folder (DataError if it cannot be read)."""
    from ssamt.data.precomp import open_split

    return split_fingerprint(open_split(data_dir, split))
