"""Both phases on a tiny hand-made data set: checkpoints, best/last, exact resume, load_run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssamt.errors import SsamtError
from ssamt.labels.graph import CaptionGraph, Phrase
from ssamt.train.checkpoint import load_checkpoint
from ssamt.train.config import load_config
from ssamt.train.data import SplitData, build_vocab
from ssamt.train.trained_run import load_run

COLORS = ["red", "blue", "green", "white"]
ANIMALS = ["dog", "cat", "horse", "bird"]
PLACES = ["grass", "beach", "road"]
STOP = {"a", "on", "the"}


def caption_graph(color: str, animal: str, place: str) -> CaptionGraph:
    tokens = ("a", color, animal, "on", "the", place)
    phrases = (Phrase("object", ("obj", animal), (2,)), Phrase("object", ("obj", place), (5,)),
               Phrase("attribute", ("attr", color, animal), (1, 2)),
               Phrase("relation", ("rel", animal, "on", place), (2, 3, 5)))
    return CaptionGraph(" ".join(tokens), tokens, tokens, tuple(t in STOP for t in tokens),
                        (animal, place), ((animal, color),), ((animal, "on", place),), phrases)


class Labels:
    def __init__(self, graphs, caption_image):
        from ssamt.labels.matching import build_image_labels

        self._labels = [build_image_labels([g for g, i in zip(graphs, caption_image) if i == k])
                        for k in range(int(caption_image.max()) + 1)]

    def image_labels(self, i):
        return self._labels[i]


def tiny_data(tmp_path, n_images: int = 16, seed: int = 0,
              boxes: bool = False) -> tuple[SplitData, object]:
    """n_images scenes, 2 captions each, 4 regions of 12-d features that encode the words
    (with `boxes`, random region boxes too)."""
    from ssamt.data.precomp import open_split
    from ssamt.data.tables import ImageTable, TextTable

    rng = np.random.default_rng(seed)
    words = COLORS + ANIMALS + PLACES
    feats = np.zeros((n_images, 4, len(words) + 1), dtype=np.float32)
    graphs, captions = [], []
    for i in range(n_images):
        c, a, p = COLORS[i % 4], ANIMALS[(i // 4) % 4], PLACES[i % 3]
        for r, w in enumerate((c, a, p)):
            feats[i, r, words.index(w)] = 1.0
        feats[i] += 0.1 * rng.standard_normal(feats[i].shape).astype(np.float32)
        for _ in range(2):
            graphs.append(caption_graph(c, a, p))
            captions.append(graphs[-1].text)
    tmp_path.mkdir(parents=True, exist_ok=True)
    np.save(tmp_path / "train_ims.npy", feats)
    if boxes:
        xy = rng.uniform(0, 0.5, (n_images, 4, 2))
        np.save(tmp_path / "train_boxes.npy",
                np.concatenate([xy, xy + rng.uniform(0.1, 0.5, xy.shape)], -1).astype(np.float32))
    (tmp_path / "train_caps.txt").write_text("\n".join(captions) + "\n")
    split = open_split(tmp_path, "train")
    vocab = build_vocab(graphs, min_count=1)
    c2i = np.repeat(np.arange(n_images), 2)
    data = SplitData(ImageTable(split), TextTable(graphs, vocab, max_tokens=16), c2i,
                     Labels(graphs, c2i), feature_dim=feats.shape[-1], box_dim=4 if boxes else 0)
    return data, vocab


TINY = ["model.d_model=16", "model.n_heads=2", "model.n_layers=1", "model.d_ffn=32",
        "model.dropout=0.2", "model.max_tokens=16",
        "phase1.token_budget=120", "phase1.max_steps=5", "phase1.warmup_steps=1",
        "phase1.save_every=2", "phase1.log_every=1",
        "phase2.token_budget=120", "phase2.max_steps=5", "phase2.warmup_steps=1",
        "phase2.save_every=2", "phase2.accum_steps=2", "phase2.log_every=1",
        "loss.negatives_m=3", "eval.rerank_k=3", "eval.max_images=0"]


def _train(tmp_path, run, **kwargs):
    from ssamt.train.trainer import train

    data, vocab = tiny_data(tmp_path / "data")
    cfg = load_config("synthetic", TINY)
    return train(cfg, data, data, vocab, tmp_path / run, progress=False, **kwargs)


def test_both_phases_write_checkpoints_and_metrics(tmp_path):
    out = _train(tmp_path, "run")
    assert out["phase1"]["state"]["done"] and out["phase2"]["state"]["step"] == 5
    assert {"L1", "L2", "L3", "loss"} <= set(out["phase2"]["train"])
    assert "rsum" in out["phase2"]["eval"] and "intra_rsum" in out["phase2"]["eval"]
    run = tmp_path / "run"
    for name in ("best.pt", "last.pt", "phase1.pt", "metrics.jsonl", "config.yaml"):
        assert (run / name).is_file(), name
    last = load_checkpoint(run / "last.pt")
    assert last["state"]["phase"] == "phase2" and "optimizer" in last and "scheduler" in last
    assert "optimizer" not in load_checkpoint(run / "best.pt")
    opened = load_run(run)
    assert len(opened.vocab) == last["model_config"]["vocab_size"] and opened.config.loss.mu1 == 0.3
    assert not opened.model.training and opened.phase == "phase2" and opened.path == run / "best.pt"
    with pytest.raises(SsamtError, match="--resume"):
        _train(tmp_path, "run")


@pytest.mark.parametrize("crash_at", [3, 11])  # mid phase 1, mid phase 2
def test_resume_matches_straight_run(tmp_path, monkeypatch, crash_at):
    from ssamt.train import phase1
    from ssamt.train.recipes.ssamt import SsamtRecipe

    _train(tmp_path, "straight")
    calls = {"n": 0}
    originals = (phase1.intra_batch, SsamtRecipe.batch)

    def counting(original):
        def wrapped(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == crash_at:
                raise KeyboardInterrupt
            return original(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(phase1, "intra_batch", counting(originals[0]))
    monkeypatch.setattr(SsamtRecipe, "batch", counting(originals[1]))
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path, "crashed")
    monkeypatch.setattr(phase1, "intra_batch", originals[0])
    monkeypatch.setattr(SsamtRecipe, "batch", originals[1])
    _train(tmp_path, "crashed", resume=True)
    a = load_checkpoint(tmp_path / "straight" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "crashed" / "last.pt")["model"]
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_phase_inter_alone_needs_phase1(tmp_path):
    with pytest.raises(SsamtError, match="phase1.pt"):
        _train(tmp_path, "empty", phase="phase2")
    _train(tmp_path, "p1", phase="phase1")
    assert not (tmp_path / "p1" / "last.pt").exists() or \
        load_checkpoint(tmp_path / "p1" / "last.pt")["state"]["phase"] == "phase1"
    out = _train(tmp_path, "p1", phase="phase2")
    assert out["phase2"]["state"]["done"]


def test_phase2_stores_eq5_weights_chosen_on_dev(tmp_path):
    from ssamt.train.trained_run import eq5_weights

    out = _train(tmp_path, "run")
    chosen = out["eq5"]
    assert chosen["split"] == "dev" and chosen["k"] == 3 and len(chosen["grid"]) == 9 * 10  # mu1 x mu2 grids
    for name in ("best.pt", "last.pt"):
        assert load_checkpoint(tmp_path / "run" / name)["eq5"]["mu1"] == chosen["mu1"]
    opened = load_run(tmp_path / "run")
    assert opened.eq5_weights() == eq5_weights(opened.settings()) == (chosen["mu1"], chosen["mu2"])
    off = load_config("synthetic", [*TINY, "recipe=paper"])  # keeps the config's weights
    from ssamt.train.trainer import train

    data, vocab = tiny_data(tmp_path / "data2")
    assert train(off, data, data, vocab, tmp_path / "off", progress=False).get("eq5") is None
    assert "eq5" not in load_checkpoint(tmp_path / "off" / "best.pt")


def test_a_checkpoint_from_before_the_one_schema_still_opens(tmp_path):
    """Checkpoints of the earliest format: the train config's model section had no data
    sizes, the loss section no phase-2 keys, there is no recipe and no "eq5" entry."""
    from ssamt.data.vocab import Vocab
    from ssamt.model import SSAMT, ModelConfig
    from ssamt.train.checkpoint import save_checkpoint

    vocab = Vocab(["dog", "cat"])
    model_config = ModelConfig(vocab_size=len(vocab), d_model=16, n_heads=2, n_layers=1,
                               d_ffn=32, dropout=0.0, d_region=12, d_box=0, max_tokens=16)
    old_train_config = {
        "name": "synthetic", "seed": 0, "vocab_min_count": 1,
        "model": {"d_model": 16, "n_heads": 2, "n_layers": 1, "d_ffn": 32, "dropout": 0.0,
                  "max_tokens": 16, "use_phrases": True},
        "loss": {"alpha1": 0.1, "mu1": 0.3, "mu2": 0.1, "negatives_m": 10},
    }
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "best.pt", {
        "train_config": old_train_config, "model_config": model_config.to_dict(),
        "vocab": vocab.to_dict(), "model": SSAMT(model_config).state_dict(),
        "state": {"phase": "phase2"}})
    run = load_run(tmp_path)
    assert run.model.config == model_config and run.max_tokens == 16
    assert run.config.model.vocab_size is None and run.config.loss.random_partner_share == 0.5
    assert run.config.recipe == "ssamt"
    assert run.eq5 is None and run.eq5_weights() == (0.3, 0.1)  # the config's, no dev choice
    assert "training config" in run.describe_eq5()


def test_batches_are_built_ahead_only_when_the_model_is_not_on_the_cpu(tmp_path):
    from ssamt.train.distributed import DistInfo
    from ssamt.train.trainer import _make_context

    cfg = load_config("synthetic", TINY)
    for device, ahead in (("cpu", False), ("cuda", True)):
        ctx = _make_context(tmp_path, {}, None, DistInfo(), torch.device(device), cfg, None, False)
        assert ctx.prefetch is ahead
