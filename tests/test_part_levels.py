"""Part levels: the batched measure matches a plain one-pair loop over explain's
scoring, offsets follow their definition, the cache beside the checkpoint is reused, renewed
and never written through a link, and the explain verdict judges a part against its type's
reference plus its own offset, naming a phrase first."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest
from _gallery import CONFIG, MAX_TOKENS, as_run, make_gallery
from _plain import plain_pair

from ssamt.pipelines import explain as explain_module
from ssamt.pipelines import part_levels as pl
from ssamt.pipelines.explain import explain_pair, flagged_part, image_batch
from ssamt.pipelines.part_levels import PartLevels, measure_part_levels, part_levels_for
from ssamt.pipelines.parts import Part

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    pytest.importorskip("spacy")
    g = make_gallery(tmp_path_factory.mktemp("part-levels"), index=False)
    return g


def _part(kind, index, typ, key, score, ref=None):
    return Part(kind, index, typ, key[-1], key, score, None, None, ref=ref)


def test_offsets_follow_their_definition():
    rows = [[_part("word", 0, "word", ("word", "front"), -0.5),
             _part("word", 1, "word", ("word", "dog"), 0.3),
             _part("word", 2, "stop word", ("word", "the"), 0.9),  # no verdict: left out
             _part("phrase", 0, "object", ("obj", "dog"), 0.6)]] * 3
    rows += [[_part("word", 0, "word", ("word", "cat"), 0.1)]]  # seen once
    levels = PartLevels.from_parts(rows, images=4)
    word_mean = (3 * (-0.5 + 0.3) + 0.1) / 7
    assert levels.type_means == pytest.approx({"word": word_mean, "object": 0.6})
    assert levels.offset(("word", "front"), "word") == pytest.approx(-0.5 - word_mean)
    assert levels.offset(("obj", "dog"), "object") == pytest.approx(0.0)
    assert levels.offset(("word", "cat"), "word") == 0.0  # under MIN_COUNT
    assert levels.offset(("word", "unseen"), "word") == 0.0
    assert ("word", "the") not in levels.key_means
    back = PartLevels.from_dict(json.loads(json.dumps(levels.to_dict())))
    assert back == levels


def test_margins_are_the_false_flag_quantile_of_scores_below_the_level():
    rng = np.random.default_rng(0)
    keys = [("word", "front"), ("word", "dog"), ("obj", "dog"), ("word", "red")]
    rows = [[_part("phrase" if key[0] == "obj" else "word", n,
                   "object" if key[0] == "obj" else "word", key,
                   float(rng.normal(-0.4 if key[1] == "front" else 0.2, 0.1)))
             for n, key in enumerate(keys)] for _ in range(45)]  # 45 captions x 4 parts
    got = PartLevels.from_parts(rows, 15)
    residuals = {"word": [], "object": []}
    for p in (p for r in rows for p in r):
        key_mean = np.mean([q.score for r in rows for q in r if q.key == p.key])
        residuals[p.level].append(p.score - key_mean)
        assert got.level(p.key, p.level) == pytest.approx(key_mean)
    assert got.margins["word"] == pytest.approx(-np.quantile(residuals["word"], pl.FALSE_FLAGS))
    assert "object" not in got.margins  # 45 parts, under MIN_RESIDUALS
    assert 0.05 < got.margins["word"] < 0.5 and got.level(("x",), "relation") is None
    assert PartLevels.from_dict(json.loads(json.dumps(got.to_dict()))) == got


def test_measure_matches_a_plain_loop(tiny):
    from ssamt.data.precomp import open_split
    from ssamt.data.split_labels import labels_for_split
    from ssamt.data.tables import ImageTable

    split = open_split(tiny["data"], "train")
    store = labels_for_split(tiny["data"], "train")
    run = as_run(tiny["model"], tiny["vocab"], CONFIG)
    rows = np.array([3, 17, 40, 41, 199])
    k = split.captions_per_image
    graphs = [store.graphs[i * k + c] for i in rows for c in range(k)]
    got = measure_part_levels(run, ImageTable(split), rows, graphs, batch_size=7)
    plain = [plain_pair(tiny["model"], tiny["vocab"], image_batch(split, int(i)),
                        graphs[n * k + c], 0.25, 0.05, MAX_TOKENS)[1]
             for n, i in enumerate(rows) for c in range(k)]
    want = PartLevels.from_parts(plain, len(rows))
    assert got.images == 5 and got.type_means == pytest.approx(want.type_means, abs=1e-5)
    assert set(got.key_means) == set(want.key_means)
    for key, (mean, count) in want.key_means.items():
        assert got.key_means[key][1] == count
        assert got.key_means[key][0] == pytest.approx(mean, abs=1e-5)


def _saved_run(tiny, tmp_path):
    from ssamt.train.trained_run import load_run

    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "best.pt").write_bytes((tiny["run"] / "best.pt").read_bytes())
    return load_run(folder)


def test_the_cache_is_reused_renewed_and_never_written_through_a_link(tiny, tmp_path,
                                                                      monkeypatch):
    run = _saved_run(tiny, tmp_path)
    first = part_levels_for(run, tiny["data"])
    cache = run.path.parent / pl.CACHE_NAME
    assert first is not None and first.images == 200 and cache.is_file()
    assert set(first.margins) == {"object", "attribute", "relation", "word"}

    def no_measure(*a, **k):
        raise AssertionError("measured again")

    with monkeypatch.context() as m:
        m.setattr(pl, "measure_part_levels", no_measure)
        assert part_levels_for(run, tiny["data"]) == first
    # a new checkpoint (another mtime) or a corrupt cache: measured again and rewritten
    stat = run.path.stat()
    os.utime(run.path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert part_levels_for(run, tiny["data"]) == first
    assert json.loads(cache.read_text())["identity"]["mtime_ns"] == stat.st_mtime_ns + 10**9
    cache.write_text("{not json")
    assert part_levels_for(run, tiny["data"]) == first
    assert json.loads(cache.read_text())["levels"]["images"] == 200
    stored = json.loads(cache.read_text())
    stored["levels"]["margins"]["word"] = float("nan")  # parseable, but not a level
    cache.write_text(json.dumps(stored))
    assert part_levels_for(run, tiny["data"]) == first
    # a link in the cache's place is not followed
    cache.unlink()
    target = tmp_path / "elsewhere.json"
    target.write_text("mine")
    cache.symlink_to(target)
    assert part_levels_for(run, tiny["data"]) == first
    assert target.read_text() == "mine"


def test_without_the_training_split_the_levels_cached_beside_the_checkpoint(tiny, tmp_path,
                                                                             capsys):
    from ssamt.data.fingerprint import data_fingerprint

    run = dataclasses.replace(_saved_run(tiny, tmp_path),
                              data_fingerprint=data_fingerprint(tiny["data"], "train"))
    assert part_levels_for(run, tmp_path / "nowhere", progress=True) is None
    assert "no 'train' split" in capsys.readouterr().err
    other = dataclasses.replace(run, data_fingerprint="sha256:0000000000000000")
    assert part_levels_for(other, tiny["data"], progress=True) is None
    assert "not the run's training data" in capsys.readouterr().err
    measured = part_levels_for(run, tiny["data"])  # measured on its training data, cached
    assert part_levels_for(run, tmp_path / "nowhere") == measured  # a gallery of one's own
    assert part_levels_for(other, tmp_path / "nowhere") is None  # cached for other data
    legacy = dataclasses.replace(run, data_fingerprint=None)  # no fingerprint: no fallback
    assert part_levels_for(legacy, tmp_path / "nowhere") is None


def test_the_verdict_names_a_phrase_first_then_a_word():
    front = _part("word", 3, "word", ("word", "front"), -0.9, ref=0.0)
    phrase = _part("phrase", 0, "relation", ("rel", "dog", "front", "cat"), -0.2, ref=-0.1)
    other = _part("phrase", 1, "object", ("obj", "cat"), 0.5, ref=0.45)
    unjudged = _part("phrase", 2, "object", ("obj", "sky"), -5.0)  # no reference
    assert flagged_part([front, phrase, other, unjudged]) is phrase
    assert flagged_part([front, _part("word", 4, "word", ("word", "x"), 0.0, ref=0.1)]) is front
    assert flagged_part([unjudged]) is None


def test_explain_judges_each_part_against_its_type_and_its_own_level(tiny):
    store, split = tiny["store"], tiny["split"]
    run = as_run(tiny["model"], tiny["vocab"], {**CONFIG, "loss": {**CONFIG["loss"],
                                                                   "alpha3": 0.2}})
    image = 3
    own = store.image_graphs(image)
    graph = store.graphs[(image + 1) * split.captions_per_image]  # another image's caption
    plain = explain_pair(run, image_batch(split, image), graph, None, own)
    keys = {p.key for p in plain.parts if p.judged}
    means = {"object": 0.1, "attribute": -0.2, "relation": -0.3}  # no "word": the image's
    levels = PartLevels(means, {k: (0.05 * n - 0.3, 5 if n % 2 else 2)
                                for n, k in enumerate(sorted(keys))}, 9)
    expl = explain_pair(run, image_batch(split, image), graph, None, own, part_levels=levels)
    assert expl.reference == {**plain.reference, **means}
    judged = [p for p in expl.parts if p.ref is not None]
    assert judged and len(judged) == sum(p.ref is not None for p in plain.parts)
    for p in judged:
        mean, count = levels.key_means[p.key]
        want = (plain.reference["word"] if p.level == "word"
                else mean if count >= 3 else means[p.level])
        assert p.ref == pytest.approx(want)
        assert p.mismatch == (p.score < want - 0.1)
    phrases = [p for p in judged if p.kind == "phrase"] or judged
    assert expl.flagged == min(phrases, key=lambda p: p.score - p.ref)
    assert "9 training images" in expl.rule and "0.100 (alpha3 / 2)" in expl.rule
    assert expl.to_json()["verdict"]["flagged"]["text"] == expl.flagged.text
    # no caption of the image at all: part levels alone give the verdict
    alone = explain_pair(run, image_batch(split, image), graph, part_levels=levels)
    assert [p.mismatch for p in alone.parts if p.type != "word"] == \
        [p.mismatch for p in expl.parts if p.type != "word"]
    assert all(p.ref is None for p in alone.parts if p.type == "word")
    # levels of every type: the image's captions are not even scored
    full = dataclasses.replace(levels, type_means={**means, "word": 0.2})
    calls = []
    real = explain_module.score_caption

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    explain_module.score_caption = counting
    try:
        got = explain_pair(run, image_batch(split, image), graph, None, own, part_levels=full)
    finally:
        explain_module.score_caption = real
    assert len(calls) == 1 and got.reference == full.type_means
    assert all(p.ref is not None for p in got.parts if p.judged)
    # measured margins are the default; a given --margin still wins
    learned = dataclasses.replace(levels, margins={"object": 0.3, "relation": 0.02})
    expl = explain_pair(run, image_batch(split, image), graph, None, own, part_levels=learned)
    fallback = {"object": 0.3, "relation": 0.02, "attribute": 0.1, "word": 0.1}
    for p in (p for p in expl.parts if p.ref is not None):
        assert p.mismatch == (p.score < p.ref - fallback[p.level])
    assert expl.cuts == pytest.approx({k: v - fallback[k] for k, v in expl.reference.items()})
    assert "object 0.300, relation 0.020" in expl.rule
    given = explain_pair(run, image_batch(split, image), graph, None, own, part_levels=learned,
                         margin=0.0)
    assert all(p.mismatch == (p.score < p.ref) for p in given.parts if p.ref is not None)
