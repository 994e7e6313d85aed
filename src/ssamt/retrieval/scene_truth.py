"""Scene-truth Recall@K: a result counts as correct when the caption is true of the
image, not only when it is one of the image's own captions.

Standard R@K scores every query by its source image alone: on the small synthetic set 11.1%
of test captions are fully true of another test image, and a model that ranks such an image
first is counted wrong. With a truth matrix (N_img, N_cap) bool, truth[i, j] = caption j is
true of image i (for synthetic data: ssamt.data.synth.truth.truth_matrix, or
`split_truth(data_dir, split)`), the ranks below count only untrue items ranked above the
best true one. Conventions as in metrics.py: (N_img, N_cap) scores, pessimistic ties,
0-based ranks, blocks of rows / columns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ssamt.data.synth.minimal import minimal_paths, read_scenes, read_specs
from ssamt.data.synth.truth import truth_matrix
from ssamt.retrieval.metrics import RECALL_KS, recall_at, recall_from_scores, with_rsum
from ssamt.retrieval.rerank import TwoStageScores

_BLOCK_ELEMENTS = 1 << 24


def _check(sims: np.ndarray | torch.Tensor, truth: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    s = torch.as_tensor(np.asarray(sims) if not isinstance(sims, torch.Tensor) else sims).float()
    t = torch.as_tensor(np.asarray(truth, dtype=bool))
    if s.shape != t.shape or s.ndim != 2:
        raise ValueError(f"scores {tuple(s.shape)} and truth {tuple(t.shape)} must both be "
                         "(N_img, N_cap)")
    if torch.isnan(s).any():
        raise ValueError("score matrix contains NaN")
    return s, t


def _ranks(s: torch.Tensor, t: torch.Tensor) -> np.ndarray:
    """Per row: the number of untrue entries scoring >= the best true one; a row with no
    true entry gets rank len(row) (never within R@K)."""
    ranks = torch.empty(s.shape[0], dtype=torch.long)
    step = max(1, _BLOCK_ELEMENTS // max(s.shape[1], 1))
    for a in range(0, s.shape[0], step):
        block, true = s[a:a + step], t[a:a + step]
        best = torch.where(true, block, torch.tensor(float("-inf"))).amax(1, keepdim=True)
        r = ((block >= best) & ~true).sum(1)
        ranks[a:a + step] = torch.where(true.any(1), r, torch.tensor(s.shape[1]))
    return ranks.numpy()


def truth_ranks_i2t(sims: np.ndarray | torch.Tensor, truth: np.ndarray) -> np.ndarray:
    """(N_img,) rank of each image's best-ranked true caption; sims, truth (N_img, N_cap)."""
    s, t = _check(sims, truth)
    return _ranks(s, t)


def truth_ranks_t2i(sims: np.ndarray | torch.Tensor, truth: np.ndarray) -> np.ndarray:
    """(N_cap,) rank of each caption's best-ranked true image; sims, truth (N_img, N_cap)."""
    s, t = _check(sims, truth)
    return _ranks(s.T.contiguous(), t.T.contiguous())


def scene_truth_recall(i2t_sims: np.ndarray | torch.Tensor, t2i_sims: np.ndarray | torch.Tensor,
                       truth: np.ndarray) -> dict[str, float]:
    """METRIC_KEYS (percent, rsum) counting a result correct when it is true by the scene."""
    i2t = recall_at(truth_ranks_i2t(i2t_sims, truth), RECALL_KS)
    t2i = recall_at(truth_ranks_t2i(t2i_sims, truth), RECALL_KS)
    return with_rsum({**{f"i2t_R@{k}": v for k, v in i2t.items()},
                      **{f"t2i_R@{k}": v for k, v in t2i.items()}})


def split_truth(data_dir: str | Path, split: str) -> np.ndarray | None:
    """The truth matrix of a synthetic split from its scenes and caption specs, or None when
    the folder has no caption specs (real data, or a synthetic folder without them)."""
    if not minimal_paths(data_dir, split)["specs"].is_file():
        return None
    return truth_matrix(read_scenes(data_dir, split), read_specs(data_dir, split))


def truth_recalls(scores: TwoStageScores, caption_to_image: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """Standard and scene-truth recalls of one ranking (a rerank.TwoStageScores: .intra,
    .i2t, .t2i (N_img, N_cap)), for `ssamt evaluate` and the quick-start report:
    {"standard": {"intra": METRIC_KEYS, "reranked": ...}, "scene_truth": {...}}."""
    out: dict[str, Any] = {"standard": {}, "scene_truth": {}}
    for name, (i2t, t2i) in (("intra", (scores.intra, scores.intra)),
                             ("reranked", (scores.i2t, scores.t2i))):
        out["standard"][name] = recall_from_scores(i2t, t2i, caption_to_image)
        out["scene_truth"][name] = scene_truth_recall(i2t, t2i, truth)
    return out
