"""The precomp split format of SCAN / VSE++ / VSE-infinity / SGRAF (docs/DESIGN.md section 3).

A folder holds, per split (train, dev, test, testall):
  {split}_ims.npy    (N, R, D) float16/float32 region features (R=36, D=2048 in real data)
  {split}_caps.txt   one caption a line; the captions of an image on consecutive lines
  {split}_ids.txt    optional: one id per image (or per caption)
  {split}_boxes.npy  optional: (N, R, G) box geometry, G >= 4 (normalized x1, y1, x2, y2, ...)

Features are memory-mapped and never read whole: COCO's train features are 34 GB. The
number of captions per image is derived from the two counts, never the literal 5.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ssamt.data.captions import read_lines
from ssamt.data.npyfile import open_npy, read_rows
from ssamt.errors import DataError

SPLITS: tuple[str, ...] = ("train", "dev", "test", "testall")


def split_paths(data_dir: str | Path, split: str) -> dict[str, Path]:
    """The file paths of one split (whether or not they exist)."""
    data_dir = Path(data_dir)
    return {
        "ims": data_dir / f"{split}_ims.npy",
        "caps": data_dir / f"{split}_caps.txt",
        "ids": data_dir / f"{split}_ids.txt",
        "boxes": data_dir / f"{split}_boxes.npy",
    }


@dataclass(frozen=True)
class PrecompSplit:
    """One split: memory-mapped features plus captions.

    rows: (N,) int64, the row of each image of this split in the features file; a
    subset keeps the base memmap and only changes `rows`, so it copies no features.
    """

    data_dir: Path
    split: str
    base_images: np.ndarray  # (N_file, R, D) memmap
    base_boxes: np.ndarray | None  # (N_file, R, G) memmap or None
    rows: np.ndarray  # (N,) int64
    captions: list[str]
    captions_per_image: int
    ids: list[str] | None  # one per image of this split, or None

    def __reduce__(self):
        # Pickle (DataLoader workers, DDP spawn) by reopening the files: pickling the
        # memmaps themselves would copy every feature into the pickle.
        return (_reopen, (self.data_dir, self.split, self.rows, self.captions,
                          self.captions_per_image, self.ids))

    # ---- sizes -------------------------------------------------------------------------
    @property
    def num_images(self) -> int:
        return int(self.rows.shape[0])

    @property
    def num_captions(self) -> int:
        return len(self.captions)

    @property
    def num_regions(self) -> int:
        return int(self.base_images.shape[1])

    @property
    def feature_dim(self) -> int:
        return int(self.base_images.shape[2])

    @property
    def images_path(self) -> Path:
        return split_paths(self.data_dir, self.split)["ims"]

    @property
    def boxes_path(self) -> Path:
        return split_paths(self.data_dir, self.split)["boxes"]

    @cached_property
    def caption_image(self) -> np.ndarray:
        """(num_captions,) int64: the image index (within this split) of each caption."""
        # Cached and shared (writable, so torch.from_numpy takes it without a warning):
        # callers must not modify it.
        return np.repeat(np.arange(self.num_images, dtype=np.int64), self.captions_per_image)

    def image_captions(self, i: int) -> list[str]:
        k = self.captions_per_image
        return self.captions[i * k : (i + 1) * k]

    # ---- arrays ------------------------------------------------------------------------
    @cached_property  # (computed once: checking the rows is O(N))
    def images(self) -> np.ndarray | RowView:
        """(N, R, D) features of this split; a memmap (view) unless a non-contiguous subset."""
        return _view(self.base_images, self.rows)

    @cached_property
    def boxes(self) -> np.ndarray | RowView | None:
        """(N, R, G) box geometry, or None."""
        return None if self.base_boxes is None else _view(self.base_boxes, self.rows)

    def read_images(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """(B, R, D) float32 copy of the features of images `indices` (only those rows read)."""
        return _gather(self.base_images, self.rows[np.asarray(indices, dtype=np.int64)])

    def read_boxes(self, indices: Sequence[int] | np.ndarray) -> np.ndarray | None:
        if self.base_boxes is None:
            return None
        return _gather(self.base_boxes, self.rows[np.asarray(indices, dtype=np.int64)])

    # ---- folds and validation ----------------------------------------------------------
    def subset(self, image_indices: Sequence[int] | np.ndarray | range) -> PrecompSplit:
        """The images `image_indices` (of this split) with their captions; no feature copy.

        COCO 1K: `split.subset(range(f * 1000, (f + 1) * 1000))` for folds f = 0..4 of testall.
        """
        idx = np.asarray(image_indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.num_images):
            raise IndexError(
                f"subset indices out of range 0..{self.num_images - 1} for {self.split}"
            )
        k = self.captions_per_image
        captions = [c for i in idx.tolist() for c in self.captions[i * k : (i + 1) * k]]
        ids = None if self.ids is None else [self.ids[i] for i in idx.tolist()]
        return PrecompSplit(
            self.data_dir, self.split, self.base_images, self.base_boxes,
            self.rows[idx], captions, k, ids,
        )

    def check_finite(self, chunk: int = 1024, progress: bool = False) -> None:
        """Stream through the features (and boxes) in chunks of images; DataError at the
        first NaN or infinite value, naming the file and image index. Memory stays at one
        chunk, so this is usable on the 34 GB COCO file."""
        arrays = [(self.images_path, self.base_images)]
        if self.base_boxes is not None:
            arrays.append((self.boxes_path, self.base_boxes))
        for path, array in arrays:
            starts = range(0, self.num_images, chunk)
            if progress:

                starts = tqdm(starts, desc=f"check {path.name}", unit="chunk")
            for start in starts:
                rows = self.rows[start : start + chunk]
                check_finite_rows(path, _gather(array, rows), rows)


class RowView:
    """Read-only rows `rows` of a memmap, without copying them until indexed."""

    def __init__(self, base: np.ndarray, rows: np.ndarray) -> None:
        self._base = base
        self._rows = rows

    @property
    def shape(self) -> tuple[int, ...]:
        return (int(self._rows.shape[0]), *self._base.shape[1:])

    @property
    def dtype(self) -> np.dtype:
        return self._base.dtype

    @property
    def ndim(self) -> int:
        return self._base.ndim

    def __len__(self) -> int:
        return int(self._rows.shape[0])

    def __getitem__(self, key):
        # First axis through `rows`, the rest applied to the rows read.
        first, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        out = self._base[self._rows[first]]
        if not rest:
            return out
        return out[rest] if _is_int(first) else out[(slice(None), *rest)]

    def __array__(self, dtype=None, copy=None):
        out = self._base[self._rows]
        return out if dtype is None else out.astype(dtype)


def _is_int(key) -> bool:
    return isinstance(key, (int, np.integer))


def _view(base: np.ndarray, rows: np.ndarray) -> np.ndarray | RowView:
    """A slice of the memmap when rows are consecutive (no copy), else a RowView."""
    n = rows.shape[0]
    if n == 0:
        return base[:0]
    start = int(rows[0])
    if np.array_equal(rows, np.arange(start, start + n)):
        return base[start : start + n]
    return RowView(base, rows)


def _gather(base: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(B, ...) float32 copy of `base[rows]`, reading only those rows from disk
    (with pread, not through the mapping: see npyfile.read_rows)."""
    return read_rows(base, rows).astype(np.float32, copy=False)


def check_finite_rows(path: Path, array: np.ndarray, rows: np.ndarray) -> None:
    """DataError naming `path` and the file's image index if `array` (B, ...) has NaN/inf."""
    finite = np.isfinite(array.reshape(array.shape[0], -1)).all(axis=1)
    if not finite.all():
        bad = int(rows[int(np.argmin(finite))])
        raise DataError(path, f"image {bad} has NaN or infinite values")


def open_split(data_dir: str | Path, split: str) -> PrecompSplit:
    """Open one precomp split, checking the files against each other (see module doc)."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(data_dir, "data folder not found")
    paths = split_paths(data_dir, split)
    for key in ("ims", "caps"):
        if not paths[key].exists():
            raise DataError(paths[key], f"missing: split '{split}' needs {paths[key].name}"
                            f" (found splits: {', '.join(available_splits(data_dir)) or 'none'})")
    images = open_npy(paths["ims"], ndim=3, what="region features (N, R, D)")
    n = int(images.shape[0])
    if n == 0:
        raise DataError(paths["ims"], "has no images")
    captions = read_lines(paths["caps"], what="caption")
    k = _captions_per_image(paths["caps"], len(captions), n)
    boxes = _open_boxes(paths["boxes"], images.shape) if paths["boxes"].exists() else None
    ids = _read_ids(paths["ids"], n, k) if paths["ids"].exists() else None
    return PrecompSplit(data_dir, split, images, boxes, np.arange(n, dtype=np.int64),
                        captions, k, ids)


def _reopen(data_dir: Path, split: str, rows: np.ndarray, captions: list[str], k: int,
            ids: list[str] | None) -> PrecompSplit:
    paths = split_paths(data_dir, split)
    images = open_npy(paths["ims"], ndim=3, what="region features (N, R, D)")
    boxes = _open_boxes(paths["boxes"], images.shape) if paths["boxes"].exists() else None
    return PrecompSplit(data_dir, split, images, boxes, rows, captions, k, ids)


def available_splits(data_dir: str | Path) -> list[str]:
    """The splits of SPLITS whose features and captions both exist in `data_dir`."""
    out = []
    for split in SPLITS:
        paths = split_paths(data_dir, split)
        if paths["ims"].exists() and paths["caps"].exists():
            out.append(split)
    return out


def _captions_per_image(path: Path, num_captions: int, num_images: int) -> int:
    if num_captions == 0:
        raise DataError(path, "has no captions")
    if num_captions % num_images:
        raise DataError(
            path,
            f"{num_captions} captions is not a multiple of the {num_images} images in the "
            "features file (each image needs the same number of consecutive captions)",
        )
    return num_captions // num_images


def _open_boxes(path: Path, image_shape: tuple[int, ...]) -> np.ndarray:
    boxes = open_npy(path, ndim=3, what="box geometry (N, R, G)")
    if tuple(boxes.shape[:2]) != tuple(image_shape[:2]):
        raise DataError(
            path, f"shape {tuple(boxes.shape)} does not match the features' (N, R) = "
            f"{tuple(image_shape[:2])}"
        )
    if boxes.shape[2] < 4:
        raise DataError(path, f"needs at least 4 values per box (x1, y1, x2, y2), got "
                              f"{boxes.shape[2]}")
    return boxes


def _read_ids(path: Path, num_images: int, k: int) -> list[str]:
    ids = [line.strip() for line in read_lines(path, what="id")]
    if len(ids) == num_images:
        return ids
    if len(ids) == num_images * k:
        return ids[::k]  # some releases list the image id once per caption
    raise DataError(path, f"{len(ids)} ids, expected one per image ({num_images}) or "
                          f"per caption ({num_images * k})")
