"""Bottom-up-attention TSV files -> one precomp split (ssamt import-butd).

Records are streamed from the TSVs into the split's files (ssamt.data.precomp_writer), so
memory stays flat in the files' size. The precomp format has one region count R for all
images: R is --regions, else the first record's; an image with more boxes keeps its first
R (generate_tsv.py writes them most confident first), one with fewer is refused, and so is
one whose features have another size than the first record's. Ids are kept exactly (UTF-8);
one that would not read back from {split}_ids.txt (precomp_writer.id_problem) is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ssamt.data.butd import ButdRecord, read_butd
from ssamt.data.precomp_writer import (
    PrecompWriter,
    check_split_target,
    id_problem,
    read_caption_table,
)
from ssamt.errors import DataError
from ssamt.text import printable


def import_butd(tsv_paths: Sequence[str | Path], out: str | Path, *, split: str = "test",
                captions: str | Path | None = None, regions: int | None = None,
                dtype: str = "float32", progress: bool = False,
                overwrite: bool = False) -> dict[str, Any]:
    """Write split `split` of `out` from the TSVs; returns counts (images, no_captions, cut,
    regions, captions: kept per image, captions_dropped). A split already in `out` is
    replaced only with `overwrite` (ssamt.data.precomp_writer)."""
    # Before any record is read: no TSV or captions file may be a file the import replaces.
    check_split_target(out, split, reads=[*tsv_paths, captions], overwrite=overwrite)
    table = read_caption_table(captions) if captions is not None else None
    stats = {"images": 0, "no_captions": 0, "cut": 0, "regions": regions, "captions": 0,
             "captions_dropped": 0}
    seen: set[str] = set()
    dim: int | None = None
    with PrecompWriter(out, split, dtype, overwrite) as writer, \
            tqdm(unit="img", desc="import", disable=not progress) as bar:
        for path in tsv_paths:
            for rec in read_butd(path):
                _check_id(path, rec, seen)
                if table is not None and rec.image_id not in table:
                    stats["no_captions"] += 1
                    continue
                r = stats["regions"] = stats["regions"] or len(rec.features)
                dim = dim or rec.features.shape[1]
                _check_sizes(path, rec, r, dim)
                stats["cut"] += len(rec.features) > r
                caps = table[rec.image_id] if table is not None else ()
                writer.add(rec.image_id, rec.features[:r], rec.normalized_boxes()[:r], caps)
                bar.update(1)
        stats["images"] = writer.close()
    stats["captions"], stats["captions_dropped"] = writer.per_image, writer.captions_dropped
    return stats


def _where(rec: ButdRecord) -> str:
    return f"line {rec.line}: image {printable(rec.image_id)}"


def _check_id(path: str | Path, rec: ButdRecord, seen: set[str]) -> None:
    problem = id_problem(rec.image_id)
    if problem is not None:
        raise DataError(path, f"line {rec.line}: image id '{printable(rec.image_id)}' "
                              f"{problem}: ids are written one a line")
    if rec.image_id in seen:
        raise DataError(path, f"{_where(rec)} appears twice")
    seen.add(rec.image_id)


def _check_sizes(path: str | Path, rec: ButdRecord, regions: int, dim: int) -> None:
    """The precomp format has one region count and one feature size for all images."""
    boxes, width = rec.features.shape
    if boxes < regions:
        raise DataError(path, f"{_where(rec)} has {boxes} boxes, fewer than the "
                              f"{regions} of the others (precomp needs one count: pass "
                              f"--regions {boxes})")
    if width != dim:
        raise DataError(path, f"{_where(rec)} has features of {width} values, the "
                              f"records before it {dim} (precomp needs one feature size: "
                              "features of another extractor?)")
