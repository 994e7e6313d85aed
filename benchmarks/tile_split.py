"""A large precomp split for timing, tiled from a small one with its label cache.

    python benchmarks/tile_split.py SRC_DIR SRC_SPLIT DST_DIR DST_SPLIT --images 113287 \
        [--regions 36] [--dim 2048] [--dtype float16]

Writes DST_DIR/DST_SPLIT_{ims.npy, boxes.npy, caps.txt, labels.jsonl}: image i is source
image i mod N_src, its regions cycled to --regions and its feature vector cycled to --dim
(a 256-d feature tiled eight times is 2,048-d), its captions and their label-cache lines
the source image's. The features file is written one source period at a time, never
whole in memory, so a COCO-size split (113,287 x 36 x 2,048 float16, 16.7 GB) takes what
the disk needs, and needs no parser: the label cache is the source's lines, cycled, under a
header for the new captions (ssamt.labels.store's), so a machine without spaCy reads it.
Files already at the destination are never replaced.

The result times training and evaluation at full size (batch shapes, feature bytes read
per update, intra-encoder pools over every caption, stage 2 over every candidate); it is no
dataset: repeated captions make every retrieval figure on it meaningless.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from ssamt.data.precomp import open_split, split_paths
from ssamt.errors import DataError
from ssamt.labels.store import FORMAT, cache_header, cache_keys


def cycled(n: int, period: int) -> np.ndarray:
    """(n,) indices 0, 1, ..., period - 1, 0, 1, ...: what position j of the result copies."""
    return np.arange(n, dtype=np.int64) % period


def tile_features(src: np.ndarray, out: Path, images: int, regions: int, dim: int,
                  dtype: str) -> None:
    """src (N, R, D) -> out (images, regions, dim) .npy: rows, regions and dims cycled.
    The source is tiled once in memory (N x regions x dim), then written whole, period after
    period, so the big file costs what the disk takes to write it."""
    block = np.asarray(src)[:, cycled(regions, src.shape[1])][:, :, cycled(dim, src.shape[2])]
    block = np.ascontiguousarray(block.astype(np.dtype(dtype)))  # (N, regions, dim)
    header = {"descr": np.lib.format.dtype_to_descr(block.dtype), "fortran_order": False,
              "shape": (images, regions, dim)}
    with open(out, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        handle.writelines(block[:images - start].tobytes()
                          for start in range(0, images, len(block)))


def tile_boxes(src: np.ndarray, out: Path, images: int, regions: int) -> None:
    """src (N, R, G) -> out (images, regions, G): the boxes of the features' rows and regions."""
    boxes = np.asarray(src)[cycled(images, len(src))][:, cycled(regions, src.shape[1])]
    np.save(out, boxes.astype(src.dtype))


def tile_captions(captions: list[str], per_image: int, images: int) -> list[str]:
    """The captions of image i mod N_src for each new image i."""
    n_src = len(captions) // per_image
    return [captions[(i % n_src) * per_image + c] for i in range(images)
            for c in range(per_image)]


def tile_label_cache(src_cache: Path, out: Path, captions: list[str], per_image: int,
                     n_src_captions: int) -> None:
    """The source cache's caption lines, cycled like the captions, under a header for them."""
    lines = src_cache.read_text(encoding="utf-8").splitlines()
    header, body = json.loads(lines[0]), lines[1:]
    if header.get("format") != FORMAT or len(body) != n_src_captions:
        raise DataError(src_cache, f"not a label cache of this split's {n_src_captions} "
                                   f"captions in {FORMAT} (run `ssamt labels` on it first)")
    with open(out, "w", encoding="utf-8") as handle:
        handle.write(cache_header(cache_keys(captions, per_image), per_image, len(captions)))
        handle.writelines(body[j % n_src_captions] + "\n" for j in range(len(captions)))


def tile_split(src_dir: Path, src_split: str, dst_dir: Path, dst_split: str, images: int,
               regions: int | None = None, dim: int | None = None,
               dtype: str | None = None) -> dict:
    """Write DST_SPLIT in dst_dir (module docstring); returns what was written."""
    src = open_split(src_dir, src_split)
    feats = src.base_images
    regions, dim = regions or feats.shape[1], dim or feats.shape[2]
    dtype = dtype or str(feats.dtype)
    cache = src_dir / f"{src_split}_labels.jsonl"
    if not cache.is_file():
        raise DataError(cache, "missing: build it with `ssamt labels` where spaCy is installed")
    if images < 1:
        raise DataError(dst_dir, f"--images must be at least 1, got {images}")
    paths = split_paths(dst_dir, dst_split)
    written = [*paths.values(), dst_dir / f"{dst_split}_labels.jsonl"]
    existing = [p for p in written if p.exists()]
    if existing:  # the source itself among them: never overwrite what is there
        raise DataError(existing[0], "exists: tile into a new folder or another split name")
    dst_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    tile_features(feats, paths["ims"], images, regions, dim, dtype)
    if src.base_boxes is not None:
        tile_boxes(src.base_boxes, paths["boxes"], images, regions)
    captions = tile_captions(src.captions, src.captions_per_image, images)
    paths["caps"].write_text("".join(c + "\n" for c in captions), encoding="utf-8")
    tile_label_cache(cache, dst_dir / f"{dst_split}_labels.jsonl", captions,
                     src.captions_per_image, len(src.captions))
    gb = paths["ims"].stat().st_size / 1e9
    return {"split": dst_split, "images": images, "shape": [images, regions, dim],
            "dtype": dtype, "features_gb": round(gb, 2),
            "seconds": round(time.perf_counter() - t0, 1)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("src_dir", type=Path)
    p.add_argument("src_split")
    p.add_argument("dst_dir", type=Path)
    p.add_argument("dst_split")
    p.add_argument("--images", type=int, required=True)
    p.add_argument("--regions", type=int, default=None, help="default: the source's")
    p.add_argument("--dim", type=int, default=None, help="default: the source's")
    p.add_argument("--dtype", default=None, help="default: the source's")
    args = p.parse_args(argv)
    try:
        info = tile_split(args.src_dir, args.src_split, args.dst_dir, args.dst_split,
                          args.images, args.regions, args.dim, args.dtype)
    except DataError as exc:
        sys.exit(f"tile_split: {exc}")
    print(json.dumps(info))


if __name__ == "__main__":
    main()
