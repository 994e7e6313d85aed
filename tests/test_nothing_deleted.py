"""Bad-input class 3 (docs/BAD_INPUT.md): nothing deleted before the inputs are checked, and
then only what the command wrote itself (a manifest says what that is)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ssamt.cli import main
from ssamt.data.synth.generator import MARKER, generate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sandbox import child_env, ssamt_argv


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
