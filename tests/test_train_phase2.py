"""The ssamt recipe's phase 2: partners (random and intra top-m), paired rows whose every
negative is a positive of the same update, the random-to-hard schedule, L3 supervision rows,
one inter pass, and a step that never waits for the host."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from test_train_trainer import TINY, tiny_data

from ssamt.losses import combine
from ssamt.model.negatives import hard_partners, intra_topm, random_partners
from ssamt.train.config import load_config
from ssamt.train.phase2 import IntraPool
from ssamt.train.recipes.ssamt import (
    EpochPartners,
    SsamtRecipe,
    first_hard_update,
    paired_rows,
)
from ssamt.train.trainer import build_model


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


def recipe_with_partners(cfg, data, vocab, random: np.ndarray, hard: np.ndarray,
                         d: int = 8) -> SsamtRecipe:
    """A seeded model's SsamtRecipe with the given partners and random unit intra
    embeddings in place of the pool's (no intra encoding needed)."""
    torch.manual_seed(0)
    model = build_model(cfg, len(vocab), data).eval()
    recipe = SsamtRecipe(model, data, cfg, torch.device("cpu"))
    g = torch.Generator().manual_seed(0)
    recipe.pool = IntraPool(F.normalize(torch.randn(data.num_images, d, generator=g), dim=1),
                            F.normalize(torch.randn(data.num_captions, d, generator=g), dim=1),
                            None)
    recipe.partners = EpochPartners(random, hard)
    return recipe


def test_schedule_switches_from_random_to_hard(tmp_path):
    cfg = load_config("synthetic", [*TINY, "phase2.max_steps=10",
                                    "loss.random_partner_share=0.3"])
    assert first_hard_update(cfg) == 3
    assert first_hard_update(load_config("synthetic", ["loss.random_partner_share=0"])) == 0
    data, vocab = tiny_data(tmp_path)
    n = data.num_captions
    rand, hard = (np.arange(n) + 2) % n, (np.arange(n) + 4) % n
    recipe = recipe_with_partners(cfg, data, vocab, rand, hard)
    for update, partners in ((0, rand), (2, rand), (3, hard), (9, hard)):
        batch = recipe.batch([0, 1], 0, update)
        want = data.texts.batch(np.array([0, 1, *partners[[0, 1]]]))
        assert torch.equal(batch.texts.token_ids, want.token_ids), update


def test_batch_rows_and_marks(tmp_path):
    cfg = load_config("synthetic", TINY)
    data, vocab = tiny_data(tmp_path)
    n_cap = data.num_captions
    hard = (np.arange(n_cap) + 4) % n_cap  # captions of the image two further on
    recipe = recipe_with_partners(cfg, data, vocab, hard, hard)
    batch = recipe.batch([0, 5, 9], 0, 0)
    caps = np.array([0, 5, 9, 4, 9, 13])
    assert torch.equal(batch.texts.token_ids, data.texts.batch(caps).token_ids)
    assert torch.equal(batch.images.regions, data.images.batch(data.caption_image[caps]).regions)
    assert batch.swap.tolist() == [3, 4, 5, 0, 1, 2]
    labels = [data.labels.image_labels(int(i)) for i in data.caption_image[caps]]
    want = data.texts.marks(caps[[3, 4, 5, 0, 1, 2]], labels)
    assert torch.equal(batch.marks_cross.phrase_marks, want.phrase_marks)
    assert torch.equal(batch.marks_pos.token_marks, data.texts.marks(caps, labels).token_marks)
    assert torch.equal(batch.a_txt, recipe.pool.txt_emb[caps])
    assert torch.equal(batch.a_img, recipe.pool.img_emb[data.caption_image[caps]])
    no_l3 = recipe_with_partners(load_config("synthetic", [*TINY, "loss.lambda3=0"]), data,
                                 vocab, hard, hard)
    assert no_l3.batch([0, 5, 9], 0, 0).marks_cross is None


def test_criterion_runs_and_trains_the_inter_part(tmp_path):
    cfg = load_config("synthetic", TINY)
    data, vocab = tiny_data(tmp_path)
    rand = random_partners(torch.from_numpy(data.caption_image),
                           torch.Generator().manual_seed(0)).numpy()
    recipe = recipe_with_partners(cfg, data, vocab, rand, rand, d=16)
    recipe.model.freeze_intra()  # as phase 2 does (paper 3.2)
    terms = recipe.criterion(recipe.batch(list(range(8)), 0, 0))
    assert {"L1", "L2", "L3", "L1_sG"} == set(terms)
    assert all(torch.isfinite(v) for v in terms.values())
    terms["L1"].backward()
    assert any(p.grad is not None for p in recipe.model.inter_parameters())
    assert all(p.grad is None for p in recipe.model.intra_parameters())


def grounding_batch(tmp_path, hard: bool):
    """A seeded synthetic-preset model (the grounding head, eval mode), its recipe and one
    phase-2 batch of five anchors with marks, on the tiny data with boxes."""
    cfg = load_config("synthetic", TINY)
    data, vocab = tiny_data(tmp_path, boxes=True)
    rand = random_partners(torch.from_numpy(data.caption_image),
                           torch.Generator().manual_seed(0)).numpy()
    recipe = recipe_with_partners(cfg, data, vocab, rand, rand, d=16)
    return recipe, recipe.batch([0, 3, 7, 9, 12], 0, 10 if hard else 0)


def test_one_pass_over_positives_and_cross_pairs_equals_two(tmp_path):
    """The criterion runs the inter encoder once over positives and cross pairs together
    (half the kernel launches); in eval mode that is two separate passes."""
    recipe, batch = grounding_batch(tmp_path, hard=False)
    model, images, texts, swap = recipe.model, batch.images, batch.texts, batch.swap
    with torch.no_grad():
        pos, cross = recipe.criterion.positives_and_cross(images, texts, swap)
        want_pos = model.inter(images, texts)
        want_cross = model.inter(images, texts.index(swap))
    for got, want in ((pos, want_pos), (cross, want_cross)):
        for name in ("h_img", "h_txt", "H_img", "H_txt", "parts", "regions_found"):
            torch.testing.assert_close(getattr(got, name), getattr(want, name),
                                       rtol=1e-5, atol=1e-5)
        assert torch.equal(got.H_txt_mask, want.H_txt_mask)


HOST_ROUND_TRIPS = {"lift_fresh", "lift_fresh_copy", "_local_scalar_dense", "is_nonzero"}


def test_step_and_stage2_never_wait_for_the_host(tmp_path, monkeypatch):
    """On a GPU a tensor built from host values inside a step (torch.tensor([...]), or
    `mask[...] = False`) is a blocking copy, and a value read back (.item(), bool(t),
    F.one_hot's range check) waits for the device: either stops the host queueing work
    ahead, and a phase-2 step is bound by its launches. Recorded on the CPU, with the
    grounding head on its GPU path (the CPU's reads how many relations a batch holds): the
    phase-2 criterion's forward and backward and stage 2's scoring dispatch neither."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from ssamt.model import grounding
    from ssamt.model.scores import PairScores

    monkeypatch.setattr(grounding, "relations_only", lambda device: False)

    class Record(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.ops: set[str] = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops.add(func.overloadpacket.__name__)
            return func(*args, **(kwargs or {}))

    recipe, batch = grounding_batch(tmp_path, hard=True)
    model = recipe.model
    with Record() as step:
        combine(recipe.criterion(batch), {"L1": 1.0, "L2": 0.1, "L3": 0.1}).backward()
    with Record() as stage2, torch.no_grad():
        PairScores.of(batch.a_img, batch.a_txt,
                      model.eval().inter(batch.images, batch.texts)).terms()
    assert "mm" in step.ops and "bmm" in stage2.ops  # the recorder saw the model run
    assert not step.ops & HOST_ROUND_TRIPS
    assert not stage2.ops & HOST_ROUND_TRIPS
