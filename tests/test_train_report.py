"""The quick start's report pieces: where phase-2 losses end against 2 alpha, Eq. 5's line."""

from __future__ import annotations

import pytest

from ssamt.pipelines.quickstart import eq5_lines, phase2_lines
from ssamt.train.config import load_config
from ssamt.train.report import phase2_losses


def _records():
    recs = [{"kind": "train", "phase": "phase1", "step": s, "L0": 0.3} for s in range(5)]
    for s in range(1, 21):  # L1 falls from 0.2 to 0.01 over 20 logged updates
        recs.append({"kind": "train", "phase": "phase2", "step": s * 10, "L1": 0.2 - 0.01 * (s - 1),
                     "L1_sG": 0.1, "L2": 0.05, "L3": 0.02})
    recs.append({"kind": "eval", "phase": "phase2", "step": 200, "rsum": 500.0})
    return recs


def test_phase2_losses_average_the_last_tenth():
    end = phase2_losses(_records())
    assert end["L1"] == pytest.approx((0.02 + 0.01) / 2)  # the last 2 of 20 records
    assert end["L1_sG"] == pytest.approx(0.1) and set(end) == {"L1", "L1_sG", "L2", "L3"}
    assert phase2_losses([r for r in _records() if r["phase"] == "phase1"]) == {}


def test_phase2_lines_compare_with_two_alpha():
    cfg = load_config("synthetic")  # grounding: L2 has four hinges, at chance 4·alpha2
    lines = "\n".join(phase2_lines(_records(), cfg))
    assert "| L1 (ranks s_A + s_G) | 0.0150 | 0.20 |" in lines
    assert "| L2 (4 hinges: s_P, s_R of the head and of the encoder) | 0.0500 | 0.40 |" in lines
    paper = load_config("synthetic", ["recipe=paper"])
    assert "| L2 | 0.0500 | 0.20 |" in "\n".join(phase2_lines(_records(), paper))


def test_eq5_lines_name_the_source_and_the_gap():
    test = {"intra": {"rsum": 500.0}, "reranked": {"rsum": 507.5}, "mu1": 0.5, "mu2": 0.1}
    chosen = {"images": 500, "rsum": 520.0, "stage1_rsum": 514.0}
    text = " ".join(eq5_lines(test, chosen))
    assert "+7.5" in text and "mu1=0.5" in text and "chosen on 500 dev images" in text
    assert "the config" in " ".join(eq5_lines(test, None))
    assert eq5_lines({"intra": {"rsum": 1.0}}, None) == []
