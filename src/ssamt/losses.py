"""Multi-scale matching losses (paper 2.4, Eqs. 1-4; docs/DESIGN.md, "Which representation
scores a pair"): the pieces both phase-2 recipes build their terms from.

Naming: a batch holds B positive pairs (i, i); for each, a negative caption j (pair (i, j))
and a negative image k (pair (k, i)). Every loss returns per-example values or batch means;
the named terms "L0".."L3" are summed by `combine` with one weight dict (Eq. 4), DETR-style.
Ablations of Table 3 are weights of 0 (w/o LM: L2, w/o PM: L3), not other code paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from ssamt.data.batch import MARK_MATCHED, MARK_MISMATCHED, PhraseMarks
from ssamt.errors import ConfigError
from ssamt.model.scores import InterOutput, masked_mean, part_scores

TERMS = ("L0", "L1", "L2", "L3")
# Logged, never trained: the hinge of s_G alone, when L1 ranks s_A + s_G (the ssamt recipe).
DIAGNOSTICS = ("L1_sG",)


def _set_mean(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """(B,) stays; (B, K) -> mean over the K members (where mask is True) -> (B,)."""
    if x.dim() == 1:
        return x
    return x.mean(-1) if mask is None else masked_mean(x, mask)


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
    hardest:   True: the hardest in-batch negative (VSE++); False: the warm-up of docs/DESIGN.md
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


# Types of the local text outputs H^T = [phrases; words] for the within-type L3: the phrase
# types of PHRASE_TYPE_IDS (1 object, 2 attribute, 3 relation) and WORD_PART for a word.
WORD_PART = 4
PART_TYPES = 4
PART_TYPE_NAMES = ("object", "attribute", "relation", "word")  # types 1..4


def part_types(phrase_types: torch.Tensor, token_mask: torch.Tensor) -> torch.Tensor:
    """(B, P) phrase types and (B, L) token mask -> (B, P + L) type of each local text output
    (0 at padding), lined up with PhraseMarks.combined() and InterOutput.H_txt."""
    return torch.cat([phrase_types, token_mask.long() * WORD_PART], dim=1)


def per_type_sums(cos: torch.Tensor, member: torch.Tensor,
                  types: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum and count of cos (B, K) per part type over each set of members -> (B, S, 4),
    (B, S, 4); member (B, S, K) bool: S sets of parts of each row."""
    # A comparison, not F.one_hot: one_hot reads the range of its input back to the host.
    kinds = torch.arange(1, PART_TYPES + 1, device=types.device)
    onehot = (types.clamp(0, PART_TYPES)[..., None] == kinds).to(cos.dtype)  # (B, K, 4)
    chosen = member.to(cos.dtype)  # (B, S, K)
    return (chosen * cos[:, None]) @ onehot, chosen @ onehot


@dataclass(frozen=True)
class MatchedReference:
    """Parts known to match an image, added to H+ of the within-type L3: the positive
    caption's matched parts, scored in the inter run on (image, its own caption).

    cos: (B, K) part scores of that run (model.scores.part_scores); types: (B, K) part
    types; matched: (B, K) bool.
    """

    cos: torch.Tensor
    types: torch.Tensor
    matched: torch.Tensor

    def index(self, idx: torch.Tensor) -> MatchedReference:
        return MatchedReference(self.cos[idx], self.types[idx], self.matched[idx])


def _part_sets(out: InterOutput, marks: PhraseMarks) -> tuple[torch.Tensor, ...]:
    """-> part scores (B, P + L), H+ and H- (B, P + L) bool of one set of runs: MARK_MATCHED
    parts are H+, MARK_MISMATCHED ones H-, anything else (unlabeled, padding) neither."""
    cos = part_scores(out)  # (B, P + L)
    combined = marks.combined()  # (B, P + L)
    matched = (combined == MARK_MATCHED) & out.H_txt_mask
    mismatched = (combined == MARK_MISMATCHED) & out.H_txt_mask
    return cos, matched, mismatched


def phrase_matching(out: InterOutput, marks: PhraseMarks, alpha: float) -> torch.Tensor:
    """One L3 term as the paper writes it (Eq. 3) on negative pairs -> (B,); 0 where H+ or H-
    is empty (skipped): TriL_alpha(mean_{p in H+} cos(h^I, p), mean_{p in H-} cos(h^I, p))
    over the phrase and word outputs H^T of the pair's own inter run, marked by the label
    rule (docs/DESIGN.md section 2)."""
    cos, matched, mismatched = _part_sets(out, marks)
    present = matched.any(1) & mismatched.any(1)
    return tril(cos, cos, alpha, matched, mismatched) * present


def phrase_matching_by_type(out: InterOutput, marks: PhraseMarks, alpha: float,
                            types: torch.Tensor,
                            reference: MatchedReference | None = None) -> torch.Tensor:
    """One L3 term of the ssamt recipe -> (B,): H+ and H- compared within each part type
    (object, attribute, relation, word; `types` (B, P + L), see part_types), the hinges
    averaged over the types where both are non-empty (0 where none is).

    Why within type: mismatched parts of a negative caption are mostly attributes and
    relations and matched ones mostly objects and words, so the across-type Eq. 3 is met by
    scoring each type at its own level, with no grounding (docs/PHASE2.md). reference:
    matched parts of the same image from its positive run, joined to H+ per type (so
    attributes and relations, rarely matched in a negative caption, still get a matched side).
    """
    cos, matched, mismatched = _part_sets(out, marks)
    # Matched and mismatched sides in one product (fewer kernels): (B, 2, 4) each.
    sums, counts = per_type_sums(cos, torch.stack([matched, mismatched], 1), types)
    (pos_sum, neg_sum), (pos_cnt, neg_cnt) = sums.unbind(1), counts.unbind(1)
    if reference is not None:
        ref_sum, ref_cnt = per_type_sums(reference.cos, reference.matched[:, None],
                                         reference.types)
        pos_sum, pos_cnt = pos_sum + ref_sum[:, 0], pos_cnt + ref_cnt[:, 0]
    present = (pos_cnt > 0) & (neg_cnt > 0)  # (B, 4)
    hinge = (alpha - pos_sum / pos_cnt.clamp_min(1) + neg_sum / neg_cnt.clamp_min(1)).clamp_min(0)
    return (hinge * present).sum(1) / present.sum(1).clamp_min(1)


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
