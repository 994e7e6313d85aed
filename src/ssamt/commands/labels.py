"""`ssamt labels`: parse every caption of a split and cache the image label sets (paper 2.1).

The cache (JSON Lines, default DATA_DIR/{split}_labels.jsonl; see ssamt.labels.store for
read-only data folders) is keyed by a hash of the captions and the parser version: a second
run over unchanged captions only reads it back.
"""

from __future__ import annotations

import argparse
import sys
import time

from ssamt.commands.common import add_labels_cache_argument, apply_labels_cache, input_files

HELP = "parse a split's captions into phrase labels and cache them (reused while unchanged)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data_dir", metavar="DATA_DIR", help="precomp data folder")
    parser.add_argument("--split", default="train", help="split name (default train)")
    parser.add_argument("--out", default=None, metavar="PATH",
                        help="cache file (default DATA_DIR/{split}_labels.jsonl, or the user "
                             "cache folder when DATA_DIR is read-only; '-': stdout)")
    add_labels_cache_argument(parser)
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes for parsing (default 1)")


def run(args: argparse.Namespace) -> int:
    from ssamt.data.split_labels import labels_for_split
    from ssamt.errors import ConfigError
    from ssamt.fileio import check_output, is_stdout
    from ssamt.labels.store import default_label_cache_paths, label_cache_paths

    if args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    apply_labels_cache(args)
    if args.out:  # may be the label cache itself (rewritten), never another file of the split
        own_cache = {*label_cache_paths(args.data_dir, args.split),
                     *default_label_cache_paths(args.data_dir, args.split)}
        check_output(args.out, [path for path in input_files(None, args.data_dir, args.split)
                                if path not in own_cache])
    start = time.perf_counter()
    store = labels_for_split(args.data_dir, args.split, args.out, workers=args.workers,
                             progress=sys.stderr.isatty())
    seconds = time.perf_counter() - start
    where = args.out or next((p for p in label_cache_paths(args.data_dir, args.split)
                              if p.is_file()), "nowhere (not cached)")
    counts = {"object": 0, "attribute": 0, "relation": 0}
    for graph in store.graphs:
        for phrase in graph.phrases:
            counts[phrase.type] += 1
    print(f"{args.split}: {len(store.graphs):,} captions, {store.num_images:,} images "
          f"({store.captions_per_image} captions each); phrases: {counts['object']:,} objects, "
          f"{counts['attribute']:,} attributes, {counts['relation']:,} relations; "
          f"{seconds:.1f}s -> {where}", file=sys.stderr if is_stdout(where) else sys.stdout)
    return 0
