"""Sample one synthetic scene: objects with attributes, relations, and a box layout.

Relations form a tree (each new object is related to one already placed), so the layout
can satisfy every relation: the box of the new object is put at an offset from its anchor
that encodes the relation (on = resting on the anchor's top edge, behind = overlapping with
a higher baseline, ...). Spatial relations are then recoverable from box geometry alone.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from ssamt.data.synth.world import (
    ACTIONS,
    OBJECT_TYPES,
    RELATIONS,
    SMALL,
    ObjectType,
    relation_allowed,
)

SETTINGS = ("park", "beach", "street", "kitchen", "field", "room")
# Zipf-like weights over OBJECT_TYPES (listed most common first).
_TYPE_WEIGHTS = [1.0 / (rank + 2) ** 0.8 for rank in range(len(OBJECT_TYPES))]
# Actions and spatial relations about equally often.
_REL_WEIGHTS = [1.0 if r in ACTIONS else 1.2 for r in RELATIONS]


@dataclass
class Entity:
    """An object of the scene; count > 1 is a group ("two dogs") sharing type and attributes.
    boxes: one (x1, y1, x2, y2) per member, normalized to [0, 1]."""

    type: ObjectType
    count: int
    attrs: dict[str, str]
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)


@dataclass
class Scene:
    entities: list[Entity]
    relations: list[tuple[int, str, int]]  # (subject entity, relation, object entity)
    setting: str

    def to_json(self) -> dict[str, Any]:
        return {
            "setting": self.setting,
            "objects": [{"type": e.type.name, "count": e.count, "attrs": e.attrs,
                         "boxes": [[round(v, 4) for v in b] for b in e.boxes]}
                        for e in self.entities],
            "relations": [list(r) for r in self.relations],
        }


def sample_scene(rng: random.Random, n_objects: tuple[int, int], max_members: int,
                 repeats: bool = False) -> Scene:
    """A scene of n_objects[0]..n_objects[1] related objects, at most max_members regions.
    repeats (generator 2): up to two objects of one type, told apart by their
    attributes; the default keeps one object per type (generator 1, unchanged draws).
    Every scene has at least one relation (each caption starts from one): objects that
    found none are drawn again, from where the stream stands."""
    entities, relations = _related_objects(rng, n_objects, repeats)
    while not relations:
        entities, relations = _related_objects(rng, n_objects, repeats)
    _make_groups(rng, entities, relations, max_members)
    _layout(rng, entities, relations)
    return Scene(entities, relations, rng.choice(SETTINGS))


def _related_objects(rng: random.Random, n_objects: tuple[int, int],
                     repeats: bool) -> tuple[list[Entity], list[tuple[int, str, int]]]:
    """Up to n_objects[1] entities grown one relation at a time from a first one; fewer
    (at worst the first alone) when no allowed relation comes up."""
    target = rng.randint(*n_objects)
    first = rng.choices(OBJECT_TYPES, _TYPE_WEIGHTS)[0]
    entities = [Entity(first, 1, _sample_attrs(rng, first))]
    relations: list[tuple[int, str, int]] = []
    for _ in range(8 * target):
        if len(entities) >= target:
            break
        grown = _grow(rng, entities, repeats)
        if grown is not None:
            entity, relation = grown
            entities.append(entity)
            relations.append(relation)
    return entities, relations


def _sample_attrs(rng: random.Random, t: ObjectType) -> dict[str, str]:
    return {group: rng.choice(values) for group, values in t.attrs.items()}


def _grow(rng: random.Random, entities: list[Entity],
          repeats: bool = False) -> tuple[Entity, tuple] | None:
    """A new entity related to an existing one, or None if the draw found no sensible pair."""
    rel = rng.choices(RELATIONS, _REL_WEIGHTS)[0]
    anchor = rng.randrange(len(entities))
    anchor_type = entities[anchor].type
    new_is_subject = rng.random() < 0.5
    used = {e.type.name for e in entities}  # one entity per type keeps captions unambiguous
    if repeats:  # generator 2: a second object of a type, so attributes must bind
        names = [e.type.name for e in entities]
        used = {n for n in used if names.count(n) >= 2}
    candidates, weights = [], []
    for t, w in zip(OBJECT_TYPES, _TYPE_WEIGHTS):
        if t.name in used:
            continue
        ok = (relation_allowed(t, rel, anchor_type) if new_is_subject
              else relation_allowed(anchor_type, rel, t))
        if ok:
            candidates.append(t)
            weights.append(w)
    if not candidates:
        return None
    t = rng.choices(candidates, weights)[0]
    new = len(entities)
    relation = (new, rel, anchor) if new_is_subject else (anchor, rel, new)
    attrs = _sample_attrs(rng, t)
    if repeats:
        same = [e.attrs for e in entities if e.type is t]
        for _ in range(8):  # objects of one type differ in an attribute
            if attrs not in same:
                break
            attrs = _sample_attrs(rng, t)
        else:
            return None
    return Entity(t, 1, attrs), relation


def _make_groups(rng: random.Random, entities: list[Entity], relations: list[tuple],
                 max_members: int) -> None:
    """Turn a few entities into groups of 2-3 ("two dogs"), within the region budget."""
    riders = {i for s, r, o in relations if r == "ride" for i in (s, o)}
    for i, e in enumerate(entities):
        if i in riders or not (e.type.size_class <= SMALL or e.type.animate):
            continue
        if rng.random() < 0.18:
            count = rng.choice((2, 2, 3))
            if sum(x.count for x in entities) + count - 1 <= max_members:
                e.count = count


# ---- layout ------------------------------------------------------------------------------

def _block_size(rng: random.Random, e: Entity) -> tuple[float, float]:
    """(w, h) of the entity's block (a group's members side by side)."""
    w, h = e.type.wh
    scale = {"small": 0.75, "large": 1.3}.get(e.attrs.get("size", ""), 1.0)
    scale *= rng.uniform(0.85, 1.15)
    h *= {"tall": 1.2, "short": 0.85}.get(e.attrs.get("height", ""), 1.0)
    return w * scale * (1 + 1.1 * (e.count - 1)), h * scale


def _offset(rng: random.Random, rel: str, s: tuple[float, float], o: tuple[float, float]):
    """(dx, dy): subject block centre minus object block centre encoding `rel` (y down)."""
    (ws, hs), (wo, ho) = s, o
    side = rng.choice((-1.0, 1.0))
    base = (ho - hs) / 2  # dy that puts both bottoms on one line
    if rel == "on":
        return rng.uniform(-0.3, 0.3) * wo, -0.4 * ho - hs / 2
    if rel == "under":
        return rng.uniform(-0.15, 0.15) * wo, base + 0.05 * hs
    if rel in ("next to", "look at", "chase"):
        gap = {"next to": (0.01, 0.06), "look at": (0.06, 0.2), "chase": (0.15, 0.3)}[rel]
        return side * ((ws + wo) / 2 + rng.uniform(*gap)), base + rng.uniform(-0.02, 0.02)
    if rel == "behind":
        return side * rng.uniform(0.1, 0.45) * (ws + wo) / 2, base - rng.uniform(0.2, 0.35) * ho
    if rel == "in front of":
        return side * rng.uniform(0.0, 0.35) * (ws + wo) / 2, base + rng.uniform(0.1, 0.2) * hs
    if rel == "hold":  # the object at the subject's hand
        return side * 0.45 * ws, rng.uniform(-0.05, 0.05) * hs
    if rel == "carry":
        return side * 0.4 * ws, -0.15 * hs
    if rel == "eat":  # the food at the subject's mouth
        return side * 0.3 * ws, 0.3 * hs
    if rel == "ride":  # astride: the rider's bottom well inside the ridden's box
        return rng.uniform(-0.1, 0.1) * wo, -0.05 * ho - hs / 2
    raise ValueError(rel)


def _layout(rng: random.Random, entities: list[Entity], relations: list[tuple]) -> None:
    """Place every block (tree order), fit the scene into the image, split groups."""
    sizes = [_block_size(rng, e) for e in entities]
    centres: dict[int, tuple[float, float]] = {0: (rng.uniform(0.4, 0.6), rng.uniform(0.5, 0.65))}
    pending = list(relations)
    while pending:
        for k, (s, rel, o) in enumerate(pending):
            if s in centres or o in centres:
                dx, dy = _offset(rng, rel, sizes[s], sizes[o])
                if o in centres:
                    centres[s] = (centres[o][0] + dx, centres[o][1] + dy)
                else:
                    centres[o] = (centres[s][0] - dx, centres[s][1] - dy)
                pending.pop(k)
                break
        else:  # unreachable for a tree; guards against an endless loop
            raise AssertionError("relations are not a tree")
    blocks = [(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
              for (cx, cy), (w, h) in ((centres[i], sizes[i]) for i in range(len(entities)))]
    blocks = _fit(blocks)
    for e, (x1, y1, x2, y2) in zip(entities, blocks):
        w = (x2 - x1) / (1 + 1.1 * (e.count - 1))
        e.boxes = [(x1 + 1.1 * w * m, y1, x1 + 1.1 * w * m + w, y2) for m in range(e.count)]


def _fit(blocks: list[tuple[float, float, float, float]], margin: float = 0.02):
    """Scale and shift all blocks together into [margin, 1 - margin]^2 (keeps relations)."""
    lo = [min(b[0] for b in blocks), min(b[1] for b in blocks)]
    hi = [max(b[2] for b in blocks), max(b[3] for b in blocks)]
    room = 1 - 2 * margin
    scale = min(1.0, *(room / max(h - lo_, 1e-6) for lo_, h in zip(lo, hi)))
    shift = [_shift(lo_ * scale, h * scale, margin) for lo_, h in zip(lo, hi)]
    return [(a * scale + shift[0], b * scale + shift[1], c * scale + shift[0], d * scale + shift[1])
            for a, b, c, d in blocks]


def _shift(lo: float, hi: float, margin: float) -> float:
    """The smallest shift that puts [lo, hi] (no wider than the room) inside the margins."""
    if lo < margin:
        return margin - lo
    if hi > 1 - margin:
        return 1 - margin - hi
    return 0.0
