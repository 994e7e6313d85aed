"""Does this data fit this checkpoint? Checked before any work, with one line if not.

A model trained on other features fails deep inside a matrix product (feature size), or
silently measures nothing: captions mostly outside its vocabulary are all <unk>, and a
phase-1 checkpoint's inter encoder was never trained. Here: refuse what cannot work, warn
about what measures something else than the user thinks.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ssamt.errors import DataError

# Warn when more than this fraction of the caption tokens are outside the vocabulary. A model
# evaluated on its own kind of captions sees a few percent (rare words dropped by
# vocab_min_count); above 10% the scores approach chance without any error.
OOV_WARN_RATE = 0.10


def check_data_fits(model_config, split, checkpoint: object) -> None:
    """DataError naming the data file when `split` cannot feed the checkpoint's model."""
    ims = split.images_path
    if split.feature_dim != model_config.d_region:
        raise DataError(ims, f"region features of {split.feature_dim} dims, but {checkpoint} "
                             f"was trained on {model_config.d_region}-dim features (other "
                             "features than its training data)")
    if model_config.d_box:
        boxes = split.boxes
        if boxes is None:
            raise DataError(split.boxes_path, f"missing: {checkpoint} was trained with region "
                                              "boxes, and this split has none")
        if int(boxes.shape[-1]) != model_config.d_box:
            raise DataError(split.boxes_path, f"boxes of {boxes.shape[-1]} values, but "
                                              f"{checkpoint} expects {model_config.d_box}")


def oov_rate(graphs: Sequence, vocab) -> float:
    """Fraction of the caption tokens that the vocabulary maps to <unk>."""
    total = unknown = 0
    for graph in graphs:
        total += len(graph.tokens)
        unknown += sum(1 for token in graph.tokens if token not in vocab)
    return unknown / total if total else 0.0


def warn_oov(rate: float, checkpoint: object, data: object) -> None:
    if rate > OOV_WARN_RATE:
        print(f"ssamt: warning: {rate:.0%} of the caption words of {data} are outside the "
              f"vocabulary of {checkpoint} (threshold {OOV_WARN_RATE:.0%}): the captions are "
              "not the kind it was trained on, expect scores near chance", file=sys.stderr)


def note_phase1(phase: str | None, checkpoint: object,
                consequence: str = "measuring the intra dual encoder only, no Eq. 5 "
                                   "re-ranking") -> bool:
    """True (with a note saying what is measured) when the checkpoint ends phase 1: its
    inter encoder is untrained."""
    if phase != "phase1":
        return False
    print(f"ssamt: note: {checkpoint} is a phase-1 checkpoint (its inter encoder is "
          f"untrained): {consequence}", file=sys.stderr)
    return True
