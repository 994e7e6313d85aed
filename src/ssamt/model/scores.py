"""Matching scores of a pair (paper 2.4 and Eq. 5; DESIGN.md "Which representation scores
a pair"). Every score of a pair (I, T) uses the outputs of the inter-encoder run on that pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


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
    """

    h_img: torch.Tensor
    h_txt: torch.Tensor
    H_img: torch.Tensor
    H_img_mask: torch.Tensor
    H_txt: torch.Tensor
    H_txt_mask: torch.Tensor

    def index(self, idx: torch.Tensor) -> InterOutput:
        """Rows `idx` of every output (a gather along the pair axis)."""
        return InterOutput(self.h_img[idx], self.h_txt[idx], self.H_img[idx],
                           self.H_img_mask[idx], self.H_txt[idx], self.H_txt_mask[idx])


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


def s_phrase(out: InterOutput) -> torch.Tensor:
    """s_P: mean over phrase+word outputs of cos(h^I, H^T_k) -> (B,) (phrase-to-image)."""
    return masked_mean(cos_each(out.h_img, out.H_txt), out.H_txt_mask)


def s_region(out: InterOutput) -> torch.Tensor:
    """s_R: mean over region outputs of cos(h^T, H^I_k) -> (B,) (region-to-sentence)."""
    return masked_mean(cos_each(out.h_txt, out.H_img), out.H_img_mask)


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
