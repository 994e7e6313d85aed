"""`ssamt search`: text -> images or image -> captions in an index folder, re-ranked.

    ssamt search --index index/synth "a brown dog on a red sofa" -k 5
    ssamt search --index index/synth --image synth-test-000003 --json
"""

from __future__ import annotations

import argparse
import json

from ssamt.commands.common import (
    add_searcher_arguments,
    check_searcher_arguments,
    printable,
    resolve_device,
)

HELP = "search an index: text -> images, or --image ID -> captions (two stages, Eq. 5)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", required=True, metavar="INDEX_DIR",
                        help="index folder written by `ssamt index`")
    parser.add_argument("query", nargs="?", default=None, help="a caption to search images for")
    parser.add_argument("--image", default=None, metavar="ID",
                        help="search captions for this image instead (its line of "
                             "{split}_ids.txt, or its index when the split has no ids)")
    parser.add_argument("-k", type=int, default=10, help="results to show (default 10)")
    parser.add_argument("--rerank-k", type=int, default=32, metavar="K",
                        help="stage-1 candidates re-scored with Eq. 5 (default 32; 0 = none)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_searcher_arguments(parser)


def _line(hit, text_mode: bool) -> str:
    moved = hit.stage1_rank - hit.rank
    change = f"{'+' if moved > 0 else ''}{moved}" if moved else "="
    eq5 = f"{hit.eq5:7.3f}" if hit.eq5 is not None else "      -"
    what = (hit.captions[0] if hit.captions else "") if text_mode else hit.text
    return (f"{hit.rank:4d} {hit.stage1_rank:5d} {change:>4} {eq5} {hit.stage1_score:7.3f}  "
            f"{printable(hit.id)}  {printable(what)}")


def format_result(result) -> str:
    """The text output. Captions and ids come from a dataset: their control characters
    (an ESC can retitle or clear a terminal) are printed escaped; --json escapes them
    itself and keeps every string exact."""
    text_mode = result.mode == "text"
    head = (f"text -> images: {result.query!r}" if text_mode
            else f"image {printable(result.query)} -> captions")
    title = (f"{head} (top {result.k}, {result.rerank_k} re-ranked with Eq. 5, "
             f"mu1={result.mu1} mu2={result.mu2})")
    lines = [title]
    if result.unknown_words:
        lines.append(f"words the model does not know (read as <unk>): "
                     f"{printable(', '.join(result.unknown_words))}")
    lines.append(f"{'rank':>4} {'stage1':>5} {'move':>4} {'Eq.5':>7} {'cos':>7}  "
                 f"{'id':<4}  {'first caption' if text_mode else 'caption'}")
    lines += [_line(h, text_mode) for h in result.results]
    s = result.seconds
    lines.append(f"time: stage 1 {1000 * s['stage1']:.1f} ms, stage 2 {1000 * s['stage2']:.1f} ms")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ssamt.errors import ConfigError
    from ssamt.search import Searcher

    if (args.query is None) == (args.image is None):
        raise ConfigError("give either a text query or --image ID (not both)")
    if args.k < 1:
        raise ConfigError("-k must be >= 1")
    if args.rerank_k < 0:
        raise ConfigError("--rerank-k must be >= 0 (0 = stage 1 only)")
    check_searcher_arguments(args)
    searcher = Searcher.open(args.index, device=resolve_device(args.device),
                             checkpoint=args.checkpoint, data=args.data, threads=args.threads)
    if args.image is not None:
        result = searcher.image(args.image, k=args.k, rerank_k=args.rerank_k)
    else:
        result = searcher.text(args.query, k=args.k, rerank_k=args.rerank_k)
    print(json.dumps(result.to_json(), indent=2) if args.json else format_result(result))
    return 0
