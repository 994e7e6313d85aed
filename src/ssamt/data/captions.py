"""Read a caption or id file: one entry a line, UTF-8 (a byte-order mark dropped), no empty
lines.

Errors name the file and the 1-based line, so a user can open the file at the bad line.
"""

from __future__ import annotations

from pathlib import Path

from ssamt.errors import DataError
from ssamt.fileio import read_text


def read_lines(path: Path, *, what: str = "caption", allow_empty: bool = False) -> list[str]:
    """Lines of `path` without their line ends (a final newline is optional).

    Raises DataError naming the file and line for invalid UTF-8 or (unless allow_empty)
    an empty or blank line.
    """
    text = read_text(path)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line, it does not start a new one
    lines = [line.removesuffix("\r") for line in lines]
    if not allow_empty:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                raise DataError(path, f"line {number}: empty {what}")
    return lines
