"""The precomp reader: good files, broken files made on the fly, COCO 1K folds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ssamt.data.precomp import RowView, available_splits, open_split
from ssamt.data.tables import ImageTable
from ssamt.errors import DataError


def make_split(folder: Path, split: str = "test", n: int = 6, k: int = 5, r: int = 3,
               d: int = 4, dtype=np.float32, boxes: bool = True, ids: bool = True) -> np.ndarray:
    folder.mkdir(parents=True, exist_ok=True)
    feats = np.arange(n * r * d, dtype=np.float64).reshape(n, r, d).astype(dtype)
    np.save(folder / f"{split}_ims.npy", feats)
    caps = [f"caption {c} of image {i}" for i in range(n) for c in range(k)]
    (folder / f"{split}_caps.txt").write_text("\n".join(caps) + "\n", encoding="utf-8")
    if ids:
        (folder / f"{split}_ids.txt").write_text("".join(f"{100 + i}\n" for i in range(n)))
    if boxes:
        np.save(folder / f"{split}_boxes.npy", np.random.default_rng(0).random((n, r, 4)))
    return feats


def test_open_reads_shapes_and_captions(tmp_path):
    feats = make_split(tmp_path, n=6, k=5)
    s = open_split(tmp_path, "test")
    assert (s.num_images, s.num_captions, s.captions_per_image) == (6, 30, 5)
    assert isinstance(s.images, np.memmap) or isinstance(s.images.base, np.memmap)
    assert s.images.shape == (6, 3, 4) and s.boxes.shape == (6, 3, 4)
    assert s.caption_image.tolist() == [i for i in range(6) for _ in range(5)]
    assert s.image_captions(2)[0] == "caption 0 of image 2"
    assert s.ids == [str(100 + i) for i in range(6)]
    np.testing.assert_array_equal(s.read_images([4, 1]), feats[[4, 1]])
    assert available_splits(tmp_path) == ["test"]


def test_captions_per_image_is_derived(tmp_path):
    make_split(tmp_path, n=4, k=3, boxes=False, ids=False)
    s = open_split(tmp_path, "test")
    assert s.captions_per_image == 3 and s.boxes is None and s.ids is None


def test_float16_and_ids_per_caption(tmp_path):
    feats = make_split(tmp_path, n=3, k=2, dtype=np.float16, ids=False)
    (tmp_path / "test_ids.txt").write_text("".join(f"{i}\n" for i in range(3) for _ in range(2)))
    s = open_split(tmp_path, "test")
    assert s.ids == ["0", "1", "2"]
    batch = ImageTable(s).batch([2, 0])
    assert batch.regions.dtype.is_floating_point and str(batch.regions.dtype) == "torch.float32"
    np.testing.assert_array_equal(batch.regions.numpy(), feats[[2, 0]].astype(np.float32))


def _expect(path: Path, call, *fragments: str) -> None:
    with pytest.raises(DataError) as info:
        call()
    message = str(info.value)
    assert path.name in message, message
    for fragment in fragments:
        assert fragment in message, message


def test_missing_split_and_folder(tmp_path):
    make_split(tmp_path, split="dev")
    _expect(tmp_path / "train_ims.npy", lambda: open_split(tmp_path, "train"), "missing", "dev")
    _expect(tmp_path / "nope", lambda: open_split(tmp_path / "nope", "train"), "not found")
    (tmp_path / "dev_caps.txt").unlink()
    _expect(tmp_path / "dev_caps.txt", lambda: open_split(tmp_path, "dev"), "missing")


def test_caption_count_not_multiple(tmp_path):
    make_split(tmp_path, n=4, k=5)
    with open(tmp_path / "test_caps.txt", "a") as handle:
        handle.write("one more caption\n")
    _expect(tmp_path / "test_caps.txt", lambda: open_split(tmp_path, "test"), "21", "multiple")


def test_truncated_npy(tmp_path):
    make_split(tmp_path)
    path = tmp_path / "test_ims.npy"
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    _expect(path, lambda: open_split(tmp_path, "test"), "truncated")
    path.write_bytes(data + b"junk")
    _expect(path, lambda: open_split(tmp_path, "test"), "corrupt")
    path.write_bytes(b"this is not numpy at all")
    _expect(path, lambda: open_split(tmp_path, "test"), "not a .npy")


def test_wrong_dimensions(tmp_path):
    make_split(tmp_path)
    np.save(tmp_path / "test_ims.npy", np.zeros((6, 12), np.float32))
    _expect(tmp_path / "test_ims.npy", lambda: open_split(tmp_path, "test"), "3-D")
    np.save(tmp_path / "test_ims.npy", np.zeros((6, 3, 4), np.int32))
    _expect(tmp_path / "test_ims.npy", lambda: open_split(tmp_path, "test"), "dtype")


def test_bad_boxes(tmp_path):
    make_split(tmp_path)
    np.save(tmp_path / "test_boxes.npy", np.zeros((6, 2, 4), np.float32))
    _expect(tmp_path / "test_boxes.npy", lambda: open_split(tmp_path, "test"), "does not match")


def test_bad_ids(tmp_path):
    make_split(tmp_path)
    (tmp_path / "test_ids.txt").write_text("1\n2\n")
    _expect(tmp_path / "test_ids.txt", lambda: open_split(tmp_path, "test"), "2 ids")


def test_empty_and_non_utf8_caption_lines(tmp_path):
    make_split(tmp_path, n=2, k=2)
    path = tmp_path / "test_caps.txt"
    path.write_text("a dog\n\na cat\na cow\n")
    _expect(path, lambda: open_split(tmp_path, "test"), "line 2", "empty")
    path.write_bytes(b"a dog\na cat\na \xff cow\na hen\n")
    _expect(path, lambda: open_split(tmp_path, "test"), "line 3", "UTF-8")
    path.write_bytes(b"a dog\r\na cat\r\na cow\r\na hen")  # CRLF, no final newline: fine
    assert open_split(tmp_path, "test").captions[3] == "a hen"


def test_nan_checked_lazily_per_batch(tmp_path):
    feats = make_split(tmp_path, n=6)
    feats[4, 1, 2] = np.nan
    np.save(tmp_path / "test_ims.npy", feats)
    s = open_split(tmp_path, "test")  # no full scan at open
    table = ImageTable(s)
    table.batch([0, 1, 2])  # clean rows are fine
    _expect(tmp_path / "test_ims.npy", lambda: table.batch([3, 4]), "image 4", "NaN")
    _expect(tmp_path / "test_ims.npy", lambda: s.check_finite(chunk=2), "image 4")
    sub = s.subset([3, 4])  # the error names the file's image index, not the subset's
    _expect(tmp_path / "test_ims.npy", lambda: ImageTable(sub).batch([1]), "image 4")


def test_inf_in_boxes(tmp_path):
    make_split(tmp_path, n=3)
    boxes = np.zeros((3, 3, 4), np.float32)
    boxes[1, 0, 0] = np.inf
    np.save(tmp_path / "test_boxes.npy", boxes)
    s = open_split(tmp_path, "test")
    _expect(tmp_path / "test_boxes.npy", lambda: s.check_finite(chunk=1), "image 1")
    _expect(tmp_path / "test_boxes.npy", lambda: ImageTable(s).batch([1]), "image 1")


def test_coco_1k_folds_do_not_copy(tmp_path):
    n, k = 25, 5
    feats = make_split(tmp_path, split="testall", n=n, k=k)
    full = open_split(tmp_path, "testall")
    fold_size = 5
    for f in range(n // fold_size):
        fold = full.subset(range(f * fold_size, (f + 1) * fold_size))
        assert fold.num_images == fold_size and fold.num_captions == fold_size * k
        assert np.shares_memory(fold.images, full.images)  # a view of the same memmap
        assert fold.captions[0] == f"caption 0 of image {f * fold_size}"
        assert fold.caption_image.tolist() == [i for i in range(fold_size) for _ in range(k)]
        assert fold.ids[0] == str(100 + f * fold_size)
        np.testing.assert_array_equal(np.asarray(fold.images), feats[f * 5 : f * 5 + 5])
        np.testing.assert_array_equal(ImageTable(fold).batch([1]).regions[0].numpy(),
                                      feats[f * 5 + 1])


def test_noncontiguous_subset(tmp_path):
    feats = make_split(tmp_path, n=8, k=2)
    s = open_split(tmp_path, "test").subset([6, 1, 3])
    assert isinstance(s.images, RowView) and s.images.shape == (3, 3, 4)
    np.testing.assert_array_equal(s.images[0], feats[6])
    np.testing.assert_array_equal(s.images[1:, 0], feats[[1, 3], 0])
    np.testing.assert_array_equal(s.read_images([2, 0]), feats[[3, 6]])
    assert s.captions == ["caption 0 of image 6", "caption 1 of image 6",
                          "caption 0 of image 1", "caption 1 of image 1",
                          "caption 0 of image 3", "caption 1 of image 3"]
    nested = s.subset([2])
    np.testing.assert_array_equal(np.asarray(nested.images), feats[[3]])
    with pytest.raises(IndexError):
        s.subset([3])


def test_pread_rows_match_fancy_indexing(tmp_path):
    from ssamt.data.npyfile import read_rows

    feats = make_split(tmp_path, n=30, k=1, r=2, d=3, dtype=np.float16)
    mm = open_split(tmp_path, "test").base_images
    rng = np.random.default_rng(0)
    for rows in ([], [5], [3, 4, 5, 6], [9, 2, 2, 3, 29, 0], rng.integers(0, 30, 50)):
        rows = np.asarray(rows, dtype=np.int64)
        got = read_rows(mm, rows)
        assert got.dtype == np.float16
        np.testing.assert_array_equal(got, feats[rows])


def test_split_pickles_without_copying_features(tmp_path):
    import pickle

    feats = make_split(tmp_path, n=40, k=2, r=8, d=64)
    s = open_split(tmp_path, "test").subset([7, 3])
    blob = pickle.dumps(s)
    assert len(blob) < feats.nbytes / 4
    again = pickle.loads(blob)
    np.testing.assert_array_equal(again.read_images([0, 1]), feats[[7, 3]])
    assert again.captions == s.captions and again.boxes.shape == (2, 8, 4)


def test_pread_long_runs(tmp_path):
    """More consecutive rows than one preadv call may take (IOV_MAX)."""
    feats = make_split(tmp_path, n=1500, k=1, r=1, d=2, boxes=False, ids=False)
    s = open_split(tmp_path, "test")
    np.testing.assert_array_equal(s.read_images(np.arange(1500)), feats)
    s.check_finite(chunk=1500)


def test_a_byte_order_mark_is_no_part_of_any_text_file(tmp_path):
    """Some editors start a UTF-8 file with a byte-order mark: every text file ssamt reads
    (captions, ids, caption tables, JSON lines, scenes, `ssamt parse` input) is read
    without it, so the first caption or id is what the user wrote."""
    import json

    from ssamt.commands.parse import read_captions
    from ssamt.data.precomp_writer import read_caption_table
    from ssamt.data.synth.minimal import read_pairs
    from ssamt.render.scene_svg import read_scene

    bom = b"\xef\xbb\xbf"
    make_split(tmp_path, n=2, k=1, boxes=False)
    for name in ("test_caps.txt", "test_ids.txt"):
        (tmp_path / name).write_bytes(bom + (tmp_path / name).read_bytes())
    split = open_split(tmp_path, "test")
    assert split.ids == ["100", "101"] and split.captions[0] == "caption 0 of image 0"
    (tmp_path / "table.tsv").write_bytes(bom + "café\ta cup\n".encode())
    assert read_caption_table(tmp_path / "table.tsv") == {"café": ["a cup"]}
    assert read_captions(str(tmp_path / "test_caps.txt"))[0] == "caption 0 of image 0"
    record = {"image": 0, "side": "text", "text": "a dog"}
    (tmp_path / "test_minimal.jsonl").write_bytes(bom + json.dumps(record).encode() + b"\n")
    assert read_pairs(tmp_path, "test") == [record]
    scene = {"setting": "park", "objects": [], "relations": []}
    (tmp_path / "test_scenes.jsonl").write_bytes(bom + json.dumps(scene).encode() + b"\n")
    assert read_scene(tmp_path, "test", 0) == scene
