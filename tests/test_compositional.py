"""`ssamt analyze compositional`: the readers on small files in each published format
(SugarCrepe, ARO, Winoground), malformed ones one clear line; images found by id; the
blind baseline; and end to end on the tiny synthetic split exported to SugarCrepe and
Winoground: the same accuracies as `ssamt analyze minimal-pairs` on the same pairs, and a
plain loop for Winoground's scores."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from _gallery import CONFIG, as_run, make_gallery

from ssamt.cli import main
from ssamt.data.compositional import Group, Pair, find_images, read_benchmark
from ssamt.data.synth.benchmarks import export_benchmarks
from ssamt.errors import DataError
from ssamt.pipelines.analysis.blind import CaptionLM, blind_accuracy
from ssamt.pipelines.analysis.compositional import differing_tokens, measure_all

pytestmark = pytest.mark.usefixtures("one_thread")


def _write(path, obj, lines: bool = False):
    text = "".join(json.dumps(o) + "\n" for o in obj) if lines else json.dumps(obj)
    path.write_text(text, encoding="utf-8")
    return path


def test_each_published_format_is_read(tmp_path):
    sugar = read_benchmark(_write(tmp_path / "swap_att.json", {
        "7": {"filename": "000000565045.jpg", "caption": "a red cup on a blue table",
              "negative_caption": "a blue cup on a red table"}}))
    assert (sugar.format, sugar.subset) == ("sugarcrepe", "swap_att")
    assert sugar.entries == (Pair("7", "000000565045.jpg", "a red cup on a blue table",
                                  "a blue cup on a red table"),)
    box = {"bbox_x": 1, "bbox_y": 2, "bbox_w": 30, "bbox_h": 40}
    rel = read_benchmark(_write(tmp_path / "visual_genome_relation.json", [
        {"image_path": "2402590.jpg", **box, "relation_name": "on",
         "true_caption": "the cup is on the table", "false_caption": "the table is on the cup"}]))
    att = read_benchmark(_write(tmp_path / "visual_genome_attribution.json", [
        {"image_path": "vg/12.jpg", **box, "attributes": ["red", "wooden"],
         "true_caption": "the red cup and the wooden table",
         "false_caption": "the wooden cup and the red table"}]))
    assert (rel.format, rel.subset, att.subset) == ("aro", "VG-Relation", "VG-Attribution")
    assert rel.entries[0].image == "2402590.jpg" and att.entries[0].false.startswith("the wooden")
    wino = read_benchmark(_write(tmp_path / "examples.jsonl", [
        {"id": 0, "image_0": "ex_0_img_0", "image_1": "ex_0_img_1", "caption_0": "a dog bites a man",
         "caption_1": "a man bites a dog", "tag": "Object"},
        {"id": 1, "image_0": "ex_1_img_0", "image_1": "ex_1_img_1", "caption_0": "red on blue",
         "caption_1": "blue on red"}], lines=True))
    assert (wino.format, wino.subset) == ("winoground", "Winoground")
    assert wino.entries[0] == Group("0", ("ex_0_img_0", "ex_0_img_1"),
                                    ("a dog bites a man", "a man bites a dog"), "Object")


@pytest.mark.parametrize(("name", "content", "message"), [
    ("a.json", {"1": {"filename": "x.jpg", "caption": "a dog", "negative_caption": "a cat"},
                "2": {"filename": "y.jpg", "caption": "a dog"}},
     "entry 2: 'negative_caption' is missing or empty"),
    ("b.json", [{"image_path": "1.jpg", "true_caption": "a", "false_caption": "b"},
                {"image_path": "", "true_caption": "a", "false_caption": "b"}],
     "entry 1: 'image_path' is missing or empty"),
    ("c.json", {"not": "a benchmark"}, "not a SugarCrepe, ARO or Winoground file"),
    ("d.json", '{"1": {"filename": "x.jpg", "caption"', "not valid JSON"),
    ("e.jsonl", '{"image_0": "a", "image_1": "b", "caption_0": "x", "caption_1": "y"}\n{oops\n',
     "line 2 is not JSON"),
    ("f.jsonl", '{"image_0": "a", "image_1": "b", "caption_0": "x"}\n',
     "entry line 1: 'caption_1' is missing or empty"),
])
def test_a_malformed_file_is_one_line_naming_file_and_entry(tmp_path, capsys, name, content,
                                                            message):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(DataError, match=message) as caught:
        read_benchmark(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)
    assert main(["analyze", "compositional", "--checkpoint", str(tmp_path / "none"), "--data",
                 str(tmp_path), "--pairs", str(path), "--out", str(tmp_path / "o")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_images_are_found_by_id_name_or_number():
    ids = ["565045", "synth-test-000003", "photos/sub/cat.png", "COCO_val2014_000000000042"]
    names = ["000000565045.jpg", "synth-test-000003.png", "photos/sub/cat.png", "42.jpg",
             "ex_0_img_1", "000000999999.jpg"]
    assert find_images(names, ids) == [0, 1, 2, 3, None, None]
    assert find_images(names, None) == [None] * len(names)


def test_blind_baseline_prefers_text_like_the_training_captions():
    lm = CaptionLM.fit(["a red cup on a blue table", "a red cup on the table",
                        "a dog on a blue table"] * 5)
    assert lm.score("a red cup on a table") > lm.score("table a on cup red a")
    # per word, not per caption: a longer caption of likely words is not penalized
    assert lm.score("a red cup on a blue table") > lm.score("a cup blue")
    assert blind_accuracy(lm, ["a red cup", "a dog"], ["cup red a", "a dog"]) == 75.0
    total = sum(lm.probability("a", w) for w in [*lm.unigrams, "<unseen>"])
    assert total == pytest.approx(1.0, abs=0.02)  # close to a distribution


def test_differing_tokens_cover_edits_insertions_and_swaps():
    from ssamt.labels.graph import CaptionGraph

    def graph(text):
        tokens = tuple(text.split())
        return CaptionGraph(text, tokens, tokens, (False,) * len(tokens), (), (), (), ())

    assert differing_tokens(graph("a red cup"), graph("a blue cup")) == {1}
    assert differing_tokens(graph("a cup"), graph("a red cup")) == {1}
    assert differing_tokens(graph("a red cup on a blue table"),
                            graph("a blue cup on a red table")) == {1, 5}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    pytest.importorskip("spacy")
    root = tmp_path_factory.mktemp("compositional")
    g = make_gallery(root, index=False)
    bench = root / "bench"
    counts = export_benchmarks(g["data"], bench, "test")
    return g, bench, counts


def test_exported_sugarcrepe_equals_the_minimal_pairs_accuracies(tiny, tmp_path):
    from ssamt.pipelines.analysis.minimal_run import load_inputs, measure_with_chance

    g, bench, counts = tiny
    run = as_run(g["model"], g["vocab"], CONFIG)
    files = sorted((bench / "sugarcrepe").glob("*.json"))
    assert files and sum(counts[f.stem] for f in files) > 100
    got = measure_all(run, g["data"], "test", files, tmp_path / "out", part_levels=False)
    want, _ = measure_with_chance(run, load_inputs(g["data"], "test"), part_levels=False)
    for edit in (f.stem for f in files):
        assert got["subsets"][edit]["n"] == want[edit]["n"] == counts[edit]
        for score in ("intra", "inter_global", "local", "eq5"):
            assert got["subsets"][edit][score] == pytest.approx(want[edit][score], abs=1e-9)
        assert 0 <= got["subsets"][edit]["blind"] <= 100


def test_winoground_scores_against_a_plain_loop(tiny, tmp_path):
    from ssamt.data.precomp import open_split
    from ssamt.data.tables import ImageTable, TextTable
    from ssamt.labels.parser import parse

    g, bench, counts = tiny
    if not counts["winoground"]:
        pytest.skip("the tiny split made no Winoground example")
    run = as_run(g["model"], g["vocab"], CONFIG)
    examples = bench / "winoground" / "examples.jsonl"
    got = measure_all(run, bench / "winoground", "test", [examples], tmp_path / "out",
                      part_levels=False)["subsets"]["Winoground"]
    split = open_split(bench / "winoground", "test")
    images = ImageTable(split)
    items = [json.loads(line) for line in examples.read_text().splitlines()]
    mu1, mu2 = run.eq5_weights()
    text_ok = image_ok = 0
    for n, ex in enumerate(items):
        graphs = parse([ex["caption_0"], ex["caption_1"]])
        captions = TextTable(graphs, run.vocab, max_tokens=run.max_tokens)
        with torch.no_grad():
            s = [[float(g["model"].score(images.batch([2 * n + a]), captions.batch([b]))
                        .eq5(mu1, mu2)[0]) for b in (0, 1)] for a in (0, 1)]
        text = s[0][0] > s[0][1] and s[1][1] > s[1][0]
        image = s[0][0] > s[1][0] and s[1][1] > s[0][1]
        text_ok, image_ok = text_ok + text, image_ok + image
    assert got["n"] == len(items)
    assert got["eq5"]["text"] == pytest.approx(100 * text_ok / len(items))
    assert got["eq5"]["image"] == pytest.approx(100 * image_ok / len(items))
    assert got["blind"]["text"] == 0.0


def test_the_command_names_missing_images_and_training_overlap(tiny, tmp_path, capsys):
    from ssamt.data.precomp import open_split
    from ssamt.train.run_folder import write_data_identity

    g, _, _ = tiny
    train_ids = open_split(g["data"], "train").ids
    pairs = {"0": {"filename": f"{train_ids[0]}.png", "caption": "a dog", "negative_caption":
                   "a cat"},
             "1": {"filename": "nowhere.jpg", "caption": "a dog", "negative_caption": "a cat"}}
    path = _write(tmp_path / "mixed.json", pairs)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "best.pt").write_bytes((g["run"] / "best.pt").read_bytes())
    write_data_identity(run_dir, "sha256-2:unchecked", str(g["data"]))  # RUN/data.json
    out = tmp_path / "out"
    args = ["analyze", "compositional", "--checkpoint", str(run_dir), "--data", str(g["data"]),
            "--split", "train", "--pairs", str(path), "--out", str(out), "--quiet",
            "--no-part-levels"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "1 of 2 entries name images not in split 'train' (nowhere.jpg)" in err
    assert "1 of 1 entries show images of the run's training split" in err
    results = json.loads((out / "results.json").read_text())
    assert results["subsets"]["mixed"]["n"] == 1 and results["subsets"]["mixed"]["missing"] == 1
    assert "| mixed | 1 |" in (out / "report.md").read_text()
    # no entry in the split at all: one line, nothing written
    none = _write(tmp_path / "none.json", {"0": pairs["1"]})
    assert main([*args[:-5], str(none), "--out", str(tmp_path / "o2"), "--quiet"]) == 2
    assert "no entry names an image of split 'train'" in capsys.readouterr().err
    assert np.isfinite(results["subsets"]["mixed"]["eq5"])
