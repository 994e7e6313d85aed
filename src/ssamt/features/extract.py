"""A folder of photos -> a precomp split of grid region features (ssamt features).

Photos are read in sorted path order, in batches; one that cannot be read is skipped with
a line naming it. The split's ids are the photos' paths under the folder, and
{split}_photos.json records the folder, so pictures (and index thumbnails) can be found. A
photo whose path could not be a line of {split}_ids.txt that reads back as itself (a
newline or other control character, bytes that are not UTF-8, white space at an end:
ssamt.data.precomp_writer.id_problem) is skipped the same way, its line saying to rename it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ssamt.bounds import PHOTO_SIZE_MAX
from ssamt.data.precomp_writer import (
    PrecompWriter,
    check_split_target,
    id_problem,
    read_caption_table,
)
from ssamt.data.split_files import photos_manifest
from ssamt.errors import ConfigError, DataError
from ssamt.features.backbone import STRIDE, grid_boxes, load_backbone, region_features
from ssamt.features.photos import PhotoError, list_photos, load_photo, photo_id
from ssamt.fileio import write_json
from ssamt.text import printable


def check_sizes(size: int, grid: int) -> None:
    if not STRIDE <= size <= PHOTO_SIZE_MAX or size % STRIDE:
        raise ConfigError(f"--size must be a multiple of {STRIDE} from {STRIDE} to "
                          f"{PHOTO_SIZE_MAX}, got {size}")
    if not 1 <= grid <= size // STRIDE:
        raise ConfigError(f"--grid must be in 1..{size // STRIDE} for --size {size} (the "
                          "feature map is size / 32 cells wide)")


def _readable(paths: list[Path], folder: Path, size: int, warn: Callable[[str], None]):
    """(id, pixels (3, S, S)) of each readable photo; a line through `warn` for the rest."""
    for path in paths:
        try:
            yield photo_id(folder, path), load_photo(path, size)
        except PhotoError as exc:
            warn(f"skipped {printable(path)}: {exc}")


def _nameable(paths: list[Path], folder: Path, split: str,
              warn: Callable[[str], None]) -> list[Path]:
    """The photos whose ids (paths under `folder`) read back from {split}_ids.txt as
    themselves; a line through `warn` for each of the others."""
    kept = []
    for path in paths:
        problem = id_problem(photo_id(folder, path))
        if problem is None:
            kept.append(path)
        else:
            warn(f"skipped {printable(path)}: its name {problem}, and {split}_ids.txt holds "
                 "one id a line: rename the photo")
    return kept


def extract_features(images: str | Path, out: str | Path, *, split: str = "test",
                     captions: str | Path | None = None, size: int = 384, grid: int = 6,
                     batch_size: int = 8, device: str = "cpu", progress: bool = False,
                     warn: Callable[[str], None] | None = None,
                     overwrite: bool = False) -> dict[str, Any]:
    """Write split `split` of `out` from the photos under `images`; returns counts (photos,
    images, skipped, regions, captions: kept per image, captions_dropped). A split already
    in `out` is replaced only with `overwrite` (ssamt.data.precomp_writer)."""
    check_sizes(size, grid)
    warn = warn or (lambda line: print(line, file=sys.stderr))
    folder = Path(images)
    if not folder.is_dir():
        raise DataError(folder, "photo folder not found")
    # Before the backbone loads: the captions and the photos are never among the outputs.
    check_split_target(out, split, reads=[captions], read_folders=[folder],
                       overwrite=overwrite)
    found = list_photos(folder)
    if not found:
        raise DataError(folder, "holds no photos (.jpg, .png, ...)")
    paths = _nameable(found, folder, split, warn)
    unnamed = len(found) - len(paths)  # counted among the skipped, like unreadable ones
    table = read_caption_table(captions) if captions is not None else None
    if table is not None:
        missing = [p for p in paths if photo_id(folder, p) not in table]
        if missing:
            warn(f"skipped {len(missing)} photos without a caption in {printable(captions)} "
                 f"(e.g. {printable(photo_id(folder, missing[0]))})")
        paths = [p for p in paths if photo_id(folder, p) in table]
    model = load_backbone(device)
    boxes = grid_boxes(grid).numpy()
    stats = {"photos": len(paths) + unnamed, "images": 0, "skipped": 0,
             "regions": grid * grid, "captions": 0, "captions_dropped": 0}
    with PrecompWriter(out, split, overwrite=overwrite) as writer, \
            tqdm(total=len(paths), unit="photo", desc="features", disable=not progress) as bar:
        batch: list[tuple[str, torch.Tensor]] = []
        for item in _readable(paths, folder, size, warn):
            batch.append(item)
            if len(batch) == batch_size:
                _write(writer, model, batch, boxes, grid, table, device, bar)
                batch = []
        _write(writer, model, batch, boxes, grid, table, device, bar)
        if writer.count == 0:
            raise DataError(folder, "no photo could be read")
        stats["images"] = writer.close()
    stats["captions"], stats["captions_dropped"] = writer.per_image, writer.captions_dropped
    stats["skipped"] = stats["photos"] - stats["images"]
    write_json(photos_manifest(out, split),
               {"root": str(folder.resolve()), "backbone": "efficientnet-lite0", "size": size,
                "grid": grid})
    return stats


def _write(writer, model, batch, boxes, grid, table, device, bar) -> None:
    if not batch:
        return
    pixels = torch.stack([px for _, px in batch]).to(device)  # (B, 3, S, S)
    feats = region_features(model, pixels, grid).cpu().numpy()  # (B, grid^2, 1280)
    for (pid, _), f in zip(batch, feats):
        writer.add(pid, f, boxes, table[pid] if table is not None else ())
    bar.update(len(batch))
