"""Rules that turn one dependency-parsed caption into a text scene graph (paper 2.1).

The paper uses the SPICE parser; ssamt uses spaCy's dependency parse and the rules below,
written to the conventions of the FACTUAL benchmark (compound nouns stay one object, relation
= verb lemma + particle + preposition, numbers and colours are attributes, "leg of the man" ->
(man, have, leg), pronouns are not objects). Each phrase keeps the token positions of its words
(its span), which the model's mask uses (docs/DESIGN.md section 2, "Mask" rule 3).
"""

from __future__ import annotations

from typing import Any

from ssamt.labels import grammar
from ssamt.labels import lexicon as lx
from ssamt.labels.graph import KEY_TAG, CaptionGraph, Phrase
from ssamt.labels.lexicon import normalize_word
from ssamt.labels.modifiers_data import ATTR_PAIRS, NAME_PAIRS

Token = Any  # a spaCy Token
_NOUNS = {"NOUN", "PROPN"}
_FUNCTION = {"DET", "ADP", "PRON", "AUX", "CCONJ", "SCONJ", "PART", "PUNCT", "SYM", "SPACE"}
_SUBJ = ("nsubj", "nsubjpass", "csubj")


class Tok:
    """A plain-Python copy of the spaCy Token fields the rules read.

    spaCy builds a new Token object on every `doc[i]`, `.head` or `.children` access; the
    rules visit each word several times, so copying the fields once per word is faster.
    """

    __slots__ = ("children", "dep_", "head", "i", "is_punct", "is_space", "is_stop", "lefts",
                 "lower_", "tag_")

    def __repr__(self) -> str:
        return f"Tok({self.i}, {self.lower_!r}, {self.tag_}, {self.dep_} <- {self.head.i})"


def copy_doc(doc: Any) -> list[Tok]:
    toks = []
    for t in doc:
        tok = Tok()
        tok.i, tok.lower_, tok.tag_, tok.dep_ = t.i, t.lower_, t.tag_, t.dep_
        tok.is_punct, tok.is_space, tok.is_stop = t.is_punct, t.is_space, t.is_stop
        tok.children, tok.lefts = [], []
        toks.append(tok)
    for t, tok in zip(doc, toks):
        head = toks[t.head.i]
        tok.head = head
        if head is not tok:  # spaCy's root is its own head but not its own child
            head.children.append(tok)
            if tok.i < head.i:
                head.lefts.append(tok)
    return toks


class _Builder:
    """Collects objects, attribute pairs and relation triples of one Doc, with spans."""

    def __init__(self, doc: Any, analyzer: Any, attr_modifiers: frozenset[str]) -> None:
        self.pos = [analyzer.pos(t) for t in doc]
        self.lem = [analyzer.lemma(t) for t in doc]
        self.doc = copy_doc(doc)
        for t in self.doc:
            if _noun_mistagged(t):
                self.pos[t.i], self.lem[t.i] = "NOUN", t.lower_
        self.attr_modifiers = attr_modifiers
        self.phrases: dict[tuple[str, ...], set[int]] = {}  # key -> span, insertion-ordered
        self.skip: set[int] = set()  # nouns used as grammar ("front" of "in front of")

    # ---- entities ---------------------------------------------------------------------
    def is_noun(self, t: Token) -> bool:
        return self.pos[t.i] in _NOUNS and self.lem[t.i] not in lx.NON_OBJECTS

    def name(self, t: Token) -> tuple[str, tuple[int, ...]]:
        """Object name: the noun with its left modifiers that belong to the name.

        "baseball field" stays one object, "brick wall" is wall + attribute brick, "hot dog"
        stays one object: decided per word pair, then per modifier word, from FACTUAL train
        (modifiers_data); compounds default to the name, adjectives to attributes.
        """
        words = [t]
        for child in reversed(t.lefts):
            if child.i != words[0].i - 1 or not self.in_name(child, t):
                break
            words.insert(0, child)
        text = " ".join([w.lower_ for w in words[:-1]] + [self.lem[t.i]])
        return lx.NAME_SPELLING.get(text, text), tuple(w.i for w in words)

    def in_name(self, mod: Token, head: Token) -> bool:
        if mod.dep_ not in ("compound", "amod"):
            return False
        pair = f"{mod.lower_} {normalize_word(self.lem[head.i])}"
        if pair in lx.HAVE_PAIRS:
            return False
        if pair in NAME_PAIRS:
            return True
        if pair in ATTR_PAIRS or mod.dep_ == "amod":
            return False
        return mod.lower_ not in self.attr_modifiers and mod.lower_ not in lx.NUMBERS

    def resolve(self, t: Token | None, depth: int = 0) -> list[Token]:
        """The object tokens a word stands for: members of "group of", conjuncts, relcl heads."""
        if t is None or depth > 8:
            return []
        if t.tag_ in ("WDT", "WP") and t.head.dep_ == "relcl":
            return self.resolve(t.head.head, depth + 1)
        out: list[Token] = []
        inner = self.of_member(t)
        if inner is not None:
            out = self.resolve(inner, depth + 1)
        elif self.is_noun(t):
            out = [t]
        for conj in t.children:  # "a stove, a sink(appos) and a fridge(conj)"
            if conj.dep_ == "conj" or (conj.dep_ == "appos" and self.is_noun(conj)):
                out += self.resolve(conj, depth + 1)
        return out

    def of_member(self, t: Token) -> Token | None:
        """For "group of people" / "pair of skis", the member noun ("people"); also the scene
        of a caption-initial "A picture of ..." ("close up of" included)."""
        lemma = self.lem[t.i]
        framing = lemma in lx.FRAMES and t.dep_ in ("ROOT", "nsubj", "attr")
        if not framing and lemma not in lx.COLLECTIVES | lx.QUANTITIES | lx.PORTIONS:
            return None
        for prep in t.children:
            if prep.dep_ == "prep" and prep.lower_ == "of":
                pobj = _child(prep, "pobj")
                if pobj is not None:
                    return pobj
        return None

    # ---- recording --------------------------------------------------------------------
    def add(self, key: tuple[str, ...], span: set[int] | tuple[int, ...]) -> None:
        self.phrases.setdefault(key, set()).update(span)

    def add_object(self, t: Token) -> tuple[str, tuple[int, ...]]:
        text, span = self.name(t)
        self.add(("obj", text), span)
        return text, span

    def add_attr(self, t: Token, attr: str, words: tuple[int, ...]) -> None:
        obj, span = self.add_object(t)
        self.add(("attr", attr, obj), set(span) | set(words))

    def add_rel(self, s: Token, rel: str, o: Token, words: tuple[int, ...]) -> None:
        if s.i == o.i:
            return
        s_text, s_span = self.add_object(s)
        o_text, o_span = self.add_object(o)
        self.add(("rel", s_text, rel, o_text), set(s_span) | set(o_span) | set(words))

    def drop_rel(self, s: Token, rel: str, o: Token) -> None:
        """Forget a relation a later, more precise rule replaces (its objects stay)."""
        self.phrases.pop(("rel", self.name(s)[0], rel, self.name(o)[0]), None)

    def relate(self, subjects: list[Token], rel: str, objects: list[Token], words) -> None:
        for s in subjects:
            for o in objects:
                self.add_rel(s, rel, o, tuple(words))


def _noun_mistagged(t: Tok) -> bool:
    """A noun the tagger took for a verb in a fragment ("curb on side of street",
    "white rug(VB) on the floor", "railing(VBG) on a pier"): a root verb form with no
    subject, object or auxiliary; base forms (captions are not imperatives) and -ing nouns."""
    if t.dep_ != "ROOT" or t.tag_ not in ("VB", "VBG", "VBP"):
        return False
    deps = {c.dep_ for c in t.children}
    if deps & {"nsubj", "nsubjpass", "expl", "aux", "auxpass", "dobj", "ccomp", "xcomp"}:
        return False
    if t.tag_ == "VBG":
        return t.lower_ in lx.ING_NOUNS
    return t.i == 0 or bool(deps & {"amod", "det", "compound"})


def _child(t: Token, dep: str) -> Token | None:
    for child in t.children:
        if child.dep_ == dep:
            return child
    return None


def to_graph(text: str, doc: Any, analyzer: Any, attr_modifiers: frozenset[str]) -> CaptionGraph:
    """Build the CaptionGraph of one parsed caption."""
    b = _Builder(doc, analyzer, attr_modifiers)
    grammar.apply_all(b)
    objects, attributes, relations, phrases = [], [], [], []
    for key, span in b.phrases.items():
        kind = {"obj": "object", "attr": "attribute", "rel": "relation"}[key[0]]
        assert KEY_TAG[kind] == key[0]
        phrases.append(Phrase(kind, key, tuple(sorted(span))))
        if kind == "object":
            objects.append(key[1])
        elif kind == "attribute":
            attributes.append((key[2], key[1]))
        else:
            relations.append(key[1:])
    stop = tuple(_is_stop(t, b.pos[t.i]) for t in b.doc)
    return CaptionGraph(
        text=text,
        tokens=tuple(t.lower_ for t in b.doc),
        lemmas=tuple(b.lem),
        stop=stop,
        objects=tuple(objects),
        attributes=tuple(attributes),
        relations=tuple(relations),
        phrases=tuple(phrases),
    )


def _is_stop(t: Token, pos: str) -> bool:
    """Stop words and punctuation get no phrase-matching label (docs/DESIGN.md section 2).

    Content words (nouns, verbs, adjectives, numbers) are never stop words here, even when
    spaCy's list has them ("two", "top", "back"): a mismatch there is a real mismatch.
    """
    if t.is_punct or t.is_space or pos in ("PUNCT", "SYM", "SPACE"):
        return True
    if pos in _FUNCTION:
        return True
    return t.is_stop and pos not in ("NOUN", "PROPN", "NUM", "ADJ", "VERB")
