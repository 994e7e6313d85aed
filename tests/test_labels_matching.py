"""The positive/negative rule of DESIGN.md section 2 on hand-made graphs (no spaCy needed)."""

from __future__ import annotations

from ssamt.labels.graph import CaptionGraph, Phrase
from ssamt.labels.matching import build_image_labels, mark_phrases, mark_tokens

STOP = {"a", "an", "the", "on", "in", "of", "is", ".", ","}


def graph(tokens: str, lemmas: str | None = None, objects=(), attributes=(), relations=()):
    """A CaptionGraph from words; spans located by word lookup (enough for the rule)."""
    toks = tuple(tokens.split())
    lems = tuple((lemmas or tokens).split())

    def span(*names: str) -> tuple[int, ...]:
        words = {w for name in names for w in name.split()}
        return tuple(i for i, lem in enumerate(lems) if lem in words)

    phrases = [Phrase("object", ("obj", o), span(o)) for o in objects]
    phrases += [Phrase("attribute", ("attr", a, o), span(a, o)) for o, a in attributes]
    phrases += [Phrase("relation", ("rel", s, r, o), span(s, r, o)) for s, r, o in relations]
    return CaptionGraph(" ".join(toks), toks, lems, tuple(t in STOP for t in toks), tuple(objects),
                        tuple(attributes), tuple(relations), tuple(phrases))


# Paper Figure 1: an image of a dog catching a yellow frisbee.
DOG_IMAGE = [
    graph("a dog catching a yellow frisbee", "a dog catch a yellow frisbee",
          objects=["dog", "frisbee"], attributes=[("frisbee", "yellow")],
          relations=[("dog", "catch", "frisbee")]),
    graph("a brown dog jumps on the grass", "a brown dog jump on the grass",
          objects=["dog", "grass"], attributes=[("dog", "brown")],
          relations=[("dog", "jump on", "grass")]),
]


def by_key(g: CaptionGraph, labels) -> dict:
    return {p.key: flag for p, flag in zip(g.phrases, mark_phrases(g, labels))}


def test_labels_are_the_union_of_the_captions_phrases():
    labels = build_image_labels(DOG_IMAGE)
    assert ("rel", "dog", "catch", "frisbee") in labels
    assert ("attr", "yellow", "frisbee") in labels
    assert ("obj", "grass") in labels
    assert len(labels) == 7  # dog, frisbee, grass, 2 attributes, 2 relations
    assert {"dog", "frisbee", "grass"} == set(labels.objects)


def test_figure1_two_dogs_on_a_baseball_field():
    labels = build_image_labels(DOG_IMAGE)
    neg = graph("two dogs catching a frisbee on a baseball field",
                "two dog catch a frisbee on a baseball field",
                objects=["dog", "frisbee", "baseball field"], attributes=[("dog", "2")],
                relations=[("dog", "catch", "frisbee"), ("dog", "catch on", "baseball field")])
    marks = by_key(neg, labels)
    assert marks[("obj", "dog")] and marks[("obj", "frisbee")]
    assert marks[("rel", "dog", "catch", "frisbee")]
    assert not marks[("attr", "2", "dog")]  # "two dogs": the count is the mismatch
    assert not marks[("obj", "baseball field")]
    assert not marks[("rel", "dog", "catch on", "baseball field")]
    tokens = dict(zip(neg.tokens, mark_tokens(neg, labels)))
    assert tokens["two"] is False and tokens["baseball"] is False and tokens["field"] is False
    assert tokens["dogs"] is True  # lemma "dog" occurs in the image's captions
    assert tokens["catching"] is True
    assert tokens["a"] is None and tokens["on"] is None  # stop words get no label


def test_attribute_and_relation_positive_only_as_themselves():
    labels = build_image_labels(DOG_IMAGE)
    g = graph("a yellow dog catching the grass", "a yellow dog catch the grass",
              objects=["dog", "grass"], attributes=[("dog", "yellow")],
              relations=[("dog", "catch", "grass")])
    marks = by_key(g, labels)
    # every word is known to the image, but the pair and the triple are not in L_i
    assert not marks[("attr", "yellow", "dog")]
    assert not marks[("rel", "dog", "catch", "grass")]
    assert marks[("obj", "dog")] and marks[("obj", "grass")]
    assert all(m is True for m, s in zip(mark_tokens(g, labels), g.stop) if not s)


def test_object_included_as_subject_or_attribute_holder():
    only_relations = CaptionGraph(
        "x", ("x",), ("x",), (False,), (), (("cup", "red"),), (("man", "hold", "cup"),),
        (Phrase("attribute", ("attr", "red", "cup"), (0,)),
         Phrase("relation", ("rel", "man", "hold", "cup"), (0,))))
    labels = build_image_labels([only_relations])
    g = graph("man cup", objects=["man", "cup"])
    assert mark_phrases(g, labels) == [True, True]


# Paper Figure 3 style: an image of a woman holding a white umbrella in the rain.
UMBRELLA_IMAGE = [
    graph("a woman holding a white umbrella", "a woman hold a white umbrella",
          objects=["woman", "umbrella"], attributes=[("umbrella", "white")],
          relations=[("woman", "hold", "umbrella")]),
    graph("woman in a coat walks in the rain", "woman in a coat walk in the rain",
          objects=["woman", "coat", "rain"],
          relations=[("woman", "in", "coat"), ("woman", "walk in", "rain")]),
]


def test_figure3_white_umbrella_matches_man_in_white_does_not():
    labels = build_image_labels(UMBRELLA_IMAGE)
    g = graph("a man in white holding a white umbrella", "a man in white hold a white umbrella",
              objects=["man", "white", "umbrella"], attributes=[("umbrella", "white")],
              relations=[("man", "in", "white"), ("man", "hold", "umbrella")])
    marks = by_key(g, labels)
    assert marks[("attr", "white", "umbrella")]
    assert marks[("obj", "umbrella")]
    assert not marks[("obj", "man")]
    assert not marks[("obj", "white")]  # "white" is a word of L_i, never an object there
    assert not marks[("rel", "man", "in", "white")]
    assert not marks[("rel", "man", "hold", "umbrella")]
    tokens = dict(zip(g.tokens, mark_tokens(g, labels)))
    assert tokens["white"] is True and tokens["man"] is False


def test_figure3_man_working_in_kitchen_is_all_mismatched():
    labels = build_image_labels(UMBRELLA_IMAGE)
    g = graph("a man working in a kitchen", "a man work in a kitchen",
              objects=["man", "kitchen"], relations=[("man", "work in", "kitchen")])
    assert mark_phrases(g, labels) == [False, False, False]
    assert [m for m in mark_tokens(g, labels) if m is not None] == [False, False, False]


def test_empty_graph_and_empty_labels():
    empty = CaptionGraph("", (), (), ())
    labels = build_image_labels([empty])
    assert len(labels) == 0
    assert mark_phrases(empty, labels) == [] and mark_tokens(empty, labels) == []
    g = graph("a dog", objects=["dog"])
    assert mark_phrases(g, labels) == [False]
    assert mark_tokens(g, labels) == [None, False]
