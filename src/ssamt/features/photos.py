"""Find and read the photos of a folder; a file that is not a readable image is reported,
never a traceback."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import torch

if TYPE_CHECKING:  # Pillow is optional (ssamt[features], ssamt[serve])
    from PIL.Image import Image as PILImage

SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
PHOTO_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "WEBP", "TIFF")  # Pillow's names for SUFFIXES


class PhotoError(Exception):
    """A file that cannot be used as a photo; the message says why in a few words."""


def list_photos(folder: Path) -> list[Path]:
    """Image files under `folder` (subfolders too, hidden ones skipped), sorted by path."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def photo_id(folder: Path, path: Path) -> str:
    """The id of a photo: its path under the folder, with / separators."""
    return path.relative_to(folder).as_posix()


def load_photo(path: Path, size: int) -> torch.Tensor:
    """(3, size, size) uint8 RGB, the photo (EXIF orientation applied) resized to a square.
    PhotoError when it cannot be read (not an image, truncated, too large)."""
    from PIL import Image  # optional dependency

    im = open_photo(path).resize((size, size), Image.BICUBIC)
    return torch.from_numpy(np.asarray(im, dtype=np.uint8).copy()).permute(2, 0, 1)


def open_photo(source: Path | BinaryIO, max_side: int | None = None) -> PILImage:
    """The photo as an RGB PIL image in memory, EXIF orientation applied. `max_side`: the
    size it will be shrunk to, so a JPEG is decoded at the smallest scale at least that
    large (a camera's photo becomes a thumbnail without decoding all its pixels). Only the
    formats of SUFFIXES are tried: a file merely named like a photo never reaches Pillow's
    other plugins (EPS, for one, runs Ghostscript). PhotoError when it cannot be read."""
    from PIL import Image, ImageOps  # optional dependency

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source, formats=PHOTO_FORMATS) as im:
                if max_side is not None:
                    im.draft("RGB", (max_side, max_side))
                return ImageOps.exif_transpose(im).convert("RGB")
    except Exception as exc:  # noqa: BLE001 (a decoder fed any bytes may fail any way)
        raise PhotoError(_reason(exc)) from None


def _reason(exc: BaseException) -> str:
    from PIL import Image, UnidentifiedImageError  # optional dependency

    if isinstance(exc, UnidentifiedImageError):
        return "not an image PIL can read"
    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return "too many pixels (refused as a decompression bomb)"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"cannot read ({first})"
