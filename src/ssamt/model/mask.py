"""Attention masks of the mask transformer (paper 2.3, docs/DESIGN.md section 2 "Mask").

All masks are boolean (B, S, S) tensors, True where query row q MAY attend to key column k,
the convention of `torch.nn.functional.scaled_dot_product_attention`.

Sequence layouts:
  text:  [C^T, phrases (P), words (L)]                    S = 1 + P + L
  image: [C^I, regions (R)]                               S = 1 + R
  inter: [C^T, phrases (P), words (L); C^I, regions (R)]  S = 2 + P + L + R

Every query row always keeps at least its own global node (C^T or C^I, never padding) as a
key, so no row is fully masked and softmax never produces NaN, also for padded queries.
"""

from __future__ import annotations

import torch


def _padding_mask(valid: torch.Tensor) -> torch.Tensor:
    """(B, S) key validity -> (B, S, S): every query may attend to every real key."""
    return valid[:, None, :].expand(-1, valid.shape[1], -1).clone()


def text_valid(phrase_mask: torch.Tensor, token_mask: torch.Tensor) -> torch.Tensor:
    """(B, 1 + P + L) bool: which entries of [C^T, phrases, words] are real."""
    ones = torch.ones_like(token_mask[:, :1])
    return torch.cat([ones, phrase_mask, token_mask], dim=1)


def image_valid(region_mask: torch.Tensor) -> torch.Tensor:
    """(B, 1 + R) bool: which entries of [C^I, regions] are real."""
    ones = torch.ones_like(region_mask[:, :1])
    return torch.cat([ones, region_mask], dim=1)


def _apply_span_rule(mask: torch.Tensor, spans: torch.Tensor, p0: int, w0: int) -> None:
    """Rule 3 in place: phrase rows p0.. may see words w0.. only inside their span.

    spans: (B, P, L) bool.
    """
    n_p, n_w = spans.shape[1], spans.shape[2]
    mask[:, p0:p0 + n_p, w0:w0 + n_w] &= spans


def text_mask(phrase_mask: torch.Tensor, token_mask: torch.Tensor,
              phrase_spans: torch.Tensor) -> torch.Tensor:
    """(B, S, S) mask of the intra text encoder: padding + rule 3 (docs/DESIGN.md "Mask")."""
    n_p = phrase_mask.shape[1]
    mask = _padding_mask(text_valid(phrase_mask, token_mask))
    _apply_span_rule(mask, phrase_spans, 1, 1 + n_p)
    return mask


def image_mask(region_mask: torch.Tensor) -> torch.Tensor:
    """(B, S, S) mask of the intra image encoder: padding only."""
    return _padding_mask(image_valid(region_mask))


def inter_mask(phrase_mask: torch.Tensor, token_mask: torch.Tensor,
               phrase_spans: torch.Tensor, region_mask: torch.Tensor) -> torch.Tensor:
    """(B, S, S) mask of the inter encoder over [C^T, phrases, words; C^I, regions]."""
    n_p, n_w = phrase_mask.shape[1], token_mask.shape[1]
    valid = torch.cat([text_valid(phrase_mask, token_mask), image_valid(region_mask)], dim=1)
    mask = _padding_mask(valid)
    ci = 1 + n_p + n_w  # index of C^I
    # fill_, not `= False`: assigning a Python value wraps it in a host tensor first.
    mask[:, 0, ci + 1:].fill_(False)  # rule 1: C^T may not attend to regions
    mask[:, ci, 1:ci].fill_(False)  # rule 2: C^I may not attend to phrases or words
    _apply_span_rule(mask, phrase_spans, 1, 1 + n_p)  # rule 3
    return mask
