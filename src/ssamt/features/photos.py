"""Find and read the photos of a folder; a file that is not a readable image is reported,
never a traceback."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


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
    from PIL import Image, ImageOps  # optional dependency (ssamt[features])

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im = ImageOps.exif_transpose(im).convert("RGB")
                im = im.resize((size, size), Image.BICUBIC)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        raise PhotoError(_reason(exc)) from None
    return torch.from_numpy(np.asarray(im, dtype=np.uint8).copy()).permute(2, 0, 1)


def _reason(exc: BaseException) -> str:
    from PIL import Image, UnidentifiedImageError  # optional dependency (ssamt[features])

    if isinstance(exc, UnidentifiedImageError):
        return "not an image PIL can read"
    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return "too many pixels (refused as a decompression bomb)"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"cannot read ({first})"
