"""Batches by a budget of instances, the paper's "maximum instance per batch" (3.2).

An instance is a sequence position: a batch of pairs costs sum(#regions + #tokens ...), so
batches of short captions hold more pairs than batches of long ones. The caller gives
one cost per item (e.g. TextTable.cost(j) + ImageTable.cost(i) for a pair).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np


def pack(order: Sequence[int], costs: np.ndarray, budget: int) -> list[list[int]]:
    """Greedy packing of `order` into consecutive batches whose summed cost <= budget.
    An item costlier than the budget gets a batch of its own."""
    batches: list[list[int]] = []
    current: list[int] = []
    total = 0
    for i in order:
        c = int(costs[i])
        if current and total + c > budget:
            batches.append(current)
            current, total = [], 0
        current.append(int(i))
        total += c
    if current:
        batches.append(current)
    return batches


class TokenBudgetSampler:
    """Yields lists of indices whose summed cost stays within `budget`.

    Deterministic for (seed, epoch): call `set_epoch(e)` before each epoch (as with
    torch's DistributedSampler). For DistributedDataParallel give rank / world_size: every
    rank packs the same batches from the same seed, then takes every world_size-th one;
    the list is padded by wrapping around so every rank gets the same number of batches
    (a rank with fewer batches would hang the others in all-reduce).
    Use as `DataLoader(..., batch_sampler=sampler)` or iterate directly.
    """

    def __init__(self, costs: Sequence[int] | np.ndarray, budget: int, shuffle: bool = True,
                 seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        if budget < 1:
            raise ValueError("budget must be >= 1")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} not in 0..{world_size - 1}")
        self.costs = np.asarray(costs, dtype=np.int64)
        self.budget = int(budget)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self._cache: tuple[int, list[list[int]]] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _all_batches(self) -> list[list[int]]:
        if self._cache is None or self._cache[0] != self.epoch:
            n = len(self.costs)
            if self.shuffle:
                order = np.random.default_rng([self.seed, self.epoch]).permutation(n)
            else:
                order = np.arange(n)
            self._cache = (self.epoch, pack(order.tolist(), self.costs, self.budget))
        return self._cache[1]

    def batches(self) -> list[list[int]]:
        """This rank's batches for the current epoch."""
        batches = self._all_batches()
        if self.world_size == 1 or not batches:
            return batches
        per_rank = -(-len(batches) // self.world_size)
        padded = [batches[i % len(batches)] for i in range(per_rank * self.world_size)]
        return padded[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        return len(self.batches())
