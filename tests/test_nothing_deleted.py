"""Bad-input class 3 (docs/BAD_INPUT.md): nothing deleted before the inputs are checked, and
then only what the command wrote itself (a manifest says what that is), or, for a split
written over an old one with --overwrite, what was made from that split."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ssamt.cli import main
from ssamt.data.precomp import open_split
from ssamt.data.synth.generator import MARKER, generate
from ssamt.labels.store import default_label_cache_paths

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _dataset import copy_dataset, make_dataset, one_line, snapshot
from sandbox import child_env, ssamt_argv
from test_import_butd import _records, write_tsv


def test_synth_into_its_own_folder_keeps_the_users_files(tmp_path):
    out = generate(tmp_path / "d", size="tiny", seed=0)
    (out / "notes.txt").write_text("mine")
    (out / "train_labels.jsonl").write_text("a cache")
    (out / "dev_scenes.jsonl").write_text("stale")  # a file of the manifest: replaced
    generate(out, size="tiny", seed=1)
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "train_labels.jsonl").read_text() == "a cache"
    assert (out / "dev_scenes.jsonl").read_text() != "stale"
    assert json.loads((out / MARKER).read_text())["seed"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]  # no temp folders left


def test_synth_refuses_a_foreign_folder_untouched(tmp_path, capsys):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "thesis.tex").write_text("years of work")
    assert main(["synth", str(tmp_path / "d"), "--size", "tiny", "--quiet"]) == 2
    assert "not written by `ssamt synth`" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["thesis.tex"]


def test_quickstart_checks_data_before_deleting_its_run(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mine.npy").write_text("user data")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "best.pt").write_text("a model")
    assert main(["quickstart", "--out", str(tmp_path), "--size", "tiny", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "data" in err
    assert (tmp_path / "run" / "best.pt").read_text() == "a model"
    assert (tmp_path / "data" / "mine.npy").read_text() == "user data"


def test_quickstart_does_not_delete_a_run_it_did_not_write(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "best.pt").write_text("a model")
    assert main(["quickstart", "--out", str(tmp_path), "--size", "tiny", "--quiet"]) == 2
    assert "was not written by `ssamt quickstart`" in capsys.readouterr().err
    assert (tmp_path / "run" / "best.pt").read_text() == "a model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_killed_synth_leftovers_are_removed_by_the_next_run(tmp_path):
    """kill -9 mid-write leaves .d.tmp-PID-*; the next synth into d removes it."""
    proc = subprocess.Popen(ssamt_argv("synth", tmp_path / "d", "--size", "small", "--quiet"),
                            env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    leftovers: list[Path] = []
    while time.monotonic() < deadline and proc.poll() is None:
        leftovers = [p for p in tmp_path.glob(".d.tmp-*") if any(p.iterdir())]
        if leftovers:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    if not leftovers:
        pytest.skip("synth finished before it could be killed on this machine")
    assert not (tmp_path / "d").exists()
    generate(tmp_path / "d", size="tiny", seed=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_a_running_synths_temp_folder_is_left_alone(tmp_path):
    import os

    other = tmp_path / f".d.tmp-{os.getppid()}-abcdef12"  # a live process (our parent)
    other.mkdir()
    generate(tmp_path / "d", size="tiny", seed=0)
    assert other.is_dir()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """The tiny synthetic folder with every kind of split file (_dataset.py)."""
    return make_dataset(tmp_path_factory.mktemp("dataset"))


def _tsv(path: Path, ids: list[str]) -> Path:
    write_tsv(path, _records(np.random.default_rng(0), ids, r=12, d=128))
    return path


def _not_of(split: str, files: dict[str, bytes]) -> dict[str, bytes]:
    return {path: data for path, data in files.items()
            if not Path(path).name.startswith(f"{split}_")}


def test_writing_a_split_the_folder_has_needs_overwrite(dataset, tmp_path, capsys):
    data = copy_dataset(dataset, tmp_path)
    tsv = _tsv(tmp_path / "new.tsv", ["1", "2", "3"])
    before = snapshot(data, tmp_path / "photos")
    for argv in (["import-butd", str(tsv), "--out", str(data), "--quiet"],
                 ["features", "--images", str(tmp_path / "photos"), "--out", str(data),
                  "--quiet"]):
        assert main(argv) == 2
        err = one_line(capsys.readouterr().err)
        assert f"{data}: already has split 'test'" in err and "pass --overwrite" in err
    assert snapshot(data, tmp_path / "photos") == before


def test_overwrite_replaces_the_split_and_removes_what_was_made_from_it(dataset, tmp_path,
                                                                         monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    data = copy_dataset(dataset, tmp_path)
    user_caches = [default_label_cache_paths(data, split)[1] for split in ("test", "train")]
    for cache in user_caches:  # caches of this folder kept where it could not take them
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text("parsed elsewhere\n")
    others = _not_of("test", snapshot(data))
    captions = tmp_path / "caps.tsv"
    captions.write_text("1\ta dog\n2\ta cat\n3\ta car\n")
    assert main(["import-butd", str(_tsv(tmp_path / "new.tsv", ["1", "2", "3"])), "--out",
                 str(data), "--captions", str(captions), "--overwrite", "--quiet"]) == 0
    # The new split, and nothing describing the old one's images: no scenes, caption specs,
    # minimal pairs, label caches or photo manifest.
    assert sorted(p.name for p in data.glob("test_*")) == [
        "test_boxes.npy", "test_caps.txt", "test_ids.txt", "test_ims.npy"]
    assert open_split(data, "test").ids == ["1", "2", "3"]
    assert not user_caches[0].exists() and user_caches[1].read_text() == "parsed elsewhere\n"
    assert _not_of("test", snapshot(data)) == others  # other splits and files: untouched


def test_inputs_of_a_writer_are_never_its_outputs(dataset, tmp_path, capsys):
    data = copy_dataset(dataset, tmp_path)
    photos = tmp_path / "photos"
    tsv = _tsv(tmp_path / "new.tsv", ["1", "2"])
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "test_caps.txt").write_text("1\ta dog\n2\ta cat\n")  # captions named like one
    named_like_an_output = _tsv(data / "val_ids.txt", ["1", "2"])
    before = snapshot(tmp_path)
    import_butd = ["import-butd", "--quiet", "--overwrite"]
    for argv, out in [
        ([*import_butd, str(tsv), "--out", str(data), "--captions", str(data / "test_caps.txt")],
         data / "test_caps.txt"),
        ([*import_butd, str(tsv), "--out", str(data), "--captions",
          str(data / "test_minimal.jsonl")], data / "test_minimal.jsonl"),  # would be removed
        ([*import_butd, str(named_like_an_output), "--out", str(data), "--split", "val"],
         named_like_an_output),
        ([*import_butd, str(tsv), "--out", str(fresh), "--captions", str(fresh / "test_caps.txt")],
         fresh / "test_caps.txt"),
        (["features", "--images", str(photos), "--out", str(fresh), "--captions",
          str(fresh / "test_caps.txt"), "--overwrite", "--quiet"], fresh / "test_caps.txt"),
        (["features", "--images", str(photos), "--out", str(photos / "precomp"), "--quiet"],
         photos / "precomp"),
    ]:
        assert main(argv) == 2, argv
        err = one_line(capsys.readouterr().err)
        assert str(out) in err and ("the input" in err or "a folder the command reads" in err)
    assert snapshot(tmp_path) == before and not (photos / "precomp").exists()
