"""Phase 2 (paper 3.2): freeze the intra encoders and train the inter encoder with L1-L3.

The frozen intra encoders embed the training set once per phase; every epoch each caption
then draws a partner caption of another image: uniformly at random, and one sampled from
the intra top-m (end of paper 2.4). An update takes a token-budget batch of n anchor captions c with
their partners p and runs the inter encoder on the 2n positives (I_c, T_c), (I_p, T_p) and
on the 2n cross pairs (I_c, T_p), (I_p, T_c): every positive gets one negative caption and
one negative image, and every negative of the update is made of a positive's image and
another positive's caption (DESIGN.md section 2 "Negative sampling", revised; the why and
the measurements are in docs/PHASE2.md). The first `hard_negatives_from` share of the
updates use the random partners, the rest the top-m ones (random-to-hard schedule).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ssamt.data.batch import MARK_MATCHED, ImageBatch, PhraseMarks, TextBatch
from ssamt.train.config import TrainConfig
from ssamt.train.data import SplitData
from ssamt.train.edited import EditedBatch, EditedCaptions, build_edited_captions, edited_batch
from ssamt.train.engine import PhaseTask
from ssamt.train.near_miss import find_near_misses
from ssamt.train.role_contrast import RoleContrastTable


@dataclass(frozen=True)
class InterOptions:
    """The phase-2 objective's switches (TrainConfig.loss, docs/PHASE2.md)."""

    alpha1: float
    alpha2: float
    alpha3: float
    l1_with_intra: bool = True  # L1 ranks s_A + s_G (the sum Eq. 5 ranks by)
    l3_within_type: bool = True  # L3 compares matched and mismatched parts of one type
    l3_reference: bool = True  # the positive caption's parts join H+ of their type
    l3_words: bool = True  # L3 compares word parts too (loss.l3_words)
    l3_predicate_words: bool = True  # ... a relation's predicate words too

    @classmethod
    def from_config(cls, cfg: TrainConfig) -> InterOptions:
        loss = cfg.loss
        return cls(loss.alpha1, loss.alpha2, loss.alpha3, loss.l1_with_intra,
                   loss.l3_within_type, loss.l3_reference, loss.l3_words,
                   loss.l3_predicate_words)


class InterObjective(torch.nn.Module):
    """forward(...) -> {"L1", "L2", "L1_sG"[, "L3"]}; a module so DDP can wrap it."""

    def __init__(self, model: torch.nn.Module, options: InterOptions) -> None:
        super().__init__()
        self.model = model
        self.options = options

    def forward(self, images: ImageBatch, texts: TextBatch, swap: torch.Tensor,
                a_img: torch.Tensor | None, a_txt: torch.Tensor | None,
                marks_pos: PhraseMarks | None,
                marks_cross: PhraseMarks | None,
                edited: EditedBatch | None = None,
                role_flags: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """2n positive pairs (images[r], texts[r]); cross pair r = (images[r], texts[swap[r]]).

        swap:        (2n,) the partner row of each row (an involution).
        a_img/a_txt: (2n, d) L2-normalized intra embeddings of the rows, for s_A (or None).
        marks_pos:   marks of texts[r] against the labels of images[r] (for the reference).
        marks_cross: marks of texts[swap[r]] against the labels of images[r] (L3).
        Cross row r is the negative caption of positive r and, through swap, the negative
        image of positive swap[r]. edited: minimal edits of some positives' captions, each a
        further negative caption of its row's image (issue 11). role_flags: (2n, P) bool, the
        relations of texts[r] that join the role contrast LR (train.role_contrast).
        """
        from ssamt.losses import inter_losses

        # Cross row r is (I_r, T_swap[r]); the negative image run of row r, (I_swap[r], T_r),
        # is cross row swap[r]: inter_losses indexes its scores (swap=) instead of a copy.
        pos, cross = self._positives_and_cross(images, texts, swap)
        intra = None
        if self.options.l1_with_intra and a_img is not None:
            s_pos = (a_img * a_txt).sum(-1)  # (2n,)
            s_cross = (a_img * a_txt[swap]).sum(-1)
            intra = (s_pos, s_cross, s_cross[swap])
        sup_txt = self._supervision(pos, texts, swap, marks_pos, marks_cross)
        extra = None
        if edited is not None:
            extra = self._edited(images, pos, edited, a_img, intra, sup_txt)
        o = self.options
        terms = inter_losses(pos, cross, None, sup_txt, None, o.alpha1, o.alpha2, o.alpha3,
                             intra=intra, edited=extra, swap=swap)
        if role_flags is not None:
            terms["LR"] = self._role_contrast(images, texts, role_flags)
        return {name: value.float() for name, value in terms.items()}

    def _positives_and_cross(self, images: ImageBatch, texts: TextBatch, swap: torch.Tensor):
        """The inter encoder on the 2n positives (I_r, T_r) and the 2n cross pairs
        (I_r, T_swap[r]) in one pass over 4n rows: the two halves share their padding (the
        same images, the same captions in another order), and one pass launches half the
        kernels of two, which is what bounds a phase-2 step on a GPU (BENCHMARKS.md, issue
        15). Same outputs as two passes (up to dropout's draws)."""
        rows = torch.arange(len(texts), device=swap.device)
        both = self.model.inter(images.index(torch.cat([rows, rows])),
                                texts.index(torch.cat([rows, swap])))
        return both.split(len(texts))

    def _role_contrast(self, images: ImageBatch, texts: TextBatch,
                       flags: torch.Tensor) -> torch.Tensor:
        """LR: mean over the flagged relations (at least one) of TriL_a3 of the predicate's
        geometry on its best region pair in its own order over the same two regions the
        other way round, in the positive pair's image."""
        from ssamt.losses import tril

        own, reversed_pair = self.model.relation_geometry(images, texts)  # (2n, P) each
        return tril(own[flags], reversed_pair[flags], self.options.alpha3).mean()

    def _edited(self, images: ImageBatch, pos, edited: EditedBatch, a_img, intra, sup_txt):
        """EditedNegatives of the positive rows in edited.rows: the inter encoder on
        (I_r, T_r'), s_A of T_r' from the frozen intra text encoder, L3 with row r's matched
        reference."""
        from ssamt.losses import EditedNegatives, PhraseSupervision

        rows = edited.rows
        neg = self.model.inter(images.index(rows), edited.texts)
        pair_intra = None
        if intra is not None:
            with torch.no_grad():  # the intra encoders are frozen in phase 2
                a_edit = torch.nn.functional.normalize(self.model.encode_texts(edited.texts),
                                                       dim=-1)
            pair_intra = (intra[0][rows], (a_img[rows] * a_edit.to(a_img.dtype)).sum(-1))
        sup = None
        if edited.marks is not None and sup_txt is not None:
            types = self._l3_types(edited.texts)
            reference = sup_txt.reference  # row r of sup_txt: caption swap[r] against image r
            sup = PhraseSupervision(edited.marks, types if self.options.l3_within_type else None,
                                    None if reference is None else reference.index(rows))
        return EditedNegatives(pos.index(rows), neg, sup, pair_intra)

    def _l3_types(self, texts: TextBatch) -> torch.Tensor:
        """(B, P + L) part types for the within-type L3; words at 0 (in no type) without
        loss.l3_words, a relation's predicate words at 0 without loss.l3_predicate_words."""
        from ssamt.data.batch import PHRASE_TYPE_IDS
        from ssamt.losses import WORD_PART, part_types

        types = part_types(texts.phrase_types, texts.token_mask)
        if not self.options.l3_words:
            return types.masked_fill(types == WORD_PART, 0)
        if self.options.l3_predicate_words or texts.phrase_roles is None:
            return types
        relation = (texts.phrase_types == PHRASE_TYPE_IDS["relation"])[..., None]  # (B, P, 1)
        predicate = (texts.phrase_spans & (texts.phrase_roles == 0) & relation).any(1)  # (B, L)
        n_p = texts.phrase_types.shape[1]
        return torch.cat([types[:, :n_p], types[:, n_p:].masked_fill(predicate, 0)], dim=1)

    def _supervision(self, pos, texts: TextBatch, swap: torch.Tensor,
                     marks_pos: PhraseMarks | None, marks_cross: PhraseMarks | None):
        """L3 supervision of the cross rows as negative captions (None without marks). As
        negative images the same runs are read through swap (inter_losses(swap=)): cross row
        swap[r] is image swap[r] with caption r, supervised by this one's row swap[r]."""
        from ssamt.losses import MatchedReference, PhraseSupervision
        from ssamt.model.scores import part_scores

        if marks_cross is None:
            return None
        if not self.options.l3_within_type:
            return PhraseSupervision(marks_cross)
        types = self._l3_types(texts)  # (2n, P + L) of texts[r]
        reference = None
        if self.options.l3_reference and marks_pos is not None:
            matched = (marks_pos.combined() == MARK_MATCHED) & pos.H_txt_mask
            reference = MatchedReference(part_scores(pos), types, matched)
        # cross row r holds caption swap[r] against image r; its reference is positive r.
        return PhraseSupervision(marks_cross, types[swap], reference)


@dataclass
class EpochPartners:
    """One epoch's partner captions and the intra embeddings they were sampled with.

    random, hard: (N_cap,) partner caption of each caption; img_emb (N_img, d), txt_emb
    (N_cap, d): L2-normalized a^I, a^T of the frozen intra encoders (s_A of any pair).
    """

    random: np.ndarray
    hard: np.ndarray
    img_emb: torch.Tensor
    txt_emb: torch.Tensor


def intra_pool(model, train: SplitData, m: int, device: torch.device, batch_size: int = 256,
               progress: bool = False):
    """-> (img_emb (N_img, d), txt_emb (N_cap, d), IntraTopM): the frozen intra encoders'
    embeddings of the training set and every caption's top-m, once per phase."""
    from ssamt.model.negatives import intra_topm
    from ssamt.retrieval.encode import encode_gallery

    img_emb, txt_emb = encode_gallery(model, train.images, train.texts, batch_size=batch_size,
                                      device=device, progress=progress)  # (N_img, d), (N_cap, d)
    top = intra_topm(img_emb.to(device), txt_emb.to(device),
                     torch.from_numpy(train.caption_image), m)
    return img_emb, txt_emb, top


def sample_epoch_partners(pool, train: SplitData, seed: int, epoch: int) -> EpochPartners:
    """Random and top-m partners of every caption from `pool` (intra_pool); deterministic in
    (seed, epoch), so a resumed run draws the same ones."""
    from ssamt.model.negatives import hard_partners, random_partners

    img_emb, txt_emb, top = pool
    c2i = torch.from_numpy(train.caption_image)
    gen = torch.Generator().manual_seed(int(seed) * 100003 + int(epoch))
    rand = random_partners(c2i, gen)
    hard = hard_partners(top, c2i, gen)
    return EpochPartners(rand.numpy(), hard.numpy(), img_emb, txt_emb)


def with_near_misses(partners: EpochPartners, near, train: SplitData, share: float, seed: int,
                     epoch: int) -> None:
    """Replace `share` of both partner draws by near-miss partners (train.near_miss), in
    place; deterministic in (seed, epoch) like the draws themselves."""
    from ssamt.train.near_miss import mix_partners, near_miss_partners

    gen = torch.Generator().manual_seed(int(seed) * 100003 + int(epoch) + 50021)
    near_partner = near_miss_partners(near, train.caption_image, gen)
    partners.random = mix_partners(partners.random, near_partner, share, gen)
    partners.hard = mix_partners(partners.hard, near_partner, share, gen)


def hard_from_update(cfg: TrainConfig) -> int:
    """First update that draws top-m partners: the random-to-hard switch (docs/PHASE2.md)."""
    return round(cfg.loss.hard_negatives_from * cfg.phase2.max_steps)


def paired_rows(anchors: np.ndarray, partners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """-> (captions (2n,), swap (2n,)): the anchors then their partners, and each row's
    partner row. Cross row r pairs the image of captions[r] with captions[swap[r]]."""
    n = len(anchors)
    caps = np.concatenate([anchors, partners[anchors]]).astype(np.int64)
    swap = np.concatenate([np.arange(n, 2 * n), np.arange(n)]).astype(np.int64)
    return caps, swap


def inter_inputs(train: SplitData, anchors: list[int], partners: EpochPartners, hard: bool,
                 device: torch.device, options: InterOptions, with_marks: bool,
                 edits: tuple[EditedCaptions, np.ndarray] | None = None,
                 roles: RoleContrastTable | None = None) -> dict[str, Any]:
    """One phase-2 batch: n anchors, their partners, the cross pairs' marks (L3), with
    `edits` (the edited captions and this epoch's draw) the positives' edited negatives, and
    with `roles` the relations of the positives that join the role contrast (LR)."""
    caps, swap = paired_rows(np.asarray(anchors, dtype=np.int64),
                             partners.hard if hard else partners.random)
    imgs = train.caption_image[caps]
    marks_pos = marks_cross = labels = None
    if with_marks and train.labels is not None:
        labels = [train.labels.image_labels(int(i)) for i in imgs]
        marks_cross = train.texts.marks(caps[swap], labels).to(device)
        if options.l3_within_type and options.l3_reference:
            marks_pos = train.texts.marks(caps, labels).to(device)
    a_img = a_txt = None
    if options.l1_with_intra:
        a_img = partners.img_emb[torch.from_numpy(imgs)].to(device)
        a_txt = partners.txt_emb[torch.from_numpy(caps)].to(device)
    texts = train.texts.batch(caps)
    role_flags = None
    if roles is not None:
        flags = roles.batch(caps, texts.phrase_mask.shape[1])
        role_flags = flags.to(device) if bool(flags.any()) else None  # decided on the CPU
    return {
        "images": train.images.batch(imgs).to(device, non_blocking=True),
        "texts": texts.to(device, non_blocking=True),
        "role_flags": role_flags,
        "swap": torch.from_numpy(swap).to(device),
        "a_img": a_img, "a_txt": a_txt,
        "marks_pos": marks_pos, "marks_cross": marks_cross,
        "edited": None if edits is None else edited_batch(edits[0], edits[1], caps, labels,
                                                           device),
    }


def inter_task(model, objective: InterObjective, train: SplitData, cfg: TrainConfig,
               device: torch.device, evaluate=None, progress: bool = False) -> PhaseTask:
    """The PhaseTask of phase 2; partners are re-drawn at the start of every epoch.

    Items are anchor captions; an anchor costs twice its pair (its partner's pair comes
    with it), so a token budget holds the same number of positive pairs as before.
    """
    weights = {"L1": cfg.loss.lambda1, "L2": cfg.loss.lambda2, "L3": cfg.loss.lambda3,
               "LR": cfg.loss.lambda_role}
    if cfg.loss.lambda_role > 0 and not train.box_dim:
        from ssamt.errors import ConfigError

        raise ConfigError("loss.lambda_role > 0 needs region boxes (the role contrast reads "
                          "the predicate's geometry) but the training data has none; set "
                          "loss.lambda_role=0")
    epoch_partners: dict[str, Any] = {}
    switch = hard_from_update(cfg)

    def start_epoch(epoch: int) -> None:
        if "pool" not in epoch_partners:  # the intra part is frozen: embed and rank once
            epoch_partners["pool"] = intra_pool(model, train, cfg.loss.negatives_m, device,
                                                cfg.eval.batch_size, progress)
        epoch_partners["now"] = sample_epoch_partners(epoch_partners["pool"], train, cfg.seed,
                                                      epoch)
        if cfg.loss.near_miss_share > 0:
            if "near" not in epoch_partners:  # the labels are fixed: search them once
                epoch_partners["near"] = find_near_misses(train, progress)
            with_near_misses(epoch_partners["now"], epoch_partners["near"], train,
                             cfg.loss.near_miss_share, cfg.seed, epoch)
        if cfg.loss.edited_negatives and train.labels is not None:
            if "edited" not in epoch_partners:  # the parses are fixed: edit them once
                epoch_partners["edited"] = build_edited_captions(train, progress)
            edited = epoch_partners["edited"]
            epoch_partners["edits"] = (edited, edited.draw(cfg.seed, epoch))
        if cfg.loss.lambda_role > 0 and train.labels is not None and "roles" not in epoch_partners:
            epoch_partners["roles"] = RoleContrastTable(  # the labels are fixed: flag once
                train.texts.graphs, train.caption_image, train.labels, train.texts.max_tokens,
                train.texts.max_phrases)

    def make_inputs(anchors: list[int], epoch: int, update: int) -> dict[str, Any]:
        return inter_inputs(train, anchors, epoch_partners["now"], update >= switch, device,
                            objective_options(objective), with_marks=cfg.loss.lambda3 > 0,
                            edits=epoch_partners.get("edits"), roles=epoch_partners.get("roles"))

    return PhaseTask(
        name="inter", objective=objective, weights=weights, costs=2 * train.pair_costs(),
        make_inputs=make_inputs, params=[p for p in model.inter_parameters() if p.requires_grad],
        start_epoch=start_epoch, evaluate=evaluate, select_by=cfg.eval.select_by,
    )


def objective_options(objective: torch.nn.Module) -> InterOptions:
    """The options of an InterObjective, also when DDP wraps it."""
    return getattr(objective, "module", objective).options
