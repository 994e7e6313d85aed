"""`ssamt explain`'s table in plain text: one row per part of an Explanation
(ssamt.pipelines.explain), phrases then words, then the pair's scores and the verdict rule.
The same explanation as a page is ssamt.render.explain_html."""

from __future__ import annotations

from ssamt.pipelines.explain import LEVELS, Explanation
from ssamt.pipelines.parts import Part
from ssamt.text import printable


def _level_order(item: tuple[str, float]) -> int:
    return LEVELS.index(item[0])


def _verdict_cell(flag: bool | None, mismatched: bool) -> str:
    return "" if flag is None else ("mismatch" if mismatched else "match")


def _vs_ref(p: Part) -> str:
    return "" if p.ref is None else f"{p.score - p.ref:+.3f}"


def _header(expl: Explanation) -> list[str]:
    return (["part", "type", "score"] + (["vs ref"] if expl.reference else []) + ["model"]
            + (["label rule"] if expl.has_labels else []))


def _rows(expl: Explanation) -> list[list[str]]:
    """Cells of each part, as _header: text, type, score [, vs ref], model [, label rule]."""
    rows = []
    for p in expl.parts:
        # printable: a caption's ESC or newline shown as its escape, never acted on
        row = [printable(p.text) if p.in_vocab else f"{printable(p.text)} <unk>", p.type,
               "-" if p.score is None else f"{p.score:+.3f}"]
        row += [_vs_ref(p)] if expl.reference else []
        row.append(_verdict_cell(p.mismatch, bool(p.mismatch)))
        if expl.has_labels:
            row.append(_verdict_cell(p.label, p.label is False))
        rows.append(row)
    return rows


def _summary(expl: Explanation) -> list[str]:
    s = expl.scores
    eq5 = (f"Eq. 5 score ({expl.recipe} recipe) {s['eq5']:+.4f} = cos(a^I,a^T) {s['intra']:+.4f} + {expl.mu1:g} * "
           f"cos(h^I,h^T) {s['inter_global']:+.4f} + {expl.mu2:g} * s_P {s['s_P']:+.4f} + "
           f"{expl.mu2:g} * s_R {s['s_R']:+.4f}")
    lines = [eq5,
             f"intra (dual encoder) score cos(a^I,a^T) {s['intra']:+.4f}",
             f"model verdict: {expl.rule}"]
    if expl.flagged is not None:
        f = expl.flagged
        lines.append(f"most likely mismatch: '{f.text}' ({f.type}, {f.score - f.ref:+.3f} "
                     "against its reference)")
    if expl.reference:
        lines.append("ref: " + ", ".join(f"{level} {ref:+.3f}" for level, ref in
                                         sorted(expl.reference.items(), key=_level_order)))
    if expl.has_labels:
        a = expl.agreement()
        means = ", ".join(f"{name} {a[key]:+.3f}" for name, key in
                          (("matched", "mean_matched"), ("mismatched", "mean_mismatched"))
                          if a[key] is not None)
        lines.append(f"label rule: the model agrees on {a['agree']} of {a['counted']} parts; "
                     f"mean score (Eq. 3) of the rule's {means or 'parts: none scored'}")
    if expl.cuts and any(p.judged and p.level not in expl.cuts for p in expl.parts):
        lines.append("model '': no verdict for a type absent from the image's own captions")
    if any(p.score is None for p in expl.parts):
        lines.append("score '-': the model does not see this part (past max_tokens, or a "
                     "model without phrase nodes)")
    return lines


def format_explanation(expl: Explanation, title: list[str] | None = None) -> str:
    """A readable table: phrases then words (the order of H^T), then the pair's scores.
    "vs ref" is the score minus the part's reference (its type's, plus its own offset when
    part levels are known; module docstring)."""
    head, rows = _header(expl), _rows(expl)
    widths = [max(len(r[c]) for r in [head, *rows]) for c in range(len(head))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if head[k] in ("score", "vs ref") else c.ljust(w)
                         for k, (c, w) in enumerate(zip(cells, widths))).rstrip()

    rule = "  ".join("-" * w for w in widths)
    n_phrases = sum(p.kind == "phrase" for p in expl.parts)
    table = [line(head), rule, *map(line, rows[:n_phrases])]
    table += [rule] if n_phrases else []
    table += map(line, rows[n_phrases:])
    # The title names a path, the summary a caption's part: escaped like the cells.
    lines = [*(printable(t) for t in title or []), "", *table, "",
             *map(printable, _summary(expl))]
    return "\n".join(lines)
