"""The paper's phase 2 as written (paper 2.4 and 3.2; docs/DESIGN.md where it is silent).
One update, in the order it runs:

1. Negatives of the epoch (PaperRecipe.start_epoch): for every positive pair (I_i, T_i) a
   negative caption T_j drawn uniformly from the m captions of other images that the frozen
   intra encoders score highest for I_i, and a negative image I_k drawn likewise from the m
   other images scored highest for T_i (end of 2.4).
2. Batch (PaperRecipe.batch): B positive captions from the token-budget sampler (a budget
   counts the positives' instances), their images, negatives and the label rule's marks.
3. Forward (PaperCriterion.forward): the inter encoder on (I_i, T_i), (I_i, T_j) and
   (I_k, T_i), in one pass over 3B rows.
4. Loss terms (paper_terms), TriL of Eq. 1-3 with one positive and one negative:
       L1 = TriL_a1(s_G(i,i), s_G(i,j)) + TriL_a1(s_G(i,i), s_G(k,i))      s_G = cos(h^I, h^T)
       L2 = TriL_a2(s_P(i,i), s_P(i,j)) + TriL_a2(s_R(i,i), s_R(k,i))      the encoder's s_P, s_R
       L3 = Eq. 3 on (i, j) with the labels L_i + Eq. 3 on (k, i) with L_k
   The weighted sum (Eq. 4) and the optimizer step are the engine's.

The model has no phrase-grounding head, and Eq. 5 keeps the config's fixed mu1 and mu2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ssamt.data.batch import ImageBatch, PhraseMarks, TextBatch
from ssamt.losses import phrase_matching, tril
from ssamt.model.negatives import draw_negatives
from ssamt.model.scores import InterOutput, s_global, s_phrase_encoder, s_region_encoder
from ssamt.model.ssamt import SSAMT
from ssamt.train.config import TrainConfig
from ssamt.train.data import SplitData
from ssamt.train.phase2 import IntraPool, batch_marks, epoch_generator, intra_pool


@dataclass(frozen=True)
class EpochNegatives:
    """One epoch's negatives of every caption (N_cap,): a caption and an image, each drawn
    from the caption's intra top-m."""

    caption: np.ndarray
    image: np.ndarray


@dataclass(frozen=True)
class PaperBatch:
    """B positives and their negatives, on the device.

    images:     (2B,) the positives' images I_i, then the negative images I_k.
    texts:      (2B,) the positives' captions T_i, then the negative captions T_j.
    marks_neg:  (2B,) T_j against L_i, then T_i against L_k (L3); None: no L3.
    """

    images: ImageBatch
    texts: TextBatch
    marks_neg: PhraseMarks | None

    @property
    def size(self) -> int:
        return len(self.texts) // 2


class PaperRecipe:
    """Phase 2 as the paper writes it (module docstring) over `train` (on `device`)."""

    def __init__(self, model: SSAMT, train: SplitData, cfg: TrainConfig,
                 device: torch.device, progress: bool = False) -> None:
        self.model, self.train, self.cfg, self.device, self.progress = (
            model, train, cfg, device, progress)
        self.criterion = PaperCriterion(model, cfg.loss.alpha1, cfg.loss.alpha2,
                                        cfg.loss.alpha3)
        self.costs = self.item_costs(train)
        self.pool: IntraPool | None = None
        self.negatives: EpochNegatives | None = None

    @staticmethod
    def item_costs(train: SplitData) -> np.ndarray:
        """An item is a positive pair; its negatives are not counted."""
        return train.pair_costs()

    def start_epoch(self, epoch: int) -> None:
        if self.pool is None:  # the intra part is frozen: embed and rank once
            self.pool = intra_pool(self.model, self.train, self.cfg.loss.negatives_m,
                                   self.device, self.cfg.eval.batch_size, self.progress)
        caption, image = draw_negatives(self.pool.top, epoch_generator(self.cfg.seed, epoch))
        self.negatives = EpochNegatives(caption.numpy(), image.numpy())

    def batch(self, captions: list[int], epoch: int, update: int) -> PaperBatch:
        caps = np.asarray(captions, dtype=np.int64)
        imgs = self.train.caption_image[caps]
        neg_caps, neg_imgs = self.negatives.caption[caps], self.negatives.image[caps]
        marks = None
        if self.cfg.loss.lambda3 > 0:
            marks = batch_marks(self.train, np.concatenate([neg_caps, caps]),
                                np.concatenate([imgs, neg_imgs]), self.device)
        device = self.device
        return PaperBatch(
            images=self.train.images.batch(np.concatenate([imgs, neg_imgs])).to(
                device, non_blocking=True),
            texts=self.train.texts.batch(np.concatenate([caps, neg_caps])).to(
                device, non_blocking=True),
            marks_neg=marks)


class PaperCriterion(torch.nn.Module):
    """forward(PaperBatch) -> {"L1", "L2"[, "L3"]} scalars; a module so DDP can wrap it."""

    def __init__(self, model: SSAMT, alpha1: float, alpha2: float, alpha3: float) -> None:
        super().__init__()
        self.model = model
        self.alpha1, self.alpha2, self.alpha3 = alpha1, alpha2, alpha3

    def forward(self, batch: PaperBatch) -> dict[str, torch.Tensor]:
        pos, neg_txt, neg_img = self.runs(batch)
        terms = paper_terms(pos, neg_txt, neg_img, batch.marks_neg, self.alpha1, self.alpha2,
                            self.alpha3)
        return {name: value.float() for name, value in terms.items()}

    def runs(self, batch: PaperBatch) -> tuple[InterOutput, InterOutput, InterOutput]:
        """The inter encoder on the positives (I_i, T_i), the negative-caption pairs
        (I_i, T_j) and the negative-image pairs (I_k, T_i), in one pass of 3B rows."""
        b = batch.size
        first, second = (torch.arange(b, device=batch.texts.token_ids.device) + s
                         for s in (0, b))
        out = self.model.inter(batch.images, batch.texts,
                               rows=(torch.cat([first, first, second]),
                                     torch.cat([first, second, first])))
        return out.split([b, b, b])


def paper_terms(pos: InterOutput, neg_txt: InterOutput, neg_img: InterOutput,
                marks_neg: PhraseMarks | None, alpha1: float, alpha2: float,
                alpha3: float) -> dict[str, torch.Tensor]:
    """L1, L2 (and L3 with marks) of B positives (I_i, T_i) with their negative captions
    (I_i, T_j) and negative images (I_k, T_i) -> scalars (means over the B positives).
    marks_neg: (2B,) marks of T_j against L_i, then of T_i against L_k."""
    g_pos = s_global(pos.h_img, pos.h_txt)
    l1 = (tril(g_pos, s_global(neg_txt.h_img, neg_txt.h_txt), alpha1)
          + tril(g_pos, s_global(neg_img.h_img, neg_img.h_txt), alpha1))
    l2 = (tril(s_phrase_encoder(pos), s_phrase_encoder(neg_txt), alpha2)
          + tril(s_region_encoder(pos), s_region_encoder(neg_img), alpha2))
    terms = {"L1": l1.mean(), "L2": l2.mean()}
    if marks_neg is not None:
        b = len(pos.h_img)
        l3_txt = phrase_matching(neg_txt, _rows(marks_neg, 0, b), alpha3)
        l3_img = phrase_matching(neg_img, _rows(marks_neg, b, 2 * b), alpha3)
        terms["L3"] = (l3_txt + l3_img).mean()
    return terms


def _rows(marks: PhraseMarks, start: int, stop: int) -> PhraseMarks:
    return PhraseMarks(marks.phrase_marks[start:stop], marks.token_marks[start:stop])
