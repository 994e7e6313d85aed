"""Output files: atomic where that is safe, never destructive where it is not.

Every output the project writes goes through `atomic_open` (and the helpers built on it):

* `-` is standard output (nothing is renamed, stdout is not closed).
* A regular file (or a new name) is written to a temporary file beside it, flushed, then
  renamed over it (`os.replace` is atomic on POSIX and Windows), so the previous version stays
  intact until the new one is complete; a file being replaced keeps its permission bits.
* A symbolic link is followed: its target is replaced and the link stays a link.
* Anything else that exists (a device such as /dev/null, a FIFO, a socket) is written
  through in place: renaming a regular file over /dev/null would replace the device. So is a
  file descriptor's name (/dev/stdout, /proc/self/fd/N), appending: fd 1 may be a file the
  shell opened, holding earlier output.
* An OSError (read-only file system, disk full, a name too long, a parent that is a file)
  becomes an OutputError naming the path, one line for the command line.

`check_output(path, inputs, folders)` runs the same checks before any work: a command calls
it for each output first, so a long evaluation never ends in an unwritable `--json`, and an
output that is the same file as an input (or lies inside a folder the command reads whole)
is refused instead of silently destroying the input. `check_outputs` does that for every
output of a command and refuses two outputs that are one file: the second write would
replace the first.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from ssamt.errors import DataError, OutputError
from ssamt.text import decode_text, json_text

STDOUT = "-"
AnyPath = str | os.PathLike


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def user_cache_dir() -> Path:
    """$XDG_CACHE_HOME/ssamt, else ~/.cache/ssamt (not created here)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ssamt"


def is_stdout(path: str | os.AnyPath | None) -> bool:
    return path is not None and os.fspath(path) == STDOUT


def _reason(exc: OSError, path: str | os.PathLike) -> str:
    for parent in Path(path).absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                return f"a parent of this path, {parent}, is a file, not a folder"
            break
    return exc.strerror or str(exc)


def _same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """One file (links and hard links followed); for a name not there yet, the same name
    once links are resolved: a file a command reads when it is there (a label cache, a
    split's caption specs) is no place for one of its outputs either."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return os.path.realpath(a) == os.path.realpath(b)


def _unnamed_os_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and not isinstance(exc, OutputError) and exc.filename is None


def _follow(path: str | os.PathLike) -> tuple[Path, bool]:
    """-> (target, whether it is a file descriptor's magic name). Links are followed one by
    one and stop at /dev/stdout or /proc/self/fd/N: realpath would go on to whatever fd 1 is
    (a pipe's "pipe:[123]", a deleted file's name), which only the kernel can open."""
    current = Path(path)
    for _ in range(40):  # the kernel's own limit on nested links
        if _fd_name(current):
            return current, True
        try:
            link = Path(os.readlink(current))
        except OSError:  # not a link (EINVAL), or a name the write itself will report
            return current, False
        current = link if link.is_absolute() else current.parent / link
    return Path(os.path.realpath(path)), False


def _fd_name(path: Path) -> bool:
    text = str(path.absolute())
    return (text in ("/dev/stdout", "/dev/stderr") or text.startswith(("/dev/fd/", "/proc/"))
            and "/fd/" in text)


def _special(path: Path) -> bool:
    """True for an existing non-regular, non-directory file (device, FIFO, socket)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def check_not_input(path: AnyPath | None, inputs: Iterable[AnyPath | None] = (),
                    folders: Iterable[AnyPath | None] = ()) -> None:
    """Raise OutputError when writing (or removing) `path` would destroy what a command
    reads: it is one of `inputs` (files, or a folder named as itself, such as the data
    folder), or it lies inside one of `folders` (folders read whole, such as a folder of
    photos). Links are followed, so a link to an input is that input."""
    if path is None or is_stdout(path):
        return
    target, _ = _follow(path)
    for source in inputs:
        if source is not None and not is_stdout(source) and _same_file(source, target):
            raise OutputError(path, _replaces(source))
    for folder in folders:
        if folder is not None and _inside(target, folder):
            raise OutputError(path, f"is inside {folder}, a folder the command reads; "
                                    "write it elsewhere")


def _replaces(source: AnyPath) -> str:
    if os.path.isdir(source):
        return f"is the input folder {source}; writing it would destroy the input"
    if os.path.lexists(source):
        return f"is the same file as the input {source}; writing it would destroy the input"
    return f"is {source}, a file the command reads when it is there; choose another name"


def _inside(target: Path, folder: AnyPath) -> bool:
    """Whether `target` (existing or not) is `folder` or lies under it, links resolved."""
    if not os.path.isdir(folder):
        return False
    return Path(os.path.realpath(target)).is_relative_to(os.path.realpath(folder))


def check_output(path: AnyPath | None, inputs: Iterable[AnyPath | None] = (),
                 folders: Iterable[AnyPath | None] = ()) -> None:
    """Raise OutputError unless `path` can be written and replaces no input
    (check_not_input).

    Probes by creating (and removing) a temporary file in the target folder (or its nearest
    existing ancestor): permission bits alone say nothing when running as root, while a
    read-only mount stops root too.
    """
    if path is None or is_stdout(path):
        return
    check_not_input(path, inputs, folders)
    try:
        target, fd_name = _follow(path)
        if fd_name or _special(target):
            _probe_open(target)
            return
        # The nearest folder that exists (creating none: a refused command writes nothing).
        folder = next(p for p in (target.parent, *target.parent.parents) if p.exists())
        _check_name_length(path, target, folder)
        if target.is_dir():
            raise OutputError(path, "is a folder, not a file")
        if not folder.is_dir():
            raise OutputError(path, f"cannot write (a parent of this path, {folder}, is a "
                                    "file, not a folder)")
        fd, probe = tempfile.mkstemp(prefix=f".{target.name[:200]}.", suffix=".probe",
                                     dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(path, f"cannot write ({_reason(exc, path)})") from None


def check_outputs(outputs: Mapping[str, AnyPath | None], inputs: Iterable[AnyPath | None] = (),
                  folders: Iterable[AnyPath | None] = ()) -> None:
    """check_output for every output of a command (by its flag, `--json`: path; None for
    one not asked for), after refusing two that are one file: the second write would
    replace the first (`explain --json F --html F`)."""
    inputs, folders = list(inputs), list(folders)
    seen: dict[object, str] = {}
    for flag, path in outputs.items():
        key = _output_identity(path)
        if key is None:
            continue
        if key in seen:
            raise OutputError(path, f"is the output of both {seen[key]} and {flag}; the second "
                                    "would replace the first (give each its own file)")
        seen[key] = flag
    for path in outputs.values():
        check_output(path, inputs, folders)


def _output_identity(path: AnyPath | None) -> object:
    """What makes two outputs the same file: stdout, an existing file's inode, else the
    resolved name. None for no output, and for a device or FIFO: those are written through,
    so two outputs may share one (both to /dev/null)."""
    if path is None:
        return None
    if is_stdout(path):
        return STDOUT
    target, fd_name = _follow(path)
    if fd_name or _special(target):
        return None
    try:
        info = os.stat(target)
        return info.st_dev, info.st_ino
    except OSError:  # not written yet: its name, links in its folders resolved
        return os.path.realpath(target)


def _probe_open(path: str | os.PathLike) -> None:
    """Open a device or FIFO for writing and close it again (O_NONBLOCK: a FIFO without a
    reader answers ENXIO at once instead of blocking; its reader may come later)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    except OSError as exc:
        if exc.errno != errno.ENXIO:
            raise OutputError(path, f"cannot write ({_reason(exc, path)})") from None


def _check_name_length(path: str | os.PathLike, target: Path, folder: Path) -> None:
    """The probe's own name is shortened, so a name too long must be checked by itself."""
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return
    too_long = [part for part in target.relative_to(folder).parts
                if len(os.fsencode(part)) > limit] if target.is_relative_to(folder) else []
    if too_long:
        raise OutputError(path, f"cannot write (file name too long: {len(too_long[0])} "
                                f"characters, this file system allows {limit})")


@contextlib.contextmanager
def _stdout(binary: bool) -> Iterator[IO]:
    handle = sys.stdout.buffer if binary else sys.stdout
    yield handle
    handle.flush()


@contextlib.contextmanager
def _write_through(path: Path, mode: str, encoding: str | None) -> Iterator[IO]:
    # Append, not truncate: /dev/stdout may be a file the shell opened, holding earlier output.
    try:
        handle = open(path, mode.replace("w", "a"), encoding=encoding)  # noqa: SIM115
    except OSError as exc:
        raise OutputError(path, f"cannot write ({_reason(exc, path)})") from None
    try:
        with handle:
            yield handle
    except OSError as exc:
        if _unnamed_os_error(exc):
            raise OutputError(path, f"cannot write ({_reason(exc, path)})") from None
        raise


@contextlib.contextmanager
def _replace_atomically(path: Path, mode: str, encoding: str | None) -> Iterator[IO]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        old_mode = stat.S_IMODE(os.stat(path).st_mode) if path.is_file() else None
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:200]}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputError(path, f"cannot write ({_reason(exc, path)})") from None
    try:
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates the file 0600: keep the mode of the file replaced, else give the
        # permissions a plain open() would.
        os.chmod(tmp, old_mode if old_mode is not None else 0o666 & ~_current_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        # A write error from the body (disk full, quota) carries no file name: name ours.
        if _unnamed_os_error(exc):
            raise OutputError(path, f"cannot write ({_reason(exc, path)})") from None
        raise


def atomic_open(path: str | os.PathLike, mode: str = "w",
                encoding: str | None = "utf-8") -> contextlib.AbstractContextManager[IO]:
    """Open `path` for writing: stdout for `-`, write-through for a device or FIFO, otherwise
    a temporary file beside the (symlink-resolved) target that replaces it on a clean exit."""
    binary = "b" in mode
    encoding = None if binary else encoding
    if is_stdout(path):
        return _stdout(binary)
    target, fd_name = _follow(path)
    if fd_name or _special(target):
        return _write_through(target, mode, encoding)
    return _replace_atomically(target, mode, encoding)


def read_text(path: str | os.PathLike) -> str:
    """The one reader of the text files a user gives (captions, ids, caption tables, JSON
    lines): UTF-8 without a leading byte-order mark (ssamt.text.decode_text); DataError
    naming the file for a file that is missing, a folder, or not UTF-8 (and its line)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except IsADirectoryError:
        raise DataError(path, "is a folder, expected a text file") from None
    return decode_text(data, path)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w") as handle:
        handle.write(text)


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    """`obj` as JSON (ssamt.text.json_text: strings exact, no control character raw, so
    `--json -` on a terminal cannot act on it)."""
    with atomic_open(path, "w") as handle:
        handle.write(json_text(obj, indent=indent))
        handle.write("\n")


def write_jsonl(path: str | os.PathLike, records: Iterable[Any]) -> None:
    with atomic_open(path, "w") as handle:
        for record in records:
            handle.write(json_text(record))
            handle.write("\n")
