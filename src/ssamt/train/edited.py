"""Edited captions as extra phase-2 negatives (issue 11; docs/PHASE2.md "Binding and roles").

Negatives drawn from other images almost never differ from the positive by binding or role
alone ("a red cup on a blue table" against "a blue cup on a red table"), so the inter
encoder can rank them by content and never learn which object holds which attribute.
With `loss.edited_negatives`, each positive caption of an update also gets one minimal edit of
itself (ssamt.labels.edits: its words swapped, the parse rewritten) as a negative caption of
its own image. The edit's phrase marks come from the label rule against the image's label
set, never from scene truth, so the recipe is the same on real captions; an edit is used
only when the rule marks at least one phrase the edit made as mismatched (a swap the
image's other captions state is not a negative), and only when it is plausible: every phrase
it makes is said of some training image (labels.edits.PhraseCorpus), so that the text alone
cannot tell it from a real caption.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ssamt.data.batch import PhraseMarks, TextBatch
from ssamt.progress import progress as show_progress


@dataclass
class EditedCaptions:
    """Every usable edit of every training caption, encoded once.

    table: TextTable of the E edited captions;  owner: (E,) the caption each was made from;
    first: (N_cap + 1,) offsets, the edits of caption j are rows first[j]:first[j + 1];
    kinds: (E,) the edit kind of each row.
    """

    table: object
    owner: np.ndarray
    first: np.ndarray
    kinds: list[str]

    def __len__(self) -> int:
        return len(self.owner)

    def draw(self, seed: int, epoch: int) -> np.ndarray:
        """(N_cap,) one edit row per caption for this epoch (-1: the caption has none);
        deterministic in (seed, epoch), so a resumed run draws the same ones."""
        counts = np.diff(self.first)
        rng = np.random.default_rng([int(seed), int(epoch), 4099])
        pick = np.floor(rng.random(len(counts)) * np.maximum(counts, 1)).astype(np.int64)
        return np.where(counts > 0, self.first[:-1] + pick, -1)


@dataclass(frozen=True)
class EditedBatch:
    """The edited negatives of one update: rows (e,) index the positive rows (0..2n-1) that
    have one, texts their edited captions (e rows), marks the label rule's marks of each
    against its row's image (None without L3)."""

    rows: torch.Tensor
    texts: TextBatch
    marks: PhraseMarks | None


def build_edited_captions(train, progress: bool = False, corpus=None) -> EditedCaptions:
    """The usable edits of the training captions (train.labels gives each image's L_i);
    corpus: the PhraseCorpus that judges plausibility (default: the training captions)."""
    from ssamt.data.tables import TextTable
    from ssamt.labels.edits import PhraseCorpus, caption_edits
    from ssamt.labels.matching import phrase_positive

    graphs, owner, kinds = [], [], []
    first = np.zeros(train.num_captions + 1, dtype=np.int64)
    texts = train.texts
    corpus = PhraseCorpus(texts.graphs) if corpus is None else corpus
    for j, graph in enumerate(show_progress(texts.graphs, progress, "edited negatives",
                                            unit="caption")):
        labels = train.labels.image_labels(int(train.caption_image[j]))
        for edit in caption_edits(graph):
            if all(phrase_positive(key, labels) for key in edit.changed):
                continue  # the rule says the image has it: not a negative
            if not corpus.plausible(edit):
                continue  # the text alone would give it away
            graphs.append(edit.graph)
            owner.append(j)
            kinds.append(edit.kind)
        first[j + 1] = len(graphs)
    table = TextTable(graphs, texts.vocab, max_tokens=texts.max_tokens,
                      max_phrases=texts.max_phrases)
    return EditedCaptions(table, np.asarray(owner, dtype=np.int64), first, kinds)


def edited_batch(edited: EditedCaptions, drawn: np.ndarray, captions: np.ndarray,
                 labels: list | None, device: torch.device) -> EditedBatch | None:
    """The edits drawn for `captions` (2n,), the positives of an update ->
    EditedBatch, or None when none has one. labels: the ImageLabels of each row's image
    (None: no marks)."""
    pick = drawn[captions]
    rows = np.flatnonzero(pick >= 0)
    if len(rows) == 0:
        return None
    ids = pick[rows]
    marks = None
    if labels is not None:
        marks = edited.table.marks(ids, [labels[r] for r in rows]).to(device)
    return EditedBatch(torch.from_numpy(rows).to(device),
                       edited.table.batch(ids).to(device, non_blocking=True), marks)

