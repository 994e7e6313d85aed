"""`ssamt train` and `ssamt quickstart` through the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ssamt.cli import main
from ssamt.train.checkpoint import load_checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parent))


def test_train_requires_config_and_names_bad_keys(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    assert "--config is required" in capsys.readouterr().err
    args = ["train", "--config", "synthetic", "--data", str(tmp_path), "--out", str(tmp_path / "r")]
    assert main([*args, "--set", "phase2.lrr=1"]) == 2
    assert "phase2.lrr" in capsys.readouterr().err


def test_resume_without_checkpoint_is_one_clear_line(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "r"), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "last.pt" in err and "Traceback" not in err
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "r"),
                 "--phase", "2"]) == 2
    assert "phase1.pt" in capsys.readouterr().err


@pytest.mark.slow
def test_quickstart_tiny_end_to_end(tmp_path, capsys):
    assert main(["quickstart", "--out", str(tmp_path), "--size", "tiny", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "RSum" in out
    report = (tmp_path / "report.md").read_text()
    assert "i2t R@1" in report and "```yaml" in report
    assert "## Minimal pairs (test split)" in report and "| swap-attribute |" in report
    minimal = json.loads((tmp_path / "results.json").read_text())["test"]["minimal_pairs"]
    assert {"swap-attribute", "swap-role"} <= set(minimal["results"])
    assert (tmp_path / "curves.png").stat().st_size > 1000
    assert (tmp_path / "run" / "best.pt").is_file()
    assert main(["evaluate", "--checkpoint", str(tmp_path / "run"), "--data",
                 str(tmp_path / "data"), "--rerank-k", "3", "--quiet"]) == 0


@pytest.fixture(scope="module")
def started_runs(tmp_path_factory):
    """Tiny data on disk (a train split only, so nothing is read after training) and two
    run folders: one stopped mid phase 1, one whose phase 1 finished."""
    from test_train_trainer import TINY, tiny_data

    from ssamt.train import phase1
    from ssamt.train.config import load_config
    from ssamt.train.trainer import train

    root = tmp_path_factory.mktemp("started")
    data, vocab = tiny_data(root / "data")
    cfg = load_config("synthetic", TINY)
    train(cfg, data, None, vocab, root / "phase1-done", phase="phase1", progress=False)
    original, calls = phase1.intra_batch, []

    def stop_at_the_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    phase1.intra_batch = stop_at_the_third
    try:
        with pytest.raises(KeyboardInterrupt):
            train(cfg, data, None, vocab, root / "stopped", progress=False)
    finally:
        phase1.intra_batch = original
    return root


@pytest.mark.parametrize(("run", "flags", "reads"), [
    ("stopped", ["--resume"], {"last.pt": 1}),
    ("phase1-done", ["--resume"], {"last.pt": 1, "phase1.pt": 1}),
    ("phase1-done", ["--phase", "2"], {"phase1.pt": 1, "last.pt": 1}),
])
def test_continuing_a_run_reads_each_checkpoint_once(started_runs, tmp_path, monkeypatch,
                                                     run, flags, reads):
    """The command reads the run's checkpoint once (start_point) for its config, its checks
    and training; --phase 2 also reads last.pt once, to see whether phase 2 started.
    After training it opens the finished run once more (best.pt, else last.pt) to measure
    explain's part levels."""
    import collections
    import shutil

    import torch

    shutil.copytree(started_runs / run, tmp_path / run)
    counted, load = collections.Counter(), torch.load

    def counting_load(f, *args, **kwargs):
        counted[Path(f).name] += 1
        return load(f, *args, **kwargs)

    monkeypatch.setattr(torch, "load", counting_load)
    assert main(["train", "--data", str(started_runs / "data"), "--out", str(tmp_path / run),
                 "--quiet", *flags]) == 0
    final = "best.pt" if (tmp_path / run / "best.pt").is_file() else "last.pt"
    assert dict(counted) == {**reads, final: reads.get(final, 0) + 1}
    assert (tmp_path / run / "part_levels.json").is_file()
    state = load_checkpoint(tmp_path / run / "last.pt")["state"]
    assert state["phase"] == "phase2" and state["done"]  # and it trained phase 2 to the end


def test_an_analysis_variant_reads_its_last_pt_once(started_runs, tmp_path, monkeypatch):
    """ensure_phase2 reads a started variant's last.pt once: that copy says whether phase 2
    finished and is where training continues from (stopped), or only that it finished."""
    import collections

    import torch
    from test_train_trainer import TINY, tiny_data

    from ssamt.pipelines.analysis import trainings
    from ssamt.train.config import load_config
    from ssamt.train.recipes.ssamt import SsamtRecipe

    data, vocab = tiny_data(tmp_path / "data")
    cfg, setup = load_config("synthetic", TINY), trainings.TrainSetup(str(tmp_path / "data"))
    variant = tmp_path / "pm"
    monkeypatch.setattr(trainings, "record_test_recall", lambda run_dir, setup, k: {"evaluated": run_dir})
    original, calls = SsamtRecipe.batch, []

    def stop_at_the_sixth(*args, **kwargs):  # after two updates (accum_steps=2), saved
        calls.append(1)
        if len(calls) == 6:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    def ensure() -> dict:
        return trainings.ensure_phase2(cfg, data, None, vocab, started_runs / "phase1-done",
                                       variant, setup)

    monkeypatch.setattr(SsamtRecipe, "batch", stop_at_the_sixth)
    with pytest.raises(KeyboardInterrupt):
        ensure()
    monkeypatch.setattr(SsamtRecipe, "batch", original)
    state = load_checkpoint(variant / "last.pt")["state"]
    assert state["phase"] == "phase2" and not state["done"]
    counted, load = collections.Counter(), torch.load

    def counting_load(f, *args, **kwargs):
        counted[Path(f).name] += 1
        return load(f, *args, **kwargs)

    monkeypatch.setattr(torch, "load", counting_load)
    assert ensure() == {"evaluated": variant}
    assert dict(counted) == {"last.pt": 1}
    monkeypatch.setattr(torch, "load", load)
    state = load_checkpoint(variant / "last.pt")["state"]
    assert state["phase"] == "phase2" and state["done"]  # it trained phase 2 to the end
    counted.clear()
    monkeypatch.setattr(torch, "load", counting_load)
    stamp = (variant / "last.pt").stat().st_mtime_ns
    assert ensure() == {"evaluated": variant}  # finished: evaluated, not trained again
    assert dict(counted) == {"last.pt": 1}
    assert (variant / "last.pt").stat().st_mtime_ns == stamp


def test_a_continued_run_refuses_a_config_or_set_it_would_ignore(started_runs, tmp_path,
                                                                 capsys):
    """--resume and --phase 2 continue the run's own config: another --config, or a --set
    of what phase 1 fixed, is one line naming the key, before anything is read or written."""
    import shutil

    data = str(started_runs / "data")
    for run in ("stopped", "phase1-done"):
        shutil.copytree(started_runs / run, tmp_path / run)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert main(["train", "--data", data, "--out", str(tmp_path / "phase1-done"), "--phase",
                 "2", "--set", "model.d_model=32", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--set model.d_model=32" in err[0] and "phase1.pt" in err[0]
    assert main(["train", "--config", "paper-coco", "--data", data, "--out",
                 str(tmp_path / "stopped"), "--resume", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--config gives recipe = 'paper'" in err[0]
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    # the run's own config is accepted: it is what --resume continues with anyway
    assert main(["train", "--config", str(tmp_path / "stopped" / "config.yaml"), "--data", data,
                 "--out", str(tmp_path / "stopped"), "--resume", "--quiet"]) == 0
