"""The identity of a dataset split: which data a run was trained on, and whether a gallery
changed since its index was built.

A fingerprint hashes what makes two splits different for a model: every caption and image
id, which images a subset keeps, and the feature and box files: their headers (shape and
dtype), their sizes and fixed blocks sampled across the whole file (SAMPLED_BLOCKS of
BLOCK_BYTES, evenly spaced, the first and last included; a file smaller than that is hashed
whole). So a rewrite anywhere in a feature file is very likely caught, at the cost of a few
MiB of reads for COCO's 34 GB; hashing its 590K captions takes about a second.

It is stored in checkpoints, run folders, reports and index manifests, and compared on
resume, on a phase-2-only run, when an analysis reuses a run and when a search opens an
index. Fingerprints written by earlier versions (headers only, "sha256:" without a version)
are compared in their own terms (fingerprint_matches).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ssamt.data.precomp import PrecompSplit, open_split

VERSION = "sha256-2:"
LEGACY = "sha256:"
SAMPLED_BLOCKS = 64
BLOCK_BYTES = 1 << 16


def sampled_file_digest(path: Path) -> str:
    """sha256 of the size and SAMPLED_BLOCKS evenly spaced blocks of a file (all of it when
    small): the same blocks every time, so equal files give equal digests."""
    size = path.stat().st_size
    digest = hashlib.sha256(f"{size}\n".encode())
    with open(path, "rb") as handle:
        if size <= SAMPLED_BLOCKS * BLOCK_BYTES:
            digest.update(handle.read())
            return digest.hexdigest()
        last = size - BLOCK_BYTES
        for i in range(SAMPLED_BLOCKS):
            handle.seek(i * last // (SAMPLED_BLOCKS - 1))
            digest.update(handle.read(BLOCK_BYTES))
    return digest.hexdigest()


def _update_arrays(digest, split: PrecompSplit, values: bool) -> None:
    images, boxes = split.base_images, split.base_boxes
    digest.update(f"ims {tuple(images.shape)} {images.dtype.str}\n".encode())
    digest.update(f"boxes {None if boxes is None else (tuple(boxes.shape), boxes.dtype.str)}\n"
                  .encode())
    if values:
        digest.update(f"ims values {sampled_file_digest(split.images_path)}\n".encode())
        if boxes is not None:
            digest.update(f"boxes values {sampled_file_digest(split.boxes_path)}\n".encode())


def _fingerprint(split: PrecompSplit, legacy: bool) -> str:
    digest = hashlib.sha256(b"ssamt-data/1\n" if legacy else b"ssamt-data/2\n")
    _update_arrays(digest, split, values=not legacy)
    digest.update(f"k {split.captions_per_image}\n".encode())
    rows = np.asarray(split.rows, dtype=np.int64)
    if len(rows) != split.base_images.shape[0] or not np.array_equal(rows, np.arange(len(rows))):
        digest.update(b"rows ")
        digest.update(rows.tobytes())
    for caption in split.captions:
        digest.update(caption.encode("utf-8", "surrogatepass"))
        digest.update(b"\n")
    if not legacy:
        digest.update(f"ids {split.ids is not None}\n".encode())
        for image_id in split.ids or ():
            digest.update(str(image_id).encode("utf-8", "surrogatepass") + b"\n")
    return (LEGACY if legacy else VERSION) + digest.hexdigest()[:16]


def split_fingerprint(split: PrecompSplit) -> str:
    """'sha256-2:<16 hex>' of a PrecompSplit (or a subset of one), module docstring."""
    return _fingerprint(split, legacy=False)


def data_fingerprint(data_dir: str | Path, split: str = "train") -> str:
    """The fingerprint of `split` of a precomp folder (DataError if it cannot be read)."""
    return split_fingerprint(open_split(data_dir, split))


def fingerprint_matches(stored: str, split: PrecompSplit) -> bool:
    """Whether a stored fingerprint is this split's, in the version it was written in."""
    return _fingerprint(split, legacy=stored.startswith(LEGACY)) == stored
