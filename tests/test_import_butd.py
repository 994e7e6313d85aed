"""`ssamt import-butd`: a TSV the test writes -> a precomp split that open_split reads back
with the same features, normalized boxes, ids and captions; bad records give one line."""

from __future__ import annotations

import base64
import csv

import numpy as np
import pytest

from ssamt.data.precomp import open_split
from ssamt.data.precomp_writer import npy_header


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a, np.float32).tobytes()).decode()


def write_tsv(path, records) -> None:
    with open(path, "w", newline="") as handle:
        w = csv.writer(handle, delimiter="\t")
        for image_id, width, height, boxes, feats in records:
            w.writerow([image_id, width, height, len(boxes), _b64(boxes), _b64(feats)])


def _records(rng, ids, r=5, d=8):
    out = []
    for image_id in ids:
        x1 = rng.uniform(0, 300, (r, 1))
        y1 = rng.uniform(0, 200, (r, 1))
        boxes = np.hstack([x1, y1, x1 + 50, y1 + 40]).astype(np.float32)
        out.append((image_id, 400, 300, boxes, rng.normal(size=(r, d)).astype(np.float32)))
    return out


def test_npy_header_reads_back(tmp_path):
    path = tmp_path / "a.npy"
    arr = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    path.write_bytes(npy_header(arr.shape, arr.dtype) + arr.tobytes())
    assert np.array_equal(np.load(path), arr)
    assert np.array_equal(np.load(path, mmap_mode="r"), arr)


def test_import_two_files_with_captions(tmp_path, capsys):
    from ssamt.cli import main

    rng = np.random.default_rng(0)
    recs = _records(rng, ["11", "12", "13", "14"])
    write_tsv(tmp_path / "a.tsv", recs[:2])
    write_tsv(tmp_path / "b.tsv", recs[2:])
    caps = tmp_path / "caps.tsv"
    caps.write_text("11\ta dog\n11\ta brown dog\n12\ta cat\n12\ta grey cat\n12\textra\n"
                    "14\ta car\n14\ta red car\n")
    out = tmp_path / "data"
    rc = main(["import-butd", str(tmp_path / "a.tsv"), str(tmp_path / "b.tsv"), "--out",
               str(out), "--captions", str(caps), "--quiet"])
    text = capsys.readouterr().out
    assert rc == 0 and "3 images, 5 regions each, 2 captions each" in text
    assert "skipped 1 images without a caption" in text
    split = open_split(out, "test")
    assert split.ids == ["11", "12", "14"] and split.captions_per_image == 2
    assert split.captions == ["a dog", "a brown dog", "a cat", "a grey cat", "a car", "a red car"]
    kept = [recs[0], recs[1], recs[3]]
    assert np.allclose(split.read_images([0, 1, 2]), np.stack([r[4] for r in kept]))
    boxes = split.read_boxes([2])[0]
    assert np.allclose(boxes, kept[2][3] / np.array([400, 300, 400, 300]), atol=1e-6)
    assert not list(out.glob(".*tmp*"))


def test_import_cuts_to_regions_and_float16(tmp_path, capsys):
    from ssamt.cli import main

    rng = np.random.default_rng(1)
    recs = _records(rng, ["a"], r=6) + _records(rng, ["b"], r=4)
    write_tsv(tmp_path / "x.tsv", recs)
    out = tmp_path / "d"
    assert main(["import-butd", str(tmp_path / "x.tsv"), "--out", str(out), "--regions", "4",
                 "--float16", "--split", "train", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "1 images had more boxes" in text and "no captions given" in text
    ims = np.load(out / "train_ims.npy")
    assert ims.dtype == np.float16 and ims.shape == (2, 4, 8)
    assert np.allclose(ims[0], recs[0][4][:4], atol=1e-2)
    assert not (out / "train_caps.txt").exists()


def _bad(tmp_path, rows) -> str:
    path = tmp_path / "bad.tsv"
    path.write_text("".join("\t".join(map(str, r)) + "\n" for r in rows))
    return str(path)


@pytest.mark.parametrize("rows, message", [
    ([["1", "10", "10", "2", "xx"]], "line 1: 5 fields, expected 6"),
    ([["1", "ten", "10", "1", "AAAA", "AAAA"]], "must be integers"),
    ([["1", "10", "10", "1", "!!!", "AAAA"]], "boxes is not base64"),
    ([["1", "10", "10", "2", _b64(np.zeros((1, 4))), _b64(np.zeros((2, 3)))]], "expected 2 x 4 float32"),
    ([["1", "10", "10", "1", _b64(np.zeros((1, 3))), _b64(np.zeros((1, 3)))]], "expected 1 x 4"),
    ([["1", "10", "10", "2", _b64(np.zeros((2, 4))), _b64(np.zeros((3, 1)))]], "not 2 rows"),
    ([["1", "10", "10", "1", _b64(np.zeros((1, 4))), _b64(np.full((1, 3), np.nan))]], "NaN"),
    ([["1", "10", "10", "2", _b64(np.zeros((2, 4))), _b64(np.zeros((2, 3)))],
      ["2", "10", "10", "1", _b64(np.zeros((1, 4))), _b64(np.zeros((1, 3)))]],
     "pass --regions 1"),
    ([["1", "10", "10", "1", _b64(np.zeros((1, 4))), _b64(np.zeros((1, 3)))]] * 2,
     "appears twice"),
    ([["1", "0", "10", "1", _b64(np.zeros((1, 4))), _b64(np.zeros((1, 3)))]], "must be > 0"),
])
def test_bad_records_one_line(tmp_path, capsys, rows, message):
    from ssamt.cli import main

    out = tmp_path / "data"
    assert main(["import-butd", _bad(tmp_path, rows), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1
    assert not (out / "test_ims.npy").exists() and not list(out.glob(".*tmp*"))


def test_missing_files_and_bad_captions(tmp_path, capsys):
    from ssamt.cli import main

    assert main(["import-butd", str(tmp_path / "none.tsv"), "--out", str(tmp_path / "o")]) == 2
    assert "TSV file not found" in capsys.readouterr().err
    write_tsv(tmp_path / "a.tsv", _records(np.random.default_rng(0), ["1"]))
    (tmp_path / "c.txt").write_text("no tab here\n")
    assert main(["import-butd", str(tmp_path / "a.tsv"), "--out", str(tmp_path / "o"),
                 "--captions", str(tmp_path / "c.txt")]) == 2
    assert "line 1: expected 'image_id<TAB>caption'" in capsys.readouterr().err


def test_memory_flat_in_file_size(tmp_path):
    """Peak traced allocations while importing stay near one record, not the file."""
    import tracemalloc

    from ssamt.data.import_butd import import_butd

    rng = np.random.default_rng(2)
    write_tsv(tmp_path / "big.tsv", _records(rng, [str(i) for i in range(400)], r=10, d=256))
    size = (tmp_path / "big.tsv").stat().st_size  # ~5.5 MB
    tracemalloc.start()
    import_butd([tmp_path / "big.tsv"], tmp_path / "out")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < size / 10, (peak, size)
    assert np.load(tmp_path / "out" / "test_ims.npy", mmap_mode="r").shape == (400, 10, 256)


def test_replacing_a_split_drops_its_stale_files(tmp_path):
    from ssamt.data.import_butd import import_butd
    from ssamt.errors import OutputError

    out = tmp_path / "data"
    out.mkdir()
    old = ("test_caps.txt", "test_scenes.jsonl", "test_photos.json", "test_capspecs.jsonl",
           "test_minimal.jsonl", "test_labels.jsonl", "train_caps.txt")
    for name in old:
        (out / name).write_text("old\n")
    write_tsv(tmp_path / "a.tsv", _records(np.random.default_rng(3), ["1", "2"]))
    with pytest.raises(OutputError, match="already has split 'test'.*--overwrite"):
        import_butd([tmp_path / "a.tsv"], out)
    assert sorted(p.name for p in out.iterdir()) == sorted(old)
    import_butd([tmp_path / "a.tsv"], out, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == [
        "test_boxes.npy", "test_ids.txt", "test_ims.npy", "train_caps.txt"]


# Text that is not what it seems (docs/BAD_INPUT.md, section 8).

def test_ids_round_trip_exactly_and_a_bom_hides_nothing(tmp_path, capsys):
    """Non-ASCII ids come back byte for byte; a byte-order mark before the TSV's or the
    captions file's first id is no part of it; each image keeps as many captions as the
    imported image with the fewest (an image of the captions file missing from the TSVs
    does not count)."""
    from ssamt.cli import main

    ids = ["café", "犬-42", "plain"]
    write_tsv(tmp_path / "a.tsv", _records(np.random.default_rng(4), ids))
    (tmp_path / "a.tsv").write_bytes(b"\xef\xbb\xbf" + (tmp_path / "a.tsv").read_bytes())
    caps = tmp_path / "caps.tsv"
    caps.write_text("\ufeffcafé\tan espresso\ncafé\ta cup\ncafé\ta saucer\n"
                    "犬-42\ta dog\n犬-42\ta puppy\n犬-42\ta pet\n犬-42\ta fourth\n"
                    "plain\ta field\nplain\tgrass\nplain\ta meadow\n"
                    "elsewhere\tan image no TSV holds, with one caption\n", encoding="utf-8")
    out = tmp_path / "data"
    assert main(["import-butd", str(tmp_path / "a.tsv"), "--out", str(out), "--captions",
                 str(caps), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "3 images, 5 regions each, 3 captions each" in text
    assert "keeps its first 3 captions" in text and "1 captions left out" in text
    split = open_split(out, "test")
    assert split.ids == ids
    assert (out / "test_ids.txt").read_bytes() == "café\n犬-42\nplain\n".encode()
    assert split.captions == ["an espresso", "a cup", "a saucer", "a dog", "a puppy", "a pet",
                              "a field", "grass", "a meadow"]


def test_feature_widths_that_differ_name_the_record(tmp_path, capsys):
    from ssamt.cli import main

    rng = np.random.default_rng(5)
    recs = _records(rng, ["1", "2"], d=8) + _records(rng, ["3"], d=6)
    write_tsv(tmp_path / "a.tsv", recs)
    out = tmp_path / "data"
    assert main(["import-butd", str(tmp_path / "a.tsv"), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert (f"error: {tmp_path / 'a.tsv'}: line 3: image 3 has features of 6 values, the "
            "records before it 8") in err
    assert not (out / "test_ims.npy").exists() and not list(out.glob(".*tmp*"))


@pytest.mark.parametrize("image_id, message", [
    ("two\nlines", "line 2: image id 'two\\nlines' holds a control character (\\n)"),
    ("esc\x1b]0;owned\x07", "image id 'esc\\x1b]0;owned\\x07' holds a control character"),
    (b"caf\xe9", "line 2: not valid UTF-8"),  # Latin-1, not UTF-8
])
def test_ids_that_would_not_read_back_are_refused_naming_the_line(tmp_path, capsys, image_id,
                                                                  message):
    from ssamt.cli import main

    rng = np.random.default_rng(6)
    tsv = tmp_path / "a.tsv"
    good, bad = _records(rng, ["1"]), _records(rng, ["BAD"])
    if isinstance(image_id, bytes):  # bytes csv cannot write: put them in place of BAD
        write_tsv(tsv, good + bad)
        tsv.write_bytes(tsv.read_bytes().replace(b"BAD", image_id))
    else:  # through csv, which quotes a newline: one record over two lines
        write_tsv(tsv, good + [(image_id, *bad[0][1:])])
    before = tsv.read_bytes()
    out = tmp_path / "data"
    assert main(["import-butd", str(tsv), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and message in err, err
    assert not (out / "test_ids.txt").exists() and tsv.read_bytes() == before
