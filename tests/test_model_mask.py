"""The mask of paper 2.3 against a plain loop over DESIGN.md's three rules."""

import pytest
import torch
from random_batches import random_image_batch, random_text_batch

from ssamt.model import mask as masks


def _loop_mask(txt, img) -> torch.Tensor:
    """Reference: node kinds listed one by one, each rule checked as written."""
    out = []
    for b in range(len(txt)):
        n_p, n_l, n_r = txt.phrase_mask.shape[1], txt.token_mask.shape[1], img.region_mask.shape[1]
        nodes = [("ct", None, True)]
        nodes += [("phrase", p, bool(txt.phrase_mask[b, p])) for p in range(n_p)]
        nodes += [("word", w, bool(txt.token_mask[b, w])) for w in range(n_l)]
        nodes += [("ci", None, True)]
        nodes += [("region", r, bool(img.region_mask[b, r])) for r in range(n_r)]
        m = torch.zeros(len(nodes), len(nodes), dtype=torch.bool)
        for q, (qk, qi, _) in enumerate(nodes):
            for k, (kk, ki, kvalid) in enumerate(nodes):
                ok = kvalid
                if qk == "ct" and kk == "region":
                    ok = False  # rule 1
                if qk == "ci" and kk in ("phrase", "word"):
                    ok = False  # rule 2
                if qk == "phrase" and kk == "word" and not bool(txt.phrase_spans[b, qi, ki]):
                    ok = False  # rule 3
                m[q, k] = ok
        out.append(m)
    return torch.stack(out)


def test_inter_mask_matches_loop():
    g = torch.Generator().manual_seed(0)
    txt = random_text_batch(5, 7, 4, 30, g)
    img = random_image_batch(5, 6, 8, generator=g)
    got = masks.inter_mask(txt.phrase_mask, txt.token_mask, txt.phrase_spans, img.region_mask)
    assert torch.equal(got, _loop_mask(txt, img))


def test_text_and_image_masks_are_the_intra_blocks():
    g = torch.Generator().manual_seed(1)
    txt = random_text_batch(4, 6, 3, 30, g)
    img = random_image_batch(4, 5, 8, generator=g)
    ref = _loop_mask(txt, img)
    st = 1 + 3 + 6
    # Intra text keeps rule 3 and padding, i.e. the text block of the inter mask.
    assert torch.equal(masks.text_mask(txt.phrase_mask, txt.token_mask, txt.phrase_spans),
                       ref[:, :st, :st])
    # Intra image: padding only (the image block has no rule).
    assert torch.equal(masks.image_mask(img.region_mask), ref[:, st:, st:])


def test_every_row_keeps_a_key():
    g = torch.Generator().manual_seed(2)
    txt = random_text_batch(6, 5, 3, 30, g)
    img = random_image_batch(6, 4, 8, generator=g)
    m = masks.inter_mask(txt.phrase_mask, txt.token_mask, txt.phrase_spans, img.region_mask)
    assert m.any(-1).all()  # no fully masked query row, so no NaN from softmax


def _random_attention_inputs(device: str, dtype=torch.float32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(3, 2, 7, 8, generator=g).to(device, dtype) for _ in range(3))
    mask = torch.rand(3, 1, 7, 7, generator=g) > 0.5
    mask |= torch.eye(7, dtype=torch.bool)  # every row may attend somewhere (as the paper's mask)
    return q, k, v, mask.to(device)


def test_masked_sdpa_matches_naive_attention_cpu():
    from ssamt.model.encoders import masked_sdpa, naive_attention

    q, k, v, mask = _random_attention_inputs("cpu")
    torch.testing.assert_close(masked_sdpa(q, k, v, mask), naive_attention(q, k, v, mask))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_masked_sdpa_matches_naive_attention_cuda_without_cudnn():
    from ssamt.model.encoders import masked_sdpa, naive_attention

    for dtype, tol in ((torch.float32, 1e-5), (torch.bfloat16, 2e-2)):
        q, k, v, mask = _random_attention_inputs("cuda", dtype)
        torch.testing.assert_close(masked_sdpa(q, k, v, mask).float(),
                                   naive_attention(q, k, v, mask).float(), atol=tol, rtol=tol)
