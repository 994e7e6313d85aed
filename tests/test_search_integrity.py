"""An index folder changed, truncated or mixed up since its build (ssamt.search.integrity):
each damage is made on the fly on a copy of a small built index, and `ssamt search` must
answer with exit status 2 and one line naming the damaged file and saying to rebuild,
changing nothing. Also: what `ssamt index --out` may replace, ids that name two images,
and captions with terminal escape sequences."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("faiss")

pytestmark = pytest.mark.usefixtures("one_thread")

TEXT = ["a brown dog"]
IMAGE = ["--image", "synth-testall-000002", "-k", "20", "--rerank-k", "20"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    pytest.importorskip("spacy")
    from _gallery import make_gallery

    return make_gallery(tmp_path_factory.mktemp("integrity"))


@pytest.fixture()
def index(built, tmp_path) -> Path:
    """A copy of the built index, for one test to damage."""
    copy = tmp_path / "index"
    shutil.copytree(built["index"], copy)
    return copy


def tree(*roots: Path) -> dict[str, str]:
    """Every path under `roots` and its content's hash: what a command must leave alone."""
    out = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            out[str(path)] = ("link" if path.is_symlink() else
                              hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file()
                              else "folder")
    return out


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    from ssamt.cli import main

    rc = main(argv)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def assert_refused(argv: list[str], built, capsys, path: Path, *fragments: str,
                   folder: Path) -> None:
    """rc 2, one stderr line that starts with `path` and holds `fragments`, no traceback,
    and nothing changed in `folder` (the test's), the data folder or the run."""
    roots = (folder, built["data"], built["run"])
    before = tree(*roots)
    rc, _, err = run_cli(argv, capsys)
    assert rc == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"ssamt {argv[0]}: error: {path}: "), err
    assert all(fragment in err for fragment in fragments), err
    assert tree(*roots) == before


# ---- damage, made on a copy of the index ---------------------------------------------------

def edit_manifest(index: Path, change) -> None:
    path = index / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def set_fields(**fields):
    return lambda index: edit_manifest(index, lambda m: m.update(fields))


def rerecord(index: Path, *names: str) -> None:
    """Record a damaged file's size and checksum as if the build had written it: what is
    left for the checks of its contents to catch."""
    from ssamt.search.manifest import file_record

    edit_manifest(index, lambda m: m["files"].update(
        {name: file_record(index / name) for name in names}))


def and_rerecord(damage, *names: str):
    def both(index: Path) -> None:
        damage(index)
        rerecord(index, *names)
    return both


def earlier_format(index: Path) -> None:
    def change(m):
        m["format"] = "ssamt-index/1"
        del m["files"]
    edit_manifest(index, change)


def drop_record(index: Path) -> None:
    edit_manifest(index, lambda m: m["files"].pop("images.npy"))


def record_of_wrong_type(index: Path) -> None:
    edit_manifest(index, lambda m: m["files"]["images.npy"].update(bytes="12"))


def faiss_of(index: Path, name: str, vectors: np.ndarray, metric: str = "ip") -> None:
    import faiss

    flat = faiss.IndexFlatIP(vectors.shape[1]) if metric == "ip" else \
        faiss.IndexFlatL2(vectors.shape[1])
    flat.add(np.ascontiguousarray(vectors, dtype=np.float32))
    faiss.write_index(flat, str(index / name))


def faiss_other_dim(index: Path) -> None:
    faiss_of(index, "images.faiss", np.random.default_rng(0).random((100, 17)))


def faiss_swapped(index: Path) -> None:
    images, captions = index / "images.faiss", index / "captions.faiss"
    tmp = index / "swap"
    images.rename(tmp)
    captions.rename(images)
    tmp.rename(captions)


def faiss_l2(index: Path) -> None:
    faiss_of(index, "images.faiss", np.load(index / "images.npy"), metric="l2")


def faiss_nan(index: Path) -> None:
    vectors = np.load(index / "images.npy")
    vectors[::3] = np.nan
    faiss_of(index, "images.faiss", vectors)


def npy_fewer_rows(index: Path) -> None:
    np.save(index / "images.npy", np.load(index / "images.npy")[:90])


def npy_other_vectors(index: Path) -> None:
    emb = np.load(index / "images.npy")
    np.save(index / "images.npy", emb[::-1].copy())  # same shape, other rows


def npy_nan(index: Path) -> None:
    emb = np.load(index / "captions.npy")
    emb[7, 3] = np.nan
    np.save(index / "captions.npy", emb)


def offsets_shifted(index: Path) -> None:
    offsets = np.load(index / "captions.offsets.npy")
    offsets[1:-1] += 3
    np.save(index / "captions.offsets.npy", offsets)


def offsets_not_increasing(index: Path) -> None:
    offsets = np.load(index / "captions.offsets.npy")
    offsets[5] = offsets[4]
    np.save(index / "captions.offsets.npy", offsets)


def jsonl_truncated(index: Path) -> None:
    path = index / "captions.jsonl"
    path.write_bytes(path.read_bytes()[:-100])


def jsonl_not_json(index: Path) -> None:
    path = index / "captions.jsonl"
    path.write_bytes(path.read_bytes().replace(b'{"text"', b'#"text"'))


def jsonl_garbled(index: Path) -> None:
    path = index / "captions.jsonl"
    path.write_bytes(path.read_bytes().replace(b'{"text"', b'\xff"text"'))


def jsonl_lines_reversed(index: Path) -> None:
    """Each line a well-formed parse, with consistent offsets, but of another caption."""
    from ssamt.labels.graph import CaptionGraph
    from ssamt.search.build import write_graphs

    lines = (index / "captions.jsonl").read_bytes().splitlines()
    write_graphs(index, [CaptionGraph.from_json(json.loads(line)) for line in lines[::-1]])


def unlink(name: str):
    return lambda index: (index / name).unlink()


DAMAGE = {
    # the manifest: every field of its type, the counts in range
    "checkpoint-null": (set_fields(checkpoint=None), TEXT, "manifest.json",
                        "field 'checkpoint' must be a string (a path), not null"),
    "data-number": (set_fields(data=3), TEXT, "manifest.json",
                    "field 'data' must be a string (a path), not the number 3"),
    "checkpoint-list": (set_fields(checkpoint=["run/best.pt"]), TEXT, "manifest.json",
                        "field 'checkpoint' must be a string (a path), not a list"),
    "data-empty": (set_fields(data=""), TEXT, "manifest.json", "not an empty string"),
    "count-string": (set_fields(num_images="100"), TEXT, "manifest.json",
                     "field 'num_images' must be a whole number, not a string"),
    "count-true": (set_fields(dim=True), TEXT, "manifest.json",
                   "field 'dim' must be a whole number, not true"),
    "count-float": (set_fields(num_captions=500.0), TEXT, "manifest.json",
                    "not the number 500.0"),
    "counts-disagree": (set_fields(num_captions=499), TEXT, "manifest.json",
                        "num_captions 499 is not num_images 100 x captions_per_image 5"),
    "kind-unknown": (set_fields(kind="lsh"), TEXT, "manifest.json", "kind 'lsh' is none of"),
    "record-missing": (drop_record, TEXT, "manifest.json",
                       "records no size or checksum of images.npy"),
    "record-wrong-type": (record_of_wrong_type, TEXT, "manifest.json",
                          "files['images.npy']['bytes'] must be a whole number"),
    "earlier-format": (earlier_format, TEXT, "manifest.json",
                       "built by an earlier ssamt (ssamt-index/1), which recorded no file"),
    "newer-format": (set_fields(format="ssamt-index/9"), TEXT, "manifest.json",
                     "built by a newer ssamt"),
    # a file missing, changed, truncated or swapped: its size or checksum
    "npy-missing": (unlink("images.npy"), TEXT, "images.npy", "missing from the index folder"),
    "faiss-other-dim": (faiss_other_dim, TEXT, "images.faiss",
                        "bytes, but the index was built with"),
    "faiss-swapped": (faiss_swapped, TEXT, "images.faiss", "bytes, but the index was built with"),
    "npy-fewer-rows": (npy_fewer_rows, TEXT, "images.npy", "bytes, but the index was built with"),
    "npy-other-vectors": (npy_other_vectors, TEXT, "images.npy",
                          "its checksum differs from the one recorded at the build"),
    "npy-nan": (npy_nan, TEXT, "captions.npy", "its checksum differs"),
    "offsets-shifted": (offsets_shifted, TEXT, "captions.offsets.npy", "its checksum differs"),
    "jsonl-truncated": (jsonl_truncated, TEXT, "captions.jsonl",
                        "bytes, but the index was built with"),
    "jsonl-garbled": (jsonl_garbled, TEXT, "captions.jsonl", "its checksum differs"),
    # the same damage with its size and checksum recorded: the checks of the contents
    "faiss-other-dim-recorded": (and_rerecord(faiss_other_dim, "images.faiss"), TEXT,
                                 "images.faiss",
                                 "100 vectors of 17 dims, but the manifest says 100 images"),
    "faiss-swapped-recorded": (and_rerecord(faiss_swapped, "images.faiss", "captions.faiss"),
                               TEXT, "images.faiss",
                               "index of 500 vectors of 16 dims, but the manifest says 100"),
    "faiss-of-another-kind": (set_fields(kind="hnsw"), TEXT, "images.faiss",
                              "a FAISS IndexFlatIP, but the manifest says a hnsw index"),
    "faiss-l2-recorded": (and_rerecord(faiss_l2, "images.faiss"), TEXT, "images.faiss",
                          "another metric than inner product"),
    "faiss-nan-recorded": (and_rerecord(faiss_nan, "images.faiss"), TEXT, "images.faiss",
                           "row 0 (image 0) has NaN or infinite values"),
    "npy-fewer-rows-recorded": (and_rerecord(npy_fewer_rows, "images.npy"), TEXT, "images.npy",
                                "shape (90, 16) float32, but the manifest says 100 images"),
    "npy-nan-recorded": (and_rerecord(npy_nan, "captions.npy"), TEXT, "captions.npy",
                         "row 7 (caption 7) has NaN or infinite values"),
    "offsets-not-increasing-recorded": (
        and_rerecord(offsets_not_increasing, "captions.offsets.npy"), TEXT,
        "captions.offsets.npy", "grow line by line"),
    "jsonl-truncated-recorded": (and_rerecord(jsonl_truncated, "captions.jsonl"), TEXT,
                                 "captions.offsets.npy", "end at the size of captions.jsonl"),
    "offsets-shifted-recorded": (and_rerecord(offsets_shifted, "captions.offsets.npy"), IMAGE,
                                 "captions.jsonl", "does not parse (not one whole line)"),
    "jsonl-garbled-recorded": (and_rerecord(jsonl_garbled, "captions.jsonl"), IMAGE,
                               "captions.jsonl", "does not parse (not UTF-8)"),
    "jsonl-not-json-recorded": (and_rerecord(jsonl_not_json, "captions.jsonl"), IMAGE,
                                "captions.jsonl", "does not parse (not JSON)"),
    "jsonl-lines-reversed-recorded": (
        and_rerecord(jsonl_lines_reversed, "captions.jsonl", "captions.offsets.npy"), IMAGE,
        "captions.jsonl", "is the parse of another caption"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damaged_index_is_one_line_naming_the_file(built, index, capsys, case):
    damage, argv, name, fragment = DAMAGE[case]
    damage(index)
    assert_refused(["search", "--index", str(index), *argv], built, capsys, index / name,
                   fragment, "rebuild the index with `ssamt index`", folder=index.parent)


def test_damaged_index_is_refused_by_serve_too(built, index, capsys):
    """serve opens the index the same way, before it listens."""
    pytest.importorskip("fastapi")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    npy_other_vectors(index)
    assert_refused(["serve", "--index", str(index), "--port", port], built, capsys,
                   index / "images.npy", "its checksum differs", folder=index.parent)


def test_intact_index_opens_and_answers_as_before(built, index, capsys):
    from ssamt.search import Searcher
    from ssamt.search.manifest import FORMAT, INDEX_FILES

    manifest = json.loads((index / "manifest.json").read_text())
    assert manifest["format"] == FORMAT and set(manifest["files"]) == set(INDEX_FILES)
    assert manifest["files"]["images.npy"]["bytes"] == (index / "images.npy").stat().st_size
    copy, original = Searcher.open(index), Searcher.open(built["index"])
    for query in ("a brown dog", "a red car on a street"):
        assert copy.text(query, k=5).to_json()["results"] == \
            original.text(query, k=5).to_json()["results"]
    assert copy.image("synth-testall-000002", k=5).to_json()["results"] == \
        original.image("synth-testall-000002", k=5).to_json()["results"]
    rc, out, err = run_cli(["search", "--index", str(index), *IMAGE], capsys)
    assert rc == 0 and err == "" and "image synth-testall-000002 -> captions" in out


# ---- what `ssamt index --out` may replace --------------------------------------------------

def index_argv(built, out: Path) -> list[str]:
    return ["index", "--checkpoint", str(built["run"]), "--data", str(built["data"]),
            "--out", str(out), "--device", "cpu", "--quiet"]


def test_a_folder_with_a_file_named_manifest_json_is_not_replaced(built, tmp_path, capsys):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "manifest.json").write_text('{"title": "my trip"}')
    (notes / "diary.txt").write_text("day 1\n")
    assert_refused(index_argv(built, notes), built, capsys, notes, "is not an ssamt index",
                   folder=tmp_path)


def test_an_index_holding_the_users_files_is_not_replaced(built, index, capsys):
    (index / "diary.txt").write_text("day 1\n")
    assert_refused(index_argv(built, index), built, capsys, index,
                   "also holds 'diary.txt', which `ssamt index` did not write",
                   folder=index.parent)


def test_a_symlink_out_is_refused_and_stays_a_link(built, index, tmp_path, capsys):
    link = tmp_path / "link"
    link.symlink_to(index, target_is_directory=True)
    assert_refused(index_argv(built, link), built, capsys, link, "is a symbolic link",
                   folder=tmp_path)
    assert link.is_symlink() and os.readlink(link) == str(index)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".link")]


def test_an_earlier_index_is_rebuilt_in_place(built, index, capsys):
    """The line that refuses an earlier index says to rebuild it: the rebuild replaces it."""
    from ssamt.search.manifest import FORMAT

    earlier_format(index)
    rc, _, err = run_cli(index_argv(built, index), capsys)
    assert rc == 0, err
    assert json.loads((index / "manifest.json").read_text())["format"] == FORMAT
    assert run_cli(["search", "--index", str(index), *TEXT], capsys)[0] == 0


# ---- ids that name two images --------------------------------------------------------------

def test_ids_that_name_two_images_are_refused_at_build(built, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(built["data"], data)
    ids = data / "test_ids.txt"
    lines = ids.read_text().splitlines()
    lines[7] = lines[3]
    ids.write_text("\n".join(lines) + "\n")
    out = tmp_path / "ix"
    argv = ["index", "--checkpoint", str(built["run"]), "--data", str(data), "--out", str(out),
            "--quiet"]
    before = tree(data)
    rc, _, err = run_cli(argv, capsys)
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"ssamt index: error: {ids}: id {lines[3]!r} is given to two "
                          "images, rows 3 and 7")
    assert not out.exists() and tree(data) == before


# ---- captions with terminal escape sequences -----------------------------------------------

EVIL = "a dog \x1b]0;owned\x07on a sofa \x1b[2J\x9b31m"


@pytest.fixture(scope="module")
def evil(built, tmp_path_factory):
    """An index of the data with image 2's first caption holding escape sequences."""
    from ssamt.search import build_index

    root = tmp_path_factory.mktemp("evil")
    data = root / "data"
    shutil.copytree(built["data"], data)
    caps = data / "test_caps.txt"
    lines = caps.read_text(encoding="utf-8").split("\n")
    lines[10] = EVIL
    caps.write_text("\n".join(lines), encoding="utf-8")
    build_index(built["run"], data, root / "index")
    return root / "index"


def test_control_characters_are_escaped_in_the_text_output(evil, capsys):
    for argv in (IMAGE[:2] + ["-k", "500"], ["a dog on a sofa", "-k", "100"]):
        rc, out, err = run_cli(["search", "--index", str(evil), *argv], capsys)
        assert rc == 0, err
        assert not any(c in out for c in "\x1b\x07\x9b")
        assert r"a dog \x1b]0;owned\x07on a sofa \x1b[2J\x9b31m" in out


def test_json_output_keeps_the_caption_exact(evil, capsys):
    rc, out, _ = run_cli(["search", "--index", str(evil), *IMAGE[:2], "-k", "500", "--json"],
                         capsys)
    assert rc == 0 and "\x1b" not in out
    texts = [hit["text"] for hit in json.loads(out)["results"]]
    assert EVIL in texts


def test_explain_and_parse_escape_them_too_and_their_json_keeps_them(evil, tmp_path, capsys):
    """The text output of `ssamt explain` (its table and title) and `ssamt parse` (JSON
    lines, whose C1 controls JSON itself would leave raw) escapes them like `ssamt search`;
    every JSON string reads back exact."""
    data = evil.parent / "data"
    run = json.loads((evil / "manifest.json").read_text())["checkpoint"]
    out = tmp_path / "explain.json"
    rc, text, err = run_cli(["explain", "--checkpoint", run, "--data", str(data), "--image",
                             "2", "--caption", "10", "--no-part-levels", "--device", "cpu",
                             "--json", str(out)], capsys)
    assert rc == 0, err
    assert not any(c in text for c in "\x1b\x07\x9b") and r"\x1b]0;owned\x07on" in text
    parts = json.loads(out.read_text(encoding="utf-8"))["parts"]
    assert any("\x1b]0;owned\x07on" in p["text"] for p in parts)
    assert not any(c in out.read_text(encoding="utf-8") for c in "\x1b\x07\x9b")
    rc, stdout, _ = run_cli(["explain", "--checkpoint", run, "--data", str(data), "--image",
                             "2", "--caption", "10", "--no-part-levels", "--device", "cpu",
                             "--json", "-"], capsys)
    assert rc == 0 and not any(c in stdout for c in "\x1b\x07\x9b")
    assert json.loads(stdout)["parts"] == parts

    caps = tmp_path / "caps.txt"
    caps.write_text(EVIL + "\n", encoding="utf-8")
    rc, stdout, _ = run_cli(["parse", str(caps)], capsys)
    assert rc == 0 and not any(c in stdout for c in "\x1b\x07\x9b")
    assert json.loads(stdout)["text"] == EVIL


def test_printable_escapes_only_control_characters():
    from ssamt.commands.common import printable

    assert printable("café \\ ok") == "café \\ ok"
    assert printable("a\nb\tc\x00\x7f\x85") == r"a\nb\tc\x00\x7f\x85"
