"""The scene-graph parser on tricky sentences (FACTUAL conventions, paper 2.1)."""

from __future__ import annotations

import pytest

from ssamt.labels import parse
from ssamt.labels.parser import MAX_CHARS

CASES = {
    "two dogs catching a yellow frisbee on a baseball field": (
        ["dog", "frisbee", "baseball field"],
        [("dog", "2"), ("frisbee", "yellow")],
        [("dog", "catch", "frisbee")]),
    "a stove, a sink and a fridge": (["stove", "sink", "fridge"], [], []),
    "the leg of the man": (["leg", "man"], [], [("man", "have", "leg")]),
    "the cat's tail": (["cat", "tail"], [], [("cat", "have", "tail")]),
    "a group of people standing on a beach": (
        ["people", "beach"], [("people", "group of")], [("people", "stand on", "beach")]),
    "three red apples and a green banana": (
        ["apple", "banana"], [("apple", "3"), ("apple", "red"), ("banana", "green")], []),
    "bike resting against a box": (["bike", "box"], [], [("bike", "rest against", "box")]),
    "he is sitting on a bench": (["bench"], [], []),
    "a dog that chases the ball": (["dog", "ball"], [], [("dog", "chase", "ball")]),
    "the frisbee is caught by a dog": (["frisbee", "dog"], [], [("dog", "catch", "frisbee")]),
    "a man in front of a bus": (["man", "bus"], [], [("man", "in front of", "bus")]),
    "a plate with a cookie on it": (["plate", "cookie"], [], [("cookie", "on", "plate")]),
    "a cat sleeping beneath the table": (["cat", "table"], [], [("cat", "sleep under", "table")]),
    "a man in a red shirt": (["man", "shirt"], [("shirt", "red")], [("man", "wear", "shirt")]),
    "white brick wall": (["wall"], [("wall", "white"), ("wall", "brick")], []),
    "A picture of three orange kites behind a black table.": (
        ["kite", "table"], [("kite", "3"), ("kite", "orange"), ("table", "black")],
        [("kite", "behind", "table")]),
    "A kitchen with a stove, a sink and a refrigerator.": (
        ["kitchen", "stove", "sink", "refrigerator"], [],
        [("kitchen", "with", "stove"), ("kitchen", "with", "sink"),
         ("kitchen", "with", "refrigerator")]),
    "A group of people sitting around a table eating pizza.": (
        ["people", "table", "pizza"], [("people", "group of")],
        [("people", "sit around", "table"), ("people", "eat", "pizza")]),
    "the picture is on the wall": (["picture", "wall"], [], [("picture", "on", "wall")]),
    "the field the girls are standing on": (
        ["field", "girl"], [], [("girl", "stand on", "field")]),
}


@pytest.fixture(scope="module")
def parsed():
    return dict(zip(CASES, parse(list(CASES))))


@pytest.mark.parametrize("text", list(CASES))
def test_tricky_sentences(parsed, text):
    objects, attributes, relations = CASES[text]
    g = parsed[text]
    assert list(g.objects) == objects
    assert sorted(g.attributes) == sorted(attributes)
    assert set(relations) <= set(g.relations)
    assert not {"he", "it", "that", "who"} & set(g.objects)  # pronouns are not objects


def test_spans_point_at_the_phrase_words(parsed):
    g = parsed["two dogs catching a yellow frisbee on a baseball field"]
    spans = {p.key: [g.tokens[i] for i in p.span] for p in g.phrases}
    assert spans[("obj", "baseball field")] == ["baseball", "field"]
    assert spans[("attr", "yellow", "frisbee")] == ["yellow", "frisbee"]
    assert spans[("attr", "2", "dog")] == ["two", "dogs"]
    assert spans[("rel", "dog", "catch", "frisbee")] == ["dogs", "catching", "frisbee"]
    assert g.lemmas[:3] == ("two", "dog", "catch")
    assert [g.tokens[i] for i, s in enumerate(g.stop) if s] == ["a", "on", "a"]
    assert not g.stop[0]  # "two" is a content word here, whatever spaCy's stop list says
    for p in g.phrases:
        assert p.span == tuple(sorted(set(p.span)))
        assert all(0 <= i < len(g.tokens) for i in p.span)
    kinds = {p.type: p.key[0] for p in g.phrases}
    assert kinds == {"object": "obj", "attribute": "attr", "relation": "rel"}


def test_duplicates_order_and_empty_and_odd_input():
    texts = ["a dog", "", "a dog", "   ", "!!! ?? ,,", "a  red\tcar ...", "a dog"]
    graphs = parse(texts)
    assert len(graphs) == len(texts)
    assert graphs[0] is graphs[2] is graphs[6]  # parsed once
    assert graphs[1].tokens == () and graphs[1].phrases == () and graphs[3].tokens == ()
    assert graphs[4].objects == ()
    assert graphs[5].text == "a red car ..." and ("car", "red") in graphs[5].attributes


def test_very_long_caption_is_truncated():
    text = "a dog on a bench " * 400
    (g,) = parse([text])
    assert len(g.text) <= MAX_CHARS and text.startswith(g.text)
    assert "dog" in g.objects and len(g.tokens) < 300


@pytest.mark.slow
def test_workers_give_the_same_graphs():
    texts = [f"{n} red cars parked near a tall building" for n in range(1200)]
    assert parse(texts, workers=2) == parse(texts)
