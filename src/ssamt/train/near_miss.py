"""Near-miss images as phase-2 partners (issue 11; docs/PHASE2.md "Binding and roles").

A near miss of caption T is another training image whose label set holds every content word
of T (so a bag of words fits it) while the label rule marks some attribute or relation
phrase of T mismatched (so it is false by structure: who holds which attribute, who does
what to whom). Pairing T with a caption of a near-miss image k makes (I_k, T) a negative
whose text is a positive of the same update: unlike an edited caption, which only ever
occurs as a negative and can be learned by its text alone (measured: 84-94% on the training
edits, 50% on held-out ones), a near miss can only be told apart by looking at the image.
Everything comes from the label rule (labels.matching), so the recipe is the same on real
captions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ssamt.model.negatives import random_caption_of
from ssamt.progress import progress as show_progress


@dataclass
class NearMisses:
    """The near-miss images of every training caption: images[first[j]:first[j + 1]]."""

    first: np.ndarray
    images: np.ndarray

    def counts(self) -> np.ndarray:
        return np.diff(self.first)


def near_miss_images(graph, image: int, candidates: set[int], labels_of) -> list[int]:
    """The near misses of one caption among `candidates` (images holding its objects)."""
    from ssamt.labels.matching import mark_tokens, phrase_positive

    structure = [p.key for p in graph.phrases if p.type != "object"]
    out = []
    for k in sorted(candidates - {image}):
        labels = labels_of(k)
        if any(m is False for m in mark_tokens(graph, labels)):
            continue  # a word of T is absent from image k: a content negative, not a near miss
        if not all(phrase_positive(key, labels) for key in structure):
            out.append(k)
    return out


def find_near_misses(train, progress: bool = False) -> NearMisses:
    """NearMisses of train's captions (train.labels gives each image's L_i). Candidates come
    from an object -> images index, so the cost is the captions times the images sharing
    all their objects, not times the whole split."""
    labels_of = train.labels.image_labels
    holders: dict[str, set[int]] = {}
    for k in range(train.num_images):
        for name in labels_of(k).objects:
            holders.setdefault(name, set()).add(k)
    first = np.zeros(train.num_captions + 1, dtype=np.int64)
    found: list[int] = []
    for j, graph in enumerate(show_progress(train.texts.graphs, progress, "near-miss images",
                                            unit="caption")):
        objects = [p.key[1] for p in graph.phrases if p.type == "object"]
        if objects and any(p.type != "object" for p in graph.phrases):
            candidates = set.intersection(*(holders.get(o, set()) for o in objects))
            found += near_miss_images(graph, int(train.caption_image[j]), candidates, labels_of)
        first[j + 1] = len(found)
    return NearMisses(first, np.asarray(found, dtype=np.int64))


def near_miss_partners(near: NearMisses, caption_image: np.ndarray,
                       generator: torch.Generator) -> np.ndarray:
    """(N_cap,) for each caption a random caption of one of its near-miss images, -1 where
    it has none."""
    counts = near.counts()
    has = counts > 0
    u = torch.rand(len(counts), generator=generator).numpy()
    if not has.any():
        return np.full(len(counts), -1, dtype=np.int64)
    pick = near.first[:-1] + np.floor(u * np.maximum(counts, 1)).astype(np.int64)
    image = np.where(has, near.images[np.minimum(pick, len(near.images) - 1)], 0)
    caption = random_caption_of(torch.from_numpy(image), torch.from_numpy(caption_image),
                                generator).numpy()
    return np.where(has, caption, -1)


def mix_partners(partners: np.ndarray, near: np.ndarray, share: float,
                 generator: torch.Generator) -> np.ndarray:
    """Replace each caption's partner by its near-miss partner with probability `share`
    (where it has one)."""
    coin = torch.rand(len(partners), generator=generator).numpy() < share
    return np.where(coin & (near >= 0), near, partners)

