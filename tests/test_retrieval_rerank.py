"""Encode-once and two-stage ranking against direct Eq. 5 scoring of every pair."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_retrieval_fakes import FakeImageTable, FakeModel, FakeTextTable, direct_eq5

from ssamt.retrieval.encode import encode_gallery, encode_images, encode_texts
from ssamt.retrieval.rerank import (
    candidate_pairs,
    candidates_first,
    search_topk,
    similarity,
    topk_rows,
    two_stage,
)

MU1, MU2 = 0.3, 0.1


def _setup(n_img=7, n_cap=17, seed=0):
    model = FakeModel(seed=seed)
    images, texts = FakeImageTable(n_img, seed=seed), FakeTextTable(n_cap, seed=seed)
    img, txt = encode_gallery(model, images, texts, batch_size=3)
    return model, images, texts, img, txt


# ----- encode once ----------------------------------------------------------------------


def test_encode_each_item_once_normalized_in_order():
    model, _, texts, img, txt = _setup()
    assert model.image_calls == {i: 1 for i in range(7)}
    assert model.text_calls == {j: 1 for j in range(17)}
    assert torch.allclose(img.norm(dim=1), torch.ones(7)) and img.shape == (7, 8)
    # Length-sorted batching must not change the order or the values.
    with torch.no_grad():
        ref = torch.nn.functional.normalize(model._txt(texts.batch(range(17))), dim=1)
    assert torch.allclose(txt, ref, atol=1e-6)


def test_encode_subset_and_batch_size_invariance():
    model, images = FakeModel(), FakeImageTable(9)
    some = encode_images(model, images, [4, 1, 7], batch_size=1)
    allb = encode_images(model, images, batch_size=100)
    assert torch.allclose(some, allb[[4, 1, 7]], atol=1e-6)


def test_encode_runs_in_eval_mode_and_restores_training():
    model, texts = FakeModel(), FakeTextTable(4)
    model.train()
    encode_texts(model, texts)
    assert model.modes_seen == [False] and model.training


# ----- building blocks ------------------------------------------------------------------


def test_candidate_pairs_union_each_pair_once():
    i2t_top = torch.tensor([[0, 2], [1, 2]])  # 2 images x K=2 captions
    t2i_top = torch.tensor([[0], [0], [1]])  # 3 captions x K=1 image
    pairs = candidate_pairs(i2t_top, t2i_top, n_cap=3)
    assert pairs.tolist() == [[0, 0], [0, 1], [0, 2], [1, 1], [1, 2]]


def test_candidates_first_keeps_non_candidate_order():
    base = torch.tensor([[0.9, 0.1, 0.5, 0.3]])
    out = candidates_first(base, torch.tensor([0, 0]), torch.tensor([1, 3]),
                           torch.tensor([-2.0, 5.0]))
    assert out.argsort(dim=1, descending=True).tolist() == [[3, 1, 0, 2]]


def test_topk_rows_blocked(monkeypatch):
    from ssamt.retrieval import rerank

    s = torch.randn(13, 11, generator=torch.Generator().manual_seed(0))
    whole = topk_rows(s, 4)
    monkeypatch.setattr(rerank, "_BLOCK_ELEMENTS", 5)
    assert torch.equal(topk_rows(s, 4), whole)  # topk of the same rows: exact
    # A blocked matmul may sum in another order than the whole one: equal to float tolerance.
    torch.testing.assert_close(similarity(s[:, :3], s[:5, :3]), s[:, :3] @ s[:5, :3].T)


def test_faiss_search_matches_torch():
    pytest.importorskip("faiss")
    g = torch.Generator().manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(20, 8, generator=g), dim=1)
    x = torch.nn.functional.normalize(torch.randn(50, 8, generator=g), dim=1)
    assert torch.equal(search_topk(q, x, 5, "faiss"), search_topk(q, x, 5, "torch"))


# ----- two-stage ------------------------------------------------------------------------


@pytest.mark.parametrize("k", [None, 17, 100])
def test_exhaustive_equals_direct_eq5(k):
    model, images, texts, img, txt = _setup()
    res = two_stage(model, images, texts, img, txt, k, MU1, MU2, batch_size=5)
    ref = direct_eq5(model, images, texts, MU1, MU2)
    assert torch.allclose(res.i2t, ref, atol=1e-5)
    assert torch.allclose(res.t2i, ref, atol=1e-5)
    assert res.num_pairs == 7 * 17


def test_k0_is_stage1():
    model, images, texts, img, txt = _setup()
    res = two_stage(model, images, texts, img, txt, 0, MU1, MU2)
    assert torch.equal(res.i2t, res.intra) and torch.equal(res.t2i, res.intra)
    assert res.num_pairs == 0 and not model.pair_calls


def _expected_order(stage1: np.ndarray, eq5: np.ndarray, k: int) -> list[int]:
    """A query's ranking: its top-k stage-1 items by Eq. 5, then the rest by stage 1."""
    top = list(np.argsort(-stage1, kind="stable")[:k])
    rest = [c for c in np.argsort(-stage1, kind="stable") if c not in top]
    return sorted(top, key=lambda c: -eq5[c]) + rest


@pytest.mark.parametrize("k", [1, 3, 5])
def test_topk_rerank_matches_loop_reference(k):
    model, images, texts, img, txt = _setup(seed=1)
    res = two_stage(model, images, texts, img, txt, k, MU1, MU2, batch_size=4)
    s1 = (img @ txt.T).numpy()
    ref = direct_eq5(model, images, texts, MU1, MU2).numpy()
    for i in range(7):
        got = res.i2t[i].argsort(descending=True).tolist()
        assert got == _expected_order(s1[i], ref[i], k)
    for j in range(17):
        got = res.t2i[:, j].argsort(descending=True).tolist()
        assert got == _expected_order(s1[:, j], ref[:, j], k)


def test_shared_pairs_scored_once_batched_equals_unbatched():
    model, images, texts, img, txt = _setup(seed=2)
    model.pair_calls.clear()
    a = two_stage(model, images, texts, img, txt, 3, MU1, MU2, batch_size=1)
    assert set(model.pair_calls.values()) == {1} and len(model.pair_calls) == a.num_pairs
    i2t_top = (img @ txt.T).topk(3, dim=1).indices
    t2i_top = (img @ txt.T).T.topk(3, dim=1).indices
    union = {(i, int(j)) for i in range(7) for j in i2t_top[i]}
    union |= {(int(i), j) for j in range(17) for i in t2i_top[j]}
    assert a.num_pairs == len(union) < 7 * 3 + 17 * 3
    b = two_stage(model, images, texts, img, txt, 3, MU1, MU2, batch_size=64)
    assert torch.allclose(a.i2t, b.i2t, atol=1e-5) and torch.allclose(a.t2i, b.t2i, atol=1e-5)


def test_gallery_subset_uses_table_rows():
    model, images, texts, _, _ = _setup(n_img=6, n_cap=12)
    image_ids, caption_ids = np.array([2, 3, 4]), np.arange(4, 10)
    img, txt = encode_gallery(model, images, texts, image_indices=image_ids,
                              caption_indices=caption_ids)
    res = two_stage(model, images, texts, img, txt, None, MU1, MU2,
                    image_ids=image_ids, caption_ids=caption_ids)
    ref = direct_eq5(model, images, texts, MU1, MU2, image_ids, caption_ids)
    assert torch.allclose(res.i2t, ref, atol=1e-5)


def test_faiss_two_stage_matches_torch():
    pytest.importorskip("faiss")
    model, images, texts, img, txt = _setup(seed=3)
    a = two_stage(model, images, texts, img, txt, 4, MU1, MU2)
    b = two_stage(model, images, texts, img, txt, 4, MU1, MU2, search="faiss")
    assert torch.equal(a.i2t, b.i2t) and torch.equal(a.t2i, b.t2i)


def test_k_covering_one_direction_makes_that_direction_exhaustive():
    model, images, texts, img, txt = _setup(seed=4)  # 7 images, 17 captions
    res = two_stage(model, images, texts, img, txt, 7, MU1, MU2)
    ref = direct_eq5(model, images, texts, MU1, MU2)
    assert torch.allclose(res.t2i, ref, atol=1e-5)  # every image is a candidate
    assert not torch.allclose(res.i2t, ref, atol=1e-5)  # only 7 of 17 captions are


def test_single_image_gallery():
    model, images, texts, img, txt = _setup(n_img=1, n_cap=3)
    res = two_stage(model, images, texts, img, txt, None, MU1, MU2)
    assert res.i2t.shape == (1, 3) and res.num_pairs == 3
