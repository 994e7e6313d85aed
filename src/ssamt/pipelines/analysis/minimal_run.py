"""`ssamt analyze minimal-pairs` end to end: load the pairs and one model, score, aggregate.

The inputs of a split are loaded once for every model: the minimal-pair records, the split's
caption graphs (label cache), the edited captions' graphs (parsed once and cached beside the
split's label cache as {split}_minimal_labels.jsonl, see labels.store.label_cache_paths) and
the images (split, then edited).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ssamt.data.precomp import available_splits, open_split
from ssamt.data.split_files import minimal_cache_name
from ssamt.data.split_labels import labels_for_split
from ssamt.data.synth.edits import EDIT_TYPES
from ssamt.data.synth.minimal import read_edited_images, read_pairs
from ssamt.data.tables import ImageTable, TextTable
from ssamt.errors import DataError
from ssamt.labels.graph import CaptionGraph
from ssamt.labels.store import build_or_load_labels, label_cache_paths
from ssamt.pipelines.analysis.blind import CaptionLM, blind_accuracy
from ssamt.pipelines.analysis.minimal_pairs import (
    accuracy_by_edit,
    chance_localized,
    localized,
)
from ssamt.pipelines.explain import reference_levels, with_references
from ssamt.pipelines.part_levels import part_levels_for
from ssamt.pipelines.parts import SCORES, ScoredParts, score_parts
from ssamt.retrieval.encode import encode_gallery
from ssamt.retrieval.rerank import two_stage
from ssamt.retrieval.scene_truth import split_truth, truth_recalls
from ssamt.train.trained_run import Run


@dataclass
class MinimalInputs:
    """records: {split}_minimal.jsonl; graphs: the split's captions then the text-side edited
    captions (record r's edited caption is graphs[num_captions + edited_row[r]]); images:
    the split's images then the edited ones; captions_per_image: K of the split."""

    data_dir: Path
    split: str
    records: list[dict[str, Any]]
    graphs: list[CaptionGraph]
    num_images: int
    num_captions: int
    captions_per_image: int
    edited_row: dict[int, int]
    images: ImageTable


def _edited_cache(data_dir: Path, split: str, cache_dir: Path | None) -> list[Path]:
    """Where the edited captions' parses are cached: as the split's label cache (beside the
    data, else the user cache; --labels-cache DIR overrides), named {split}_minimal_labels."""
    return label_cache_paths(data_dir, minimal_cache_name(split), cache_dir)


def load_inputs(data_dir: str | Path, split: str, cache_dir: Path | None = None, *,
                max_images: int = 0, progress: bool = False) -> MinimalInputs:
    """Everything the analysis reads from a synthetic folder (module docstring); with
    max_images > 0 only the pairs of the first max_images images (smoke runs, tests)."""
    data_dir = Path(data_dir)
    records = [r for r in read_pairs(data_dir, split)
               if max_images <= 0 or r["image"] < max_images]
    if not records:
        raise DataError(data_dir / f"{split}_minimal.jsonl", "has no minimal pairs")
    sp = open_split(data_dir, split)
    store = labels_for_split(data_dir, split, progress=progress)
    text_side = [k for k, r in enumerate(records) if r["side"] == "text"]
    edited = build_or_load_labels([records[k]["text"] for k in text_side], 1,
                                  _edited_cache(data_dir, split, cache_dir), progress=progress)
    ims, boxes = read_edited_images(data_dir, split)
    all_rows = np.arange(sp.num_images)
    base_boxes = sp.read_boxes(all_rows)
    feats = np.concatenate([np.asarray(sp.read_images(all_rows), np.float32),
                            np.asarray(ims, np.float32)])
    all_boxes = None if base_boxes is None else np.concatenate(
        [np.asarray(base_boxes, np.float32), np.asarray(boxes, np.float32)[..., :base_boxes.shape[-1]]])
    return MinimalInputs(data_dir, split, records, [*store.graphs, *edited.graphs],
                         sp.num_images, sp.num_captions, sp.captions_per_image,
                         {k: n for n, k in enumerate(text_side)},
                         ImageTable.from_arrays(feats, all_boxes))


def negative_rows(inputs: MinimalInputs, k: int) -> tuple[int, int]:
    """(image row, caption row) of record k's negative pair."""
    r = inputs.records[k]
    if r["side"] == "text":
        return r["image"], inputs.num_captions + inputs.edited_row[k]
    return inputs.num_images + r["edited_image"], r["caption"]


def measure(run: Run, inputs: MinimalInputs, *, batch_size: int = 128,
            device: str = "cpu", part_levels: bool = True) -> dict[str, dict[str, float]]:
    """results.json of one trained run (ssamt.train.trained_run.load_run): {edit type: {SCORES...,
    "localized", "n"}}, with the run's Eq. 5 weights and max_tokens."""
    return measure_with_chance(run, inputs, batch_size=batch_size, device=device,
                               part_levels=part_levels)[0]


def measure_with_chance(run: Run, inputs: MinimalInputs, *, batch_size: int = 128,
                        device: str = "cpu", part_levels: bool = True
                        ) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """(measure's results, {edit type: % localized by a part picked at random}).
    part_levels: judge each part against its level on training pairs
    (ssamt.pipelines.part_levels: from the data folder's train split when it is the run's,
    else cached beside the checkpoint); False: its type's mean in the image's own captions."""
    model, vocab, max_tokens = run.model, run.vocab, run.max_tokens
    mu1, mu2 = run.eq5_weights()
    texts = TextTable(inputs.graphs, vocab, max_tokens=max_tokens)
    kw = {"vocab": vocab, "max_tokens": max_tokens, "batch_size": batch_size, "device": device}
    K = inputs.captions_per_image
    # pass 1: every caption of every image in a record (the positives and the references)
    imgs = sorted({r["image"] for r in inputs.records})
    own_img = np.repeat(imgs, K)
    own_cap = (own_img * K + np.tile(np.arange(K), len(imgs))).astype(np.int64)
    own = score_parts(model, inputs.images, texts, inputs.graphs, own_img, own_cap, mu1, mu2, **kw)
    at = {int(c): n for n, c in enumerate(own_cap)}
    # pass 2: the negatives
    rows = np.array([negative_rows(inputs, k) for k in range(len(inputs.records))], np.int64)
    neg = score_parts(model, inputs.images, texts, inputs.graphs, rows[:, 0], rows[:, 1],
                      mu1, mu2, **kw)
    levels = part_levels_for(run, inputs.data_dir, batch_size=batch_size,
                             device=device) if part_levels else None
    judged = [_judged(inputs, own, at, r, inputs.graphs[rows[k, 1]], neg.parts[k], levels)
              for k, r in enumerate(inputs.records)]
    pos_idx = np.array([at[r["caption"]] for r in inputs.records])
    pos = {k: own.scores[k][pos_idx] for k in SCORES}
    loc = np.array([localized(inputs.graphs[rows[k, 1]], judged[k], r["char_spans"])
                    for k, r in enumerate(inputs.records)])
    chance = np.array([chance_localized(inputs.graphs[rows[k, 1]], judged[k], r["char_spans"])
                       for k, r in enumerate(inputs.records)])
    edits = np.array([r["edit"] for r in inputs.records])
    return (accuracy_by_edit(inputs.records, pos, neg.scores, loc, EDIT_TYPES),
            {e: float(100 * chance[edits == e].mean()) for e in EDIT_TYPES if (edits == e).any()})


def _judged(inputs: MinimalInputs, own: ScoredParts, at: dict[int, int], record: dict[str, Any],
            graph: CaptionGraph, parts: list, levels: Any) -> list:
    """The negative's parts with their references, as `ssamt explain` sets them: with part
    levels, their level on training pairs; for a type they lack (or without them) the type
    means of the image's own captions against the original image, less any caption with the
    judged text (an image-side edit's caption is one of them)."""
    K = inputs.captions_per_image
    lines = range(record["image"] * K, (record["image"] + 1) * K)
    ref_parts = [p for c in lines if inputs.graphs[c].text != graph.text
                 for p in own.parts[at[c]]]
    return with_references(parts, reference_levels(ref_parts), levels)


def blind_by_edit(inputs: MinimalInputs, lm: CaptionLM) -> dict[str, float]:
    """The blind baseline (text only) of each text-side edit type: % of records whose true
    caption the language model finds more probable than the edited one. Image-side edits
    keep the caption, so a text-only model cannot tell them apart (no entry)."""
    by_edit: dict[str, list[dict[str, Any]]] = {}
    for r in inputs.records:
        if r["side"] == "text":
            by_edit.setdefault(r["edit"], []).append(r)
    return {edit: blind_accuracy(lm, [r["source"] for r in rs], [r["text"] for r in rs])
            for edit, rs in by_edit.items()}


def training_language_model(data_dir: str | Path) -> CaptionLM | None:
    """The blind baseline's model of the folder's training captions (None without them)."""
    if "train" not in available_splits(data_dir):
        return None
    return CaptionLM.fit(open_split(data_dir, "train").captions)


def scene_truth_recalls(run: Run, data_dir: str | Path, split: str, k: int, *,
                        device: str = "cpu") -> dict[str, Any] | None:
    """Standard and scene-truth R@K of the dual encoder and of Eq. 5 re-ranking of the top k
    (ssamt.retrieval.scene_truth.truth_recalls) on the whole split; None without specs."""
    truth = split_truth(data_dir, split)
    if truth is None:
        return None
    sp = open_split(data_dir, split)
    model = run.model
    images = ImageTable(sp)
    texts = TextTable(labels_for_split(data_dir, split).graphs, run.vocab,
                      max_tokens=run.max_tokens)
    img_emb, txt_emb = encode_gallery(model, images, texts, device=device)
    mu1, mu2 = run.eq5_weights()
    scores = two_stage(model, images, texts, img_emb, txt_emb, k, mu1, mu2, device=device)
    return {"k": k, **truth_recalls(scores, sp.caption_image, truth)}
