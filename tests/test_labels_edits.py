"""Minimal edits of a parse (ssamt.labels.edits): hand-made graphs, no spaCy needed."""

from __future__ import annotations

from collections import Counter

from ssamt.labels.edits import caption_edits, swap_attribute_edits, swap_role_edits
from ssamt.labels.graph import CaptionGraph, Phrase
from ssamt.labels.matching import build_image_labels, mark_phrases

STOP = {"a", "an", "the", "on", "in", "of", "is", "that", "who", ".", ","}


def graph(words: str, lemmas: str, objects: dict, attributes: list, relations: list) -> CaptionGraph:
    """objects: name -> word positions; attributes: (value, holder, value positions);
    relations: (subj, rel, obj, relation word positions)."""
    toks, lems = tuple(words.split()), tuple(lemmas.split())
    phrases = [Phrase("object", ("obj", o), tuple(s)) for o, s in objects.items()]
    phrases += [Phrase("attribute", ("attr", a, o), tuple(sorted({*objects[o], *w})))
                for a, o, w in attributes]
    phrases += [Phrase("relation", ("rel", s, r, o), tuple(sorted({*objects[s], *w, *objects[o]})))
                for s, r, o, w in relations]
    return CaptionGraph(words, toks, lems, tuple(t in STOP for t in toks), tuple(objects),
                        tuple((o, a) for a, o, _ in attributes),
                        tuple((s, r, o) for s, r, o, _ in relations), tuple(phrases))


# "a red cup on a blue table"
CUP = graph("a red cup on a blue table", "a red cup on a blue table",
            {"cup": [2], "table": [6]}, [("red", "cup", [1]), ("blue", "table", [5])],
            [("cup", "on", "table", [3])])
# "a dog chasing a small cat"
DOG = graph("a dog chasing a small cat", "a dog chase a small cat",
            {"dog": [1], "cat": [5]}, [("small", "cat", [4])], [("dog", "chase", "cat", [2])])


def keys(g: CaptionGraph) -> set:
    return {p.key for p in g.phrases}


def spans(g: CaptionGraph) -> dict:
    return {p.key: [g.tokens[t] for t in p.span] for p in g.phrases}


def test_swap_attribute_trades_the_words_and_rebinds_the_keys():
    (edit,) = swap_attribute_edits(CUP)
    assert edit.graph.tokens == ("a", "blue", "cup", "on", "a", "red", "table")
    assert edit.changed == {("attr", "blue", "cup"), ("attr", "red", "table")}
    assert keys(edit.graph) == {("obj", "cup"), ("obj", "table"), ("attr", "blue", "cup"),
                                ("attr", "red", "table"), ("rel", "cup", "on", "table")}
    assert spans(edit.graph)[("attr", "blue", "cup")] == ["blue", "cup"]
    assert spans(edit.graph)[("attr", "red", "table")] == ["red", "table"]
    assert spans(edit.graph)[("rel", "cup", "on", "table")] == ["cup", "on", "table"]


def test_swap_role_moves_each_noun_phrase_with_its_attributes():
    (edit,) = swap_role_edits(DOG)
    assert edit.graph.tokens == ("a", "small", "cat", "chasing", "a", "dog")
    assert edit.changed == {("rel", "cat", "chase", "dog")}
    s = spans(edit.graph)
    assert s[("attr", "small", "cat")] == ["small", "cat"]
    assert s[("rel", "cat", "chase", "dog")] == ["cat", "chasing", "dog"]
    assert s[("obj", "dog")] == ["dog"]


def test_every_edit_keeps_the_bag_of_words_and_names_its_words():
    for g in (CUP, DOG):
        for edit in caption_edits(g):
            assert Counter(edit.graph.tokens) == Counter(g.tokens)
            assert sorted(edit.graph.lemmas) == sorted(g.lemmas)
            for p in edit.graph.phrases:  # every key word stands in the phrase's span
                words = {edit.graph.lemmas[t] for t in p.span}
                assert {w for part in p.key[1:] for w in part.split()} <= words, p


def test_a_and_an_are_respelled_for_their_new_next_word():
    g = graph("an orange cup on a blue table", "an orange cup on a blue table",
              {"cup": [2], "table": [6]}, [("orange", "cup", [1]), ("blue", "table", [5])], [])
    (edit,) = swap_attribute_edits(g)
    assert edit.graph.text == "a blue cup on an orange table"


def test_no_role_swap_for_symmetric_relations_or_left_behind_attributes():
    beside = graph("a cat next to a dog", "a cat next to a dog", {"cat": [1], "dog": [5]}, [],
                   [("cat", "next to", "dog", [2, 3])])
    assert list(swap_role_edits(beside)) == []
    # "a cup that is red behind a dog": "red" would stay and now describe the dog
    pred = graph("a cup that is red behind a dog", "a cup that be red behind a dog",
                 {"cup": [1], "dog": [7]}, [("red", "cup", [4])], [("cup", "behind", "dog", [5])])
    assert list(swap_role_edits(pred)) == []


def test_no_role_swap_when_the_verb_would_not_agree():
    g = graph("three dogs are chasing a cat", "3 dog be chase a cat", {"dog": [1], "cat": [5]},
              [("3", "dog", [0])], [("dog", "chase", "cat", [3])])
    assert list(swap_role_edits(g)) == []


def test_counts_swap_only_with_counts_and_one_holder_never_with_itself():
    g = graph("two red cups on a blue table", "2 red cup on a blue table",
              {"cup": [2], "table": [6]},
              [("2", "cup", [0]), ("red", "cup", [1]), ("blue", "table", [5])], [])
    swapped = {frozenset(e.changed) for e in swap_attribute_edits(g)}
    assert swapped == {frozenset({("attr", "blue", "cup"), ("attr", "red", "table")})}


def test_the_label_rule_marks_the_edited_phrases_mismatched():
    labels = build_image_labels([CUP, DOG])
    (edit,) = swap_attribute_edits(CUP)
    marks = dict(zip((p.key for p in edit.graph.phrases), mark_phrases(edit.graph, labels)))
    assert marks[("attr", "blue", "cup")] is False and marks[("attr", "red", "table")] is False
    assert marks[("obj", "cup")] is True and marks[("rel", "cup", "on", "table")] is True


def test_only_edits_whose_phrases_the_corpus_states_are_plausible():
    from ssamt.labels.edits import PhraseCorpus

    (edit,) = swap_attribute_edits(CUP)  # makes (blue, cup) and (red, table)
    blue_cup = graph("a blue cup", "a blue cup", {"cup": [2]}, [("blue", "cup", [1])], [])
    red_table = graph("a red table", "a red table", {"table": [2]}, [("red", "table", [1])], [])
    assert not PhraseCorpus([CUP, DOG]).plausible(edit)
    assert not PhraseCorpus([CUP, blue_cup]).plausible(edit)
    assert PhraseCorpus([CUP, blue_cup, red_table]).plausible(edit)
    # two attributes left on one object must occur together on one object somewhere
    g = graph("a small red cup on a big table", "a small red cup on a big table",
              {"cup": [3], "table": [7]},
              [("small", "cup", [1]), ("red", "cup", [2]), ("big", "table", [6])], [])
    swaps = {e.graph.text: e for e in swap_attribute_edits(g)}
    big_small = swaps["a big red cup on a small table"]
    red_big = graph("a big red cup", "a big red cup", {"cup": [3]},
                    [("big", "cup", [1]), ("red", "cup", [2])], [])
    small_table = graph("a small table", "a small table", {"table": [2]},
                        [("small", "table", [1])], [])
    assert not PhraseCorpus([g, small_table]).plausible(big_small)  # never "big" and "red"
    assert PhraseCorpus([g, small_table, red_big]).plausible(big_small)
