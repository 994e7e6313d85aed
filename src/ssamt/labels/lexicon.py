"""Word lists behind the scene-graph rules, following the FACTUAL conventions (paper 2.1).

Kept apart from the rules so that the rules read as grammar and the lists as data.
"""

from __future__ import annotations

# "two dogs" -> attribute ("dog", "2"); "one" is dropped, as FACTUAL does.
NUMBERS = {
    "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "both": "2",
}
DROPPED_NUMBERS = {"one", "a", "an"}

# "group of people": "group" becomes the attribute "group of" of its members (FACTUAL train
# does this for "group" only).
COLLECTIVES = {"group"}
# "pair of skis", "herd of zebras": the quantity word vanishes, its members stand in.
QUANTITIES = {"pair", "lot", "lots", "couple", "number", "set", "kind", "type", "sort", "dozen",
              "bit", "piece", "plenty", "variety", "bunch", "several", "all", "some", "each",
              "herd", "flock", "crowd", "pack", "row", "stack", "pile", "line", "bundle",
              "collection", "cluster"}
# Quantifier / position adjectives FACTUAL train almost never keeps as attributes.
DROPPED_ATTRS = {"many", "several", "few", "other", "multiple", "another", "some", "full",
                 "right", "left", "various", "numerous", "same"}

# "on the side of X" -> relation "on side of"; "in front of X" -> "in front of".
POSITIONS = {"front", "top", "side", "back", "middle", "edge", "bottom", "end", "center",
             "centre", "corner", "left", "right", "rest", "part", "base", "inside", "outside",
             "surface", "underside", "tip", "rear", "front side"}

# Multi-word prepositions whose first word heads the second: "next to", "close to".
ADVERB_PREPS = {"next", "close", "out", "away", "up", "down", "off", "inside", "outside",
                "ahead", "near", "instead", "because", "across", "along"}

# Nouns that are never scene objects on their own.
NON_OBJECTS = {"there", "here", "background", "foreground", "distance"}

PRONOUN_SUBJECTS = {"he", "she", "they", "it", "him", "her", "them", "this", "that", "these",
                    "those", "who", "which", "what"}

# Plural-only nouns keep their form ("pants", not spaCy's "pant").
PLURALIA = {"pants", "jeans", "shorts", "glasses", "sunglasses", "goggles", "scissors",
            "trousers", "clothes", "binoculars", "tongs", "leggings", "overalls", "headphones",
            "earphones", "stairs", "suds", "skis"}

# Degree adverbs dropped from attributes: "very tall fence" -> (fence, tall).
INTENSIFIERS = {"very", "really", "extremely", "quite", "so", "too", "slightly", "fairly",
                "pretty", "somewhat", "rather", "mostly", "partly", "partially", "all", "super"}

# "man in a red shirt" / "man with a hat on" -> (man, wear, shirt) (FACTUAL convention).
CLOTHING = {"shirt", "t-shirt", "tshirt", "jacket", "coat", "hat", "cap", "helmet", "pants",
            "jeans", "shorts", "dress", "suit", "uniform", "sweater", "hoodie", "vest",
            "glasses", "sunglasses", "goggles", "glove", "gloves", "shoe", "shoes", "boot",
            "boots", "scarf", "tie", "skirt", "outfit", "wetsuit", "jersey", "blouse",
            "sneaker", "sneakers", "sandal", "sandals", "sock", "socks", "costume", "apron",
            "bikini", "sweatshirt", "beanie", "visor", "headband", "wristband", "necklace",
            "bracelet", "mask", "clothes", "clothing", "tank", "overalls", "raincoat", "robe",
            "trunks", "leggings", "top", "hood", "kimono", "tuxedo", "swimsuit", "bandana"}
# "woman with long hair" -> (woman, have, hair).
BODY_PARTS = {"hair", "hand", "arm", "leg", "head", "face", "eye", "ear", "nose", "mouth",
              "tail", "foot", "finger", "beard", "mustache", "moustache", "neck", "shoulder",
              "knee", "tooth", "lip", "nail", "skin", "body", "mane", "tusk", "horn", "paw",
              "wing", "beak", "fur", "hoof", "toe", "chin", "cheek", "eyebrow", "forehead",
              "wrist", "elbow", "thumb", "trunk", "spot", "stripe", "feather"}
# "bottle of wine" -> (wine, in, bottle); "plate of food" -> (food, on, plate).
CONTAINERS_IN = {"bottle", "glass", "cup", "bowl", "jar", "box", "bag", "basket", "bucket",
                 "can", "mug", "pot", "carton", "container", "vase", "pan", "pitcher", "crate"}
CONTAINERS_ON = {"plate", "tray", "platter", "dish", "plateful"}

# Prepositions FACTUAL writes in one canonical form ("beneath the table" -> under).
PREP_CANON = {"beneath": "under", "underneath": "under", "below": "under",
              "atop": "on top of", "toward": "towards", "inside of": "inside"}

# -ing words that name things: "railing on a pier" is a railing, not an act of railing.
ING_NOUNS = {"building", "railing", "drawing", "painting", "ceiling", "clothing", "awning",
             "icing", "frosting", "siding", "landing", "opening", "topping", "filling",
             "bedding", "stuffing", "writing", "lettering", "carving", "wiring", "piping",
             "molding", "moulding", "trimming", "fencing", "netting", "paneling", "lighting",
             "seating", "shading", "planting", "dressing", "sling", "string", "ring", "wing",
             "spring", "swing", "thing", "king", "ding"}

# Names FACTUAL writes as one word or another word (FACTUAL train, >= 2 times each).
NAME_SPELLING = {"side walk": "sidewalk", "cell phone": "cellphone", "surf board": "surfboard",
                 "counter top": "countertop", "snow board": "snowboard", "wet suit": "wetsuit",
                 "stove top": "stovetop", "suit case": "suitcase", "wind shield": "windshield",
                 "head band": "headband", "skate board": "skateboard", "guy": "person",
                 "someone": "person", "somebody": "person"}

# Part-of compounds: "tree branch" -> (tree, have, branch) (FACTUAL train, >= 4 times each).
HAVE_PAIRS = {"tree branch", "clock face", "laptop screen", "plane wing", "jet engine",
              "oven door", "elephant leg", "tv stand", "car window", "door frame"}

# "piece of cake" -> (cake, is, piece): the portion word is an attribute of the stuff.
PORTIONS = {"piece", "slice", "patch", "part", "chunk", "strip", "sliver", "portion"}

# Verbs whose bare participle is a parse failure, not a state ("man wearing" -> nothing).
TRANSITIVE = {"wear", "hold", "touch", "try", "carry", "use", "make", "attach", "have", "look",
              "take", "get", "show", "feature", "contain", "cover", "display", "give"}

# "A picture of three kites": at the head of a caption these words frame the scene, the
# scene itself is what the caption describes (COCO / Flickr30K captions often start so).
FRAMES = {"picture", "photo", "photograph", "image", "view", "shot", "snapshot", "pic",
          "closeup", "close-up", "close", "scene", "display"}


# Plural nouns folded to the singular, for the parser and the FACTUAL scorer alike.
_IRREGULAR = {
    "feet": "foot", "teeth": "tooth", "men": "man", "women": "woman", "people": "person",
    "children": "child", "mice": "mouse", "geese": "goose", "knives": "knife",
    "leaves": "leaf", "shelves": "shelf", "wolves": "wolf", "halves": "half",
    "calves": "calf", "loaves": "loaf", "scarves": "scarf",
}
_NO_STRIP = ("ss", "us", "glasses", "pants", "jeans", "shorts", "clothes")


def normalize_word(word: str) -> str:
    """Fold a plural noun to its singular, the same way for gold and prediction."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) <= 3 or word.endswith(_NO_STRIP):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "sses", "zes")):
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return word
