"""The closed world of the synthetic scenes: object types, attributes, relations.

Every scene draws from this one vocabulary, so scenes differ in which objects, attributes
and relations they combine; a caption of another image is then often wrong in just one
phrase (a red umbrella instead of a blue one, holding instead of carrying), which is the
case phrase matching is for (paper 2.4, "phrase matching").
"""

from __future__ import annotations

from dataclasses import dataclass

# Attribute groups. Size words have synonyms (canonical first); the canonical value is what
# the features encode, the surface word is the caption's choice.
COLOURS = ("red", "blue", "green", "yellow", "black", "white", "brown", "orange", "pink",
           "purple", "grey")
SIZES = {"small": ("small", "little"), "large": ("large", "big")}
AGES = ("young", "old")
HEIGHTS = ("tall", "short")
MATERIALS = ("wooden", "metal", "plastic", "leather", "glass")

# Size classes, used for which spatial relations make sense ("a cup on a table").
TINY, SMALL, MEDIUM, LARGE, HUGE = range(5)


@dataclass(frozen=True)
class ObjectType:
    """One kind of object. nouns: (singular, plural) pairs, canonical first.
    attrs: attribute group -> allowed values. wh: typical box width, height (fraction of
    the image). kinds: tags for which relations apply ("person", "animal", "holdable",
    "rideable", "food", "surface", "cover", "toy")."""

    name: str
    nouns: tuple[tuple[str, str], ...]
    attrs: dict[str, tuple[str, ...]]
    size_class: int
    wh: tuple[float, float]
    kinds: frozenset[str]

    @property
    def animate(self) -> bool:
        return bool(self.kinds & {"person", "animal"})


def _obj(name, nouns, attrs, size_class, wh, kinds) -> ObjectType:
    return ObjectType(name, tuple(nouns), dict(attrs), size_class, wh, frozenset(kinds.split()))


_PEOPLE_ATTRS = {"age": AGES, "height": HEIGHTS}
_PET = ("brown", "black", "white", "grey")

# Ordered by how common the object is: scenes draw types with Zipf-like weights, so common
# objects recur across many images (as "man", "table" do in COCO).
OBJECT_TYPES: tuple[ObjectType, ...] = (
    _obj("man", [("man", "men"), ("guy", "guys")], _PEOPLE_ATTRS, MEDIUM, (.18, .5), "person"),
    _obj("woman", [("woman", "women"), ("lady", "ladies")], _PEOPLE_ATTRS, MEDIUM, (.17, .48),
         "person"),
    _obj("dog", [("dog", "dogs"), ("puppy", "puppies")], {"colour": _PET, "size": tuple(SIZES)},
         SMALL, (.22, .18), "animal"),
    _obj("table", [("table", "tables")], {"colour": ("brown", "white", "black"),
         "material": ("wooden", "metal", "glass", "plastic")}, MEDIUM, (.4, .25), "surface cover"),
    _obj("boy", [("boy", "boys"), ("kid", "kids")], {"height": HEIGHTS}, MEDIUM, (.13, .35),
         "person"),
    _obj("girl", [("girl", "girls")], {"height": HEIGHTS}, MEDIUM, (.12, .34), "person"),
    _obj("cat", [("cat", "cats"), ("kitten", "kittens")],
         {"colour": (*_PET, "orange"), "size": tuple(SIZES)}, SMALL, (.16, .14), "animal"),
    _obj("umbrella", [("umbrella", "umbrellas")], {"colour": COLOURS, "size": tuple(SIZES)},
         SMALL, (.25, .2), "holdable cover"),
    _obj("horse", [("horse", "horses")], {"colour": ("brown", "black", "white"),
         "size": tuple(SIZES)}, LARGE, (.35, .35), "animal rideable"),
    _obj("bench", [("bench", "benches")], {"colour": ("brown", "green", "black", "white"),
         "material": ("wooden", "metal")}, MEDIUM, (.35, .18), "surface"),
    _obj("ball", [("ball", "balls")], {"colour": COLOURS, "size": tuple(SIZES)}, TINY,
         (.05, .05), "holdable toy"),
    _obj("car", [("car", "cars")], {"colour": COLOURS}, LARGE, (.45, .25), "surface"),
    _obj("chair", [("chair", "chairs")], {"colour": COLOURS, "material": ("wooden", "metal",
         "plastic", "leather")}, MEDIUM, (.15, .25), "surface"),
    _obj("bike", [("bike", "bikes"), ("bicycle", "bicycles")], {"colour": COLOURS}, MEDIUM,
         (.3, .22), "rideable"),
    _obj("cup", [("cup", "cups"), ("mug", "mugs")], {"colour": COLOURS, "material": ("glass",
         "plastic", "metal")}, TINY, (.05, .07), "holdable"),
    _obj("bird", [("bird", "birds")], {"colour": ("black", "white", "blue", "red", "yellow",
         "brown"), "size": tuple(SIZES)}, TINY, (.07, .06), "animal"),
    _obj("bag", [("bag", "bags"), ("backpack", "backpacks")], {"colour": COLOURS,
         "material": ("leather", "plastic")}, SMALL, (.1, .12), "holdable"),
    _obj("pizza", [("pizza", "pizzas")], {"size": tuple(SIZES)}, SMALL, (.2, .1), "food"),
    _obj("kite", [("kite", "kites")], {"colour": COLOURS, "size": tuple(SIZES)}, SMALL,
         (.12, .12), "holdable toy"),
    _obj("skateboard", [("skateboard", "skateboards")], {"colour": COLOURS}, SMALL, (.16, .05),
         "rideable surface holdable"),
    _obj("apple", [("apple", "apples")], {"colour": ("red", "green", "yellow")}, TINY,
         (.04, .04), "food holdable"),
    _obj("box", [("box", "boxes")], {"colour": ("brown", "white", "red", "blue"),
         "material": ("wooden", "plastic", "metal"), "size": tuple(SIZES)}, SMALL, (.14, .12),
         "surface holdable"),
    _obj("elephant", [("elephant", "elephants")], {"size": tuple(SIZES)}, HUGE, (.4, .4),
         "animal rideable"),
    _obj("book", [("book", "books")], {"colour": COLOURS}, TINY, (.06, .05), "holdable"),
    _obj("sandwich", [("sandwich", "sandwiches")], {"size": tuple(SIZES)}, TINY, (.08, .05),
         "food holdable"),
    _obj("bus", [("bus", "buses")], {"colour": ("red", "blue", "yellow", "white", "green")},
         HUGE, (.6, .4), "rideable surface"),
    _obj("tree", [("tree", "trees")], {"size": tuple(SIZES), "height": HEIGHTS}, HUGE, (.3, .6),
         "cover"),
    _obj("surfboard", [("surfboard", "surfboards")], {"colour": COLOURS}, MEDIUM, (.1, .3),
         "rideable surface holdable"),
    _obj("banana", [("banana", "bananas")], {"colour": ("yellow", "green")}, TINY, (.06, .03),
         "food holdable"),
    _obj("frisbee", [("frisbee", "frisbees")], {"colour": COLOURS}, TINY, (.06, .03),
         "holdable toy"),
    _obj("sofa", [("sofa", "sofas"), ("couch", "couches")], {"colour": COLOURS,
         "material": ("leather",)}, LARGE, (.45, .25), "surface"),
    _obj("cake", [("cake", "cakes")], {"colour": ("white", "pink", "brown"),
         "size": tuple(SIZES)}, SMALL, (.12, .1), "food"),
    _obj("laptop", [("laptop", "laptops")], {"colour": ("black", "grey", "white")}, SMALL,
         (.12, .08), "holdable"),
    _obj("boat", [("boat", "boats")], {"colour": COLOURS, "material": ("wooden", "metal"),
         "size": tuple(SIZES)}, HUGE, (.45, .25), "rideable surface"),
    _obj("hat", [("hat", "hats")], {"colour": COLOURS, "material": ("leather",)}, TINY,
         (.07, .05), "holdable"),
    _obj("phone", [("phone", "phones")], {"colour": ("black", "white", "pink")}, TINY,
         (.03, .05), "holdable"),
)
OBJECTS_BY_NAME = {t.name: t for t in OBJECT_TYPES}

# Every attribute value, one prototype each (the features encode the canonical value).
ATTRIBUTE_VALUES: tuple[str, ...] = tuple(dict.fromkeys(
    [*COLOURS, *SIZES, *AGES, *HEIGHTS, *MATERIALS]))

# Relations. Spatial ones are read from box geometry; actions from a prototype added to the
# subject's region (synth_features). Surface forms: (participle, 3rd singular, plural) verb
# forms for actions; for spatial relations the preposition variants.
SPATIAL = ("on", "under", "next to", "behind", "in front of")
ACTIONS = ("hold", "carry", "ride", "eat", "look at", "chase")
RELATIONS: tuple[str, ...] = (*SPATIAL, *ACTIONS)

PREPOSITIONS = {
    "on": ("on", "on top of"),
    "under": ("under", "underneath", "beneath"),
    "next to": ("next to", "beside", "near"),
    "behind": ("behind",),
    "in front of": ("in front of",),
}
VERBS = {
    "hold": (("holding", "holds", "hold"),),
    "carry": (("carrying", "carries", "carry"),),
    "ride": (("riding", "rides", "ride"),),
    "eat": (("eating", "eats", "eat"),),
    "look at": (("looking at", "looks at", "look at"), ("watching", "watches", "watch")),
    "chase": (("chasing", "chases", "chase"), ("running after", "runs after", "run after")),
}
PASSIVE = {"hold": "held", "carry": "carried", "ride": "ridden", "eat": "eaten",
           "look at": "watched", "chase": "chased"}


def relation_allowed(subj: ObjectType, rel: str, obj: ObjectType) -> bool:
    """Whether `subj rel obj` is a sensible scene ("a man riding a horse", not the reverse)."""
    sk, ok = subj.kinds, obj.kinds
    if rel == "on":
        # smaller things on bigger ones; people also on same-size seats ("a man on a bench")
        smaller = subj.size_class < obj.size_class or (
            "person" in sk and subj.size_class == obj.size_class)
        return "surface" in ok and smaller and "surface" not in sk
    if rel == "under":
        return "cover" in ok and subj.size_class <= obj.size_class and "cover" not in sk
    if rel in ("next to", "behind", "in front of"):
        return abs(subj.size_class - obj.size_class) <= 2
    if rel == "hold":
        return "person" in sk and "holdable" in ok and obj.size_class <= MEDIUM
    if rel == "carry":
        return ("person" in sk and "holdable" in ok) or ("animal" in sk and "toy" in ok
                                                          and subj.size_class >= SMALL)
    if rel == "ride":
        return "person" in sk and "rideable" in ok
    if rel == "eat":
        return subj.animate and "food" in ok
    if rel == "look at":
        return subj.animate and subj is not obj
    if rel == "chase":
        return subj.animate and ("toy" in ok or "animal" in ok) and subj is not obj
    raise ValueError(rel)
