"""Plain references for the batched scoring: one pair at a time, straight from the model
(SSAMT.score and model.scores.part_scores), as a loop a reader can check by eye."""

from __future__ import annotations

import torch

from ssamt.data.tables import TextTable
from ssamt.model.scores import part_scores
from ssamt.pipelines.parts import parts_from_scores


@torch.no_grad()
def plain_pair(model, vocab, image, graph, mu1: float, mu2: float, max_tokens: int):
    """One pair (image: an ImageBatch of one) -> ({intra, inter_global, local, eq5, s_P,
    s_R}: float, the caption's part rows (ssamt.pipelines.parts.Part))."""
    model.eval()
    txt = TextTable([graph], vocab, max_tokens=max_tokens).batch([0])
    s = model.score(image, txt)
    out = model.inter(image, txt)
    cos = part_scores(out)[0].masked_fill(~out.H_txt_mask[0], float("nan"))
    n_p = txt.phrase_mask.shape[1]
    parts = parts_from_scores(graph, cos[:n_p], cos[n_p:], max_tokens, vocab)
    scores = {"intra": s.s_A, "inter_global": s.s_G, "local": s.s_P + s.s_R,
              "eq5": s.eq5(mu1, mu2), "s_P": s.s_P, "s_R": s.s_R}
    return {k: float(v[0]) for k, v in scores.items()}, parts
