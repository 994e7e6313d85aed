"""Pre-encoded tables that turn lists of indices into padded batches (ssamt.data.batch).

TextTable encodes every caption once (token ids, phrase types and spans) into flat
arrays with offsets, so COCO's 566K captions cost a few tens of MB rather than one Python
object per token. ImageTable reads only the rows asked from the memory-mapped features.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from ssamt.data.batch import (
    MARK_MATCHED,
    MARK_MISMATCHED,
    MARK_UNLABELED,
    PHRASE_TYPE_IDS,
    ImageBatch,
    PhraseMarks,
    TextBatch,
)
from ssamt.data.precomp import PrecompSplit, check_finite_rows
from ssamt.data.vocab import Vocab
from ssamt.labels.graph import CaptionGraph

# Longest caption kept, in tokens; COCO and Flickr30K captions are nearly all shorter.
DEFAULT_MAX_TOKENS = 64

Indices = Sequence[int] | np.ndarray | torch.Tensor


def kept_phrases(graph: CaptionGraph, max_tokens: int, max_phrases: int | None = None) -> list[int]:
    """Indices into graph.phrases of the phrases kept: those whose whole span survives the
    cut at `max_tokens` (a phrase that lost words would attend to a partial phrase,
    mask rule 3), at most `max_phrases` of them."""
    kept = [p for p, ph in enumerate(graph.phrases) if all(t < max_tokens for t in ph.span)]
    return kept if max_phrases is None else kept[:max_phrases]


def _as_list(indices: Indices) -> list[int]:
    if isinstance(indices, torch.Tensor):
        return indices.tolist()
    return np.asarray(indices, dtype=np.int64).reshape(-1).tolist()


def _offsets(lengths: Sequence[int]) -> np.ndarray:
    out = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=out[1:])
    return out


class TextTable:
    """All captions of a split, encoded once.

    graphs:      one CaptionGraph per caption line.
    max_tokens:  tokens past this are cut; phrases whose span is cut are dropped.
    max_phrases: optional cap on phrases per caption (in caption order).
    """

    def __init__(self, graphs: Sequence[CaptionGraph], vocab: Vocab,
                 max_tokens: int = DEFAULT_MAX_TOKENS, max_phrases: int | None = None) -> None:
        if max_tokens < 1:
            raise ValueError("max_tokens must be >= 1")
        self.graphs = graphs
        self.vocab = vocab
        self.max_tokens = max_tokens
        self.max_phrases = max_phrases
        tokens, n_tok, types, n_ph, spans, n_span = [], [], [], [], [], []
        for graph in graphs:
            ids = vocab.encode(graph.tokens[:max_tokens])
            tokens.extend(ids)
            n_tok.append(len(ids))
            kept = kept_phrases(graph, max_tokens, max_phrases)
            n_ph.append(len(kept))
            for p in kept:
                phrase = graph.phrases[p]
                types.append(PHRASE_TYPE_IDS[phrase.type])
                spans.extend(phrase.span)
                n_span.append(len(phrase.span))
        self._tokens = np.asarray(tokens, dtype=np.int64)  # (sum L_j,)
        self._tok_off = _offsets(n_tok)  # (N + 1,)
        self._types = np.asarray(types, dtype=np.int64)  # (sum P_j,)
        self._ph_off = _offsets(n_ph)  # (N + 1,)
        self._spans = np.asarray(spans, dtype=np.int64)  # (sum of span lengths,)
        self._span_off = _offsets(n_span)  # (sum P_j + 1,)

    def __len__(self) -> int:
        return len(self._tok_off) - 1

    def num_tokens(self, j: int) -> int:
        return int(self._tok_off[j + 1] - self._tok_off[j])

    def num_phrases(self, j: int) -> int:
        return int(self._ph_off[j + 1] - self._ph_off[j])

    def cost(self, j: int) -> int:
        """Sequence length of caption j in the model: C^T + phrases + tokens."""
        return self.num_tokens(j) + self.num_phrases(j) + 1

    def costs(self) -> np.ndarray:
        """(N,) int64, cost(j) of every caption."""
        return np.diff(self._tok_off) + np.diff(self._ph_off) + 1

    def batch(self, indices: Indices) -> TextBatch:
        """Captions `indices`, padded to the longest in the batch (L and P at least 1, so no
        tensor has a zero-size axis). Shapes in TextBatch's docstring."""
        idx = _as_list(indices)
        n_tok = [self.num_tokens(j) for j in idx]
        n_ph = [self.num_phrases(j) for j in idx]
        b, L, P = len(idx), max(n_tok, default=0) or 1, max(n_ph, default=0) or 1
        token_ids = np.zeros((b, L), dtype=np.int64)
        phrase_types = np.zeros((b, P), dtype=np.int64)
        spans = np.zeros((b, P, L), dtype=bool)
        for row, j in enumerate(idx):
            t0, p0, p1 = self._tok_off[j], self._ph_off[j], self._ph_off[j + 1]
            token_ids[row, : n_tok[row]] = self._tokens[t0 : t0 + n_tok[row]]
            phrase_types[row, : n_ph[row]] = self._types[p0:p1]
            s_off = self._span_off[p0 : p1 + 1]
            which = np.repeat(np.arange(p1 - p0), np.diff(s_off))  # phrase of each span entry
            spans[row, which, self._spans[s_off[0] : s_off[-1]]] = True
        token_ids_t = torch.from_numpy(token_ids)
        phrase_types_t = torch.from_numpy(phrase_types)
        return TextBatch(
            token_ids=token_ids_t,
            token_mask=token_ids_t.new_tensor(n_tok).unsqueeze(1) > torch.arange(L),
            phrase_types=phrase_types_t,
            phrase_mask=phrase_types_t != 0,
            phrase_spans=torch.from_numpy(spans),
        )

    def marks(self, indices: Indices, labels_list: Sequence[object], **rule) -> PhraseMarks:
        """Phrase-matching marks of captions `indices` against `labels_list` (one ImageLabels
        per caption), padded exactly like `self.batch(indices)`."""
        graphs = [self.graphs[j] for j in _as_list(indices)]
        return marks_batch(graphs, labels_list, max_tokens=self.max_tokens,
                           max_phrases=self.max_phrases, **rule)


def marks_batch(
    graphs: Sequence[CaptionGraph],
    labels_list: Sequence[object],
    *,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    max_phrases: int | None = None,
    mark_phrases: Callable[[CaptionGraph, object], list[bool]] | None = None,
    mark_tokens: Callable[[CaptionGraph, object], list[bool | None]] | None = None,
) -> PhraseMarks:
    """Marks of caption b relative to labels_list[b] (DESIGN.md section 2).

    Returns PhraseMarks with phrase_marks (B, P) and token_marks (B, L) padded exactly like
    TextTable.batch of the same graphs with the same max_tokens / max_phrases.
    mark_phrases / mark_tokens default to ssamt.labels.matching's (injectable for tests).
    """
    if mark_phrases is None or mark_tokens is None:
        from ssamt.labels import matching as rule

        mark_phrases = mark_phrases or rule.mark_phrases
        mark_tokens = mark_tokens or rule.mark_tokens
    if len(graphs) != len(labels_list):
        raise ValueError(f"{len(graphs)} captions but {len(labels_list)} label sets")
    kept = [kept_phrases(g, max_tokens, max_phrases) for g in graphs]
    b = len(graphs)
    L = max((min(len(g.tokens), max_tokens) for g in graphs), default=0) or 1
    P = max((len(k) for k in kept), default=0) or 1
    phrase_marks = torch.full((b, P), MARK_UNLABELED, dtype=torch.long)
    token_marks = torch.full((b, L), MARK_UNLABELED, dtype=torch.long)
    value = {True: MARK_MATCHED, False: MARK_MISMATCHED, None: MARK_UNLABELED}
    for row, (graph, labels) in enumerate(zip(graphs, labels_list)):
        if kept[row]:
            by_phrase = mark_phrases(graph, labels)
            phrase_marks[row, : len(kept[row])] = torch.tensor(
                [value[bool(by_phrase[p])] for p in kept[row]])
        n = min(len(graph.tokens), max_tokens)
        if n:
            by_token = mark_tokens(graph, labels)[:n]
            token_marks[row, :n] = torch.tensor(
                [value[None if m is None else bool(m)] for m in by_token])
    return PhraseMarks(phrase_marks=phrase_marks, token_marks=token_marks)


class ImageTable:
    """Images of a split; `.batch` reads only the rows asked from the memmap.

    check_finite: check the rows read for NaN/inf (cheap next to the disk read; a full scan
    at open would read all 34 GB of COCO, see PrecompSplit.check_finite).
    """

    def __init__(self, split: PrecompSplit, check_finite: bool = True) -> None:
        self.split = split
        self.check_finite = check_finite

    def __len__(self) -> int:
        return self.split.num_images

    @property
    def num_regions(self) -> int:
        return self.split.num_regions

    def cost(self, i: int) -> int:
        """Sequence length of an image in the model: C^I + regions."""
        return self.split.num_regions + 1

    def costs(self) -> np.ndarray:
        return np.full(len(self), self.split.num_regions + 1, dtype=np.int64)

    def batch(self, indices: Indices) -> ImageBatch:
        """regions (B, R, D) float32, region_mask (B, R) all True (precomp has no region
        padding), boxes (B, R, G) float32 or None."""
        idx = np.asarray(_as_list(indices), dtype=np.int64)
        regions = self.split.read_images(idx)
        boxes = self.split.read_boxes(idx)
        if self.check_finite:
            rows = self.split.rows[idx]
            check_finite_rows(self.split.images_path, regions, rows)
            if boxes is not None:
                check_finite_rows(self.split.boxes_path, boxes, rows)
        b, r = regions.shape[:2]
        return ImageBatch(
            regions=torch.from_numpy(regions),
            region_mask=torch.ones((b, r), dtype=torch.bool),
            boxes=None if boxes is None else torch.from_numpy(boxes),
        )
