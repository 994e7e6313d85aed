"""The batched pair scorer (retrieval.pair_scores: a gallery's inputs on the device once,
batches by indexing) against a plain per-item assembly: same Eq. 5 terms to float
tolerance, same rankings, on a real (small, random) model and the tiny synthetic split."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _gallery import make_gallery
from test_data_tables import reference_batch

from ssamt.data.tables import ImageTable, TextTable
from ssamt.model.scores import PairScores
from ssamt.retrieval.encode import encode_gallery
from ssamt.retrieval.pair_scores import score_pairs
from ssamt.retrieval.rerank import candidate_pairs, topk_rows, two_stage


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    g = make_gallery(tmp_path_factory.mktemp("stage2"), index=False)
    texts = TextTable(g["store"].graphs, g["vocab"], max_tokens=24)
    images = ImageTable(g["split"])
    img, txt = encode_gallery(g["model"], images, texts, batch_size=64)
    return g, images, texts, img, txt


def reference_terms(model, split, graphs, vocab, img_emb, txt_emb, pairs, image_ids,
                    caption_ids, batch_size):
    """The per-item path: pairs in their given order, features read from the memmap and
    captions padded one at a time (tests/test_data_tables.reference_batch)."""
    from ssamt.data.batch import ImageBatch, TextBatch

    out = []
    with torch.no_grad():
        for s in range(0, len(pairs), batch_size):
            i, j = pairs[s:s + batch_size, 0].numpy(), pairs[s:s + batch_size, 1].numpy()
            feats = torch.from_numpy(split.read_images(image_ids[i]))
            boxes = split.read_boxes(image_ids[i])
            img = ImageBatch(feats, torch.ones(feats.shape[:2], dtype=torch.bool),
                             None if boxes is None else torch.from_numpy(boxes))
            txt = TextBatch(*reference_batch([graphs[c] for c in caption_ids[j]], vocab, 24))
            out.append(PairScores.of(img_emb[i], txt_emb[j], model.inter(img, txt)).terms())
    return torch.cat(out)


def test_gathered_terms_equal_per_item_terms(gallery):
    g, images, texts, img, txt = gallery
    model = g["model"].eval()
    # a fold-like gallery: some image rows (out of order) and their captions
    image_ids = np.array([7, 3, 50, 12, 99, 0])
    caption_ids = np.concatenate([np.arange(5 * i, 5 * i + 5) for i in image_ids])
    gi, gt = img[image_ids], txt[caption_ids]
    pairs = torch.cartesian_prod(torch.arange(len(image_ids)), torch.arange(len(caption_ids)))
    got = score_pairs(model, images, texts, pairs, image_ids=image_ids, caption_ids=caption_ids,
                      img_emb=gi, txt_emb=gt, batch_size=7).scores.terms()
    want = reference_terms(model, g["split"], g["store"].graphs, g["vocab"], gi, gt, pairs,
                           image_ids, caption_ids, batch_size=13)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_gathered_two_stage_ranks_like_per_item(gallery):
    g, images, texts, img, txt = gallery
    model = g["model"].eval()
    n_img, n_cap, k, mu1, mu2 = len(images), len(texts), 5, 0.25, 0.05
    res = two_stage(model, images, texts, img, txt, k, mu1, mu2, batch_size=32)
    intra = img @ txt.T
    pairs = candidate_pairs(topk_rows(intra, k), topk_rows(intra.T, k), n_cap)
    want = reference_terms(model, g["split"], g["store"].graphs, g["vocab"], img, txt, pairs,
                           np.arange(n_img), np.arange(n_cap), batch_size=50)
    dense = torch.full((n_img, n_cap), float("nan"))
    dense[pairs[:, 0], pairs[:, 1]] = want[:, 0] + mu1 * want[:, 1] + mu2 * want[:, 2]
    top = topk_rows(intra, k)  # image i's candidates (i2t); every one was scored
    for i in range(n_img):
        torch.testing.assert_close(res.i2t[i, top[i]], dense[i, top[i]], rtol=1e-5, atol=1e-5)
        # the same candidates in the same order
        want_order = top[i][torch.argsort(dense[i, top[i]], descending=True, stable=True)]
        assert torch.equal(torch.argsort(res.i2t[i], descending=True, stable=True)[:k],
                           want_order)


def test_two_stage_reranks_under_the_autocast_it_is_given(gallery):
    """`ssamt evaluate --bf16` reaches stage 2: the terms move by bf16 rounding, no more."""
    g, images, texts, img, txt = gallery
    model = g["model"].eval()
    kw = {"batch_size": 32}
    full = two_stage(model, images, texts, img, txt, 5, 0.25, 0.05, **kw)
    half = two_stage(model, images, texts, img, txt, 5, 0.25, 0.05, autocast=torch.bfloat16,
                     **kw)
    assert not torch.equal(full.i2t, half.i2t)
    torch.testing.assert_close(half.i2t, full.i2t, rtol=0, atol=0.05)
    torch.testing.assert_close(half.intra, full.intra)  # stage 1 stays float32
