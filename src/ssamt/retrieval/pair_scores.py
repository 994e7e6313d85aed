"""The scores of many image-caption pairs, in batches: the one loop behind everything that
scores pairs (stage 2 of the ranking, search, Table 4, the minimal pairs, explain).

Each pair runs once through the inter encoder, and each distinct image and caption of a
batch is embedded (and mapped by the grounding head) once, however many of its pairs share
it. a^I and a^T are the gallery's embeddings when given (each image and caption encoded
once), else the intra encoders run on each batch. The gallery's inputs go to the device
once (gallery_rows) and each batch of pairs, sorted by caption length so it pads little, is
a gather there; the scores stay on the device until the end, so on a GPU nothing waits for
the host between batches.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ssamt.model.scores import PairScores, part_scores
from ssamt.progress import progress as show_progress
from ssamt.retrieval.encode import eval_mode


@dataclass(frozen=True)
class ScoredPairs:
    """The scores of M pairs in the order asked, float32 on the CPU.

    scores:  PairScores, (M,) each;  .terms() and .eq5(mu1, mu2) give Eq. 5.
    phrases: (M, P) part score of each caption's kept phrases (in caption order), NaN past
             them; words: (M, L) of its words (position t = token t), NaN past them or where
             the model has no output (None unless asked for parts).
    """

    scores: PairScores
    phrases: torch.Tensor | None = None
    words: torch.Tensor | None = None


class _GalleryRows:
    """A gallery's rows gathered on the device: an ImageTable's features are read once and
    kept there (float16 stays float16 until gathered), a TextTable's flat arrays copied
    there once; any other table with .batch(rows) has its batches moved. ids: (N,) table row
    of each gallery position."""

    def __init__(self, table: Any, ids: np.ndarray, device: torch.device) -> None:
        self.device = device
        if hasattr(table, "resident"):
            self.table, self.ids = table.subset(ids).resident(device), None
        elif hasattr(table, "to"):
            self.table, self.ids = table.to(device), ids
        else:
            self.table, self.ids = table, ids

    def batch(self, positions: np.ndarray) -> Any:
        rows = positions if self.ids is None else self.ids[positions]
        return self.table.batch(rows).to(self.device, non_blocking=True)


def _length_order(text_table: Any, caption_ids: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Pairs sorted by caption length, so a pair batch pads its captions little."""
    costs = getattr(text_table, "costs", None)
    if costs is None:
        return np.arange(len(pairs))
    return np.argsort(np.asarray(costs())[caption_ids[pairs[:, 1]]], kind="stable")


def _distinct(positions: np.ndarray, device: torch.device) -> tuple[np.ndarray, torch.Tensor]:
    """A batch's gallery positions (b,) -> (the distinct ones (n,), (b,) row of each in
    them, on the device): each image and caption of a batch is embedded once however many
    of its pairs the batch holds (a query's K candidates share it)."""
    ids, rows = np.unique(positions, return_inverse=True)
    return ids, torch.from_numpy(rows.reshape(-1)).to(device, non_blocking=True)


def _split_parts(parts: torch.Tensor, mask: torch.Tensor, n_phrases: int,
                 out_phrases: torch.Tensor, out_words: torch.Tensor,
                 at: torch.Tensor) -> None:
    """One batch's part scores (b, P + L) into rows `at` of the (M, P_max) / (M, L_max)
    outputs, NaN where the model has no output."""
    scores = parts.float().masked_fill(~mask, float("nan"))
    out_phrases[at, :n_phrases] = scores[:, :n_phrases]
    out_words[at, :scores.shape[1] - n_phrases] = scores[:, n_phrases:]


def score_pairs(
    model: Any, image_table: Any, text_table: Any, pairs: torch.Tensor | np.ndarray, *,
    image_ids: Sequence[int] | np.ndarray | None = None,
    caption_ids: Sequence[int] | np.ndarray | None = None,
    img_emb: torch.Tensor | None = None, txt_emb: torch.Tensor | None = None,
    parts: bool = False, batch_size: int = 256, device: torch.device | str = "cpu",
    progress: bool = False, autocast: torch.dtype | None = None,
) -> ScoredPairs:
    """Every score of each (image, caption) row of `pairs` (M, 2), gallery positions.

    image_ids / caption_ids: table row of each gallery position (default: the identity).
    img_emb (N_img, d) / txt_emb (N_cap, d): L2-normalized a^I / a^T of the gallery
        positions, so the intra encoders are not run again (both or neither).
    parts: also each pair's part scores (ScoredPairs.phrases / .words).
    autocast: e.g. torch.bfloat16 on CUDA.
    """
    pairs_np = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    n_pairs = len(pairs_np)
    device = torch.device(device)
    image_ids = (np.arange(pairs_np[:, 0].max(initial=-1) + 1) if image_ids is None
                 else np.asarray(image_ids, dtype=np.int64))
    caption_ids = (np.arange(pairs_np[:, 1].max(initial=-1) + 1) if caption_ids is None
                   else np.asarray(caption_ids, dtype=np.int64))
    order = _length_order(text_table, caption_ids, pairs_np)
    images = _GalleryRows(image_table, image_ids, device)
    texts = _GalleryRows(text_table, caption_ids, device)
    embedded = img_emb is not None
    if embedded:
        img_emb, txt_emb = img_emb.to(device), txt_emb.to(device)
    pairs_dev, order_dev = torch.from_numpy(pairs_np).to(device), torch.from_numpy(order).to(device)
    out = torch.empty(4, n_pairs, dtype=torch.float32, device=device)  # s_A, s_G, s_P, s_R
    phrases = words = None
    starts = range(0, n_pairs, batch_size)
    cast = (torch.autocast(device.type, dtype=autocast) if autocast is not None
            else contextlib.nullcontext())
    with eval_mode(model), torch.inference_mode(), cast:
        for s in show_progress(starts, progress, "score pairs", total=len(starts), unit="batch"):
            pos, pos_dev = order[s:s + batch_size], order_dev[s:s + batch_size]
            (img_ids, img_rows), (txt_ids, txt_rows) = (_distinct(pairs_np[pos, c], device)
                                                        for c in (0, 1))
            img = images.batch(img_ids)  # sizes come from the CPU copies
            txt = texts.batch(txt_ids)
            if embedded:
                a_img, a_txt = img_emb[pairs_dev[pos_dev, 0]], txt_emb[pairs_dev[pos_dev, 1]]
            else:
                a_img = model.encode_images(img)[img_rows]
                a_txt = model.encode_texts(txt)[txt_rows]
            inter = model.inter(img, txt, rows=(img_rows, txt_rows))
            got = PairScores.of(a_img, a_txt, inter)
            out[:, pos_dev] = torch.stack([got.s_A, got.s_G, got.s_P, got.s_R]).float()
            if parts:
                if phrases is None:
                    phrases, words = _part_buffers(text_table, caption_ids, pairs_np, device)
                _split_parts(part_scores(inter), inter.H_txt_mask, txt.phrase_mask.shape[1],
                             phrases, words, pos_dev)
    s_a, s_g, s_p, s_r = out.cpu().unbind(0)
    if parts and phrases is None:  # no pairs
        phrases, words = _part_buffers(text_table, caption_ids, pairs_np, torch.device("cpu"))
    return ScoredPairs(PairScores(s_a, s_g, s_p, s_r),
                       None if phrases is None else phrases.cpu(),
                       None if words is None else words.cpu())


def _part_buffers(text_table: Any, caption_ids: np.ndarray, pairs: np.ndarray,
                  device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """NaN-filled (M, P_max), (M, L_max) for the longest kept phrases / words of the pairs'
    captions (TextTable.num_phrases / num_tokens)."""
    caps = caption_ids[pairs[:, 1]]
    n_p = max((text_table.num_phrases(int(c)) for c in np.unique(caps)), default=0) or 1
    n_l = max((text_table.num_tokens(int(c)) for c in np.unique(caps)), default=0) or 1
    fill = float("nan")
    return (torch.full((len(pairs), n_p), fill, device=device),
            torch.full((len(pairs), n_l), fill, device=device))
