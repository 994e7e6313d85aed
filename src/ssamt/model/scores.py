"""Matching scores of a pair (paper 2.4 and Eq. 5; DESIGN.md "Which representation scores
a pair"). Every score of a pair (I, T) uses the outputs of the inter-encoder run on that pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ssamt.data.batch import PHRASE_TYPE_IDS


@dataclass(frozen=True)
class InterOutput:
    """Outputs of the inter encoder for B pairs (paper 2.3, H = [h^T, H^T; h^I, H^I]).

    h_img:      (B, d) output at C^I.
    h_txt:      (B, d) output at C^T.
    H_img:      (B, R, d) region outputs (zeros at padding).
    H_img_mask: (B, R) bool.
    H_txt:      (B, P + L, d) phrase then word outputs, lined up with PhraseMarks.combined()
                (zeros at padding, and at every phrase slot when phrases are dropped).
    H_txt_mask: (B, P + L) bool.
    parts:      (B, P + L) phrase-grounding score of each phrase and word (model.grounding),
                or None: the model scores parts by cos(h^I, H^T_k) (paper 2.4).
    """

    h_img: torch.Tensor
    h_txt: torch.Tensor
    H_img: torch.Tensor
    H_img_mask: torch.Tensor
    H_txt: torch.Tensor
    H_txt_mask: torch.Tensor
    parts: torch.Tensor | None = None
    phrase_types: torch.Tensor | None = None  # (B, P) of the P phrase slots first in H_txt
    regions_found: torch.Tensor | None = None  # (B,) the grounding head's s_R, or None

    def index(self, idx: torch.Tensor) -> InterOutput:
        """Rows `idx` of every output (a gather along the pair axis)."""
        return InterOutput(self.h_img[idx], self.h_txt[idx], self.H_img[idx],
                           self.H_img_mask[idx], self.H_txt[idx], self.H_txt_mask[idx],
                           *(None if t is None else t[idx]
                             for t in (self.parts, self.phrase_types, self.regions_found)))

    def split(self, n: int) -> tuple[InterOutput, InterOutput]:
        """Rows [0, n) and [n, B) of every output, as views (their gradients are joined by
        one concatenation, not scattered into zeros as a gather's are)."""
        halves = [(None, None) if t is None else t.split([n, t.shape[0] - n])
                  for t in (self.h_img, self.h_txt, self.H_img, self.H_img_mask, self.H_txt,
                            self.H_txt_mask, self.parts, self.phrase_types,
                            self.regions_found)]
        return InterOutput(*(h[0] for h in halves)), InterOutput(*(h[1] for h in halves))


def cos_each(u: torch.Tensor, H: torch.Tensor) -> torch.Tensor:
    """Cosine of u (B, d) with each H[b, k] (B, K, d) -> (B, K)."""
    return torch.einsum("bd,bkd->bk", F.normalize(u, dim=-1), F.normalize(H, dim=-1))


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of x (B, K) over entries where mask (B, K) is True -> (B,); 0 for empty rows."""
    m = mask.to(x.dtype)
    return (x * m).sum(-1) / m.sum(-1).clamp_min(1.0)


def s_global(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """cos(u, v) row by row, (B, d) x (B, d) -> (B,): s_A with a^I, a^T; s_G with h^I, h^T."""
    return F.cosine_similarity(u, v, dim=-1)


def part_scores(out: InterOutput) -> torch.Tensor:
    """(B, P + L) phrase-to-image score of every phrase and word: its grounding score when
    the model has the grounding head (model.grounding), else cos(h^I, H^T_k) (paper 2.4).
    L3, s_P, explain and the analyses all read parts through here."""
    if out.parts is not None:
        return out.parts
    return cos_each(out.h_img, out.H_txt)


def s_phrase(out: InterOutput) -> torch.Tensor:
    """s_P -> (B,): mean phrase-to-image score of the parts (paper 2.4: phrases and words).

    With the grounding head, a caption that has phrases is scored by its phrases, each phrase
    type (object, attribute, relation) weighing alike: the mean over the types present of
    the mean score of that type's phrases. Its words score alike in a caption and its swap
    (the same words, the same image), and a caption's many objects would outweigh its one
    relation, so either would dilute what a relation or attribute sees (docs/PHASE2.md,
    "Phrase grounding"). A caption with no phrase, or a model without phrase nodes, is
    scored over its words."""
    types = out.phrase_types
    if out.parts is None or types is None or types.shape[1] == 0:
        return masked_mean(part_scores(out), out.H_txt_mask)
    n_p = types.shape[1]
    phrases, scores = out.H_txt_mask[:, :n_p], out.parts[:, :n_p]
    kinds = torch.stack([types == t for t in sorted(PHRASE_TYPE_IDS.values())], -1)
    kinds = (kinds & phrases[..., None]).to(scores.dtype)  # (B, P, 3)
    count = kinds.sum(1)  # (B, 3) phrases of each type
    per_type = (scores[:, None] @ kinds)[:, 0] / count.clamp_min(1.0)  # (B, 3) type means
    over_phrases = masked_mean(per_type, count > 0)  # (B,)
    over_words = masked_mean(out.parts[:, n_p:], out.H_txt_mask[:, n_p:])
    return torch.where(phrases.any(-1), over_phrases, over_words)


def s_region(out: InterOutput) -> torch.Tensor:
    """s_R -> (B,) (region-to-sentence): mean over regions of cos(h^T, H^I_k) (paper 2.4), or
    with the grounding head each region's best object or attribute phrase (best word without
    one). The paper's s_R reads the caption's word order through h^T: it moved between a
    caption and its role swap as much as the swapped relation did, and dropping it from
    Eq. 5 lifted dev RSum from 527.3 to 544.9 (docs/PHASE2.md, "Phrase grounding")."""
    if out.regions_found is not None:
        return out.regions_found
    return s_region_encoder(out)


def s_region_encoder(out: InterOutput) -> torch.Tensor:
    """The paper's s_R, mean over region outputs of cos(h^T, H^I_k) -> (B,). With the
    grounding head it is no longer in Eq. 5, but L2 still trains it (with s_phrase_encoder):
    they are the inter encoder's local signals, and without them s_G stopped learning (50%
    against random negatives, docs/PHASE2.md)."""
    return masked_mean(cos_each(out.h_txt, out.H_img), out.H_img_mask)


def s_phrase_encoder(out: InterOutput) -> torch.Tensor:
    """The paper's s_P, mean over phrase and word outputs of cos(h^I, H^T_k) -> (B,); kept in
    L2 beside the head's s_P for the same reason as s_region_encoder."""
    return masked_mean(cos_each(out.h_img, out.H_txt), out.H_txt_mask)


def eq5_terms(a_img: torch.Tensor, a_txt: torch.Tensor, out: InterOutput) -> torch.Tensor:
    """The three terms Eq. 5 weighs, [s_A, s_G, s_P + s_R] -> (B, 3).

    a_img, a_txt: (B, d) intra global representations of the B pairs scored by `out`.
    """
    return torch.stack([s_global(a_img, a_txt), s_global(out.h_img, out.h_txt),
                        s_phrase(out) + s_region(out)], dim=1)


def eq5(a_img: torch.Tensor, a_txt: torch.Tensor, out: InterOutput, mu1: float,
        mu2: float) -> torch.Tensor:
    """Eq. 5: cos(a^I,a^T) + mu1 cos(h^I,h^T) + mu2 s_P + mu2 s_R -> (B,)."""
    terms = eq5_terms(a_img, a_txt, out)
    return terms[:, 0] + mu1 * terms[:, 1] + mu2 * terms[:, 2]
