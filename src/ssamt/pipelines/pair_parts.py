"""Scores and part rows of many image-caption pairs, in batches: what the minimal-pair
analysis and the part levels (ssamt.pipelines.part_levels) read. One pair at a time is
ssamt.pipelines.explain.score_parts; this is the same computation over batches."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ssamt.data.batch import ImageBatch
from ssamt.labels.graph import CaptionGraph
from ssamt.model.scores import part_scores, s_global, s_phrase, s_region
from ssamt.pipelines.explain import Part, parts_from_scores

SCORES = ("intra", "inter_global", "local", "eq5")


class ImageRows:
    """Image rows: a split's images, and for the minimal pairs the edited images after them
    (rows N..N+M-1).

    feats (N + M, R, D), boxes (N + M, R, G) or None; .batch(idx) -> ImageBatch."""

    def __init__(self, feats: np.ndarray, boxes: np.ndarray | None) -> None:
        self.feats, self.boxes = feats, boxes

    def __len__(self) -> int:
        return len(self.feats)

    def batch(self, indices: Sequence[int]) -> ImageBatch:
        idx = np.asarray(indices, dtype=np.int64)
        regions = torch.from_numpy(np.ascontiguousarray(self.feats[idx], dtype=np.float32))
        boxes = None if self.boxes is None else torch.from_numpy(
            np.ascontiguousarray(self.boxes[idx], dtype=np.float32))
        return ImageBatch(regions, torch.ones(regions.shape[:2], dtype=torch.bool), boxes)


@dataclass
class Scored:
    """Scores of B pairs: score name -> (B,) array; parts[b]: rows of pair b (explain.Part)."""

    scores: dict[str, np.ndarray]
    parts: list[list[Part]]


@torch.no_grad()
def score_pairs(model: Any, images: Any, texts: Any, graphs: Sequence[CaptionGraph],
                img_rows: np.ndarray, cap_rows: np.ndarray, mu1: float, mu2: float, *,
                vocab: Any, max_tokens: int, batch_size: int = 128,
                device: str = "cpu") -> Scored:
    """SCORES and part rows of the pairs (images[img_rows[b]], texts[cap_rows[b]]);
    graphs[c] is the graph of texts row c."""
    model.eval()
    scores: dict[str, list[np.ndarray]] = {k: [] for k in SCORES}
    parts: list[list[Part]] = []
    for a in range(0, len(img_rows), batch_size):
        ii, cc = img_rows[a:a + batch_size], cap_rows[a:a + batch_size]
        ib, tb = images.batch(ii).to(device), texts.batch(cc).to(device)
        a_img, a_txt = model.encode_images(ib), model.encode_texts(tb)
        out = model.inter(ib, tb)
        got = {"intra": s_global(a_img, a_txt), "inter_global": s_global(out.h_img, out.h_txt),
               "local": s_phrase(out) + s_region(out), "eq5": model.eq5(a_img, a_txt, out, mu1, mu2)}
        for k, v in got.items():
            scores[k].append(v.float().cpu().numpy())
        cos = part_scores(out).float().cpu()  # (B, P + L)
        mask = out.H_txt_mask.cpu()
        n_slots = tb.phrase_mask.shape[1]
        parts += [parts_from_scores(graphs[int(c)], cos[b], mask[b], n_slots, max_tokens, vocab)
                  for b, c in enumerate(cc)]
    return Scored({k: np.concatenate(v) if v else np.zeros(0) for k, v in scores.items()}, parts)


