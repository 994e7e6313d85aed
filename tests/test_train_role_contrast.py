"""Role contrast (LR): which relations join it (the label rule), their padding, and the term
against a plain computation from the model's relation geometry."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from test_train_phase2 import model_and_partners
from test_train_runner import TINY, Labels, caption_graph, tiny_data

from ssamt.labels.graph import Phrase
from ssamt.train.config import load_config
from ssamt.train.phase2 import InterObjective, InterOptions, inter_inputs
from ssamt.train.role_contrast import RoleContrastTable, reversed_key, role_contrast_flags

pytestmark = pytest.mark.usefixtures("one_thread")


def test_flags_follow_the_label_rule():
    g = caption_graph("red", "dog", "grass")  # object, object, attribute, (dog, on, grass)
    labels = Labels([g], np.array([0])).image_labels(0)
    assert role_contrast_flags(g, labels, max_tokens=16) == [False, False, False, True]
    assert reversed_key(("rel", "dog", "on", "grass")) == ("rel", "grass", "on", "dog")
    # both directions stated of the image: the exchanged relation is not a negative
    rev = Phrase("relation", ("rel", "grass", "on", "dog"), (2, 3, 5))
    both = dataclasses.replace(g, phrases=(*g.phrases[:3], rev))
    labels2 = Labels([g, both], np.array([0, 0])).image_labels(0)
    assert role_contrast_flags(g, labels2, max_tokens=16) == [False] * 4
    # the relation not matched at all (another image's labels): not in the contrast
    other = Labels([caption_graph("blue", "cat", "sofa")], np.array([0])).image_labels(0)
    assert role_contrast_flags(g, other, max_tokens=16) == [False] * 4
    # one subject and object lemma ("a dog on a dog"): no roles to exchange
    same = dataclasses.replace(g, phrases=(*g.phrases[:3], Phrase(
        "relation", ("rel", "dog", "on", "dog"), (2, 3, 5))))
    assert role_contrast_flags(same, Labels([same], np.array([0])).image_labels(0), 16)[3] is False
    # a relation cut by max_tokens is not a kept phrase: no flag for it
    assert role_contrast_flags(g, labels, max_tokens=5) == [False, False]


def test_table_pads_like_the_text_batch(tmp_path):
    data, _ = tiny_data(tmp_path)
    table = RoleContrastTable(data.texts.graphs, data.caption_image, data.labels,
                              data.texts.max_tokens)
    caps = [0, 5, 7]
    batch = data.texts.batch(caps)
    flags = table.batch(caps, batch.phrase_mask.shape[1])
    assert flags.shape == batch.phrase_mask.shape
    assert flags[:, 3].all() and not flags[:, :3].any()  # the relation of every tiny caption


def _inputs(tmp_path, cfg):
    data, vocab = tiny_data(tmp_path, boxes=True)
    model, _, parts = model_and_partners(cfg, data, vocab)
    table = RoleContrastTable(data.texts.graphs, data.caption_image, data.labels,
                              data.texts.max_tokens)
    inputs = inter_inputs(data, [0, 3, 6, 9], parts, False, torch.device("cpu"),
                          InterOptions.from_config(cfg), with_marks=True, roles=table)
    return model, inputs


def test_objective_adds_lr_as_a_hinge_of_the_flagged_relations(tmp_path):
    cfg = load_config("synthetic", [*TINY, "loss.lambda_role=0.5"])
    model, inputs = _inputs(tmp_path, cfg)
    options = InterOptions.from_config(cfg)
    flags = inputs["role_flags"]
    assert flags is not None and flags[:, 3].all()
    terms = InterObjective(model, options)(**inputs)
    with torch.no_grad():
        own, reversed_pair = model.relation_geometry(inputs["images"], inputs["texts"])
    want = (options.alpha3 - own[flags] + reversed_pair[flags]).clamp_min(0).mean()
    assert terms["LR"].item() == pytest.approx(want.item(), rel=1e-5)
    terms["LR"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.grounding.parameters())
    # without flags (no table, or no flagged relation in the batch) LR is left out
    assert "LR" not in InterObjective(model, options)(**{**inputs, "role_flags": None})
