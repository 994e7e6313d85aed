"""Hard negatives for phase 2 from the frozen intra encoders (paper end of 2.4,
docs/DESIGN.md "Negative sampling").

For each positive pair (image i, caption c) the negative caption is drawn uniformly from
the m captions of OTHER images with the highest intra score cos(a^I_i, a^T), and the
negative image from the m other images with the highest cos(a^T_c, a^I). Scores are computed
in row chunks, so 30k images x 150k captions never builds the full 4.5e9-entry matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

# Entries of one score chunk (float32): 2^25 = 128 MiB, plus a bool mask of the same shape.
DEFAULT_CHUNK_ELEMS = 1 << 25


def chunk_rows(n_cols: int, chunk_elems: int = DEFAULT_CHUNK_ELEMS) -> int:
    """Rows per chunk so a (rows, n_cols) score block holds at most chunk_elems entries."""
    return max(1, chunk_elems // max(1, n_cols))


def topm_other_groups(queries: torch.Tensor, keys: torch.Tensor, query_group: torch.Tensor,
                      key_group: torch.Tensor, m: int,
                      chunk_elems: int = DEFAULT_CHUNK_ELEMS) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-m keys by cosine for each query, among keys of a different group.

    queries: (Nq, d); keys: (Nk, d); query_group: (Nq,); key_group: (Nk,) (image ids).
    Returns (idx (Nq, m') long, count (Nq,) long): idx[q, :count[q]] are the valid
    candidates, best first, m' = min(m, Nk); count[q] < m' only when fewer keys qualify.
    """
    q = F.normalize(queries.float(), dim=-1)
    k = F.normalize(keys.float(), dim=-1).to(q.device)  # scores on the queries' device (GPU)
    query_group, key_group = query_group.to(q.device), key_group.to(q.device)
    m_eff = min(m, k.shape[0])
    idx = torch.empty(q.shape[0], m_eff, dtype=torch.long)
    count = torch.empty(q.shape[0], dtype=torch.long)
    step = chunk_rows(k.shape[0], chunk_elems)
    for s in range(0, q.shape[0], step):
        sims = q[s:s + step] @ k.T  # (rows, Nk)
        same = query_group[s:s + step, None] == key_group[None, :]  # (rows, Nk)
        sims.masked_fill_(same, float("-inf"))  # never a caption of the same image
        top = sims.topk(m_eff, dim=1)
        idx[s:s + step] = top.indices.cpu()
        count[s:s + step] = torch.isfinite(top.values).sum(1).cpu()
    return idx, count


def _draw(idx: torch.Tensor, count: torch.Tensor, generator: torch.Generator | None,
          what: str) -> torch.Tensor:
    """One uniform pick per row among idx[r, :count[r]] -> (N,)."""
    if (count == 0).any():
        raise ValueError(f"no negative {what} exists for some positive pair (one image only?)")
    u = torch.rand(idx.shape[0], generator=generator)
    pick = (u * count).long().clamp_max(count - 1)  # (N,)
    return idx.gather(1, pick[:, None])[:, 0]


# ----- partners: negatives that are also positives of the same update ---------------------
#
# Phase 2 pairs every anchor caption c (image i) with a partner caption p of another image
# and trains on both positives (I_i, T_c), (I_p, T_p) and the two cross pairs (I_i, T_p),
# (I_p, T_c) as their negatives. Each image and caption of an update then sits on both
# sides of a hinge, so the parts of a cross-encoder score that depend on one modality only
# cancel in the gradient; with negatives from outside the batch the inter encoder learned
# "score hub captions low" instead of matching (docs/DESIGN.md section 2, revised; docs/PHASE2.md).


def random_caption_of(images: torch.Tensor, caption_image: torch.Tensor,
                       generator: torch.Generator | None) -> torch.Tensor:
    """One caption drawn uniformly among the captions of each of `images` (B,) -> (B,)."""
    order = torch.argsort(caption_image, stable=True)  # captions grouped by image
    counts = torch.bincount(caption_image, minlength=int(images.max()) + 1)
    starts = torch.cumsum(counts, 0) - counts
    u = torch.rand(images.shape[0], generator=generator)
    pick = (u * counts[images]).long().clamp_max(counts[images] - 1)
    return order[starts[images] + pick]


def random_partners(caption_image: torch.Tensor,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """A partner caption for every caption (N_cap,): uniform over the captions of other
    images (each image picked uniformly, then one of its captions) -> (N_cap,) long."""
    caption_image = caption_image.long().cpu()
    n_img = int(caption_image.max()) + 1
    if n_img < 2:
        raise ValueError("partners need at least two images")
    shift = torch.randint(1, n_img, caption_image.shape, generator=generator)
    return random_caption_of((caption_image + shift) % n_img, caption_image, generator)


@dataclass(frozen=True)
class IntraTopM:
    """The intra top-m of every caption c (paper end of 2.4), computed once per phase: the
    intra encoders are frozen in phase 2, so these lists do not change between epochs.

    cap_idx (N_cap, m'), cap_cnt (N_cap,): captions of other images, best first, for c's
        image (cos(a^I_i, a^T));  img_idx (N_cap, m'), img_cnt (N_cap,): other images for c
        (cos(a^T_c, a^I)). Entries past a row's count are not candidates.
    """

    cap_idx: torch.Tensor
    cap_cnt: torch.Tensor
    img_idx: torch.Tensor
    img_cnt: torch.Tensor


def intra_topm(img_emb: torch.Tensor, txt_emb: torch.Tensor, caption_image: torch.Tensor,
               m: int = 10, chunk_elems: int = DEFAULT_CHUNK_ELEMS) -> IntraTopM:
    """IntraTopM of every caption; img_emb (N_img, d), txt_emb (N_cap, d), caption_image
    (N_cap,). Scores run on the embeddings' device in chunks (topm_other_groups)."""
    caption_image = caption_image.long().cpu()
    images = torch.arange(img_emb.shape[0])
    cap_idx, cap_cnt = topm_other_groups(img_emb, txt_emb, images, caption_image, m, chunk_elems)
    img_idx, img_cnt = topm_other_groups(txt_emb, img_emb, caption_image, images, m, chunk_elems)
    return IntraTopM(cap_idx[caption_image], cap_cnt[caption_image], img_idx, img_cnt)


def draw_negatives(top: IntraTopM, generator: torch.Generator | None = None,
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """A negative caption and a negative image for every caption (N_cap,) each, uniform among
    its top-m (paper end of 2.4); ValueError when some caption has no candidate."""
    return (_draw(top.cap_idx, top.cap_cnt, generator, "caption"),
            _draw(top.img_idx, top.img_cnt, generator, "image"))


def hard_partners(top: IntraTopM, caption_image: torch.Tensor,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """A partner caption for every caption c, sampled by intra scores (paper end of 2.4)
    -> (N_cap,) long.

    For half of the captions (a fair coin each) the partner is one of the top-m captions of
    other images for c's image (a hard negative caption for I_c); for the other half it is a
    caption of one of the top-m other images for c (a hard negative image for T_c). Never a
    caption of c's own image.
    """
    caption_image = caption_image.long().cpu()
    neg_cap, neg_img = draw_negatives(top, generator)
    via_image = random_caption_of(neg_img, caption_image, generator)
    coin = torch.rand(caption_image.shape[0], generator=generator) < 0.5
    return torch.where(coin, neg_cap, via_image)
