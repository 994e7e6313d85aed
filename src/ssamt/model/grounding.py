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

from dataclasses import dataclass

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
_RELATION_QUERIES = ("subject", "object", "predicate")  # the _TextSide queries of a relation


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


def _best_region(query_unit: torch.Tensor, regions_t: torch.Tensor,
                 padding: torch.Tensor) -> torch.Tensor:
    """cos of each unit query (B, K, d) with each region -> (B, K, R), padding at -2.
    regions_t (B, d, R), padding (B, 1, R): _ImageSide's."""
    return (query_unit @ regions_t).masked_fill(padding, -2.0)


def relations_only(device: torch.device) -> bool:
    """Whether the head scores relation phrases alone as relations (the CPU), or every
    phrase, keeping the relations' scores (a GPU: P_rel is read on the host, which there
    waits for the device, and a step is bound by launches, not arithmetic)."""
    return device.type == "cpu"


def _take(x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """x[rows] along dim 0. index_select's gradient adds each row's slice at once, where
    x[rows]'s adds element by element: the same sums in the same order (bitwise equal),
    20x sooner on a CPU for the (B, R, R, G) geometry code of a phase-2 batch. (On CUDA
    the adds are atomic, in any order; a phase-2 batch gives each image and caption two
    rows, and a sum of two terms is the same in either order.)"""
    return x.index_select(0, rows)


@dataclass(frozen=True)
class _ImageSide:
    """What the head computes from an image alone, once per distinct image of a batch.

    regions_t: (N, d_g, R) the mapped regions, L2-normalized and transposed.
    padding:   (N, 1, R) bool, True at padded regions.
    geometry:  (N, R, R, GEOMETRY_DIM) code of each region pair's relative boxes, or None.
    """

    regions_t: torch.Tensor
    padding: torch.Tensor
    geometry: torch.Tensor | None

    def index(self, rows: torch.Tensor) -> _ImageSide:
        return _ImageSide(_take(self.regions_t, rows), self.padding[rows],
                          None if self.geometry is None else _take(self.geometry, rows))


@dataclass(frozen=True)
class _TextSide:
    """What the head computes from a caption alone, once per distinct caption of a batch:
    unit queries (N, K, d_g) of its words ("word"), of each phrase read as one region's
    ("single"), as a relation's subject and object ("subject", "object"), and the
    predicate's geometry query ("predicate", (N, P, GEOMETRY_DIM)); phrase entries are
    absent for a caption batch without phrases, "predicate" for a head without geometry."""

    queries: dict[str, torch.Tensor]

    def index(self, rows: torch.Tensor) -> _TextSide:
        return _TextSide({name: _take(q, rows) for name, q in self.queries.items()})


class PhraseGrounding(nn.Module):
    """forward(words, txt, regions, region_mask, boxes[, rows]) -> (parts, regions_found):
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
                region_mask: torch.Tensor, boxes: torch.Tensor | None,
                rows: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """words (N_t, L, d): token embeddings of txt; regions (N_i, R, d): region
        embeddings; region_mask (N_i, R) bool; boxes (N_i, R, G) or None.
        rows: None (row b pairs image b with caption b, N_i = N_t = B) or (image_rows,
        text_rows), (B,) long each: row b pairs image image_rows[b] with caption
        text_rows[b]. Each image's and caption's own maps then run once however many rows
        share it (a phase-2 batch holds each twice, a stage-2 batch each caption K times)."""
        image = self._image_side(regions, region_mask, boxes)
        text = self._text_side(words, txt)
        if rows is not None:
            image, text = image.index(rows[0]), text.index(rows[1])
            txt, region_mask = txt.index(rows[1]), region_mask[rows[0]]
        cos_words = _best_region(text.queries["word"], image.regions_t, image.padding)
        g_phr, cos_single = self._phrases(txt, image, text)
        out = torch.cat([g_phr, cos_words.amax(-1)], dim=1)
        parts = out * torch.cat([txt.phrase_mask, txt.token_mask], dim=1).to(out.dtype)
        return parts, _regions_found(cos_single, cos_words, txt, region_mask)

    def _image_side(self, regions: torch.Tensor, region_mask: torch.Tensor,
                    boxes: torch.Tensor | None) -> _ImageSide:
        x = F.normalize(self.region(regions), dim=-1)  # (N, R, d_g)
        geometry = None
        if self.geometry is not None and boxes is not None:
            geometry = self.geometry(relative_geometry(boxes.to(x.dtype)))  # (N, R, R, G)
        return _ImageSide(x.transpose(1, 2), ~region_mask[:, None, :], geometry)

    def _text_side(self, words: torch.Tensor, txt: TextBatch) -> _TextSide:
        m = self.maps
        queries = {"word": m["word"](words)}
        if txt.phrase_spans.shape[1] > 0:  # a model without phrase nodes has none
            u, u_s, u_o, u_p = _role_means(txt, words)  # (N, P, d) each
            is_attribute = (txt.phrase_types == PHRASE_TYPE_IDS["attribute"])[..., None]
            queries["single"] = torch.where(is_attribute, m["attribute"](u), m["object"](u))
            queries["subject"] = m["subject"](u_s) + m["predicate"](u_p)
            queries["object"] = m["object_role"](u_o) + m["predicate_object"](u_p)
            if self.geometry is not None:
                queries["predicate"] = self.predicate_geometry(u_p)
        unit = {name: F.normalize(q, dim=-1) for name, q in queries.items()
                if name != "predicate"}
        return _TextSide({**queries, **unit})

    def _phrases(self, txt: TextBatch, image: _ImageSide, text: _TextSide):
        """-> (B, P) phrase scores, and (B, P, R) cos of each phrase read as one region's
        (object or attribute) with each region."""
        n_b, n_r = txt.phrase_types.shape[0], image.padding.shape[2]
        if "single" not in text.queries:
            zeros = image.padding.new_zeros(n_b, 0, dtype=text.queries["word"].dtype)
            return zeros, zeros.new_zeros(n_b, 0, n_r)
        cos_single = _best_region(text.queries["single"], image.regions_t, image.padding)
        is_relation = txt.phrase_types == PHRASE_TYPE_IDS["relation"]  # (B, P)
        g_rel = self._relation_scores(image, text, is_relation)
        return torch.where(is_relation, g_rel, cos_single.amax(-1)), cos_single

    def _relation_scores(self, image: _ImageSide, text: _TextSide,
                         is_relation: torch.Tensor) -> torch.Tensor:
        """(B, P) relation score of each phrase, read where is_relation (B, P) holds.
        The (B, P, R, R) pair terms are the head's largest tensors, and about one phrase in
        five is a relation: on the CPU only each row's relation phrases are scored, moved
        to the front (B, P_rel, R, R), the same values (relations_only)."""
        if not relations_only(is_relation.device):
            total, n_terms = self._relation_terms(image, text)
            return total.flatten(2).amax(-1) / n_terms  # every phrase read as a relation
        n_rel = int(is_relation.sum(1).max()) if is_relation.numel() else 0
        # Stable: each row's relation phrases first, in order; a row with fewer relations
        # fills its tail with other phrases, scored and then discarded by the caller.
        slots = torch.argsort((~is_relation).to(torch.int8), dim=1, stable=True)[:, :n_rel]
        queries = {name: q.gather(1, slots[..., None].expand(-1, -1, q.shape[-1]))
                   for name, q in text.queries.items() if name in _RELATION_QUERIES}
        total, n_terms = self._relation_terms(image, _TextSide(queries))
        compact_scores = total.flatten(2).amax(-1) / n_terms  # (B, P_rel)
        out = compact_scores.new_zeros(is_relation.shape)
        return out.scatter(1, slots, compact_scores)

    @staticmethod
    def _relation_terms(image: _ImageSide, text: _TextSide):
        """-> total (B, P, R, R) summed terms of (subject r1, object r2) of every phrase
        read as a relation, -inf where r1 = r2, and the number of terms summed."""
        q = text.queries
        c_s = _best_region(q["subject"], image.regions_t, image.padding)  # (B, P, R)
        c_o = _best_region(q["object"], image.regions_t, image.padding)
        total = c_s[..., :, None] + c_o[..., None, :]  # (B, P, R, R): subject r1, object r2
        n_terms = 2.0
        if image.geometry is not None and "predicate" in q:
            geo = image.geometry  # (B, R, R, G)
            fit = torch.einsum("bijd,bpd->bpij", geo, q["predicate"])
            total = total + torch.tanh(fit / geo.shape[-1] ** 0.5)  # (B, P, R, R)
            n_terms = 3.0
        n_r = total.shape[-1]
        if n_r > 1:  # subject and object are two regions (one region: score it with itself)
            same = torch.eye(n_r, dtype=torch.bool, device=total.device)
            total = total.masked_fill(same, float("-inf"))
        return total, n_terms
