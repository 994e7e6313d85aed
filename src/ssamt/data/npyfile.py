"""Open a .npy file as a memory map after checking its header against its size.

numpy's own errors for a truncated or corrupt file ("cannot reshape array of size ...",
"mmap length is greater than file size") do not say which file or what is wrong, so the
header is read and the expected byte count checked first (docs/DESIGN.md section 3: features
are memory-mapped, never read whole).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from numpy.lib import format as npformat

from ssamt.errors import DataError


def read_header(path: Path) -> tuple[tuple[int, ...], np.dtype, bool, int]:
    """(shape, dtype, fortran_order, data offset) of a .npy file, or DataError."""
    try:
        with open(path, "rb") as handle:
            try:
                version = npformat.read_magic(handle)
            except ValueError as exc:
                raise DataError(path, f"not a .npy file ({exc})") from None
            try:
                if version == (1, 0):
                    shape, fortran, dtype = npformat.read_array_header_1_0(handle)
                else:
                    shape, fortran, dtype = npformat.read_array_header_2_0(handle)
            except (ValueError, SyntaxError) as exc:
                raise DataError(path, f"corrupt .npy header ({exc})") from None
            offset = handle.tell()
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    return tuple(int(s) for s in shape), np.dtype(dtype), bool(fortran), offset


def open_npy(path: Path, *, ndim: int, what: str) -> np.memmap:
    """Memory-map a C-ordered float .npy file of `ndim` dimensions, read-only.

    Raises DataError naming the file when the file is missing, not a .npy file, has the
    wrong number of dimensions, a non-float dtype, or fewer (or more) bytes than its
    header promises (a truncated download or an interrupted write).
    """
    shape, dtype, fortran, offset = read_header(path)
    if len(shape) != ndim:
        raise DataError(path, f"{what} must be {ndim}-D, got shape {shape}")
    if dtype.kind != "f":
        raise DataError(path, f"{what} must be float16/float32/float64, got dtype {dtype}")
    if fortran:
        # A Fortran-ordered memmap would make every row read a strided gather.
        raise DataError(path, f"{what} is Fortran-ordered; re-save it in C order")
    expected = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = os.path.getsize(path)
    if actual < expected:
        raise DataError(
            path,
            f"truncated: header says shape {shape} {dtype} ({expected:,} bytes) "
            f"but the file has {actual:,} bytes",
        )
    if actual > expected:
        raise DataError(
            path, f"corrupt: {actual - expected:,} bytes beyond the {shape} {dtype} array"
        )
    if 0 in shape:
        return np.zeros(shape, dtype)  # numpy cannot mmap an empty array
    return np.load(path, mmap_mode="r")


# Buffers per preadv call; the kernel refuses more than IOV_MAX (1024 on Linux).
_MAX_IOV = 512


def read_rows(array: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(B, ...) copy of array[rows], in the array's dtype and in the order asked.

    For a memory-mapped .npy the rows are read with pread into a fresh buffer instead of
    through the mapping: pages touched through a mapping count in the process's resident
    memory until the kernel reclaims them, so one epoch over COCO's 34 GB memmap would
    show as tens of GB of RSS. Reads go in file order, consecutive rows in one call.
    """
    filename = getattr(array, "filename", None)
    if not isinstance(array, np.memmap) or filename is None or not hasattr(os, "preadv"):
        return np.asarray(array[rows])
    out = np.empty((rows.shape[0], *array.shape[1:]), array.dtype)
    if rows.shape[0] == 0:
        return out
    buf = out.reshape(rows.shape[0], -1).view(np.uint8)  # (B, row_bytes)
    row_bytes = buf.shape[1]
    order = np.argsort(rows, kind="stable")
    fd = os.open(filename, os.O_RDONLY)
    try:
        start = 0
        while start < len(order):
            # a run of consecutive file rows (also repeated rows are read separately)
            end = start + 1
            while (end < len(order) and end - start < _MAX_IOV
                   and rows[order[end]] == rows[order[end - 1]] + 1):
                end += 1
            targets = [memoryview(buf[p]) for p in order[start:end]]
            where = array.offset + int(rows[order[start]]) * row_bytes
            if os.preadv(fd, targets, where) != row_bytes * (end - start):
                raise DataError(filename, f"short read at image {int(rows[order[start]])} "
                                          "(was the file changed while open?)")
            start = end
    finally:
        os.close(fd)
    return out
