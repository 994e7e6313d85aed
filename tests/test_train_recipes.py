"""The two phase-2 recipes on a tiny set: the paper's as written (one negative caption and
one negative image per positive from the intra top-m, no grounding head, L1 on s_G alone,
Eq. 5 with the config's fixed weights), and the choice of recipe carried by checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_train_trainer import TINY, tiny_data

from ssamt.errors import ConfigError
from ssamt.losses import tril
from ssamt.model.scores import s_global
from ssamt.train.checkpoint import load_checkpoint
from ssamt.train.config import TrainConfig, load_config
from ssamt.train.config_upgrade import upgrade_stored_config
from ssamt.train.recipes import build_recipe
from ssamt.train.recipes.paper import PaperRecipe
from ssamt.train.trained_run import load_run
from ssamt.train.trainer import build_model, train

PAPER = [*TINY, "recipe=paper"]


def paper_recipe(tmp_path):
    cfg = load_config("synthetic", PAPER)
    data, vocab = tiny_data(tmp_path)
    torch.manual_seed(0)
    model = build_model(cfg, len(vocab), data)
    model.freeze_intra()
    recipe = build_recipe(model, data, cfg, torch.device("cpu"))
    recipe.start_epoch(0)
    return cfg, data, model, recipe


def test_paper_recipe_draws_one_negative_caption_and_image_per_positive_from_the_top_m(tmp_path):
    cfg, data, _, recipe = paper_recipe(tmp_path)
    assert isinstance(recipe, PaperRecipe)
    top, c2i = recipe.pool.top, data.caption_image
    negatives = recipe.negatives
    assert negatives.caption.shape == negatives.image.shape == (data.num_captions,)
    for c in range(data.num_captions):
        caps = top.cap_idx[c, :top.cap_cnt[c]].tolist()  # top-m captions for c's image
        imgs = top.img_idx[c, :top.img_cnt[c]].tolist()  # top-m images for caption c
        assert int(negatives.caption[c]) in caps and c2i[negatives.caption[c]] != c2i[c]
        assert int(negatives.image[c]) in imgs and negatives.image[c] != c2i[c]
    assert len(caps) == cfg.loss.negatives_m
    # a batch holds each positive once, with its two negatives
    positives = [0, 5, 9]
    batch = recipe.batch(positives, 0, 0)
    want_caps = np.array([*positives, *negatives.caption[positives]])
    want_imgs = np.array([*c2i[positives], *negatives.image[positives]])
    assert torch.equal(batch.texts.token_ids, data.texts.batch(want_caps).token_ids)
    assert torch.equal(batch.images.regions, data.images.batch(want_imgs).regions)
    assert batch.size == 3 and torch.equal(torch.from_numpy(recipe.costs), torch.from_numpy(
        data.pair_costs()))  # a budget counts the positives' instances
    # the epoch's negatives depend on (seed, epoch) only
    drawn = negatives
    recipe.start_epoch(0)
    assert np.array_equal(recipe.negatives.caption, drawn.caption)
    recipe.start_epoch(1)
    assert not np.array_equal(recipe.negatives.caption, drawn.caption)


def test_paper_recipe_has_no_grounding_parameters():
    paper, ours = (load_config(name) for name in ("paper-coco", "ssamt-coco"))
    assert not paper.model.grounding and ours.model.grounding
    for cfg, heads in ((paper, 0), (ours, 1)):
        model = build_model(cfg, 50, type("Data", (), {"feature_dim": 8, "box_dim": 0})())
        names = [n for n, _ in model.named_parameters() if n.startswith("grounding.")]
        assert bool(names) == bool(heads)
        assert ("phrase grounding" in model.num_parameters()) == bool(heads)


def test_paper_recipe_trains_l1_on_s_g_alone(tmp_path):
    cfg, _, model, recipe = paper_recipe(tmp_path)
    model.eval()  # no dropout: the criterion's one pass equals separate runs
    batch = recipe.batch([0, 5, 9, 12], 0, 0)
    terms = recipe.criterion(batch)
    assert set(terms) == {"L1", "L2", "L3"}  # no s_A anywhere, no diagnostic
    b = batch.size
    first, second = torch.arange(b), torch.arange(b) + b
    with torch.no_grad():
        pos = model.inter(batch.images.index(first), batch.texts.index(first))
        neg_txt = model.inter(batch.images.index(first), batch.texts.index(second))
        neg_img = model.inter(batch.images.index(second), batch.texts.index(first))
    g = [s_global(o.h_img, o.h_txt) for o in (pos, neg_txt, neg_img)]
    want = (tril(g[0], g[1], cfg.loss.alpha1) + tril(g[0], g[2], cfg.loss.alpha1)).mean()
    torch.testing.assert_close(terms["L1"].detach(), want, rtol=1e-5, atol=1e-6)
    terms["L1"].backward()
    assert any(p.grad is not None for p in model.inter_encoder.parameters())
    assert all(p.grad is None for p in model.intra_parameters())


def test_paper_recipe_ranks_by_the_configs_fixed_mu(tmp_path):
    data, vocab = tiny_data(tmp_path / "data")
    cfg = load_config("synthetic", [*PAPER, "loss.mu1=0.7", "loss.mu2=0.25"])
    out = train(cfg, data, data, vocab, tmp_path / "run", progress=False)
    assert "eq5" not in out or out["eq5"] is None  # no weights chosen on dev
    assert "eq5" not in load_checkpoint(tmp_path / "run" / "best.pt")
    run = load_run(tmp_path / "run")
    assert run.config.recipe == "paper" and run.model.grounding is None
    assert run.eq5_weights() == (0.7, 0.25) and run.eq5_source() == "loss"


def test_ssamt_phase1_continues_with_the_paper_recipe(tmp_path):
    """The side-by-side analysis trains one phase 1 and both recipes from it: a phase-1
    checkpoint of the ssamt recipe (with a head) loads into the paper's model (without)."""
    data, vocab = tiny_data(tmp_path / "data")
    train(load_config("synthetic", TINY), data, data, vocab, tmp_path / "run", phase="phase1",
          progress=False)
    paper = load_config("synthetic", PAPER)
    out = train(paper, data, data, vocab, tmp_path / "run", phase="phase2", progress=False)
    assert out["phase2"]["state"]["step"] == paper.phase2.max_steps
    assert load_run(tmp_path / "run").model.grounding is None


def test_recipe_is_a_known_name_and_stored_configs_upgrade():
    with pytest.raises(ConfigError, match="recipe must be one of paper, ssamt"):
        load_config("synthetic", ["recipe=ours"])
    for key in ("loss.edited_negatives=true", "loss.near_miss_share=0.5",
                "loss.lambda_role=0.5", "loss.l3_words=false", "loss.l3_predicate_words=false",
                "loss.l1_with_intra=false", "loss.hard_negatives_from=0.2",
                "eval.select_mu=false", "model.grounding=false"):
        with pytest.raises(ConfigError, match="unknown config key"):
            load_config("synthetic", [key])
    # a config stored before recipes: the ssamt recipe, retired keys dropped, renamed kept
    old = load_config("synthetic").to_dict()
    del old["recipe"]
    old["model"]["grounding"] = True
    old["loss"].update(l1_with_intra=True, edited_negatives=False, lambda_role=0.0)
    old["loss"]["hard_negatives_from"] = old["loss"].pop("random_partner_share")
    old["eval"]["select_mu"] = True
    cfg = TrainConfig.from_checkpoint(old)
    assert cfg == load_config("synthetic") and upgrade_stored_config(cfg.to_dict()) == cfg.to_dict()
