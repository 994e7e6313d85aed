"""The minimal-pair report: report.md, minimal-pairs.png, results.json.

    run_minimal_pairs({"pm": RUN, "lm": RUN2}, data_dir, out)

results.json is SSAMT's {edit type: {"intra", "inter_global", "local", "eq5", "localized", "n"}}
(accuracies and localized in percent), results_wo_pm.json the same for SSAMT w/o PM when
given, recall.json the standard and scene-truth R@K of each model, blind.json the text-only
baseline of each text-side edit type.
`minimal_pair_table(results)` is the markdown table the quick-start report shows beside R@K.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ssamt.data.precomp import open_split
from ssamt.data.synth.minimal import minimal_paths, need_minimal_file
from ssamt.fileio import write_json, write_text
from ssamt.pipelines.analysis import report as rep
from ssamt.pipelines.analysis.minimal_pairs import SCORES
from ssamt.pipelines.analysis.minimal_pairs import __doc__ as definitions
from ssamt.pipelines.analysis.minimal_run import (
    blind_by_edit,
    load_inputs,
    measure_with_chance,
    scene_truth_recalls,
    training_language_model,
)
from ssamt.retrieval.metrics import METRIC_KEYS
from ssamt.train.compat import check_data_fits
from ssamt.train.trained_run import Run, load_run

MODEL_NAMES = {"pm": "SSAMT", "lm": "SSAMT w/o PM"}
_HEADER = {"intra": "dual (s_A)", "inter_global": "s_G", "local": "s_P+s_R", "eq5": "Eq. 5"}


def minimal_pair_table(results: dict[str, dict[str, float]],
                       wo_pm: dict[str, dict[str, float]] | None = None,
                       chance: dict[str, float] | None = None,
                       blind: dict[str, float] | None = None) -> str:
    """Markdown: one row per edit type with its count, the accuracy (%) of each score and
    the localized share; with `blind`, the text-only baseline's accuracy beside the scores;
    with `wo_pm`, its Eq. 5 accuracy and localized share beside them; with `chance`, the
    localized share of a part picked at random."""
    header = ["edit", "n", *(_HEADER[k] for k in SCORES)]
    if blind is not None:
        header.append("blind (text only)")
    header.append("localized")
    if wo_pm is not None:
        header += ["Eq. 5 w/o PM", "localized w/o PM"]
    if chance is not None:
        header.append("localized by chance")
    rows = []
    for edit, r in results.items():
        row = [edit, str(r["n"]), *(rep.fmt(r[k]) for k in SCORES)]
        if blind is not None:
            row.append(rep.fmt(blind.get(edit)))
        row.append(rep.fmt(r["localized"]))
        if wo_pm is not None:
            other = wo_pm.get(edit, {})
            row += [rep.fmt(other.get("eq5")), rep.fmt(other.get("localized"))]
        if chance is not None:
            row.append(rep.fmt(chance.get(edit)))
        rows.append(row)
    return rep.md_table(header, rows)


def recall_table(recalls: dict[str, dict[str, Any]]) -> str:
    """Markdown: standard and scene-truth R@K of each model's dual encoder and Eq. 5."""
    header = ["model, ranking, correct when", *METRIC_KEYS]
    rows = []
    for name, rec in recalls.items():
        for ranking, label in (("intra", "dual encoder"), ("reranked", f"Eq. 5 top-{rec['k']}")):
            for kind, when in (("standard", "own caption"), ("scene_truth", "true by scene")):
                m = rec[kind][ranking]
                rows.append([f"{name}, {label}, {when}", *(rep.fmt(m[k]) for k in METRIC_KEYS)])
    return rep.md_table(header, rows)


def _plot(out: Path, measured: dict[str, dict[str, dict[str, float]]]) -> None:
    edits = list(next(iter(measured.values())))
    series = {"dual encoder (s_A)": [measured["pm"][e]["intra"] for e in edits]}
    for key, res in measured.items():
        series[f"{MODEL_NAMES[key]} Eq. 5"] = [res.get(e, {}).get("eq5", float("nan"))
                                               for e in edits]
    rep.bar_plot(out / "minimal-pairs.png", edits, series, "pairwise accuracy (%)",
                 "Minimal pairs: true vs edited caption (image)")


def run_minimal_pairs(models: dict[str, Path | None], data_dir: str | Path, out: str | Path, *,
                      split: str = "test", rerank_k: int = 10, device: str = "cpu",
                      batch_size: int = 128, max_images: int = 0,
                      progress: bool = False, part_levels: bool = True) -> dict[str, Any]:
    """Measure each given model ("pm" required, "lm" optional), write the report folder;
    part_levels as minimal_run.measure_with_chance. Every model is loaded and checked
    against the split (ssamt.train.compat.check_data_fits) before any caption is parsed."""
    out = Path(out)
    runs = _fitting_runs(models, data_dir, split, device)
    out.mkdir(parents=True, exist_ok=True)
    inputs = load_inputs(data_dir, split, max_images=max_images, progress=progress)
    lm = training_language_model(data_dir)
    blind = None if lm is None else blind_by_edit(inputs, lm)
    measured, recalls, chance, weights = {}, {}, {}, {}
    for key, run in runs.items():
        weights[key] = run.describe_eq5()
        measured[key], chance[key] = measure_with_chance(run, inputs, batch_size=batch_size,
                                                         device=device, part_levels=part_levels)
        rec = scene_truth_recalls(run, data_dir, split, rerank_k, device=device)
        if rec is not None:
            recalls[MODEL_NAMES[key]] = rec
    write_json(out / "results.json", measured["pm"])
    if "lm" in measured:
        write_json(out / "results_wo_pm.json", measured["lm"])
    write_json(out / "recall.json", recalls)
    if blind is not None:
        write_json(out / "blind.json", blind)
    _plot(out, measured)
    lines = _report_lines(models, data_dir, split, measured, chance, recalls,
                          len(inputs.records), weights, part_levels, blind)
    lines += ["## Definitions", "", "```text", definitions.strip(), "```", ""]
    write_text(out / "report.md", "\n".join(lines))
    return {"results": measured, "recall": recalls}


def _fitting_runs(models: dict[str, Path | None], data_dir: str | Path, split: str,
                  device: str) -> dict[str, Run]:
    """The given models, loaded, each refused (one line naming the data file) when the
    split's features or boxes cannot feed it. A folder without minimal pairs is told so
    first: that is what it lacks, whatever its features."""
    need_minimal_file(minimal_paths(data_dir, split)["pairs"])
    features = open_split(data_dir, split)
    runs = {key: load_run(path, device) for key, path in models.items() if path is not None}
    for run in runs.values():
        check_data_fits(run.model.config, features, run.path)
    return runs


def _report_lines(models, data_dir, split, measured, chance, recalls, n: int,
                  weights: dict[str, str], part_levels: bool = True,
                  blind: dict[str, float] | None = None) -> list[str]:
    runs = ", ".join(f"{MODEL_NAMES[k]} `{p}` ({weights[k]})"
                     for k, p in models.items() if p is not None)
    lines = ["# Minimal pairs: binding, roles and what the model names", "",
             f"Data: `{data_dir}`, split `{split}`, {n} minimal pairs. Runs: {runs}.", "",
             ("Pairwise accuracy (%): the true caption (image) scores above the edited one; "
              "localized (%): the part the explain verdict names in the edited pair touches "
              "the edit (" + ("parts judged against their type and their own level"
                              if part_levels else "parts judged against their type alone, "
                              "--no-part-levels") + "). Edit types "
              "with \"swap\" keep the bag of words. Blind (text only): how often a language "
              "model of the training captions, with no image, prefers the true caption "
              "(ssamt.pipelines.analysis.blind)."), "",
             minimal_pair_table(measured["pm"], measured.get("lm"), chance["pm"], blind), ""]
    if "lm" in measured:
        lines += ["SSAMT w/o PM, every score:", "",
                  minimal_pair_table(measured["lm"], chance=chance["lm"]), ""]
    lines += ["![minimal pairs](minimal-pairs.png)", ""]
    if recalls:
        lines += ["## Recall: standard and scene truth", "",
                  ("Scene truth counts a result correct when the caption is true of the image "
                   "(ssamt.retrieval.scene_truth)."), "", recall_table(recalls), ""]
    return lines
