"""TextTable / marks_batch against a plain reference; padding; ImageTable rows."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from ssamt.data.batch import (
    MARK_MATCHED,
    MARK_MISMATCHED,
    MARK_UNLABELED,
    PHRASE_TYPE_IDS,
    ROLE_OBJECT,
    ROLE_SUBJECT,
)
from ssamt.data.precomp import open_split
from ssamt.data.tables import ImageTable, TextTable, marks_batch
from ssamt.data.vocab import Vocab
from ssamt.labels.graph import CaptionGraph, Phrase, relation_roles

STOP = {"a", "the", "is", "on", "."}


def graph(text: str, phrases: list[tuple[str, tuple[str, ...], tuple[int, ...]]]) -> CaptionGraph:
    tokens = tuple(text.split())
    return CaptionGraph(
        text=text, tokens=tokens, lemmas=tokens, stop=tuple(t in STOP for t in tokens),
        phrases=tuple(Phrase(t, k, s) for t, k, s in phrases),
    )


GRAPHS = [
    graph("a red dog on the grass .", [("object", ("obj", "dog"), (2,)),
                                       ("attribute", ("attr", "red", "dog"), (1, 2)),
                                       ("object", ("obj", "grass"), (5,)),
                                       ("relation", ("rel", "dog", "on", "grass"), (2, 3, 5))]),
    graph("two cats", [("object", ("obj", "cat"), (1,))]),
    graph("nothing here", []),
    graph("a man holding a very long blue umbrella in the rain",
          [("object", ("obj", "man"), (1,)), ("object", ("obj", "umbrella"), (7,)),
           ("attribute", ("attr", "blue", "umbrella"), (6, 7)),
           ("relation", ("rel", "man", "hold", "umbrella"), (1, 2, 7))]),
]
VOCAB = Vocab.build([g.tokens for g in GRAPHS], min_count=1)


def reference_batch(graphs, vocab, max_tokens):
    """Plain loops: one caption at a time, then pad."""
    rows = []
    for g in graphs:
        ids = [vocab.id(t) for t in g.tokens][:max_tokens]
        phrases = [p for p in g.phrases if max(p.span, default=-1) < max_tokens]
        rows.append((ids, phrases))
    L = max(1, max(len(ids) for ids, _ in rows))
    P = max(1, max(len(ph) for _, ph in rows))
    tok = torch.zeros(len(rows), L, dtype=torch.long)
    types = torch.zeros(len(rows), P, dtype=torch.long)
    spans = torch.zeros(len(rows), P, L, dtype=torch.bool)
    roles = torch.zeros(len(rows), P, L, dtype=torch.int8)
    for b, ((ids, phrases), g) in enumerate(zip(rows, graphs)):
        for t, i in enumerate(ids):
            tok[b, t] = i
        for p, ph in enumerate(phrases):
            types[b, p] = PHRASE_TYPE_IDS[ph.type]
            for t in ph.span:
                spans[b, p, t] = True
            subj, obj = relation_roles(g, ph)
            for t in subj:
                roles[b, p, t] = ROLE_SUBJECT
            for t in obj:
                roles[b, p, t] = ROLE_OBJECT
    return tok, tok != 0, types, types != 0, spans, roles


def test_batch_matches_reference():
    for max_tokens in (64, 8, 3):
        table = TextTable(GRAPHS, VOCAB, max_tokens=max_tokens)
        for idx in ([0, 1, 2, 3], [3, 0], [2], [1, 2], [2, 2, 0]):
            got = table.batch(idx)
            want = reference_batch([GRAPHS[i] for i in idx], VOCAB, max_tokens)
            for g, w in zip((got.token_ids, got.token_mask, got.phrase_types, got.phrase_mask,
                             got.phrase_spans, got.phrase_roles), want, strict=True):
                assert torch.equal(g, w), (max_tokens, idx)


def test_cut_phrases_dropped_and_costs():
    table = TextTable(GRAPHS, VOCAB, max_tokens=7)
    # caption 3: "umbrella" is token 7, so only "man" survives the cut at 7 tokens
    assert table.num_tokens(3) == 7 and table.num_phrases(3) == 1
    assert table.cost(0) == 7 + 4 + 1
    assert table.costs().tolist() == [table.cost(j) for j in range(len(table))]
    assert len(table) == 4


def test_padding_rows_are_independent_of_batch_mates():
    table = TextTable(GRAPHS, VOCAB)
    alone = table.batch([1])
    together = table.batch([0, 1, 3])
    n = alone.token_ids.shape[1]
    assert torch.equal(together.token_ids[1, :n], alone.token_ids[0])
    assert not together.token_mask[1, n:].any()
    assert not together.phrase_spans[1, 1:].any() and not together.phrase_mask[1, 1:].any()


def fake_mark_phrases(g, labels):
    return [p.key in labels for p in g.phrases]


def fake_mark_tokens(g, labels):
    return [None if s else (("word", lem) in labels) for lem, s in zip(g.lemmas, g.stop)]


def test_marks_padded_like_text_batch():
    labels = {("obj", "dog"), ("obj", "umbrella"), ("word", "dog"), ("word", "man")}
    rule = {"mark_phrases": fake_mark_phrases, "mark_tokens": fake_mark_tokens}
    table = TextTable(GRAPHS, VOCAB, max_tokens=7)
    idx = [0, 2, 3]
    marks = table.marks(idx, [labels] * 3, **rule)
    text = table.batch(idx)
    assert marks.phrase_marks.shape == text.phrase_types.shape
    assert marks.token_marks.shape == text.token_ids.shape
    M, X, U = MARK_MATCHED, MARK_MISMATCHED, MARK_UNLABELED
    assert marks.phrase_marks.tolist() == [[M, X, X, X], [U, U, U, U], [X, U, U, U]]
    assert marks.token_marks[0].tolist() == [U, X, M, U, U, X, U]
    assert marks.token_marks[2].tolist() == [U, M, X, U, X, X, X]
    assert (marks.phrase_marks[~text.phrase_mask] == U).all()
    assert (marks.token_marks[~text.token_mask] == U).all()
    same = marks_batch([GRAPHS[i] for i in idx], [labels] * 3, max_tokens=7, **rule)
    assert torch.equal(same.combined(), marks.combined())


def test_image_table_reads_rows(tmp_path):
    feats = np.random.default_rng(0).standard_normal((5, 3, 4)).astype(np.float32)
    np.save(tmp_path / "dev_ims.npy", feats)
    (tmp_path / "dev_caps.txt").write_text("".join(f"c{i}\n" for i in range(10)))
    table = ImageTable(open_split(tmp_path, "dev"))
    batch = table.batch(torch.tensor([4, 0, 4]))
    assert batch.regions.shape == (3, 3, 4) and batch.boxes is None
    np.testing.assert_array_equal(batch.regions.numpy(), feats[[4, 0, 4]])
    assert batch.region_mask.all() and table.cost(0) == 4 and len(table) == 5


def test_marks_with_the_real_rule():
    from ssamt.labels.matching import build_image_labels

    labels = build_image_labels([GRAPHS[0]])  # the image of "a red dog on the grass ."
    marks = marks_batch([GRAPHS[3], GRAPHS[0]], [labels, labels])
    M, X, U = MARK_MATCHED, MARK_MISMATCHED, MARK_UNLABELED
    assert marks.phrase_marks[1].tolist() == [M, M, M, M]  # its own caption: all matched
    assert marks.phrase_marks[0, :4].tolist() == [X, X, X, X]  # man, umbrella: not there
    assert marks.token_marks[1].tolist() == [U, M, M, U, U, M, U] + [U] * 4


def _random_graphs(n: int, seed: int, max_len: int = 150) -> list[CaptionGraph]:
    """Captions of 0..max_len tokens whose phrases span tokens on both sides of bit 63 and
    64 (the span bit sets are 64-bit words)."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(30)]
    kinds = list(PHRASE_TYPE_IDS)
    out = []
    for _ in range(n):
        length = int(rng.choice([0, 1, 5, 63, 64, 65, 127, 128, int(rng.integers(0, max_len))]))
        tokens = [str(rng.choice(words)) for _ in range(length)]
        phrases = []
        for _ in range(int(rng.integers(0, 7)) if length else 0):
            span = tuple(sorted({int(t) for t in rng.integers(0, length, int(rng.integers(1, 4)))}))
            phrases.append((kinds[int(rng.integers(0, 3))], ("k", str(span)), span))
        out.append(graph(" ".join(tokens), phrases) if tokens else
                   CaptionGraph(text="", tokens=(), lemmas=(), stop=(), phrases=()))
    return out


def test_gather_matches_reference_on_long_captions():
    graphs = _random_graphs(60, seed=1)
    vocab = Vocab.build([g.tokens for g in graphs], min_count=1)
    rng = np.random.default_rng(2)
    for max_tokens, max_phrases in ((150, None), (64, None), (65, 3), (20, 2)):
        table = TextTable(graphs, vocab, max_tokens=max_tokens, max_phrases=max_phrases)
        for size in (1, 7, 60):
            idx = rng.integers(0, len(graphs), size)
            got = table.batch(idx)
            sub = [graphs[i] for i in idx]
            if max_phrases is not None:  # the reference keeps every surviving phrase
                sub = [replace(g, phrases=tuple(g.phrases[p] for p in
                                                _kept(g, max_tokens, max_phrases))) for g in sub]
            want = reference_batch(sub, vocab, max_tokens)
            for g, w in zip((got.token_ids, got.token_mask, got.phrase_types, got.phrase_mask,
                             got.phrase_spans, got.phrase_roles), want, strict=True):
                assert torch.equal(g, w), (max_tokens, idx)


def _kept(g, max_tokens, max_phrases):
    from ssamt.data.tables import kept_phrases

    return kept_phrases(g, max_tokens, max_phrases)


def test_empty_batch_and_empty_table():
    table = TextTable(GRAPHS, VOCAB)
    b = table.batch([])
    assert b.token_ids.shape == (0, 1) and b.phrase_spans.shape == (0, 1, 1)
    empty = TextTable([], VOCAB)
    assert len(empty) == 0 and empty.costs().shape == (0,)


def test_text_table_to_device_gives_the_same_batches():
    table = TextTable(GRAPHS, VOCAB, max_tokens=7)
    moved = table.to("cpu")  # the same code path as a GPU copy; `meta` cannot gather values
    assert moved.device == torch.device("cpu") and table.device == torch.device("cpu")
    for a, b in zip(table.batch([3, 0]).__dict__.values(), moved.batch([3, 0]).__dict__.values()):
        assert torch.equal(a, b)


def test_resident_image_table_same_batches_in_float32(tmp_path):
    feats = np.random.default_rng(0).standard_normal((6, 3, 4)).astype(np.float16)
    boxes = np.random.default_rng(1).random((6, 3, 4)).astype(np.float32)
    np.save(tmp_path / "dev_ims.npy", feats)
    np.save(tmp_path / "dev_boxes.npy", boxes)
    (tmp_path / "dev_caps.txt").write_text("".join(f"c{i}\n" for i in range(12)))
    table = ImageTable(open_split(tmp_path, "dev"))
    sub = table.subset([5, 1, 2])
    res = sub.resident("cpu", chunk=2)
    assert res._resident[0].dtype == torch.float16  # held in the file's dtype
    got, want = res.batch([2, 0, 0]), table.batch([2, 5, 5])
    assert got.regions.dtype == torch.float32
    assert torch.equal(got.regions, want.regions) and torch.equal(got.boxes, want.boxes)
    assert torch.equal(got.region_mask, want.region_mask)


def test_resident_checks_finite_once(tmp_path):
    import pytest

    from ssamt.errors import DataError

    feats = np.zeros((3, 2, 2), dtype=np.float32)
    feats[2, 1, 0] = np.nan
    np.save(tmp_path / "dev_ims.npy", feats)
    (tmp_path / "dev_caps.txt").write_text("".join(f"c{i}\n" for i in range(3)))
    table = ImageTable(open_split(tmp_path, "dev"))
    table.subset([0, 1]).resident("cpu")  # the bad image is not in this gallery
    with pytest.raises(DataError, match="image 2"):
        table.resident("cpu")


def test_relation_roles_name_subject_and_object_tokens():
    g = GRAPHS[3]  # "a man holding a very long blue umbrella ...": rel (1, 2, 7)
    assert relation_roles(g, g.phrases[3]) == ((1,), (7,))
    assert relation_roles(g, g.phrases[0]) == ((), ())  # not a relation
    passive = graph("a frisbee caught by a dog", [
        ("object", ("obj", "frisbee"), (1,)), ("object", ("obj", "dog"), (5,)),
        ("relation", ("rel", "dog", "catch", "frisbee"), (1, 2, 3, 5))])
    assert relation_roles(passive, passive.phrases[2]) == ((5,), (1,))  # by key, not order
    same = graph("a man next to a man", [
        ("object", ("obj", "man"), (1,)),
        ("relation", ("rel", "man", "next to", "man"), (1, 2, 3, 5))])
    assert relation_roles(same, same.phrases[1]) == ((1,), (5,))  # one lemma: by position
