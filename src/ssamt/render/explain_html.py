"""The explanation of one image-caption pair as a self-contained HTML page (paper Figure 3).

The caption's words and phrases are chips coloured by their phrase-to-image score
(model.scores.part_scores) (red low, green high, on the fixed cosine scale -1..1, so pages compare);
each phrase shows the model's verdict beside the label rule's; the Eq. 5 terms add up to
the pair's score; the image is drawn inline. No script, font or picture is fetched.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:1100px}
h1{font-size:1.2em} h2{font-size:1em;margin-top:1.4em}
.cols{display:flex;gap:2em;flex-wrap:wrap} .col{flex:1;min-width:320px}
.chip{display:inline-block;padding:.2em .45em;margin:.15em;border-radius:.6em;
 border:1px solid #0002;font-size:.95em}
.chip small{color:#444;margin-left:.3em}
.stop{background:#eee;color:#888} .unscored{border-style:dashed;background:#fff}
.flag{outline:2px solid #b00;outline-offset:1px}
table{border-collapse:collapse;font-size:.9em} td,th{padding:.2em .6em;border-bottom:1px solid #ddd;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.noimage{width:300px;height:120px;border:1px dashed #aaa;display:flex;align-items:center;
 justify-content:center;text-align:center;color:#666}
.legend span{display:inline-block;min-width:3.2em;text-align:center;font-size:.75em;padding:.1em 0}
"""


def score_colour(score: float | None) -> str:
    """Background of a chip: hue 0 (red) at cosine -1 through 60 (yellow) at 0 to 120
    (green) at +1; None (the model does not see the part) is white."""
    if score is None:
        return "#ffffff"
    hue = 60.0 * (1.0 + max(-1.0, min(1.0, score)))
    return f"hsl({hue:.0f},70%,78%)"


def _mark(value: bool | None, yes: str, no: str) -> str:
    return "–" if value is None else (no if value else yes)


def part_chip(part: Any) -> str:
    """One chip: the part's text, its score on hover and beside it, flagged when the model
    calls it a mismatch."""
    classes = ["chip"]
    if part.type == "stop word":
        classes.append("stop")
    if part.score is None:
        classes.append("unscored")
    if part.mismatch:
        classes.append("flag")
    score = "not seen by the model" if part.score is None else f"{part.score:+.3f}"
    tip = f"{part.type}: {score}; model: {_mark(part.mismatch, 'match', 'MISMATCH')}; " \
          f"label rule: {_mark(None if part.label is None else not part.label, 'match', 'MISMATCH')}"
    style = "" if part.type == "stop word" else f' style="background:{score_colour(part.score)}"'
    small = "" if part.score is None or part.kind == "word" else f"<small>{part.score:+.2f}</small>"
    return (f'<span class="{" ".join(classes)}"{style} title="{escape(tip)}">'
            f"{escape(part.text)}{small}</span>")


def _parts_table(parts: Sequence[Any]) -> str:
    rows = ["<tr><th>part</th><th>type</th><th>score</th><th>model</th><th>label rule</th></tr>"]
    for p in parts:
        if p.type == "stop word":
            continue
        score = "–" if p.score is None else f"{p.score:+.3f}"
        model = _mark(p.mismatch, "match", "<b>mismatch</b>")
        rule = _mark(None if p.label is None else not p.label, "matched", "mismatched")
        rows.append(f"<tr><td>{escape(p.text)}</td><td>{escape(p.type)}</td>"
                    f'<td class="num">{score}</td><td>{model}</td><td>{rule}</td></tr>')
    return "<table>" + "".join(rows) + "</table>"


def eq5_terms(expl: Any) -> list[tuple[str, float]]:
    """Eq. 5 as its weighted terms, in order; they sum to expl.scores["eq5"]."""
    s = expl.scores
    return [("cos(a^I, a^T)  (intra, stage 1)", s["intra"]),
            (f"mu1 x cos(h^I, h^T)  (mu1 = {expl.mu1:g})", expl.mu1 * s["inter_global"]),
            (f"mu2 x s_P: mean phrase-to-image score of the parts  (mu2 = {expl.mu2:g})",
             expl.mu2 * s["s_P"]),
            ("mu2 x s_R: mean over regions of cos(h^T, H^I_k)", expl.mu2 * s["s_R"])]


def _eq5_table(expl: Any) -> str:
    rows = [f'<tr><td>{escape(name)}</td><td class="num">{value:+.4f}</td></tr>'
            for name, value in eq5_terms(expl)]
    rows.append(f'<tr><th>Eq. 5 score</th><th class="num">{expl.scores["eq5"]:+.4f}</th></tr>')
    return "<table>" + "".join(rows) + "</table>"


def _legend() -> str:
    cells = "".join(f'<span style="background:{score_colour(v / 4)}">{v / 4:+.2f}</span>'
                    for v in range(-4, 5))
    return f'<div class="legend">score: {cells} &nbsp; <span class="chip flag">flagged</span></div>'


def _verdict(expl: Any) -> str:
    lines = [f"<p>Model verdict: {escape(expl.rule)}.</p>"]
    flagged = getattr(expl, "flagged", None)
    if flagged is not None:
        lines.append(f"<p>Most likely mismatch: <b>{escape(flagged.text)}</b> ({flagged.type}, "
                     f"{flagged.score - flagged.ref:+.3f} against its reference).</p>")
    if expl.has_labels:
        a = expl.agreement()
        mm = "–" if a["mean_mismatched"] is None else f"{a['mean_mismatched']:+.3f}"
        mt = "–" if a["mean_matched"] is None else f"{a['mean_matched']:+.3f}"
        lines.append(f"<p>Model and label rule agree on {a['agree']} of {a['counted']} parts; "
                     f"mean score of the parts the rule calls matched {mt}, mismatched {mm}.</p>")
    return "".join(lines)


def explanation_html(expl: Any, title: Sequence[str], picture: str,
                     captions: Sequence[str] = (), relations: Sequence[str] = ()) -> str:
    """The page of an ssamt.pipelines.explain.Explanation; `picture` is trusted inline HTML
    (ssamt.render.pictures.picture_html), everything else is escaped."""
    words = [p for p in expl.parts if p.kind == "word"]
    phrases = [p for p in expl.parts if p.kind == "phrase"]
    refs = "".join(f"<li>{escape(c)}</li>" for c in captions)
    rels = "".join(f"<li>{escape(r)}</li>" for r in relations)
    head = "".join(f"<div>{escape(t)}</div>" for t in title)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ssamt explain: {escape(expl.caption)}</title>
<style>{CSS}</style></head><body>
<h1>Caption against image, part by part (paper Figure 3)</h1>{head}
<div class="cols"><div class="col">{picture}
{f"<h2>Relations in the scene</h2><ul>{rels}</ul>" if rels else ""}
{f"<h2>The image's captions</h2><ul>{refs}</ul>" if refs else ""}</div>
<div class="col"><h2>Caption, word by word</h2><p class="words">{"".join(map(part_chip, words))}</p>
<h2>Phrases</h2><p class="phrases">{"".join(map(part_chip, phrases)) or "(no phrases)"}</p>
{_legend()}{_verdict(expl)}
<h2>Eq. 5</h2>{_eq5_table(expl)}</div></div>
<h2>Every part</h2>{_parts_table(expl.parts)}
</body></html>
"""
