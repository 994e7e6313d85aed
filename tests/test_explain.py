"""`ssamt explain`: per-part scores recomputed by hand from model.inter, rows lined up with
the graph, the label-rule column, the verdict rule, errors and the command end to end, on
the tiny synthetic test split with a small random model."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from _gallery import as_run

from ssamt.data.precomp import open_split
from ssamt.data.tables import TextTable, kept_phrases
from ssamt.data.vocab import Vocab
from ssamt.labels.matching import mark_phrases, mark_tokens
from ssamt.model.config import ModelConfig
from ssamt.model.ssamt import SSAMT
from ssamt.pipelines.explain import explain_pair, image_batch, verdict_cuts
from ssamt.render.explain_text import format_explanation

MAX_TOKENS = 24
CONFIG = {"model": {"max_tokens": MAX_TOKENS},
          "loss": {"mu1": 0.25, "mu2": 0.05, "alpha3": 0.2}}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Synthetic test split with cached labels, a random model and its run folder."""
    pytest.importorskip("spacy")
    from ssamt.data.split_labels import labels_for_split
    from ssamt.data.synth.generator import generate
    from ssamt.train.checkpoint import save_checkpoint

    root = tmp_path_factory.mktemp("explain")
    data = generate(root / "data", size="tiny", seed=0, progress=False)
    store = labels_for_split(data, "test")
    split = open_split(data, "test")
    vocab = Vocab.build((g.tokens for g in store.graphs[5:]), min_count=1)  # some <unk>
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=len(vocab), d_model=16, n_heads=2, n_layers=1, d_ffn=32,
                         dropout=0.0, d_region=split.feature_dim,
                         d_box=split.base_boxes.shape[-1], max_tokens=MAX_TOKENS)
    model = SSAMT(config).eval()
    run = root / "run"
    save_checkpoint(run / "best.pt", {"train_config": CONFIG, "model_config": config.to_dict(),
                                      "vocab": vocab.to_dict(), "model": model.state_dict()})
    return data, split, store, vocab, model, run


def _negative(store, image: int) -> int:
    """A caption of another image with parts on both sides of the label rule."""
    labels = store.image_labels(image)
    for j, graph in enumerate(store.graphs):
        if j // store.captions_per_image != image:
            marks = mark_phrases(graph, labels)
            if True in marks and False in marks:
                return j
    raise AssertionError("no mixed negative caption in the tiny split")


def test_scores_are_cosines_of_inter_outputs(tiny):
    _, split, store, vocab, model, _ = tiny
    graph = store.graphs[_negative(store, 2)]
    img = image_batch(split, 2)
    expl = explain_pair(as_run(model, vocab, CONFIG), img, graph)
    txt = TextTable([graph], vocab, max_tokens=MAX_TOKENS).batch([0])
    with torch.no_grad():
        out = model.inter(img, txt)
        eq5 = model.score(img, txt).eq5(0.25, 0.05)
        intra = F.cosine_similarity(model.encode_images(img), model.encode_texts(txt))
    n_p = txt.phrase_mask.shape[1]
    slots = list(range(len(graph.phrases))) + [n_p + t for t in range(len(graph.tokens))]
    assert len(expl.parts) == len(slots)
    for part, k in zip(expl.parts, slots):
        want = F.cosine_similarity(out.h_img[0], out.H_txt[0, k], dim=0)
        assert part.score == pytest.approx(float(want), abs=1e-5)
    assert expl.scores["eq5"] == pytest.approx(float(eq5[0]), abs=1e-5)
    assert expl.scores["intra"] == pytest.approx(float(intra[0]), abs=1e-5)
    assert (expl.mu1, expl.mu2) == (0.25, 0.05)


def test_rows_line_up_with_graph_and_label_rule(tiny):
    _, split, store, vocab, model, _ = tiny
    trained = as_run(model, vocab, CONFIG)
    image = 4
    graph, labels = store.graphs[_negative(store, image)], store.image_labels(image)
    expl = explain_pair(trained, image_batch(split, image), graph, labels)
    phrases = [p for p in expl.parts if p.kind == "phrase"]
    words = [p for p in expl.parts if p.kind == "word"]
    assert [(p.type, p.key) for p in phrases] == [(ph.type, ph.key) for ph in graph.phrases]
    assert [p.text for p in words] == list(graph.tokens)
    assert [p.type == "stop word" for p in words] == list(graph.stop)
    assert [p.label for p in phrases] == mark_phrases(graph, labels)
    assert [p.label for p in words] == mark_tokens(graph, labels)
    assert [p.in_vocab for p in words] == [t in vocab for t in graph.tokens]
    table = format_explanation(expl)
    assert "label rule" in table and table.count("\n") >= len(expl.parts) + 4
    assert explain_pair(trained, image_batch(split, image), graph).has_labels is False


def test_verdict_rule(tiny):
    _, split, store, vocab, model, _ = tiny
    trained = as_run(model, vocab, CONFIG)
    image = 1
    img, own = image_batch(split, image), store.image_graphs(image)
    graph = store.graphs[_negative(store, image)]
    expl = explain_pair(trained, img, graph, None, own)
    ref_parts = [explain_pair(trained, img, g).parts for g in own]

    def levels(parts_lists) -> dict[str, float]:
        out = {}
        for level in ("object", "attribute", "relation", "word"):  # stop words left out
            scores = [p.score for parts in parts_lists for p in parts
                      if p.score is not None and p.type == level]
            out[level] = sum(scores) / len(scores)
        return out

    assert expl.reference == pytest.approx(levels(ref_parts))
    assert expl.cuts == pytest.approx({k: v - 0.1 for k, v in expl.reference.items()})  # alpha3/2
    for p in expl.parts:
        want = None if p.score is None or p.type == "stop word" else p.score < expl.cuts[p.level]
        assert p.mismatch == want
    assert verdict_cuts({"word": 0.5}, 0.01, None)[0] == {"word": 0.49}
    fixed = explain_pair(trained, img, graph, None, own, threshold=0.0)
    assert all(p.mismatch == (p.score < 0) for p in fixed.parts if p.judged)
    assert fixed.reference == expl.reference  # still shown next to the threshold
    assert all(p.mismatch is None for p in explain_pair(trained, img, graph).parts)
    # The explained caption is left out of its own reference.
    alone = explain_pair(trained, img, own[0], None, own)
    assert alone.reference == pytest.approx(levels(ref_parts[1:]))


def test_parts_the_model_does_not_see_have_no_score(tiny):
    _, split, store, vocab, model, _ = tiny
    graph = next(g for g in store.graphs
                 if len(g.tokens) > 8 and kept_phrases(g, 6) != list(range(len(g.phrases))))
    torch.manual_seed(0)
    cut = SSAMT(model.config.replace(max_tokens=6)).eval()  # 6 word positions
    expl = explain_pair(as_run(cut, vocab, {}), image_batch(split, 0), graph)
    kept = set(kept_phrases(graph, 6))
    for p in expl.parts:
        seen = p.index in kept if p.kind == "phrase" else p.index < 6
        assert (p.score is not None) == seen and (p.mismatch is None or seen)
    assert "does not see" in format_explanation(expl)
    no_phrases = SSAMT(model.config.replace(use_phrases=False)).eval()
    expl = explain_pair(as_run(no_phrases, vocab, CONFIG), image_batch(split, 0), graph)
    assert all((p.score is None) == (p.kind == "phrase") for p in expl.parts)


def test_errors_name_the_file(tiny):
    from ssamt.errors import DataError, SsamtError
    from ssamt.labels.graph import CaptionGraph

    _, split, _, vocab, model, _ = tiny
    with pytest.raises(DataError, match="test_ims.npy: image 100 out of range.*0..99"):
        image_batch(split, 100)
    with pytest.raises(DataError, match="out of range"):
        image_batch(split, -1)
    empty = CaptionGraph(text="", tokens=(), lemmas=(), stop=())
    with pytest.raises(SsamtError, match="no words"):
        explain_pair(as_run(model, vocab, CONFIG), image_batch(split, 0), empty)


def _cli(tiny, *args: str) -> int:
    from ssamt.cli import main

    data, _, _, _, _, run = tiny
    return main(["explain", "--checkpoint", str(run), "--data", str(data), "--device", "cpu",
                 *args])  # a later --data wins


def test_command_end_to_end(tiny, tmp_path, capsys):
    store = tiny[2]
    j = _negative(store, 3)
    out = tmp_path / "res" / "explain.json"
    assert _cli(tiny, "--image", "3", "--caption", str(j), "--json", str(out)) == 0
    text = capsys.readouterr().out
    assert "label rule" in text and "Eq. 5 score" in text and "a caption of another image" in text
    res = json.loads(out.read_text())
    graph = store.graphs[j]
    assert res["caption_index"] == j and res["positive_pair"] is False and res["image"] == 3
    assert res["reference_captions"] == [15, 16, 17, 18, 19]
    assert len(res["parts"]) == len(graph.phrases) + len(graph.tokens)
    assert [p["label"] for p in res["parts"][: len(graph.phrases)]] == \
        mark_phrases(graph, store.image_labels(3))
    assert set(res["scores"]) == {"eq5", "intra", "inter_global", "s_P", "s_R"}
    assert set(res["verdict"]["cuts"]) == {"object", "attribute", "relation", "word"}
    assert res["agreement"]["counted"] > 0 and res["mu1"] == 0.25
    assert [f.name for f in out.parent.iterdir()] == ["explain.json"]  # no temp file left
    # part levels from the data's train split, cached beside the checkpoint
    assert "most likely mismatch" in text and res["verdict"]["flagged"] is not None
    assert "training images" in res["verdict"]["rule"] and (tiny[5] / "part_levels.json").is_file()
    judged = [p for p in res["parts"] if p["ref"] is not None]
    assert any(abs(p["ref"] - res["verdict"]["reference"][p["type"] if p["kind"] == "phrase"
                                                          else "word"]) > 1e-6 for p in judged)

    assert _cli(tiny, "--image", "3", "--caption", "16", "--threshold", "0.1", "--json",
                str(out)) == 0
    assert "one of the image's own captions" in capsys.readouterr().out
    res = json.loads(out.read_text())
    assert res["positive_pair"] is True and res["reference_captions"] == [15, 17, 18, 19]
    assert all(p["label"] is not False for p in res["parts"])  # its keys are in L_i
    flagged = [p for p in res["parts"] if p["mismatch"] is not None]
    assert flagged and all(p["mismatch"] == (p["score"] < 0.1) for p in flagged)


def test_command_parses_text_and_works_without_a_label_cache(tiny, tmp_path, capsys):
    data, split = tiny[:2]
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("test_ims.npy", "test_boxes.npy", "test_caps.txt"):
        (bare / name).write_bytes((data / name).read_bytes())
    runs = {}
    for folder in (data, bare):
        out = tmp_path / f"{folder.name}.json"
        assert _cli(tiny, "--data", str(folder), "--image", "2", "--caption", "40",
                    "--no-part-levels", "--json", str(out)) == 0
        runs[folder] = json.loads(out.read_text())
    assert not (bare / "test_labels.jsonl").exists()  # only the 6 captions needed were parsed
    assert runs[bare]["parts"] == runs[data]["parts"]
    out = tmp_path / "text.json"
    assert _cli(tiny, "--image", "2", "--text", f"  {split.captions[40]} ", "--no-part-levels",
                "--json", str(out)) == 0
    assert "caption given as text" in capsys.readouterr().out
    assert json.loads(out.read_text())["parts"] == runs[data]["parts"]
    assert _cli(tiny, "--image", "2", "--text", split.captions[12], "--json", str(out)) == 0
    assert json.loads(out.read_text())["reference_captions"] == [10, 11, 13, 14]  # not itself


def test_command_errors(tiny, capsys):
    data = tiny[0]
    assert _cli(tiny, "--image", "100", "--caption", "0") == 2
    err = capsys.readouterr().err
    assert "test_ims.npy" in err and "image 100 out of range" in err
    assert _cli(tiny, "--image", "0", "--caption", "500") == 2
    err = capsys.readouterr().err
    assert str(data / "test_caps.txt") in err and "caption 500 out of range" in err
    assert "0..499" in err and err.count("\n") == 1  # one line, no traceback
    assert _cli(tiny, "--image", "0", "--text", "   ") == 2
    assert "--text is empty" in capsys.readouterr().err


def _broken_box(scene: dict) -> str:
    scene["objects"][0]["boxes"][0][0] = "left"
    return "object 0, box 0: ['left', "


def _count_text(scene: dict) -> str:
    scene["objects"][0]["count"] = "two"
    return "object 0: count 'two' is not a whole number"


@pytest.mark.parametrize("damage", [_broken_box, _count_text, None])
def test_html_of_a_scene_that_cannot_be_drawn_is_one_line_before_the_work(tiny, tmp_path,
                                                                          capsys, damage):
    """A scenes file is data: an entry with a box that is not numbers, a count that is not
    a whole number, or a line that is not JSON is one line naming the file and the entry,
    before anything is computed or written."""
    data = tiny[0]
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("test_ims.npy", "test_boxes.npy", "test_caps.txt", "test_labels.jsonl"):
        (bare / name).write_bytes((data / name).read_bytes())
    lines = (data / "test_scenes.jsonl").read_text(encoding="utf-8").splitlines()
    if damage is None:
        lines[2], problem = lines[2][:-5], "not JSON"
    else:
        scene = json.loads(lines[2])
        problem = damage(scene)
        lines[2] = json.dumps(scene)
    scenes = bare / "test_scenes.jsonl"
    scenes.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = scenes.read_bytes()
    out, page = tmp_path / "out.json", tmp_path / "page.html"
    assert _cli(tiny, "--data", str(bare), "--image", "2", "--caption", "10",
                "--no-part-levels", "--json", str(out), "--html", str(page)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"ssamt explain: error: {scenes}: line 3 (image 2): {problem}" in err
    assert not out.exists() and not page.exists() and scenes.read_bytes() == before
    assert _cli(tiny, "--data", str(bare), "--image", "3", "--caption", "10",
                "--no-part-levels", "--html", str(page)) == 0  # the other entries draw
    assert "<svg" in page.read_text(encoding="utf-8")
    capsys.readouterr()
    # The web app: that image has no picture, and its console line says why.
    from types import SimpleNamespace

    from ssamt.serve.app import Gallery

    split = open_split(bare, "test")
    gallery = Gallery(SimpleNamespace(split=split, index_dir=tmp_path / "index",
                                      image_id=lambda i: str(i)))
    assert gallery.picture(2, 64).kind == "none" and gallery.picture(3, 64).kind == "svg"
    assert gallery.picture_kind(2) == "none" and gallery.picture_kind(3) == "svg"
    assert f"{scenes}: line 3 (image 2): {problem}" in capsys.readouterr().err
