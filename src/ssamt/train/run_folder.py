"""Run folders: one writer at a time, and one dataset per run.

* `lock_run(run_dir)`: an exclusive `flock` on RUN/.lock for as long as a command writes
  the folder. A second writer is refused at once with a line naming the holder (pid, host,
  command, start time, written into the lock file). The kernel drops the lock when its
  process dies, so a killed run never leaves a stale lock behind.
* The data identity (ssamt.data.fingerprint of the training split) is stored in every
  checkpoint and in RUN/data.json; `check_same_data` refuses to resume, to run phase 2 or
  to reuse a run on data with another fingerprint.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from ssamt.data.fingerprint import fingerprint_matches, split_fingerprint
from ssamt.data.precomp import PrecompSplit
from ssamt.errors import OutputError, RunFolderError
from ssamt.fileio import write_json

LOCK_NAME = ".lock"
DATA_NAME = "data.json"
_HELD: dict[Path, int] = {}  # folders this process holds -> nesting depth (flock is per open)


def _holder_line() -> str:
    command = " ".join(["ssamt", *sys.argv[1:]]) if sys.argv else "python"
    return json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "command": command,
                       "since": time.strftime("%Y-%m-%d %H:%M:%S")})


def _describe_holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
        return (f"pid {info['pid']} on {info['host']} ({info['command']}, since "
                f"{info['since']})")
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextlib.contextmanager
def lock_run(run_dir: str | Path, flag: str = "--out") -> Iterator[Path]:
    """Hold RUN/.lock for the block; RunFolderError at once when another process holds it.

    A folder this call created and in which nothing else was written (the command failed
    its checks) is removed again, so a refused command leaves nothing behind."""
    run_dir = Path(run_dir)
    created = not run_dir.exists()
    key = _make(run_dir).resolve()
    if key in _HELD:  # the command holds it and the runner asks again
        _HELD[key] += 1
        try:
            yield run_dir
        finally:
            _HELD[key] -= 1
        return
    fd = _acquire(run_dir, flag)
    _HELD[key] = 1
    try:
        yield run_dir
    finally:
        del _HELD[key]
        _release(fd, run_dir, created)


def _make(run_dir: Path) -> Path:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(run_dir, f"cannot create the run folder ({exc.strerror})") from None
    return run_dir


def _acquire(run_dir: Path, flag: str) -> int:

    path = run_dir / LOCK_NAME
    try:  # also the up-front check that the folder can be written at all
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise OutputError(run_dir, f"cannot write in the run folder ({exc.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RunFolderError(f"{run_dir} is in use by {_describe_holder(path)}; wait for it "
                             f"to finish or choose another {flag}") from None
    os.ftruncate(fd, 0)
    os.write(fd, (_holder_line() + "\n").encode())
    return fd


def _release(fd: int, run_dir: Path, created: bool) -> None:

    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        if created and [p.name for p in run_dir.iterdir()] == [LOCK_NAME]:
            (run_dir / LOCK_NAME).unlink()  # still locked: no one else holds this inode
            run_dir.rmdir()
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def write_data_identity(run_dir: Path, fingerprint: str | None, data_dir: str | None) -> None:
    if fingerprint is not None:
        write_json(run_dir / DATA_NAME, {"fingerprint": fingerprint, "data": data_dir})


def read_data_identity(run_dir: Path) -> str | None:
    """The fingerprint in RUN/data.json, or None when the run predates it."""
    try:
        return json.loads((run_dir / DATA_NAME).read_text(encoding="utf-8"))["fingerprint"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def check_same_data(stored: str | None, split: PrecompSplit | None, where: object,
                    action: str) -> None:
    """RunFolderError when `where` was made from other data than `split`, the data given now.

    A run or checkpoint from before fingerprints (stored None) or data built in memory
    (split None) cannot be checked and passes."""
    if stored is None or split is None or fingerprint_matches(stored, split):
        return
    raise RunFolderError(f"{where} was trained on other data (fingerprint {stored}, the "
                         f"--data given now has {split_fingerprint(split)}); refusing to "
                         f"{action}. Pass the run's own --data, or choose another --out")
