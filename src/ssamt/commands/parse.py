"""`ssamt parse`: captions (one a line) -> text scene graphs as JSON Lines (paper 2.1).

Input order is kept, one record per input line. An empty (or blank) line gives an empty
record (no tokens, no phrases), so output line N always belongs to input line N. Bytes that
are not UTF-8 are an error naming the file and line. Captions longer than 1,000 characters
are truncated before parsing. The output file is written atomically.
"""

from __future__ import annotations

import argparse
import json
import sys

HELP = "parse captions (one a line) into objects, attributes and relations (JSON Lines)"

RECORD_KEYS = ("text", "tokens", "lemmas", "objects", "attributes", "relations", "phrases")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", nargs="?", default="-", metavar="FILE",
                        help="caption file, one caption a line; '-' or nothing reads stdin")
    parser.add_argument("-o", "--output", default=None, metavar="OUT.jsonl",
                        help="write JSON Lines here (atomically) instead of stdout")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes for parsing (default 1)")


def read_captions(source: str) -> list[str]:
    """Lines of FILE or stdin; DataError naming the source and line on bad UTF-8."""
    from pathlib import Path

    from ssamt.errors import DataError

    name = "<stdin>" if source == "-" else source
    try:
        data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise DataError(name, f"cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(name, f"line {line}: not valid UTF-8 ({exc.reason})") from None
    lines = text.removeprefix("\ufeff").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def run(args: argparse.Namespace) -> int:
    from ssamt.errors import ConfigError, DataError
    from ssamt.fileio import atomic_open
    from ssamt.labels import parse

    if args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    captions = read_captions(args.input)
    graphs = parse(captions, workers=args.workers, progress=sys.stderr.isatty())
    records = (_record(g) for g in graphs)
    if args.output is None:
        for record in records:
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        return 0
    try:
        with atomic_open(args.output, "w") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise DataError(args.output, f"cannot write ({exc.strerror or exc})") from None
    print(f"parsed {len(graphs):,} captions -> {args.output}", file=sys.stderr)
    return 0


def _record(graph) -> dict:
    full = graph.to_json()
    return {key: full[key] for key in RECORD_KEYS}
