"""Evaluation protocols (paper 3.1, docs/DESIGN.md section 3): which image sets are ranked.

* ``f30k``   - the split as it is (Flickr30K: the 1,000 ``test`` images), one fold.
* ``coco5k`` - the split as it is (MS-COCO 5K: all 5,000 ``testall`` images), one fold.
* ``coco1k`` - five folds of consecutive images (1,000 each on COCO's 5,000-image
  ``testall``); every metric is the mean over the folds. RSum is the mean of the fold RSums,
  which equals the sum of the six mean recalls. (SCAN's evaluation code printed a different
  number for COCO 1K RSum; ours is checked against the sum of the averaged recalls in tests.)

Any split size works: f30k and coco5k take whatever they are given; coco1k needs the image
count to be divisible by the fold count (a clear ConfigError otherwise, rather than silently
dropping or unevenly sizing folds, which would make the numbers incomparable).

Each fold is scored by a caller-supplied function, so that what is encoded or re-ranked can
depend on the fold's images and captions (two-stage re-ranking only sees the fold's gallery).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from ssamt.errors import ConfigError
from ssamt.retrieval.metrics import METRIC_KEYS, recall_from_scores

PROTOCOLS: tuple[str, ...] = ("f30k", "coco1k", "coco5k")
# The split each protocol is defined on (Karpathy splits, SCAN/VSE++ precomp names).
DEFAULT_SPLIT: dict[str, str] = {"f30k": "test", "coco1k": "testall", "coco5k": "testall"}
COCO1K_FOLDS = 5

# A fold's scores: one (N_img, N_cap) matrix for both directions, or (i2t, t2i) matrices.
Scores = np.ndarray | torch.Tensor | tuple
ScoreFold = Callable[["Fold"], Mapping[str, Scores]]


@dataclass(frozen=True)
class Fold:
    """One gallery to rank: a consecutive block of a split's images and their captions.

    image_indices:    (n_img,) int64 indices of the images in the split.
    caption_indices:  (n_cap,) int64 indices of their captions in the split.
    caption_to_image: (n_cap,) int64 image of each caption, local to the fold (0..n_img-1).
    """

    index: int
    image_indices: np.ndarray
    caption_indices: np.ndarray
    caption_to_image: np.ndarray

    @property
    def num_images(self) -> int:
        return int(self.image_indices.shape[0])

    @property
    def num_captions(self) -> int:
        return int(self.caption_indices.shape[0])


def consecutive_folds(caption_to_image: np.ndarray, num_images: int, num_folds: int) -> list[Fold]:
    """Split images 0..num_images-1 into `num_folds` equal consecutive blocks.

    caption_to_image: (N_cap,) image of each caption in the whole split.
    """
    if num_folds < 1 or num_images % num_folds:
        raise ConfigError(
            f"{num_images} images cannot be split into {num_folds} equal folds "
            "(COCO 1K needs an image count divisible by 5; use coco5k or f30k for this split)"
        )
    c2i = np.asarray(caption_to_image, dtype=np.int64)
    size = num_images // num_folds
    folds = []
    for f in range(num_folds):
        lo, hi = f * size, (f + 1) * size
        caps = np.flatnonzero((c2i >= lo) & (c2i < hi))
        folds.append(Fold(f, np.arange(lo, hi, dtype=np.int64), caps, c2i[caps] - lo))
    return folds


def make_folds(protocol: str, caption_to_image: np.ndarray, num_images: int) -> list[Fold]:
    """The folds `protocol` ranks, for a split with `num_images` images."""
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
    return consecutive_folds(caption_to_image, num_images, COCO1K_FOLDS if protocol == "coco1k" else 1)


def fold_metrics(scores: Scores, caption_to_image: np.ndarray) -> dict[str, float]:
    """METRIC_KEYS of one fold from one matrix or an (i2t, t2i) pair of matrices."""
    i2t, t2i = scores if isinstance(scores, tuple) else (scores, scores)
    return recall_from_scores(i2t, t2i, caption_to_image)


def average_metrics(per_fold: list[dict[str, float]]) -> dict[str, float]:
    """Mean of each metric over folds; rsum is the mean fold rsum (= sum of mean recalls)."""
    return {key: float(np.mean([m[key] for m in per_fold])) for key in METRIC_KEYS}


def run_protocol(
    protocol: str, caption_to_image: np.ndarray, num_images: int, score_fold: ScoreFold
) -> dict:
    """Score every fold with `score_fold` and average.

    score_fold(fold) returns {method name: scores}, e.g. {"intra": S1, "reranked": (S_i2t, S_t2i)}
    with matrices (fold.num_images, fold.num_captions).
    Returns {"protocol", "num_folds", "mean": {method: metrics}, "folds": [{method: metrics}]}.
    """
    folds = make_folds(protocol, caption_to_image, num_images)
    per_fold = []
    for fold in folds:
        scored = score_fold(fold)
        per_fold.append({name: fold_metrics(s, fold.caption_to_image) for name, s in scored.items()})
    names = list(per_fold[0])
    mean = {name: average_metrics([f[name] for f in per_fold]) for name in names}
    return {"protocol": protocol, "num_folds": len(folds), "mean": mean, "folds": per_fold}
