"""FACTUAL gold scene graphs: reader and tuple-F1 scorer (shared by tests and benchmarks).

FACTUAL (Li et al. 2023) writes a graph as `( s , r , o ) , ( o , is , a ) , ( o )`. A caption's
tuple set is its objects as 1-tuples (every entity named anywhere in the graph), its attribute
pairs `(o, a)` and its relation triples `(s, r, o)`, the SPICE-style evaluation of scene-graph
parsers. Strings are compared after `normalize`, applied to gold and prediction alike: FACTUAL
keeps some nouns plural ("dogs") while ssamt keys use singular lemmas (docs/DESIGN.md section 2), so
plurals are folded by one deterministic rule on both sides; nothing else is forgiven.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ssamt.errors import DataError
from ssamt.labels.graph import CaptionGraph
from ssamt.labels.lexicon import normalize_word

Tuple = tuple[str, ...]

_TUPLE_RE = re.compile(r"\(([^()]*)\)")
@dataclass(frozen=True)
class GoldGraph:
    """One FACTUAL row: the caption and its gold tuples (raw strings, as annotated)."""

    caption: str
    objects: tuple[str, ...]
    attributes: tuple[tuple[str, str], ...]
    relations: tuple[tuple[str, str, str], ...]


def parse_graph_text(text: str) -> tuple[list[str], list[tuple[str, str]], list[tuple[str, str, str]]]:
    """Split FACTUAL's `( a , b , c ) , ( d )` notation into objects, attributes, relations."""
    objects: list[str] = []
    attributes: list[tuple[str, str]] = []
    relations: list[tuple[str, str, str]] = []
    for body in _TUPLE_RE.findall(text):
        parts = [p.strip().lower() for p in body.split(" , ")]
        if len(parts) == 1 and parts[0]:
            objects.append(parts[0])
        elif len(parts) == 3 and parts[1] == "is":
            objects.append(parts[0])
            attributes.append((parts[0], parts[2]))
        elif len(parts) == 3:
            objects += [parts[0], parts[2]]
            relations.append((parts[0], parts[1], parts[2]))
    return objects, attributes, relations


def read_factual(path: str | Path) -> list[GoldGraph]:
    """Read a FACTUAL csv (columns caption, scene_graph)."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"cannot read FACTUAL csv: {exc}") from exc
    if rows and not {"caption", "scene_graph"} <= set(rows[0]):
        raise DataError(path, "expected columns caption and scene_graph")
    graphs = []
    for row in rows:
        objs, attrs, rels = parse_graph_text(row["scene_graph"])
        graphs.append(GoldGraph(row["caption"], tuple(objs), tuple(attrs), tuple(rels)))
    return graphs


def normalize(phrase: str) -> str:
    return " ".join(normalize_word(w) for w in phrase.lower().split())


def tuple_set(objects: Iterable[str], attributes: Iterable[Sequence[str]],
              relations: Iterable[Sequence[str]]) -> set[Tuple]:
    """The normalized 1-, 2- and 3-tuples of one graph (attribute pairs as (object, attr))."""
    out: set[Tuple] = {(normalize(o),) for o in objects}
    out |= {(normalize(o), normalize(a)) for o, a in attributes}
    for s, r, o in relations:
        out |= {(normalize(s),), (normalize(o),), (normalize(s), r.lower(), normalize(o))}
    return out


def graph_tuples(graph: CaptionGraph | GoldGraph) -> set[Tuple]:
    return tuple_set(graph.objects, graph.attributes, graph.relations)


@dataclass(frozen=True)
class Score:
    f1: float          # mean per-caption F1, in percent
    precision: float   # mean per-caption precision, in percent
    recall: float      # mean per-caption recall, in percent
    set_match: float   # percent of captions whose whole tuple set is exactly right
    n: int


def caption_prf(pred: set[Tuple], gold: set[Tuple]) -> tuple[float, float, float]:
    if not pred and not gold:
        return 1.0, 1.0, 1.0
    hit = len(pred & gold)
    p = hit / len(pred) if pred else 0.0
    r = hit / len(gold) if gold else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def score(predicted: Sequence[CaptionGraph], gold: Sequence[GoldGraph]) -> Score:
    """Tuple F1 averaged over captions, and exact set match."""
    if len(predicted) != len(gold):
        raise ValueError(f"{len(predicted)} predictions for {len(gold)} gold graphs")
    ps, rs, fs, exact = 0.0, 0.0, 0.0, 0
    for pred_graph, gold_graph in zip(predicted, gold):
        pred, ref = graph_tuples(pred_graph), graph_tuples(gold_graph)
        p, r, f = caption_prf(pred, ref)
        ps, rs, fs, exact = ps + p, rs + r, fs + f, exact + (pred == ref)
    n = max(len(gold), 1)
    return Score(100 * fs / n, 100 * ps / n, 100 * rs / n, 100 * exact / n, len(gold))


def learn_attr_modifiers(gold: Sequence[GoldGraph], min_count: int = 2) -> list[str]:
    """Words that FACTUAL annotates more often as an attribute than inside an object name.

    "brick wall" -> (wall, is, brick) but "baseball field" stays one object: for each word
    seen in front of a noun in a caption, count how often the gold graph makes it a
    single-word attribute vs. the first word of a multi-word object name.
    """
    as_attr: dict[str, int] = {}
    as_name: dict[str, int] = {}
    for g in gold:
        words = g.caption.lower().split()
        attrs = {a for _, a in g.attributes if " " not in a}
        names = {o.split()[0] for o in g.objects if " " in o}
        for w in set(words):
            if w in attrs:
                as_attr[w] = as_attr.get(w, 0) + 1
            if w in names:
                as_name[w] = as_name.get(w, 0) + 1
    return sorted(w for w, n in as_attr.items() if n >= min_count and n > as_name.get(w, 0))


def learn_modifier_pairs(gold: Sequence[GoldGraph], attr_words: frozenset[str] | set[str],
                         min_count: int = 2) -> tuple[list[str], list[str]]:
    """Word pairs "mod head" whose FACTUAL treatment differs from the word-level rule.

    Returns (names, attrs): pairs FACTUAL keeps as one object name ("hot dog", "polar bear",
    "baseball field"; adjectives are otherwise attributes), and pairs made an attribute
    although `mod` usually starts a name ("baseball uniform"). Heads folded by `normalize_word`.
    """
    name: dict[tuple[str, str], int] = {}
    attr: dict[tuple[str, str], int] = {}
    for g in gold:
        cap = f" {g.caption.lower()} "
        for o in set(g.objects):
            words = o.split()
            if len(words) == 2 and f" {o} " in cap:
                key = (words[0], normalize_word(words[1]))
                name[key] = name.get(key, 0) + 1
        for o, a in set(g.attributes):
            if " " not in a and " " not in o and f" {a} {o} " in cap:
                key = (a, normalize_word(o))
                attr[key] = attr.get(key, 0) + 1
    names, attrs = [], []
    for key in sorted(set(name) | set(attr)):
        n, a = name.get(key, 0), attr.get(key, 0)
        if n > a and n >= min_count:
            names.append(" ".join(key))
        elif a > n and a >= min_count and key[0] not in attr_words:
            attrs.append(" ".join(key))
    return names, attrs
