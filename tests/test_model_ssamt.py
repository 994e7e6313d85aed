"""SSAMT encoders: mask semantics, padding, batching, phase-2 freezing (paper 2.3, 3.2)."""

from dataclasses import replace

import pytest
import torch
from random_batches import random_image_batch, random_text_batch

from ssamt.data.batch import ImageBatch, TextBatch
from ssamt.model import SSAMT, ModelConfig
from ssamt.model.scores import PairScores

V, DR = 40, 12


def _model(**kw) -> SSAMT:
    torch.manual_seed(0)
    cfg = ModelConfig(**{"vocab_size": V, "d_model": 32, "n_heads": 4, "n_layers": 2, "d_ffn": 48,
                         "dropout": 0.1, "d_region": DR, "d_box": 0, **kw})
    return SSAMT(cfg).eval()


def _batches(n=4, seed=0, full=False):
    g = torch.Generator().manual_seed(seed)
    return (random_image_batch(n, 5, DR, generator=g, full=full),
            random_text_batch(n, 7, 3, V, g, full=full))


def _item_img(img: ImageBatch, b: int) -> ImageBatch:
    r = int(img.region_mask[b].sum())
    return ImageBatch(img.regions[b:b + 1, :r], img.region_mask[b:b + 1, :r])


def _item_txt(txt: TextBatch, b: int) -> TextBatch:
    n_l, n_p = int(txt.token_mask[b].sum()), int(txt.phrase_mask[b].sum())
    return TextBatch(txt.token_ids[b:b + 1, :n_l], txt.token_mask[b:b + 1, :n_l],
                     txt.phrase_types[b:b + 1, :n_p], txt.phrase_mask[b:b + 1, :n_p],
                     txt.phrase_spans[b:b + 1, :n_p, :n_l])


def _pad_more(img: ImageBatch, txt: TextBatch, extra: int = 3):
    """Same items with `extra` more padding columns holding garbage values."""
    n = len(txt)
    img2 = ImageBatch(torch.cat([img.regions, torch.randn(n, extra, DR)], 1),
                      torch.cat([img.region_mask, torch.zeros(n, extra, dtype=torch.bool)], 1))
    ids = torch.cat([txt.token_ids, torch.randint(2, V, (n, extra))], 1)
    tm = torch.cat([txt.token_mask, torch.zeros(n, extra, dtype=torch.bool)], 1)
    spans = torch.cat([txt.phrase_spans, torch.zeros(n, txt.phrase_spans.shape[1], extra,
                                                     dtype=torch.bool)], 2)
    spans = torch.cat([spans, torch.zeros(n, extra, spans.shape[2], dtype=torch.bool)], 1)
    pt = torch.cat([txt.phrase_types, torch.randint(1, 4, (n, extra))], 1)
    pm = torch.cat([txt.phrase_mask, torch.zeros(n, extra, dtype=torch.bool)], 1)
    return img2, TextBatch(ids, tm, pt, pm, spans)


def _real_txt(H: torch.Tensor, n_p: int, n_l: int, n_p2: int) -> torch.Tensor:
    """Phrase slots 0..n_p and word slots 0..n_l of H laid out with n_p2 phrase slots."""
    return torch.cat([H[:, :n_p], H[:, n_p2:n_p2 + n_l]], 1)


def test_shapes_and_finite_with_padding():
    m = _model()
    img, txt = _batches()
    assert m.encode_images(img).shape == (4, 32) and m.encode_texts(txt).shape == (4, 32)
    out = m.inter(img, txt)
    assert out.H_img.shape == (4, 5, 32) and out.H_txt.shape == (4, 3 + 7, 32)
    for t in (out.h_img, out.h_txt, out.H_img, out.H_txt):
        assert torch.isfinite(t).all()
    assert (out.H_txt[~out.H_txt_mask] == 0).all() and (out.H_img[~out.H_img_mask] == 0).all()


def test_padding_does_not_change_outputs():
    m = _model()
    img, txt = _batches(seed=1)
    img2, txt2 = _pad_more(img, txt)
    torch.testing.assert_close(m.encode_images(img2), m.encode_images(img))
    torch.testing.assert_close(m.encode_texts(txt2), m.encode_texts(txt))
    a, b = m.inter(img, txt), m.inter(img2, txt2)
    torch.testing.assert_close(b.h_img, a.h_img)
    torch.testing.assert_close(b.h_txt, a.h_txt)
    torch.testing.assert_close(b.H_img[:, :5], a.H_img)
    torch.testing.assert_close(_real_txt(b.H_txt, 3, 7, 6), a.H_txt)


def test_batch_equals_items_one_by_one():
    m = _model()
    img, txt = _batches(n=5, seed=2)
    a_i, a_t, out = m.encode_images(img), m.encode_texts(txt), m.inter(img, txt)
    score = m.score(img, txt).eq5(0.2, 0.1)
    for b in range(5):
        ib, tb = _item_img(img, b), _item_txt(txt, b)
        torch.testing.assert_close(m.encode_images(ib)[0], a_i[b])
        torch.testing.assert_close(m.encode_texts(tb)[0], a_t[b])
        o = m.inter(ib, tb)
        torch.testing.assert_close(o.h_img[0], out.h_img[b])
        torch.testing.assert_close(o.h_txt[0], out.h_txt[b])
        n_p, n_l = tb.phrase_mask.shape[1], tb.token_mask.shape[1]
        torch.testing.assert_close(o.H_txt[0], _real_txt(out.H_txt[b:b + 1], n_p, n_l, 3)[0])
        torch.testing.assert_close(m.score(ib, tb).eq5(0.2, 0.1)[0], score[b])


def test_masked_inputs_do_not_reach_outputs_one_layer():
    # With one layer, "q may not attend to k" means q's output ignores k's input. (With two,
    # information also flows indirectly, e.g. regions -> C^I -> C^T, as the rules allow.)
    m = _model(n_layers=1)
    img, txt = _batches(seed=3, full=True)
    base = m.inter(img, txt)
    other_txt = replace(txt, token_ids=torch.randint(2, V, txt.token_ids.shape))
    torch.testing.assert_close(m.inter(img, other_txt).h_img, base.h_img)  # rule 2
    other_img = ImageBatch(torch.randn_like(img.regions), img.region_mask)
    torch.testing.assert_close(m.inter(other_img, txt).h_txt, base.h_txt)  # rule 1
    # Rule 3: change only words outside phrase 0's span of item 0.
    ids = txt.token_ids.clone()
    outside = ~txt.phrase_spans[0, 0]
    ids[0, outside] = (ids[0, outside] - 1) % (V - 2) + 2  # a different id in [2, V)
    assert not torch.equal(ids, txt.token_ids)
    txt3 = replace(txt, token_ids=ids)
    torch.testing.assert_close(m.inter(img, txt3).H_txt[0, 0], base.H_txt[0, 0])


def test_phrase_gradients_only_from_own_words():
    m = _model(n_layers=1)
    img, txt = _batches(n=2, seed=4, full=True)
    held = {}

    def keep(_mod, _inp, out):
        out.retain_grad()
        held["x"] = out

    m.text_embed.register_forward_hook(keep)
    w = torch.randn(32)  # not .sum(): a LayerNorm output sums to a constant
    (m.inter(img, txt).H_txt[0, 1] @ w).backward()  # phrase node 1 of item 0
    word_grad = held["x"].grad[0, 1 + 3:].abs().sum(-1)  # (L,), after [C^T, 3 phrases]
    span = txt.phrase_spans[0, 1]
    assert (word_grad[~span] == 0).all() and (word_grad[span] > 0).all()


def test_sdpa_equals_naive_attention():
    m = _model()
    img, txt = _batches(seed=5)
    a = m.inter(img, txt)
    m.set_attention("naive")
    b = m.inter(img, txt)
    torch.testing.assert_close(a.H_txt, b.H_txt)
    torch.testing.assert_close(a.h_img, b.h_img)


def test_without_phrases_ignores_phrase_inputs():
    m = _model(use_phrases=False)
    img, txt = _batches(seed=6)
    out = m.inter(img, txt)
    assert out.H_txt.shape[1] == 3 + 7 and not out.H_txt_mask[:, :3].any()
    no_phr = TextBatch(txt.token_ids, txt.token_mask, txt.phrase_types[:, :0],
                       txt.phrase_mask[:, :0], txt.phrase_spans[:, :0])
    torch.testing.assert_close(m.encode_texts(no_phr), m.encode_texts(txt))


def test_boxes_used_when_configured():
    m = _model(d_box=5)
    g = torch.Generator().manual_seed(7)
    img = random_image_batch(3, 4, DR, d_box=5, generator=g)
    a = m.encode_images(img)
    b = m.encode_images(ImageBatch(img.regions, img.region_mask, img.boxes + 1))
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError):
        m.encode_images(ImageBatch(img.regions, img.region_mask))


def test_phase2_step_leaves_intra_untouched():
    m = _model()
    m.freeze_intra()
    m.train()
    assert not m.intra_image.training and m.inter_encoder.training
    before = {k: v.clone() for k, v in m.state_dict().items()}
    opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=1e-2)
    img, txt = _batches(seed=8)
    out = m.inter(img, txt)
    w = torch.randn(32)
    (out.h_img @ w + (out.H_txt @ w).sum(1)).sum().backward()
    opt.step()
    after = m.state_dict()
    intra_keys = [k for k in before if not k.startswith("inter_encoder.")]
    assert all(torch.equal(before[k], after[k]) for k in intra_keys)
    assert any(not torch.equal(before[k], after[k]) for k in before if k not in intra_keys)
    n_inter = sum(p.numel() for p in m.inter_parameters())
    assert n_inter == sum(p.numel() for p in m.parameters() if p.requires_grad)


def test_eq5_formula_and_pairs_one_by_one():
    m = _model()
    img, txt = _batches(n=3, seed=9)
    a_i, a_t, out = m.encode_images(img), m.encode_texts(txt), m.inter(img, txt)
    got = PairScores.of(a_i, a_t, out).eq5(0.3, 0.1)
    cos = torch.nn.functional.cosine_similarity
    for b in range(3):
        ht = out.H_txt[b][out.H_txt_mask[b]]
        hi = out.H_img[b][out.H_img_mask[b]]
        ref = (cos(a_i[b], a_t[b], dim=0) + 0.3 * cos(out.h_img[b], out.h_txt[b], dim=0)
               + 0.1 * cos(out.h_img[b][None], ht).mean()
               + 0.1 * cos(out.h_txt[b][None], hi).mean())
        torch.testing.assert_close(got[b], ref)
    torch.testing.assert_close(m.score(img, txt).eq5(0.3, 0.1), got)
