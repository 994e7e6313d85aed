"""`ssamt import-butd`: bottom-up-attention TSV files into a precomp split.

    ssamt import-butd trainval/*.tsv --out data/mine --split train --captions captions.tsv
"""

from __future__ import annotations

import argparse
import sys

from ssamt.commands.common import note_captions_dropped, printable

HELP = "bottom-up-attention TSV files (image_id, w, h, num_boxes, boxes, features) -> precomp"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("tsv", nargs="+", metavar="FILE.tsv", help="TSV files, read in order")
    parser.add_argument("--out", required=True, metavar="DATA_DIR", help="precomp folder")
    parser.add_argument("--split", default="test", help="split to write (default test)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the split if DATA_DIR has it, removing the files made "
                             "from the old one (scenes, minimal pairs, label caches, ...)")
    parser.add_argument("--captions", default=None, metavar="FILE",
                        help="'image_id<TAB>caption' lines; images without one are skipped, "
                             "each keeps as many as the imported image with the fewest")
    parser.add_argument("--regions", type=int, default=None, metavar="R",
                        help="regions per image (default: the first record's count)")
    parser.add_argument("--float16", action="store_true", help="store features as float16")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from ssamt.data.import_butd import import_butd
    from ssamt.errors import ConfigError

    if args.regions is not None and args.regions < 1:
        raise ConfigError("--regions must be >= 1")
    stats = import_butd(args.tsv, args.out, split=args.split, captions=args.captions,
                        regions=args.regions, dtype="float16" if args.float16 else "float32",
                        progress=not args.quiet and sys.stderr.isatty(),
                        overwrite=args.overwrite)
    print(f"wrote {printable(args.out)} ({printable(args.split)}): {stats['images']} images, "
          f"{stats['regions']} regions each, {stats['captions']} captions each")
    if stats["cut"]:
        print(f"note: {stats['cut']} images had more boxes; kept their first {stats['regions']}")
    if stats["no_captions"]:
        print(f"note: skipped {stats['no_captions']} images without a caption in "
              f"{printable(args.captions)}")
    note_captions_dropped(stats)
    if not args.captions:
        print(f"note: no captions given: add {args.split}_caps.txt (the same number of lines "
              f"per image, in the order of {args.split}_ids.txt) before labels or training")
    return 0
