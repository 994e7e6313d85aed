"""Less padding through an encoder on the CPU.

A batch is padded to its longest caption: in a phase-1 text batch of the synthetic preset
about half the positions are padding, in a phase-2 inter-encoder batch about a quarter, and
every linear layer, LayerNorm and activation computes them all. A position no query may see
is padding (`real_positions`); every reader of an encoder's outputs masks it, so its output
may be anything, and here it comes back as zeros. Two ways to skip it, each where it
measured faster (BENCHMARKS.md, "Less padding"):

- **Real positions only** (`Packed`, torch on two or more threads): the position-wise
  layers (projections, feed-forward, LayerNorm) run on the batch's real positions as one
  (N, d) matrix; only attention sees the padded layout, scattered there and gathered back
  in each layer. The matrices stay large, so both threads stay busy.
- **Rows in length groups** (`length_groups`, torch on one thread): rows of similar length
  run together, each group cut to the positions its rows use, which also shortens
  attention: faster than packing there in phase 2; on two threads the groups' smaller
  operators parallelize worse than the padding they drop.

The real positions get the outputs of the padded batch up to float summation order
(tests/test_model_padding.py). On a GPU neither runs: a step there is bound by kernel
launches, not arithmetic, and finding the real positions waits on the device.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def real_positions(mask: torch.Tensor) -> torch.Tensor:
    """mask (B, S, S) bool attention mask -> (B, S) bool, True at positions some query may
    see: a key no query sees is padding."""
    return mask.any(1)


@dataclass(frozen=True)
class Packed:
    """Where a batch's real positions sit in its padded (B, S) layout.

    flat: (N,) long, the real positions' indices into the flattened B * S positions, in
    order; rows, length: B and S of the padded layout."""

    flat: torch.Tensor
    rows: int
    length: int

    @classmethod
    def of(cls, mask: torch.Tensor) -> Packed:
        """The layout of a batch with attention mask (B, S, S)."""
        n_b, n_s = mask.shape[:2]
        return cls(real_positions(mask).flatten().nonzero().squeeze(1), n_b, n_s)

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        """(B, S, ...) -> (N, ...): the real positions."""
        return x.reshape(self.rows * self.length, *x.shape[2:]).index_select(0, self.flat)

    def unpack(self, x: torch.Tensor) -> torch.Tensor:
        """(N, ...) -> (B, S, ...), zeros at padding."""
        out = x.new_zeros(self.rows * self.length, *x.shape[1:])
        return out.index_copy(0, self.flat, x).view(self.rows, self.length, *x.shape[1:])
