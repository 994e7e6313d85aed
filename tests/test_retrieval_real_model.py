"""Retrieval with the real SSAMT (small random weights) and the real data tables, and the
`ssamt evaluate` command end to end on a tiny hand-written precomp split."""

from __future__ import annotations

import importlib.util
import json
import types
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("ssamt.model.ssamt")

from ssamt.data.precomp import open_split
from ssamt.data.tables import ImageTable, TextTable
from ssamt.data.vocab import Vocab
from ssamt.labels.graph import CaptionGraph, Phrase
from ssamt.model.config import ModelConfig
from ssamt.model.ssamt import SSAMT
from ssamt.retrieval.encode import encode_gallery
from ssamt.retrieval.rerank import two_stage

WORDS = ["a", "dog", "cat", "red", "ball", "on", "grass", "man", "plays", "with"]
N_IMG, PER, R, D_REGION = 4, 3, 5, 16


def _graph(rng: np.random.Generator) -> CaptionGraph:
    tokens = tuple(rng.choice(WORDS, size=int(rng.integers(3, 8))))
    phrases = (Phrase("object", ("obj", tokens[1]), (1,)),
               Phrase("attribute", ("attr", tokens[0], tokens[2]), (0, 2)))
    return CaptionGraph(text=" ".join(tokens), tokens=tokens, lemmas=tokens,
                        stop=(False,) * len(tokens), objects=(tokens[1],), phrases=phrases)


@pytest.fixture()
def tiny(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "test_ims.npy", rng.normal(size=(N_IMG, R, D_REGION)).astype(np.float32))
    graphs = [_graph(rng) for _ in range(N_IMG * PER)]
    (tmp_path / "test_caps.txt").write_text("".join(g.text + "\n" for g in graphs))
    vocab = Vocab(WORDS)
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=len(vocab), d_model=32, n_heads=4, n_layers=2, d_ffn=64,
                         dropout=0.1, d_region=D_REGION, d_box=0, max_tokens=16)
    model = SSAMT(config).eval()
    return tmp_path, graphs, vocab, model


def test_exhaustive_two_stage_equals_direct_eq5(tiny):
    data, graphs, vocab, model = tiny
    images, texts = ImageTable(open_split(data, "test")), TextTable(graphs, vocab)
    img, txt = encode_gallery(model, images, texts, batch_size=3)
    res = two_stage(model, images, texts, img, txt, None, 0.3, 0.1, batch_size=5)
    direct = torch.empty(N_IMG, N_IMG * PER)
    with torch.no_grad():
        for i in range(N_IMG):
            for j in range(N_IMG * PER):
                direct[i, j] = model.score(images.batch([i]), texts.batch([j])).eq5(0.3, 0.1)[0]
    assert torch.allclose(res.i2t, direct, atol=1e-5)
    assert torch.allclose(res.t2i, direct, atol=1e-5)
    # Stage 1 is the first term of Eq. 5.
    with torch.no_grad():
        a_img = model.encode_images(images.batch(range(N_IMG)))
        a_txt = model.encode_texts(texts.batch(range(N_IMG * PER)))
    cos = torch.nn.functional.normalize(a_img, dim=1) @ torch.nn.functional.normalize(a_txt, dim=1).T
    assert torch.allclose(res.intra, cos, atol=1e-5)


def _save_run(tiny, monkeypatch) -> None:
    """best.pt of the random model in the data folder; caption graphs without the parser."""
    checkpoint = pytest.importorskip("ssamt.train.checkpoint")
    data, graphs, vocab, model = tiny
    train_config = {"loss": {"mu1": 0.25, "mu2": 0.05}, "model": {"max_tokens": 16}}
    checkpoint.save_checkpoint(data / "best.pt", {
        "train_config": train_config, "model_config": model.config.to_dict(),
        "vocab": vocab.to_dict(), "model": model.state_dict()})
    # Caption parsing (spaCy) is the labels engineer's; hand it the graphs directly.
    store = types.SimpleNamespace(graphs=graphs)
    monkeypatch.setattr("ssamt.data.split_labels.labels_for_split",
                        lambda data_dir, split, *a, **kw: store)


def test_evaluate_command_end_to_end(tiny, monkeypatch, capsys):
    from ssamt.cli import main

    _save_run(tiny, monkeypatch)
    data = tiny[0]
    out = data / "res" / "eval.json"
    rc = main(["evaluate", "--checkpoint", str(data), "--data", str(data), "--split", "test",
               "--rerank-k", "2", "--json", str(out), "--device", "cpu", "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "Image-to-Text" in text and "re-ranked (K=2)" in text
    result = json.loads(out.read_text())
    assert result["mu1"] == 0.25 and result["mu2"] == 0.05 and result["k"] == 2
    assert result["num_images"] == N_IMG and result["num_captions"] == N_IMG * PER
    assert set(result) >= {"intra", "reranked", "gap", "seconds", "checkpoint"}

    rc = main(["evaluate", "--checkpoint", str(data), "--data", str(data), "--split", "test",
               "--protocol", "coco1k", "--quiet"])
    assert rc == 2 and "divisible by 5" in capsys.readouterr().err


def _load_bench():
    path = Path(__file__).parents[1] / "benchmarks" / "bench_rerank.py"
    spec = importlib.util.spec_from_file_location("bench_rerank", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_bench_rerank_scale_mode(capsys):
    assert _load_bench().main(["--scale", "20x60", "--ks", "3"]) == 0
    assert "K=3:" in capsys.readouterr().out


def test_bench_rerank_runs_on_a_random_model(tiny, monkeypatch, capsys):
    _save_run(tiny, monkeypatch)
    data = tiny[0]
    bench = _load_bench()
    out = data / "bench.json"
    assert bench.main(["--checkpoint", str(data), "--data", str(data), "--ks", "2", "5",
                       "--exhaustive", "--max-images", "3", "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| all |" in table and "| 2 |" in table and "| 0 (intra only) |" in table
    rows = json.loads(out.read_text())["rows"]
    assert [r["k"] for r in rows] == [0, 2, 5, "all"]
    assert rows[-1]["pairs_scored"] == 3 * 3 * PER and rows[-1]["num_images"] == 3
