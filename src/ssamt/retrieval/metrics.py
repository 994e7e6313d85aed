"""Recall@K for image-text retrieval (paper 3.1), from score matrices.

Conventions
-----------
* A score matrix is always laid out (N_img, N_cap): row i = image i, column j = caption j,
  higher = more similar. Two-stage ranking (docs/DESIGN.md "Inference at scale") produces a
  different matrix for each direction, so the two directions take separate matrices.
* `caption_to_image[j]` is the image of caption j; captions per image may vary (it is
  data, never the literal 5, docs/DESIGN.md section 3).
* Image-to-text counts the best-ranked of the image's captions (rank of the first correct).
* **Ties are pessimistic**: an incorrect item whose score equals the correct one's is ranked
  above it. This makes the result independent of sort order and never flatters a model that
  outputs constant scores (a constant scorer gets R@K = 0 unless every item is correct).
* Ranks are 0-based: rank 0 means the correct item is first; R@K counts rank < K.
* Scores must not be NaN (a NaN compares false with everything and would silently rank
  wherever the comparison put it); -inf and +inf are allowed.

Matrices are processed in blocks of rows (i2t) or columns (t2i), so a 5,000 x 25,000 COCO 5K
matrix needs only a few block-sized temporaries on top of itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

RECALL_KS: tuple[int, ...] = (1, 5, 10)
METRIC_KEYS: tuple[str, ...] = tuple(
    f"{d}_R@{k}" for d in ("i2t", "t2i") for k in RECALL_KS
) + ("rsum",)

ArrayLike = np.ndarray | torch.Tensor

# Elements per temporary block (~64 MB of float32 per temporary).
_BLOCK_ELEMENTS = 1 << 24


def _as_scores(sims: ArrayLike) -> torch.Tensor:
    """(N_img, N_cap) float tensor sharing memory with `sims` where possible (CPU)."""
    t = torch.as_tensor(sims)
    if t.ndim != 2:
        raise ValueError(f"score matrix must be 2-D (images, captions), got shape {tuple(t.shape)}")
    if not t.is_floating_point():
        t = t.float()
    return t


def _as_index(caption_to_image: ArrayLike, n_img: int, n_cap: int, device) -> torch.Tensor:
    """(N_cap,) long tensor, checked: in range, and every image has at least one caption."""
    c2i = torch.as_tensor(caption_to_image).to(device=device, dtype=torch.long)
    if c2i.ndim != 1 or c2i.numel() != n_cap:
        raise ValueError(f"caption_to_image must have shape ({n_cap},), got {tuple(c2i.shape)}")
    if n_cap and (int(c2i.min()) < 0 or int(c2i.max()) >= n_img):
        raise ValueError(f"caption_to_image values must lie in [0, {n_img})")
    counts = torch.bincount(c2i, minlength=n_img)
    if n_img and int(counts.min()) == 0:
        missing = int(torch.nonzero(counts == 0)[0])
        raise ValueError(f"image {missing} has no caption: its image-to-text rank is undefined")
    return c2i


def _check_not_nan(block: torch.Tensor) -> None:
    if torch.isnan(block).any():
        raise ValueError("score matrix contains NaN")


def i2t_ranks(sims: ArrayLike, caption_to_image: ArrayLike) -> np.ndarray:
    """Rank of each image's best-ranked correct caption.

    sims: (N_img, N_cap) scores; caption_to_image: (N_cap,) int.
    Returns (N_img,) int64: the number of incorrect captions scoring >= the image's best
    correct caption (pessimistic ties).
    """
    s = _as_scores(sims)
    n_img, n_cap = s.shape
    c2i = _as_index(caption_to_image, n_img, n_cap, s.device)
    ranks = torch.empty(n_img, dtype=torch.long)
    step = max(1, _BLOCK_ELEMENTS // max(n_cap, 1))
    for start in range(0, n_img, step):
        block = s[start:start + step]  # (b, N_cap)
        _check_not_nan(block)
        rows = torch.arange(start, start + block.shape[0], device=s.device)
        correct = c2i[None, :] == rows[:, None]  # (b, N_cap)
        neg_inf = torch.tensor(float("-inf"), dtype=block.dtype, device=block.device)
        best = torch.where(correct, block, neg_inf).amax(dim=1, keepdim=True)  # (b, 1)
        ranks[start:start + block.shape[0]] = ((block >= best) & ~correct).sum(dim=1).cpu()
    return ranks.numpy()


def t2i_ranks(sims: ArrayLike, caption_to_image: ArrayLike) -> np.ndarray:
    """Rank of each caption's image among all images.

    sims: (N_img, N_cap) scores; caption_to_image: (N_cap,) int.
    Returns (N_cap,) int64: the number of other images scoring >= the correct one
    (pessimistic ties).
    """
    s = _as_scores(sims)
    n_img, n_cap = s.shape
    c2i = _as_index(caption_to_image, n_img, n_cap, s.device)
    ranks = torch.empty(n_cap, dtype=torch.long)
    step = max(1, _BLOCK_ELEMENTS // max(n_img, 1))
    for start in range(0, n_cap, step):
        block = s[:, start:start + step]  # (N_img, b)
        _check_not_nan(block)
        cols = torch.arange(block.shape[1], device=s.device)
        own = block[c2i[start:start + block.shape[1]], cols]  # (b,)
        # The correct image itself satisfies >=, hence the -1.
        ranks[start:start + block.shape[1]] = ((block >= own[None, :]).sum(dim=0) - 1).cpu()
    return ranks.numpy()


def recall_at(ranks: np.ndarray, ks: Sequence[int] = RECALL_KS) -> dict[int, float]:
    """Percentage of queries whose rank is < k, for each k. Empty input gives 0.0."""
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        return {k: 0.0 for k in ks}
    return {k: float(100.0 * np.mean(ranks < k)) for k in ks}


def recall_i2t(sims: ArrayLike, caption_to_image: ArrayLike) -> dict[str, float]:
    """{"i2t_R@1", "i2t_R@5", "i2t_R@10"} (percent) from an (N_img, N_cap) i2t score matrix."""
    return {f"i2t_R@{k}": v for k, v in recall_at(i2t_ranks(sims, caption_to_image)).items()}


def recall_t2i(sims: ArrayLike, caption_to_image: ArrayLike) -> dict[str, float]:
    """{"t2i_R@1", "t2i_R@5", "t2i_R@10"} (percent) from an (N_img, N_cap) t2i score matrix."""
    return {f"t2i_R@{k}": v for k, v in recall_at(t2i_ranks(sims, caption_to_image)).items()}


def with_rsum(metrics: dict[str, float]) -> dict[str, float]:
    """The six recalls in METRIC_KEYS order plus rsum = their sum (paper 3.1)."""
    out = {key: float(metrics[key]) for key in METRIC_KEYS if key != "rsum"}
    out["rsum"] = float(sum(out.values()))
    return out


def recall_from_scores(
    i2t_sims: ArrayLike, t2i_sims: ArrayLike, caption_to_image: ArrayLike
) -> dict[str, float]:
    """All METRIC_KEYS when each direction has its own (N_img, N_cap) score matrix."""
    return with_rsum({**recall_i2t(i2t_sims, caption_to_image),
                      **recall_t2i(t2i_sims, caption_to_image)})


def recall_from_similarity(sims: ArrayLike, caption_to_image: ArrayLike) -> dict[str, float]:
    """All METRIC_KEYS (percentages, rsum = sum of the six) from one (N_img, N_cap) matrix."""
    return recall_from_scores(sims, sims, caption_to_image)
