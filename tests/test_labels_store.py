"""The label store: cache written once, reused while captions and parser are unchanged."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ssamt.data.split_labels import labels_for_split
from ssamt.errors import DataError
from ssamt.labels import build_or_load_labels, parse
from ssamt.labels import store as store_mod

CAPTIONS = [
    "a dog catching a yellow frisbee", "a brown dog jumps on the grass",
    "a woman holding a white umbrella", "woman in a coat walks in the rain",
]


def test_store_labels_and_cache_roundtrip(tmp_path):
    cache = tmp_path / "labels.jsonl"
    first = build_or_load_labels(CAPTIONS, 2, cache)
    assert cache.is_file() and first.num_images == 2
    assert ("attr", "yellow", "frisbee") in first.image_labels(0)
    assert ("attr", "yellow", "frisbee") not in first.image_labels(1)
    second = build_or_load_labels(CAPTIONS, 2, cache)
    assert second.graphs == first.graphs == parse(CAPTIONS)
    with pytest.raises(IndexError):
        first.image_labels(2)


def test_cache_is_reused_without_parsing(tmp_path, monkeypatch):
    cache = tmp_path / "labels.jsonl"
    build_or_load_labels(CAPTIONS, 2, cache)

    def no_parse(*args, **kwargs):
        raise AssertionError("parsed again although the cache matches")

    monkeypatch.setattr("ssamt.labels.parser.parse", no_parse)
    assert len(build_or_load_labels(CAPTIONS, 2, cache).graphs) == 4


def test_changed_captions_or_corrupt_cache_rebuild(tmp_path, capsys):
    cache = tmp_path / "labels.jsonl"
    build_or_load_labels(CAPTIONS, 2, cache)
    changed = CAPTIONS[:3] + ["two cats on a sofa"]
    store = build_or_load_labels(changed, 2, cache)
    assert "cat" in store.graphs[3].objects
    header = json.loads(cache.read_text().splitlines()[0])
    assert header["hash"] == store_mod.content_hash(
        changed, 2, __import__("ssamt.labels.parser", fromlist=["x"]).parser_version())
    lines = cache.read_text().splitlines()
    cache.write_text("\n".join(lines[:2] + ["{not json"] + lines[3:]) + "\n")
    again = build_or_load_labels(changed, 2, cache)
    assert again.graphs == store.graphs
    assert "rebuilding label cache" in capsys.readouterr().err


def test_cache_from_another_parser_is_used_only_without_spacy(tmp_path, monkeypatch, capsys):
    """A GPU box without spaCy trains on labels parsed elsewhere; with spaCy a cache from
    another parser version is rebuilt."""
    cache = tmp_path / "labels.jsonl"
    store = build_or_load_labels(CAPTIONS, 2, cache)
    monkeypatch.setattr("ssamt.labels.parser.parser_version", lambda: "rules=other;spacy=0")

    def no_parse(*args, **kwargs):
        raise AssertionError("parsed although spaCy is missing")

    monkeypatch.setattr(store_mod, "parser_installed", lambda: False)
    monkeypatch.setattr("ssamt.labels.parser.parse", no_parse)
    assert build_or_load_labels(CAPTIONS, 2, cache).graphs == store.graphs
    assert "spaCy is not installed" in capsys.readouterr().err
    with pytest.raises(AssertionError, match="parsed although"):  # other captions: no reuse
        build_or_load_labels(CAPTIONS[:3] + ["two cats on a sofa"], 2, cache)
    monkeypatch.setattr(store_mod, "parser_installed", lambda: True)
    with pytest.raises(AssertionError, match="parsed although"):  # spaCy here: rebuild
        build_or_load_labels(CAPTIONS, 2, cache)


def test_bad_captions_per_image(tmp_path):
    with pytest.raises(DataError):
        build_or_load_labels(CAPTIONS, 3, tmp_path / "x.jsonl")


def make_split(folder, captions, k):
    folder.mkdir(exist_ok=True)
    np.save(folder / "train_ims.npy", np.zeros((len(captions) // k, 2, 4), np.float32))
    (folder / "train_caps.txt").write_text("\n".join(captions) + "\n", encoding="utf-8")
    return folder


def test_labels_for_split_default_path(tmp_path):
    data = make_split(tmp_path / "data", CAPTIONS, 2)
    store = labels_for_split(data, "train")
    assert (data / "train_labels.jsonl").is_file()
    assert store.captions_per_image == 2 and len(store.graphs) == 4
