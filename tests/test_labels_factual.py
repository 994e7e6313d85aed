"""The FACTUAL reader and tuple-F1 scorer, and the parser's quality floor on FACTUAL dev."""

from __future__ import annotations

from pathlib import Path

import pytest

from ssamt.errors import DataError
from ssamt.labels.factual import (
    GoldGraph,
    caption_prf,
    graph_tuples,
    normalize,
    parse_graph_text,
    read_factual,
    score,
)

FACTUAL_DEV = Path("/work/shared/data/factual/dev.csv")


def test_graph_text_notation():
    objs, attrs, rels = parse_graph_text(
        "( tree trunk , is , large ) , ( tree trunk , come through , deck ) , ( sky )")
    assert attrs == [("tree trunk", "large")]
    assert rels == [("tree trunk", "come through", "deck")]
    assert set(objs) == {"tree trunk", "deck", "sky"}


def test_normalize_folds_plurals_both_ways():
    assert normalize("Dogs") == normalize("dog") == "dog"
    assert normalize("wing tips") == "wing tip"
    assert normalize("feet") == "foot" and normalize("boxes") == "box"
    assert normalize("glass") == "glass" and normalize("pants") == "pants"


def test_tuple_set_and_scores():
    gold = GoldGraph("two dogs", ("dogs",), (("dogs", "2"),), ())
    assert graph_tuples(gold) == {("dog",), ("dog", "2")}
    assert caption_prf(set(), set()) == (1.0, 1.0, 1.0)
    p, r, f = caption_prf({("dog",), ("cat",)}, {("dog",), ("dog", "2")})
    assert (p, r, f) == (0.5, 0.5, 0.5)
    perfect = score([gold], [gold])
    assert perfect.f1 == 100 and perfect.set_match == 100 and perfect.n == 1
    with pytest.raises(ValueError):
        score([], [gold])


def test_reader_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(DataError, match="caption and scene_graph"):
        read_factual(bad)
    with pytest.raises(DataError):
        read_factual(tmp_path / "missing.csv")


@pytest.mark.skipif(not FACTUAL_DEV.exists(), reason="FACTUAL dev split not on this machine")
def test_parser_quality_floor_on_factual_dev():
    from ssamt.labels import parse

    gold = read_factual(FACTUAL_DEV)
    result = score(parse([g.caption for g in gold]), gold)
    assert result.n == 1000
    assert result.f1 >= 75.0  # the target; BENCHMARKS.md has the figure


@pytest.mark.skipif(not FACTUAL_DEV.exists(), reason="FACTUAL data not available")
def test_parse_without_torch_in_thinc_gives_the_same_graphs(tmp_path):
    """`ssamt parse` in a fresh process hides torch from thinc's import (about 1 CPU-s
    of start-up); its graphs are byte-identical to a parse in a process holding torch."""
    import json
    import os
    import subprocess
    import sys

    import torch  # noqa: F401  # this process holds torch: its parse is the reference

    from ssamt.commands.parse import _record
    from ssamt.labels import parse

    captions = [g.caption for g in read_factual(FACTUAL_DEV)][:300]
    src = tmp_path / "caps.txt"
    src.write_text("".join(c + "\n" for c in captions))
    code = ("import sys; from ssamt.cli import main; rc = main(['parse', sys.argv[1], '-o', "
            "sys.argv[2]]); assert 'torch' not in sys.modules; import torch; sys.exit(rc)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", code, str(src), str(tmp_path / "out.jsonl")],
                   check=True, env=env, capture_output=True)
    want = "".join(json.dumps(_record(g), ensure_ascii=False) + "\n" for g in parse(captions))
    assert (tmp_path / "out.jsonl").read_text() == want
