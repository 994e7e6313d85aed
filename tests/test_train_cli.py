"""`ssamt train` and `ssamt quickstart` through the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ssamt.cli import main

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
                 "--phase", "inter"]) == 2
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
