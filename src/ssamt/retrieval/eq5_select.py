"""Choose Eq. 5's weights mu1, mu2 on a held-out split (the paper tunes them per dataset:
0.3 / 0.1 on Flickr30K, 0.2 / 0.1 on COCO).

The inter encoder scores each query's top-K candidates once; every (mu1, mu2) of the grid
then only re-weighs the stored terms (ssamt.retrieval.rerank.Candidates), so a grid of 45
points costs one stage-2 pass. mu1 = mu2 = 0 ranks by s_A alone, i.e. stage 1: a grid that
holds it never selects weights that do worse than the dual encoder on the split.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ssamt.retrieval.encode import encode_gallery
from ssamt.retrieval.metrics import recall_from_scores, recall_from_similarity
from ssamt.retrieval.rerank import candidate_terms


def grid_recalls(candidates, caption_image: np.ndarray, mu1_grid: Sequence[float],
                 mu2_grid: Sequence[float]) -> list[dict[str, float]]:
    """RSum of every grid point -> [{"mu1", "mu2", "rsum"}], in grid order."""
    rows = []
    for mu1 in mu1_grid:
        for mu2 in mu2_grid:
            ranked = candidates.rank(float(mu1), float(mu2))
            rsum = recall_from_scores(ranked.i2t, ranked.t2i, caption_image)["rsum"]
            rows.append({"mu1": float(mu1), "mu2": float(mu2), "rsum": float(rsum)})
    return rows


def best_point(rows: list[dict[str, float]]) -> dict[str, float]:
    """The highest RSum; among ties the smallest mu1 + mu2 (the least re-ranking)."""
    return max(rows, key=lambda r: (round(r["rsum"], 6), -(r["mu1"] + r["mu2"])))


def select_eq5_weights(model: Any, images: Any, texts: Any, caption_image: np.ndarray, *,
                       k: int, mu1_grid: Sequence[float], mu2_grid: Sequence[float],
                       batch_size: int = 256, device: torch.device | str = "cpu",
                       progress: bool = False) -> dict[str, Any]:
    """Grid-search mu1, mu2 by two-stage RSum (top-k re-ranked) on one split.

    images / texts: ImageTable / TextTable of the split; caption_image (N_cap,).
    Returns {"mu1", "mu2", "rsum" (at the choice), "stage1_rsum", "k", "grid": rows}.
    """
    if k < 1:
        raise ValueError("Eq. 5 weights need re-ranked candidates: k >= 1")
    img_emb, txt_emb = encode_gallery(model, images, texts, batch_size=batch_size,
                                      device=device, progress=progress)
    candidates = candidate_terms(model, images, texts, img_emb, txt_emb, k,
                                 batch_size=batch_size, device=device, progress=progress)
    rows = grid_recalls(candidates, caption_image, mu1_grid, mu2_grid)
    best = best_point(rows)
    stage1 = recall_from_similarity(candidates.intra, caption_image)["rsum"]
    return {"mu1": best["mu1"], "mu2": best["mu2"], "rsum": best["rsum"],
            "stage1_rsum": float(stage1), "k": int(k), "grid": rows}
