"""`ssamt analyze minimal-pairs`: the batched accuracies and localization match a plain
one-pair-at-a-time loop straight from the model, on the tiny synthetic test split with a
small random model; the command writes the report folder; missing pairs are one clear line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from _gallery import CONFIG, MAX_TOKENS, as_run, make_gallery
from _plain import plain_pair

from ssamt.cli import main
from ssamt.data.batch import ImageBatch
from ssamt.data.synth.edits import EDIT_TYPES
from ssamt.data.synth.minimal import read_edited_images
from ssamt.pipelines.analysis.minimal_pairs import SCORES
from ssamt.pipelines.analysis.minimal_report import minimal_pair_table
from ssamt.pipelines.analysis.minimal_run import load_inputs, measure, negative_rows
from ssamt.pipelines.explain import image_batch, reference_levels

IMAGES = 10  # pairs of the first 10 test images (about 70 records): seconds


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny test split with cached labels and a small random model's run (_gallery)."""
    pytest.importorskip("spacy")
    g = make_gallery(tmp_path_factory.mktemp("minimal-analysis"), index=False)
    return g["data"], g["split"], g["store"], g["vocab"], g["model"], g["run"]


def _plain(model, vocab, data, split, store, inputs, levels):
    """Per record, one pair at a time: scores of both pairs and whether the part the verdict
    names touches the edited words (the synthetic captions' tokens are their words), written
    out: the phrase (else word) furthest below its key's mean in `levels` (its type's for a
    key seen under 3 times), or without levels its type's mean in the image's other
    captions."""
    ims, boxes = read_edited_images(data, "test")
    pos, neg, loc = {k: [] for k in SCORES}, {k: [] for k in SCORES}, []
    for k, r in enumerate(inputs.records):
        img = image_batch(split, r["image"])
        if r["side"] == "text":
            neg_img, graph = img, inputs.graphs[negative_rows(inputs, k)[1]]
        else:
            row = r["edited_image"]
            neg_img = ImageBatch(torch.from_numpy(np.array(ims[row:row + 1], np.float32)),
                                 torch.ones(1, ims.shape[1], dtype=torch.bool),
                                 torch.from_numpy(np.array(boxes[row:row + 1], np.float32)))
            graph = store.graphs[r["caption"]]
        assert [t for t in graph.tokens if t != "."] == r["text"].lower().rstrip(".").split()
        for side, im, g in ((pos, img, store.graphs[r["caption"]]), (neg, neg_img, graph)):
            s = plain_pair(model, vocab, im, g, 0.25, 0.05, MAX_TOKENS)[0]
            for key in SCORES:
                side[key].append(s[key])
        refs = reference_levels([p for g in store.image_graphs(r["image"]) if g.text != graph.text
                                 for p in plain_pair(model, vocab, img, g, 0.25, 0.05,
                                                     MAX_TOKENS)[1]])
        parts = [p for p in plain_pair(model, vocab, neg_img, graph, 0.25, 0.05, MAX_TOKENS)[1]
                 if p.judged and p.level in (refs if levels is None else levels.type_means)]
        parts = [p for p in parts if p.kind == "phrase"] or parts

        ref = {p.key: refs[p.level] if levels is None else
               levels.key_means[p.key][0] if levels.key_means.get(p.key, (0, 0))[1] >= 3
               else levels.type_means[p.level] for p in parts}
        flagged = min(parts, key=lambda p: p.score - ref[p.key])
        tokens = set(graph.phrases[flagged.index].span) if flagged.kind == "phrase" else {flagged.index}
        loc.append(bool(tokens & set(r["span"])))
    return ({k: np.array(v) for k, v in pos.items()}, {k: np.array(v) for k, v in neg.items()},
            np.array(loc))


@pytest.mark.parametrize("with_levels", [True, False])
def test_accuracies_and_localization_match_a_plain_loop(tiny, with_levels):
    from ssamt.pipelines.part_levels import part_levels_for

    data, split, store, vocab, model, _ = tiny
    inputs = load_inputs(data, "test", max_images=IMAGES)
    run = as_run(model, vocab, CONFIG)
    got = measure(run, inputs, batch_size=16, part_levels=with_levels)
    levels = part_levels_for(run, data) if with_levels else None
    assert levels is None or len(levels.key_means) > 50  # the tiny train split was scored
    pos, neg, loc = _plain(model, vocab, data, split, store, inputs, levels)
    edits = np.array([r["edit"] for r in inputs.records])
    assert list(got) == [e for e in EDIT_TYPES if e in set(edits)] and len(got) >= 7
    for edit, row in got.items():
        m = edits == edit
        assert row["n"] == m.sum()
        for k in SCORES:
            want = 100 * np.mean((pos[k][m] > neg[k][m]) + 0.5 * (pos[k][m] == neg[k][m]))
            assert row[k] == pytest.approx(want, abs=1e-9), (edit, k)
        assert row["localized"] == pytest.approx(100 * loc[m].mean()), edit


def test_command_writes_the_report_with_and_without_pm(tiny, tmp_path):
    data, _, _, _, _, run = tiny
    out = tmp_path / "out"
    assert main(["analyze", "minimal-pairs", "--checkpoint", str(run), "--checkpoint-wo-pm",
                 str(run), "--data", str(data), "--out", str(out), "--images", "4",
                 "--rerank-k", "2", "--device", "cpu", "--quiet"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert json.loads((out / "results_wo_pm.json").read_text()) == results
    lines = (data / "test_minimal.jsonl").read_text().splitlines()
    n = sum(1 for line in lines if json.loads(line)["image"] < 4)
    assert sum(r["n"] for r in results.values()) == n
    for r in results.values():
        assert set(r) == {"intra", "inter_global", "local", "eq5", "localized", "n"}
        assert all(0 <= r[k] <= 100 for k in r if k != "n")
    report = (out / "report.md").read_text()
    assert "| swap-role |" in report and "localized by chance" in report
    assert "true by scene" in report and (out / "minimal-pairs.png").stat().st_size > 0
    recall = json.loads((out / "recall.json").read_text())
    assert set(recall) == {"SSAMT", "SSAMT w/o PM"}


def test_missing_pairs_are_one_clear_line(tiny, tmp_path, capsys):
    _, _, _, _, _, run = tiny
    assert main(["analyze", "minimal-pairs", "--checkpoint", str(run), "--data", str(tmp_path),
                 "--out", str(tmp_path / "out"), "--device", "cpu", "--quiet"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "test_minimal.jsonl" in err[0] and "--add-minimal" in err[0]


def test_minimal_pair_table_for_the_quick_start_report():
    res = {"swap-role": {"intra": 50.0, "inter_global": 60.0, "local": 55.0, "eq5": 70.0,
                         "localized": 40.0, "n": 3}}
    lines = minimal_pair_table(res).splitlines()
    assert lines[0] == "| edit | n | dual (s_A) | s_G | s_P+s_R | Eq. 5 | localized |"
    assert lines[2] == "| swap-role | 3 | 50.0 | 60.0 | 55.0 | 70.0 | 40.0 |"
    wide = minimal_pair_table(res, res, {"swap-role": 25.0}).splitlines()
    assert wide[2] == "| swap-role | 3 | 50.0 | 60.0 | 55.0 | 70.0 | 40.0 | 70.0 | 40.0 | 25.0 |"


def test_the_table_shows_the_blind_baseline_beside_the_scores():
    res = {"swap-role": {"intra": 50.0, "inter_global": 60.0, "local": 55.0, "eq5": 70.0,
                         "localized": 40.0, "n": 3},
           "image-swap-action": {"intra": 50.0, "inter_global": 60.0, "local": 55.0,
                                 "eq5": 70.0, "localized": 40.0, "n": 2}}
    lines = minimal_pair_table(res, blind={"swap-role": 66.7}).splitlines()
    assert lines[0].endswith("| Eq. 5 | blind (text only) | localized |")
    assert lines[2] == "| swap-role | 3 | 50.0 | 60.0 | 55.0 | 70.0 | 66.7 | 40.0 |"
    assert lines[3].endswith("| 70.0 | – | 40.0 |")  # an image-side edit: the text alone cannot tell


def test_blind_by_edit_counts_text_side_records_only():
    from types import SimpleNamespace

    from ssamt.pipelines.analysis.blind import CaptionLM
    from ssamt.pipelines.analysis.minimal_run import blind_by_edit

    lm = CaptionLM.fit(["a red cup on a blue table"] * 3)
    records = [{"side": "text", "edit": "swap-attribute", "source": "a red cup on a blue table",
                "text": "a blue cup on a red table"},
               {"side": "image", "edit": "image-swap-attribute", "source": "a red cup",
                "text": "a red cup"}]
    got = blind_by_edit(SimpleNamespace(records=records), lm)
    assert got == {"swap-attribute": 100.0}


def test_data_that_does_not_fit_the_checkpoint_is_one_line_before_any_work(tiny, tmp_path,
                                                                          capsys):
    """Features of another size, or a split without the boxes the model was trained with:
    the refusal every command gives (ssamt.train.compat.check_data_fits), before a caption
    is parsed or the report folder made."""
    from _dataset import snapshot

    from ssamt.model.ssamt import SSAMT
    from ssamt.train.checkpoint import save_checkpoint

    data, split, _, vocab, model, run = tiny
    torch.manual_seed(1)
    wide = SSAMT(model.config.replace(d_region=split.feature_dim + 4))
    save_checkpoint(tmp_path / "wide.pt", {"train_config": CONFIG, "vocab": vocab.to_dict(),
                                           "model_config": wide.config.to_dict(),
                                           "model": wide.state_dict()})
    no_boxes = tmp_path / "no-boxes"
    no_boxes.mkdir()
    for name in ("test_ims.npy", "test_caps.txt", "test_ids.txt", "test_minimal.jsonl"):
        (no_boxes / name).write_bytes((data / name).read_bytes())
    for ckpt, folder, problem in (
            (tmp_path / "wide.pt", data,
             f"{data / 'test_ims.npy'}: region features of {split.feature_dim} dims"),
            (run, no_boxes, f"{no_boxes / 'test_boxes.npy'}: missing: ")):
        before = snapshot(folder)
        out = tmp_path / "out"
        assert main(["analyze", "minimal-pairs", "--checkpoint", str(ckpt), "--data",
                     str(folder), "--out", str(out), "--device", "cpu", "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert f"ssamt analyze: error: {problem}" in err
        assert not out.exists() and snapshot(folder) == before
