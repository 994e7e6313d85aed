"""The `ssamt` command line: one subcommand per module under `ssamt.commands`.

Each command module defines `HELP` (one line), `add_arguments(parser)` and
`run(args) -> int`. Modules keep heavy imports (torch, spaCy) inside `run`, so
`ssamt --help` stays fast. User-facing problems raise `SsamtError` and are printed as
one line without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ssamt import __version__
from ssamt.errors import SsamtError

# Subcommand name -> module under ssamt.commands, in the order `--help` lists them.
COMMANDS: dict[str, str] = {
    "quickstart": "quickstart",
    "parse": "parse",
    "labels": "labels",
    "synth": "synth",
    "info": "info",
    "train": "train",
    "evaluate": "evaluate",
    "analyze": "analyze",
    "explain": "explain",
    "index": "index",
    "search": "search",
    "serve": "serve",
    "import-butd": "import_butd",
    "features": "features",
}


def _available_commands() -> dict[str, object]:
    modules = {}
    for name, module_name in COMMANDS.items():
        try:
            modules[name] = importlib.import_module(f"ssamt.commands.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"ssamt.commands.{module_name}":
                raise
    return modules


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ssamt",
        description="Image-text retrieval with phrase-level supervision (SSAMT).",
    )
    parser.add_argument("--version", action="version", version=f"ssamt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in _available_commands().items():
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except SsamtError as exc:
        print(f"ssamt {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ssamt {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
