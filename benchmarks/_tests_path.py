"""Puts the repository's tests/ folder on sys.path, so that a benchmark can use the tests'
helpers (tests/random_batches.py: random, correctly padded model inputs), which are not part
of the installed package. A benchmark imports it for that side effect, before the helper:

    import _tests_path  # noqa: F401  (puts tests/ on sys.path)
    from random_batches import random_image_batch, random_text_batch

Run benchmarks as `python benchmarks/bench_x.py` (Python then puts benchmarks/ on sys.path,
so `_tests_path` is found)."""

import sys
from pathlib import Path

TESTS = str(Path(__file__).resolve().parents[1] / "tests")
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)
