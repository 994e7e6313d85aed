"""`ssamt parse` and `ssamt labels` on good and bad input: one-line errors, atomic outputs."""

from __future__ import annotations

import io
import json
import sys

import numpy as np

from ssamt.cli import main
from ssamt.commands.parse import RECORD_KEYS

CAPTIONS = ["a dog catching a yellow frisbee", "a brown dog jumps on the grass",
            "a woman holding a white umbrella", "woman in a coat walks in the rain"]


def make_split(folder, captions, k):
    folder.mkdir(exist_ok=True)
    np.save(folder / "train_ims.npy", np.zeros((len(captions) // k, 2, 4), np.float32))
    (folder / "train_caps.txt").write_text("\n".join(captions) + "\n", encoding="utf-8")
    return folder


def test_parse_file_to_jsonl_with_empty_lines(tmp_path):
    src = tmp_path / "caps.txt"
    src.write_text("a dog on a bench\n\n   \nthe leg of the man\n", encoding="utf-8")
    out = tmp_path / "out" / "graphs.jsonl"
    assert main(["parse", str(src), "-o", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 4 and all(tuple(r) == RECORD_KEYS for r in records)
    assert records[0]["objects"] == ["dog", "bench"]
    assert records[1]["tokens"] == [] and records[2]["phrases"] == []  # empty line: empty record
    assert ["man", "have", "leg"] in records[3]["relations"]
    assert {"type", "key", "span"} == set(records[3]["phrases"][0])


def test_parse_stdin_to_stdout(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"two cats\r\n")))
    assert main(["parse"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["attributes"] == [["cat", "2"]]


def test_parse_non_utf8_names_file_and_line(tmp_path, capsys):
    src = tmp_path / "bad.txt"
    src.write_bytes(b"a dog\na cat\nthe \xff\xfe bird\n")
    out = tmp_path / "out.jsonl"
    assert main(["parse", str(src), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{src}: line 3: not valid UTF-8" in err
    assert not out.exists()  # nothing half-written


def test_parse_missing_file_and_bad_workers(tmp_path, capsys):
    assert main(["parse", str(tmp_path / "nope.txt")]) == 2
    assert "nope.txt" in capsys.readouterr().err
    assert main(["parse", "--workers", "0", str(tmp_path / "nope.txt")]) == 2
    assert "--workers" in capsys.readouterr().err


def test_labels_command_writes_then_reuses_cache(tmp_path, capsys):
    data = make_split(tmp_path / "data", CAPTIONS, 2)
    out = tmp_path / "cache" / "train.jsonl"
    assert main(["labels", str(data), "--out", str(out)]) == 0
    assert "4 captions, 2 images" in capsys.readouterr().out
    stamp = out.stat().st_mtime_ns
    assert main(["labels", str(data), "--out", str(out)]) == 0
    assert out.stat().st_mtime_ns == stamp  # read back, not rewritten


def test_labels_command_bad_data(tmp_path, capsys):
    data = make_split(tmp_path / "data", CAPTIONS, 2)
    (data / "train_caps.txt").write_bytes(b"a dog\n\xff\na cat\nbird\n")
    assert main(["labels", str(data)]) == 2
    err = capsys.readouterr().err
    assert "line 2" in err and "Traceback" not in err
    assert main(["labels", str(tmp_path / "missing")]) == 2


def test_unwritable_outputs_are_one_line_errors(tmp_path, capsys):
    src = tmp_path / "caps.txt"
    src.write_text("a dog\n", encoding="utf-8")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["parse", str(src), "-o", str(blocker / "out.jsonl")]) == 2
    assert "cannot write" in capsys.readouterr().err
    data = make_split(tmp_path / "data", CAPTIONS, 2)
    assert main(["labels", str(data), "--out", str(blocker / "labels.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "labels.jsonl: cannot write" in err and "Traceback" not in err
