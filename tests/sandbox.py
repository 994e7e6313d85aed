"""Helpers of the bad-input tests (docs/BAD_INPUT.md): run `ssamt` in a child process, and
make real failures on the fly (a read-only bind mount, a tiny full file system) in a private
mount namespace where this machine allows it."""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import ssamt

SRC = str(Path(ssamt.__file__).resolve().parents[1])


def child_env(**extra: str) -> dict[str, str]:
    """This interpreter's environment with these sources first (not an installed copy)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def ssamt_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "ssamt", *map(str, args)]


def run_ssamt(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(ssamt_argv(*args), check=False, capture_output=True, text=True,
                          timeout=timeout, env=child_env(**env))


@functools.cache
def can_mount() -> bool:
    """Whether `unshare -m` lets this process mount (root in most containers)."""
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    probe = "mount -t tmpfs -o size=64k tmpfs /mnt"
    try:
        done = subprocess.run(["unshare", "-m", "sh", "-c", probe], check=False,
                              capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def in_namespace(setup: str, *args: str, after: str = "true", timeout: float = 120,
                 **env: str) -> subprocess.CompletedProcess:
    """`setup` (mount commands), `ssamt ARGS`, then `after` (its output on stdout), in a
    private mount namespace; the return code is ssamt's."""
    script = f"{setup} || exit 99; {shlex.join(ssamt_argv(*args))}; rc=$?; {after}; exit $rc"
    return subprocess.run(["unshare", "-m", "sh", "-c", script], check=False,
                          capture_output=True, text=True, timeout=timeout, env=child_env(**env))
