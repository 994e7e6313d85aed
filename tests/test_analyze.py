"""`ssamt analyze`: the Table 4 classifiers against hand computations, the Table 5 subsets,
and each subcommand's report on the tiny synthetic set (a few updates per run)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ssamt.pipelines.analysis.pm_accuracy import (
    accuracy_table,
    auc,
    pairwise_accuracy,
    per_type_table,
    phrase_accuracy,
    sample_test_negatives,
)
from ssamt.pipelines.analysis.trainings import subset_captions, subset_images

# Runs of a few updates on tiny models: the report machinery, not the numbers.
FAST = ["model.d_model=16", "model.d_ffn=32", "model.n_heads=2",
        "phase1.max_steps=2", "phase1.warmup_steps=1", "phase1.token_budget=1024",
        "phase2.max_steps=1", "phase2.warmup_steps=1", "phase2.token_budget=512",
        "eval.every_epochs=0", "eval.rerank_k=1", "loss.negatives_m=2"]


# ----- Table 4 classifiers on fake scores ------------------------------------------------


def test_pairwise_accuracy_by_hand():
    pos = np.array([0.9, 0.2, 0.5, 0.4])
    neg = np.array([0.1, 0.3, 0.5, 0.0])
    # right, wrong, tie (1/2), right -> 2.5 / 4
    assert pairwise_accuracy(pos, neg) == pytest.approx(62.5)
    assert np.isnan(pairwise_accuracy(np.array([]), np.array([])))


def test_phrase_accuracy_skips_pairs_without_both_sets():
    matched = np.array([0.8, 0.1, 0.6, 0.9, 0.2])
    mismatched = np.array([0.2, 0.4, 0.1, 0.0, 0.1])
    valid = np.array([True, True, True, False, True])
    acc, n = phrase_accuracy(matched, mismatched, valid)
    assert n == 4
    assert acc == pytest.approx(75.0)  # rows 0, 2, 4 right; row 1 wrong; row 3 not counted


def test_auc_against_all_pairs_loop():
    rng = np.random.default_rng(0)
    pos, neg = rng.integers(0, 5, 30).astype(float), rng.integers(0, 5, 20).astype(float)
    loop = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg]) * 100
    assert auc(pos, neg) == pytest.approx(loop)
    assert np.isnan(auc(pos, np.array([])))


def test_per_type_table_by_hand():
    # Two negative pairs; types object, attribute, relation, word (columns).
    scores = {
        "pm_type_pos": np.array([[0.9, 0.0, 0.0, 0.2], [0.1, 0.5, 0.0, 0.3]]),
        "pm_type_neg": np.array([[0.1, 0.4, 0.3, 0.4], [0.6, 0.2, 0.0, 0.1]]),
        "pm_type_valid": np.array([[True, False, False, True], [True, True, False, True]]),
        "part_cos": np.array([0.9, 0.1, 0.4, 0.1, 0.6, 0.5, 0.2]),
        "part_type": np.array([1, 1, 2, 1, 1, 2, 2]),
        "part_matched": np.array([True, False, False, True, False, True, False]),
    }
    t = per_type_table(scores, "i2t")
    assert t["phrase, object parts (i2t)"] == 50.0  # pair 0 right, pair 1 wrong
    assert t["phrase pairs counted, object (i2t)"] == 2
    assert t["phrase, attribute parts (i2t)"] == 100.0 and t["phrase pairs counted, attribute (i2t)"] == 1
    assert np.isnan(t["phrase, relation parts (i2t)"])
    # objects: matched {0.9, 0.1} vs mismatched {0.1, 0.6}: 0.9 beats both, 0.1 ties one -> 2.5/4
    assert t["within-type AUC, object (i2t)"] == pytest.approx(62.5)
    assert t["within-type AUC, attribute (i2t)"] == pytest.approx(100.0)  # 0.5 vs {0.4, 0.2}


def test_accuracy_table_by_hand():
    def scores(s_g, s_p, s_r, pm_pos=(0.0, 0.0), pm_neg=(0.0, 0.0), valid=(False, False)):
        return {"s_A": np.array(s_g), "s_G": np.array(s_g), "s_P": np.array(s_p),
                "s_R": np.array(s_r), "pm_pos": np.array(pm_pos), "pm_neg": np.array(pm_neg),
                "pm_valid": np.array(valid)}

    pos = scores([0.5, 0.5], [0.3, 0.1], [0.3, 0.1])
    neg_txt = scores([0.4, 0.6], [0.2, 0.0], [0.5, 0.1], [0.7, 0.2], [0.1, 0.3], [True, True])
    neg_img = scores([0.1, 0.1], [0.9, 0.9], [0.0, 0.0], [0.5, 0.5], [0.1, 0.1], [True, False])
    acc = accuracy_table(pos, neg_txt, neg_img)
    assert acc["global (s_G) (i2t)"] == 50.0          # 0.5>0.4 right, 0.5<0.6 wrong
    assert acc["local (s_P+s_R) (i2t)"] == 50.0      # 0.6 vs 0.7 wrong, 0.2 vs 0.1 right
    assert acc["phrase (Eq. 3) (i2t)"] == 50.0       # 0.7>0.1 right, 0.2<0.3 wrong
    assert acc["phrase pairs counted (i2t)"] == 2
    assert acc["global (s_G) (t2i)"] == 100.0
    assert acc["local (s_P+s_R) (t2i)"] == 0.0
    assert acc["phrase (Eq. 3) (t2i)"] == 100.0
    assert acc["phrase pairs counted (t2i)"] == 1
    assert acc["local s_R only (i2t)"] == 25.0       # 0.3<0.5 wrong, 0.1=0.1 tie


def test_test_negatives_come_from_other_images_and_are_seeded():
    c2i = np.repeat(np.arange(6), 3)
    neg_cap, neg_img = sample_test_negatives(c2i, 6, seed=3)
    assert (c2i[neg_cap] != c2i).all() and (neg_img != c2i).all()
    again = sample_test_negatives(c2i, 6, seed=3)
    assert (again[0] == neg_cap).all() and (again[1] == neg_img).all()


# ----- Table 5 subsets -------------------------------------------------------------------


def test_subset_is_seeded_nested_and_sized():
    a = subset_images(200, 0.25, seed=0)
    assert len(a) == 50 and (np.diff(a) > 0).all()
    assert (subset_images(200, 0.25, seed=0) == a).all()
    assert set(a) <= set(subset_images(200, 0.5, seed=0))
    assert not (subset_images(200, 0.25, seed=1) == a).all()
    assert (subset_images(10, 1.0) == np.arange(10)).all()


def test_subset_keeps_whole_images_with_all_captions():
    c2i = np.repeat(np.arange(8), 5)
    keep = np.array([1, 4, 6])
    rows, new_c2i = subset_captions(c2i, keep)
    assert rows.tolist() == [5, 6, 7, 8, 9, 20, 21, 22, 23, 24, 30, 31, 32, 33, 34]
    assert new_c2i.tolist() == [0] * 5 + [1] * 5 + [2] * 5
    assert (keep[new_c2i] == c2i[rows]).all()


# ----- the subcommands on tiny -------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from ssamt.pipelines.quickstart import prepare_data

    root = tmp_path_factory.mktemp("analyze")
    return prepare_data(root, "tiny", 0, False), root / "runs"


def _analyze(data, runs, out, *args) -> dict:
    from ssamt.cli import main

    sets = [x for item in FAST for x in ("--set", item)]
    assert main(["analyze", *args, "--data", str(data), "--out", str(out), "--runs", str(runs),
                 "--quiet", "--test-images", "20", *sets]) == 0
    assert (out / "report.md").is_file()
    return json.loads((out / "results.json").read_text())


def _table_rows(report: str, first_cell: str) -> list[list[str]]:
    return [line.strip("|").split("|") for line in report.splitlines()
            if line.startswith(f"| {first_cell}")]


def test_pm_accuracy_report(tiny, tmp_path):
    data, runs = tiny
    res = _analyze(data, runs, tmp_path / "pm", "pm-accuracy", "--train", "--max-pairs", "60")
    assert set(res["measured"]) == {"pm", "lm"}
    report = (tmp_path / "pm" / "report.md").read_text()
    rows = [r for r in _table_rows(report, "") if r[0].strip().startswith(("global", "local (", "phrase"))]
    assert len(rows) == 6 and all(len(r) == 5 for r in rows)  # 6 scores x (2 measured + 2 paper)
    assert (tmp_path / "pm" / "pm-accuracy.png").stat().st_size > 0
    again = _analyze(data, runs, tmp_path / "pm2", "pm-accuracy", "--checkpoint",
                     str(runs / "phrases" / "pm"), "--max-pairs", "60")
    assert again["measured"]["pm"]["accuracy"] == res["measured"]["pm"]["accuracy"]


def test_ablation_report(tiny, tmp_path):
    data, runs = tiny
    res = _analyze(data, runs, tmp_path / "abl", "ablation")
    assert {g: sorted(v) for g, v in res["measured"].items()} == {
        "no-phrases": ["gm", "lm", "pm"], "phrases": ["gm", "lm", "pm"]}
    rows = _table_rows((tmp_path / "abl" / "report.md").read_text(), "mask transformer")
    assert len(rows) == 6 and all(len(r) == 11 for r in rows)  # 6 recalls, RSum, stage 1, paper
    intra = {g: {v: r["intra"]["rsum"] for v, r in by.items()} for g, by in res["measured"].items()}
    assert all(len(set(v.values())) == 1 for v in intra.values())  # phase 1 shared in a group
    assert (tmp_path / "abl" / "ablation.png").is_file()


def test_data_fraction_report(tiny, tmp_path):
    data, runs = tiny
    res = _analyze(data, runs, tmp_path / "df", "data-fraction", "--fractions", "1.0", "0.5")
    assert res["sizes"]["0.5"][:2] == [100, 500] and res["sizes"]["1.0"][:2] == [200, 1000]
    report = (tmp_path / "df" / "report.md").read_text()
    rows = _table_rows(report, "SSAMT")
    assert len(rows) == 3 and all(len(r) == 3 for r in rows)  # 3 models x (100%, 50%)
    assert (runs / "phrases-frac0.50" / "pm" / "test.json").is_file()
    assert (tmp_path / "df" / "data-fraction.png").is_file()


def test_finished_runs_are_skipped_and_configs_checked(tiny, tmp_path):
    from ssamt.cli import main

    data, runs = tiny
    _analyze(data, runs, tmp_path / "pm", "pm-accuracy", "--train", "--max-pairs", "20")
    stamp = (runs / "phrases" / "pm" / "test.json").stat().st_mtime_ns
    _analyze(data, runs, tmp_path / "pm", "pm-accuracy", "--train", "--max-pairs", "20")
    assert (runs / "phrases" / "pm" / "test.json").stat().st_mtime_ns == stamp
    sets = [x for item in [*FAST, "phase2.lr=5e-4"] for x in ("--set", item)]
    code = main(["analyze", "pm-accuracy", "--train", "--data", str(data), "--out",
                 str(tmp_path / "x"), "--runs", str(runs), "--quiet", *sets])
    assert code == 2  # another config in the same run folders: refused, not mixed


def test_plan_jobs_covers_the_three_analyses():
    from ssamt.pipelines.analysis.parallel import plan_jobs

    intra, inter = plan_jobs([0.5, 1.0, 0.5])
    assert [j.name for j in intra] == ["no-phrases/phase1", "phrases/phase1",
                                       "phrases-frac0.50/phase1"]
    assert len(inter) == 9 and len({j.name for j in inter}) == 9
    assert {j.name for j in inter} >= {"phrases/pm", "phrases/lm", "no-phrases/gm",
                                       "phrases-frac0.50/gm"}


def test_analyze_all_trains_in_parallel_processes_and_writes_three_reports(tiny, tmp_path):
    from ssamt.cli import main

    data, _ = tiny
    runs, out = tmp_path / "runs", tmp_path / "all"
    sets = [x for item in FAST for x in ("--set", item)]
    assert main(["analyze", "all", "--jobs", "2", "--fractions", "1.0", "0.5", "--data", str(data),
                 "--out", str(out), "--runs", str(runs), "--quiet", "--test-images", "20",
                 "--max-pairs", "40", *sets]) == 0
    for name in ("ablation", "pm-accuracy", "data-fraction"):
        assert (out / name / "report.md").is_file() and (out / name / "results.json").is_file()
    tested = sorted(str(p.parent.relative_to(runs)) for p in runs.glob("*/*/test.json"))
    assert len(tested) == 9 and "phrases-frac0.50/pm" in tested
    assert len(list((runs / "logs").glob("*.log"))) == 12  # one per job, the workers' output
    frac = json.loads((out / "data-fraction" / "results.json").read_text())
    cached = json.loads((runs / "phrases-frac0.50" / "lm" / "test.json").read_text())
    assert frac["measured"]["0.5"]["lm"] == cached  # the report reads the parallel runs


def test_analyze_all_refuses_zero_jobs(tiny, tmp_path, capsys):
    from ssamt.cli import main

    data, _ = tiny
    assert main(["analyze", "all", "--jobs", "0", "--data", str(data), "--out",
                 str(tmp_path / "x"), "--quiet"]) == 2
    assert "--jobs must be >= 1" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()  # refused before any training or writing


def test_a_run_folder_s_config_is_read_as_a_stored_config(tmp_path):
    """A config.yaml written before a key no code read was removed still matches."""
    import yaml

    from ssamt.errors import SsamtError
    from ssamt.pipelines.analysis.trainings import check_same_config
    from ssamt.train.config import load_config

    cfg = load_config("synthetic", FAST)
    stored = cfg.to_dict()
    stored["phase2"]["mean_negatives_epochs"] = 1
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(stored))
    check_same_config(tmp_path, cfg)
    with pytest.raises(SsamtError, match="trained with another config"):
        check_same_config(tmp_path, load_config("synthetic", [*FAST, "seed=1"]))
