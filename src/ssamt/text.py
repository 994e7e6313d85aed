"""Text that comes from outside ssamt, made safe to show, to store and to read back.

Captions, ids, file names and command-line arguments come from datasets, folders and
shells. Shown raw, a control character acts on the terminal (ESC retitles or clears it, a
newline splits an error into two lines); stored raw, a newline in an id makes two lines of
`{split}_ids.txt`; and a name that is not UTF-8 (on Linux, Python keeps its bytes as lone
surrogates, U+DC80..U+DCFF) cannot be written into a UTF-8 file or printed at all.

* `printable`: the one escape for text output and error lines.
* `utf8_problem`: why a string cannot be written as UTF-8 (the command line refuses such
  arguments, naming the flag).
* `decode_text` / `decode_line`: the one decoder of text files: UTF-8, a byte-order mark
  some editors write dropped, a bad byte named by its line.
* `json_text`: JSON with every string exact and no control character left raw.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ssamt.errors import DataError

# C0 controls (ESC among them), DEL and C1 controls: a terminal acts on them (retitles,
# clears, moves the cursor) instead of showing them. Lone surrogates cannot be encoded at
# all: printing one raises UnicodeEncodeError.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_ONLY = re.compile("[\x00-\x1f\x7f-\x9f]")
# What JSON leaves raw with ensure_ascii=False (it escapes C0 controls itself).
_JSON_RAW = re.compile("[\x7f-\x9f\u2028\u2029]")
BOM = "\ufeff"


def _escape(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, kept by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    return repr(char)[1:-1] if code < 0xD800 else f"\\u{code:04x}"


def printable(text: object) -> str:
    """`text` for a terminal: each control character written as its escape (\\x1b, \\n), and
    each byte that was not UTF-8 as \\xNN, so a caption, id or path shows as what it holds,
    stays on its line and never fails to print."""
    return _CONTROL.sub(lambda m: _escape(m.group()), str(text))


def control_character(text: str) -> str | None:
    """The first control character of `text`, escaped (`\\n`, `\\x1b`), or None."""
    found = _CONTROL_ONLY.search(text)
    return None if found is None else _escape(found.group())


def utf8_problem(text: str) -> str | None:
    """None when `text` can be written as UTF-8; else what is wrong, in words that point
    at the character (the byte a surrogate-escaped name held)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        what = (f"byte 0x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF
                else f"a lone surrogate U+{code:04X}")
        return f"not valid UTF-8 ({what} at character {exc.start + 1})"
    return None


def decode_text(data: bytes, name: object) -> str:
    """`data` as UTF-8 text without a leading byte-order mark; DataError naming `name` and
    the line of the first byte that is not UTF-8."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(name, f"line {line}: not valid UTF-8 ({exc.reason})") from None
    return text.removeprefix(BOM)


def decode_line(raw: bytes, name: object, number: int) -> str:
    """Line `number` (1-based) of a file read line by line, as decode_text: the first line
    loses its byte-order mark."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(name, f"line {number}: not valid UTF-8 ({exc.reason})") from None
    return text.removeprefix(BOM) if number == 1 else text


def json_text(obj: Any, indent: int | None = None) -> str:
    """json.dumps keeping non-ASCII text readable (ensure_ascii=False) but escaping DEL, the
    C1 controls and the line separators JSON would leave raw: the same strings read back,
    and JSON written to a terminal cannot act on it."""
    text = json.dumps(obj, indent=indent, ensure_ascii=False)
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
