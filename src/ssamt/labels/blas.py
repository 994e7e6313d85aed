"""Run numpy's OpenBLAS on one thread while parsing.

The spaCy model is loaded with thinc's plain numpy ops (see nlp.py): its small matrix
products then go through numpy's OpenBLAS, which on this project's 2-core machine ran ~1.4x
faster per CPU-second than thinc's default blis kernels, but only single-threaded (with its
default threads it was slower than blis). OpenBLAS reads its thread count once, at load, so
it is set here through OpenBLAS's own C API for the duration of a parse and restored after.
Where no OpenBLAS is found (another BLAS, another OS) this does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Iterator
from functools import lru_cache

_PREFIXES = ("scipy_openblas", "openblas")
_SUFFIXES = ("64_", "")


@lru_cache(maxsize=1)
def _openblas_controls() -> tuple[tuple, ...]:
    """(set_num_threads, get_num_threads) of every OpenBLAS loaded in this process."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as handle:
            paths = {line.split()[-1] for line in handle if "openblas" in line.lower()}
    except OSError:
        return ()
    controls = []
    for path in sorted(p for p in paths if ".so" in p):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in _PREFIXES:
            for suffix in _SUFFIXES:
                setter = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                getter = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                if setter is not None and getter is not None:
                    setter.argtypes, getter.restype = [ctypes.c_int], ctypes.c_int
                    controls.append((setter, getter))
                    break
            else:
                continue
            break
    return tuple(controls)


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    controls = _openblas_controls()
    saved = [getter() for _, getter in controls]
    for setter, _ in controls:
        setter(1)
    try:
        yield
    finally:
        for (setter, _), threads in zip(controls, saved):
            setter(threads)
