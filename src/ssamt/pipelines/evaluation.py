"""A trained run evaluated on one split: the recipe `ssamt evaluate`, the quick start and the
analyses share (checks first, then stage-1 and two-stage recall, with what was measured).

    result = evaluate_run(load_run("runs/synth"), "data/synth-small", "test", k=10)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ssamt.data.precomp import open_split
from ssamt.data.split_labels import labels_for_split
from ssamt.retrieval.evaluate import evaluate_model
from ssamt.retrieval.scene_truth import split_truth
from ssamt.train.compat import check_data_fits, note_phase1, oov_rate, warn_oov
from ssamt.train.trained_run import Run


def evaluate_run(run: Run, data_dir: str | Path, split: str, *, protocol: str = "f30k",
                 k: int | None = 128, mu1: float | None = None, mu2: float | None = None,
                 batch_size: int = 128, device: str = "cpu", progress: bool = False,
                 search: str = "torch", test_images: int = 0,
                 bf16: bool = False) -> dict[str, Any]:
    """Recall of `run` on `split` of `data_dir` (ssamt.retrieval.evaluate.evaluate_model).

    Refuses data that cannot feed the model before any parsing; a phase-1 checkpoint is
    measured as the dual encoder only (with a note); warns when most caption words are
    outside the vocabulary. mu1 / mu2 default to the run's (chosen on dev by phase 2).
    test_images: the first N images only (0 = all; smoke runs). bf16: stage 2 under bf16
    autocast (CUDA only: the inter encoder as it trained there). On synthetic data the
    result also holds scene-truth recalls. Returns the evaluate_model dict plus the
    checkpoint, its phase and training-data fingerprint, the OOV rate and the weights' source.
    """

    opened = open_split(data_dir, split)
    check_data_fits(run.model.config, opened, run.path)  # before parsing and encoding anything
    if k != 0 and note_phase1(run.phase, run.path):
        k = 0
    # Cached next to the data after the first run (spaCy parsing is the slow part).
    graphs = labels_for_split(data_dir, split, progress=progress, opened=opened).graphs
    oov = oov_rate(graphs, run.vocab)
    warn_oov(oov, run.path, f"{data_dir} ({split})")
    truth = split_truth(data_dir, split)  # synthetic data: scene-truth R@K too
    if 0 < test_images < opened.num_images:
        graphs = graphs[: test_images * opened.captions_per_image]
        opened = opened.subset(range(test_images))
        truth = None if truth is None else truth[:test_images, : len(graphs)]
    w1, w2 = run.eq5_weights(mu1, mu2)
    result = evaluate_model(run.model, run.vocab, opened, graphs, protocol=protocol, k=k,
                            mu1=w1, mu2=w2, max_tokens=run.max_tokens, batch_size=batch_size,
                            device=device, progress=progress, search=search, truth=truth,
                            autocast=torch.bfloat16 if bf16 else None)
    return {"checkpoint": str(run.path), "data": str(data_dir), "device": str(device),
            "recipe": run.recipe, "checkpoint_phase": run.phase, "train_data_fingerprint": run.data_fingerprint,
            "oov_rate": round(oov, 4), "mu_source": run.eq5_source(mu1, mu2),
            "stage2_dtype": "bfloat16" if bf16 else "float32",
            **result}
