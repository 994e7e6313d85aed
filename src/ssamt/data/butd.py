"""Read bottom-up-attention TSV files (Anderson et al.'s generate_tsv.py) one record at a time.

Each line: image_id, image_w, image_h, num_boxes, boxes, features; boxes and features are
base64 of float32 arrays (num_boxes, 4) in pixels (x1, y1, x2, y2) and (num_boxes, D). A
COCO file is over 20 GB, so records are decoded one at a time and never collected. Lines are
UTF-8 (an image id may be any text; ssamt.text.decode_line), a bad byte named by its line.
"""

from __future__ import annotations

import base64
import binascii
import csv
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ssamt.errors import DataError
from ssamt.text import decode_line

FIELDS = ("image_id", "image_w", "image_h", "num_boxes", "boxes", "features")


@dataclass(frozen=True)
class ButdRecord:
    """One image: features (num_boxes, D) float32, boxes (num_boxes, 4) in pixels; line: the
    record's first line in its file, for errors."""

    image_id: str
    width: int
    height: int
    features: np.ndarray
    boxes: np.ndarray
    line: int = 0

    def normalized_boxes(self) -> np.ndarray:
        """(num_boxes, 4) x1, y1, x2, y2 divided by the image size, clipped to [0, 1]."""
        scale = np.array([self.width, self.height, self.width, self.height], np.float32)
        return np.clip(self.boxes / scale, 0.0, 1.0)


def _array(path: Path, n: int, field: str, text: str, rows: int,
           cols: int | None = None) -> np.ndarray:
    """(rows, cols) float32 from base64; cols None = whatever the size gives."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise DataError(path, f"line {n}: {field} is not base64") from None
    if cols is not None and len(raw) != 4 * rows * cols:
        raise DataError(path, f"line {n}: {field} holds {len(raw)} bytes, expected {rows} x "
                              f"{cols} float32 ({4 * rows * cols})")
    if not raw or len(raw) % (4 * rows):
        raise DataError(path, f"line {n}: {field} holds {len(raw)} bytes, not {rows} rows "
                              "of float32")
    return np.frombuffer(raw, dtype=np.float32).reshape(rows, -1)


def _record(path: Path, n: int, row: list[str]) -> ButdRecord:
    if len(row) != len(FIELDS):
        raise DataError(path, f"line {n}: {len(row)} fields, expected {len(FIELDS)} "
                              f"({', '.join(FIELDS)})")
    try:
        width, height, num = int(row[1]), int(row[2]), int(row[3])
    except ValueError:
        raise DataError(path, f"line {n}: image_w, image_h and num_boxes must be "
                              "integers") from None
    if width <= 0 or height <= 0 or num <= 0:
        raise DataError(path, f"line {n}: image_w, image_h and num_boxes must be > 0")
    boxes = _array(path, n, "boxes", row[4], num, cols=4)
    features = _array(path, n, "features", row[5], num)
    if not (np.isfinite(features).all() and np.isfinite(boxes).all()):
        raise DataError(path, f"line {n}: NaN or infinite values (image {row[0]})")
    return ButdRecord(row[0].strip(), width, height, features, boxes, n)


def read_butd(path: str | Path) -> Iterator[ButdRecord]:
    """The records of one TSV file, in file order."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "TSV file not found")
    csv.field_size_limit(sys.maxsize)  # a feature field is ~100 KB of base64
    with open(path, "rb") as handle:
        # Decoded line by line: a byte that is not UTF-8 is named by its own line.
        lines = (decode_line(raw, path, n) for n, raw in enumerate(handle, start=1))
        reader = csv.reader(lines, delimiter="\t")
        while True:
            n = reader.line_num + 1  # the record's first line (a quoted field may span more)
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise DataError(path, f"line {n}: not a TSV record ({exc})") from None
            if row:
                yield _record(path, n, row)
