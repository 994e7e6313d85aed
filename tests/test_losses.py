"""Each loss against its formula (paper Eqs. 1-4) on small hand-made tensors, and the two
recipes' phase-2 terms against theirs."""

import math

import pytest
import torch
import torch.nn.functional as F

from ssamt.data.batch import PhraseMarks
from ssamt.errors import ConfigError
from ssamt.losses import (
    MatchedReference,
    combine,
    intra_loss,
    part_types,
    phrase_matching,
    phrase_matching_by_type,
    tril,
)
from ssamt.model.scores import (
    InterOutput,
    s_global,
    s_phrase,
    s_phrase_encoder,
    s_region,
    s_region_encoder,
)
from ssamt.train.recipes.paper import paper_terms
from ssamt.train.recipes.ssamt import ssamt_terms


def test_tril_scalar_and_sets():
    assert tril(torch.tensor([0.5]), torch.tensor([0.2]), 0.1).item() == 0.0
    assert tril(torch.tensor([0.2]), torch.tensor([0.5]), 0.1).item() == pytest.approx(0.4)
    pos = torch.tensor([[0.2, 0.4, 9.0]])
    neg = torch.tensor([[0.5, 9.0, 9.0]])
    got = tril(pos, neg, 0.1, torch.tensor([[True, True, False]]),
               torch.tensor([[True, False, False]]))
    assert got.item() == pytest.approx(0.1 - 0.3 + 0.5)


def _unit(*angles):
    return torch.tensor([[math.cos(a), math.sin(a)] for a in angles])


def test_intra_loss_hardest_and_mean():
    # cos between image r and caption c = cos(angle_r - angle_c).
    a_img, a_txt = _unit(0.0, 1.0, 2.0), _unit(0.1, 1.0, 2.5)
    ids = torch.tensor([7, 8, 9])
    sims = (a_img @ a_txt.T).numpy()  # numpy scalars: pytest.approx takes no 0-d tensors
    alpha = 0.5
    hard = [max(alpha - sims[b, b] + max(sims[b, c] for c in range(3) if c != b), 0)
            + max(alpha - sims[b, b] + max(sims[r, b] for r in range(3) if r != b), 0)
            for b in range(3)]
    assert intra_loss(a_img, a_txt, ids, alpha).item() == pytest.approx(sum(hard) / 3, abs=1e-6)
    # Warm-up: the mean over negatives of the per-negative hinges (VSE++'s sum of hinges
    # divided by the count), not one hinge of the mean negative score.
    mean = [sum(max(alpha - sims[b, b] + sims[b, c], 0) for c in range(3) if c != b) / 2
            + sum(max(alpha - sims[b, b] + sims[r, b], 0) for r in range(3) if r != b) / 2
            for b in range(3)]
    got = intra_loss(a_img, a_txt, ids, alpha, hardest=False).item()
    assert got == pytest.approx(sum(mean) / 3, abs=1e-6)


def test_intra_loss_warm_up_does_not_saturate_on_the_mean_negative():
    # Regression: the warm-up loss was TriL(pos, mean of negatives), which is 0 (no gradient)
    # as soon as the positive beats the *average* negative by alpha, while a hard negative
    # still violates the margin. Training then stalls on a weak model, and the switch to
    # hardest negatives collapses every a^I (a^T) onto one point (loss stuck at 2 alpha).
    a_img = _unit(0.0, 0.3, 3.0)  # row 1 is a hard negative of row 0, row 2 an easy one
    a_txt = _unit(0.0, 0.3, 3.0)
    ids = torch.tensor([0, 1, 2])
    sims = a_img @ a_txt.T
    alpha = 0.2
    assert sims[0, 0] - (sims[0, 1] + sims[0, 2]) / 2 > alpha  # the mean negative is beaten
    assert sims[0, 0] - sims[0, 1] < alpha  # the hard one is not
    a_img.requires_grad_(True)
    loss = intra_loss(a_img, a_txt, ids, alpha, hardest=False)
    assert loss.item() > 0.0
    loss.backward()
    assert a_img.grad[0].abs().sum() > 0.0


def test_intra_loss_never_uses_a_caption_of_the_same_image():
    # Rows 0 and 1 are two captions of image 5; caption 1 would be 0's hardest negative.
    a_img = _unit(0.0, 0.0, 3.0)
    a_txt = _unit(0.2, 0.0, 3.0)
    ids = torch.tensor([5, 5, 6])
    sims = a_img @ a_txt.T
    alpha = 0.2
    exp = [max(alpha - sims[b, b] + (sims[b, 2] if b < 2 else sims[2, :2].max()).item(), 0)
           + max(alpha - sims[b, b] + (sims[2, b] if b < 2 else sims[:2, 2].max()).item(), 0)
           for b in range(3)]
    assert intra_loss(a_img, a_txt, ids, alpha).item() == pytest.approx(sum(exp) / 3, abs=1e-6)
    # A batch of one image only has no negatives: no loss, no NaN.
    assert intra_loss(a_img[:2], a_txt[:2], ids[:2], alpha).item() == 0.0


def _out(h_img, h_txt, H_img, H_txt, m_img=None, m_txt=None) -> InterOutput:
    m_img = torch.ones(H_img.shape[:2], dtype=torch.bool) if m_img is None else m_img
    m_txt = torch.ones(H_txt.shape[:2], dtype=torch.bool) if m_txt is None else m_txt
    return InterOutput(h_img, h_txt, H_img, m_img, H_txt, m_txt)


def _cos(u, v):
    return F.cosine_similarity(u, v, dim=-1).item()


def test_paper_terms_against_formulas():
    """The paper recipe: L1 on s_G, L2 on the encoder's s_P / s_R, L3 across the parts."""
    g = torch.Generator().manual_seed(0)
    r = lambda *s: torch.randn(*s, generator=g)
    pos = _out(r(1, 4), r(1, 4), r(1, 3, 4), r(1, 5, 4))
    nt = _out(r(1, 4), r(1, 4), r(1, 3, 4), r(1, 5, 4),
              m_txt=torch.tensor([[True, True, True, False, True]]))
    ni = _out(r(1, 4), r(1, 4), r(1, 3, 4), r(1, 5, 4),
              m_img=torch.tensor([[True, False, True]]))
    a1, a2, a3 = 0.3, 0.4, 0.5
    # (P=2, L=3): T_j against L_i, then T_i against L_k (no H-: that one is skipped)
    marks = PhraseMarks(torch.tensor([[1, 0], [1, 1]]), torch.tensor([[1, -1, 0], [-1, -1, -1]]))
    terms = paper_terms(pos, nt, ni, marks, a1, a2, a3)

    def sg(o):
        return _cos(o.h_img[0], o.h_txt[0])

    def sp(o):
        idx = o.H_txt_mask[0].nonzero()[:, 0]
        return sum(_cos(o.h_img[0], o.H_txt[0, k]) for k in idx) / len(idx)

    def sr(o):
        idx = o.H_img_mask[0].nonzero()[:, 0]
        return sum(_cos(o.h_txt[0], o.H_img[0, k]) for k in idx) / len(idx)

    l1 = max(a1 - sg(pos) + sg(nt), 0) + max(a1 - sg(pos) + sg(ni), 0)
    l2 = max(a2 - sp(pos) + sp(nt), 0) + max(a2 - sr(pos) + sr(ni), 0)
    c = [_cos(nt.h_img[0], nt.H_txt[0, k]) for k in range(5)]
    # H+ = phrase 0, word 0 (slot 2); H- = phrase 1, word 2 (slot 4; slot 3 is masked).
    l3 = max(a3 - (c[0] + c[2]) / 2 + (c[1] + c[4]) / 2, 0)
    assert set(terms) == {"L1", "L2", "L3"}
    assert terms["L1"].item() == pytest.approx(l1, abs=1e-5)
    assert terms["L2"].item() == pytest.approx(l2, abs=1e-5)
    assert terms["L3"].item() == pytest.approx(l3, abs=1e-5)
    assert "L3" not in paper_terms(pos, nt, ni, None, a1, a2, a3)


def test_phrase_matching_skips_empty_sets():
    o = _out(torch.randn(2, 4), torch.randn(2, 4), torch.randn(2, 1, 4), torch.randn(2, 2, 4))
    marks = PhraseMarks(torch.tensor([[1, 1], [0, 0]]), torch.zeros(2, 0, dtype=torch.long))
    assert torch.equal(phrase_matching(o, marks, 0.2), torch.zeros(2))
    types = part_types(torch.tensor([[1, 1], [1, 1]]), torch.zeros(2, 0, dtype=torch.bool))
    assert torch.equal(phrase_matching_by_type(o, marks, 0.2, types), torch.zeros(2))


def test_combine():
    terms = {"L1": torch.tensor(2.0), "L2": torch.tensor(3.0), "L3": torch.tensor(float("nan"))}
    assert combine(terms, {"L1": 1.0, "L2": 0.1, "L3": 0.0}).item() == pytest.approx(2.3)
    with pytest.raises(ConfigError):
        combine(terms, {"l1": 1.0})


def _typed_case():
    """One negative run: parts 0-1 objects, 2 attribute, 3-5 words (types 1, 1, 2, 4, 4, 4)."""
    g = torch.Generator().manual_seed(3)
    o = _out(torch.randn(1, 4, generator=g), torch.randn(1, 4, generator=g),
             torch.randn(1, 2, 4, generator=g), torch.randn(1, 6, 4, generator=g))
    types = part_types(torch.tensor([[1, 1, 2]]), torch.tensor([[True, True, True]]))
    # object 0 matched, object 1 mismatched, attribute mismatched, words: matched, -, mismatched
    marks = PhraseMarks(torch.tensor([[1, 0, 0]]), torch.tensor([[1, -1, 0]]))
    c = [_cos(o.h_img[0], o.H_txt[0, k]) for k in range(6)]
    return o, types, marks, c


def test_part_types_line_up_with_local_outputs():
    types = part_types(torch.tensor([[1, 3, 0]]), torch.tensor([[True, True, False]]))
    assert types.tolist() == [[1, 3, 0, 4, 4, 0]]


def test_phrase_matching_within_type_against_formula():
    o, types, marks, c = _typed_case()
    a = 0.3
    got = phrase_matching_by_type(o, marks, a, types).item()
    # object: H+ {0}, H- {1}; word: H+ {3}, H- {5}; attribute has no H+: skipped.
    want = (max(a - c[0] + c[1], 0) + max(a - c[3] + c[5], 0)) / 2
    assert got == pytest.approx(want, abs=1e-6)


def test_phrase_matching_reference_gives_every_type_a_matched_side():
    o, types, marks, c = _typed_case()
    a = 0.3
    ref = MatchedReference(cos=torch.tensor([[0.7, 0.1, -0.2]]),
                           types=torch.tensor([[2, 1, 4]]),
                           matched=torch.tensor([[True, True, False]]))
    got = phrase_matching_by_type(o, marks, a, types, ref).item()
    want = (max(a - (c[0] + 0.1) / 2 + c[1], 0)  # object: H+ = part 0 and reference 0.1
            + max(a - 0.7 + c[2], 0)  # attribute: H+ = the reference's attribute only
            + max(a - c[3] + c[5], 0)) / 3  # word: the reference's word is not matched
    assert got == pytest.approx(want, abs=1e-6)


def test_within_type_l3_cannot_be_met_by_type_levels():
    # A model that scores every part by its type alone (objects and words high, attributes
    # and relations low) meets the across-type L3 but not the within-type one.
    h = torch.tensor([[1.0, 0.0]])
    level = {1: [1.0, 0.0], 2: [-1.0, 0.0], 3: [-1.0, 0.0], 4: [1.0, 0.0]}
    types = torch.tensor([[1, 2, 3, 4, 4]])
    H = torch.tensor([[level[int(t)] for t in types[0]]])
    o = _out(h, h, torch.zeros(1, 1, 2), H)
    marks = PhraseMarks(torch.tensor([[1, 0, 0]]), torch.tensor([[1, 0]]))  # word 2 mismatched
    assert phrase_matching(o, marks, 0.2).item() == 0.0  # across types: satisfied
    assert phrase_matching_by_type(o, marks, 0.2, types).item() == pytest.approx(0.2)  # words tie


def test_ssamt_terms_read_negative_images_through_swap():
    """The ssamt recipe's pairing: each negative-image run is the cross run of another row,
    so ssamt_terms reads its scores and L3 by index. Against the formulas with the
    negative-image runs and their supervision spelled out."""
    g = torch.Generator().manual_seed(1)
    r = lambda *s: torch.randn(*s, generator=g)
    b, n_p, n_l = 4, 2, 3
    swap = torch.tensor([2, 3, 0, 1])
    m_txt = torch.rand(b, n_p + n_l, generator=g) > 0.2
    pos = InterOutput(r(b, 4), r(b, 4), r(b, 3, 4), torch.ones(b, 3, dtype=torch.bool),
                      r(b, n_p + n_l, 4), m_txt, parts=r(b, n_p + n_l).tanh(),
                      phrase_types=torch.tensor([[1, 2], [1, 3], [2, 0], [1, 1]]),
                      regions_found=r(b).tanh())
    cross = InterOutput(r(b, 4), r(b, 4), r(b, 3, 4), torch.ones(b, 3, dtype=torch.bool),
                        r(b, n_p + n_l, 4), m_txt[swap], parts=r(b, n_p + n_l).tanh(),
                        phrase_types=pos.phrase_types[swap], regions_found=r(b).tanh())
    marks = PhraseMarks(torch.randint(-1, 2, (b, n_p), generator=g),
                        torch.randint(-1, 2, (b, n_l), generator=g))
    types = part_types(pos.phrase_types, torch.ones(b, n_l, dtype=torch.bool))
    ref = MatchedReference(pos.parts, types, m_txt)
    s_pos, s_cross = r(b), r(b)
    a1, a2, a3 = 0.2, 0.3, 0.4
    got = ssamt_terms(pos, cross, swap, s_pos, s_cross, marks, types, ref, a1, a2, a3)
    neg_img = cross.index(swap)  # (I_swap[r], T_r), spelled out
    marks_img = PhraseMarks(marks.phrase_marks[swap], marks.token_marks[swap])
    g_pos = s_global(pos.h_img, pos.h_txt) + s_pos
    want_l1 = (tril(g_pos, s_global(cross.h_img, cross.h_txt) + s_cross, a1)
               + tril(g_pos, s_global(neg_img.h_img, neg_img.h_txt) + s_cross[swap], a1))
    want_l2 = sum(tril(f(pos), f(neg), a2) for f, neg in (
        (s_phrase, cross), (s_region, neg_img), (s_phrase_encoder, cross),
        (s_region_encoder, neg_img)))
    want_l3 = (phrase_matching_by_type(cross, marks, a3, types[swap], ref)
               + phrase_matching_by_type(neg_img, marks_img, a3, types, ref.index(swap)))
    assert set(got) == {"L1", "L2", "L3", "L1_sG"}
    torch.testing.assert_close(got["L1"], want_l1.mean())
    torch.testing.assert_close(got["L2"], want_l2.mean())
    torch.testing.assert_close(got["L3"], want_l3.mean())
    plain = (tril(g_pos - s_pos, s_global(cross.h_img, cross.h_txt), a1)
             + tril(g_pos - s_pos, s_global(neg_img.h_img, neg_img.h_txt), a1))
    torch.testing.assert_close(got["L1_sG"], plain.mean())
    assert "L3" not in ssamt_terms(pos, cross, swap, s_pos, s_cross, None, types, ref, a1,
                                   a2, a3)
