"""Phase 2 (paper 3.2): the intra encoders frozen, the inter encoder trained with L1-L3 by
one of two recipes (`ssamt.train.recipes`: "paper", the paper as written; "ssamt", ssamt's
measured design; docs/RECIPES.md compares them).

What both recipes share is here:
- the frozen intra encoders embed the training set once and rank it (IntraPool: the
  embeddings, and every caption's top-m captions and images, end of paper 2.4);
- each epoch draws its negatives from that pool with a generator seeded by (seed, epoch),
  so a resumed run draws the same ones (epoch_generator);
- the label rule's marks of a batch's captions against images (batch_marks, for L3);
- the PhaseTask that the training loop (train.engine) runs (phase2_task).

A recipe (Phase2Recipe) supplies the per-item costs of the token budget, a batch builder,
the epoch hook that draws negatives, and the criterion: a module whose forward(batch)
returns the named loss terms, summed with Eq. 4's weights by the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from ssamt.data.batch import PhraseMarks
from ssamt.model.negatives import IntraTopM, intra_topm
from ssamt.model.ssamt import SSAMT
from ssamt.retrieval.encode import encode_gallery
from ssamt.train.config import TrainConfig
from ssamt.train.data import SplitData
from ssamt.train.engine import PhaseTask


@dataclass(frozen=True)
class IntraPool:
    """The frozen intra encoders' view of the training set, computed once per phase.

    img_emb (N_img, d), txt_emb (N_cap, d): L2-normalized a^I, a^T (s_A of any pair);
    top: every caption's top-m captions of other images and top-m other images.
    """

    img_emb: torch.Tensor
    txt_emb: torch.Tensor
    top: IntraTopM


def intra_pool(model: SSAMT, train: SplitData, m: int, device: torch.device,
               batch_size: int = 256, progress: bool = False) -> IntraPool:
    """Embed and rank the training set with the frozen intra encoders."""
    img_emb, txt_emb = encode_gallery(model, train.images, train.texts, batch_size=batch_size,
                                      device=device, progress=progress)  # (N_img, d), (N_cap, d)
    top = intra_topm(img_emb.to(device), txt_emb.to(device),
                     torch.from_numpy(train.caption_image), m)
    return IntraPool(img_emb, txt_emb, top)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The CPU generator an epoch draws its negatives with: deterministic in (seed, epoch),
    and the same on every device, so a run resumed elsewhere draws the same negatives."""
    return torch.Generator().manual_seed(int(seed) * 100003 + int(epoch))


def batch_marks(train: SplitData, captions: np.ndarray, images: np.ndarray,
                device: torch.device) -> PhraseMarks | None:
    """The label rule's marks (docs/DESIGN.md section 2) of captions[b] against the labels
    L_i of images[b], padded like train.texts.batch(captions); None without labels."""
    if train.labels is None:
        return None
    labels = [train.labels.image_labels(int(i)) for i in images]
    return train.texts.marks(captions, labels).to(device)


class Phase2Recipe(Protocol):
    """What a recipe plugs into phase 2 (train.recipes)."""

    criterion: torch.nn.Module  # forward(batch) -> {"L1", "L2", "L3"?, ...} scalars
    costs: np.ndarray  # (N,) token-budget cost of each training item: item_costs(train)

    @staticmethod
    def item_costs(train: SplitData) -> np.ndarray:
        """(N,) token-budget cost of each training item (an anchor caption) of `train`,
        known before the recipe is built (the budget is checked before training starts)."""

    def start_epoch(self, epoch: int) -> None:
        """Draw this epoch's negatives (the pool is built on the first call)."""

    def batch(self, items: list[int], epoch: int, update: int) -> Any:
        """One micro-batch of the criterion, on the device, from item indices."""


def phase2_task(recipe: Phase2Recipe, model: SSAMT, cfg: TrainConfig,
                wrap: Callable[[torch.nn.Module], torch.nn.Module] = lambda module: module,
                evaluate: Callable[[], dict[str, float]] | None = None) -> PhaseTask:
    """The PhaseTask of phase 2 with `recipe`; wrap: e.g. DistributedDataParallel."""
    weights = {"L1": cfg.loss.lambda1, "L2": cfg.loss.lambda2, "L3": cfg.loss.lambda3}
    return PhaseTask(
        name="phase2", objective=wrap(recipe.criterion), weights=weights, costs=recipe.costs,
        make_batch=recipe.batch,
        params=[p for p in model.inter_parameters() if p.requires_grad],
        start_epoch=recipe.start_epoch, evaluate=evaluate, select_by=cfg.eval.select_by,
    )
