"""Phase 1 (paper 3.2): train the intra-modality encoders (a dual encoder) with L0.

L0 (Eq. 1 with a^I, a^T) uses in-batch negatives: the hardest one (VSE++), except during the
first `mean_negatives_epochs` epochs, which average the hinge over all in-batch negatives so
that training does not collapse (docs/DESIGN.md section 2; why hinges, not scores: intra_loss).
Captions of the same image are never negatives of each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ssamt.data.batch import ImageBatch, TextBatch
from ssamt.losses import intra_loss
from ssamt.train.config import TrainConfig
from ssamt.train.data import SplitData
from ssamt.train.engine import PhaseTask


@dataclass(frozen=True)
class IntraBatch:
    """One phase-1 batch, on the device: B captions and their U unique images.

    image_of_row: (B,) row of each caption's image in `images`; image_ids: (B,) dataset
    image ids (captions of one image are never each other's negatives); hardest: the
    hardest in-batch negative, else the warm-up's mean over all of them.
    """

    images: ImageBatch
    texts: TextBatch
    image_of_row: torch.Tensor
    image_ids: torch.Tensor
    hardest: bool


class IntraObjective(torch.nn.Module):
    """forward(IntraBatch) -> {"L0": scalar}; a module so DistributedDataParallel can wrap it."""

    def __init__(self, model: torch.nn.Module, alpha0: float) -> None:
        super().__init__()
        self.model = model
        self.alpha0 = alpha0

    def forward(self, batch: IntraBatch) -> dict[str, torch.Tensor]:
        a_img = self.model.encode_images(batch.images)[batch.image_of_row]  # (U, d) -> (B, d)
        a_txt = self.model.encode_texts(batch.texts)  # (B, d)
        return {"L0": intra_loss(a_img.float(), a_txt.float(), batch.image_ids, self.alpha0,
                                 hardest=batch.hardest)}


def intra_batch(data: SplitData, caps: list[int], device: torch.device,
                hardest: bool) -> IntraBatch:
    """One phase-1 batch: B captions and their images, each image read once."""
    caps_arr = np.asarray(caps, dtype=np.int64)
    image_ids = data.caption_image[caps_arr]  # (B,)
    unique, inverse = np.unique(image_ids, return_inverse=True)
    return IntraBatch(
        images=data.images.batch(unique).to(device, non_blocking=True),
        texts=data.texts.batch(caps_arr).to(device, non_blocking=True),
        image_of_row=torch.from_numpy(inverse.reshape(-1)).to(device),
        image_ids=torch.from_numpy(image_ids).to(device),
        hardest=hardest,
    )


def intra_item_costs(train: SplitData) -> np.ndarray:
    """(N,) token-budget cost of each phase-1 item, a positive pair (its in-batch negatives
    are the other items)."""
    return train.pair_costs()


def intra_task(model, objective: torch.nn.Module, train: SplitData, cfg: TrainConfig,
               device: torch.device, evaluate=None) -> PhaseTask:
    """The PhaseTask of phase 1 over the training pairs (one per caption)."""
    warm = cfg.phase1.mean_negatives_epochs

    def make_batch(caps: list[int], epoch: int, update: int) -> IntraBatch:
        return intra_batch(train, caps, device, hardest=epoch >= warm)

    return PhaseTask(
        name="phase1", objective=objective, weights={"L0": cfg.loss.lambda0},
        costs=intra_item_costs(train), make_batch=make_batch,
        params=[p for p in model.intra_parameters() if p.requires_grad],
        evaluate=evaluate, select_by=cfg.eval.select_by,
    )
