"""The quick-start pipeline behind `ssamt quickstart` (explicit arguments, returns results).

OUT may hold other files: a quick start deletes only what it wrote itself, listed in
OUT/ssamt-quickstart.json (its manifest), and checks everything before deleting anything:
OUT/data must be new, empty or a `ssamt synth` folder, and OUT/run new or listed in the
manifest. OUT is locked for the run (ssamt.train.run_folder), so two quick starts into one
folder cannot mix their files.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from ssamt.data.split_labels import labels_for_split
from ssamt.data.synth.generator import check_replaceable, generate
from ssamt.errors import DataError
from ssamt.fileio import write_json, write_text
from ssamt.pipelines.analysis.minimal_report import minimal_pair_table
from ssamt.pipelines.analysis.minimal_run import (
    blind_by_edit,
    load_inputs,
    measure_with_chance,
    training_language_model,
)
from ssamt.pipelines.evaluation import evaluate_run
from ssamt.train.config import config_to_yaml, load_config
from ssamt.train.data import load_train_dev
from ssamt.train.logging import read_metrics
from ssamt.train.recipes.ssamt import first_hard_update
from ssamt.train.report import phase2_losses, plot_curves, recall_table
from ssamt.train.resources import check_memory, phases_of
from ssamt.train.run_folder import lock_run
from ssamt.train.trained_run import load_run
from ssamt.train.trainer import train
from ssamt.train.validate import validate_config

MANIFEST = "ssamt-quickstart.json"
OWN = ("data", "run", "report.md", "results.json", "curves.png")  # what a quick start writes


def _manifest(out: Path) -> list[str]:
    try:
        written = json.loads((out / MANIFEST).read_text(encoding="utf-8")).get("written", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [name for name in written if name in OWN]


def check_out_folder(out: Path) -> None:
    """Refuse, before anything is deleted, an OUT whose data or run folder is not ours."""
    if out.exists() and not out.is_dir():
        raise DataError(out, "exists and is not a folder")
    check_replaceable(out / "data")
    run_dir = out / "run"
    if run_dir.exists() and any(run_dir.iterdir()) and "run" not in _manifest(out):
        raise DataError(run_dir, "exists and was not written by `ssamt quickstart` (no "
                                 f"{MANIFEST} lists it); refusing to delete it (choose "
                                 "another --out)")


def _stage(timings: dict[str, float], name: str, t0: float, progress: bool) -> float:
    now = time.perf_counter()
    timings[name] = now - t0
    if progress:
        print(f"[quickstart] {name}: {timings[name]:.0f} s", flush=True)
    return now


def prepare_data(out: Path, size: str, seed: int, progress: bool, workers: int = 1) -> Path:
    """Synthetic precomp data plus cached phrase labels of train, dev and test (captions
    parsed by `workers` processes: the same labels, sooner)."""
    data_dir = generate(out / "data", size=size, seed=seed, progress=progress)
    for split in ("train", "dev", "test"):
        labels_for_split(data_dir, split, workers=workers, progress=progress)
    return data_dir


def evaluate_test(run, data_dir: Path, k: int, device: str, progress: bool) -> dict:
    """Two-stage recall of the run (its best checkpoint, a train.run.Run) on the test split
    (the evaluate path)."""
    return evaluate_run(run, data_dir, "test", k=k, device=device, progress=progress)


def minimal_pairs_test(run, data_dir: Path, device: str,
                       progress: bool) -> dict[str, Any] | None:
    """Pairwise accuracy and localization of the run on the test split's minimal pairs
    (as `ssamt analyze minimal-pairs`); None when the data has none.
    -> {"results": {edit: {...}}, "chance": {edit: % localized at random}}."""
    if not (data_dir / "test_minimal.jsonl").exists():
        return None
    inputs = load_inputs(data_dir, "test", progress=progress)
    results, chance = measure_with_chance(run, inputs, device=device)
    lm = training_language_model(data_dir)
    return {"results": results, "chance": chance,
            "blind": None if lm is None else blind_by_edit(inputs, lm)}


def run_quickstart(out: str | Path, *, size: str = "small", seed: int = 0,
                   overrides: list[str] | None = None, device: str = "cpu",
                   progress: bool = True, workers: int = 1) -> dict[str, Any]:
    """Check OUT, generate, label (`workers` parser processes), train both phases, evaluate
    on test, write the report."""
    out = Path(out)
    cfg = load_config("synthetic", [f"seed={seed}", *(overrides or [])])
    validate_config(cfg, "quickstart config")
    check_memory(cfg, device, phases_of("both"), source="quickstart config")
    check_out_folder(out)
    with lock_run(out):
        write_json(out / MANIFEST, {"written": list(OWN)})
        run_dir = out / "run"
        if run_dir.exists():
            shutil.rmtree(run_dir)  # ours (the manifest lists it): a quick start starts over
        return _pipeline(out, run_dir, cfg, size, seed, device, progress, workers)


def _pipeline(out: Path, run_dir: Path, cfg, size: str, seed: int, device: str,
              progress: bool, workers: int) -> dict[str, Any]:

    timings: dict[str, float] = {}
    t_start = t = time.perf_counter()
    data_dir = prepare_data(out, size, seed, progress, workers)
    t = _stage(timings, "data and labels", t, progress)
    train_data, dev_data, vocab = load_train_dev(str(data_dir), cfg, None, progress)
    result = train(cfg, train_data, dev_data, vocab, run_dir, device=device, progress=progress)
    timings["phase 1"] = result["phase1"]["seconds"]
    timings["phase 2"] = result["phase2"]["seconds"]
    t = _stage(timings, "training", t, progress)
    run = load_run(run_dir, device)  # best.pt, read once for both measurements
    test = evaluate_test(run, data_dir, cfg.eval.rerank_k, device, progress)
    t = _stage(timings, "test evaluation", t, progress)
    minimal = minimal_pairs_test(run, data_dir, device, progress)
    if minimal is not None:
        test["minimal_pairs"] = minimal
        t = _stage(timings, "minimal pairs", t, progress)
    timings["total"] = t - t_start
    test["data_fingerprint"] = train_data.fingerprint
    return write_report(out, cfg, test, result, timings, size, seed)


def write_report(out: Path, cfg, test: dict, result: dict, timings: dict[str, float],
                 size: str, seed: int) -> dict[str, Any]:
    """report.md, curves.png and results.json in `out`."""
    n_img = test["num_images"]
    rows = {"SSAMT, intra dual encoder (stage 1)": test["intra"]}
    if "reranked" in test:
        rows[f"SSAMT, re-ranked with Eq. 5 (K={test['k']})"] = test["reranked"]
    for name, m in test.get("scene_truth", {}).items():  # any result true of the query counts
        rows[f"{'stage 1' if name == 'intra' else 're-ranked'}, scene truth"] = m
    table = recall_table(rows)
    records = read_metrics(out / "run")
    margins = {"2·alpha1": 2 * cfg.loss.alpha1, "2·alpha2": 2 * cfg.loss.alpha2}
    events = {"top-m partners from here": first_hard_update(cfg)} if cfg.recipe == "ssamt" else {}
    png = plot_curves(records, out / "curves.png", margins, events)
    chance = 2 * 100 * (1 + 5 + 10) / n_img  # a random ranker, roughly (paper metric RSum)
    lines = [
        "# SSAMT quick start", "",
        (f"Synthetic data, size `{size}`, seed {seed}: test split of {n_img} images and "
         f"{test['num_captions']} captions (protocol as Flickr30K: the whole test split)."), "",
        "## Test recall (paper Table 1 layout)", "", table, "",
        f"A random ranker scores RSum of about {chance:.1f} on {n_img} images."
        + (" Scene-truth rows count a result as correct when the caption is true of the image "
           "by its synthetic scene, not only for its source image." if "scene_truth" in test
           else ""), "",
        *eq5_lines(test, result.get("eq5")),
        *minimal_pair_lines(test.get("minimal_pairs")),
        "## Phase 2", "", *phase2_lines(records, cfg), "",
        "## Timings", "", "| stage | seconds |", "|---|---:|",
        *(f"| {name} | {sec:.0f} |" for name, sec in timings.items()), "",
        "## Training curves", "",
        "![training curves](curves.png)" if png else "(matplotlib not available)", "",
        "## Config", "", "```yaml", config_to_yaml(cfg).rstrip(), "```", "",
        "Run folder: `run/` (best.pt, last.pt, phase1.pt, metrics.jsonl). Evaluate again with",
        "`ssamt evaluate --checkpoint run --data data`.", "",
    ]
    write_text(out / "report.md", "\n".join(lines))
    summary = {"test": test, "timings": timings, "size": size, "seed": seed,
               "config": cfg.to_dict(), "eq5": result.get("eq5"),
               "phase2_losses": phase2_losses(records),
               "train": {k: result[k]["state"] for k in ("phase1", "phase2") if k in result}}
    write_json(out / "results.json", summary)
    return {"table": table, "seconds": timings, "report": str(out / "report.md"),
            "rsum": test.get("reranked", test["intra"])["rsum"], "results": summary}


def minimal_pair_lines(minimal: dict | None) -> list[str]:
    """The minimal-pair table of the test split, beside the recall table."""

    if not minimal:
        return []
    return ["## Minimal pairs (test split)", "",
            ("Pairwise accuracy (%): the true caption (image) outscores the same caption "
             "(image) with one edit that makes it false; edits with \"swap\" keep the bag of "
             "words, so a dual encoder is near 50 there. Localized (%): the part `ssamt "
             "explain` names in the edited pair (most likely mismatch: the phrase furthest "
             "below where it usually scores on training pairs) touches the edit. Blind (text "
             "only): how often a language model of the training captions, with no image, "
             "prefers the true caption; what it gets right is solvable from the text alone. "
             "Details: `ssamt analyze minimal-pairs --checkpoint run --data data --out "
             "minimal`."), "",
            minimal_pair_table(minimal["results"], chance=minimal["chance"],
                               blind=minimal.get("blind")), ""]


def eq5_lines(test: dict, chosen: dict | None) -> list[str]:
    """Which Eq. 5 weights re-ranked the test split, and where they came from."""
    if "reranked" not in test:
        return []
    where = "the config (no dev choice)"
    if chosen:
        where = (f"chosen on {chosen['images']} dev images: dev RSum {chosen['rsum']:.1f} "
                 f"against {chosen['stage1_rsum']:.1f} for stage 1")
    gap = test["reranked"]["rsum"] - test["intra"]["rsum"]
    return [(f"Re-ranking changes test RSum by {gap:+.1f}, with Eq. 5 weights "
             f"mu1={test['mu1']:g}, mu2={test['mu2']:g} ({where})."), ""]


def phase2_lines(records: list[dict], cfg) -> list[str]:
    """Where the phase-2 losses end against 2 alpha, their level when nothing is learned."""
    end = phase2_losses(records)
    if not end:
        return ["(no phase-2 updates logged)"]
    a1, a2, a3 = cfg.loss.alpha1, cfg.loss.alpha2, cfg.loss.alpha3
    if cfg.recipe == "ssamt":  # L2 holds four hinges: s_P, s_R of the head and the encoder's
        rows = [("L1 (ranks s_A + s_G)", "L1", a1),
                ("L1, s_G alone (logged, not trained)", "L1_sG", a1),
                ("L2 (4 hinges: s_P, s_R of the head and of the encoder)", "L2", 2 * a2),
                ("L3 (within part types)", "L3", a3)]
    else:
        rows = [("L1", "L1", a1), ("L2", "L2", a2), ("L3", "L3", a3)]
    return [("Mean of the last 10% of logged updates against 2·alpha per pair of hinges, where "
             "a loss sits when the inter encoder scores every pair alike:"), "",
            "| term | end of phase 2 | level at chance |", "|---|---:|---:|",
            *(f"| {label} | {end[key]:.4f} | {2 * alpha:.2f} |"
              for label, key, alpha in rows if key in end)]
