"""Evaluate a model on one split under one protocol: stage 1 and two-stage re-ranked recalls.

    result = evaluate_model(model, vocab, split, graphs, protocol="f30k", k=128, mu1=0.3, mu2=0.1,
                            max_tokens=64)
    print(format_results(result))

Eq. 5's weights and the caption length are plain values here: a trained run's come from
ssamt.train.trained_run.Run (run.eq5_weights(), run.max_tokens), as pipelines.evaluation passes them.

The split's images and captions are encoded once (their intra embeddings do not depend on
the gallery); each protocol fold then slices the embeddings and ranks its own gallery.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ssamt.data.tables import ImageTable, TextTable
from ssamt.retrieval.encode import encode_gallery
from ssamt.retrieval.metrics import METRIC_KEYS
from ssamt.retrieval.protocols import Fold, average_metrics, run_protocol
from ssamt.retrieval.rerank import two_stage
from ssamt.retrieval.scene_truth import scene_truth_recall

INTRA, RERANKED = "intra", "reranked"


def _directions(scores: Any) -> tuple[Any, Any]:
    """(i2t, t2i) ranking matrices of one method: one matrix serves both (stage 1)."""
    return scores if isinstance(scores, tuple) else (scores, scores)


def evaluate_tables(
    model: Any, image_table: Any, text_table: Any, caption_to_image: np.ndarray, *,
    protocol: str = "f30k", k: int | None = 128, mu1: float = 0.3, mu2: float = 0.1,
    batch_size: int = 128, device: torch.device | str = "cpu", progress: bool = False,
    search: str = "torch", embeddings: tuple[torch.Tensor, torch.Tensor] | None = None,
    truth: np.ndarray | None = None, autocast: torch.dtype | None = None,
) -> dict[str, Any]:
    """Recalls of stage 1 ("intra") and of two-stage ranking ("reranked", absent when k=0).

    image_table / text_table: anything with len() and .batch(indices) (ssamt.data.tables).
    caption_to_image: (N_cap,) image of each caption of the tables.
    k: candidates per query re-scored with Eq. 5 (None = all pairs, exhaustive).
    embeddings: (N_img, d), (N_cap, d) from encode_gallery, to reuse them across calls.
    truth: (N_img, N_cap) bool, caption true of image by the scene (synthetic data,
        ssamt.retrieval.scene_truth.split_truth): adds "scene_truth", the same recalls
        counting any true result as correct, averaged over folds like the rest.
    autocast: stage 2 under this dtype (e.g. torch.bfloat16 on CUDA; default float32).
    Returns a JSON-ready dict: protocol, k, mu1, mu2, sizes, "intra" / "reranked" mean
    metrics, "gap" (reranked - intra), per-fold metrics, pairs scored and timings (seconds).
    """
    t0 = time.perf_counter()
    if embeddings is None:
        embeddings = encode_gallery(model, image_table, text_table, batch_size=batch_size,
                                    device=device, progress=progress)
    img_emb, txt_emb = embeddings
    encode_s = time.perf_counter() - t0
    stats = {"pairs": 0, "stage1": 0.0, "stage2": 0.0}
    truth_folds: list[dict[str, dict[str, float]]] = []

    def score_fold(fold: Fold) -> dict[str, Any]:
        res = two_stage(model, image_table, text_table, img_emb[fold.image_indices],
                        txt_emb[fold.caption_indices], k, mu1, mu2,
                        image_ids=fold.image_indices, caption_ids=fold.caption_indices,
                        batch_size=batch_size, device=device, progress=progress, search=search,
                        autocast=autocast)
        stats["pairs"] += res.num_pairs
        stats["stage1"] += res.seconds["stage1"]
        stats["stage2"] += res.seconds["stage2"]
        scores = {INTRA: res.intra}
        if k != 0:
            scores[RERANKED] = (res.i2t, res.t2i)
        if truth is not None:

            t = truth[np.ix_(fold.image_indices, fold.caption_indices)]
            truth_folds.append({name: scene_truth_recall(*_directions(m), t)
                                for name, m in scores.items()})
        return scores

    out = run_protocol(protocol, caption_to_image, len(image_table), score_fold)
    result: dict[str, Any] = {
        "protocol": protocol, "k": "all" if k is None else k, "mu1": mu1, "mu2": mu2,
        "num_images": len(image_table), "num_captions": len(text_table),
        "num_folds": out["num_folds"], **out["mean"],
    }
    if RERANKED in out["mean"]:
        result["gap"] = {key: out["mean"][RERANKED][key] - out["mean"][INTRA][key]
                         for key in METRIC_KEYS}
    if truth_folds:
        result["scene_truth"] = {name: average_metrics([f[name] for f in truth_folds])
                                 for name in truth_folds[0]}
    result["folds"] = out["folds"]
    result["pairs_scored"] = stats["pairs"]
    result["seconds"] = {"encode": encode_s, "stage1": stats["stage1"],
                         "stage2": stats["stage2"], "total": time.perf_counter() - t0}
    return result


def evaluate_model(
    model: Any, vocab: Any, split: Any, graphs: Sequence[Any], *, protocol: str = "f30k",
    k: int | None = 128, mu1: float, mu2: float, max_tokens: int,
    batch_size: int = 128, device: torch.device | str = "cpu", progress: bool = False,
    search: str = "torch", truth: np.ndarray | None = None,
    autocast: torch.dtype | None = None,
) -> dict[str, Any]:
    """evaluate_tables on a PrecompSplit and the CaptionGraphs of its caption lines, cut at
    `max_tokens` words (the model's, as in training)."""
    if len(graphs) != split.num_captions:
        raise ValueError(f"{len(graphs)} caption graphs for {split.num_captions} captions")
    text_table = TextTable(graphs, vocab, max_tokens=max_tokens)
    result = evaluate_tables(model, ImageTable(split), text_table, split.caption_image,
                             protocol=protocol, k=k, mu1=mu1, mu2=mu2, batch_size=batch_size,
                             device=device, progress=progress, search=search, truth=truth,
                             autocast=autocast)
    return {"split": getattr(split, "split", None), **result}


# ----- the paper's Table 1 layout -----------------------------------------------------------


def _row(label: str, m: dict[str, float]) -> str:
    cells = [m[f"{d}_R@{k}"] for d in ("i2t", "t2i") for k in (1, 5, 10)]
    i2t = " ".join(f"{v:6.1f}" for v in cells[:3])
    t2i = " ".join(f"{v:6.1f}" for v in cells[3:])
    return f"{label:<22} {i2t} | {t2i} | {m['rsum']:6.1f}"


def format_table(rows: dict[str, dict[str, float]]) -> str:
    """Rows of metrics as Table 1: Image-to-Text R@1 R@5 R@10 | Text-to-Image ... | RSum."""
    head1 = f"{'':<22} {'Image-to-Text':^20} | {'Text-to-Image':^20} | {'':6}"
    head2 = f"{'':<22} {'R@1':>6} {'R@5':>6} {'R@10':>6} | {'R@1':>6} {'R@5':>6} {'R@10':>6} | {'RSum':>6}"
    return "\n".join([head1, head2, "-" * len(head2), *(_row(n, m) for n, m in rows.items())])


def format_results(result: dict[str, Any]) -> str:
    """The table of an evaluate_* result, with sizes, the R@K gap and timings."""
    where = f"{result.get('split') or 'split'}: {result['num_images']} images, " \
            f"{result['num_captions']} captions"
    lines = [f"protocol {result['protocol']} ({result['num_folds']} fold(s)), {where}"]
    rows = {"intra (stage 1)": result[INTRA]}
    if RERANKED in result:
        rows[f"re-ranked (K={result['k']})"] = result[RERANKED]
    for name, m in result.get("scene_truth", {}).items():
        rows[f"{'intra' if name == INTRA else 're-ranked'}, scene truth"] = m
    lines.append(format_table(rows))
    if "gap" in result:
        gap = result["gap"]
        lines.append("gap (re-ranked - intra): " + ", ".join(
            f"{key} {round(gap[key], 1) + 0.0:+.1f}" for key in METRIC_KEYS))  # no "-0.0"
        lines.append(f"Eq. 5: mu1={result['mu1']} mu2={result['mu2']}; "
                     f"{result['pairs_scored']} pairs scored by the inter encoder")
    s = result["seconds"]
    lines.append(f"time: encode {s['encode']:.1f}s, stage 1 {s['stage1']:.1f}s, "
                 f"stage 2 {s['stage2']:.1f}s, total {s['total']:.1f}s")
    return "\n".join(lines)
