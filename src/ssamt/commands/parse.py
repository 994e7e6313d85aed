"""`ssamt parse`: captions (one a line) -> text scene graphs as JSON Lines (paper 2.1).

Input order is kept, one record per input line. An empty (or blank) line gives an empty
record (no tokens, no phrases), so output line N always belongs to input line N. Bytes that
are not UTF-8 are an error naming the file and line. Captions longer than 1,000 characters
are truncated before parsing. The output goes through ssamt.fileio (atomic for a regular
file, written through for a device; an output that is the input is refused). Its JSON keeps
every string exact and leaves no control character raw (ssamt.text.json_text), so records
printed to a terminal cannot act on it.
"""

from __future__ import annotations

import argparse
import sys

HELP = "parse captions (one a line) into objects, attributes and relations (JSON Lines)"

RECORD_KEYS = ("text", "tokens", "lemmas", "objects", "attributes", "relations", "phrases")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", nargs="?", default="-", metavar="FILE",
                        help="caption file, one caption a line; '-' or nothing reads stdin")
    parser.add_argument("-o", "--output", default=None, metavar="OUT.jsonl",
                        help="write JSON Lines here instead of stdout ('-'); a regular file is "
                             "replaced atomically, keeping its permissions")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes for parsing (default 1)")


def read_captions(source: str) -> list[str]:
    """Lines of FILE or stdin, decoded as every text file is (ssamt.text.decode_text: UTF-8,
    a byte-order mark dropped); DataError naming the source and line on bad UTF-8."""
    from pathlib import Path

    from ssamt.errors import DataError
    from ssamt.text import decode_text

    name = "<stdin>" if source == "-" else source
    try:
        data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise DataError(name, f"cannot read: {exc.strerror or exc}") from None
    lines = decode_text(data, name).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def run(args: argparse.Namespace) -> int:
    from ssamt.errors import ConfigError
    from ssamt.fileio import atomic_open, check_output, is_stdout
    from ssamt.labels import parse
    from ssamt.text import json_text, printable

    if args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    output = "-" if args.output is None else args.output
    check_output(output, [args.input])  # before parsing: never lose the work, nor the input
    captions = read_captions(args.input)
    graphs = parse(captions, workers=args.workers, progress=sys.stderr.isatty())
    with atomic_open(output, "w") as handle:
        for graph in graphs:
            handle.write(json_text(_record(graph)) + "\n")
    if not is_stdout(output):
        print(f"parsed {len(graphs):,} captions -> {printable(output)}", file=sys.stderr)
    return 0


def _record(graph) -> dict:
    full = graph.to_json()
    return {key: full[key] for key in RECORD_KEYS}
