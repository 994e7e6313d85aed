"""Paper 4.1 / Table 4: how well each matching score tells a positive pair from a negative one.

For every positive test pair (I_i, T_i) one negative is drawn at random (seeded):
- i2t: another caption T_j of another image -> negative pair (I_i, T_j);
- t2i: another image I_k -> negative pair (I_k, T_i).

Scores, each from the inter-encoder run on the pair itself (docs/DESIGN.md section 2):
- global:  s_G = cos(h^I, h^T)                      (Eq. 1, L1; s_A = cos(a^I, a^T) also kept)
- local:   s_P + s_R                                  (Eq. 2, L2: both local terms; each alone too)
- phrase:  Eq. 3 (L3) read as a classifier on the negative pair: with the labels of the
           pair's image (L_i for (I_i, T_j), L_k for (I_k, T_i)) the phrases and words of the
           caption split into matched H+ and mismatched H-; the pair counts as correct when
           mean_{p in H+} cos(h^I, p) > mean_{p in H-} cos(h^I, p), i.e. the model grounds the
           mismatch on the truly mismatched parts. Pairs whose H+ or H- is empty are skipped
           (as L3 skips them), so chance is 50%.
           The same per part type (object, attribute, relation, word): matched and
           mismatched parts of one type only, over the pairs that have both. Mismatched parts
           are mostly attributes and relations and matched ones mostly objects and words, so
           the overall figure can be met by scoring each type at its own level; the per-type
           figures cannot.
- within-type AUC: over all labeled parts of one type in the negative pairs, the chance that
           a matched part scores above a mismatched one (Mann-Whitney; 50% = no grounding).
Global and local accuracy: the share of (positive, negative) pairs where the positive scores
higher. Ties count one half everywhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ssamt.data.batch import MARK_MATCHED, MARK_MISMATCHED, PhraseMarks
from ssamt.losses import PART_TYPE_NAMES, part_types, per_type_sums
from ssamt.model.scores import masked_mean
from ssamt.retrieval.pair_scores import score_pairs

SCORES = ("s_A", "s_G", "s_P", "s_R")


def pairwise_accuracy(pos: np.ndarray, neg: np.ndarray) -> float:
    """% of rows where pos > neg (ties count 1/2); nan for no rows."""
    pos, neg = np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)
    if pos.size == 0:
        return float("nan")
    return float(100.0 * np.mean((pos > neg) + 0.5 * (pos == neg)))


def phrase_accuracy(matched_mean: np.ndarray, mismatched_mean: np.ndarray,
                    valid: np.ndarray) -> tuple[float, int]:
    """Eq. 3 as a classifier: % of negative pairs (with both sets non-empty) whose matched
    parts score above their mismatched parts -> (accuracy, number of pairs counted)."""
    valid = np.asarray(valid, dtype=bool)
    return (pairwise_accuracy(np.asarray(matched_mean)[valid], np.asarray(mismatched_mean)[valid]),
            int(valid.sum()))


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """% chance that a member of `pos` scores above one of `neg` (ties 1/2; Mann-Whitney U
    from average ranks); nan when either is empty."""
    pos, neg = np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    values = np.concatenate([pos, neg])
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    first = np.cumsum(counts) - counts  # 0-based rank of each distinct value's first copy
    ranks = (first + (counts - 1) / 2.0)[inverse] + 1.0  # average 1-based ranks
    u = ranks[: pos.size].sum() - pos.size * (pos.size + 1) / 2.0
    return float(100.0 * u / (pos.size * neg.size))


def sample_test_negatives(caption_image: np.ndarray, num_images: int,
                          seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """-> (negative caption, negative image) per caption, uniform over other images."""
    c2i = np.asarray(caption_image, dtype=np.int64)
    if num_images < 2:
        raise ValueError("negative sampling needs at least two images")
    rng = np.random.default_rng(seed)
    neg_img = (c2i + rng.integers(1, num_images, size=len(c2i))) % num_images
    neg_cap = rng.integers(0, len(c2i), size=len(c2i))
    bad = c2i[neg_cap] == c2i
    while bad.any():
        neg_cap[bad] = rng.integers(0, len(c2i), size=int(bad.sum()))
        bad = c2i[neg_cap] == c2i
    return neg_cap, neg_img


def labeled_pair_scores(model, images, texts, img_idx: np.ndarray, cap_idx: np.ndarray,
                        labels=None, batch_size: int = 128,
                        device: str = "cpu") -> dict[str, np.ndarray]:
    """Scores of the pairs (img_idx[b], cap_idx[b]) (retrieval.pair_scores): s_A, s_G, s_P,
    s_R and, with `labels` (.image_labels(i)), the Eq. 3 means over matched / mismatched
    parts ("pm_pos", "pm_neg", "pm_valid") of each caption against the labels of its pair's
    image."""
    pairs = np.stack([np.asarray(img_idx), np.asarray(cap_idx)], axis=1)
    scored = score_pairs(model, images, texts, pairs, parts=labels is not None,
                         batch_size=batch_size, device=device)
    out = {name: getattr(scored.scores, name).numpy() for name in SCORES}
    if labels is not None:
        marks = texts.marks(cap_idx, [labels.image_labels(int(i)) for i in img_idx])
        kept = texts.batch(cap_idx)  # the kept phrases' types, padded like the marks
        cos = torch.cat([scored.phrases[:, :marks.phrase_marks.shape[1]],
                         scored.words[:, :marks.token_marks.shape[1]]], 1)
        types = part_types(kept.phrase_types, kept.token_mask)
        out.update({k: v.numpy() for k, v in _phrase_scores(cos, marks, types).items()})
    return out


def _phrase_scores(cos: torch.Tensor, marks: PhraseMarks,
                   types: torch.Tensor) -> dict[str, torch.Tensor]:
    """Eq. 3 read as a classifier, overall (pm_*) and per part type (pm_type_*, (B, 4)),
    plus every labeled part's score, type and mark (part_*, flat) for the within-type AUC.
    cos: (B, P + L) part scores, NaN where the model has no output."""
    seen = torch.isfinite(cos)
    cos, comb = cos.nan_to_num(0.0), marks.combined()
    pos = (comb == MARK_MATCHED) & seen
    neg = (comb == MARK_MISMATCHED) & seen
    sums, counts = per_type_sums(cos, torch.stack([pos, neg], 1), types)  # (B, 2, 4) each
    (pos_sum, neg_sum), (pos_cnt, neg_cnt) = sums.unbind(1), counts.unbind(1)
    labeled = pos | neg
    return {"pm_pos": masked_mean(cos, pos), "pm_neg": masked_mean(cos, neg),
            "pm_valid": pos.any(1) & neg.any(1),
            "pm_type_pos": pos_sum / pos_cnt.clamp_min(1), "pm_type_neg": neg_sum / neg_cnt.clamp_min(1),
            "pm_type_valid": (pos_cnt > 0) & (neg_cnt > 0),
            "part_cos": cos[labeled], "part_type": types[labeled], "part_matched": pos[labeled]}


def per_type_table(scores: dict[str, np.ndarray], direction: str) -> dict[str, Any]:
    """Per-type phrase accuracy, pairs counted and within-type AUC of one direction."""
    out: dict[str, Any] = {}
    for t, name in enumerate(PART_TYPE_NAMES):
        acc, n = phrase_accuracy(scores["pm_type_pos"][:, t], scores["pm_type_neg"][:, t],
                                 scores["pm_type_valid"][:, t])
        out[f"phrase, {name} parts ({direction})"] = acc
        out[f"phrase pairs counted, {name} ({direction})"] = n
        of_type = scores["part_type"] == t + 1
        matched = scores["part_matched"].astype(bool)
        out[f"within-type AUC, {name} ({direction})"] = auc(
            scores["part_cos"][of_type & matched], scores["part_cos"][of_type & ~matched])
    return out


def accuracy_table(pos: dict[str, np.ndarray], neg_txt: dict[str, np.ndarray],
                   neg_img: dict[str, np.ndarray]) -> dict[str, Any]:
    """Accuracies (%) of every score in both directions, from labeled_pair_scores of the
    positives, the negative-caption pairs (i2t) and the negative-image pairs (t2i)."""
    acc: dict[str, Any] = {}
    for d, neg in (("i2t", neg_txt), ("t2i", neg_img)):
        acc[f"global (s_G) ({d})"] = pairwise_accuracy(pos["s_G"], neg["s_G"])
        acc[f"local (s_P+s_R) ({d})"] = pairwise_accuracy(pos["s_P"] + pos["s_R"],
                                                          neg["s_P"] + neg["s_R"])
        acc[f"phrase (Eq. 3) ({d})"], acc[f"phrase pairs counted ({d})"] = phrase_accuracy(
            neg["pm_pos"], neg["pm_neg"], neg["pm_valid"])
        acc[f"intra global (s_A) ({d})"] = pairwise_accuracy(pos["s_A"], neg["s_A"])
        acc[f"local s_P only ({d})"] = pairwise_accuracy(pos["s_P"], neg["s_P"])
        acc[f"local s_R only ({d})"] = pairwise_accuracy(pos["s_R"], neg["s_R"])
        if "pm_type_pos" in neg:
            acc.update(per_type_table(neg, d))
    return acc


def pm_accuracy(model, images, texts, caption_image: np.ndarray, labels, *, seed: int = 0,
                max_pairs: int = 0, batch_size: int = 128, device: str = "cpu") -> dict[str, Any]:
    """Table 4 for one model on one split (images, texts: ImageTable, TextTable)."""
    caps = np.arange(len(caption_image))
    neg_cap, neg_img = sample_test_negatives(caption_image, len(images), seed)
    if max_pairs and max_pairs < len(caps):
        caps = np.sort(np.random.default_rng(seed + 1).choice(caps, max_pairs, replace=False))
    imgs = np.asarray(caption_image, dtype=np.int64)[caps]
    kw = {"labels": labels, "batch_size": batch_size, "device": device}
    pos = labeled_pair_scores(model, images, texts, imgs, caps, **kw)
    neg_txt = labeled_pair_scores(model, images, texts, imgs, neg_cap[caps], **kw)
    neg_i = labeled_pair_scores(model, images, texts, neg_img[caps], caps, **kw)
    return {"pairs": len(caps), "seed": seed, "accuracy": accuracy_table(pos, neg_txt, neg_i)}
