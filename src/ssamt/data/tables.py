"""Pre-encoded tables that turn lists of indices into padded batches (ssamt.data.batch).

TextTable encodes every caption once (token ids, phrase types and spans) into flat
arrays with offsets, so COCO's 566K captions cost a few tens of MB rather than one Python
object per token. ImageTable reads only the rows asked from the memory-mapped features.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch

from ssamt.data.batch import (
    MARK_MATCHED,
    MARK_MISMATCHED,
    MARK_UNLABELED,
    PHRASE_TYPE_IDS,
    ROLE_OBJECT,
    ROLE_SUBJECT,
    ImageBatch,
    PhraseMarks,
    TextBatch,
)
from ssamt.data.npyfile import read_rows
from ssamt.data.precomp import PrecompSplit, check_finite_rows
from ssamt.data.vocab import Vocab
from ssamt.labels import matching as rule
from ssamt.labels.graph import CaptionGraph, relation_roles

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


def _span_bits(spans: np.ndarray, n_span: Sequence[int], words: int) -> np.ndarray:
    """(Q, words) int64: bit l % 64 of word l // 64 set when token l is in phrase q's span.

    spans: flat token positions of all phrases' spans; n_span: (Q,) entries per phrase. A
    bit set instead of a (P, L) bool row per phrase: COCO's train split would need ~1 GB of
    padded bools, its bit sets take a few MB.
    """
    out = np.zeros((len(n_span), words), dtype=np.uint64)
    phrase = np.repeat(np.arange(len(n_span)), np.asarray(n_span, dtype=np.int64))
    np.bitwise_or.at(out, (phrase, spans // 64),
                     np.left_shift(np.uint64(1), (spans % 64).astype(np.uint64)))
    return out.view(np.int64)  # torch has no uint64 shifts; bit 63 reads back the same


@dataclass(frozen=True)
class _FlatTexts:
    """TextTable's flat arrays as tensors on one device (the gather's sources).

    tokens (T + 1,), types (Q + 1,) and span_bits (Q + 1, W) end with one zero entry, so a
    clamped index past a caption's end reads padding even when the table is empty.
    """

    tokens: torch.Tensor  # (T + 1,) long
    tok_off: torch.Tensor  # (N + 1,) long
    types: torch.Tensor  # (Q + 1,) long
    ph_off: torch.Tensor  # (N + 1,) long
    span_bits: torch.Tensor  # (Q + 1, W) long
    subj_bits: torch.Tensor  # (Q + 1, W) long: a relation's subject tokens (roles)
    obj_bits: torch.Tensor  # (Q + 1, W) long: a relation's object tokens


class TextTable:
    """All captions of a split, encoded once.

    graphs:      one CaptionGraph per caption line.
    max_tokens:  tokens past this are cut; phrases whose span is cut are dropped.
    max_phrases: optional cap on phrases per caption (in caption order).

    The encoding is flat (all captions' tokens in one array, with offsets), so COCO's 566K
    captions cost a few tens of MB rather than one Python object per token. `batch` pads
    by gathering from these arrays with tensor indexing, on the CPU or on a device
    (`to(device)` keeps a copy there), with no loop over the captions of a batch.
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
        roles: dict[str, tuple[list[int], list[int]]] = {"subj": ([], []), "obj": ([], [])}
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
                for name, toks in zip(("subj", "obj"), relation_roles(graph, phrase)):
                    roles[name][0].extend(toks)
                    roles[name][1].append(len(toks))
        self._n_tok = np.asarray(n_tok, dtype=np.int64)  # (N,) kept on the CPU: batch sizes
        self._n_ph = np.asarray(n_ph, dtype=np.int64)  # (N,)  come from here, no device sync
        words = max(1, -(-max(n_tok, default=0) // 64))
        bits = _span_bits(np.asarray(spans, dtype=np.int64), n_span, words)
        role_bits = {name: _span_bits(np.asarray(toks, dtype=np.int64), n, words)
                     for name, (toks, n) in roles.items()}
        pad = np.zeros((1, words), np.int64)
        self._flat = {"cpu": _FlatTexts(
            tokens=torch.tensor(tokens + [0], dtype=torch.long),
            tok_off=torch.from_numpy(_offsets(n_tok)),
            types=torch.tensor(types + [0], dtype=torch.long),
            ph_off=torch.from_numpy(_offsets(n_ph)),
            span_bits=torch.from_numpy(np.concatenate([bits, pad])),
            subj_bits=torch.from_numpy(np.concatenate([role_bits["subj"], pad])),
            obj_bits=torch.from_numpy(np.concatenate([role_bits["obj"], pad])),
        )}
        self.device = torch.device("cpu")

    def __len__(self) -> int:
        return len(self._n_tok)

    def num_tokens(self, j: int) -> int:
        return int(self._n_tok[j])

    def num_phrases(self, j: int) -> int:
        return int(self._n_ph[j])

    def cost(self, j: int) -> int:
        """Sequence length of caption j in the model: C^T + phrases + tokens."""
        return self.num_tokens(j) + self.num_phrases(j) + 1

    def costs(self) -> np.ndarray:
        """(N,) int64, cost(j) of every caption."""
        return self._n_tok + self._n_ph + 1

    def to(self, device: torch.device | str) -> TextTable:
        """The same table with its batches gathered on `device` (the flat arrays are copied
        there once and shared by every table made with `to`)."""
        device = torch.device(device)
        if device.type not in self._flat:  # one copy per device type (one GPU per process)
            cpu = self._flat["cpu"]
            self._flat[device.type] = _FlatTexts(*(getattr(cpu, f.name).to(device)
                                                   for f in fields(cpu)))
        out = copy.copy(self)
        out.device = device
        return out

    def batch(self, indices: Indices) -> TextBatch:
        """Captions `indices`, padded to the longest in the batch (L and P at least 1, so no
        tensor has a zero-size axis), on `self.device`. Shapes in TextBatch's docstring."""
        idx = np.asarray(_as_list(indices), dtype=np.int64)
        L = int(self._n_tok[idx].max(initial=0)) or 1  # sizes from the CPU copy: no sync
        P = int(self._n_ph[idx].max(initial=0)) or 1
        return gather_texts(self._flat[self.device.type],
                            torch.from_numpy(idx).to(self.device, non_blocking=True), L, P)

    def marks(self, indices: Indices, labels_list: Sequence[object], **rule) -> PhraseMarks:
        """Phrase-matching marks of captions `indices` against `labels_list` (one ImageLabels
        per caption), padded exactly like `self.batch(indices)` (on the CPU)."""
        graphs = [self.graphs[j] for j in _as_list(indices)]
        return marks_batch(graphs, labels_list, max_tokens=self.max_tokens,
                           max_phrases=self.max_phrases, **rule)


def gather_texts(flat: _FlatTexts, idx: torch.Tensor, L: int, P: int) -> TextBatch:
    """Captions `idx` (B,) long (on flat's device) padded to L tokens and P phrases by
    indexing the flat arrays; L / P must be at least the batch's longest (callers take them
    from lengths they hold on the CPU, so nothing here waits for the device)."""
    ar_l = torch.arange(L, device=idx.device)  # (L,)
    ar_p = torch.arange(P, device=idx.device)  # (P,)
    t0, t1 = flat.tok_off[idx], flat.tok_off[idx + 1]  # (B,)
    token_mask = ar_l < (t1 - t0)[:, None]  # (B, L)
    # past a caption's end the index points at the trailing zero entry (padding)
    pad_tok = flat.tokens.shape[0] - 1
    token_ids = flat.tokens[torch.where(token_mask, t0[:, None] + ar_l, pad_tok)]  # (B, L)
    p0, p1 = flat.ph_off[idx], flat.ph_off[idx + 1]
    phrase_mask = ar_p < (p1 - p0)[:, None]  # (B, P)
    q = torch.where(phrase_mask, p0[:, None] + ar_p, flat.types.shape[0] - 1)  # (B, P)
    spans = _bits_at(flat.span_bits, q, ar_l)  # (B, P, L)
    roles = (_bits_at(flat.subj_bits, q, ar_l).to(torch.int8) * ROLE_SUBJECT
             + _bits_at(flat.obj_bits, q, ar_l).to(torch.int8) * ROLE_OBJECT)
    return TextBatch(token_ids=token_ids, token_mask=token_mask, phrase_types=flat.types[q],
                     phrase_mask=phrase_mask, phrase_spans=spans, phrase_roles=roles)


def _bits_at(bit_sets: torch.Tensor, q: torch.Tensor, ar_l: torch.Tensor) -> torch.Tensor:
    """(B, P, L) bool: token l's bit in the bit set of phrase q[b, p] (bit_sets (Q + 1, W))."""
    words = bit_sets[q][:, :, ar_l // 64]  # (B, P, L): the word holding token l's bit
    return ((words >> (ar_l % 64)) & 1).bool()


def marks_batch(
    graphs: Sequence[CaptionGraph],
    labels_list: Sequence[object],
    *,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    max_phrases: int | None = None,
    mark_phrases: Callable[[CaptionGraph, object], list[bool]] | None = None,
    mark_tokens: Callable[[CaptionGraph, object], list[bool | None]] | None = None,
) -> PhraseMarks:
    """Marks of caption b relative to labels_list[b] (docs/DESIGN.md section 2).

    Returns PhraseMarks with phrase_marks (B, P) and token_marks (B, L) padded exactly like
    TextTable.batch of the same graphs with the same max_tokens / max_phrases.
    mark_phrases / mark_tokens default to ssamt.labels.matching's (injectable for tests).
    """
    if mark_phrases is None or mark_tokens is None:

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

    `resident(device)` gives the same table with its features held on a device, for
    galleries and (on a GPU) phase 2: batches are then a gather there, and the float16 ->
    float32 conversion runs on the device too. `from_arrays` holds rows that are in memory
    already (the edited images of the minimal pairs, an image to explain): the one way
    images become batches.
    """

    def __init__(self, split: PrecompSplit | None, check_finite: bool = True) -> None:
        self.split = split
        self.check_finite = check_finite
        self._resident: tuple[torch.Tensor, torch.Tensor | None] | None = None

    @classmethod
    def from_arrays(cls, feats: np.ndarray | torch.Tensor,
                    boxes: np.ndarray | torch.Tensor | None = None) -> ImageTable:
        """Rows held in memory: feats (N, R, D), boxes (N, R, G) or None (not checked for
        NaN: the caller made them)."""
        out = cls(None, check_finite=False)
        out._resident = (torch.as_tensor(feats),
                         None if boxes is None else torch.as_tensor(boxes))
        return out

    def __len__(self) -> int:
        return self.split.num_images if self.split is not None else len(self._resident[0])

    @property
    def num_regions(self) -> int:
        return self.split.num_regions if self.split is not None else self._resident[0].shape[1]

    @property
    def device(self) -> torch.device:
        return torch.device("cpu") if self._resident is None else self._resident[0].device

    def cost(self, i: int) -> int:
        """Sequence length of an image in the model: C^I + regions."""
        return self.num_regions + 1

    def costs(self) -> np.ndarray:
        return np.full(len(self), self.num_regions + 1, dtype=np.int64)

    def subset(self, indices: Indices) -> ImageTable:
        """The images `indices` of this table as a table (no feature copy from a split)."""
        idx = np.asarray(_as_list(indices), dtype=np.int64)
        if self.split is None:
            feats, boxes = self._resident
            at = torch.from_numpy(idx).to(feats.device)
            return ImageTable.from_arrays(feats[at], None if boxes is None else boxes[at])
        return ImageTable(self.split.subset(idx), self.check_finite)

    def resident(self, device: torch.device | str, chunk: int = 1024) -> ImageTable:
        """This table with all its features (and boxes) read once and held on `device` in
        the file's dtype (float16 stays float16: half the memory; converted per batch).

        The rows are checked for NaN/inf once here (when check_finite), not per batch.
        Memory: N x R x D x itemsize (Flickr30K test 1,000 x 36 x 2048 float16: 147 MB).
        """
        if self.split is None:
            feats, boxes = self._resident
            return ImageTable.from_arrays(feats.to(device),
                                          None if boxes is None else boxes.to(device))
        out = ImageTable(self.split, self.check_finite)
        feats, boxes = [], []
        for s in range(0, len(self), chunk):
            idx = np.arange(s, min(s + chunk, len(self)))
            rows = self.split.rows[idx]
            regions = read_rows(self.split.base_images, rows)
            box = None if self.split.base_boxes is None else read_rows(self.split.base_boxes, rows)
            if self.check_finite:
                check_finite_rows(self.split.images_path, regions, rows)
                if box is not None:
                    check_finite_rows(self.split.boxes_path, box, rows)
            feats.append(torch.from_numpy(regions).to(device))
            if box is not None:
                boxes.append(torch.from_numpy(box).to(device))
        shape = (0, self.num_regions, self.split.feature_dim)
        all_feats = torch.cat(feats) if feats else torch.empty(shape, device=device)
        out._resident = (all_feats, torch.cat(boxes) if boxes else None)
        return out

    def batch(self, indices: Indices) -> ImageBatch:
        """regions (B, R, D) float32, region_mask (B, R) all True (precomp has no region
        padding), boxes (B, R, G) float32 or None; on `self.device`."""
        idx = np.asarray(_as_list(indices), dtype=np.int64)
        if self._resident is not None:
            feats, all_boxes = self._resident
            at = torch.from_numpy(idx).to(feats.device, non_blocking=True)
            regions = feats[at].float()  # (B, R, D), converted on the device
            boxes = None if all_boxes is None else all_boxes[at].float()
        else:
            regions_np = self.split.read_images(idx)
            boxes_np = self.split.read_boxes(idx)
            if self.check_finite:
                rows = self.split.rows[idx]
                check_finite_rows(self.split.images_path, regions_np, rows)
                if boxes_np is not None:
                    check_finite_rows(self.split.boxes_path, boxes_np, rows)
            regions = torch.from_numpy(regions_np)
            boxes = None if boxes_np is None else torch.from_numpy(boxes_np)
        b, r = regions.shape[:2]
        return ImageBatch(regions=regions,
                          region_mask=torch.ones((b, r), dtype=torch.bool, device=regions.device),
                          boxes=boxes)
