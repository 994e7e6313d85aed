"""Rows of similar length run together: less padding through an encoder on the CPU.

A batch is padded to its longest caption: in a phase-1 text batch of the synthetic preset
about half the positions are padding, in a phase-2 inter-encoder batch about a quarter, and
every linear layer, LayerNorm and activation computes them all. The encoder's rows do not
see each other (attention stays inside a sequence), so the rows can be split into groups of
similar length, each group cut to the positions its rows use, and run one group at a time:
the real positions get the same outputs (up to float summation order) for fewer
operations. Padded positions no row of a group uses come back as zeros; every reader of the
encoder's outputs masks padding anyway.

The encoders group rows only on a CPU running torch on one thread (the choice beside
another job, or OMP_NUM_THREADS=1): there an update takes 10-12% less time, while with two
threads it took 4% more, the smaller groups' operators parallelizing worse than the padding
saves (BENCHMARKS.md, "Rows in length groups"). On a GPU a step is bound by kernel
launches, not by arithmetic, and each group would launch the encoder's kernels again.
"""

from __future__ import annotations

import torch

GROUPS = 4  # row groups at most; more save little padding and add fixed cost per group
MIN_ROWS = 16  # a smaller group runs its matrix products below the CPU's efficient sizes
MIN_SAVING = 0.1  # split only when the groups drop at least this share of the positions


def length_groups(valid: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
    """valid (B, S) bool, True at real positions -> [(rows (b,), cols (s,)), ...]: groups of
    rows of similar length and the positions any row of the group uses, in order; None when
    grouping would save less than MIN_SAVING of the positions (run the batch whole)."""
    n_rows, n_pos = valid.shape
    n_groups = min(GROUPS, n_rows // MIN_ROWS)
    if n_groups < 2:
        return None
    order = torch.argsort(valid.sum(1), stable=True)
    groups = []
    for rows in torch.tensor_split(order, n_groups):
        cols = valid[rows].any(0).nonzero().squeeze(1)
        groups.append((rows, cols))
    kept = sum(len(rows) * len(cols) for rows, cols in groups)
    if kept > (1.0 - MIN_SAVING) * n_rows * n_pos:
        return None
    return groups


def run_grouped(fn, x: torch.Tensor, mask: torch.Tensor,
                groups: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """fn(x_g, mask_g) over each group (x (B, S, d), mask (B, S, S) bool cut to the group's
    rows and positions) -> (B, S, d): each group's outputs at its rows and positions, zeros
    at the positions its rows do not use."""
    out = x.new_zeros(x.shape)
    for rows, cols in groups:
        x_g = x[rows][:, cols]
        mask_g = mask[rows][:, cols][:, :, cols]
        out = out.index_put((rows[:, None], cols[None, :]), fn(x_g, mask_g))
    return out
