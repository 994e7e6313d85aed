"""Recall metrics against a plain-loop reference and hand-worked cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssamt.retrieval import metrics
from ssamt.retrieval.metrics import (
    METRIC_KEYS,
    i2t_ranks,
    recall_from_scores,
    recall_from_similarity,
    t2i_ranks,
)


def _reference(sims_i2t: np.ndarray, sims_t2i: np.ndarray, c2i: np.ndarray) -> dict:
    """Plain loops: sort each query's list, pessimistic ties (incorrect before correct)."""
    n_img, n_cap = sims_i2t.shape
    i2t = []
    for i in range(n_img):
        # Sort by score descending; among equal scores incorrect first (pessimistic).
        order = sorted(range(n_cap), key=lambda j: (-sims_i2t[i, j], c2i[j] == i))
        i2t.append(next(r for r, j in enumerate(order) if c2i[j] == i))
    t2i = []
    for j in range(n_cap):
        order = sorted(range(n_img), key=lambda i: (-sims_t2i[i, j], i == c2i[j]))
        t2i.append(order.index(c2i[j]))
    out = {}
    for name, ranks in (("i2t", i2t), ("t2i", t2i)):
        for k in (1, 5, 10):
            out[f"{name}_R@{k}"] = 100.0 * sum(r < k for r in ranks) / len(ranks)
    out["rsum"] = sum(out.values())
    return out


def _random_c2i(rng: np.random.Generator, n_img: int, max_per_image: int) -> np.ndarray:
    counts = rng.integers(1, max_per_image + 1, size=n_img)
    c2i = np.repeat(np.arange(n_img), counts)
    return rng.permutation(c2i)  # captions need not be grouped


@pytest.mark.parametrize("seed", range(6))
def test_matches_loop_reference_varied_captions_per_image(seed):
    rng = np.random.default_rng(seed)
    n_img = int(rng.integers(3, 30))
    c2i = _random_c2i(rng, n_img, max_per_image=int(rng.integers(1, 8)))
    # Coarse values so ties actually occur.
    sims = rng.integers(0, 6, size=(n_img, len(c2i))).astype(np.float32)
    assert recall_from_similarity(sims, c2i) == pytest.approx(_reference(sims, sims, c2i))


def test_separate_direction_matrices_match_reference():
    rng = np.random.default_rng(7)
    c2i = _random_c2i(rng, 20, 5)
    a = rng.normal(size=(20, len(c2i))).astype(np.float32)
    b = rng.normal(size=(20, len(c2i))).astype(np.float32)
    assert recall_from_scores(a, b, c2i) == pytest.approx(_reference(a, b, c2i))


def test_torch_input_and_float64_match_numpy():
    rng = np.random.default_rng(1)
    c2i = np.repeat(np.arange(12), 5)
    sims = rng.normal(size=(12, 60))
    expected = recall_from_similarity(sims.astype(np.float32), c2i)
    assert recall_from_similarity(torch.from_numpy(sims), torch.from_numpy(c2i)) == expected
    assert recall_from_similarity(sims, list(c2i)) == expected


def test_blocked_processing_equals_single_block(monkeypatch):
    rng = np.random.default_rng(3)
    c2i = _random_c2i(rng, 40, 6)
    sims = rng.normal(size=(40, len(c2i))).astype(np.float32)
    whole = recall_from_similarity(sims, c2i)
    monkeypatch.setattr(metrics, "_BLOCK_ELEMENTS", 7)  # blocks of a single row/column
    assert recall_from_similarity(sims, c2i) == whole


def test_hand_case_i2t_counts_best_ranked_caption():
    # 2 images, captions 0,1 -> image 0 and 2,3 -> image 1.
    c2i = np.array([0, 0, 1, 1])
    sims = np.array(
        [
            [0.1, 0.8, 0.9, 0.0],  # image 0: best own caption (0.8) is second -> rank 1
            [0.5, 0.2, 0.3, 0.4],  # image 1: best own (0.4) behind caption 0 -> rank 1
        ]
    )
    assert list(i2t_ranks(sims, c2i)) == [1, 1]
    # t2i: caption 0 -> image 0 scores 0.1 < 0.5 -> rank 1; caption 1 -> rank 0;
    # caption 2 -> image 1 scores 0.3 < 0.9 -> rank 1; caption 3 -> 0.4 > 0.0 -> rank 0.
    assert list(t2i_ranks(sims, c2i)) == [1, 0, 1, 0]
    m = recall_from_similarity(sims, c2i)
    assert m["i2t_R@1"] == 0.0 and m["i2t_R@5"] == 100.0
    assert m["t2i_R@1"] == 50.0 and m["t2i_R@10"] == 100.0
    assert m["rsum"] == pytest.approx(0 + 100 + 100 + 50 + 100 + 100)


def test_ties_are_pessimistic():
    c2i = np.array([0, 1, 2])
    sims = np.ones((3, 3))  # constant scorer
    assert list(i2t_ranks(sims, c2i)) == [2, 2, 2]
    assert list(t2i_ranks(sims, c2i)) == [2, 2, 2]
    assert recall_from_similarity(sims, c2i)["i2t_R@1"] == 0.0


def test_ties_between_correct_captions_do_not_count():
    c2i = np.array([0, 0, 1])
    sims = np.array([[0.5, 0.5, 0.1], [0.0, 0.0, 1.0]])
    assert list(i2t_ranks(sims, c2i)) == [0, 0]


def test_infinite_scores_allowed():
    c2i = np.array([0, 1])
    sims = np.array([[np.inf, -np.inf], [-np.inf, -np.inf]])
    assert list(i2t_ranks(sims, c2i)) == [0, 1]  # image 1: tie at -inf counts against it
    assert list(t2i_ranks(sims, c2i)) == [0, 1]


def test_keys_and_rsum():
    rng = np.random.default_rng(0)
    c2i = np.repeat(np.arange(15), 3)
    m = recall_from_similarity(rng.normal(size=(15, 45)), c2i)
    assert tuple(m) == METRIC_KEYS
    assert all(isinstance(v, float) for v in m.values())
    assert m["rsum"] == pytest.approx(sum(v for k, v in m.items() if k != "rsum"))


@pytest.mark.parametrize(
    "sims, c2i, match",
    [
        (np.zeros((2, 3)), np.array([0, 0, 0]), "no caption"),
        (np.zeros((2, 3)), np.array([0, 1, 2]), "must lie in"),
        (np.zeros((2, 3)), np.array([0, 1]), "shape"),
        (np.zeros(3), np.array([0, 1, 1]), "2-D"),
        (np.array([[np.nan, 0.0], [0.0, 0.0]]), np.array([0, 1]), "NaN"),
    ],
)
def test_bad_input_raises(sims, c2i, match):
    with pytest.raises(ValueError, match=match):
        recall_from_similarity(sims, c2i)
