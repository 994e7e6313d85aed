"""A tiny deterministic stand-in for SSAMT and the data tables, for the retrieval tests.

It has the methods retrieval code calls (encode_images, encode_texts, inter) and counts
how often each item or pair is encoded, so tests can check "each image encoded once" and
"each pair scored once" without depending on the real model.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import torch

from ssamt.data.batch import ImageBatch, TextBatch
from ssamt.model.scores import InterOutput, PairScores

D_REGION, D = 6, 8


class FakeImageTable:
    """N images of R regions; region 0 carries the image id so the fake model can count."""

    def __init__(self, n: int, regions: int = 3, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.regions = torch.randn(n, regions, D_REGION, generator=g)
        self.regions[:, 0, 0] = torch.arange(n, dtype=torch.float32)

    def __len__(self) -> int:
        return self.regions.shape[0]

    def batch(self, indices) -> ImageBatch:
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        r = self.regions[idx]
        return ImageBatch(r, torch.ones(r.shape[:2], dtype=torch.bool))


class FakeTextTable:
    """N captions of 1..6 tokens; token 0 is padding, the first token is 1 + caption id."""

    def __init__(self, n: int, vocab: int = 50, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.tokens = [
            [1 + j] + list(rng.integers(1, vocab, size=int(rng.integers(0, 6))))
            for j in range(n)
        ]

    def __len__(self) -> int:
        return len(self.tokens)

    def costs(self) -> np.ndarray:
        return np.array([len(t) + 1 for t in self.tokens])

    def batch(self, indices) -> TextBatch:
        rows = [self.tokens[j] for j in np.asarray(indices, dtype=np.int64).tolist()]
        L = max(len(r) for r in rows)
        ids = torch.zeros(len(rows), L, dtype=torch.long)
        for b, r in enumerate(rows):
            ids[b, : len(r)] = torch.tensor(r)
        b = len(rows)
        return TextBatch(ids, ids != 0, torch.zeros(b, 1, dtype=torch.long),
                         torch.zeros(b, 1, dtype=torch.bool), torch.zeros(b, 1, L, dtype=torch.bool))


class FakeModel(torch.nn.Module):
    """Deterministic, padding-invariant encoders; Eq. 5-like pair score."""

    def __init__(self, vocab: int = 2000, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w_img = torch.nn.Parameter(torch.randn(D_REGION, D, generator=g))
        self.emb = torch.nn.Parameter(torch.randn(vocab, D, generator=g))
        self.w_pair = torch.nn.Parameter(torch.randn(D, D, generator=g))
        self.image_calls: Counter = Counter()
        self.text_calls: Counter = Counter()
        self.pair_calls: Counter = Counter()
        self.modes_seen: list[bool] = []

    def _img(self, img: ImageBatch) -> torch.Tensor:
        return img.regions.mean(1) @ self.w_img  # (B, D)

    def _txt(self, txt: TextBatch) -> torch.Tensor:
        m = txt.token_mask.float()[..., None]
        return (self.emb[txt.token_ids] * m).sum(1) / m.sum(1)  # (B, D)

    def encode_images(self, img: ImageBatch) -> torch.Tensor:
        self.modes_seen.append(self.training)
        self.image_calls.update(img.regions[:, 0, 0].long().tolist())
        return self._img(img)

    def encode_texts(self, txt: TextBatch) -> torch.Tensor:
        self.modes_seen.append(self.training)
        self.text_calls.update((txt.token_ids[:, 0] - 1).tolist())
        return self._txt(txt)

    def inter(self, img: ImageBatch, txt: TextBatch, rows=None) -> InterOutput:
        """One region output and one part output per pair, so every score of PairScores
        is defined; rows as SSAMT.inter's (pair b is img[rows[0][b]], txt[rows[1][b]])."""
        self.modes_seen.append(self.training)
        if rows is not None:
            img, txt = img.index(rows[0]), txt.index(rows[1])
        ids = zip(img.regions[:, 0, 0].long().tolist(), (txt.token_ids[:, 0] - 1).tolist())
        self.pair_calls.update(ids)
        u, v = self._img(img), self._txt(txt)
        h_img, h_txt = torch.tanh((u * v) @ self.w_pair), torch.tanh(u + v)
        one = torch.ones(len(u), 1, dtype=torch.bool)
        return InterOutput(h_img, h_txt, torch.tanh(u - v)[:, None], one, (u * v)[:, None], one)

    def score(self, img, txt) -> PairScores:
        return PairScores.of(self._img(img), self._txt(txt), self.inter(img, txt))


def direct_eq5(model, images: FakeImageTable, texts: FakeTextTable, mu1: float, mu2: float,
               image_ids=None, caption_ids=None) -> torch.Tensor:
    """Reference: Eq. 5 of every pair, one pair at a time -> (N_img, N_cap)."""
    image_ids = range(len(images)) if image_ids is None else image_ids
    caption_ids = range(len(texts)) if caption_ids is None else caption_ids
    out = torch.empty(len(image_ids), len(caption_ids))
    with torch.no_grad():
        for a, i in enumerate(image_ids):
            for b, j in enumerate(caption_ids):
                out[a, b] = model.score(images.batch([i]), texts.batch([j])).eq5(mu1, mu2)[0]
    return out


def test_fake_text_padding_does_not_change_embeddings():
    model, texts = FakeModel(), FakeTextTable(10)
    together = model.encode_texts(texts.batch(range(10)))
    alone = torch.cat([model.encode_texts(texts.batch([j])) for j in range(10)])
    assert torch.allclose(together, alone, atol=1e-6)
