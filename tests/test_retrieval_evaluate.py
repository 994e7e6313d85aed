"""evaluate_tables: protocols + two-stage glue, and the Table 1 text layout."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_retrieval_fakes import FakeImageTable, FakeModel, FakeTextTable, direct_eq5

from ssamt.retrieval.encode import encode_gallery
from ssamt.retrieval.evaluate import evaluate_tables, format_results, format_table
from ssamt.retrieval.metrics import METRIC_KEYS, recall_from_similarity

MU1, MU2 = 0.2, 0.1


def _data(n_img=10, per=3):
    return (FakeModel(), FakeImageTable(n_img), FakeTextTable(n_img * per),
            np.repeat(np.arange(n_img), per))


def test_exhaustive_f30k_matches_direct_scoring():
    model, images, texts, c2i = _data()
    res = evaluate_tables(model, images, texts, c2i, protocol="f30k", k=None, mu1=MU1, mu2=MU2)
    ref = direct_eq5(model, images, texts, MU1, MU2)
    assert res["reranked"] == pytest.approx(recall_from_similarity(ref, c2i))
    img, txt = encode_gallery(model, images, texts)
    assert res["intra"] == pytest.approx(recall_from_similarity(img @ txt.T, c2i))
    assert res["pairs_scored"] == 10 * 30 and res["k"] == "all"
    assert res["gap"]["rsum"] == pytest.approx(res["reranked"]["rsum"] - res["intra"]["rsum"])
    json.dumps(res)  # JSON-ready


def test_coco1k_folds_rank_their_own_gallery():
    model, images, texts, c2i = _data(n_img=10, per=2)
    res = evaluate_tables(model, images, texts, c2i, protocol="coco1k", k=None, mu1=MU1, mu2=MU2)
    assert res["num_folds"] == 5 and len(res["folds"]) == 5
    # Each fold scores only its own 2 images x 4 captions.
    assert res["pairs_scored"] == 5 * 2 * 4
    ref = direct_eq5(model, images, texts, MU1, MU2)
    folds = [recall_from_similarity(ref[2 * f:2 * f + 2, 4 * f:4 * f + 4], np.repeat([0, 1], 2))
             for f in range(5)]
    for key in METRIC_KEYS:
        assert res["reranked"][key] == pytest.approx(np.mean([m[key] for m in folds]))
    mean = res["reranked"]
    assert mean["rsum"] == pytest.approx(sum(mean[k] for k in METRIC_KEYS if k != "rsum"))


def test_k0_reports_stage1_only_and_encodes_once():
    model, images, texts, c2i = _data()
    res = evaluate_tables(model, images, texts, c2i, protocol="coco5k", k=0)
    assert "reranked" not in res and "gap" not in res and res["pairs_scored"] == 0
    assert set(model.image_calls.values()) == {1} and set(model.text_calls.values()) == {1}
    assert "re-ranked" not in format_results(res)


def test_format_results_table_layout():
    model, images, texts, c2i = _data()
    res = evaluate_tables(model, images, texts, c2i, k=4, mu1=MU1, mu2=MU2)
    text = format_results(res)
    assert "Image-to-Text" in text and "Text-to-Image" in text and "RSum" in text
    assert "intra (stage 1)" in text and "re-ranked (K=4)" in text and "time:" in text
    row = format_table({"x": dict.fromkeys(METRIC_KEYS, 12.345)}).splitlines()[-1]
    assert row.split() == ["x", "12.3", "12.3", "12.3", "|", "12.3", "12.3", "12.3", "|", "12.3"]


def test_model_left_in_training_mode_if_it_was():
    model, images, texts, c2i = _data()
    model.train()
    evaluate_tables(model, images, texts, c2i, k=2)
    assert model.training and not any(model.modes_seen)
    assert torch.is_grad_enabled()


def test_scene_truth_recall_per_fold_and_diagonal_truth_equals_standard():
    model, images, texts, c2i = _data()
    own = c2i[None, :] == np.arange(10)[:, None]  # (N_img, N_cap): only the source image
    res = evaluate_tables(model, images, texts, c2i, protocol="f30k", k=4, mu1=MU1, mu2=MU2,
                          truth=own)
    assert res["scene_truth"]["intra"] == pytest.approx(res["intra"])
    assert res["scene_truth"]["reranked"] == pytest.approx(res["reranked"])
    everything = np.ones_like(own)  # every caption true of every image: R@1 = 100
    res = evaluate_tables(model, images, texts, c2i, protocol="f30k", k=4, mu1=MU1, mu2=MU2,
                          truth=everything)
    assert res["scene_truth"]["reranked"]["i2t_R@1"] == 100.0
    assert "scene truth" in format_results(res)
