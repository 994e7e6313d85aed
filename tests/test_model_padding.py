"""The encoders' two ways to skip padding on the CPU (model.padding: real positions only on
two threads, rows in length groups on one) against the padded batch run whole: the same
outputs at real positions and the same gradients, for every encoder."""

import pytest
import torch
from random_batches import random_image_batch, random_text_batch

from ssamt.model import SSAMT, ModelConfig
from ssamt.model import mask as masks
from ssamt.model.encoders import padding_plan
from ssamt.model.padding import MIN_ROWS, Packed, length_groups

V, DR, DB = 50, 12, 4


@pytest.fixture(autouse=True, params=[1, 2], ids=["groups-1-thread", "packed-2-threads"])
def threads(request):
    """One torch thread: the encoders run length groups; two: real positions only."""
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


def _skipping(model: SSAMT, on: bool) -> None:
    for module in (model.intra_image, model.intra_text, model.inter_encoder):
        module.skip_padding = on


def test_groups_cover_every_row_once_with_all_its_positions():
    valid = torch.arange(20)[None] < torch.randint(1, 21, (100,),
                                                   generator=torch.Generator().manual_seed(1))[:, None]
    groups = length_groups(valid)
    assert groups is not None and len(groups) > 1
    rows = torch.cat([r for r, _ in groups])
    assert sorted(rows.tolist()) == list(range(100))
    for r, cols in groups:
        assert not valid[r][:, [c for c in range(20) if c not in set(cols.tolist())]].any()
    kept = sum(len(r) * len(c) for r, c in groups)
    assert kept < 0.9 * valid.numel()


def test_no_groups_when_nothing_to_save_or_too_few_rows():
    assert length_groups(torch.ones(64, 10, dtype=torch.bool)) is None  # no padding
    short = torch.arange(10)[None] < torch.tensor([2, 10] * (MIN_ROWS // 2))[:, None]
    assert length_groups(short) is None  # one group's worth of rows


def _split_both(img, txt) -> None:
    """The batches really skip padding (else the tests compare the whole path with itself):
    they have some, and on one thread they are grouped."""
    inter = masks.inter_mask(txt.phrase_mask, txt.token_mask, txt.phrase_spans, img.region_mask)
    text = masks.text_mask(txt.phrase_mask, txt.token_mask, txt.phrase_spans)
    for mask in (inter, text):
        assert not mask.any(1).all()
        assert padding_plan(torch.zeros(*mask.shape[:2], 1), mask) is not None


def test_encoders_skipping_padding_match_the_whole_batch():
    model = _model().eval()
    img, txt = _batches(96)
    _split_both(img, txt)
    _skipping(model, False)
    ref_i, ref_t = model.encode_images(img), model.encode_texts(txt)
    ref = model.inter(img, txt)
    _skipping(model, True)
    got = model.inter(img, txt)
    torch.testing.assert_close(model.encode_images(img), ref_i, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(model.encode_texts(txt), ref_t, atol=1e-5, rtol=1e-4)
    for name in ("h_img", "h_txt", "H_img", "H_txt", "parts", "regions_found"):
        torch.testing.assert_close(getattr(got, name), getattr(ref, name),
                                   atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.parametrize("part", ["intra", "inter"])
def test_gradients_skipping_padding_match_the_whole_batch(part):
    img, txt = _batches(80, seed=3)
    _split_both(img, txt)
    grads = []
    for on in (False, True):
        model = _model().train()
        _skipping(model, on)
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


def test_groups_on_one_thread_real_positions_on_more(threads):
    _, txt = _batches(96)
    mask = masks.text_mask(txt.phrase_mask, txt.token_mask, txt.phrase_spans)
    plan = padding_plan(torch.zeros(*mask.shape[:2], 8), mask)
    assert isinstance(plan, list if threads == 1 else Packed)


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
