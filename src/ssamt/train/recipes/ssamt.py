"""ssamt's phase 2 (docs/RECIPES.md; why each piece is there, with its measurements, in
docs/PHASE2.md). One update, in the order it runs:

1. Negatives of the epoch (SsamtRecipe.start_epoch): every caption gets a partner caption of
   another image, drawn at random and drawn from the frozen intra encoders' top-m.
2. Batch (SsamtRecipe.batch): n anchor captions from the token-budget sampler and their
   partners (random ones for the first loss.random_partner_share of the updates, top-m ones
   after): 2n positive rows, anchors then partners; swap[r] is the partner row of row r.
3. Forward (SsamtCriterion.forward): the inter encoder on the 2n positives (I_r, T_r) and the
   2n cross pairs (I_r, T_swap[r]) in one pass. Cross row r is the negative caption of
   positive r and, read through swap, the negative image of positive swap[r]: every negative
   is made of an image and a caption that are positives of the same update, so the
   single-modality parts of a cross-encoder's score cancel in every hinge.
4. Loss terms (ssamt_terms): L1 ranks s_A + s_G, the sum Eq. 5 ranks by; L2 hinges the
   phrase-grounding head's s_P and s_R and the inter encoder's own; L3 compares matched and
   mismatched parts within each part type, the positive caption's matched parts added as
   references. The weighted sum (Eq. 4) and the optimizer step are the engine's.

After phase 2 Eq. 5's weights are chosen on dev (train.trainer.store_eq5_weights).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ssamt.data.batch import MARK_MATCHED, ImageBatch, PhraseMarks, TextBatch
from ssamt.losses import MatchedReference, part_types, phrase_matching_by_type, tril
from ssamt.model.negatives import hard_partners, random_partners
from ssamt.model.scores import (
    InterOutput,
    part_scores,
    s_global,
    s_phrase,
    s_phrase_encoder,
    s_region,
    s_region_encoder,
)
from ssamt.model.ssamt import SSAMT
from ssamt.train.config import TrainConfig
from ssamt.train.data import SplitData
from ssamt.train.phase2 import IntraPool, batch_marks, epoch_generator, intra_pool


@dataclass(frozen=True)
class EpochPartners:
    """One epoch's partner of every caption (N_cap,): `random` (a caption of a uniformly
    drawn other image) and `hard` (drawn from the intra top-m, model.negatives)."""

    random: np.ndarray
    hard: np.ndarray


def draw_partners(pool: IntraPool, caption_image: np.ndarray, seed: int,
                  epoch: int) -> EpochPartners:
    """Both partners of every caption for `epoch`, deterministic in (seed, epoch)."""
    c2i = torch.from_numpy(caption_image)
    gen = epoch_generator(seed, epoch)
    rand = random_partners(c2i, gen)
    hard = hard_partners(pool.top, c2i, gen)
    return EpochPartners(rand.numpy(), hard.numpy())


def first_hard_update(cfg: TrainConfig) -> int:
    """The first update whose partners come from the intra top-m (random ones before)."""
    return round(cfg.loss.random_partner_share * cfg.phase2.max_steps)


def paired_rows(anchors: np.ndarray, partners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """-> (captions (2n,), swap (2n,)): the anchors then their partners, and each row's
    partner row. Cross row r pairs the image of captions[r] with captions[swap[r]]."""
    n = len(anchors)
    caps = np.concatenate([anchors, partners[anchors]]).astype(np.int64)
    swap = np.concatenate([np.arange(n, 2 * n), np.arange(n)]).astype(np.int64)
    return caps, swap


@dataclass(frozen=True)
class SsamtBatch:
    """2n positive rows (image r, caption r) of one update, on the device.

    swap:        (2n,) long, the partner row of each row (an involution).
    a_img/a_txt: (2n, d) L2-normalized intra embeddings of the rows (s_A of any row pair).
    marks_pos:   caption r against the labels of image r (its matched parts: references).
    marks_cross: caption swap[r] against the labels of image r (L3); None: no L3.
    """

    images: ImageBatch
    texts: TextBatch
    swap: torch.Tensor
    a_img: torch.Tensor
    a_txt: torch.Tensor
    marks_pos: PhraseMarks | None
    marks_cross: PhraseMarks | None


class SsamtRecipe:
    """Phase 2 the ssamt way (module docstring) over `train` (on `device`)."""

    def __init__(self, model: SSAMT, train: SplitData, cfg: TrainConfig,
                 device: torch.device, progress: bool = False) -> None:
        self.model, self.train, self.cfg, self.device, self.progress = (
            model, train, cfg, device, progress)
        self.criterion = SsamtCriterion(model, cfg.loss.alpha1, cfg.loss.alpha2,
                                        cfg.loss.alpha3)
        self.costs = self.item_costs(train)
        self.first_hard_update = first_hard_update(cfg)
        self.pool: IntraPool | None = None
        self.partners: EpochPartners | None = None

    @staticmethod
    def item_costs(train: SplitData) -> np.ndarray:
        """An anchor costs twice its pair: its partner's pair comes with it, so a token
        budget holds as many positives as one of single pairs."""
        return 2 * train.pair_costs()

    def start_epoch(self, epoch: int) -> None:
        if self.pool is None:  # the intra part is frozen: embed and rank once
            self.pool = intra_pool(self.model, self.train, self.cfg.loss.negatives_m,
                                   self.device, self.cfg.eval.batch_size, self.progress)
        self.partners = draw_partners(self.pool, self.train.caption_image, self.cfg.seed, epoch)

    def batch(self, anchors: list[int], epoch: int, update: int) -> SsamtBatch:
        partners = self.partners.hard if update >= self.first_hard_update else self.partners.random
        caps, swap = paired_rows(np.asarray(anchors, dtype=np.int64), partners)
        imgs = self.train.caption_image[caps]
        marks_pos = marks_cross = None
        if self.cfg.loss.lambda3 > 0:
            marks_cross = batch_marks(self.train, caps[swap], imgs, self.device)
            marks_pos = batch_marks(self.train, caps, imgs, self.device)
        device = self.device
        return SsamtBatch(
            images=self.train.images.batch(imgs).to(device, non_blocking=True),
            texts=self.train.texts.batch(caps).to(device, non_blocking=True),
            swap=torch.from_numpy(swap).to(device),
            a_img=self.pool.img_emb[torch.from_numpy(imgs)].to(device),
            a_txt=self.pool.txt_emb[torch.from_numpy(caps)].to(device),
            marks_pos=marks_pos, marks_cross=marks_cross)


class SsamtCriterion(torch.nn.Module):
    """forward(SsamtBatch) -> {"L1", "L2", "L1_sG"[, "L3"]} scalars; a module so DDP can
    wrap it."""

    def __init__(self, model: SSAMT, alpha1: float, alpha2: float, alpha3: float) -> None:
        super().__init__()
        self.model = model
        self.alpha1, self.alpha2, self.alpha3 = alpha1, alpha2, alpha3

    def forward(self, batch: SsamtBatch) -> dict[str, torch.Tensor]:
        pos, cross = self.positives_and_cross(batch.images, batch.texts, batch.swap)
        swap = batch.swap
        s_pos = (batch.a_img * batch.a_txt).sum(-1)  # s_A of the positives (2n,)
        s_cross = (batch.a_img * batch.a_txt[swap]).sum(-1)  # s_A of the cross pairs
        types = part_types(batch.texts.phrase_types, batch.texts.token_mask)  # (2n, P + L)
        reference = None
        if batch.marks_pos is not None:
            matched = (batch.marks_pos.combined() == MARK_MATCHED) & pos.H_txt_mask
            reference = MatchedReference(part_scores(pos), types, matched)
        terms = ssamt_terms(pos, cross, swap, s_pos, s_cross, batch.marks_cross, types,
                            reference, self.alpha1, self.alpha2, self.alpha3)
        return {name: value.float() for name, value in terms.items()}

    def positives_and_cross(self, images: ImageBatch, texts: TextBatch,
                            swap: torch.Tensor) -> tuple[InterOutput, InterOutput]:
        """The inter encoder on the 2n positives (I_r, T_r) and the 2n cross pairs
        (I_r, T_swap[r]) in one pass over 4n rows: the two halves share their padding (the
        same images, the same captions in another order), and one pass launches half the
        kernels of two, which bounds a phase-2 step on a GPU; each image and caption is
        embedded and mapped by the grounding head once (SSAMT.inter's rows). Same outputs
        as two passes (up to dropout's draws)."""
        rows = torch.arange(len(texts), device=swap.device)
        both = self.model.inter(images, texts, rows=(torch.cat([rows, rows]),
                                                     torch.cat([rows, swap])))
        return both.split([len(texts), len(texts)])


def row_scores(out: InterOutput) -> dict[str, torch.Tensor]:
    """The scores L1 and L2 compare, each (B,): s_G ("g"), the head's s_P and s_R, and the
    inter encoder's own s_P and s_R ("sP_enc", "sR_enc")."""
    return {"g": s_global(out.h_img, out.h_txt), "sP": s_phrase(out), "sR": s_region(out),
            "sP_enc": s_phrase_encoder(out), "sR_enc": s_region_encoder(out)}


def ssamt_terms(pos: InterOutput, cross: InterOutput, swap: torch.Tensor,
                s_pos: torch.Tensor, s_cross: torch.Tensor, marks_cross: PhraseMarks | None,
                types: torch.Tensor, reference: MatchedReference | None, alpha1: float,
                alpha2: float, alpha3: float) -> dict[str, torch.Tensor]:
    """L1, L2 (and L3 with marks) of the 2n positive rows -> scalars; "L1_sG", the hinge of
    s_G alone, is a diagnostic (logged, weight 0).

    pos, cross: inter runs on (I_r, T_r) and (I_r, T_swap[r]); the negative-image run of row
    r, (I_swap[r], T_r), is cross row swap[r], so its scores and L3 are read by index.
    s_pos, s_cross: s_A of the same pairs (frozen: no gradient). types: (2n, P + L) part
    types of caption r; reference: matched parts of the positive runs (None: none).
    marks_cross: caption swap[r] against the labels of image r (None: no L3).
    """
    r_pos, r_txt = row_scores(pos), row_scores(cross)
    l3_txt = None
    if marks_cross is not None:  # cross row r holds caption swap[r]; its reference is row r
        l3_txt = phrase_matching_by_type(cross, marks_cross, alpha3, types[swap], reference)
    r_img = {name: value[swap] for name, value in r_txt.items()}
    l3_img = None if l3_txt is None else l3_txt[swap]
    plain = tril(r_pos["g"], r_txt["g"], alpha1) + tril(r_pos["g"], r_img["g"], alpha1)
    # L1 on s_A + s_G: s_A has no gradient; a hinge is active only where the dual encoder
    # has not already separated the pair, so the inter encoder learns what stage 1 misses.
    g_pos = r_pos["g"] + s_pos
    l1 = (tril(g_pos, r_txt["g"] + s_cross, alpha1)
          + tril(g_pos, r_img["g"] + s_cross[swap], alpha1))
    # Eq. 2 on the head's scores, plus the encoder's own: without them s_G stops learning.
    l2 = tril(r_pos["sP"], r_txt["sP"], alpha2) + tril(r_pos["sR"], r_img["sR"], alpha2)
    l2 = (l2 + tril(r_pos["sP_enc"], r_txt["sP_enc"], alpha2)
          + tril(r_pos["sR_enc"], r_img["sR_enc"], alpha2))
    terms = {"L1": l1.mean(), "L2": l2.mean(), "L1_sG": plain.mean().detach()}
    if l3_txt is not None:
        terms["L3"] = (l3_txt + l3_img).mean()
    return terms
