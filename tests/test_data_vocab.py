"""Vocabulary: pruning, ids, JSON round trip."""

from __future__ import annotations

import json

import pytest

from ssamt.data.vocab import PAD, UNK, Vocab
from ssamt.errors import ConfigError


def test_build_prunes_and_orders():
    lists = [["a", "dog"], ["a", "cat"], ["a", "dog", "runs"]]
    vocab = Vocab.build(lists, min_count=2)
    assert vocab.tokens == ["<pad>", "<unk>", "a", "dog"]
    assert vocab.encode(["a", "cat", "dog"]) == [2, UNK, 3]
    assert vocab.decode([2, 3]) == ["a", "dog"]
    assert (PAD, UNK) == (0, 1) and len(vocab) == 4 and "dog" in vocab


def test_ids_do_not_depend_on_caption_order():
    lists = [["b", "a"], ["a", "b"], ["c"]]
    assert Vocab.build(lists, 1) == Vocab.build(lists[::-1], 1)


def test_round_trip_through_json():
    vocab = Vocab.build([["x", "y", "y", "é"]], min_count=1)
    again = Vocab.from_dict(json.loads(json.dumps(vocab.to_dict())))
    assert again == vocab and again.encode(["é", "zz"]) == vocab.encode(["é", "zz"])


def test_from_dict_rejects_garbage():
    with pytest.raises(ConfigError):
        Vocab.from_dict({"tokens": ["a"]})
    with pytest.raises(ConfigError):
        Vocab.from_dict({"format": "ssamt-vocab-1", "tokens": ["a", "b"]})
