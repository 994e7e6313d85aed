"""Eq. 5 weights chosen on a split: the grid's re-weighed stored terms against a fresh
two-stage ranking per grid point, the tie rule, and where evaluate takes its weights from."""

from __future__ import annotations

import numpy as np
import pytest
from test_retrieval_fakes import FakeImageTable, FakeModel, FakeTextTable

from ssamt.retrieval.encode import encode_gallery
from ssamt.retrieval.eq5_select import best_point, select_eq5_weights
from ssamt.retrieval.metrics import recall_from_scores, recall_from_similarity
from ssamt.retrieval.rerank import two_stage
from ssamt.train.trained_run import describe_eq5, eq5_source, eq5_weights

GRID1, GRID2 = (0.0, 0.3, 1.0, 3.0), (0.0, 0.5, 2.0)


def test_selection_matches_a_fresh_ranking_per_grid_point():
    model, images, texts = FakeModel(seed=2), FakeImageTable(9, seed=2), FakeTextTable(27, seed=2)
    c2i = np.repeat(np.arange(9), 3)
    got = select_eq5_weights(model, images, texts, c2i, k=4, mu1_grid=GRID1, mu2_grid=GRID2)
    img, txt = encode_gallery(model, images, texts)
    loop = {}
    for mu1 in GRID1:
        for mu2 in GRID2:
            ranked = two_stage(model, images, texts, img, txt, 4, mu1, mu2)
            loop[(mu1, mu2)] = recall_from_scores(ranked.i2t, ranked.t2i, c2i)["rsum"]
    assert {(r["mu1"], r["mu2"]): r["rsum"] for r in got["grid"]} == pytest.approx(loop)
    assert got["rsum"] == pytest.approx(max(loop.values()))
    assert loop[(got["mu1"], got["mu2"])] == pytest.approx(got["rsum"])
    assert got["stage1_rsum"] == pytest.approx(recall_from_similarity(img @ txt.T, c2i)["rsum"])
    assert got["rsum"] >= loop[(0.0, 0.0)]  # the grid holds stage 1's order
    with pytest.raises(ValueError, match="k >= 1"):
        select_eq5_weights(model, images, texts, c2i, k=0, mu1_grid=GRID1, mu2_grid=GRID2)


def test_best_point_prefers_less_reranking_among_ties():
    rows = [{"mu1": 1.0, "mu2": 0.1, "rsum": 500.0}, {"mu1": 0.3, "mu2": 0.1, "rsum": 500.0},
            {"mu1": 2.0, "mu2": 0.0, "rsum": 499.0}]
    assert best_point(rows) == rows[1]


def test_eq5_weights_order_of_sources():
    config = {"loss": {"mu1": 0.3, "mu2": 0.1}}
    chosen = {**config, "eq5": {"mu1": 0.75, "mu2": 0.05, "split": "dev", "images": 500,
                                "rsum": 520.0, "stage1_rsum": 514.0}}
    assert eq5_weights(config) == (0.3, 0.1) and eq5_source(config) == "loss"
    assert eq5_weights(chosen) == (0.75, 0.05) and eq5_source(chosen) == "eq5"
    assert eq5_weights(chosen, 1.0, 0.0) == (1.0, 0.0) and eq5_source(chosen, 1.0, 0.0) == "given"
    assert eq5_weights({}) == (0.3, 0.1) and eq5_source({}) == "paper"
    assert "chosen on 500 dev images" in describe_eq5(chosen)
    assert "mu1=1 mu2=0 (given" in describe_eq5(chosen, 1.0, 0.0)
