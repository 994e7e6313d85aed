"""Phrase-to-image scores for one image-caption pair (paper 2.4 and 4.3, Figure 3).

For image I and caption T the inter encoder gives h^I (the output at C^I) and H^T (one output
per phrase node and word token, paper 2.3). The phrase-to-image score of part k is
cos(h^I, H^T_k), or with the grounding head (model.grounding, the presets' default) the
cosine of the part with its best region (ssamt.model.grounding); either way it is the term
of L2 (Eq. 2) and L3 (Eq. 3) and the phrase term of Eq. 5 (model.scores.part_scores). This
module shows those scores next to the label rule's verdict (docs/DESIGN.md section 2), as in the
paper's Figure 3, and flags the parts the model scores as not matching the image.

Model verdict ("mismatch"): a part k of type t (object, attribute, relation, or content
word) is flagged when its score is below
    ref_k - m_t,
ref_k = where part k usually scores against images it matches: the mean score of its key
(a word's lemma, a phrase's key) over the own captions of a sample of training images, or
its type's mean there for a key seen fewer than 3 times; m_t = the margin below which 5% of
that sample's matched type-t parts fall. Both are measured once per checkpoint
(ssamt.pipelines.part_levels). Without them (no training split of the run, --no-part-levels)
ref_k = the mean score of the type-t parts of the image's own captions (the reference
captions: the image's captions in the split, less the one explained; they match the image
by construction, their keys being in L_i) and m_t = alpha3 / 2 of the checkpoint. `margin`
replaces every m_t, and `threshold` replaces the rule. The one part the verdict names
("most likely mismatch", flagged_part) is the phrase furthest below its ref_k, or the word
furthest below when no phrase is judged.
- A reference, not a fixed level: L2 (Eq. 2) trains the parts of a matching caption to
  score above those of a non-matching one (Figure 3 compares them so), and L3 the mismatched
  parts of a caption at least alpha3 below its matched parts. Both are relative, so a score
  says something only next to scores known to match.
- Per part, not per caption or per type: the types sit at different levels (on an early
  quick-start model relations near -0.5, attributes near 0, words near +0.4, objects near
  +0.7 in every caption: one mean over all parts flagged every attribute and relation of the
  images' own captions), and so do the parts of one type. A word scores its best region
  whatever the caption says around it, so a word no region shows ("front", "two", "image")
  sits low against every image: judged against its type's mean in the image's captions,
  53.0% of the words of the quick start's true test captions were flagged (98.5% of the
  captions had one), and the part named in an edited caption touched the edit 67.6% of the
  time; against the part's own level 85.8% (BENCHMARKS.md, "Minimal pairs").
- Measured margins, not alpha3 / 2 (halfway between the level of matched parts and the gap
  L3 asks of mismatched ones): alpha3 / 2 is small next to the spread of one part's scores
  across images and flagged 18% of the parts of true captions; m_t (0.09-0.11 on the quick
  start's model) 5.7%, with a flag on the edit of 84.3% of the test minimal pairs
  (BENCHMARKS.md, "Explain's flags"). `--margin` trades flags for misses.
- A type with no reference gets no verdict; stop words and punctuation get none either (L3
  gives them no label), though they count in s_P, Eq. 5's mean over parts.
The verdict is only as good as the model's L2: where its part scores do not separate
captions of the image from other captions, flags fall on matched and mismatched parts alike
(the label-rule column and the agreement line show it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from ssamt.data.batch import ImageBatch
from ssamt.data.precomp import PrecompSplit, split_paths
from ssamt.data.tables import ImageTable, TextTable
from ssamt.errors import ConfigError, DataError, SsamtError
from ssamt.labels.graph import CaptionGraph
from ssamt.labels.matching import ImageLabels
from ssamt.pipelines.part_levels import PartLevels
from ssamt.pipelines.parts import Part, score_parts
from ssamt.train.trained_run import Run


@dataclass(frozen=True)
class Explanation:
    """Per-part scores of one pair, its pair-level scores and the verdict rule used.

    scores:    eq5 (Eq. 5), intra cos(a^I, a^T), inter_global cos(h^I, h^T), s_P (mean over
               every scored part), s_R (mean over regions of cos(h^T, H^I_k)).
    reference: level -> the type's level: its mean on the part levels' training pairs, or
               in the reference captions (a part's own .ref is what it is judged by).
    cuts:      level -> the cut of a part sitting at its type's level (`reference` minus
               the type's margin); a part's own cut is its .ref minus that margin.
    rule:      how the cuts were chosen, in words.
    flagged:   the one part the verdict names (flagged_part), or None.
    recipe:    the checkpoint's phase-2 recipe, whose scores these are.
    """

    caption: str
    parts: tuple[Part, ...]
    scores: dict[str, float]
    mu1: float
    mu2: float
    reference: dict[str, float]
    cuts: dict[str, float]
    rule: str
    flagged: Part | None = None
    recipe: str = "ssamt"

    @property
    def has_labels(self) -> bool:
        return any(p.label is not None for p in self.parts)

    def agreement(self) -> dict[str, Any]:
        """Model verdict vs label rule on parts that have both; mean score of each label side
        (the Table 4 phrase classifier is right when matched > mismatched)."""
        both = [p for p in self.parts if p.mismatch is not None and p.label is not None]
        by_label = {side: [p.score for p in self.parts if p.judged and p.label is side]
                    for side in (True, False)}
        mean = {side: sum(v) / len(v) if v else None for side, v in by_label.items()}
        # they agree when the model flags exactly the parts the rule calls mismatched
        return {"counted": len(both), "agree": sum(p.mismatch != p.label for p in both),
                "mean_matched": mean[True], "mean_mismatched": mean[False]}

    def to_json(self) -> dict[str, Any]:
        parts = [{**asdict(p), "key": list(p.key)} for p in self.parts]
        out = {"caption": self.caption, "recipe": self.recipe, "mu1": self.mu1, "mu2": self.mu2,
               "scores": dict(self.scores),
               "verdict": {"rule": self.rule, "reference": dict(self.reference),
                           "cuts": dict(self.cuts),
                           "flagged": None if self.flagged is None else
                           {"kind": self.flagged.kind, "index": self.flagged.index,
                            "text": self.flagged.text}},
               "parts": parts}
        if self.has_labels:
            out["agreement"] = self.agreement()
        return out


# ----- the model's side -----------------------------------------------------------------


def default_margin(run: Run) -> float:
    """alpha3 / 2 of the run's training config (module docstring)."""
    return float(run.config.loss.alpha3) / 2


def score_caption(run: Run, image: ImageBatch, graph: CaptionGraph,
                  labels: ImageLabels | None, mu1: float,
                  mu2: float) -> tuple[list[Part], dict[str, float]]:
    """Rows of `graph` (its phrases, then its tokens) with scores against `image` (B = 1) and
    label-rule marks against `labels`, without verdicts; and the pair-level scores
    (Explanation.scores)."""
    device = next(run.model.parameters()).device
    texts = TextTable([graph], run.vocab, max_tokens=run.max_tokens)
    scored = score_parts(run.model, ImageTable.from_arrays(image.regions, image.boxes), texts,
                         [graph], np.zeros(1, np.int64), np.zeros(1, np.int64), mu1, mu2,
                         vocab=run.vocab, max_tokens=run.max_tokens,
                         labels=None if labels is None else [labels], device=str(device))
    s = scored.scores
    pair = {"eq5": s["eq5"], "intra": s["intra"], "inter_global": s["inter_global"],
            "s_P": s["s_P"], "s_R": s["s_R"]}
    return scored.parts[0], {k: float(v[0]) for k, v in pair.items()}


# ----- the verdict -----------------------------------------------------------------------


def reference_levels(parts: Sequence[Part]) -> dict[str, float]:
    """Mean score of the judged parts of each level (the reference captions' parts)."""
    by_level: dict[str, list[float]] = {}
    for p in parts:
        if p.judged:
            by_level.setdefault(p.level, []).append(p.score)
    return {level: sum(v) / len(v) for level, v in by_level.items()}


LEVELS = ("object", "attribute", "relation", "word")


IMAGE_REFERENCE = "the mean score of the part's type in the image's own captions"


def verdict_cuts(reference: dict[str, float], margin: float | dict[str, float],
                 threshold: float | None, margin_words: str | None = None,
                 reference_words: str = IMAGE_REFERENCE) -> tuple[dict[str, float], str]:
    """The cut of each level, below which a part of that type at the level is flagged
    (a part's own .ref replaces the level, with_references), and the rule in words; margin:
    one for every level, or per level."""
    if threshold is not None:
        return dict.fromkeys(LEVELS, threshold), f"mismatch when score < {threshold:.3f}"
    if not reference:
        return {}, "no reference caption of the image is scored: no verdict"
    margins = margin if isinstance(margin, dict) else dict.fromkeys(LEVELS, margin)
    words = margin_words or f"{margin:.3f}"
    rule = f"mismatch when score < ref - {words}, ref = {reference_words}"
    return {level: ref - margins[level] for level, ref in reference.items()}, rule


def level_margins(run: Run, margin: float | None,
                  part_levels: PartLevels | None) -> tuple[dict[str, float], str]:
    """The margin of each level and how it was chosen, in words: `margin` when given, else
    the part levels' (the margin below which FALSE_FLAGS of the matched parts of that type
    fall, ssamt.pipelines.part_levels), else alpha3 / 2 (default_margin)."""
    if margin is not None:
        return dict.fromkeys(LEVELS, margin), f"{margin:.3f}"
    fallback = default_margin(run)
    learned = {} if part_levels is None else part_levels.margins
    if not learned:
        return dict.fromkeys(LEVELS, fallback), f"{fallback:.3f} (alpha3 / 2)"
    shown = ", ".join(f"{level} {learned[level]:.3f}" for level in LEVELS if level in learned)
    words = (f"m_type ({shown}: {100 * part_levels.false_flags:g}% of the matched parts of "
             f"each type fall further below their ref on {part_levels.images} training images)")
    return {level: learned.get(level, fallback) for level in LEVELS}, words


def with_references(parts: Sequence[Part], reference: dict[str, float],
                    levels: PartLevels | None = None) -> list[Part]:
    """Parts with .ref set: with part levels, where the part usually scores against images
    it matches (PartLevels.level: its key's mean on training pairs, else its type's);
    without, or for a type they lack, the mean of its type in the image's own captions
    (`reference`). None for a part that gets no verdict."""
    out = []
    for p in parts:
        ref = None
        if p.judged:
            ref = None if levels is None else levels.level(p.key, p.level)
            ref = reference.get(p.level) if ref is None else ref
        out.append(p if ref is None else replace(p, ref=ref))
    return out


def flagged_part(parts: Sequence[Part]) -> Part | None:
    """The part the verdict names: furthest below its reference (score - ref), among the
    caption's phrases when any has a reference, else among its words; None when no part has
    one. Phrases first because a phrase covers its words and is the unit the label rule
    (paper 2.1) and Figure 3 name ("white umbrella", "man in white"); a caption without a
    judged phrase is still judged by its words."""
    judged = [p for p in parts if p.ref is not None]
    phrases = [p for p in judged if p.kind == "phrase"]
    return min(phrases or judged, key=lambda p: p.score - p.ref, default=None)


def explain_pair(run: Run, image: ImageBatch, graph: CaptionGraph,
                 labels: ImageLabels | None = None,
                 reference: Sequence[CaptionGraph] = (), *, margin: float | None = None,
                 threshold: float | None = None, mu1: float | None = None,
                 mu2: float | None = None, part_levels: PartLevels | None = None) -> Explanation:
    """Phrase-to-image scores of caption `graph` against `image` (one image, B = 1).

    run:       the trained run (ssamt.train.trained_run.load_run): its model and vocab; run.max_tokens
        cuts the caption as in training and evaluation; run.eq5_weights(mu1, mu2) gives Eq.
        5's weights and run.config.loss.alpha3 the margin used without part levels (alpha3
        / 2; level_margins).
    labels:    L_i of the image, for the label-rule column (None: no column).
    reference: the image's own captions, for the verdict without part levels (module
        docstring); one with the text of `graph` is left out. Without any, part levels or a
        threshold, no part gets a verdict.
    part_levels: where each part usually scores against images it matches, and the margins
        (ssamt.pipelines.part_levels.part_levels_for); None: the image's captions' type
        means and alpha3 / 2.
    """
    if not graph.tokens:
        raise SsamtError("the caption has no words to score")
    if len(image) != 1:
        raise ValueError(f"explain_pair scores one image, got a batch of {len(image)}")
    if margin is not None and margin < 0:
        raise ConfigError(f"the margin must be >= 0, got {margin}")
    mu1, mu2 = run.eq5_weights(mu1, mu2)
    parts, pair = score_caption(run, image, graph, labels, mu1, mu2)
    # The image's captions only stand in for a type the part levels lack: not scored else.
    covered = part_levels is not None and all(t in part_levels.type_means for t in LEVELS)
    own_levels = {} if covered else reference_levels(
        [p for g in reference if g.tokens and g.text != graph.text
         for p in score_caption(run, image, g, None, mu1, mu2)[0]])
    levels, words = own_levels, IMAGE_REFERENCE
    if part_levels is not None:
        levels = {**own_levels, **part_levels.type_means}
        words = (f"where the part usually scores against images it matches: its mean over "
                 f"{part_levels.images} training images' own captions (its type's for a part "
                 "seen fewer than 3 times)")
    margins, margin_words = level_margins(run, margin, part_levels)
    cuts, rule = verdict_cuts(levels, margins, threshold, margin_words, words)
    parts = with_references(parts, own_levels, part_levels)
    if threshold is not None:
        parts = [replace(p, mismatch=p.score < threshold) if p.judged else p for p in parts]
    else:
        parts = [replace(p, mismatch=p.score < p.ref - margins[p.level])
                 if p.ref is not None else p for p in parts]
    return Explanation(graph.text, tuple(parts), pair, mu1, mu2, levels, cuts, rule,
                       flagged_part(parts), run.recipe)


# ----- picking the pair from a split ---------------------------------------------------------


def image_batch(split: PrecompSplit, i: int) -> ImageBatch:
    """Image i of the split as a batch of one; DataError naming the features file if i is
    out of range."""
    if not 0 <= i < split.num_images:
        raise DataError(split.images_path, f"image {i} out of range: split '{split.split}' has "
                                           f"{split.num_images} images (0..{split.num_images - 1})")
    return ImageTable(split).batch([i])


def check_caption_index(split: PrecompSplit, j: int) -> None:
    """DataError naming the captions file when caption j is out of range or empty."""
    path = split_paths(split.data_dir, split.split)["caps"]
    if not 0 <= j < split.num_captions:
        raise DataError(path, f"caption {j} out of range: split '{split.split}' has "
                              f"{split.num_captions} captions (0..{split.num_captions - 1})")
    if not split.captions[j].strip():
        raise DataError(path, f"caption {j} (line {j + 1}) is empty")
