"""Bad-input class 5 (docs/BAD_INPUT.md): no silent quality collapse. Captions outside a
checkpoint's vocabulary are a warning, a phase-1 checkpoint is measured as what it is, and a
data folder that cannot be written still works (the label cache goes elsewhere)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ssamt.cli import main
from ssamt.data.split_labels import labels_for_split
from ssamt.train.checkpoint import save_checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sandbox import can_mount, in_namespace

CAPTIONS = ["a dog on the grass", "a brown dog runs", "a cat on a sofa", "the cat sleeps",
            "a red car on a road", "a car parked outside", "a man with a hat", "the man smiles"]


def _data(folder: Path, split: str = "test") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    np.save(folder / f"{split}_ims.npy", rng.standard_normal((4, 3, 6)).astype(np.float32))
    (folder / f"{split}_caps.txt").write_text("\n".join(CAPTIONS) + "\n", encoding="utf-8")
    return folder


def _checkpoint(path: Path, tokens: list[str], phase: str) -> Path:
    from ssamt.data.vocab import Vocab
    from ssamt.model.config import ModelConfig
    from ssamt.model.ssamt import SSAMT

    vocab = Vocab(["<pad>", "<unk>", *tokens])
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=len(vocab), d_model=8, n_heads=2, n_layers=1, d_ffn=16,
                         dropout=0.0, d_region=6, d_box=0, max_tokens=12)
    save_checkpoint(path, {"train_config": {"loss": {"mu1": 0.3, "mu2": 0.1}},
                           "model_config": config.to_dict(), "vocab": vocab.to_dict(),
                           "model": SSAMT(config).state_dict(),
                           "state": {"phase": phase, "done": True}})
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    pytest.importorskip("spacy")
    folder = _data(tmp_path_factory.mktemp("q") / "data")
    labels_for_split(folder, "test")  # parse once for the module
    return folder


def _evaluate(ckpt: Path, data: Path, out: Path, *extra: str) -> dict:
    assert main(["evaluate", "--checkpoint", str(ckpt), "--data", str(data), "--split", "test",
                 "--device", "cpu", "--quiet", "--json", str(out), *extra]) == 0
    return json.loads(out.read_text())


def test_captions_outside_the_vocabulary_are_a_warning(data, tmp_path, capsys):
    ckpt = _checkpoint(tmp_path / "other.pt", ["zebra", "giraffe", "a"], "phase2")
    result = _evaluate(ckpt, data, tmp_path / "r.json", "--rerank-k", "0")
    err = capsys.readouterr().err
    assert "outside the vocabulary" in err and "threshold 10%" in err
    assert result["oov_rate"] > 0.5


def test_own_vocabulary_is_no_warning(data, tmp_path, capsys):
    words = sorted({w for c in CAPTIONS for w in c.split()})
    ckpt = _checkpoint(tmp_path / "own.pt", words, "phase2")
    result = _evaluate(ckpt, data, tmp_path / "r.json", "--rerank-k", "0")
    assert "outside the vocabulary" not in capsys.readouterr().err
    assert result["oov_rate"] == 0.0


def test_phase1_checkpoint_is_measured_as_the_intra_encoder(data, tmp_path, capsys):
    words = sorted({w for c in CAPTIONS for w in c.split()})
    ckpt = _checkpoint(tmp_path / "phase1.pt", words, "intra")  # a checkpoint of the earlier phase names
    result = _evaluate(ckpt, data, tmp_path / "r.json", "--rerank-k", "3")
    assert "phase-1 checkpoint" in capsys.readouterr().err
    assert "reranked" not in result and result["checkpoint_phase"] == "phase1"


def test_unwritable_cache_place_falls_back_to_the_user_cache(tmp_path, monkeypatch):
    pytest.importorskip("spacy")
    folder = _data(tmp_path / "data", "dev")
    (folder / "dev_labels.jsonl").mkdir()  # the usual cache name is taken by a folder
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    store = labels_for_split(folder, "dev")
    assert len(store.graphs) == len(CAPTIONS)
    cached = list((tmp_path / "cache" / "ssamt" / "labels").glob("*/dev_labels.jsonl"))
    assert len(cached) == 1
    labels_for_split(folder, "dev")  # read back from there (a rebuild would rewrite it)


@pytest.mark.skipif(not can_mount(), reason="no private mount namespace on this machine")
@pytest.mark.parametrize("flag", [None, "--labels-cache"])
def test_read_only_data_folder_works(tmp_path, flag):
    """A read-only bind mount stops root too (chmod would not)."""
    pytest.importorskip("spacy")
    folder = _data(tmp_path / "data")
    extra = [] if flag is None else [flag, str(tmp_path / "mine")]
    done = in_namespace(f"mount --bind -o ro {folder} {folder}", "labels", folder, "--split",
                        "test", *extra, XDG_CACHE_HOME=str(tmp_path / "cache"))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    where = (tmp_path / "mine" if flag else tmp_path / "cache" / "ssamt" / "labels" / "*")
    assert list(Path(where.parent).glob(f"{where.name}/test_labels.jsonl"))
    assert sorted(p.name for p in folder.iterdir()) == ["test_caps.txt", "test_ims.npy"]


def test_json_to_stdout_keeps_stdout_pure_json(data, tmp_path, capsys):
    words = sorted({w for c in CAPTIONS for w in c.split()})
    ckpt = _checkpoint(tmp_path / "own.pt", words, "phase2")
    assert main(["evaluate", "--checkpoint", str(ckpt), "--data", str(data), "--split", "test",
                 "--device", "cpu", "--quiet", "--rerank-k", "0", "--json", "-"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["oov_rate"] == 0.0
    assert "Image-to-Text" in captured.err


def test_label_cache_to_stdout(data, capsys):
    assert main(["labels", str(data), "--split", "test", "--out", "-"]) == 0
    captured = capsys.readouterr()
    header = json.loads(captured.out.splitlines()[0])
    assert header["num_captions"] == len(CAPTIONS) and "-> -" in captured.err
