"""Bottom-up-attention TSV files -> one precomp split (ssamt import-butd).

Records are streamed from the TSVs into the split's files (ssamt.data.precomp_writer), so
memory stays flat in the files' size. The precomp format has one region count R for all
images: R is --regions, else the first record's; an image with more boxes keeps its first
R (generate_tsv.py writes them most confident first), one with fewer is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ssamt.data.butd import read_butd
from ssamt.data.precomp_writer import (
    PrecompWriter,
    captions_per_image,
    check_split_target,
    read_caption_table,
)
from ssamt.errors import DataError


def import_butd(tsv_paths: Sequence[str | Path], out: str | Path, *, split: str = "test",
                captions: str | Path | None = None, regions: int | None = None,
                dtype: str = "float32", progress: bool = False,
                overwrite: bool = False) -> dict[str, Any]:
    """Write split `split` of `out` from the TSVs; returns counts (images, skipped, cut).
    A split already in `out` is replaced only with `overwrite` (ssamt.data.precomp_writer)."""
    # Before any record is read: no TSV or captions file may be a file the import replaces.
    check_split_target(out, split, reads=[*tsv_paths, captions], overwrite=overwrite)
    table = read_caption_table(captions) if captions is not None else None
    k = captions_per_image(table) if table is not None else 0
    stats = {"images": 0, "no_captions": 0, "cut": 0, "regions": regions, "captions": k}
    seen: set[str] = set()
    with PrecompWriter(out, split, dtype, overwrite) as writer, \
            tqdm(unit="img", desc="import", disable=not progress) as bar:
        for path in tsv_paths:
            for rec in read_butd(path):
                if rec.image_id in seen:
                    raise DataError(path, f"image {rec.image_id} appears twice")
                seen.add(rec.image_id)
                if table is not None and rec.image_id not in table:
                    stats["no_captions"] += 1
                    continue
                r = stats["regions"] = stats["regions"] or len(rec.features)
                if len(rec.features) < r:
                    raise DataError(path, f"image {rec.image_id} has {len(rec.features)} boxes, "
                                          f"fewer than the {r} of the others (precomp needs "
                                          f"one count: pass --regions {len(rec.features)})")
                stats["cut"] += len(rec.features) > r
                caps = table[rec.image_id][:k] if table is not None else ()
                writer.add(rec.image_id, rec.features[:r], rec.normalized_boxes()[:r], caps)
                bar.update(1)
        stats["images"] = writer.close()
    return stats
