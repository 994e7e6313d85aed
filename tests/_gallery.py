"""A tiny searchable gallery for the search, render and serve tests: the tiny synthetic
split (test: 100 images, 500 captions) with cached labels, a small random model's run and
a flat index of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

MAX_TOKENS = 24
CONFIG = {"model": {"max_tokens": MAX_TOKENS}, "loss": {"mu1": 0.25, "mu2": 0.05}}


def as_run(model: Any, vocab: Any, config: dict[str, Any]) -> Any:
    """A trained run of an in-memory model (what load_run would open had it been saved with
    `config` as its training config): the form the pipelines take."""
    from ssamt.train.config import TrainConfig
    from ssamt.train.trained_run import Run

    return Run(model, vocab, TrainConfig.from_dict(config), Path("in-memory"), "phase2", None,
               None)


def make_gallery(root: Path, index: bool = True) -> dict[str, Any]:
    from ssamt.data.precomp import open_split
    from ssamt.data.split_labels import labels_for_split
    from ssamt.data.synth.generator import generate
    from ssamt.data.vocab import Vocab
    from ssamt.model.config import ModelConfig
    from ssamt.model.ssamt import SSAMT
    from ssamt.train.checkpoint import save_checkpoint

    data = generate(root / "data", size="tiny", seed=0, progress=False)
    store = labels_for_split(data, "test")
    split = open_split(data, "test")
    vocab = Vocab.build((g.tokens for g in store.graphs), min_count=1)
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=len(vocab), d_model=16, n_heads=2, n_layers=1, d_ffn=32,
                         dropout=0.0, d_region=split.feature_dim, d_box=4,
                         max_tokens=MAX_TOKENS)
    model = SSAMT(config).eval()
    run = root / "run"
    save_checkpoint(run / "best.pt", {"train_config": CONFIG, "model_config": config.to_dict(),
                                      "vocab": vocab.to_dict(), "model": model.state_dict()})
    out = {"root": root, "data": data, "split": split, "store": store, "vocab": vocab,
           "model": model, "run": run, "index": root / "index", "manifest": None}
    if index:
        from ssamt.search import build_index

        out["manifest"] = build_index(run, data, out["index"], split="test")
    return out
