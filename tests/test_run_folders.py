"""Bad-input class 2 (docs/BAD_INPUT.md): run folders. One writer at a time (a lock naming
its holder), one dataset per run (a fingerprint checked on resume, on --phase 2 and on
reuse), and a finished run's results are never replaced without --overwrite."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ssamt.cli import main
from ssamt.data.fingerprint import data_fingerprint
from ssamt.errors import RunFolderError
from ssamt.train.checkpoint import load_checkpoint
from ssamt.train.config import load_config
from ssamt.train.run_folder import lock_run

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sandbox import child_env
from test_train_trainer import TINY, tiny_data

HOLD = ("import sys\nfrom ssamt.train.run_folder import lock_run\n"
        "with lock_run(sys.argv[1]):\n    print('held', flush=True)\n    sys.stdin.read()\n")


def _holder(run_dir: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=child_env())
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_writer_is_refused_naming_the_holder(tmp_path, capsys):
    run = tmp_path / "run"
    holder = _holder(run)
    try:
        with pytest.raises(RunFolderError, match=f"in use by pid {holder.pid} on "), \
                lock_run(run):
            pass
        args = ["train", "--config", "synthetic", "--data", str(tmp_path), "--out", str(run)]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"pid {holder.pid}" in err and "ssamt" in err
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    with lock_run(run):  # released with its holder
        pass


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    run = tmp_path / "run"
    holder = _holder(run)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    with lock_run(run):
        pass


def test_lock_is_reentrant_within_one_process(tmp_path):
    with lock_run(tmp_path / "run"), lock_run(tmp_path / "run"):
        pass


def _data(tmp_path: Path, name: str, n_images: int):
    data, vocab = tiny_data(tmp_path / name, n_images=n_images)
    fingerprint = data_fingerprint(tmp_path / name)
    return dataclasses.replace(data, fingerprint=fingerprint), vocab


def _train(data, vocab, run: Path, **kwargs):
    from ssamt.train.trainer import train

    return train(load_config("synthetic", TINY), data, data, vocab, run, progress=False, **kwargs)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished run on data A, and other data B (more images, so other captions)."""
    root = tmp_path_factory.mktemp("runs")
    a, vocab = _data(root, "a", 16)
    b, _ = _data(root, "b", 20)
    _train(a, vocab, root / "run")
    return root, a, b, vocab


def test_fingerprint_is_stored_in_checkpoints_and_run_folder(trained):
    root, a, _, _ = trained
    assert a.fingerprint.startswith("sha256-2:")
    for name in ("last.pt", "best.pt", "phase1.pt"):
        assert load_checkpoint(root / "run" / name)["data_fingerprint"] == a.fingerprint
    assert a.fingerprint in (root / "run" / "data.json").read_text()


def test_resume_and_phase_inter_on_other_data_are_refused(trained, capsys):
    root, _, b, vocab = trained
    for kwargs in ({"resume": True}, {"phase": "phase2", "overwrite": True}):
        with pytest.raises(RunFolderError, match="trained on other data"):
            _train(b, vocab, root / "run", **kwargs)
    # From the command line: refused before any caption is parsed.
    assert main(["train", "--resume", "--data", str(root / "b"), "--out",
                 str(root / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "trained on other data" in err


def test_analysis_reuse_checks_the_data(trained):
    from ssamt.pipelines.analysis.trainings import check_same_config

    root, a, b, _ = trained
    cfg = load_config("synthetic", TINY)
    check_same_config(root / "run", cfg, a)
    with pytest.raises(RunFolderError, match="refusing to reuse"):
        check_same_config(root / "run", cfg, b)


def test_finished_run_is_not_overwritten_without_the_flag(trained, capsys):
    """(Last in this file: it retrains the shared run.)"""
    root, a, _, vocab = trained
    run = root / "run"
    before = (run / "best.pt").read_bytes()
    with pytest.raises(RunFolderError, match="already holds phase-2 results"):
        _train(a, vocab, run, phase="phase2")
    with pytest.raises(RunFolderError, match="--overwrite"):
        _train(a, vocab, run)
    assert (run / "best.pt").read_bytes() == before
    assert main(["train", "--phase", "2", "--data", str(root / "a"), "--out",
                 str(run)]) == 2
    assert "already holds phase-2 results" in capsys.readouterr().err
    assert (run / "best.pt").read_bytes() == before
    out = _train(a, vocab, run, phase="phase2", overwrite=True)
    assert out["phase2"]["state"]["done"]
    assert main(["train", "--resume", "--overwrite", "--data", str(root / "a"), "--out",
                 str(run)]) == 2


def test_a_refused_new_run_leaves_no_folder(tmp_path, capsys):
    assert main(["train", "--config", "synthetic", "--data", str(tmp_path / "no-data"),
                 "--out", str(tmp_path / "run")]) == 2
    assert "no-data" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
