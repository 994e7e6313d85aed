"""Write one precomp split image by image, in memory flat in the number of images (but for
each image's caption count, 4 bytes).

The .npy headers hold the image count, which a stream does not know until its end: each
array file starts with a header padded to a fixed 128 bytes, rewritten with the real shape
when the split is closed. Files are written under temporary names and renamed on close, so
an interrupted import never leaves a split that looks complete.

A folder that already has the split (any of its files, ssamt.data.split_files) is written
only with `overwrite`: then the precomp files are replaced and every other file made from
the old split is removed, so nothing is left describing other images. `check_split_target`
says before any work whether a split may be written, and that no input of the writer (a
captions file, a TSV, the photo folder) is one of the files it writes or removes.

Ids are read back one a line, stripped (ssamt.data.precomp): an id that would not read back
as itself (`id_problem`: a newline or other control character, bytes that are not UTF-8,
white space at an end) is never written. Each image keeps as many captions as the image
with the fewest among those written, counted when the split is closed.
"""

from __future__ import annotations

import contextlib
import os
from array import array
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ssamt.data.captions import read_lines
from ssamt.data.precomp import split_paths
from ssamt.data.split_files import made_from_split
from ssamt.errors import DataError, OutputError
from ssamt.fileio import AnyPath, check_not_input, check_output
from ssamt.text import control_character, printable, utf8_problem

if TYPE_CHECKING:  # typing.Self is Python 3.11+; annotations are never evaluated here
    from typing_extensions import Self

_HEADER_BYTES = 128  # magic (6) + version (2) + length (2) + dict padded with spaces


def npy_header(shape: tuple[int, ...], dtype: np.dtype) -> bytes:
    """A version 1.0 .npy header of exactly _HEADER_BYTES bytes."""
    text = repr({"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                 "fortran_order": False, "shape": tuple(shape)})
    body_len = _HEADER_BYTES - 10
    if len(text) + 1 > body_len:
        raise ValueError(f"shape {shape} does not fit a {_HEADER_BYTES}-byte header")
    body = text.ljust(body_len - 1) + "\n"
    return b"\x93NUMPY\x01\x00" + body_len.to_bytes(2, "little") + body.encode("latin1")


def id_problem(image_id: str) -> str | None:
    """What keeps `image_id` from being a line of {split}_ids.txt that reads back as itself,
    as words that follow the id ("holds a control character (\\n)"), or None."""
    problem = utf8_problem(image_id)
    if problem is not None:
        return f"is {problem}"
    control = control_character(image_id)
    if control is not None:
        return f"holds a control character ({control})"
    if not image_id.strip():
        return "is empty"
    if image_id != image_id.strip():
        return "starts or ends with white space"
    return None


def check_split_target(data_dir: str | Path, split: str, *,
                       reads: Iterable[AnyPath | None] = (),
                       read_folders: Iterable[AnyPath | None] = (),
                       overwrite: bool = False) -> None:
    """OutputError, before anything is written or deleted, unless split `split` may be
    written into `data_dir`: none of the writer's inputs (`reads`: files; `read_folders`:
    folders read whole) is a file it would write or remove, or holds one; the precomp
    files can be written; and the folder has no file of that split, or `overwrite`."""
    reads, read_folders = list(reads), list(read_folders)
    written = list(split_paths(data_dir, split).values())
    removed = made_from_split(data_dir, split)
    for path in [*written, *removed]:
        check_not_input(path, reads, read_folders)
    for path in written:
        check_output(path)
    existing = [p.name for p in [*written, *removed]
                if p.parent == Path(data_dir) and os.path.lexists(p)]
    if existing and not overwrite:
        shown = ", ".join(existing[:4]) + (f" and {len(existing) - 4} more"
                                           if len(existing) > 4 else "")
        raise OutputError(data_dir, f"already has split '{split}' ({shown}); pass --overwrite "
                                    "to replace it and remove the files made from it")


class PrecompWriter:
    """Append images (features (R, D), normalized boxes (R, 4), id, captions) to a split.

    Every image must have the same R and D (the precomp format's rule); each gives all its
    captions, and keeps as many as the image with the fewest (close()). Captions may be
    omitted for all images (then no {split}_caps.txt is written).
    """

    def __init__(self, data_dir: str | Path, split: str, dtype: str = "float32",
                 overwrite: bool = False) -> None:
        self.dir = Path(data_dir)
        check_split_target(self.dir, split, overwrite=overwrite)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.split, self.dtype = split, np.dtype(dtype)
        self.paths = split_paths(self.dir, split)
        self.tmp = {k: p.with_name(f".{p.name}.tmp-{os.getpid()}")
                    for k, p in self.paths.items()}
        self.tmp["kept"] = self.tmp["caps"].with_name(self.tmp["caps"].name + "-kept")
        # Held open across add() calls and closed by close() / abort(): no `with` fits.
        self.ims = open(self.tmp["ims"], "wb")  # noqa: SIM115
        self.boxes = open(self.tmp["boxes"], "wb")  # noqa: SIM115
        self.ids = open(self.tmp["ids"], "w", encoding="utf-8")  # noqa: SIM115
        self.caps = open(self.tmp["caps"], "w", encoding="utf-8")  # noqa: SIM115
        for handle in (self.ims, self.boxes):
            handle.write(b"\0" * _HEADER_BYTES)
        self.count = 0
        self.shape: tuple[int, int] | None = None
        self.per_image: int | None = None  # known when closed
        self.captions_dropped = 0
        self.caption_counts = array("I")

    def add(self, image_id: str, features: np.ndarray, boxes: np.ndarray,
            captions: Sequence[str] = ()) -> None:
        """features (R, D), boxes (R, 4) as x1, y1, x2, y2 in [0, 1] of the image size;
        all the image's captions. DataError for an id that would not read back as itself."""
        problem = id_problem(image_id)
        if problem is not None:
            raise DataError(self.paths["ids"], f"image id '{printable(image_id)}' {problem}: "
                                               "ids are read back one a line")
        if self.shape is None:
            self.shape = tuple(features.shape)
        if tuple(features.shape) != self.shape or boxes.shape != (self.shape[0], 4):
            raise ValueError(f"image {image_id}: features {features.shape} / boxes "
                             f"{boxes.shape}, expected {self.shape} / ({self.shape[0]}, 4)")
        if self.caption_counts and (not captions) != (not self.caption_counts[0]):
            raise ValueError(f"image {image_id}: {len(captions)} captions; the images of a "
                             "split have captions all or none")
        self.ims.write(np.ascontiguousarray(features, dtype=self.dtype).tobytes())
        self.boxes.write(np.ascontiguousarray(boxes, dtype=np.float32).tobytes())
        self.ids.write(f"{image_id}\n")
        # split/join: a caption is one line whatever white space it held (\r, \u2028, ...)
        self.caps.writelines(" ".join(c.split()) + "\n" for c in captions)
        self.caption_counts.append(len(captions))
        self.count += 1

    def _keep_first_captions(self, k: int) -> None:
        """Rewrite the captions file with the first k captions of each image."""
        with open(self.tmp["caps"], encoding="utf-8", newline="\n") as source, \
                open(self.tmp["kept"], "w", encoding="utf-8", newline="\n") as kept:
            for count in self.caption_counts:
                for c in range(count):
                    line = source.readline()
                    if c < k:
                        kept.write(line)
        os.replace(self.tmp["kept"], self.tmp["caps"])

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        """An error inside `with` removes the partial files (close() was never reached)."""
        if exc_type is not None:
            self.abort()

    def close(self) -> int:
        """Finish the headers and put the files in place; returns the image count."""
        if self.count == 0:
            self.abort()
            raise DataError(self.dir, "no image to write")
        r, d = self.shape
        for handle, shape, dtype in ((self.ims, (self.count, r, d), self.dtype),
                                     (self.boxes, (self.count, r, 4), np.float32)):
            handle.seek(0)
            handle.write(npy_header(shape, dtype))
        for handle in (self.ims, self.boxes, self.ids, self.caps):
            handle.close()
        self.per_image = min(self.caption_counts)
        self.captions_dropped = sum(self.caption_counts) - self.per_image * self.count
        if self.captions_dropped:
            self._keep_first_captions(self.per_image)
        keys = ["ims", "boxes", "ids"] + (["caps"] if self.per_image else [])
        if not self.per_image:
            os.unlink(self.tmp["caps"])
        # A replaced split keeps nothing of the old one: stale captions, scenes, minimal
        # pairs, label caches or a photo folder would describe other images. Removed first,
        # so an interruption leaves the old split without them, never the new one with them.
        stale = [*made_from_split(self.dir, self.split),
                 *([] if self.per_image else [self.paths["caps"]])]
        for path in stale:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        for key in keys:
            os.replace(self.tmp[key], self.paths[key])
        return self.count

    def abort(self) -> None:
        for handle in (self.ims, self.boxes, self.ids, self.caps):
            handle.close()
        for path in self.tmp.values():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def read_caption_table(path: str | Path) -> dict[str, list[str]]:
    """Captions by image id from a file of `image_id<TAB>caption` lines (blank lines and
    lines starting with # skipped), in file order; read as every text file is
    (ssamt.fileio.read_text: a byte-order mark before the first id is dropped)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "captions file not found")
    table: dict[str, list[str]] = {}
    for n, line in enumerate(read_lines(path, allow_empty=True), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        image_id, sep, caption = line.partition("\t")
        if not sep or not image_id.strip() or not caption.strip():
            raise DataError(path, f"line {n}: expected 'image_id<TAB>caption'")
        table.setdefault(image_id.strip(), []).append(caption.strip())
    if not table:
        raise DataError(path, "has no captions")
    return table
