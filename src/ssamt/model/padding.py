"""Less padding through an encoder on the CPU: the position-wise layers on real positions.

A batch is padded to its longest caption: in a phase-1 text batch of the synthetic preset
about half the positions are padding, in a phase-2 inter-encoder batch about a quarter, and
every linear layer, LayerNorm and activation computes them all. A position no query may see
is padding (`real_positions`); every reader of an encoder's outputs masks it, so its output
may be anything, and here it comes back as zeros. On the CPU the position-wise layers
(projections, feed-forward, LayerNorm) run on the batch's real positions only, as one
(N, d) matrix (`Packed`); only attention sees the padded layout, scattered there and
gathered back in each layer. The matrices stay large, so every thread stays busy; running
rows in length groups instead, each cut to the positions its rows use (which shortens
attention too), saved less at one and at two threads (BENCHMARKS.md, "Less padding").

The real positions get the outputs of the padded batch up to float summation order
(tests/test_model_padding.py). On a GPU the batch runs whole: a step there is bound by
kernel launches, not arithmetic, and finding the real positions waits on the device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

MIN_SAVING = 0.1  # pack only when at least this share of the positions is padding


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
    def of(cls, mask: torch.Tensor) -> Packed | None:
        """The layout of a batch with attention mask (B, S, S); None when packing would
        drop less than MIN_SAVING of the positions (image regions are seldom padded)."""
        n_b, n_s = mask.shape[:2]
        flat = real_positions(mask).flatten().nonzero().squeeze(1)
        if len(flat) > (1.0 - MIN_SAVING) * n_b * n_s:
            return None
        return cls(flat, n_b, n_s)

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        """(B, S, ...) -> (N, ...): the real positions."""
        return x.reshape(self.rows * self.length, *x.shape[2:]).index_select(0, self.flat)

    def unpack(self, x: torch.Tensor) -> torch.Tensor:
        """(N, ...) -> (B, S, ...), zeros at padding."""
        out = x.new_zeros(self.rows * self.length, *x.shape[1:])  # in place: no second copy
        return out.index_copy_(0, self.flat, x).view(self.rows, self.length, *x.shape[1:])
