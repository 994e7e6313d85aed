"""`ssamt features`: region features for a folder of your own photos, in the precomp format.

    ssamt features --images ~/photos --out data/mine --captions captions.tsv
"""

from __future__ import annotations

import argparse
import sys

from ssamt.bounds import PHOTO_SIZE_MAX
from ssamt.commands.common import note_captions_dropped, printable, resolve_device

HELP = "region features of your own photos (pretrained EfficientNet-Lite0, grid regions)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", required=True, metavar="DIR",
                        help="folder of photos (.jpg, .png, ...; subfolders too)")
    parser.add_argument("--out", required=True, metavar="DATA_DIR", help="precomp folder")
    parser.add_argument("--split", default="test", help="split to write (default test)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the split if DATA_DIR has it, removing the files made "
                             "from the old one (scenes, minimal pairs, label caches, ...)")
    parser.add_argument("--captions", default=None, metavar="FILE",
                        help="'photo<TAB>caption' lines (photo: its path under --images); "
                             "photos without one are skipped, each keeps as many as the photo "
                             "with the fewest")
    parser.add_argument("--size", type=int, default=384,
                        help="photos are resized to SIZE x SIZE (a multiple of 32 from 32 to "
                             f"{PHOTO_SIZE_MAX}; default 384)")
    parser.add_argument("--grid", type=int, default=6,
                        help="regions per side: GRID x GRID regions (default 6: 36 regions)")
    parser.add_argument("--batch-size", type=int, default=8, help="photos per pass (8)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, ... (default: auto)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from ssamt.errors import ConfigError
    from ssamt.features.extract import extract_features

    if args.batch_size < 1:
        raise ConfigError("--batch-size must be >= 1")
    stats = extract_features(args.images, args.out, split=args.split, captions=args.captions,
                             size=args.size, grid=args.grid, batch_size=args.batch_size,
                             device=resolve_device(args.device), overwrite=args.overwrite,
                             progress=not args.quiet and sys.stderr.isatty())
    print(f"wrote {printable(args.out)} ({printable(args.split)}): {stats['images']} photos, "
          f"{stats['regions']} regions x 1280 features each, {stats['captions']} captions each")
    if stats["skipped"]:
        print(f"note: {stats['skipped']} photos skipped: not readable, or a name ids cannot "
              "hold (listed above)")
    note_captions_dropped(stats)
    if not args.captions:
        print(f"note: no captions given: add {args.split}_caps.txt (the same number of lines "
              f"per photo, in the order of {args.split}_ids.txt) before labels or training")
    return 0
