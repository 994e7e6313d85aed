"""Multi-scale matching losses (paper 2.4, Eqs. 1-4; DESIGN.md "Which representation scores
a pair").

Naming: a batch holds B positive pairs (i, i); for each, a negative caption j (pair (i, j))
and a negative image k (pair (k, i)). Every loss returns per-batch means; the named terms
"L0".."L3" are summed by `combine` with one weight dict (Eq. 4), DETR-style. Ablations of
Table 3 are weights of 0 (w/o LM: L2, w/o PM: L3), not other code paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from ssamt.data.batch import MARK_MATCHED, MARK_MISMATCHED, PhraseMarks
from ssamt.errors import ConfigError
from ssamt.model.scores import (
    InterOutput,
    masked_mean,
    part_scores,
    s_global,
    s_phrase,
    s_phrase_encoder,
    s_region,
    s_region_encoder,
)

TERMS = ("L0", "L1", "L2", "L3", "LR")  # LR: role contrast (issue 11, train.role_contrast)
# Logged, never trained: the s_G-only hinge of L1 (meaningful when L1 ranks s_A + s_G), and
# the edited negatives' shares of L1 / L3 (issue 11; already inside L1 / L3).
DIAGNOSTICS = ("L1_sG", "L1_edit", "L3_edit")


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

    cos:   (B, K) part scores of that run (model.scores.part_scores);  types: (B, K) part types;  matched: (B, K) bool.
    """

    cos: torch.Tensor
    types: torch.Tensor
    matched: torch.Tensor

    def index(self, idx: torch.Tensor) -> MatchedReference:
        return MatchedReference(self.cos[idx], self.types[idx], self.matched[idx])


def phrase_matching(out: InterOutput, marks: PhraseMarks, alpha: float,
                    types: torch.Tensor | None = None,
                    reference: MatchedReference | None = None) -> torch.Tensor:
    """One L3 term (Eq. 3) on negative pairs -> (B,); 0 where H+ or H- is empty (skipped).

    TriL_alpha(mean_{p in H+} cos(h^I, p), mean_{p in H-} cos(h^I, p)) with the phrase and
    word outputs H^T of the pair's own inter run; marks: MARK_MATCHED (H+),
    MARK_MISMATCHED (H-), anything else (-1: unlabeled / padding) is in neither set.

    types (B, P + L) (see part_types): compare H+ and H- within each part type and average the
    hinges over the types where both are non-empty. Mismatched parts of a negative caption
    are mostly attributes and relations and matched ones mostly objects and words, so a
    comparison across types is met by scoring each type at its own level, with no grounding
    (DESIGN.md section 2, revised). reference: matched parts of the same image from its
    positive run, joined to H+ per type (so attributes and relations, rarely matched in a
    negative caption, still get a matched side).
    """
    cos = part_scores(out)  # (B, P + L)
    combined = marks.combined()  # (B, P + L)
    matched = (combined == MARK_MATCHED) & out.H_txt_mask
    mismatched = (combined == MARK_MISMATCHED) & out.H_txt_mask
    if types is None:
        present = matched.any(1) & mismatched.any(1)
        return tril(cos, cos, alpha, matched, mismatched) * present
    # Matched and mismatched sides in one product (fewer kernels, issue 15): (B, 2, 4) each.
    sums, counts = per_type_sums(cos, torch.stack([matched, mismatched], 1), types)
    (pos_sum, neg_sum), (pos_cnt, neg_cnt) = sums.unbind(1), counts.unbind(1)
    if reference is not None:
        ref_sum, ref_cnt = per_type_sums(reference.cos, reference.matched[:, None],
                                         reference.types)
        pos_sum, pos_cnt = pos_sum + ref_sum[:, 0], pos_cnt + ref_cnt[:, 0]
    present = (pos_cnt > 0) & (neg_cnt > 0)  # (B, 4)
    hinge = (alpha - pos_sum / pos_cnt.clamp_min(1) + neg_sum / neg_cnt.clamp_min(1)).clamp_min(0)
    return (hinge * present).sum(1) / present.sum(1).clamp_min(1)


@dataclass(frozen=True)
class PhraseSupervision:
    """What L3 needs for one set of negative runs (B rows): the label rule's marks of each
    caption against the run's image, the part types (None: the paper's across-type L3) and
    the matched reference parts of the same image (None: none)."""

    marks: PhraseMarks
    types: torch.Tensor | None = None
    reference: MatchedReference | None = None


@dataclass(frozen=True)
class EditedNegatives:
    """Edited captions as extra negative captions of e of the positives (train.edited).

    pos:  the positives' inter runs, (I_i, T_i) for those e rows;  neg: runs on (I_i, T_i').
    sup:  L3 supervision of T_i' w.r.t. L_i (None: no L3);  intra: s_A of (pos, neg), (e,)
          each, or None (L1 on s_G alone).
    """

    pos: InterOutput
    neg: InterOutput
    sup: PhraseSupervision | None = None
    intra: tuple[torch.Tensor, torch.Tensor] | None = None


def edited_terms(edited: EditedNegatives, alpha1: float, alpha2: float,
                 alpha3: float) -> dict[str, torch.Tensor]:
    """L1, L2 and L3 of the edited negative captions -> scalars (means over the e rows)."""
    g_pos, g_neg = s_global(edited.pos.h_img, edited.pos.h_txt), s_global(edited.neg.h_img,
                                                                          edited.neg.h_txt)
    if edited.intra is not None:
        g_pos, g_neg = g_pos + edited.intra[0], g_neg + edited.intra[1]
    out = {"L1": tril(g_pos, g_neg, alpha1).mean(),
           "L2": tril(s_phrase(edited.pos), s_phrase(edited.neg), alpha2).mean()}
    sup = edited.sup
    if sup is not None:
        out["L3"] = phrase_matching(edited.neg, sup.marks, alpha3, sup.types,
                                    sup.reference).mean()
    return out


def inter_losses(pos: InterOutput, neg_txt: InterOutput, neg_img: InterOutput | None,
                 sup_txt: PhraseSupervision | None, sup_img: PhraseSupervision | None,
                 alpha1: float, alpha2: float, alpha3: float,
                 intra: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
                 edited: EditedNegatives | None = None,
                 swap: torch.Tensor | None = None,
                 ) -> dict[str, torch.Tensor]:
    """L1 (global), L2 (local), L3 (phrase matching) of B positive pairs -> scalars.

    pos:     inter run on (I_i, T_i);  neg_txt: on (I_i, T_j);  neg_img: on (I_k, T_i).
    sup_txt: L3 supervision of T_j's parts w.r.t. the labels L_i; sup_img: of T_i w.r.t. L_k.
    swap:    (B,) when every negative image run is a negative caption run of another row
             (phase 2's pairing: neg_img = neg_txt.index(swap), sup_img = sup_txt.index(swap)),
             pass swap and neg_img = sup_img = None: those rows' scores and L3 are then
             indexed, not computed again (same values, fewer kernels; issue 15).
    intra:   s_A of (pos, neg_txt, neg_img), each (B,), or None. Given, L1 ranks the sum
             s_A + s_G, the score Eq. 5 ranks by (with mu1 = 1): the inter encoder then learns
             where the dual encoder is wrong instead of re-learning what it already ranks
             (DESIGN.md section 2, revised; docs/PHASE2.md). "L1_sG", the hinge of s_G alone,
             is always returned as a diagnostic (weight it 0 to log it only).
    edited:  edited negative captions of some positives (issue 11): their L1 / L2 / L3
             means are added to the terms (and L1 / L3's logged as "L1_edit" / "L3_edit").
    L3 is left out of the dict when either supervision is None (e.g. weight 0, w/o PM).
    """
    r_pos, r_txt = _row_scores(pos), _row_scores(neg_txt)
    l3_txt = None if sup_txt is None else _l3_rows(neg_txt, sup_txt, alpha3)
    if swap is not None:
        r_img = {name: value[swap] for name, value in r_txt.items()}
        l3_img = None if l3_txt is None else l3_txt[swap]
    else:
        r_img = _row_scores(neg_img)
        l3_img = None if sup_img is None else _l3_rows(neg_img, sup_img, alpha3)
    plain = tril(r_pos["g"], r_txt["g"], alpha1) + tril(r_pos["g"], r_img["g"], alpha1)
    l1 = plain
    if intra is not None:
        a_pos, a_txt, a_img = intra
        g_pos = r_pos["g"] + a_pos
        l1 = tril(g_pos, r_txt["g"] + a_txt, alpha1) + tril(g_pos, r_img["g"] + a_img, alpha1)
    # Eq. 2: phrase-to-image on the negative caption, region-to-sentence on the negative image.
    l2 = tril(r_pos["sP"], r_txt["sP"], alpha2) + tril(r_pos["sR"], r_img["sR"], alpha2)
    if "sP_enc" in r_pos:  # the head scores s_P, s_R; the encoder's keep hinges
        l2 = (l2 + tril(r_pos["sP_enc"], r_txt["sP_enc"], alpha2)
              + tril(r_pos["sR_enc"], r_img["sR_enc"], alpha2))
    terms = {"L1": l1.mean(), "L2": l2.mean(), "L1_sG": plain.mean().detach()}
    if l3_txt is not None and l3_img is not None:
        terms["L3"] = (l3_txt + l3_img).mean()
    if edited is not None:
        for name, value in edited_terms(edited, alpha1, alpha2, alpha3).items():
            if name in terms:
                terms[name] = terms[name] + value
                if name != "L2":
                    terms[f"{name}_edit"] = value.detach()
    return terms


def _row_scores(out: InterOutput) -> dict[str, torch.Tensor]:
    """The scores L1 / L2 compare, each (B,): s_G ("g"), s_P, s_R, and with the grounding
    head the encoder's own s_P / s_R ("sP_enc", "sR_enc")."""
    rows = {"g": s_global(out.h_img, out.h_txt), "sP": s_phrase(out), "sR": s_region(out)}
    if out.regions_found is not None:
        rows["sP_enc"], rows["sR_enc"] = s_phrase_encoder(out), s_region_encoder(out)
    return rows


def _l3_rows(out: InterOutput, sup: PhraseSupervision, alpha3: float) -> torch.Tensor:
    return phrase_matching(out, sup.marks, alpha3, sup.types, sup.reference)


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
