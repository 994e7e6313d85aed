"""The encoders' position-wise layers on real positions only (model.padding) against the
padded batch run whole, on one and two torch threads: the same outputs at real positions
and the same gradients, for every encoder."""

import pytest
import torch
from random_batches import random_image_batch, random_text_batch

from ssamt.model import SSAMT, ModelConfig
from ssamt.model import mask as masks
from ssamt.model.encoders import packed_layout
from ssamt.model.padding import Packed

V, DR, DB = 50, 12, 4


@pytest.fixture(autouse=True, params=[1, 2], ids=["1-thread", "2-threads"])
def threads(request):
    """Matrix products split their work differently on one thread and on two."""
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)


def _model(dropout: float = 0.0) -> SSAMT:
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=V, d_model=32, n_heads=4, n_layers=2, d_ffn=48,
                      dropout=dropout, d_region=DR, d_box=DB, grounding=True)
    return SSAMT(cfg)


def _batches(n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return (random_image_batch(n, 9, DR, DB, generator=g, full=True),  # as real features
            random_text_batch(n, 14, 5, V, g))


def _set_packing(model: SSAMT, on: bool) -> None:
    for module in (model.intra_image, model.intra_text, model.inter_encoder):
        module.skip_padding = on


def _assert_packed(img, txt) -> None:
    """The batches really are packed (else the tests compare the whole path with itself)."""
    inter = masks.inter_mask(txt.phrase_mask, txt.token_mask, txt.phrase_spans, img.region_mask)
    text = masks.text_mask(txt.phrase_mask, txt.token_mask, txt.phrase_spans)
    for mask in (inter, text):
        assert packed_layout(torch.zeros(*mask.shape[:2], 1), mask) is not None


def test_packed_encoders_match_the_whole_batch():
    model = _model().eval()
    img, txt = _batches(96)
    _assert_packed(img, txt)
    _set_packing(model, False)
    ref_i, ref_t = model.encode_images(img), model.encode_texts(txt)
    ref = model.inter(img, txt)
    _set_packing(model, True)
    got = model.inter(img, txt)
    torch.testing.assert_close(model.encode_images(img), ref_i, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(model.encode_texts(txt), ref_t, atol=1e-5, rtol=1e-4)
    for name in ("h_img", "h_txt", "H_img", "H_txt", "parts", "regions_found"):
        torch.testing.assert_close(getattr(got, name), getattr(ref, name),
                                   atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.parametrize("part", ["intra", "inter"])
def test_packed_gradients_match_the_whole_batch(part):
    img, txt = _batches(80, seed=3)
    _assert_packed(img, txt)
    grads = []
    for on in (False, True):
        model = _model().train()
        _set_packing(model, on)
        if part == "intra":
            loss = (model.encode_images(img) @ model.encode_texts(txt).T).square().mean()
        else:
            out = model.inter(img, txt)
            loss = (out.h_img * out.h_txt).sum() + out.H_txt.square().sum()
        loss.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()
                      if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and grads[0]
    for name, g in grads[0].items():
        torch.testing.assert_close(grads[1][name], g, atol=1e-5, rtol=1e-4, msg=name)


def test_no_packing_without_padding():
    assert Packed.of(torch.ones(4, 10, 10, dtype=torch.bool)) is None


def test_packed_layout_round_trip_zeros_padding():
    g = torch.Generator().manual_seed(4)
    valid = torch.rand(6, 7, generator=g) < 0.6
    mask = valid[:, None, :] & valid[:, :, None]
    layout = Packed.of(mask)
    x = torch.randn(6, 7, 3, generator=g)
    packed = layout.pack(x)
    assert packed.shape == (int(valid.sum()), 3)
    torch.testing.assert_close(packed, x[valid])  # row-major order, as boolean indexing
    torch.testing.assert_close(layout.unpack(packed), x * valid[..., None])
