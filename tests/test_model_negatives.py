"""Intra-score negative sampling (DESIGN.md "Negative sampling")."""

import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F

from ssamt.model.negatives import chunk_rows, draw_negatives, intra_topm, topm_other_groups


def _data(n_img=12, per=3, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    img = torch.randn(n_img, d, generator=g)
    txt = torch.randn(n_img * per, d, generator=g)
    return img, txt, torch.arange(n_img).repeat_interleave(per)


def test_topm_matches_dense_reference_for_any_chunk():
    img, txt, cap_img = _data()
    sims = F.normalize(img, dim=-1) @ F.normalize(txt, dim=-1).T
    sims[cap_img[None, :] == torch.arange(12)[:, None]] = float("-inf")
    ref = sims.topk(4, dim=1).indices
    for chunk in (1, 36, 100, 10_000):
        idx, cnt = topm_other_groups(img, txt, torch.arange(12), cap_img, 4, chunk)
        assert torch.equal(idx, ref) and (cnt == 4).all()


def test_negatives_are_in_top_m_and_never_same_image():
    img, txt, cap_img = _data()
    positives = torch.arange(36)
    g = torch.Generator().manual_seed(1)
    neg_cap, neg_img = draw_negatives(intra_topm(img, txt, cap_img, m=3, chunk_elems=50), g)
    pos_img = cap_img[positives]
    assert (cap_img[neg_cap] != pos_img).all() and (neg_img != pos_img).all()
    top_cap, _ = topm_other_groups(img, txt, torch.arange(12), cap_img, 3)
    top_img, _ = topm_other_groups(txt, img, cap_img, torch.arange(12), 3)
    for b in range(36):
        assert neg_cap[b] in top_cap[pos_img[b]] and neg_img[b] in top_img[b]


def test_m_larger_than_candidates_and_no_candidate():
    img, txt, cap_img = _data(n_img=2, per=2)
    neg_cap, neg_img = draw_negatives(intra_topm(img, txt, cap_img, m=10))
    assert (cap_img[neg_cap] != cap_img).all() and (neg_img != cap_img).all()
    with pytest.raises(ValueError, match="no negative"):
        draw_negatives(intra_topm(img[:1], txt[:2], cap_img[:2]))


def test_chunk_rows_bounds_block():
    assert chunk_rows(150_000, 1 << 25) * 150_000 <= 1 << 25
    assert chunk_rows(10**9, 10) == 1


@pytest.mark.slow
def test_30k_images_150k_captions_in_bounded_memory():
    # In a fresh process: peak RSS must stay far below the dense 30k x 150k float32
    # matrix (18 GB).
    code = textwrap.dedent("""
        import resource, torch
        from ssamt.model.negatives import draw_negatives, intra_topm
        g = torch.Generator().manual_seed(0)
        img = torch.randn(30_000, 16, generator=g)
        txt = torch.randn(150_000, 16, generator=g)
        cap = torch.arange(30_000).repeat_interleave(5)
        pos = torch.arange(150_000)
        nc, ni = draw_negatives(intra_topm(img, txt, cap, m=10), g)
        assert (cap[nc] != cap[pos]).all() and (ni != cap[pos]).all()
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=900)
    peak_kib = int(out.stdout.split()[-1])
    assert peak_kib < 2 * 1024 * 1024, f"peak RSS {peak_kib / 1024:.0f} MiB"
