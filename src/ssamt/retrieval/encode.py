"""Encode a gallery once with the intra dual encoder (paper 2.3, docs/DESIGN.md "Inference at scale").

Each image and each caption is encoded exactly once: a^I and a^T do not depend on the other
side, so the image-caption score matrix of stage 1 is one matrix product of the two.
(Evaluation code of earlier models encodes every image once per caption, five times.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ssamt.progress import progress as show_progress

Indices = Sequence[int] | np.ndarray


@contextlib.contextmanager
def eval_mode(model: Any) -> Iterator[None]:
    """Dropout off while encoding; the caller's train/eval state is restored afterwards
    (evaluation also runs in the middle of training)."""
    was_training = bool(getattr(model, "training", False))
    if hasattr(model, "eval"):
        model.eval()
    try:
        yield
    finally:
        if was_training:
            model.train(True)



def _length_order(table: Any, indices: np.ndarray) -> np.ndarray:
    """Positions of `indices` sorted by sequence cost, so batches pad little (captions vary
    from 5 to 60 tokens). Tables without `costs()` keep their order."""
    costs = getattr(table, "costs", None)
    if costs is None:
        return np.arange(len(indices))
    return np.argsort(np.asarray(costs())[indices], kind="stable")


def _encode(
    encode_fn: Callable[[Any], torch.Tensor],
    table: Any,
    indices: Indices | None,
    batch_size: int,
    device: torch.device | str,
    progress: bool,
    desc: str,
) -> torch.Tensor:
    """(N, d) float32 L2-normalized rows on the CPU, in the order of `indices`."""
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    idx = np.arange(len(table)) if indices is None else np.asarray(indices, dtype=np.int64)
    order = _length_order(table, idx)
    chunks = [order[s:s + batch_size] for s in range(0, len(order), batch_size)]
    out: torch.Tensor | None = None
    with torch.inference_mode():
        for pos in show_progress(chunks, progress, desc, total=len(chunks), unit="batch"):
            emb = encode_fn(table.batch(idx[pos]).to(device)).float()  # (b, d)
            if out is None:
                out = torch.empty(len(idx), emb.shape[1], dtype=torch.float32)
            out[torch.from_numpy(pos)] = F.normalize(emb, dim=-1).cpu()
    return out if out is not None else torch.empty(0, 0)


def encode_images(
    model: Any, table: Any, indices: Indices | None = None, *, batch_size: int = 128,
    device: torch.device | str = "cpu", progress: bool = False,
) -> torch.Tensor:
    """a^I of images `indices` (default all) of an ImageTable -> (N, d) L2-normalized, CPU."""
    with eval_mode(model):
        return _encode(model.encode_images, table, indices, batch_size, device, progress,
                       "encode images")


def encode_texts(
    model: Any, table: Any, indices: Indices | None = None, *, batch_size: int = 512,
    device: torch.device | str = "cpu", progress: bool = False,
) -> torch.Tensor:
    """a^T of captions `indices` (default all) of a TextTable -> (N, d) L2-normalized, CPU."""
    with eval_mode(model):
        return _encode(model.encode_texts, table, indices, batch_size, device, progress,
                       "encode captions")


def encode_gallery(
    model: Any, image_table: Any, text_table: Any, *, image_indices: Indices | None = None,
    caption_indices: Indices | None = None, batch_size: int = 128,
    device: torch.device | str = "cpu", progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(N_img, d) and (N_cap, d) L2-normalized intra embeddings, each item encoded once.

    Captions are shorter than images (about 15-30 tokens against 37 regions), so they go
    in batches four times larger.
    """
    img = encode_images(model, image_table, image_indices, batch_size=batch_size,
                        device=device, progress=progress)
    txt = encode_texts(model, text_table, caption_indices, batch_size=4 * batch_size,
                       device=device, progress=progress)
    return img, txt
