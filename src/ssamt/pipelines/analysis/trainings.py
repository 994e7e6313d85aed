"""Training runs of the analyses (paper 3.4, 4.1, 4.2): one model, loss switches, shared phase 1.

The variants of the paper's ablations differ only in the phase-2 losses (Eq. 4 weights) and,
for Table 3, in `model.use_phrases`. Phase 1 (intra encoders, L0) does not see lambda2 or
lambda3, so the variants of one group start phase 2 from one shared phase-1 run:

    RUNS/<group>/phase1/       phase 1 (train(phase="phase1"))
    RUNS/<group>/<variant>/    phase 2 from a copy of phase1/phase1.pt, then test.json

A stopped analysis resumes: a run with test.json is skipped, a run with last.pt is resumed
(the runner's --resume), anything else starts fresh. A run folder is only reused for the
config it was trained with and the data it was trained on (RUN/data.json, the test
split's fingerprint in test.json); otherwise the analysis stops with one line.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ssamt.data.fingerprint import data_fingerprint, split_fingerprint
from ssamt.data.precomp import available_splits
from ssamt.data.tables import ImageTable, TextTable
from ssamt.errors import ConfigError, SsamtError
from ssamt.fileio import atomic_open, write_json
from ssamt.pipelines.evaluation import evaluate_run
from ssamt.train.checkpoint import LAST_NAME, PHASE1_NAME
from ssamt.train.config import TrainConfig, load_config, read_yaml
from ssamt.train.data import SplitData, build_vocab, load_split, load_train_dev
from ssamt.train.resources import check_memory, phases_of
from ssamt.train.run_folder import check_same_data, lock_run, read_data_identity
from ssamt.train.trained_run import load_run
from ssamt.train.trainer import phase2_done, start_point, train
from ssamt.train.validate import validate_config

# Phase-2 loss switches: weights set to 0 for the terms switched off (same model, same data).
VARIANTS: dict[str, list[str]] = {
    "gm": ["loss.lambda2=0", "loss.lambda3=0"],  # MT+GM: L1 only
    "lm": ["loss.lambda3=0"],                     # +LM: L1 + L2
    "pm": [],                                     # +PM: L1 + L2 + L3 (full SSAMT)
}
TEST_NAME = "test.json"


@dataclass
class TrainSetup:
    """What every run of one analysis shares: data loaded once, the base config overrides."""

    data_dir: str
    config: str = "synthetic"
    overrides: tuple[str, ...] = ()
    device: str = "cpu"
    progress: bool = False
    test_images: int = 0  # evaluate on the first N test images (0 = all; for smoke runs)


def group_name(use_phrases: bool, fraction: float = 1.0) -> str:
    name = "phrases" if use_phrases else "no-phrases"
    return name if fraction >= 1.0 else f"{name}-frac{fraction:.2f}"


def run_config(setup: TrainSetup, use_phrases: bool, variant: str | None,
               overrides: tuple[str, ...] | list[str] = ()) -> TrainConfig:
    """TrainConfig of phase 1 (variant None) or of one phase-2 variant, with `overrides`
    after the setup's own (a seed, a recipe)."""
    extra = [f"model.use_phrases={str(use_phrases).lower()}", *overrides]
    if variant is not None:
        extra += VARIANTS[variant]
    cfg = load_config(setup.config, [*setup.overrides, *extra])
    validate_config(cfg, f"config {setup.config}")
    check_memory(cfg, setup.device, phases_of("both"), source=f"config {setup.config}")
    return cfg


def check_same_config(run_dir: Path, cfg, train_data=None) -> None:
    """A run folder is only reused for the config it was trained with, and the data. The
    saved config.yaml is compared as a config (keys the code added since, at their
    defaults, do not count as a difference), not as text."""
    saved = run_dir / "config.yaml"
    try:
        same = not saved.is_file() or TrainConfig.from_checkpoint(read_yaml(saved)) == cfg
    except ConfigError:
        same = False
    if not same:
        raise SsamtError(f"{run_dir} was trained with another config (see its config.yaml); "
                         "pass another --runs folder or the same --config/--set")
    if train_data is not None:
        check_same_data(read_data_identity(run_dir), train_data.split, run_dir,
                        "reuse it (pass another --runs folder)")


def ensure_phase1(cfg, train_data, dev_data, vocab, run_dir: Path, setup: TrainSetup) -> str:
    """Phase 1 into run_dir unless its phase1.pt exists -> 'skipped' / 'resumed' / 'trained'."""
    check_same_config(run_dir, cfg, train_data)
    if (run_dir / PHASE1_NAME).is_file():
        return "skipped"
    resume = (run_dir / LAST_NAME).is_file()
    train(cfg, train_data, dev_data, vocab, run_dir, phase="phase1", resume=resume,
          device=setup.device, progress=setup.progress)
    if not (run_dir / PHASE1_NAME).is_file():
        raise SsamtError(f"{run_dir}: phase 1 ended without phase1.pt; delete the folder and rerun")
    return "resumed" if resume else "trained"


def _copy_atomic(src: Path, dst: Path) -> None:
    with open(src, "rb") as fin, atomic_open(dst, "wb", encoding=None) as fout:
        shutil.copyfileobj(fin, fout, 1 << 24)


def ensure_phase2(cfg, train_data, dev_data, vocab, phase1_dir: Path, run_dir: Path,
                   setup: TrainSetup) -> dict[str, Any]:
    """Phase 2 of one variant from phase1_dir/phase1.pt, then its test recall (cached).

    A started variant's last.pt is read once, under the run folder's lock: that copy says
    whether phase 2 finished and is where `train` continues from (trainer.start_point)."""
    check_same_config(run_dir, cfg, train_data)
    if (run_dir / TEST_NAME).is_file():


        cached = json.loads((run_dir / TEST_NAME).read_text(encoding="utf-8"))
        if (cached.get("test_images", 0) == setup.test_images
                and cached.get("test_fingerprint") == data_fingerprint(setup.data_dir, "test")):
            return cached
    with lock_run(run_dir):  # train takes it again (re-entrant): nothing changes in between
        resume = (run_dir / LAST_NAME).is_file()
        start = start_point(run_dir, "phase2", resume=True) if resume else None
        if start is None or not phase2_done(start.settings):  # else only the test is missing
            if not resume:
                _copy_atomic(phase1_dir / PHASE1_NAME, run_dir / PHASE1_NAME)
            train(cfg, train_data, dev_data, vocab, run_dir, phase="phase2", resume=resume,
                  device=setup.device, progress=setup.progress, start=start)
    return record_test_recall(run_dir, setup, cfg.eval.rerank_k)


def record_test_recall(run_dir: Path, setup: TrainSetup, k: int) -> dict[str, Any]:
    """Stage-1 and re-ranked test recall of the run's best.pt (the `ssamt evaluate` path),
    written to test.json with the test split's fingerprint."""
    result = evaluate_run(load_run(run_dir, setup.device), setup.data_dir, "test", k=k,
                          device=setup.device, test_images=setup.test_images)
    result.pop("folds", None)
    result["test_images"] = setup.test_images
    # the whole test split (test_images says the part)
    result["test_fingerprint"] = data_fingerprint(setup.data_dir, "test")
    write_json(run_dir / TEST_NAME, result)
    return result


# ----- training-data fractions (Table 5) ------------------------------------------------


def subset_images(num_images: int, fraction: float, seed: int = 0) -> np.ndarray:
    """Sorted indices of round(fraction * num_images) images drawn at random (seeded).

    The draw is the prefix of one seeded permutation, so smaller fractions are nested in
    larger ones (25% is inside 50% is inside 75%)."""
    if not 0.0 < fraction <= 1.0:
        raise SsamtError(f"fraction must be in (0, 1], not {fraction}")
    n = max(1, round(fraction * num_images))
    perm = np.random.default_rng(seed).permutation(num_images)
    return np.sort(perm[:n])


def subset_captions(caption_image: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """-> (caption rows of the kept images, their image index within `keep`): every caption
    of a kept image, none of the others."""
    caption_image = np.asarray(caption_image, dtype=np.int64)
    remap = np.full(int(caption_image.max()) + 1, -1, dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    rows = np.flatnonzero(remap[caption_image] >= 0)
    return rows, remap[caption_image[rows]]


class SubsetLabels:
    """L_i of the kept images, indexed by their position in the subset."""

    def __init__(self, labels, keep: np.ndarray) -> None:
        self.labels, self.keep = labels, np.asarray(keep, dtype=np.int64)

    def image_labels(self, i: int):
        return self.labels.image_labels(int(self.keep[i]))


def subset_train(train_data, keep: np.ndarray, min_count: int):
    """-> (SplitData of the kept images with all their captions, vocabulary of the subset).

    The vocabulary is rebuilt from the subset's captions, as training on less data would."""
    rows, c2i = subset_captions(train_data.caption_image, keep)
    graphs = [train_data.texts.graphs[j] for j in rows]
    vocab = build_vocab(graphs, min_count)
    texts = TextTable(graphs, vocab, max_tokens=train_data.texts.max_tokens)
    split = train_data.images.split.subset(keep)
    labels = SubsetLabels(train_data.labels, keep) if train_data.labels is not None else None
    data = SplitData(ImageTable(split), texts, c2i, labels, train_data.feature_dim,
                     train_data.box_dim, fingerprint=split_fingerprint(split))
    return data, vocab


# ----- the data every run of an analysis shares ------------------------------------------


def load_training_data(setup: TrainSetup):
    """(train with labels, dev, vocab) of the data folder, loaded once per analysis."""
    return load_train_dev(setup.data_dir, run_config(setup, True, None), None, setup.progress)


def dev_for(setup: TrainSetup, vocab):
    """The whole dev split encoded with `vocab`, or None (the runner takes its first
    eval.max_images for the epoch evaluations and more to choose Eq. 5's weights)."""
    if "dev" not in available_splits(setup.data_dir):
        return None
    cfg = run_config(setup, True, None)
    dev, _ = load_split(setup.data_dir, "dev", vocab, max_tokens=cfg.model.max_tokens)
    return dev


def data_for_fraction(setup: TrainSetup, full, fraction: float, subset_seed: int):
    """(train, dev, vocab) of a fraction of the training images (full data at 1.0)."""
    if fraction >= 1.0:
        return full
    keep = subset_images(full[0].num_images, fraction, subset_seed)
    sub, vocab = subset_train(full[0], keep, run_config(setup, True, None).vocab_min_count)
    return sub, dev_for(setup, vocab), vocab
