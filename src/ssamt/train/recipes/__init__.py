"""The two phase-2 recipes, by the config key `recipe` (docs/RECIPES.md):

- "paper" (`paper.py`): the paper as written;
- "ssamt" (`ssamt.py`): ssamt's measured design, which the README recommends.

Phase 1 is the same in both; a checkpoint records its recipe in its training config.
"""

from __future__ import annotations

import torch

from ssamt.model.ssamt import SSAMT
from ssamt.train.config import TrainConfig
from ssamt.train.data import SplitData
from ssamt.train.phase2 import Phase2Recipe
from ssamt.train.recipes.paper import PaperRecipe
from ssamt.train.recipes.ssamt import SsamtRecipe

RECIPES = {"paper": PaperRecipe, "ssamt": SsamtRecipe}


def build_recipe(model: SSAMT, train: SplitData, cfg: TrainConfig, device: torch.device,
                 progress: bool = False) -> Phase2Recipe:
    """The phase-2 recipe `cfg.recipe` over `train` (already on `device`)."""
    return RECIPES[cfg.recipe](model, train, cfg, device, progress)
