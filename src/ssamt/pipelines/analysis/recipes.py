"""The paper's phase-2 recipe and ssamt's side by side (`ssamt analyze recipes`): both trained
from the same phase 1, for several seeds, on the same data, and measured the same way.

    RUNS/seed<s>/phase1/   phase 1 with seed s, shared by both recipes
    RUNS/seed<s>/paper/    phase 2, the paper as written (docs/RECIPES.md)
    RUNS/seed<s>/ssamt/    phase 2, ssamt's recipe

Per run: test R@K of stage 1 (the dual encoder) and of the Eq. 5 re-ranking with the run's
own weights (the paper's fixed ones, or those ssamt chose on dev); Table 4's accuracies;
on synthetic data the minimal pairs (on each swap type Eq. 5's accuracy minus the dual
encoder's, and the share of edited captions whose named part touches the edit); and the
seconds per phase-2 update. The report gives the mean and spread over the seeds, since
these figures move by a few RSum between seeds and machines.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

from ssamt.data.synth.minimal import minimal_paths
from ssamt.fileio import write_json, write_text
from ssamt.pipelines.analysis import report as rep
from ssamt.pipelines.analysis.drivers import analysis_header, measure_pm_accuracy
from ssamt.pipelines.analysis.minimal_run import load_inputs, measure_with_chance
from ssamt.pipelines.analysis.trainings import (
    TrainSetup,
    ensure_phase1,
    ensure_phase2,
    load_training_data,
    run_config,
)
from ssamt.train.logging import read_metrics
from ssamt.train.trained_run import load_run

RECIPE_RUNS = ("paper", "ssamt")
SWAPS = ("swap-attribute", "swap-role", "image-swap-attribute", "image-swap-action")
NAMES = {"paper": "paper recipe", "ssamt": "ssamt recipe"}


def recipe_config(setup: TrainSetup, seed: int, recipe: str | None):
    """The TrainConfig of phase 1 (recipe None: the base config's) or of one recipe's
    phase 2, with `seed`."""
    extra = [f"seed={seed}"] + ([] if recipe is None else [f"recipe={recipe}"])
    return run_config(setup, True, None, extra)


def seconds_per_update(run_dir: Path) -> float:
    """The median time of the logged phase-2 updates (the engine's update_s)."""
    times = [r["update_s"] for r in read_metrics(run_dir)
             if r.get("kind") == "train" and r.get("phase") == "phase2" and "update_s" in r]
    return statistics.median(times) if times else float("nan")


def measure_run(run_dir: Path, setup: TrainSetup, test: dict[str, Any],
                minimal_inputs: Any) -> dict[str, Any]:
    """Every figure of one run (module docstring)."""
    table4 = measure_pm_accuracy(run_dir, setup.data_dir, "test", 0, 0, setup.device)["accuracy"]
    out = {"stage1_rsum": test["intra"]["rsum"],
           "reranked_rsum": test.get("reranked", test["intra"])["rsum"],
           "mu1": test.get("mu1"), "mu2": test.get("mu2"),
           "seconds_per_update": seconds_per_update(run_dir),
           **{key: table4[key] for key in TABLE4_KEYS}}
    out["rerank_gain"] = out["reranked_rsum"] - out["stage1_rsum"]
    if minimal_inputs is not None:
        by_edit, _ = measure_with_chance(load_run(run_dir, setup.device), minimal_inputs,
                                         device=setup.device)
        for edit in SWAPS:
            if edit in by_edit:
                out[f"{edit}: Eq. 5 - dual"] = by_edit[edit]["eq5"] - by_edit[edit]["intra"]
        total = sum(r["n"] for r in by_edit.values())
        out["localized"] = sum(r["localized"] * r["n"] for r in by_edit.values()) / max(total, 1)
    return out


TABLE4_KEYS = ("global (s_G) (i2t)", "global (s_G) (t2i)", "local (s_P+s_R) (i2t)",
               "local (s_P+s_R) (t2i)", "phrase (Eq. 3) (i2t)", "phrase (Eq. 3) (t2i)")
ROWS = (("stage1_rsum", "test RSum, stage 1 (dual encoder)"),
        ("reranked_rsum", "test RSum, re-ranked with Eq. 5"),
        ("rerank_gain", "re-ranking gain (RSum)"),
        *((key, f"Table 4: {key}, %") for key in TABLE4_KEYS),
        *((f"{edit}: Eq. 5 - dual", f"minimal pairs, {edit}: Eq. 5 - dual encoder (points)")
          for edit in SWAPS),
        ("localized", "minimal pairs: named part touches the edit, %"),
        ("seconds_per_update", "seconds per phase-2 update"))


def spread(values: list[float]) -> dict[str, float]:
    """Mean, sample standard deviation (0 for one value), min and max."""
    return {"mean": statistics.fmean(values),
            "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "n": len(values)}


def summarize(per_seed: dict[int, dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """{recipe: {figure: spread}} over the seeds, plus "ssamt - paper" per seed."""
    out: dict[str, dict[str, Any]] = {}
    for recipe in (*RECIPE_RUNS, "ssamt - paper"):
        figures: dict[str, list[float]] = {}
        for runs in per_seed.values():
            for key, _ in ROWS:
                if recipe == "ssamt - paper":
                    value = (runs["ssamt"].get(key, float("nan"))
                             - runs["paper"].get(key, float("nan")))
                else:
                    value = runs[recipe].get(key, float("nan"))
                if not math.isnan(value):
                    figures.setdefault(key, []).append(float(value))
        out[recipe] = {key: spread(values) for key, values in figures.items()}
    return out


def _cell(stats: dict[str, float] | None, digits: int = 1) -> str:
    if stats is None:
        return "–"
    return f"{stats['mean']:.{digits}f} ± {stats['sd']:.{digits}f}"


def recipe_table(summary: dict[str, dict[str, Any]]) -> str:
    """Markdown: one row per figure, mean ± sd of each recipe and of their difference."""
    rows = []
    for key, label in ROWS:
        if not any(key in summary[r] for r in summary):
            continue
        digits = 3 if key == "seconds_per_update" else 1
        rows.append([label, *(_cell(summary[r].get(key), digits) for r in
                              (*RECIPE_RUNS, "ssamt - paper"))])
    return rep.md_table(["figure", "paper recipe", "ssamt recipe", "ssamt - paper"], rows)


def weights_line(per_seed: dict[int, dict[str, dict[str, Any]]]) -> str:
    """Eq. 5's weights each run ranked with, seed by seed."""
    parts = [f"{NAMES[r]}: " + ", ".join(
        f"seed {s} mu1={runs[r]['mu1']:g} mu2={runs[r]['mu2']:g}" for s, runs in per_seed.items())
        for r in RECIPE_RUNS]
    return "Eq. 5's weights: " + "; ".join(parts) + "."


def run_recipes(setup: TrainSetup, out: Path, runs: Path, seeds: tuple[int, ...] = (0, 1, 2),
                data=None) -> dict[str, Any]:
    """Train (or reuse) every run, measure each, write OUT/report.md, results.json and
    recipes.png; returns the results."""
    data = data or load_training_data(setup)
    has_pairs = minimal_paths(setup.data_dir, "test")["pairs"].is_file()
    minimal = load_inputs(setup.data_dir, "test") if has_pairs else None
    per_seed: dict[int, dict[str, dict[str, Any]]] = {}
    for seed in seeds:
        group = runs / f"seed{seed}"
        ensure_phase1(recipe_config(setup, seed, None), *data, group / "phase1", setup)
        per_seed[seed] = {}
        for recipe in RECIPE_RUNS:
            cfg = recipe_config(setup, seed, recipe)
            test = ensure_phase2(cfg, *data, group / "phase1", group / recipe, setup)
            per_seed[seed][recipe] = measure_run(group / recipe, setup, test, minimal)
            print(f"[analyze] seed {seed} {recipe}: test RSum "
                  f"{per_seed[seed][recipe]['reranked_rsum']:.1f}", flush=True)
    summary = summarize(per_seed)
    rep.bar_plot(out / "recipes.png", [f"seed {s}" for s in seeds],
                 {NAMES[r]: [per_seed[s][r]["reranked_rsum"] for s in seeds]
                  for r in RECIPE_RUNS}, "test RSum (re-ranked)",
                 "the paper's phase 2 and ssamt's, same phase 1")
    lines = analysis_header("The paper's recipe and ssamt's, side by side", setup, runs) + [
        (f"Both phase-2 recipes from the same phase 1, seeds {', '.join(map(str, seeds))}; "
         "mean ± sample standard deviation over the seeds (per-seed figures in results.json). "
         "Each recipe ranks with its own Eq. 5 weights: the paper's fixed ones "
         "(loss.mu1 / mu2), ssamt's chosen on dev."), "",
        recipe_table(summary), "", weights_line(per_seed), "", "![recipes](recipes.png)", ""]
    results = {"analysis": "recipes", "seeds": list(seeds), "per_seed": per_seed,
               "summary": summary}
    write_text(out / "report.md", "\n".join(lines))
    write_json(out / "results.json", results)
    return results
