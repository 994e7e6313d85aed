"""Phase 2's batches: partners (random and intra top-m), paired rows whose every negative is
a positive of the same update, the random-to-hard schedule, and L3 supervision rows."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_train_runner import TINY, tiny_data

from ssamt.model.negatives import hard_partners, intra_topm, random_partners
from ssamt.train.config import load_config
from ssamt.train.phase2 import (
    EpochPartners,
    InterObjective,
    InterOptions,
    hard_from_update,
    inter_inputs,
    inter_task,
    paired_rows,
)


def _embeddings(n_img=12, per=3, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    img = F.normalize(torch.randn(n_img, d, generator=g), dim=1)
    txt = F.normalize(torch.randn(n_img * per, d, generator=g), dim=1)
    return img, txt, torch.arange(n_img).repeat_interleave(per)


def test_random_partners_are_captions_of_other_images():
    _, _, c2i = _embeddings()
    for seed in range(5):
        p = random_partners(c2i, torch.Generator().manual_seed(seed))
        assert p.shape == c2i.shape and (c2i[p] != c2i).all()
    # Every other image is reachable: over many draws all 11 others appear for caption 0.
    seen = {int(c2i[random_partners(c2i, torch.Generator().manual_seed(s))[0]]) for s in range(200)}
    assert seen == set(range(1, 12))


def test_hard_partners_come_from_the_intra_top_m_of_either_direction():
    img, txt, c2i = _embeddings()
    m = 3
    sims = img @ txt.T  # (N_img, N_cap)
    same = c2i[None, :] == torch.arange(12)[:, None]
    top_caps = sims.masked_fill(same, -2).topk(m, dim=1).indices  # per image
    top_imgs = sims.T.masked_fill(same.T, -2).topk(m, dim=1).indices  # per caption
    p = hard_partners(intra_topm(img, txt, c2i, m), c2i, torch.Generator().manual_seed(0))
    via_caption = via_image = 0
    for c in range(len(c2i)):
        i = int(c2i[c])
        assert int(c2i[p[c]]) != i  # never a caption of the anchor's own image
        in_caps = int(p[c]) in top_caps[i].tolist()
        in_imgs = int(c2i[p[c]]) in top_imgs[c].tolist()
        assert in_caps or in_imgs
        via_caption += in_caps
        via_image += in_imgs
    assert via_caption > 0 and via_image > 0  # both directions of the paper's sampling used


def test_paired_rows_every_negative_is_a_positive_of_the_update():
    rng = np.random.default_rng(0)
    c2i = np.repeat(np.arange(20), 5)
    partners = random_partners(torch.from_numpy(c2i), torch.Generator().manual_seed(1)).numpy()
    anchors = rng.choice(len(c2i), 7, replace=False)
    caps, swap = paired_rows(anchors, partners)
    assert len(caps) == 14 and (swap[swap] == np.arange(14)).all()  # an involution
    assert set(caps[:7]) == set(anchors) and (caps[7:] == partners[anchors]).all()
    positives = {(int(c2i[c]), int(c)) for c in caps}
    pos_images, pos_captions = {i for i, _ in positives}, {c for _, c in positives}
    for r in range(14):
        neg_image, neg_caption = int(c2i[caps[r]]), int(caps[swap[r]])
        assert neg_image in pos_images and neg_caption in pos_captions
        assert c2i[neg_caption] != neg_image  # no caption of the image's own is a negative


def test_schedule_switches_from_random_to_hard(tmp_path, monkeypatch):
    cfg = load_config("synthetic", [*TINY, "phase2.max_steps=10", "loss.hard_negatives_from=0.3"])
    assert hard_from_update(cfg) == 3
    assert hard_from_update(load_config("synthetic", ["loss.hard_negatives_from=0"])) == 0
    data, vocab = tiny_data(tmp_path)
    from ssamt.train.runner import build_model

    model = build_model(cfg, len(vocab), data)
    objective = InterObjective(model, InterOptions.from_config(cfg))
    task = inter_task(model, objective, data, cfg, torch.device("cpu"))
    task.start_epoch(0)
    seen = {}

    def spy(train, anchors, partners, hard, *args, **kwargs):
        seen[len(seen)] = hard
        return {}

    monkeypatch.setattr("ssamt.train.phase2.inter_inputs", spy)
    for update in (0, 2, 3, 9):
        task.make_inputs([0, 1], 0, update)
    assert list(seen.values()) == [False, False, True, True]


def test_inter_inputs_rows_and_marks(tmp_path):
    cfg = load_config("synthetic", TINY)
    data, _ = tiny_data(tmp_path)
    n_cap = data.num_captions
    hard = (np.arange(n_cap) + 4) % n_cap  # captions of the image two further on
    parts = EpochPartners(random=hard, hard=hard, img_emb=torch.eye(16, 8)[:, :8],
                          txt_emb=torch.eye(n_cap, 8))
    anchors = [0, 5, 9]
    inputs = inter_inputs(data, anchors, parts, True, torch.device("cpu"),
                          InterOptions.from_config(cfg), with_marks=True)
    caps = np.array([0, 5, 9, 4, 9, 13])
    assert torch.equal(inputs["texts"].token_ids, data.texts.batch(caps).token_ids)
    assert torch.equal(inputs["images"].regions, data.images.batch(data.caption_image[caps]).regions)
    assert inputs["swap"].tolist() == [3, 4, 5, 0, 1, 2]
    want = data.texts.marks(caps[[3, 4, 5, 0, 1, 2]],
                            [data.labels.image_labels(int(i)) for i in data.caption_image[caps]])
    assert torch.equal(inputs["marks_cross"].phrase_marks, want.phrase_marks)
    assert torch.equal(inputs["a_txt"], parts.txt_emb[caps])


def test_objective_runs_and_l3_is_within_type(tmp_path):
    cfg = load_config("synthetic", TINY)
    data, vocab = tiny_data(tmp_path)
    from ssamt.train.runner import build_model

    torch.manual_seed(0)
    model = build_model(cfg, len(vocab), data)
    c2i = torch.from_numpy(data.caption_image)
    rand = random_partners(c2i, torch.Generator().manual_seed(0)).numpy()
    parts = EpochPartners(rand, rand, F.normalize(torch.randn(16, 16), dim=1),
                          F.normalize(torch.randn(len(c2i), 16), dim=1))
    inputs = inter_inputs(data, list(range(8)), parts, False, torch.device("cpu"),
                          InterOptions.from_config(cfg), with_marks=True)
    terms = InterObjective(model, InterOptions.from_config(cfg))(**inputs)
    assert {"L1", "L2", "L3", "L1_sG"} <= set(terms)
    assert all(torch.isfinite(v) for v in terms.values())
    terms["L1"].backward()
    assert any(p.grad is not None for p in model.inter_parameters())
    paper = InterOptions(0.1, 0.1, 0.1, l1_with_intra=False, l3_within_type=False)
    terms_paper = InterObjective(model, paper)(**inputs)
    assert terms_paper["L1"].item() == pytest.approx(terms_paper["L1_sG"].item())


def everything_plausible(data):
    """A PhraseCorpus that also holds every edit of the tiny captions."""
    from ssamt.labels.edits import PhraseCorpus, caption_edits

    graphs = list(data.texts.graphs)
    return PhraseCorpus([*graphs, *(e.graph for g in graphs for e in caption_edits(g))])


def test_edited_captions_follow_the_label_rule_and_are_drawn_per_epoch(tmp_path):
    import dataclasses
    from types import SimpleNamespace

    from test_train_runner import Labels, caption_graph

    from ssamt.data.tables import TextTable
    from ssamt.labels.graph import Phrase
    from ssamt.train.edited import build_edited_captions

    data, vocab = tiny_data(tmp_path)
    # "the grass on a red dog": no training caption says (grass, on, dog), so the text alone
    # tells it is made up: not plausible, not used
    assert len(build_edited_captions(data)) == 0
    edited = build_edited_captions(data, corpus=everything_plausible(data))
    # every tiny caption "a red dog on the grass" has one role swap: "the grass on a red dog"
    assert len(edited) == data.num_captions and edited.owner.tolist() == list(range(len(edited)))
    assert edited.table.graphs[0].text == "the grass on a red dog"
    draw = edited.draw(seed=3, epoch=1)
    assert np.array_equal(draw, edited.draw(seed=3, epoch=1)) and draw.tolist() == list(range(32))
    # an image whose captions state both directions has no role-swap negative
    both = [caption_graph("red", "dog", "grass"), caption_graph("red", "dog", "grass")]
    reversed_rel = Phrase("relation", ("rel", "grass", "on", "dog"), (2, 3, 5))
    both[1] = dataclasses.replace(both[1], phrases=(*both[1].phrases[:3], reversed_rel))
    c2i = np.array([0, 0])
    fake = SimpleNamespace(texts=TextTable(both, vocab, max_tokens=16), num_captions=2,
                           caption_image=c2i, labels=Labels(both, c2i))
    none = build_edited_captions(fake, corpus=everything_plausible(fake))
    assert len(none) == 0 and none.draw(0, 0).tolist() == [-1, -1]


def model_and_partners(cfg, data, vocab):
    """A seeded model of `cfg` in eval mode, random partners (both draws) with random
    intra embeddings -> (model, partner of each caption, EpochPartners)."""
    from ssamt.train.runner import build_model

    torch.manual_seed(0)
    model = build_model(cfg, len(vocab), data).eval()
    c2i = torch.from_numpy(data.caption_image)
    rand = random_partners(c2i, torch.Generator().manual_seed(0)).numpy()
    parts = EpochPartners(rand, rand, F.normalize(torch.randn(16, 16), dim=1),
                          F.normalize(torch.randn(len(c2i), 16), dim=1))
    return model, rand, parts


def test_edited_negatives_add_their_terms(tmp_path):
    from ssamt.train.edited import build_edited_captions

    cfg = load_config("synthetic", [*TINY, "loss.edited_negatives=true"])
    data, vocab = tiny_data(tmp_path)
    model, rand, parts = model_and_partners(cfg, data, vocab)
    edited = build_edited_captions(data, corpus=everything_plausible(data))
    options = InterOptions.from_config(cfg)
    anchors = [0, 3, 6, 9]
    args = (data, anchors, parts, False, torch.device("cpu"), options)
    plain = inter_inputs(*args, with_marks=True)
    with_edits = inter_inputs(*args, with_marks=True, edits=(edited, edited.draw(0, 0)))
    batch = with_edits["edited"]
    caps = [*anchors, *rand[anchors]]  # the 2n positives: anchors, then their partners
    assert batch.rows.tolist() == list(range(8))
    assert torch.equal(batch.texts.token_ids, edited.table.batch(caps).token_ids)
    # the swapped relation is the mismatched phrase; the objects still match
    assert batch.marks.phrase_marks[0].tolist()[:4] == [1, 1, 1, 0]
    objective = InterObjective(model, options)
    base, terms = objective(**plain), objective(**with_edits)
    assert {"L1_edit", "L3_edit"} <= set(terms)
    for name in ("L1", "L3"):
        assert terms[name].item() == pytest.approx(base[name].item() + terms[f"{name}_edit"].item(),
                                                   rel=1e-5)
    terms["L1_edit"].requires_grad_(False)
    terms["L3"].backward()
    assert any(p.grad is not None for p in model.inter_parameters())


def grounding_batch(tmp_path, hard: bool):
    """A seeded synthetic-preset model with the grounding head (eval mode), its options and
    one phase-2 batch of five anchors with marks, on the tiny data with boxes."""
    cfg = load_config("synthetic", [*TINY, "model.grounding=true"])
    data, vocab = tiny_data(tmp_path, boxes=True)
    model, _, parts = model_and_partners(cfg, data, vocab)
    options = InterOptions.from_config(cfg)
    return model, options, inter_inputs(data, [0, 3, 7, 9, 12], parts, hard,
                                        torch.device("cpu"), options, with_marks=True)


def test_one_pass_over_positives_and_cross_pairs_equals_two(tmp_path):
    """The objective runs the inter encoder once over positives and cross pairs together
    (issue 15: half the kernel launches); in eval mode that is two separate passes."""
    model, options, inputs = grounding_batch(tmp_path, hard=False)
    images, texts, swap = inputs["images"], inputs["texts"], inputs["swap"]
    with torch.no_grad():
        pos, cross = InterObjective(model, options)._positives_and_cross(images, texts, swap)
        want_pos = model.inter(images, texts)
        want_cross = model.inter(images, texts.index(swap))
    for got, want in ((pos, want_pos), (cross, want_cross)):
        for name in ("h_img", "h_txt", "H_img", "H_txt", "parts", "regions_found"):
            torch.testing.assert_close(getattr(got, name), getattr(want, name),
                                       rtol=1e-5, atol=1e-5)
        assert torch.equal(got.H_txt_mask, want.H_txt_mask)


HOST_ROUND_TRIPS = {"lift_fresh", "lift_fresh_copy", "_local_scalar_dense", "is_nonzero"}


def test_step_and_stage2_never_wait_for_the_host(tmp_path):
    """On a GPU a tensor built from host values inside a step (torch.tensor([...]), or
    `mask[...] = False`) is a blocking copy, and a value read back (.item(), bool(t),
    F.one_hot's range check) waits for the device: either stops the host queueing work
    ahead, and a phase-2 step is bound by its launches (issue 15). Recorded on the CPU: the
    phase-2 objective's forward and backward and stage 2's scoring dispatch neither."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from ssamt.losses import combine

    class Record(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.ops: set[str] = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops.add(func.overloadpacket.__name__)
            return func(*args, **(kwargs or {}))

    model, options, inputs = grounding_batch(tmp_path, hard=True)
    objective = InterObjective(model.train(), options)
    with Record() as step:
        combine(objective(**inputs), {"L1": 1.0, "L2": 0.1, "L3": 0.1}).backward()
    with Record() as stage2, torch.no_grad():
        model.eval().eq5_terms(inputs["a_img"], inputs["a_txt"],
                               model.inter(inputs["images"], inputs["texts"]))
    assert "mm" in step.ops and "bmm" in stage2.ops  # the recorder saw the model run
    assert not step.ops & HOST_ROUND_TRIPS
    assert not stage2.ops & HOST_ROUND_TRIPS


def test_l3_words_off_leaves_words_out_of_the_within_type_l3(tmp_path):
    """loss.l3_words=false: the word parts are in no type for L3 (issue 11), phrases keep
    theirs; on, the paper's parts (phrases and words)."""
    from ssamt.losses import WORD_PART

    data, vocab = tiny_data(tmp_path)
    inputs = None
    for flag in (True, False):
        cfg = load_config("synthetic", [*TINY, f"loss.l3_words={str(flag).lower()}"])
        model, _, parts = model_and_partners(cfg, data, vocab)
        options = InterOptions.from_config(cfg)
        inputs = inputs or inter_inputs(data, [0, 3, 7], parts, False, torch.device("cpu"),
                                        options, with_marks=True)
        types = InterObjective(model, options)._l3_types(inputs["texts"])
        n_p = inputs["texts"].phrase_types.shape[1]
        assert torch.equal(types[:, :n_p], inputs["texts"].phrase_types)
        words = types[:, n_p:][inputs["texts"].token_mask]
        assert bool((words == WORD_PART).all()) if flag else bool((words == 0).all())


def test_l3_predicate_words_off_leaves_only_predicate_words_out(tmp_path):
    """loss.l3_predicate_words=false: a relation's predicate words (its span less subject and
    object) are in no type for L3; every other word keeps WORD_PART (issue 11)."""
    from ssamt.data.batch import PHRASE_TYPE_IDS
    from ssamt.losses import WORD_PART

    model, options, inputs = grounding_batch(tmp_path, hard=False)
    texts = inputs["texts"]
    off = InterObjective(model, replace(options, l3_predicate_words=False))._l3_types(texts)
    n_p = texts.phrase_types.shape[1]
    for b in range(len(texts)):
        for t in range(texts.token_ids.shape[1]):
            if not texts.token_mask[b, t]:
                continue
            predicate = any(int(texts.phrase_types[b, p]) == PHRASE_TYPE_IDS["relation"]
                            and bool(texts.phrase_spans[b, p, t])
                            and int(texts.phrase_roles[b, p, t]) == 0 for p in range(n_p))
            assert int(off[b, n_p + t]) == (0 if predicate else WORD_PART)
    assert int((off[:, n_p:] == 0).logical_and(texts.token_mask).sum()) > 0  # some were left out
