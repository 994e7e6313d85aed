"""Phrase grounding: each part of a caption scored by the region(s) it finds in the image
(the ssamt recipe; docs/PHASE2.md "Phrase grounding", a deviation from paper 2.4).

The paper scores a phrase by cos(h^I, H^T_k), its inter-encoder output against the image's
global node. Measured on minimal pairs, that score cannot tell "a black phone beside a white
cat" from "a white phone beside a black cat", even when trained on such pairs directly:
after two layers of mixing, no output keeps which word went with which region. This head
keeps it. A phrase is the sum of its words' embeddings under one linear map per role, a
region its embedding under another, and the phrase's score is its best region:

    object / attribute phrase k:  g_k = max_r cos(A_type u_k, B x_r),  u_k = mean of its words
    word w:                       g_w = max_r cos(A_word e_w, B x_r)
    relation (s, p, o):           g_k = max_{r1 != r2} mean(cos(A_subj u_s + A_pred u_p, B x_r1),
                                                           cos(A_obj u_o + A_pred' u_p, B x_r2),
                                                           tanh(G(box r1, box r2) . P u_p))

The maps are shared by every word, so what is learned for "black" and for "phone" holds for
any pair of them; the max over regions then scores "black phone" highest where one region
is both, which is binding. A relation's subject and object enter under different maps and
land on two different regions whose relative geometry (with boxes) must fit the predicate,
which is role. Inputs are the shared embeddings (frozen in phase 2), as the inter encoder's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ssamt.data.batch import PHRASE_TYPE_IDS, ROLE_OBJECT, ROLE_SUBJECT, TextBatch
from ssamt.model.config import ModelConfig

GEOMETRY_FEATURES = 8
# Width of the grounding space: d_model up to this (the paper preset's d = 1024 would make
# each of the eight maps 1M parameters; 256 keeps the head near 2.4M).
MAX_GROUNDING_DIM = 256
# Width of the geometry code: every image gets an (R, R, GEOMETRY_DIM) tensor, so it stays
# small (R = 36 regions, 512 pairs a batch: 21M floats, against 680M at d = 1024).
GEOMETRY_DIM = 32
_MAPS = ("object", "attribute", "subject", "predicate", "object_role", "predicate_object",
         "word")


def relative_geometry(boxes: torch.Tensor) -> torch.Tensor:
    """(B, R, G) boxes, first four columns x1, y1, x2, y2 in image units ->
    (B, R, R, GEOMETRY_FEATURES): features of region i relative to region j: the
    differences (i's minus j's) of centre x, centre y, bottom, top, i's bottom minus j's
    top, log width, log height; then the share of i inside j. (Few, broadcast operations:
    each launches a kernel per call, and phase 2 on a GPU is bound by launches.)"""
    x1, y1, x2, y2 = boxes[..., 0], boxes[..., 1], boxes[..., 2], boxes[..., 3]  # (B, R)
    w, h = (x2 - x1).clamp_min(1e-3), (y2 - y1).clamp_min(1e-3)
    own = torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, y2, y1, y2, w.log(), h.log()], -1)
    other = torch.cat([own[..., :4], y1[..., None], own[..., 5:]], -1)  # j's top for i's bottom
    diffs = own[:, :, None] - other[:, None]  # (B, R, R, 7)
    lo, hi = boxes[..., :2], boxes[..., 2:4]  # (B, R, 2): (x1, y1), (x2, y2)
    sides = (torch.minimum(hi[:, :, None], hi[:, None]) -
             torch.maximum(lo[:, :, None], lo[:, None])).clamp_min(0)  # (B, R, R, 2)
    overlap = sides.prod(-1) / (w * h)[:, :, None]  # share of i inside j
    return torch.cat([diffs, overlap[..., None]], -1)


def _span_mean(weights: torch.Tensor, words: torch.Tensor) -> torch.Tensor:
    """weights (B, P, L) bool, words (B, L, d) -> (B, P, d) mean of the selected words."""
    w = weights.to(words.dtype)
    return (w @ words) / w.sum(-1, keepdim=True).clamp_min(1.0)


def _role_means(txt: TextBatch, words: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The mean word (B, P, d) of each phrase's span, of its subject, of its object and of
    the rest (the predicate), in one product: (u, u_s, u_o, u_p)."""
    spans = txt.phrase_spans  # (B, P, L)
    roles = txt.phrase_roles if txt.phrase_roles is not None else torch.zeros_like(
        spans, dtype=torch.int8)
    # Built from Python scalars, not a tensor of them: on a GPU torch.tensor([...]) is a
    # blocking copy from the host, which stops the host queueing ahead of the device.
    select = torch.stack([spans, spans & (roles == ROLE_SUBJECT), spans & (roles == ROLE_OBJECT),
                          spans & (roles == 0)], 1)  # (B, 4, P, L)
    b, _, p, n_l = select.shape
    means = _span_mean(select.reshape(b, 4 * p, n_l), words).reshape(b, 4, p, -1)
    return means.unbind(1)


def _regions_found(cos_single: torch.Tensor, cos_words: torch.Tensor, txt: TextBatch,
                   region_mask: torch.Tensor) -> torch.Tensor:
    """(B,) mean over real regions of each region's best object / attribute phrase, or its
    best word when the caption has no such phrase (cos_single (B, P, R), cos_words (B, L, R))."""
    single = txt.phrase_mask & (txt.phrase_types != PHRASE_TYPE_IDS["relation"])  # (B, P)
    best = cos_words.masked_fill(~txt.token_mask[..., None], -2.0).amax(1)  # (B, R) by word
    if single.shape[1] > 0:  # a model without phrase nodes has none
        by_phrase = cos_single.masked_fill(~single[..., None], -2.0).amax(1)  # (B, R)
        best = torch.where(single.any(-1, keepdim=True), by_phrase, best)
    m = region_mask.to(best.dtype)
    return (best * m).sum(-1) / m.sum(-1).clamp_min(1.0)


def _best_region(query: torch.Tensor, regions_t: torch.Tensor,
                 padding: torch.Tensor) -> torch.Tensor:
    """cos of each query (B, K, d) with each region -> (B, K, R), padding at -2.
    regions_t (B, d, R): the regions L2-normalized and transposed once per batch
    (_unit_regions); padding (B, 1, R) bool, True at padded regions."""
    return (F.normalize(query, dim=-1) @ regions_t).masked_fill(padding, -2.0)


def _unit_regions(x: torch.Tensor, region_mask: torch.Tensor):
    """-> the regions (B, R, d) as _best_region takes them: (B, d, R) unit vectors and the
    (B, 1, R) padding mask."""
    return F.normalize(x, dim=-1).transpose(1, 2), ~region_mask[:, None, :]


class PhraseGrounding(nn.Module):
    """forward(words, txt, regions, region_mask, boxes) -> (parts, regions_found):
    parts (B, P + L) part scores in [-1, 1], phrases then words, lined up with
    InterOutput.H_txt (0 at padding); regions_found (B,) the region-to-sentence score, the
    mean over regions of each region's best object or attribute phrase (its best word when
    the caption has no such phrase)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        d, d_g = config.d_model, min(config.d_model, MAX_GROUNDING_DIM)
        self.maps = nn.ModuleDict({name: nn.Linear(d, d_g, bias=False) for name in _MAPS})
        self.region = nn.Linear(d, d_g)
        self.geometry = None
        if config.d_box:
            self.geometry = nn.Sequential(nn.Linear(GEOMETRY_FEATURES, 2 * GEOMETRY_DIM),
                                          nn.GELU(), nn.Linear(2 * GEOMETRY_DIM, GEOMETRY_DIM))
            self.predicate_geometry = nn.Linear(d, GEOMETRY_DIM, bias=False)

    def forward(self, words: torch.Tensor, txt: TextBatch, regions: torch.Tensor,
                region_mask: torch.Tensor, boxes: torch.Tensor | None) -> torch.Tensor:
        """words (B, L, d): token embeddings of txt; regions (B, R, d): region embeddings;
        region_mask (B, R) bool; boxes (B, R, G) or None."""
        x = self.region(regions)  # (B, R, d)
        unit = _unit_regions(x, region_mask)
        cos_words = _best_region(self.maps["word"](words), *unit)  # (B, L, R)
        g_phr, cos_single = self._phrases(words, txt, unit, boxes)
        out = torch.cat([g_phr, cos_words.amax(-1)], dim=1)
        parts = out * torch.cat([txt.phrase_mask, txt.token_mask], dim=1).to(out.dtype)
        return parts, _regions_found(cos_single, cos_words, txt, region_mask)

    def _phrases(self, words: torch.Tensor, txt: TextBatch, unit, boxes: torch.Tensor | None):
        """-> (B, P) phrase scores, and (B, P, R) cos of each phrase read as one region's
        (object or attribute) with each region. unit: _unit_regions of the regions."""
        spans, types = txt.phrase_spans, txt.phrase_types  # (B, P, L), (B, P)
        n_r = unit[0].shape[2]
        if spans.shape[1] == 0:
            return words.new_zeros(words.shape[0], 0), words.new_zeros(words.shape[0], 0, n_r)
        u, u_s, u_o, u_p = _role_means(txt, words)  # (B, P, d) each
        single = torch.where((types == PHRASE_TYPE_IDS["attribute"])[..., None],
                             self.maps["attribute"](u), self.maps["object"](u))
        cos_single = _best_region(single, *unit)  # (B, P, R)
        total, n_terms = self._relation_terms(u_s, u_o, u_p, unit, boxes)
        g_rel = total.flatten(2).amax(-1) / n_terms  # (B, P): every phrase read as a relation
        return torch.where(types == PHRASE_TYPE_IDS["relation"], g_rel,
                           cos_single.amax(-1)), cos_single

    def _relation_terms(self, u_s: torch.Tensor, u_o: torch.Tensor, u_p: torch.Tensor, unit,
                        boxes: torch.Tensor | None):
        """u_s, u_o, u_p (B, P, d): each phrase's subject, object and predicate words
        (_role_means); unit: _unit_regions -> total (B, P, R, R) summed terms of (subject
        r1, object r2), -inf where r1 = r2, and the number of terms summed."""
        m = self.maps
        c_s = _best_region(m["subject"](u_s) + m["predicate"](u_p), *unit)
        c_o = _best_region(m["object_role"](u_o) + m["predicate_object"](u_p), *unit)
        total = c_s[..., :, None] + c_o[..., None, :]  # (B, P, R, R): subject r1, object r2
        n_terms = 2.0
        if self.geometry is not None and boxes is not None:
            geo = self.geometry(relative_geometry(boxes.to(u_p.dtype)))  # (B, R, R, G)
            fit = torch.einsum("bijd,bpd->bpij", geo, self.predicate_geometry(u_p))
            total = total + torch.tanh(fit / geo.shape[-1] ** 0.5)  # (B, P, R, R)
            n_terms = 3.0
        n_r = total.shape[-1]
        if n_r > 1:  # subject and object are two regions (one region: score it with itself)
            same = torch.eye(n_r, dtype=torch.bool, device=total.device)
            total = total.masked_fill(same, float("-inf"))
        return total, n_terms
