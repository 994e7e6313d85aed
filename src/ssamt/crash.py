"""The last line of defence of the command line: an unexpected exception becomes one line.

`ssamt` promises one clear line per problem, never a traceback. Known problems raise
SsamtError (printed as is); an OSError names its path; anything else is a bug or an
environment we did not foresee: its full traceback is written to a file (the user cache
folder, else the temp folder) and the one line says where. `ssamt --debug` shows the
traceback instead.
"""

from __future__ import annotations

import os
import tempfile
import time
import traceback
from pathlib import Path

from ssamt.fileio import user_cache_dir


def describe_os_error(exc: OSError) -> str:
    """'PATH: reason' (both paths of a rename), else the reason alone."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is None:
        return reason
    if getattr(exc, "filename2", None) is not None:
        return f"{exc.filename} -> {exc.filename2}: {reason}"
    return f"{exc.filename}: {reason}"


def write_crash_report(exc: BaseException, argv: list[str]) -> Path | None:
    """The traceback of `exc` in a new file; None when no folder at all can take it."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    header = f"ssamt {' '.join(argv)}\n{time.strftime('%Y-%m-%d %H:%M:%S %z')}\n\n"
    for folder in (user_cache_dir() / "crash", Path(tempfile.gettempdir())):
        path = folder / f"ssamt-crash-{stamp}-{os.getpid()}.txt"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            # backslashreplace: an argument or a message may hold bytes that are not UTF-8
            # (surrogate-escaped), and the report of a crash must not crash itself.
            path.write_text(header + text, encoding="utf-8", errors="backslashreplace")
            return path
        except OSError:
            continue
    return None


def one_line(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
