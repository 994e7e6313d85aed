"""Two-stage ranking (docs/DESIGN.md "Inference at scale", paper Eq. 5).

Stage 1: the intra dual encoder scores every image-caption pair with one matrix product of
the L2-normalized a^I and a^T (cos(a^I, a^T), the first term of Eq. 5).
Stage 2: the inter encoder re-scores each query's top-K stage-1 candidates with Eq. 5:

    score = cos(a^I,a^T) + mu1 cos(h^I,h^T) + mu2 mean_k cos(h^I,H^T_k) + mu2 mean_k cos(h^T,H^I_k)

Scoring all pairs costs N_img x N_cap inter-encoder passes (125M on COCO 5K), hence K.

* Each direction keeps its own candidate lists: image i's top-K captions (i2t) and caption
  j's top-K images (t2i). A pair in both lists is scored once.
* Within a query's list, re-scored candidates rank above all non-candidates; the
  non-candidates keep their stage-1 order (so R@10 with K < 10 is still well defined).
* K >= gallery size (or k=None) scores every pair: the exhaustive Eq. 5 ranking.
* k=0 re-scores nothing: both directions are the stage-1 ranking.

Ties in stage-1 scores at the K-th place are broken by torch.topk (unspecified order);
with continuous embeddings they do not occur in practice.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ssamt.model.scores import weigh_eq5
from ssamt.retrieval.pair_scores import score_pairs

# Elements per stage-1 block (~64 MB of float32).
_BLOCK_ELEMENTS = 1 << 24


@dataclass
class TwoStageScores:
    """Ranking scores of one gallery, all (N_img, N_cap), higher ranks first.

    intra:      stage-1 cos(a^I, a^T).
    i2t, t2i:   two-stage ranking scores for each direction (candidates first, see module).
    k:          candidates per query asked for (None = all).
    num_pairs:  distinct pairs the inter encoder scored.
    seconds:    wall time per stage {"stage1": ..., "stage2": ...}.
    """

    intra: torch.Tensor
    i2t: torch.Tensor
    t2i: torch.Tensor
    k: int | None
    num_pairs: int
    seconds: dict[str, float] = field(default_factory=dict)


def similarity(img_emb: torch.Tensor, txt_emb: torch.Tensor) -> torch.Tensor:
    """Stage 1: (N_img, d) x (N_cap, d) L2-normalized -> (N_img, N_cap) cosines, in row blocks
    so the temporaries of a large product stay small."""
    out = torch.empty(img_emb.shape[0], txt_emb.shape[0], dtype=torch.float32)
    step = max(1, _BLOCK_ELEMENTS // max(txt_emb.shape[0], 1))
    for s in range(0, img_emb.shape[0], step):
        out[s:s + step] = (img_emb[s:s + step] @ txt_emb.T).float().cpu()
    return out


def topk_rows(sims: torch.Tensor, k: int) -> torch.Tensor:
    """(N, M) scores -> (N, k) column indices of each row's k highest, in row blocks."""
    out = torch.empty(sims.shape[0], k, dtype=torch.long)
    step = max(1, _BLOCK_ELEMENTS // max(sims.shape[1], 1))
    for s in range(0, sims.shape[0], step):
        out[s:s + step] = sims[s:s + step].topk(k, dim=1).indices
    return out


def search_topk(queries: torch.Tensor, gallery: torch.Tensor, k: int,
                backend: str = "torch") -> torch.Tensor:
    """Top-k gallery rows by inner product for each query, without the full score matrix
    when backend="faiss" (exact flat index; optional dependency). (Q, d), (G, d) -> (Q, k)."""
    if backend == "torch":
        return topk_rows(similarity(queries, gallery), k)
    if backend != "faiss":
        raise ValueError(f"unknown search backend {backend!r} (torch or faiss)")
    try:
        import faiss  # optional dependency (ssamt[faiss])
    except ImportError:
        raise ImportError("backend='faiss' needs faiss: pip install 'ssamt[faiss]'") from None
    index = faiss.IndexFlatIP(gallery.shape[1])
    index.add(np.ascontiguousarray(gallery.float().cpu().numpy()))
    _, idx = index.search(np.ascontiguousarray(queries.float().cpu().numpy()), k)
    return torch.from_numpy(idx.astype(np.int64))


def candidate_pairs(i2t_top: torch.Tensor, t2i_top: torch.Tensor, n_cap: int) -> torch.Tensor:
    """Union of both directions' candidate pairs, each pair once.

    i2t_top: (N_img, K) caption indices; t2i_top: (N_cap, K) image indices.
    Returns (M, 2) long (image, caption) rows, sorted image-major.
    """
    n_img = i2t_top.shape[0]
    img_a = torch.arange(n_img).repeat_interleave(i2t_top.shape[1])
    cap_b = torch.arange(t2i_top.shape[0]).repeat_interleave(t2i_top.shape[1])
    flat = torch.cat([img_a * n_cap + i2t_top.reshape(-1), t2i_top.reshape(-1) * n_cap + cap_b])
    flat = torch.unique(flat)  # sorted
    return torch.stack([flat // n_cap, flat % n_cap], dim=1)


def candidates_first(base: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
                     values: torch.Tensor) -> torch.Tensor:
    """A ranking matrix where entries (rows, cols) hold `values` and every other entry ranks
    below all of them, in the order of `base` (N_img, N_cap). Non-candidates are shifted
    down by one constant, so their order is kept (up to float32 rounding)."""
    if values.numel() == 0:
        return base.clone()
    offset = float(base.max()) - float(values.min()) + 1.0
    out = base - offset
    out[rows, cols] = values
    return out


def _pair_lookup(pairs: torch.Tensor, n_cap: int, rows: torch.Tensor,
                 cols: torch.Tensor) -> torch.Tensor:
    """Positions in the sorted `pairs` (M, 2) of the pairs (rows, cols)."""
    keys = pairs[:, 0] * n_cap + pairs[:, 1]
    return torch.searchsorted(keys, rows * n_cap + cols)


def _top_candidates(intra: torch.Tensor, img_emb: torch.Tensor, txt_emb: torch.Tensor,
                    k_i2t: int, k_t2i: int, search: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(N_img, k_i2t) caption indices per image and (N_cap, k_t2i) image indices per caption."""
    if search == "torch":
        return topk_rows(intra, k_i2t), topk_rows(intra.T, k_t2i)
    return search_topk(img_emb, txt_emb, k_i2t, search), search_topk(txt_emb, img_emb, k_t2i, search)


def _direction_scores(intra: torch.Tensor, pairs: torch.Tensor, values: torch.Tensor,
                      i2t_top: torch.Tensor, t2i_top: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The i2t and t2i ranking matrices: each direction's own candidates first, holding the
    Eq. 5 `values` of their row in `pairs`."""
    n_img, n_cap = intra.shape
    rows_a = torch.arange(n_img).repeat_interleave(i2t_top.shape[1])
    cols_a = i2t_top.reshape(-1)
    rows_b = t2i_top.reshape(-1)
    cols_b = torch.arange(n_cap).repeat_interleave(t2i_top.shape[1])
    i2t = candidates_first(intra, rows_a, cols_a, values[_pair_lookup(pairs, n_cap, rows_a, cols_a)])
    t2i = candidates_first(intra, rows_b, cols_b, values[_pair_lookup(pairs, n_cap, rows_b, cols_b)])
    return i2t, t2i


@dataclass
class Candidates:
    """Stage 1 of a gallery and the Eq. 5 terms of its candidate pairs, to be weighed.

    intra: (N_img, N_cap) stage-1 cosines; pairs: (M, 2) scored pairs (image-major);
    terms: (M, 3) Eq. 5's terms of the pairs (PairScores.terms); i2t_top (N_img, K) / t2i_top (N_cap, K), or None when
    every pair was scored (exhaustive); seconds per stage.
    """

    intra: torch.Tensor
    pairs: torch.Tensor
    terms: torch.Tensor
    i2t_top: torch.Tensor | None
    t2i_top: torch.Tensor | None
    k: int | None
    seconds: dict[str, float]

    def rank(self, mu1: float, mu2: float) -> TwoStageScores:
        """The two-stage ranking with Eq. 5 weights mu1, mu2."""
        values = weigh_eq5(self.terms, mu1, mu2)
        if self.i2t_top is None:  # exhaustive: pairs are image-major, one matrix for both
            i2t = t2i = values.reshape(self.intra.shape)
        else:
            i2t, t2i = _direction_scores(self.intra, self.pairs, values, self.i2t_top,
                                         self.t2i_top)
        return TwoStageScores(self.intra, i2t, t2i, k=self.k, num_pairs=len(self.pairs),
                              seconds=dict(self.seconds))


def candidate_terms(
    model: Any, image_table: Any, text_table: Any, img_emb: torch.Tensor,
    txt_emb: torch.Tensor, k: int | None, *,
    image_ids: Sequence[int] | np.ndarray | None = None,
    caption_ids: Sequence[int] | np.ndarray | None = None,
    batch_size: int = 256, device: torch.device | str = "cpu", progress: bool = False,
    search: str = "torch", autocast: torch.dtype | None = None,
) -> Candidates:
    """Stage 1 and the Eq. 5 terms of every query's top-k candidates (k >= 1 or None = all);
    `.rank(mu1, mu2)` then ranks for any weights without running the model again.
    autocast: stage 2 under e.g. torch.bfloat16 (retrieval.pair_scores)."""
    n_img, n_cap = img_emb.shape[0], txt_emb.shape[0]
    image_ids = np.arange(n_img) if image_ids is None else np.asarray(image_ids)
    caption_ids = np.arange(n_cap) if caption_ids is None else np.asarray(caption_ids)
    t0 = time.perf_counter()
    intra = similarity(img_emb, txt_emb)
    i2t_top = t2i_top = None
    if k is None or k >= max(n_img, n_cap):  # every pair: no search
        pairs = torch.cartesian_prod(torch.arange(n_img), torch.arange(n_cap)).reshape(-1, 2)
    else:
        i2t_top, t2i_top = _top_candidates(intra, img_emb, txt_emb, min(k, n_cap),
                                           min(k, n_img), search)
        pairs = candidate_pairs(i2t_top, t2i_top, n_cap)
    t1 = time.perf_counter()
    terms = score_pairs(model, image_table, text_table, pairs, image_ids=image_ids,
                        caption_ids=caption_ids, img_emb=img_emb, txt_emb=txt_emb,
                        batch_size=batch_size, device=device, progress=progress,
                        autocast=autocast).scores.terms()
    return Candidates(intra, pairs, terms, i2t_top, t2i_top, k,
                      {"stage1": t1 - t0, "stage2": time.perf_counter() - t1})


def two_stage(
    model: Any, image_table: Any, text_table: Any, img_emb: torch.Tensor,
    txt_emb: torch.Tensor, k: int | None, mu1: float, mu2: float, *,
    image_ids: Sequence[int] | np.ndarray | None = None,
    caption_ids: Sequence[int] | np.ndarray | None = None,
    batch_size: int = 256, device: torch.device | str = "cpu", progress: bool = False,
    search: str = "torch", autocast: torch.dtype | None = None,
) -> TwoStageScores:
    """Rank a gallery of images (img_emb (N_img, d)) and captions (txt_emb (N_cap, d)).

    k: candidates per query (None = all: exhaustive Eq. 5; 0 = stage 1 only).
    image_ids / caption_ids: table rows of the gallery (default 0..N-1), e.g. a COCO 1K fold.
    search: "torch" (top-K of the stage-1 matrix) or "faiss" (same candidates from a flat
    inner-product index; only worth it on very large galleries).
    autocast: stage 2 under e.g. torch.bfloat16 (CUDA; scores then differ in the ~3rd digit).
    """
    if k is not None and k < 0:
        raise ValueError("k must be >= 0 or None (all)")
    if k == 0:
        t0 = time.perf_counter()
        intra = similarity(img_emb, txt_emb)
        return TwoStageScores(intra, intra, intra, k=0, num_pairs=0,
                              seconds={"stage1": time.perf_counter() - t0, "stage2": 0.0})
    return candidate_terms(model, image_table, text_table, img_emb, txt_emb, k,
                           image_ids=image_ids, caption_ids=caption_ids, batch_size=batch_size,
                           device=device, progress=progress, search=search,
                           autocast=autocast).rank(mu1, mu2)
