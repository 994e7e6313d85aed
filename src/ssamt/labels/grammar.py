"""The grammar rules of the extractor, one function per construction (FACTUAL conventions)."""

from __future__ import annotations

from typing import Any

from ssamt.labels import lexicon as lx

Token = Any
_PARTICIPLES = ("VBN", "VBG")


def apply_all(b: Any) -> None:
    """Run every rule over the words of one caption (b: extract._Builder)."""
    for t in b.doc:
        if b.is_noun(t):
            noun_rules(b, t)
        if b.pos[t.i] in ("VERB", "AUX") or (t.dep_ in ("ROOT", "relcl", "acl") and t.tag_.startswith("VB")):
            verb_rules(b, t)
    for t in b.doc:  # objects in caption order, after the grammar nouns are known
        if (b.is_noun(t) and t.i not in b.skip and b.of_member(t) is None
                and t.dep_ not in ("compound", "amod")):
            b.add_object(t)
    _reorder_objects(b)


def _reorder_objects(b: Any) -> None:
    """Objects first in caption order, then attributes and relations (stable output)."""
    order = {"obj": 0, "attr": 1, "rel": 2}
    items = sorted(b.phrases.items(), key=lambda kv: (order[kv[0][0]], min(kv[1], default=0)))
    b.phrases = dict(items)


# ---- nouns ------------------------------------------------------------------------------
def noun_rules(b: Any, t: Token) -> None:
    members = b.resolve(t) if b.of_member(t) is not None else [t]
    if members and members[0].i != t.i and b.lem[t.i] in lx.COLLECTIVES | lx.PORTIONS:
        attr = f"{t.lower_} of" if b.lem[t.i] in lx.COLLECTIVES else b.lem[t.i]
        for m in members:  # "group of people" -> group of; "piece of cake" -> piece
            b.add_attr(m, attr, (t.i,))
    for m in members:
        attributes(b, t, m)
    for child in t.children:
        if child.dep_ == "prep" and child.lower_ == "of":
            if b.of_member(t) is None:
                of_phrase(b, t, child)
        elif child.dep_ == "prep":
            preposition(b, members, child, ())
        elif child.dep_ == "poss" and b.is_noun(child):
            for m in members:
                b.add_rel(child, "have", m, ())
        elif child.dep_ == "advmod" and child.lower_ in lx.ADVERB_PREPS:
            adverb_prep(b, members, child, ())
        elif child.dep_ == "compound" and f"{child.lower_} {b.lem[t.i]}" in lx.HAVE_PAIRS:
            b.add_rel(child, "have", t, ())  # "tree branch" -> (tree, have, branch)


def of_phrase(b: Any, part: Token, of: Token) -> None:
    """"leg of the man" -> (man, have, leg) (FACTUAL README)."""
    pobj = _pobj(of)
    if pobj is None or b.lem[part.i] in lx.POSITIONS and part.dep_ == "pobj":
        return
    rel, inner = "have", b.lem[part.i]
    if inner in lx.CONTAINERS_IN or inner in lx.CONTAINERS_ON:
        rel = "in" if inner in lx.CONTAINERS_IN else "on"
        for content in b.resolve(pobj):
            b.add_rel(content, rel, part, (of.i,))
        return
    for owner in b.resolve(pobj):
        b.add_rel(owner, rel, part, (of.i,))


def attributes(b: Any, head: Token, target: Token) -> None:
    """amod / nummod / attribute-like compounds of `head` become attributes of `target`."""
    in_name = set(b.name(head)[1])
    for child in head.children:
        if child.i in in_name:
            continue
        number = _number(child.lower_) if child.dep_ in ("nummod", "det", "compound") else None
        if number or child.dep_ == "nummod" or child.lower_ in lx.NUMBERS:
            if number:
                b.add_attr(target, number, (child.i,))
        elif child.dep_ == "compound" and f"{child.lower_} {b.lem[head.i]}" in lx.HAVE_PAIRS:
            continue
        elif child.dep_ in ("amod", "compound"):
            for adj in [child] + [c for c in child.children if c.dep_ == "conj"]:
                text, words = _modifier_text(adj)
                if text not in lx.DROPPED_ATTRS:
                    b.add_attr(target, text, words)


def _modifier_text(adj: Token) -> tuple[str, tuple[int, ...]]:
    """"dark colored", "lit up": the adjective with its adjacent adverb / particle words."""
    words = [adj]
    for c in adj.children:
        if c.dep_ in ("advmod", "npadvmod", "prt", "compound") and abs(c.i - adj.i) == 1 \
                and c.lower_ not in lx.INTENSIFIERS:
            words.append(c)
    words.sort(key=lambda w: w.i)
    return " ".join(w.lower_ for w in words), tuple(w.i for w in words)


def _number(word: str) -> str | None:
    if word in lx.DROPPED_NUMBERS:
        return None
    if word.isdigit():
        return word if word != "1" else None
    return lx.NUMBERS.get(word)


# ---- prepositions -----------------------------------------------------------------------
def preposition(b: Any, subjects: list[Token], prep: Token, verb_words: tuple, verb: str = "") -> None:
    """(s, [verb] prep, o), with "in front of" / "on side of" folded into the relation."""
    pobj = _pobj(prep)
    if pobj is None:
        inner = next((c for c in prep.children if c.dep_ == "prep"), None)
        if inner is not None:  # "out of", "inside of"
            name = f"{prep.lower_} {inner.lower_}" if prep.lower_ != "inside" else "inside"
            _relate_pobj(b, subjects, verb, name, _pobj(inner), verb_words + (prep.i, inner.i))
        elif prep.head.dep_ == "relcl":  # "the floor the motorcycle is on": stranded preposition
            _relate_pobj(b, subjects, verb, prep.lower_, prep.head.head, verb_words + (prep.i,))
        else:  # "the field the girls are on": the first of two subjects is the place
            nsubj = [c for c in prep.head.children if c.dep_ == "nsubj"]
            if len(nsubj) == 2:
                _relate_pobj(b, subjects, verb, prep.lower_, nsubj[0], verb_words + (prep.i,))
        return
    if pobj.lower_ in ("it", "them"):
        _pronoun_object(b, subjects, prep, pobj, verb_words, verb)
        return
    name, words, target = lx.PREP_CANON.get(prep.lower_, prep.lower_), (prep.i,), pobj
    of = next((c for c in pobj.children if c.dep_ == "prep" and c.lower_ == "of"), None)
    if b.lem[pobj.i] in lx.POSITIONS and of is not None and _pobj(of) is not None:
        b.skip.add(pobj.i)
        name = f"{prep.lower_} {b.lem[pobj.i]} of"
        words, target = (prep.i, pobj.i, of.i), _pobj(of)
    _relate_pobj(b, subjects, verb, name, target, verb_words + words)


def _pronoun_object(b: Any, subjects, prep: Token, pobj: Token, verb_words, verb: str) -> None:
    """"the mound has dirt on it" -> (dirt, on, mound); "a plate with fork on it" -> (fork, on,
    plate). Pronouns are never objects themselves; these two shapes name their antecedent."""
    name = lx.PREP_CANON.get(prep.lower_, prep.lower_)
    head = prep.head
    if b.lem[head.i] == "have":
        dobj = next((c for c in head.children if c.dep_ == "dobj"), None)
        if dobj is not None:
            for s in subjects:
                for o in b.resolve(dobj):
                    b.drop_rel(s, "have", o)
            b.relate(b.resolve(dobj), name, subjects, (prep.i,))
        return
    if not b.is_noun(head):
        return
    owner = head.head
    while owner is not owner.head and not b.is_noun(owner):
        owner = owner.head
    if owner is not head and b.is_noun(owner):
        for member in b.resolve(head):
            b.drop_rel(owner, "with", member)
        _relate_pobj(b, b.resolve(head), verb, name, owner, verb_words + (prep.i,))


def _relate_pobj(b: Any, subjects, verb: str, name: str, target, words) -> None:
    if target is None:
        return
    objects = b.resolve(target)
    if not verb and name in ("in", "with"):  # "man in a red shirt", "woman with long hair"
        worn = [o for o in objects if b.lem[o.i] in lx.CLOTHING]
        parts = [o for o in objects if name == "with" and b.lem[o.i] in lx.BODY_PARTS]
        b.relate(subjects, "wear", worn, words)
        b.relate(subjects, "have", parts, words)
        objects = [o for o in objects if o not in worn and o not in parts]
    rel = f"{verb} {name}".strip()
    b.relate(subjects, rel, objects, words)


def _pobj(prep: Token) -> Token | None:
    for c in prep.children:
        if c.dep_ in ("pobj", "pcomp"):
            return c
    return None


def adverb_prep(b: Any, subjects, adv: Token, verb_words: tuple, verb: str = "") -> None:
    """"next to the wall": advmod `next` heading the preposition `to`."""
    for prep in adv.children:
        if prep.dep_ == "prep":
            name = f"{adv.lower_} {prep.lower_}"
            _relate_pobj(b, subjects, verb, name, _pobj(prep), verb_words + (adv.i, prep.i))


# ---- verbs ------------------------------------------------------------------------------
def subjects_of(b: Any, v: Token, depth: int = 0) -> list[Token]:
    subjects = [c for c in v.children if c.dep_ == "nsubj"]
    if len(subjects) == 2:  # "the field the girls are on": the later one acts
        return b.resolve(subjects[1])
    for child in v.children:
        if child.dep_ in ("nsubj", "nsubjpass", "expl"):
            if child.dep_ == "expl":
                return b.resolve(_child_dep(v, "attr"))
            return b.resolve(child)
    if v.dep_ in ("acl", "relcl") and depth < 4:
        return b.resolve(v.head)
    if v.dep_ in ("xcomp", "advcl", "conj") and b.is_noun(v.head):  # "light hitting the fruit"
        return b.resolve(v.head)
    if v.dep_ in ("conj", "xcomp", "advcl", "prep", "pcomp", "dep") and depth < 4:
        return subjects_of(b, v.head, depth + 1)
    return []


def _child_dep(t: Token, dep: str) -> Token | None:
    return next((c for c in t.children if c.dep_ == dep), None)


def verb_rules(b: Any, v: Token) -> None:
    """Relations headed by a verb: (subject, verb [particle] [preposition], object)."""
    lemma = b.lem[v.i]
    copula = lemma == "be"
    subjects = subjects_of(b, v)
    agent = _child_dep(v, "agent")
    if agent is not None and _pobj(agent) is not None:  # passive: "sand covered by water"
        patients = subjects
        subjects = b.resolve(_pobj(agent))
        b.relate(subjects, lemma, patients, (v.i, agent.i))
        return
    if not subjects:
        return
    verb, words = ("", ()) if copula else _verb_text(b, v)
    if lemma == "cover" and v.tag_ == "VBN":  # "street covered in dirt" -> (dirt, cover, street)
        for prep in v.children:
            if prep.dep_ == "prep" and prep.lower_ in ("in", "with", "by") and _pobj(prep):
                b.relate(b.resolve(_pobj(prep)), "cover", subjects, (v.i, prep.i))
                return
    acted = False
    for child in v.children:
        if child.dep_ in ("dobj", "attr") and not copula:
            b.relate(subjects, verb, b.resolve(child), words)
            acted = True
        elif child.dep_ == "prt" and _pobj(child) is not None:  # "drives down(prt) the road"
            preposition(b, subjects, child, words, verb)
            acted = True
        elif child.dep_ == "prep" and _child_dep(v, "dobj") is not None:
            preposition(b, subjects, child, (), "")  # "kids playing soccer on grass": (kid, on, grass)
        elif child.dep_ == "prep":
            preposition(b, subjects, child, words, verb)
            acted = True
        elif child.dep_ == "advmod" and child.lower_ in lx.ADVERB_PREPS and _child_dep(child, "prep"):
            adverb_prep(b, subjects, child, words, verb)
            acted = True
        elif child.dep_ == "acomp" and copula:
            _complement(b, subjects, child)
            acted = True
    if not acted and not copula and lemma not in lx.TRANSITIVE and v.tag_ in _PARTICIPLES:
        for s in subjects:  # "two bicycles parked", "boy lunging": the state is an attribute
            b.add_attr(s, v.lower_, (v.i,))


def _complement(b: Any, subjects: list[Token], acomp: Token) -> None:
    """"the mouth is open" -> (mouth, open); "the hydrant is next to the walk" -> relation."""
    for adj in [acomp] + [c for c in acomp.children if c.dep_ == "conj"]:
        if _child_dep(adj, "prep") is not None and adj.lower_ in lx.ADVERB_PREPS:
            adverb_prep(b, subjects, adj, ())
            continue
        text, span = _modifier_text(adj)
        for s in subjects:
            b.add_attr(s, text, span)


def _verb_text(b: Any, v: Token) -> tuple[str, tuple[int, ...]]:
    words = [v] + [c for c in v.children if c.dep_ == "prt" and _pobj(c) is None]
    words.sort(key=lambda w: w.i)
    text = " ".join([b.lem[v.i]] + [w.lower_ for w in words if w.i != v.i])
    return text, tuple(w.i for w in words)
