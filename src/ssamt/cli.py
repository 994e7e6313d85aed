"""The `ssamt` command line: one subcommand per module under `ssamt.commands`.

Each command module defines `HELP` (one line), `add_arguments(parser)` and
`run(args) -> int`. Modules keep heavy imports (torch, spaCy) inside `run`, so
`ssamt --help` stays fast. User-facing problems raise `SsamtError` and are printed as
one line without a traceback; an OSError is one line naming its path; anything else is one
line saying where its traceback was written (`--debug` shows it instead, ssamt.crash).
"""

from __future__ import annotations

import argparse
import importlib
import os
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
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an unexpected error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in _available_commands().items():
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        # Also after the command (`ssamt train ... --debug`); SUPPRESS keeps the top-level value.
        cmd.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help="show the full traceback of an unexpected error")
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
        check_text_arguments(parser, args)
        return int(args._run(args) or 0)
    except SsamtError as exc:
        return _fail(args, str(exc))
    except KeyboardInterrupt:
        print(f"ssamt {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `ssamt parse | head`: the reader left; nothing to report
        _silence_stdout()
        return 141
    except OSError as exc:
        if args.debug:
            raise
        from ssamt.crash import describe_os_error

        return _fail(args, describe_os_error(exc))
    except Exception as exc:
        if args.debug:
            raise
        return _crash(args, exc, list(sys.argv[1:] if argv is None else argv))


def check_text_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """ConfigError naming the flag of the first argument that is not valid UTF-8 (on Linux
    Python keeps such bytes as lone surrogates). Text (a query, --text, --set) would fail
    deep inside the parser or when printed; a path's name would go into the UTF-8 files
    ssamt writes (manifests, reports, ids). One rule for every argument of every command."""
    from ssamt.commands.common import printable
    from ssamt.errors import ConfigError
    from ssamt.text import utf8_problem

    names = _argument_names(parser, args)
    for dest, value in vars(args).items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            problem = utf8_problem(item) if isinstance(item, str) else None
            if problem is not None:
                raise ConfigError(
                    f"{names.get(dest, dest)} '{printable(item)}': {problem}; ssamt reads "
                    "every argument as UTF-8, file names too (rename such a file, or pass a "
                    "link to it with a UTF-8 name)")


def _argument_names(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, str]:
    """dest -> how the user wrote the argument (`--text`, `-o`/`--output` as `--output`, a
    positional by its metavar or name), along the subcommands `args` chose. argparse keeps
    its actions in private attributes; they have been stable since Python 3.2."""
    names: dict[str, str] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            chosen = action.choices.get(getattr(args, action.dest, None) or "")
            if chosen is not None:
                names.update(_argument_names(chosen, args))
        elif action.option_strings:
            names.setdefault(action.dest, max(action.option_strings, key=len))
        else:
            names.setdefault(action.dest, action.metavar if isinstance(action.metavar, str)
                             else action.dest)
    return names


def _fail(args: argparse.Namespace, message: str) -> int:
    from ssamt.commands.common import printable

    # One line, whatever the message quotes (a path or an id from a dataset may hold a
    # newline or an escape sequence).
    print(f"ssamt {args.command}: error: {printable(message)}", file=sys.stderr)
    return 2


def _crash(args: argparse.Namespace, exc: Exception, argv: list[str]) -> int:
    from ssamt.commands.common import printable
    from ssamt.crash import one_line, write_crash_report

    report = write_crash_report(exc, argv)
    where = f"traceback written to {report}" if report else "no folder could take the traceback"
    print(f"ssamt {args.command}: unexpected error: {printable(one_line(exc))} ({where}; "
          "rerun with --debug to show it)", file=sys.stderr)
    return 1


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
