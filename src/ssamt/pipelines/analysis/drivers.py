"""The three analyses end to end: trainings (shared, resumable), evaluation, report folder.

    run_ablation(setup, out, runs)                      # Table 3
    run_pm_accuracy(models, setup, out, seed=0)         # Table 4
    run_data_fraction(setup, out, runs, fractions)      # Table 5

Each writes OUT/report.md, OUT/results.json and PNG plots (atomically).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ssamt.data.fingerprint import data_fingerprint
from ssamt.data.precomp import open_split
from ssamt.data.split_labels import labels_for_split
from ssamt.data.tables import ImageTable, TextTable
from ssamt.fileio import write_json, write_text
from ssamt.losses import PART_TYPE_NAMES
from ssamt.pipelines.analysis import report as rep
from ssamt.pipelines.analysis.pm_accuracy import __doc__ as definitions
from ssamt.pipelines.analysis.pm_accuracy import pm_accuracy
from ssamt.pipelines.analysis.trainings import (
    VARIANTS,
    TrainSetup,
    data_for_fraction,
    ensure_phase1,
    ensure_phase2,
    group_name,
    load_training_data,
    run_config,
)
from ssamt.train.compat import check_data_fits, note_phase1, oov_rate, warn_oov
from ssamt.train.trained_run import load_run


def _log(setup: TrainSetup, text: str) -> None:
    print(f"[analyze] {text}", flush=True)


def train_group(setup: TrainSetup, runs: Path, use_phrases: bool, variants, data,
                fraction: float = 1.0) -> dict[str, dict[str, Any]]:
    """Phase 1 once, then phase 2 of each variant -> {variant: test result}."""
    train_data, dev_data, vocab = data
    group = runs / group_name(use_phrases, fraction)
    cfg = run_config(setup, use_phrases, None)
    t0 = time.perf_counter()
    status = ensure_phase1(cfg, train_data, dev_data, vocab, group / "phase1", setup)
    _log(setup, f"{group.name}/phase1: {status} ({time.perf_counter() - t0:.0f} s)")
    results = {}
    for v in variants:
        t0 = time.perf_counter()
        results[v] = ensure_phase2(run_config(setup, use_phrases, v), train_data, dev_data,
                                    vocab, group / "phase1", group / v, setup)
        _log(setup, f"{group.name}/{v}: RSum {results[v].get('reranked', results[v]['intra'])['rsum']:.1f}"
                    f" ({time.perf_counter() - t0:.0f} s)")
    return results


def _final(result: dict[str, Any]) -> dict[str, float]:
    return result.get("reranked", result["intra"])


def run_ablation(setup: TrainSetup, out: Path, runs: Path, data=None) -> dict[str, Any]:
    """Table 3: {no-phrases, phrases} x {MT+GM, +LM, +PM}, test recall of each.
    `data`: (train, dev, vocab) when already loaded."""
    data = data or load_training_data(setup)
    measured = {g: train_group(setup, runs, g == "phrases", VARIANTS, data)
                for g in ("no-phrases", "phrases")}
    rows = []
    for g, by_variant in measured.items():
        for v, res in by_variant.items():
            paper = rep.PAPER_TABLE3[(g, v)]
            rows.append([rep.GROUP_NAMES[g], rep.ABLATION_NAMES[v], *rep.recall_cells(_final(res)),
                         rep.fmt(res["intra"]["rsum"]), " / ".join(rep.fmt(x) for x in paper)])
    header = ["group", "setting", *rep.RECALLS, "RSum", "stage-1 RSum", "paper (COCO 1K) R@1/5/10 i2t, t2i"]
    names = [f"{'w/' if g == 'phrases' else 'w/o'} {rep.ABLATION_NAMES[v]}"
             for g in measured for v in measured[g]]
    rep.bar_plot(out / "ablation.png", names, {
        "re-ranked (Eq. 5)": [_final(measured[g][v])["rsum"] for g in measured for v in measured[g]],
        "stage 1 (intra)": [measured[g][v]["intra"]["rsum"] for g in measured for v in measured[g]]},
        "test RSum", "Table 3 ablation: test RSum")
    lines = analysis_header("Ablation (paper 3.4, Table 3)", setup, runs) + [
        "Six models: the mask transformer without and with phrase nodes (`model.use_phrases`),",
        "each trained with L1 only (MT+GM: lambda2 = lambda3 = 0), L1 + L2 (+LM: lambda3 = 0)",
        "and L1 + L2 + L3 (+PM). Phase 1 (L0) is shared by the three settings of a group, so",
        "their stage-1 (intra) numbers are identical; the settings differ in the phase-2",
        "inter encoder and so in the Eq. 5 re-ranked numbers (R@K columns, RSum).", "",
        rep.md_table(header, rows), "", "![ablation](ablation.png)", ""]
    return _finish(out, lines, {"analysis": "ablation", "measured": measured,
                                "paper_table3": {f"{g}/{v}": list(p) for (g, v), p in rep.PAPER_TABLE3.items()}})


def analysis_header(title: str, setup: TrainSetup, runs: Path | None) -> list[str]:
    """The first lines of an analysis report: data, config, fingerprints, run folders."""
    sets = " ".join(f"--set {s}" for s in setup.overrides)
    lines = [f"# {title}", "", f"Data: `{setup.data_dir}` (test split, whole split as in the "
             f"Flickr30K protocol). Config: `{setup.config}` {sets}".rstrip() + ".", "",
             (f"Data fingerprints: train `{data_fingerprint(setup.data_dir, 'train')}`, test "
              f"`{data_fingerprint(setup.data_dir, 'test')}` (ssamt.data.fingerprint)."), ""]
    if runs is not None:
        lines += [f"Run folders: `{runs}`.", ""]
    if setup.test_images:
        lines += [f"**Smoke run: test recall on the first {setup.test_images} test images only.**", ""]
    return lines


def _finish(out: Path, lines: list[str], results: dict[str, Any]) -> dict[str, Any]:
    write_text(out / "report.md", "\n".join(lines))
    write_json(out / "results.json", results)
    return results


def run_data_fraction(setup: TrainSetup, out: Path, runs: Path, fractions, subset_seed: int = 0,
                      variants=("gm", "lm", "pm"), full=None) -> dict[str, Any]:
    """Table 5: test RSum of SSAMT w/o PM&LM, w/o PM and full at fractions of the train images.
    `full`: (train, dev, vocab) of all training data when already loaded."""

    full = full or load_training_data(setup)
    measured: dict[str, dict[str, Any]] = {}
    sizes = {}
    for f in fractions:
        data = data_for_fraction(setup, full, f, subset_seed)
        sizes[f] = (data[0].num_images, data[0].num_captions, len(data[2]))
        measured[str(f)] = train_group(setup, runs, True, variants, data, f)
    header = ["model", *(f"{f:.0%}" for f in fractions)]
    rows = [[rep.FRACTION_NAMES[v], *(rep.fmt(_final(measured[str(f)][v])["rsum"]) for f in fractions)]
            for v in variants]
    paper = [[f"paper: {rep.FRACTION_NAMES[v]}", *(rep.fmt(rep.PAPER_TABLE5[v].get(f)) for f in fractions)]
             for v in variants]
    size_rows = [["train images / captions / vocabulary",
                  *(f"{a} / {b} / {c}" for a, b, c in (sizes[f] for f in fractions))]]
    rep.line_plot(out / "data-fraction.png", list(fractions),
                  {rep.FRACTION_NAMES[v]: [_final(measured[str(f)][v])["rsum"] for f in fractions]
                   for v in variants}, "fraction of training images", "test RSum",
                  "Table 5: test RSum against training data")
    lines = analysis_header("Training-data fraction (paper 4.2, Table 5)", setup, runs) + [
        f"Random subsets of the training images (seed {subset_seed}, nested), each with all its",
        "captions; the vocabulary is rebuilt from the subset. RSum of the Eq. 5 re-ranked test",
        "ranking. Paper numbers: Flickr30K test RSum (\"–\": not legible in our copy).", "",
        rep.md_table(header, rows + size_rows), "", "Paper:", "", rep.md_table(header, paper), "",
        "![data fraction](data-fraction.png)", ""]
    return _finish(out, lines, {"analysis": "data-fraction", "fractions": list(fractions),
                                "subset_seed": subset_seed, "sizes": {str(f): s for f, s in sizes.items()},
                                "measured": measured})


def train_pm_models(setup: TrainSetup, runs: Path, data=None) -> dict[str, Path]:
    """SSAMT and SSAMT w/o PM (the +PM and +LM runs of the phrases group)."""
    train_group(setup, runs, True, ("lm", "pm"), data or load_training_data(setup))
    group = runs / group_name(True)
    return {"pm": group / "pm", "lm": group / "lm"}


def measure_pm_accuracy(checkpoint: Path, data_dir: str, split: str, seed: int, max_pairs: int,
                        device: str) -> dict[str, Any]:
    """Table 4 accuracies of one checkpoint on one split."""
    run = load_run(checkpoint, device)
    model, vocab = run.model, run.vocab
    split_obj = open_split(data_dir, split)
    check_data_fits(model.config, split_obj, run.path)
    note_phase1(run.phase, run.path, "its global, local and phrase scores below are those "
                                       "of an untrained encoder")
    store = labels_for_split(data_dir, split)
    warn_oov(oov_rate(store.graphs, vocab), run.path, f"{data_dir} ({split})")
    texts = TextTable(store.graphs, vocab, max_tokens=run.max_tokens)
    res = pm_accuracy(model, ImageTable(split_obj), texts, split_obj.caption_image, store,
                      seed=seed, max_pairs=max_pairs, device=device)
    return {"checkpoint": str(checkpoint), "split": split, **res}


def per_type_markdown(measured: dict[str, dict[str, Any]]) -> str:
    """Per part type: phrase accuracy, pairs counted and within-type AUC of each model."""
    names = {"pm": "SSAMT", "lm": "SSAMT w/o PM"}
    header = ["part type", *(f"{names[n]} {what} ({d})" for n in measured
                             for what in ("accuracy", "AUC") for d in ("i2t", "t2i"))]
    rows = []
    for t in PART_TYPE_NAMES:
        cells = []
        for n in measured:
            acc = measured[n]["accuracy"]
            cells += [f"{rep.fmt(acc[f'phrase, {t} parts ({d})'])}% "
                      f"(n={acc[f'phrase pairs counted, {t} ({d})']})" for d in ("i2t", "t2i")]
            cells += [f"{rep.fmt(acc[f'within-type AUC, {t} ({d})'])}%" for d in ("i2t", "t2i")]
        rows.append([t, *cells])
    return rep.md_table(header, rows)


def run_pm_accuracy(models: dict[str, Path | None], setup: TrainSetup, out: Path, *,
                    split: str = "test", seed: int = 0, max_pairs: int = 0) -> dict[str, Any]:
    """Table 4 for SSAMT ("pm") and, when given, SSAMT w/o PM ("lm")."""
    measured = {name: measure_pm_accuracy(path, setup.data_dir, split, seed, max_pairs, setup.device)
                for name, path in models.items() if path is not None}
    keys = list(next(iter(measured.values()))["accuracy"])
    main_keys = [k for k in keys if k.startswith(("global (s_G)", "local (s_P", "phrase (Eq"))]
    typed = ("phrase, ", "within-type AUC")
    extra_keys = [k for k in keys if k not in main_keys and "counted" not in k
                  and not k.startswith(typed)]

    def row(key: str) -> list[str]:
        short = key.split(" (")[0] + " (" + key.rsplit("(", 1)[1]
        paper = rep.PAPER_TABLE4.get(short, (None, None))
        cells = [rep.fmt(measured[n]["accuracy"][key]) + "%" if n in measured else "–"
                 for n in ("pm", "lm")]
        return [key, *cells, rep.fmt(paper[0]), rep.fmt(paper[1])]

    header = ["matching score", "SSAMT", "SSAMT w/o PM", "paper SSAMT", "paper w/o PM"]
    rep.bar_plot(out / "pm-accuracy.png", [k.replace(" (s_G)", "").replace(" (s_P+s_R)", "")
                                           .replace(" (Eq. 3)", "") for k in main_keys],
                 {("SSAMT" if n == "pm" else "SSAMT w/o PM"): [measured[n]["accuracy"][k] for k in main_keys]
                  for n in measured}, "accuracy (%)", "Table 4: positive vs negative pair accuracy")
    counted = {n: {d: m["accuracy"][f"phrase pairs counted ({d})"] for d in ("i2t", "t2i")}
               for n, m in measured.items()}
    lines = analysis_header("Matching-score accuracy (paper 4.1, Table 4)", setup, None) + [
        f"Split `{split}`, {next(iter(measured.values()))['pairs']} positive pairs, negatives drawn "
        f"with seed {seed}. Checkpoints: " + ", ".join(f"`{m['checkpoint']}`" for m in measured.values())
        + ".", "", rep.md_table(header, [row(k) for k in main_keys]), "",
        "Further scores (no paper counterpart):", "",
        rep.md_table(header[:3], [row(k)[:3] for k in extra_keys]), "",
        f"Negative pairs counted by the phrase classifier (both H+ and H- non-empty): {counted}.", "",
        ("Phrase matching within one part type (a classifier that scores each type at its own "
         "level gets 50% here; see Definitions):"), "", per_type_markdown(measured), "",
        "![accuracy](pm-accuracy.png)", "", "## Definitions", "", "```text", definitions.strip(), "```", ""]
    return _finish(out, lines, {"analysis": "pm-accuracy", "measured": measured,
                                "paper_table4": {k: list(v) for k, v in rep.PAPER_TABLE4.items()}})
