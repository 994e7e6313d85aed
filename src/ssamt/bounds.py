"""The bounds of numbers a user gives, in one place: the config checks (ssamt.train.validate,
and from them docs/CONFIG.md), the command-line flags (ssamt.commands.common) and the library
functions that take the same numbers read them, so a help text, a check and the reference
cannot disagree. This module imports nothing of ssamt, so the flags' help can quote it
without loading torch."""

from __future__ import annotations

import os

# Eq. 5's weights mu1, mu2 (loss.mu1, eval.mu1_grid, --mu1): the terms they weigh are
# cosines in [-1, 1], so a weight far beyond this only drowns s_A, and near float's limit
# every score becomes inf or NaN and every recall 0.
EQ5_WEIGHT_LIMIT = 1000

# Counts and sizes in a config (steps, epochs, batch sizes, token budgets): 32-bit integers,
# as numpy and torch index with.
COUNT_MAX = 2**31 - 1

# numpy's generators take 32-bit seeds.
SEED_MAX = 2**32 - 1

# The values an Eq. 5 weight grid may try (eval.mu1_grid, eval.mu2_grid): the choice scores
# every pair of the two grids on the dev split.
GRID_MAX_VALUES = 100

# CPU threads of torch and FAISS (--threads): more than a few per core only adds waiting,
# and a pool of thousands fails to start.
THREADS_PER_CPU = 4

# The side of a photo for its region features (ssamt features --size): EfficientNet-Lite0
# was trained at 224 pixels; past this a photo's activations take gigabytes for no detail
# the grid regions could keep.
PHOTO_SIZE_MAX = 1024


def max_threads() -> int:
    """The most CPU threads a command may be asked for on this machine."""
    return THREADS_PER_CPU * (os.cpu_count() or 1)
