"""Multi-scale matching losses (paper 2.4, Eqs. 1-4; DESIGN.md "Which representation scores
a pair").

Naming: a batch holds B positive pairs (i, i); for each, a negative caption j (pair (i, j))
and a negative image k (pair (k, i)). Every loss returns per-batch means; the named terms
"L0".."L3" are summed by `combine` with one weight dict (Eq. 4), DETR-style. Ablations of
Table 3 are weights of 0 (w/o LM: L2, w/o PM: L3), not other code paths.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ssamt.data.batch import MARK_MATCHED, MARK_MISMATCHED, PhraseMarks
from ssamt.errors import ConfigError
from ssamt.model.scores import InterOutput, cos_each, s_global, s_phrase, s_region

TERMS = ("L0", "L1", "L2", "L3")


def _set_mean(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """(B,) stays; (B, K) -> mean over the K members (where mask is True) -> (B,)."""
    if x.dim() == 1:
        return x
    if mask is None:
        return x.mean(-1)
    m = mask.to(x.dtype)
    return (x * m).sum(-1) / m.sum(-1).clamp_min(1.0)


def tril(pos: torch.Tensor, neg: torch.Tensor, alpha: float,
         pos_mask: torch.Tensor | None = None,
         neg_mask: torch.Tensor | None = None) -> torch.Tensor:
    """TriL_alpha = max(alpha - mean(pos) + mean(neg), 0) per example -> (B,).

    pos, neg: (B,) scores, or (B, K) score sets reduced by their (masked) mean, the paper's
    1/|V| sum_v cos(u, v) and 1/|W| sum_w cos(u, w).
    """
    return (alpha - _set_mean(pos, pos_mask) + _set_mean(neg, neg_mask)).clamp_min(0.0)


def intra_loss(a_img: torch.Tensor, a_txt: torch.Tensor, image_ids: torch.Tensor,
               alpha: float, hardest: bool = True) -> torch.Tensor:
    """L0 (Eq. 1 with a^I, a^T) with in-batch negatives -> scalar.

    a_img:     (B, d) a^I of the image of each caption (an image may appear in several rows).
    a_txt:     (B, d) a^T of the B captions; row b of both is a positive pair.
    image_ids: (B,) dataset image id of each caption. Captions (images) sharing the image id
               of the anchor are never its negatives (an image has several captions).
    hardest:   True: the hardest in-batch negative (VSE++); False: the warm-up of DESIGN.md
               section 2, averaging over all in-batch negatives the per-negative hinge
               TriL(s_A(i,i), s_A(i,j)) (VSE++'s "sum of hinges" / their count).
    The warm-up averages hinges, not scores: a hinge of the mean score is 0 (no gradient)
    once the positive beats the *average* negative by alpha, which a weak model does early;
    it stalls there, and the switch to hardest negatives then collapses all a^I (a^T) onto
    one point (every cosine equal, L0 stuck at 2 alpha, no ranking signal left).
    """
    a_i = torch.nn.functional.normalize(a_img, dim=-1)
    a_t = torch.nn.functional.normalize(a_txt, dim=-1)
    sims = a_i @ a_t.T  # (B, B): [r, c] = cos(image of row r, caption c)
    pos = sims.diagonal()  # (B,)
    negative = image_ids[:, None] != image_ids[None, :]  # (B, B), symmetric
    has_neg = negative.any(1)  # rows with no valid negative give no loss
    if hardest:
        fill = torch.finfo(sims.dtype).min
        neg_cap = sims.masked_fill(~negative, fill).amax(1)  # image r vs its hardest caption
        neg_img = sims.masked_fill(~negative, fill).amax(0)  # caption c vs its hardest image
        loss = tril(pos, neg_cap, alpha) + tril(pos, neg_img, alpha)  # (B,)
    else:  # the mean over negatives of the per-negative hinges (see the docstring)
        hinge_cap = (alpha - pos[:, None] + sims).clamp_min(0.0)  # [r, c]: image r vs caption c
        hinge_img = (alpha - pos[None, :] + sims).clamp_min(0.0)  # [r, c]: caption c vs image r
        loss = _set_mean(hinge_cap, negative) + _set_mean(hinge_img.T, negative.T)  # (B,)
    return (loss * has_neg).mean()


def phrase_matching(out: InterOutput, marks: PhraseMarks, alpha: float) -> torch.Tensor:
    """One L3 term (Eq. 3) on negative pairs -> (B,); 0 where H+ or H- is empty (skipped).

    TriL_alpha(mean_{p in H+} cos(h^I, p), mean_{p in H-} cos(h^I, p)) with the phrase and
    word outputs H^T of the pair's own inter run; marks: MARK_MATCHED (H+),
    MARK_MISMATCHED (H-), anything else (-1: unlabeled / padding) is in neither set.
    """
    cos = cos_each(out.h_img, out.H_txt)  # (B, P + L)
    combined = marks.combined()  # (B, P + L)
    matched = (combined == MARK_MATCHED) & out.H_txt_mask
    mismatched = (combined == MARK_MISMATCHED) & out.H_txt_mask
    present = matched.any(1) & mismatched.any(1)
    return tril(cos, cos, alpha, matched, mismatched) * present


def inter_losses(pos: InterOutput, neg_txt: InterOutput, neg_img: InterOutput,
                 marks_txt: PhraseMarks | None, marks_img: PhraseMarks | None,
                 alpha1: float, alpha2: float, alpha3: float) -> dict[str, torch.Tensor]:
    """L1 (global), L2 (local), L3 (phrase matching) of B positive pairs -> scalars.

    pos:       inter run on (I_i, T_i);  neg_txt: on (I_i, T_j);  neg_img: on (I_k, T_i).
    marks_txt: marks of T_j's phrases/tokens w.r.t. the labels L_i (PhraseMarks).
    marks_img: marks of T_i's phrases/tokens w.r.t. the labels L_k.
    L3 is left out of the dict when either marks is None (e.g. weight 0, Table 3 w/o PM).
    """
    g_pos = s_global(pos.h_img, pos.h_txt)
    l1 = (tril(g_pos, s_global(neg_txt.h_img, neg_txt.h_txt), alpha1)
          + tril(g_pos, s_global(neg_img.h_img, neg_img.h_txt), alpha1))
    # Eq. 2: phrase-to-image on the negative caption, region-to-sentence on the negative image.
    l2 = (tril(s_phrase(pos), s_phrase(neg_txt), alpha2)
          + tril(s_region(pos), s_region(neg_img), alpha2))
    terms = {"L1": l1.mean(), "L2": l2.mean()}
    if marks_txt is not None and marks_img is not None:
        l3 = phrase_matching(neg_txt, marks_txt, alpha3) + phrase_matching(
            neg_img, marks_img, alpha3)
        terms["L3"] = l3.mean()
    return terms


def combine(terms: Mapping[str, torch.Tensor], weights: Mapping[str, float]) -> torch.Tensor:
    """Eq. 4: sum of weight * term over the terms present; weight 0 (or absent) drops one.

    Unknown weight names raise ConfigError (a misspelt "l3" must not silently drop L3).
    """
    unknown = sorted(set(weights) - set(TERMS))
    if unknown:
        raise ConfigError(f"unknown loss weights {unknown}; known: {list(TERMS)}")
    total = None
    for name, term in terms.items():
        w = float(weights.get(name, 0.0))
        if w != 0.0:
            total = w * term if total is None else total + w * term
    if total is None:
        raise ConfigError(f"no loss term with a nonzero weight among {sorted(terms)}")
    return total
