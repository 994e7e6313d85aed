"""Matching scores of a pair (paper 2.4 and Eq. 5; docs/DESIGN.md, "Which representation
scores a pair"). Every score of a pair (I, T) uses the outputs of the inter-encoder run on
that pair. The paper recipe reads the inter encoder's outputs (the *_encoder scores); the
ssamt recipe's phrase-grounding head scores parts and regions itself (model.grounding).
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

    def split(self, sizes: list[int]) -> tuple[InterOutput, ...]:
        """Consecutive row blocks of `sizes` (summing to B) of every output, as views (their
        gradients are joined by one concatenation, not scattered into zeros as a gather's
        are)."""
        blocks = [(None,) * len(sizes) if t is None else t.split(sizes)
                  for t in (self.h_img, self.h_txt, self.H_img, self.H_img_mask, self.H_txt,
                            self.H_txt_mask, self.parts, self.phrase_types,
                            self.regions_found)]
        return tuple(InterOutput(*(b[i] for b in blocks)) for i in range(len(sizes)))


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
    the model has the phrase-grounding head (the ssamt recipe), else cos(h^I, H^T_k) (paper
    2.4, the paper recipe). L3, s_P, explain and the analyses all read parts through here."""
    if out.parts is not None:
        return out.parts
    return cos_each(out.h_img, out.H_txt)


def s_phrase(out: InterOutput) -> torch.Tensor:
    """s_P -> (B,), the phrase-to-image score Eq. 5 and L2 read: the paper's mean over the
    parts (s_phrase_encoder) without the grounding head, s_phrase_grounded with it."""
    if out.parts is None:
        return s_phrase_encoder(out)
    return s_phrase_grounded(out)


def s_region(out: InterOutput) -> torch.Tensor:
    """s_R -> (B,), the region-to-sentence score Eq. 5 and L2 read: the paper's
    (s_region_encoder) without the grounding head, the head's with it."""
    if out.regions_found is None:
        return s_region_encoder(out)
    return out.regions_found


def s_phrase_encoder(out: InterOutput) -> torch.Tensor:
    """The paper's s_P (2.4): mean over the phrase and word outputs of cos(h^I, H^T_k) -> (B,)."""
    return masked_mean(cos_each(out.h_img, out.H_txt), out.H_txt_mask)


def s_region_encoder(out: InterOutput) -> torch.Tensor:
    """The paper's s_R (2.4): mean over the region outputs of cos(h^T, H^I_k) -> (B,)."""
    return masked_mean(cos_each(out.h_txt, out.H_img), out.H_img_mask)


def s_phrase_grounded(out: InterOutput) -> torch.Tensor:
    """s_P of the grounding head -> (B,): a caption with phrases is scored by its phrases,
    each phrase type (object, attribute, relation) weighing alike (the mean over the types
    present of the mean score of that type's phrases); one without, by its words.

    Why not the mean over every part: its words score alike in a caption and in the same
    words re-bound (same words, same image), and a caption's many objects would outweigh its
    one relation, so either would dilute what a relation or attribute sees (docs/PHASE2.md,
    "Phrase grounding")."""
    types = out.phrase_types
    if types is None or types.shape[1] == 0:
        return masked_mean(out.parts, out.H_txt_mask)
    n_p = types.shape[1]
    phrases, scores = out.H_txt_mask[:, :n_p], out.parts[:, :n_p]
    kinds = torch.stack([types == t for t in sorted(PHRASE_TYPE_IDS.values())], -1)
    kinds = (kinds & phrases[..., None]).to(scores.dtype)  # (B, P, 3)
    count = kinds.sum(1)  # (B, 3) phrases of each type
    per_type = (scores[:, None] @ kinds)[:, 0] / count.clamp_min(1.0)  # (B, 3) type means
    over_phrases = masked_mean(per_type, count > 0)  # (B,)
    over_words = masked_mean(out.parts[:, n_p:], out.H_txt_mask[:, n_p:])
    return torch.where(phrases.any(-1), over_phrases, over_words)


@dataclass(frozen=True)
class PairScores:
    """Every score of B image-caption pairs, each (B,): s_A = cos(a^I, a^T) of the intra
    encoders, s_G = cos(h^I, h^T), s_P and s_R of the pair's own inter run."""

    s_A: torch.Tensor
    s_G: torch.Tensor
    s_P: torch.Tensor
    s_R: torch.Tensor

    @classmethod
    def of(cls, a_img: torch.Tensor, a_txt: torch.Tensor, out: InterOutput) -> PairScores:
        """a_img, a_txt: (B, d) intra global representations of the B pairs run in `out`."""
        return cls(s_global(a_img, a_txt), s_global(out.h_img, out.h_txt), s_phrase(out),
                   s_region(out))

    def terms(self) -> torch.Tensor:
        """The three terms Eq. 5 weighs, [s_A, s_G, s_P + s_R] -> (B, 3)."""
        return torch.stack([self.s_A, self.s_G, self.s_P + self.s_R], dim=1)

    def eq5(self, mu1: float, mu2: float) -> torch.Tensor:
        """Eq. 5 -> (B,)."""
        return weigh_eq5(self.terms(), mu1, mu2)


def weigh_eq5(terms: torch.Tensor, mu1: float, mu2: float) -> torch.Tensor:
    """Eq. 5 from its terms (M, 3) [s_A, s_G, s_P + s_R]: s_A + mu1 s_G + mu2 (s_P + s_R)
    -> (M,). The one place the weighted sum is written."""
    return terms[:, 0] + mu1 * terms[:, 1] + mu2 * terms[:, 2]
