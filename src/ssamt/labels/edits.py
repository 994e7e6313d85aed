"""Minimal edits of a parsed caption: the same words, one binding or role changed (issue 11).

Phase 2 can add, for a caption, a copy with one edit that keeps its bag of words and
changes what it says (SugarCrepe's swap-att / swap-obj, ARO's relation order):

  swap-attribute  two objects trade one attribute word each
                  ("a red cup on a blue table" -> "a blue cup on a red table")
  swap-role       the subject and the object of a relation trade places, each with the
                  attribute words in front of it ("a dog chasing a small cat" ->
                  "a small cat chasing a dog")

The edits work on the parse alone (CaptionGraph tokens and phrase spans), never on any
scene truth, so the same recipe runs on real captions. Whether an edited caption is false
for an image is left to the label rule (labels.matching): phase 2 uses an edit as a
negative only when the rule marks one of the phrases the edit changed as mismatched.

A phrase's words either move with the edit (an object with its attribute words: "content")
or keep their place while the words in them change (a relation's subject and object slots,
an attribute's value slot): keys and spans are rewritten accordingly. Edits that would need
more than moving whole words (a predicate attribute left behind, an object named twice, a
phrase spanning both edited parts) are not made.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from itertools import combinations

from ssamt.labels.graph import CaptionGraph, Key, Phrase

EDIT_KINDS = ("swap-attribute", "swap-role")

# A determiner right before a noun phrase moves with it ("three kites" / "a table" trade
# places whole); "a" / "an" is then respelled for its new next word.
DETERMINERS = frozenset({"a", "an", "the", "this", "that", "these", "those", "its", "his",
                         "her", "their", "some"})

# Relations that read the same both ways: swapping their subject and object does not make a
# caption false ("a cat next to a dog"). English spatial words, not tuned to any data set.
SYMMETRIC_RELATIONS = frozenset({
    "next to", "beside", "near", "by", "with", "and", "across from", "opposite",
    "close to", "alongside", "adjacent to", "meet", "touch",
})


class PhraseCorpus:
    """What a set of captions (the training set) says, to keep only plausible edits.

    An edit is plausible when every phrase it makes occurs in some caption of the corpus and
    every two attributes it leaves on one object occur together on an object of one caption.
    An implausible edit ("a small large kitten", "a park standing under a tree") can be told
    from a real caption by the text alone, so as a negative it teaches a language prior, not
    grounding; a plausible one ("a blue cup on a red table") can only be judged by looking
    at the image (SugarCrepe filters its edits for the same reason).
    """

    def __init__(self, graphs) -> None:
        self.keys: set[Key] = set()
        self.attribute_pairs: set[tuple[str, str]] = set()
        for graph in graphs:
            self.keys.update(p.key for p in graph.phrases)
            self.attribute_pairs.update(_attribute_pairs(graph))

    def plausible(self, edit: CaptionEdit) -> bool:
        return edit.changed <= self.keys and _attribute_pairs(edit.graph) <= self.attribute_pairs


def _attribute_pairs(graph: CaptionGraph) -> set[tuple[str, str]]:
    """(value, value) of every two attributes of one object in the caption, sorted."""
    by_holder: dict[str, set[str]] = {}
    for p in graph.phrases:
        if p.type == "attribute":
            by_holder.setdefault(p.key[2], set()).add(p.key[1])
    return {pair for values in by_holder.values() for pair in combinations(sorted(values), 2)}


@dataclass(frozen=True)
class CaptionEdit:
    """One edited caption: its kind, its parse, and the phrase keys it has that the original
    does not (the parts the edit made; the label rule marks those against the image)."""

    kind: str
    graph: CaptionGraph
    changed: frozenset[Key]


def caption_edits(graph: CaptionGraph, kinds: tuple[str, ...] = EDIT_KINDS) -> list[CaptionEdit]:
    """Every edit of `kinds` that can be made from the parse of `graph`, in a fixed order."""
    out: list[CaptionEdit] = []
    if "swap-attribute" in kinds:
        out.extend(swap_attribute_edits(graph))
    if "swap-role" in kinds:
        out.extend(swap_role_edits(graph))
    return out


# ---- shared machinery ------------------------------------------------------------------

def _contiguous(positions: set[int] | tuple[int, ...]) -> range | None:
    """The positions as one range, or None when they have a gap (or are empty)."""
    if not positions:
        return None
    lo, hi = min(positions), max(positions)
    return range(lo, hi + 1) if hi - lo + 1 == len(set(positions)) else None


def _swap_order(n: int, a: range, b: range) -> tuple[list[int], dict[int, int]]:
    """When the disjoint ranges a and b of n tokens trade places: the old positions in their
    new order, and each old position's new one."""
    if a.start > b.start:
        a, b = b, a
    order = [*range(a.start), *b, *range(a.stop, b.start), *a, *range(b.stop, n)]
    return order, {old: new for new, old in enumerate(order)}


def _rebuild(graph: CaptionGraph, order: list[int], phrases: list[Phrase]) -> CaptionGraph:
    """The graph with tokens in `order` (old positions) and the given (already moved)
    phrases; duplicate keys are refused by the callers."""
    tokens = [graph.tokens[i] for i in order]
    lemmas = [graph.lemmas[i] for i in order]
    for i in range(len(tokens) - 1):
        if tokens[i] in ("a", "an") and order[i + 1] != order[i] + 1:  # next word changed
            vowel = tokens[i + 1][:1] in tuple("aeiou")
            tokens[i] = lemmas[i] = "an" if vowel else "a"
    phrases = [replace(p, span=tuple(sorted(p.span))) for p in phrases]
    return CaptionGraph(
        text=" ".join(tokens),
        tokens=tuple(tokens),
        lemmas=tuple(lemmas),
        stop=tuple(graph.stop[i] for i in order),
        objects=tuple(p.key[1] for p in phrases if p.type == "object"),
        attributes=tuple((p.key[2], p.key[1]) for p in phrases if p.type == "attribute"),
        relations=tuple(p.key[1:] for p in phrases if p.type == "relation"),
        phrases=tuple(phrases),
    )


def _object_spans(graph: CaptionGraph) -> dict[str, tuple[int, ...]]:
    return {p.key[1]: p.span for p in graph.phrases if p.type == "object"}


def _finish(kind: str, graph: CaptionGraph, order: list[int],
            phrases: list[Phrase]) -> CaptionEdit | None:
    keys = [p.key for p in phrases]
    if len(set(keys)) != len(keys):
        return None  # the edit would say one thing twice: not a clean minimal edit
    new = _rebuild(graph, order, phrases)
    changed = frozenset(keys) - {p.key for p in graph.phrases}
    return CaptionEdit(kind, new, changed) if changed else None


# ---- swap-attribute ----------------------------------------------------------------------

def _attribute_words(graph: CaptionGraph) -> list[tuple[int, range]]:
    """(phrase index, the attribute's own words) of attribute phrases whose words form one
    run of tokens apart from their holder's name."""
    spans = _object_spans(graph)
    out = []
    for k, p in enumerate(graph.phrases):
        if p.type != "attribute" or p.key[2] not in spans:
            continue
        words = _contiguous(set(p.span) - set(spans[p.key[2]]))
        if words is not None:
            out.append((k, words))
    return out


def _is_number(value: str) -> bool:
    return value.isdigit()


def swap_attribute_edits(graph: CaptionGraph) -> Iterator[CaptionEdit]:
    """Two attributes of different objects trade their words; counts trade only with counts
    (a count on a mass noun reads as nonsense, not as a minimal change)."""
    for (ka, wa), (kb, wb) in combinations(_attribute_words(graph), 2):
        pa, pb = graph.phrases[ka], graph.phrases[kb]
        if pa.key[2] == pb.key[2] or pa.key[1] == pb.key[1]:
            continue
        if _is_number(pa.key[1]) != _is_number(pb.key[1]):
            continue
        if set(wa) & set(wb):
            continue
        edit = _swap_attribute(graph, ka, wa, kb, wb)
        if edit is not None:
            yield edit


def _swap_attribute(graph: CaptionGraph, ka: int, wa: range, kb: int,
                    wb: range) -> CaptionEdit | None:
    moved = set(wa) | set(wb)
    order, new_pos = _swap_order(len(graph.tokens), wa, wb)
    holder = _object_spans(graph)
    phrases = []
    for k, p in enumerate(graph.phrases):
        if k in (ka, kb):  # the value slot keeps its holder; the words come from the other
            other, words = (graph.phrases[kb], wb) if k == ka else (graph.phrases[ka], wa)
            span = {new_pos[t] for t in holder[p.key[2]]} | {new_pos[t] for t in words}
            phrases.append(Phrase(p.type, ("attr", other.key[1], p.key[2]), tuple(span)))
        elif moved & set(p.span):
            return None  # another phrase holds an edited word (a shared adjective)
        else:
            phrases.append(replace(p, span=tuple(new_pos[t] for t in p.span)))
    return _finish("swap-attribute", graph, order, phrases)


# ---- swap-role ---------------------------------------------------------------------------

def _noun_phrase(graph: CaptionGraph, name: str) -> range | None:
    """The words of object `name` with all its attribute words right in front of it, as one
    run; None when an attribute of it stands elsewhere ("a cup that is red") or the name
    occurs twice."""
    spans = _object_spans(graph)
    own = set(spans[name])
    if _contiguous(own) is None:
        return None
    words = set(own)
    for p in graph.phrases:
        if p.type == "attribute" and p.key[2] == name:
            words |= set(p.span)
    block = _contiguous(words)
    if block is None or block.stop - 1 != max(own):
        return None  # an attribute word after the name, or not next to it
    before = block.start - 1
    if before >= 0 and graph.tokens[before] in DETERMINERS:
        block = range(before, block.stop)
    before = block.start - 1
    if before >= 0 and not graph.stop[before] and before not in _relation_words(graph):
        return None  # a modifier the parse left out would stay behind ("a short | old guy")
    return block


def _relation_words(graph: CaptionGraph) -> set[int]:
    spans = _object_spans(graph)
    out: set[int] = set()
    for p in graph.phrases:
        if p.type == "relation":
            out |= set(p.span) - set(spans.get(p.key[1], ())) - set(spans.get(p.key[3], ()))
    return out


def _plural(graph: CaptionGraph, name: str) -> bool:
    """The object's head noun is inflected ("kites" / "men"): its verb agrees in the plural."""
    head = max(_object_spans(graph)[name])
    return graph.tokens[head] != graph.lemmas[head]


def _symmetric(rel: str) -> bool:
    """"next to", and relations ending in one ("sit next to"), read the same both ways."""
    return any(rel == s or rel.endswith(" " + s) for s in SYMMETRIC_RELATIONS)


def swap_role_edits(graph: CaptionGraph) -> Iterator[CaptionEdit]:
    """The subject and object of a (non-symmetric) relation trade places with their
    attribute words; every relation of either object follows its slot."""
    for p in graph.phrases:
        if p.type != "relation":
            continue
        subj, rel, obj = p.key[1:]
        if subj == obj or _symmetric(rel) or _plural(graph, subj) != _plural(graph, obj):
            continue  # symmetric: not false; number differs: the verb would not agree
        a, b = _noun_phrase(graph, subj), _noun_phrase(graph, obj)
        if a is None or b is None or set(a) & set(b):
            continue
        edit = _swap_role(graph, subj, a, obj, b)
        if edit is not None:
            yield edit


def _swap_role(graph: CaptionGraph, subj: str, a: range, obj: str,
               b: range) -> CaptionEdit | None:
    order, new_pos = _swap_order(len(graph.tokens), a, b)
    spans = _object_spans(graph)
    trade = {subj: obj, obj: subj}
    moved = set(a) | set(b)
    phrases = []
    for p in graph.phrases:
        if p.type != "relation":
            if moved & set(p.span) and not _belongs(p, (subj, obj)):
                return None  # a third phrase inside a moved noun phrase
            phrases.append(replace(p, span=tuple(new_pos[t] for t in p.span)))
            continue
        s, r, o = p.key[1:]
        rel_words = set(p.span) - set(spans.get(s, ())) - set(spans.get(o, ()))
        if rel_words & moved:
            return None
        s2, o2 = trade.get(s, s), trade.get(o, o)  # the slot stays, its filler changes
        span = ({new_pos[t] for t in rel_words} | {new_pos[t] for t in spans[s2]}
                | {new_pos[t] for t in spans[o2]})
        phrases.append(Phrase("relation", ("rel", s2, r, o2), tuple(span)))
    return _finish("swap-role", graph, order, phrases)


def _belongs(p: Phrase, names: tuple[str, ...]) -> bool:
    """An object phrase of one of `names`, or an attribute held by one."""
    return (p.type == "object" and p.key[1] in names) or (
        p.type == "attribute" and p.key[2] in names)
