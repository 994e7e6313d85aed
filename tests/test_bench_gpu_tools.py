"""The GPU script's helpers (benchmarks/): the tiled COCO-size split and the phase-2 overrides
that turn one preset's phase 2 into another's."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from _dataset import snapshot
from bench_training_time import phase2_overrides
from tile_split import tile_split

from ssamt.commands.train import PHASE2_KEYS
from ssamt.data.precomp import open_split
from ssamt.errors import DataError
from ssamt.train.config import load_config
from ssamt.train.config_reference import flatten_config


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """The tiny synthetic set, its test split labelled (the cache tile_split cycles)."""
    from ssamt.data.split_labels import labels_for_split
    from ssamt.data.synth.generator import generate

    data = generate(tmp_path_factory.mktemp("tile") / "data", size="tiny", seed=0,
                    progress=False)
    labels_for_split(data, "test")
    return data


def test_tiled_split_cycles_images_regions_dims_and_captions(source, tmp_path):
    info = tile_split(source, "test", tmp_path, "train", images=250, regions=20, dim=300,
                      dtype="float16")
    src, out = open_split(source, "test"), open_split(tmp_path, "train")
    n, r, d = src.base_images.shape  # 100 x 12 x 128
    assert out.base_images.shape == (250, 20, 300) and out.base_images.dtype == np.float16
    assert info["shape"] == [250, 20, 300]
    i = 2 * n + 7  # the third copy of source image 7
    got = np.asarray(out.base_images[i], dtype=np.float32)
    want = np.asarray(src.base_images[7], dtype=np.float32)
    regs, dims = np.arange(20) % r, np.arange(300) % d
    np.testing.assert_allclose(got, want[regs][:, dims], rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(np.asarray(out.base_boxes[i]),
                                  np.asarray(src.base_boxes[7])[regs])
    k = src.captions_per_image
    assert out.captions[i * k:(i + 1) * k] == src.captions[7 * k:8 * k]


def test_tiled_label_cache_is_read_without_parsing(source, tmp_path, monkeypatch):
    from ssamt.data.split_labels import labels_for_split
    from ssamt.labels import store

    tile_split(source, "test", tmp_path, "train", images=130)

    def no_parse(*args, **kwargs):
        raise AssertionError("the tiled cache should have been read, not rebuilt")

    monkeypatch.setattr(store.parser, "parse", no_parse)
    tiled = labels_for_split(tmp_path, "train")
    original = labels_for_split(source, "test")
    k = 5
    assert len(tiled.graphs) == 130 * k
    for j in (0, 3, 100 * k + 4, 129 * k + 2):
        assert tiled.graphs[j] == original.graphs[j % (100 * k)]


def test_tile_split_needs_the_source_label_cache(tmp_path):
    from ssamt.data.synth.generator import generate

    data = generate(tmp_path / "data", size="tiny", seed=0, progress=False)
    with pytest.raises(DataError, match="dev_labels.jsonl"):
        tile_split(data, "dev", tmp_path / "out", "train", images=10)


def test_tile_split_never_replaces_a_file(source, tmp_path):
    before = snapshot(source)
    with pytest.raises(DataError, match="test_ims.npy: exists"):
        tile_split(source, "test", source, "test", images=10)  # onto its own source
    tile_split(source, "test", tmp_path, "train", images=10)
    with pytest.raises(DataError, match="train_ims.npy: exists"):
        tile_split(source, "test", tmp_path, "train", images=20)
    with pytest.raises(DataError, match="at least 1"):
        tile_split(source, "test", tmp_path, "other", images=0)
    assert snapshot(source) == before


def test_phase2_overrides_turn_one_presets_phase2_into_anothers():
    sets = phase2_overrides("paper-coco", "ssamt-coco")
    assert sets and all(kv.split("=")[0].startswith(PHASE2_KEYS) for kv in sets)
    assert 'recipe="ssamt"' in sets
    got = flatten_config(load_config("paper-coco", sets).to_dict())
    want = flatten_config(load_config("ssamt-coco").to_dict())
    for key, value in want.items():
        if key.startswith(PHASE2_KEYS):
            assert got[key] == value, key
    assert phase2_overrides("paper-coco", "paper-coco") == []
