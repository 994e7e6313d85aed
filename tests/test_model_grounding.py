"""Phrase grounding (model.grounding): the batched head against a plain per-part loop, the
binding it can see and the paper's cos(h^I, H^T_k) cannot, and how it joins the model."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ssamt.data.batch import PHRASE_TYPE_IDS, ROLE_OBJECT, ROLE_SUBJECT, ImageBatch, TextBatch
from ssamt.model import grounding
from ssamt.model.config import ModelConfig
from ssamt.model.grounding import GEOMETRY_DIM, PhraseGrounding, relative_geometry
from ssamt.model.scores import part_scores, s_phrase, s_region
from ssamt.model.ssamt import SSAMT
from ssamt.train.trainer import load_previous_phase

pytestmark = pytest.mark.usefixtures("one_thread")

D = 16


def config(d_box: int = 4, grounding: bool = True) -> ModelConfig:
    return ModelConfig(vocab_size=30, d_model=D, n_heads=2, n_layers=2, d_ffn=32, dropout=0.0,
                       d_region=12, d_box=d_box, max_tokens=10, grounding=grounding)


def random_text(gen: torch.Generator, b: int = 3, L: int = 7, P: int = 4) -> TextBatch:
    """B captions with object, attribute and relation phrases (relations with roles)."""
    n_tok = torch.tensor([7, 5, 6])[:b]
    token_mask = torch.arange(L) < n_tok[:, None]
    ids = torch.randint(1, 30, (b, L), generator=gen) * token_mask
    types = torch.tensor([[1, 2, 3, 3], [1, 3, 0, 0], [2, 1, 3, 0]])[:b, :P]
    spans = torch.zeros(b, P, L, dtype=torch.bool)
    roles = torch.zeros(b, P, L, dtype=torch.int8)
    for i in range(b):
        for p in range(P):
            if types[i, p] == 0:
                continue
            n = int(n_tok[i])
            toks = torch.randperm(n, generator=gen)[:3 if types[i, p] == 3 else 2].sort().values
            spans[i, p, toks] = True
            if types[i, p] == PHRASE_TYPE_IDS["relation"]:
                roles[i, p, toks[0]], roles[i, p, toks[-1]] = ROLE_SUBJECT, ROLE_OBJECT
    return TextBatch(ids, token_mask, types, types != 0, spans, roles)


def random_boxes(gen: torch.Generator, b: int, r: int) -> torch.Tensor:
    xy = torch.rand(b, r, 2, generator=gen) * 0.6
    wh = torch.rand(b, r, 2, generator=gen) * 0.3 + 0.05
    return torch.cat([xy, xy + wh], dim=-1)


def reference_parts(head: PhraseGrounding, words, txt: TextBatch, regions, region_mask, boxes):
    """Plain loops over pairs, parts and regions, from the module docstring's formulas."""
    m = head.maps
    x = head.region(regions)
    b_n, p_n, l_n = txt.phrase_spans.shape
    out = torch.zeros(b_n, p_n + l_n)
    for b in range(b_n):
        regs = [r for r in range(x.shape[1]) if region_mask[b, r]]

        def best(q, b=b, regs=regs):
            return max(float(F.cosine_similarity(q, x[b, r], dim=0)) for r in regs)

        for t in range(l_n):
            if txt.token_mask[b, t]:
                out[b, p_n + t] = best(m["word"](words[b, t]))
        for p in range(p_n):
            if not txt.phrase_mask[b, p]:
                continue
            span = [t for t in range(l_n) if txt.phrase_spans[b, p, t]]
            role = {t: int(txt.phrase_roles[b, p, t]) for t in span}

            def mean(sel, b=b):
                return torch.stack([words[b, t] for t in sel]).mean(0) if sel else torch.zeros(D)

            kind = int(txt.phrase_types[b, p])
            if kind != PHRASE_TYPE_IDS["relation"]:
                name = "attribute" if kind == PHRASE_TYPE_IDS["attribute"] else "object"
                out[b, p] = best(m[name](mean(span)))
                continue
            terms = relation_pair_terms(head, [mean([t for t in span if role[t] == r])
                                               for r in (ROLE_SUBJECT, ROLE_OBJECT, 0)],
                                        x[b], boxes[b], regs)
            out[b, p] = max(sum(t) / 3 for t in terms.values())
    return out


def relation_pair_terms(head: PhraseGrounding, units, x_b, boxes_b, regs):
    """{(r1, r2): (cos subject side, cos object side, geometry)} for every pair of distinct
    real regions; units = (u_subject, u_object, u_predicate), x_b (R, d) mapped regions."""
    u_s, u_o, u_p = units
    m = head.maps
    q_s = m["subject"](u_s) + m["predicate"](u_p)
    q_o = m["object_role"](u_o) + m["predicate_object"](u_p)
    feats = relative_geometry(boxes_b[None])[0]
    out = {}
    for r1 in regs:
        for r2 in regs:
            if r1 != r2:
                g = head.geometry(feats[r1, r2]) @ head.predicate_geometry(u_p)
                out[(r1, r2)] = (float(F.cosine_similarity(q_s, x_b[r1], dim=0)),
                                 float(F.cosine_similarity(q_o, x_b[r2], dim=0)),
                                 float(torch.tanh(g / GEOMETRY_DIM ** 0.5)))
    return out


def reference_regions_found(head: PhraseGrounding, words, txt: TextBatch, regions, region_mask):
    """Per region its best object / attribute phrase (else word), averaged over regions."""
    x = head.region(regions)
    out = []
    for b in range(x.shape[0]):
        queries = []
        for p in range(txt.phrase_types.shape[1]):
            kind = int(txt.phrase_types[b, p])
            if kind in (PHRASE_TYPE_IDS["object"], PHRASE_TYPE_IDS["attribute"]):
                u = words[b, txt.phrase_spans[b, p]].mean(0)
                name = "object" if kind == PHRASE_TYPE_IDS["object"] else "attribute"
                queries.append(head.maps[name](u))
        if not queries:
            queries = [head.maps["word"](words[b, t]) for t in range(words.shape[1])
                       if txt.token_mask[b, t]]
        best = [max(float(F.cosine_similarity(q, x[b, r], dim=0)) for q in queries)
                for r in range(x.shape[1]) if region_mask[b, r]]
        out.append(sum(best) / len(best))
    return torch.tensor(out)


def head_inputs(seed: int):
    """A fresh head (boxes on) and (gen, txt, words (3, 7, D), regions (3, 5, D), boxes)."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    head = PhraseGrounding(config())
    txt = random_text(gen)
    words = torch.randn(3, 7, D, generator=gen)
    regions = torch.randn(3, 5, D, generator=gen)
    return head, txt, words, regions, random_boxes(gen, 3, 5)


def test_batched_head_matches_plain_loops():
    head, txt, words, regions, boxes = head_inputs(0)
    region_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 1, 1, 0]]).bool()
    with torch.no_grad():
        got, found = head(words, txt, regions, region_mask, boxes)
        want = reference_parts(head, words, txt, regions, region_mask, boxes)
        want_found = reference_regions_found(head, words, txt, regions, region_mask)
    assert got.shape == (3, 4 + 7)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(found, want_found, atol=1e-5, rtol=1e-5)
    pad = ~torch.cat([txt.phrase_mask, txt.token_mask], 1)
    assert torch.all(got[pad] == 0)


def _scores_and_grads(head: PhraseGrounding, txt, words, regions, region_mask, boxes):
    words, regions = words.clone().requires_grad_(), regions.clone().requires_grad_()
    parts, found = head(words, txt, regions, region_mask, boxes)
    head.zero_grad()
    (parts.square().sum() + found.sum()).backward()
    grads = [words.grad, regions.grad, *(p.grad for p in head.parameters())]
    return parts.detach(), found.detach(), grads


@pytest.mark.parametrize("relations", ["some rows", "none"])
def test_compact_relation_scores_equal_every_phrase_scored(relations, monkeypatch):
    """The CPU scores only each row's relation phrases: the same parts, regions found and
    gradients as scoring every phrase as a relation (the GPU's path)."""
    head, txt, words, regions, boxes = head_inputs(4)
    if relations == "none":
        types = torch.where(txt.phrase_types == PHRASE_TYPE_IDS["relation"],
                            PHRASE_TYPE_IDS["object"], txt.phrase_types)
        txt = TextBatch(txt.token_ids, txt.token_mask, types, txt.phrase_mask,
                        txt.phrase_spans, txt.phrase_roles)
    region_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 1, 1, 0]]).bool()
    assert grounding.relations_only(words.device)
    compact = _scores_and_grads(head, txt, words, regions, region_mask, boxes)
    monkeypatch.setattr(grounding, "relations_only", lambda device: False)
    dense = _scores_and_grads(head, txt, words, regions, region_mask, boxes)
    torch.testing.assert_close(compact[0], dense[0], atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(compact[1], dense[1], atol=1e-6, rtol=1e-6)
    for got, want in zip(compact[2], dense[2]):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-6)


def identity_head() -> PhraseGrounding:
    head = PhraseGrounding(config(d_box=0))
    with torch.no_grad():
        for lin in (*head.maps.values(), head.region):
            lin.weight.copy_(torch.eye(D))
        head.region.bias.zero_()
    return head


def test_a_phrase_scores_highest_where_one_region_holds_all_its_words():
    """Binding: "red cube ... blue ball" against (red cube, blue ball) and the same regions
    with the colours swapped; the same words, so a bag of words cannot tell them apart."""
    e = torch.eye(D)
    red, blue, cube, ball = e[0], e[1], e[2], e[3]
    words = torch.stack([red, cube, blue, ball])[None]  # "red cube blue ball"
    spans = torch.tensor([[[1, 1, 0, 0], [0, 0, 1, 1]]]).bool()  # attribute phrases
    txt = TextBatch(torch.ones(1, 4, dtype=torch.long), torch.ones(1, 4, dtype=torch.bool),
                    torch.full((1, 2), PHRASE_TYPE_IDS["attribute"]), torch.ones(1, 2).bool(),
                    spans)
    head = identity_head()
    bound = torch.stack([cube + red, ball + blue])[None]
    swapped = torch.stack([cube + blue, ball + red])[None]
    mask = torch.ones(1, 2, dtype=torch.bool)
    with torch.no_grad():
        true_parts, true_found = head(words, txt, bound, mask, None)
        false_parts, false_found = head(words, txt, swapped, mask, None)
    assert torch.all(true_parts[0, :2] > false_parts[0, :2] + 0.2)  # each phrase
    torch.testing.assert_close(true_parts[0, 2:], false_parts[0, 2:])  # single words: alike
    assert true_found[0] > false_found[0] + 0.2  # each region finds its phrase


def test_relative_geometry_equals_a_loop_over_region_pairs():
    """The broadcast form against each feature of each (i, j) written out."""
    gen = torch.Generator().manual_seed(3)
    boxes = random_boxes(gen, 2, 4)  # (2, 4, G)
    got = relative_geometry(boxes)
    for b in range(2):
        for i in range(4):
            for j in range(4):
                x1, y1, x2, y2 = (float(v) for v in boxes[b, i, :4])
                u1, v1, u2, v2 = (float(v) for v in boxes[b, j, :4])
                w, h = max(x2 - x1, 1e-3), max(y2 - y1, 1e-3)
                wj, hj = max(u2 - u1, 1e-3), max(v2 - v1, 1e-3)
                inside = (max(min(x2, u2) - max(x1, u1), 0) * max(min(y2, v2) - max(y1, v1), 0)
                          / (w * h))
                want = [(x1 + x2) / 2 - (u1 + u2) / 2, (y1 + y2) / 2 - (v1 + v2) / 2, y2 - v2,
                        y1 - v1, y2 - v1, math.log(w) - math.log(wj), math.log(h) - math.log(hj),
                        inside]
                torch.testing.assert_close(got[b, i, j], torch.tensor(want), rtol=1e-5,
                                           atol=1e-5)


def test_relative_geometry_reads_above_and_below():
    top = torch.tensor([0.4, 0.1, 0.6, 0.3])  # y grows downwards
    bottom = torch.tensor([0.3, 0.4, 0.7, 0.9])
    geo = relative_geometry(torch.stack([top, bottom])[None])[0]  # (2, 2, 8)
    assert geo[0, 1, 1] < 0 < geo[1, 0, 1]  # centre y of the top box minus the bottom one's
    same = geo[0, 0]  # a box against itself: no offset, same size, its bottom a height below
    assert torch.allclose(same[[0, 1, 2, 3, 5, 6]], torch.zeros(6))
    assert torch.isclose(same[4], torch.tensor(0.2)) and torch.isclose(same[7], torch.tensor(1.0))
    assert geo[0, 1, 4] < 0  # the top box's bottom lies above the bottom box's top


def pair_batch(gen: torch.Generator) -> tuple[TextBatch, ImageBatch]:
    """Three captions (random_text) and three images of 5 regions with boxes."""
    txt = random_text(gen)
    img = ImageBatch(torch.randn(3, 5, 12, generator=gen), torch.ones(3, 5, dtype=torch.bool),
                     random_boxes(gen, 3, 5))
    return txt, img


def small_model(grounding: bool) -> SSAMT:
    torch.manual_seed(0)
    return SSAMT(config(grounding=grounding)).eval()


def test_model_parts_are_grounding_scores_and_feed_s_phrase():
    gen = torch.Generator().manual_seed(1)
    model = small_model(True)
    txt, img = pair_batch(gen)
    with torch.no_grad():
        out = model.inter(img, txt)
        want, want_found = model.grounding(model.text_embed.token(txt.token_ids), txt,
                                           model.image_embed(img)[:, 1:], img.region_mask,
                                           img.boxes)
    torch.testing.assert_close(part_scores(out), want)
    torch.testing.assert_close(s_region(out), want_found)  # s_R is the head's too
    # every caption here has phrases: s_P is the mean over its phrase types of their means
    by_hand = []
    for b in range(3):
        types = txt.phrase_types[b].tolist()
        means = [want[b, [p for p in range(4) if types[p] == t]].mean() for t in (1, 2, 3)
                 if t in types]
        by_hand.append(torch.stack(means).mean())
    torch.testing.assert_close(s_phrase(out), torch.stack(by_hand))
    no_phrases = TextBatch(txt.token_ids, txt.token_mask, txt.phrase_types * 0,
                           txt.phrase_mask & False, txt.phrase_spans & False, txt.phrase_roles)
    with torch.no_grad():
        words_only = model.inter(img, no_phrases)
    words = txt.token_mask.float()
    torch.testing.assert_close(s_phrase(words_only),
                               (words_only.parts[:, 4:] * words).sum(1) / words.sum(1))
    assert torch.equal(out.index(torch.tensor([2, 0])).parts, out.parts[[2, 0]])
    assert set(dict(model.grounding.named_parameters())) <= {
        n.removeprefix("grounding.") for n, _ in model.named_parameters()}
    inter_ids = {id(p) for p in model.inter_parameters()}
    assert all(id(p) in inter_ids for p in model.grounding.parameters())


def test_paper_model_keeps_cos_with_the_global_node():
    gen = torch.Generator().manual_seed(2)
    model = small_model(False)
    txt, img = pair_batch(gen)
    with torch.no_grad():
        out = model.inter(img, txt)
    assert model.grounding is None and out.parts is None
    want = F.cosine_similarity(out.h_img[:, None], out.H_txt, dim=-1)
    torch.testing.assert_close(part_scores(out)[out.H_txt_mask], want[out.H_txt_mask])


def test_previous_phase_without_the_head_loads_and_others_still_fail():
    old = small_model(False).state_dict()
    model = small_model(True)
    before = model.grounding.region.weight.clone()
    load_previous_phase(model, old)  # a phase-1 checkpoint from before the head
    assert torch.equal(model.grounding.region.weight, before)
    assert torch.equal(model.text_embed.token.weight, old["text_embed.token.weight"])
    broken = {k: v for k, v in old.items() if not k.startswith("intra_text.")}
    with pytest.raises(RuntimeError, match="intra_text"):
        load_previous_phase(model, broken)


def test_model_without_phrase_nodes_grounds_words_only():
    gen = torch.Generator().manual_seed(5)
    torch.manual_seed(0)
    model = SSAMT(config().replace(use_phrases=False)).eval()
    txt, img = pair_batch(gen)
    with torch.no_grad():
        out = model.inter(img, txt)
    assert torch.all(out.parts[:, :4] == 0) and torch.all(out.parts[:, 4:][txt.token_mask] != 0)
    assert torch.isfinite(s_region(out)).all() and torch.isfinite(s_phrase(out)).all()


def _output_fields(out) -> dict[str, torch.Tensor]:
    return {name: getattr(out, name) for name in ("h_img", "h_txt", "H_img", "H_img_mask",
                                                  "H_txt", "H_txt_mask", "parts",
                                                  "phrase_types", "regions_found")
            if getattr(out, name) is not None}


@pytest.mark.parametrize("grounding,use_phrases,boxes", [
    (True, True, True), (True, False, True), (True, True, False), (False, True, True)])
def test_inter_over_distinct_inputs_equals_inter_over_gathered_rows(grounding, use_phrases,
                                                                    boxes):
    """rows=(image_rows, text_rows) embeds and maps each image and caption once: outputs
    and every inter gradient equal the plain path on the gathered pairs."""
    gen = torch.Generator().manual_seed(7)
    torch.manual_seed(0)
    cfg = config(d_box=4 if boxes else 0, grounding=grounding).replace(use_phrases=use_phrases)
    model = SSAMT(cfg).train()
    txt, img = pair_batch(gen)
    img = ImageBatch(img.regions, torch.arange(5) < torch.tensor([5, 3, 4])[:, None],
                     img.boxes if boxes else None)
    image_rows = torch.tensor([0, 2, 2, 1, 0, 1, 2])
    text_rows = torch.tensor([1, 1, 0, 2, 0, 1, 2])

    def run(plain: bool):
        model.zero_grad()
        out = (model.inter(img.index(image_rows), txt.index(text_rows)) if plain else
               model.inter(img, txt, rows=(image_rows, text_rows)))
        w = torch.randn(out.H_txt.shape, generator=torch.Generator().manual_seed(3))
        loss = (out.H_txt * w).sum() + out.h_img.sum() + out.H_img.pow(2).sum()
        if out.parts is not None:
            loss = loss + (out.parts * w[..., 0]).sum() + out.regions_found.sum()
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        return _output_fields(out), grads

    want, want_grads = run(plain=True)
    got, got_grads = run(plain=False)
    assert want.keys() == got.keys() and ("parts" in got) == grounding
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=1e-5, atol=1e-6, msg=name)
    assert want_grads.keys() == got_grads.keys() and len(got_grads) > 10
    for name in want_grads:
        torch.testing.assert_close(got_grads[name], want_grads[name], rtol=1e-4, atol=1e-6,
                                   msg=name)
