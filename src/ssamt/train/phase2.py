"""Phase 2 (paper 3.2): freeze the intra encoders and train the inter encoder with L1-L3.

Each epoch the frozen intra encoders embed the training set once; every positive pair
(i, i) then gets a negative caption j drawn from the top-m intra-scored captions of other
images and a negative image k likewise (end of paper 2.4, DESIGN.md "Negative sampling").
The inter encoder runs on (I_i, T_i), (I_i, T_j) and (I_k, T_i); L3 needs the phrase marks
of T_j against L_i and of T_i against L_k (DESIGN.md section 2).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ssamt.data.batch import ImageBatch, PhraseMarks, TextBatch
from ssamt.train.config import TrainConfig
from ssamt.train.data import SplitData
from ssamt.train.engine import PhaseTask

NEGATIVE_CHUNK = 1024  # positives per sampling call: bounds the (chunk, N_cap) score block


class InterObjective(torch.nn.Module):
    """forward(...) -> {"L1", "L2"[, "L3"]}; a module so DDP can wrap it."""

    def __init__(self, model: torch.nn.Module, alpha1: float, alpha2: float, alpha3: float) -> None:
        super().__init__()
        self.model = model
        self.alphas = (alpha1, alpha2, alpha3)

    def forward(self, img_pos: ImageBatch, txt_pos: TextBatch, img_neg: ImageBatch,
                txt_neg: TextBatch, marks_txt: PhraseMarks | None,
                marks_img: PhraseMarks | None) -> dict[str, torch.Tensor]:
        """B positive pairs (img_pos[b], txt_pos[b]), negative captions txt_neg[b] and
        negative images img_neg[b]; marks_txt of txt_neg vs L_i, marks_img of txt_pos vs L_k."""
        from ssamt.losses import inter_losses

        pos = self.model.inter(img_pos, txt_pos)  # run on (I_i, T_i)
        neg_txt = self.model.inter(img_pos, txt_neg)  # run on (I_i, T_j)
        neg_img = self.model.inter(img_neg, txt_pos)  # run on (I_k, T_i)
        terms = inter_losses(pos, neg_txt, neg_img, marks_txt, marks_img, *self.alphas)
        return {name: value.float() for name, value in terms.items()}


def sample_epoch_negatives(model, train: SplitData, m: int, seed: int, epoch: int,
                           device: torch.device, batch_size: int = 256,
                           progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """-> (neg_caption (N_cap,), neg_image (N_cap,)) for every positive pair of the epoch.

    Deterministic in (seed, epoch): a resumed run draws the same negatives.
    """
    from ssamt.model.negatives import sample_negatives
    from ssamt.retrieval.encode import encode_gallery

    img_emb, txt_emb = encode_gallery(model, train.images, train.texts, batch_size=batch_size,
                                      device=device, progress=progress)  # (N_img, d), (N_cap, d)
    c2i = torch.from_numpy(train.caption_image)
    gen = torch.Generator().manual_seed(int(seed) * 100003 + int(epoch))
    neg_cap, neg_img = [], []
    for start in range(0, train.num_captions, NEGATIVE_CHUNK):
        positives = torch.arange(start, min(start + NEGATIVE_CHUNK, train.num_captions))
        caps, imgs = sample_negatives(img_emb, txt_emb, c2i, positives, m=m, generator=gen)
        neg_cap.append(torch.as_tensor(caps).cpu())
        neg_img.append(torch.as_tensor(imgs).cpu())
    return torch.cat(neg_cap).numpy(), torch.cat(neg_img).numpy()


def inter_inputs(train: SplitData, caps: list[int], neg_cap: np.ndarray, neg_img: np.ndarray,
                 device: torch.device, with_marks: bool) -> dict[str, Any]:
    """One phase-2 batch of B positive pairs with their negatives (and L3 marks)."""
    caps_arr = np.asarray(caps, dtype=np.int64)
    imgs, j, k = train.caption_image[caps_arr], neg_cap[caps_arr], neg_img[caps_arr]
    marks_txt = marks_img = None
    if with_marks and train.labels is not None:
        labels = train.labels
        marks_txt = train.texts.marks(j, [labels.image_labels(int(i)) for i in imgs]).to(device)
        marks_img = train.texts.marks(caps_arr, [labels.image_labels(int(x)) for x in k]).to(device)
    return {
        "img_pos": train.images.batch(imgs).to(device, non_blocking=True),
        "txt_pos": train.texts.batch(caps_arr).to(device, non_blocking=True),
        "img_neg": train.images.batch(k).to(device, non_blocking=True),
        "txt_neg": train.texts.batch(j).to(device, non_blocking=True),
        "marks_txt": marks_txt,
        "marks_img": marks_img,
    }


def inter_task(model, objective: torch.nn.Module, train: SplitData, cfg: TrainConfig,
               device: torch.device, evaluate=None, progress: bool = False) -> PhaseTask:
    """The PhaseTask of phase 2; negatives are re-drawn at the start of every epoch."""
    weights = {"L1": cfg.loss.lambda1, "L2": cfg.loss.lambda2, "L3": cfg.loss.lambda3}
    negatives: dict[str, np.ndarray] = {}

    def start_epoch(epoch: int) -> None:
        caps, imgs = sample_epoch_negatives(model, train, cfg.loss.negatives_m, cfg.seed, epoch,
                                            device, cfg.eval.batch_size, progress)
        negatives["cap"], negatives["img"] = caps, imgs

    def make_inputs(caps: list[int], epoch: int) -> dict[str, Any]:
        return inter_inputs(train, caps, negatives["cap"], negatives["img"], device,
                            with_marks=cfg.loss.lambda3 > 0)

    return PhaseTask(
        name="inter", objective=objective, weights=weights, costs=train.pair_costs(),
        make_inputs=make_inputs, params=[p for p in model.inter_parameters() if p.requires_grad],
        start_epoch=start_epoch, evaluate=evaluate, select_by=cfg.eval.select_by,
    )
