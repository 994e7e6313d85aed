"""The data one training run needs: per split the image and caption tables, the
caption-to-image map and (train split) the per-image label sets of phrase matching."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ssamt.data.fingerprint import split_fingerprint
from ssamt.data.precomp import available_splits, open_split
from ssamt.data.split_labels import labels_for_split
from ssamt.data.tables import ImageTable, TextTable
from ssamt.data.vocab import Vocab
from ssamt.labels.graph import CaptionGraph


@dataclass
class SplitData:
    """One split, ready for training or evaluation.

    images:        ImageTable (or anything with len(), .batch(idx), .cost(i), .costs()).
    texts:         TextTable over the split's caption graphs.
    caption_image: (N_cap,) int64 image row of each caption.
    labels:        LabelStore-like object with .image_labels(i) (train split only), or None
                   (then L3 is skipped).
    feature_dim, box_dim: sizes the model config takes from the data.
    fingerprint:   ssamt.data.fingerprint of the split (None for tables built in memory).
    """

    images: Any
    texts: Any
    caption_image: np.ndarray
    labels: Any = None
    feature_dim: int = 2048
    box_dim: int = 0
    fingerprint: str | None = None

    @property
    def num_images(self) -> int:
        return len(self.images)

    @property
    def num_captions(self) -> int:
        return len(self.caption_image)

    @property
    def split(self) -> Any:
        """The PrecompSplit the data was read from, for its fingerprint (None for tables
        built in memory)."""
        return getattr(self.images, "split", None) if self.fingerprint is not None else None

    def pair_costs(self) -> np.ndarray:
        """(N_cap,) cost of each positive pair: caption + its image (#tokens + #regions,
        docs/DESIGN.md section 4: the budget counts instances, not pairs)."""
        return self.texts.costs() + self.images.costs()[self.caption_image]

    def on_device(self, device: Any, max_fraction: float = 0.4) -> SplitData:
        """This split with its batches gathered on a GPU `device` (phase 2): the caption
        table's flat arrays go there, and the image features too (in the file's dtype) when
        they take at most `max_fraction` of the device's memory (Flickr30K train float16:
        4.3 GB; COCO's 17-34 GB stays on the host and is read per batch). On the CPU, or
        for tables that cannot move, the split itself."""
        device = torch.device(device)
        if device.type != "cuda" or not hasattr(self.texts, "to"):
            return self
        images = self.images
        split = getattr(images, "split", None)
        if split is not None and hasattr(images, "resident"):
            nbytes = split.num_images * split.base_images[:1].nbytes
            if split.base_boxes is not None:
                nbytes += split.num_images * split.base_boxes[:1].nbytes
            if nbytes <= max_fraction * torch.cuda.get_device_properties(device).total_memory:
                images = images.resident(device)
        return replace(self, images=images, texts=self.texts.to(device))

    def head(self, max_images: int) -> SplitData:
        """The first `max_images` images and their captions (a cheaper dev set)."""
        if not max_images or max_images >= self.num_images:
            return self
        return _head(self, max_images)


def _head(data: SplitData, n: int) -> SplitData:

    keep = np.flatnonzero(data.caption_image < n)
    graphs = [data.texts.graphs[j] for j in keep]
    texts = TextTable(graphs, data.texts.vocab, max_tokens=data.texts.max_tokens)
    images = ImageTable(data.images.split.subset(range(n)))
    return SplitData(images, texts, data.caption_image[keep], None, data.feature_dim, data.box_dim)


def build_vocab(graphs: Sequence[CaptionGraph], min_count: int):
    """Vocabulary of the training captions' tokens (paper 3.2: drop words seen < 5 times)."""
    return Vocab.build((g.tokens for g in graphs), min_count=min_count)


def load_split(data_dir: str | Path, split: str, vocab=None, *, min_count: int = 5,
               max_tokens: int = 64, with_labels: bool = False, progress: bool = False):
    """-> (SplitData, vocab). Parses the captions (cached by the labels store); builds the
    vocabulary from this split when `vocab` is None (the training split)."""
    split_obj = open_split(data_dir, split)
    store = labels_for_split(data_dir, split, progress=progress, opened=split_obj)
    if vocab is None:
        vocab = build_vocab(store.graphs, min_count)
    texts = TextTable(store.graphs, vocab, max_tokens=max_tokens)
    boxes = split_obj.boxes
    data = SplitData(
        images=ImageTable(split_obj),
        texts=texts,
        caption_image=np.asarray(split_obj.caption_image, dtype=np.int64),
        labels=store if with_labels else None,
        feature_dim=int(split_obj.feature_dim),
        box_dim=0 if boxes is None else int(boxes.shape[-1]),
        fingerprint=split_fingerprint(split_obj),
    )
    return data, vocab


def load_train_dev(data_dir: str, cfg, vocab_dict, progress: bool):
    """-> (train SplitData with labels, the whole dev SplitData or None, vocab); the epoch
    evaluation takes its first eval.max_images, Eq. 5's weights are chosen on more."""
    vocab = Vocab.from_dict(vocab_dict) if vocab_dict is not None else None
    train, vocab = load_split(data_dir, "train", vocab, min_count=cfg.vocab_min_count,
                              max_tokens=cfg.model.max_tokens, with_labels=True, progress=progress)
    dev = None
    if "dev" in available_splits(data_dir):
        dev, _ = load_split(data_dir, "dev", vocab, max_tokens=cfg.model.max_tokens,
                            progress=progress)
    return train, dev, vocab
