"""TokenBudgetSampler against a plain reference; determinism; DDP sharding."""

from __future__ import annotations

import random

import numpy as np
import pytest

from ssamt.data.batching import TokenBudgetSampler


def reference_batches(order, costs, budget):
    """The obvious loop: start a new batch when the next item would overflow the budget."""
    out, cur = [], []
    for i in order:
        if cur and sum(costs[j] for j in cur) + costs[i] > budget:
            out.append(cur)
            cur = []
        cur.append(i)
    return out + ([cur] if cur else [])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_reference_and_respects_budget(seed):
    rnd = random.Random(seed)
    costs = [rnd.randint(1, 40) for _ in range(300)]
    costs[7] = 500  # larger than the budget: a batch of its own
    sampler = TokenBudgetSampler(costs, budget=100, shuffle=False)
    batches = list(sampler)
    assert batches == reference_batches(range(300), costs, 100)
    assert sorted(i for b in batches for i in b) == list(range(300))
    for b in batches:
        assert sum(costs[i] for i in b) <= 100 or len(b) == 1
    assert [7] in batches


def test_shuffle_is_deterministic_per_seed_and_epoch():
    costs = np.random.default_rng(0).integers(1, 30, 200)
    a, b = TokenBudgetSampler(costs, 90, seed=3), TokenBudgetSampler(costs, 90, seed=3)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first
    b.set_epoch(1)
    assert list(a) == list(b)
    assert sorted(i for batch in a for i in batch) == list(range(200))
    assert list(TokenBudgetSampler(costs, 90, seed=4)) != first


@pytest.mark.parametrize("world", [2, 3])
def test_ranks_get_equal_counts_and_cover_everything(world):
    costs = np.random.default_rng(1).integers(1, 30, 101)
    whole = list(TokenBudgetSampler(costs, 70, seed=5))
    shards = [list(TokenBudgetSampler(costs, 70, seed=5, rank=r, world_size=world))
              for r in range(world)]
    assert len({len(s) for s in shards}) == 1
    seen = {i for s in shards for b in s for i in b}
    assert seen == set(range(101))
    assert sum(len(s) for s in shards) - len(whole) < world  # padding only to even out
