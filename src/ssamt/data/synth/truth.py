"""Scene truth: is a synthetic caption (its CaptionSpec) true of a scene?

A caption is true of scene S when its mentions can be given distinct objects of S such that
each object has the mention's type and count and every attribute the caption states, every
relation the caption states holds between the objects, and the setting, when named, is S's.
Relations are the scene graph's (synth_scene): "next to" is symmetric, "behind" and "in front
of" are each other's converse; nothing is read from the geometry.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product
from typing import Any

import numpy as np

from ssamt.data.synth.caption import NP, CaptionSpec
from ssamt.data.synth.scene import Entity, Scene
from ssamt.data.synth.world import OBJECTS_BY_NAME

_CONVERSE = {"next to": "next to", "behind": "in front of", "in front of": "behind"}


def scene_from_json(d: dict[str, Any]) -> Scene:
    """A Scene from a line of {split}_scenes.jsonl (Scene.to_json)."""
    entities = [Entity(OBJECTS_BY_NAME[o["type"]], int(o["count"]), dict(o["attrs"]),
                       [tuple(b) for b in o.get("boxes", [])]) for o in d["objects"]]
    return Scene(entities, [(int(s), r, int(o)) for s, r, o in d["relations"]], d["setting"])


def scene_relations(scene: Scene) -> set[tuple[int, str, int]]:
    """The scene's relations with the symmetric / converse ones they imply."""
    out = set()
    for s, r, o in scene.relations:
        out.add((s, r, o))
        if r in _CONVERSE:
            out.add((o, _CONVERSE[r], s))
    return out


def np_fits(np_: NP, e: Entity) -> bool:
    """The object has the mention's type, count and every stated attribute."""
    return (e.type.name == np_.type and e.count == np_.count
            and all(e.attrs.get(g) == v for g, v in np_.attrs()))


def caption_true(spec: CaptionSpec, scene: Scene) -> bool:
    """Whether the caption is true of the scene (module docstring)."""
    if spec.setting is not None and spec.setting != scene.setting:
        return False
    candidates = [[i for i, e in enumerate(scene.entities) if np_fits(n, e)] for n in spec.nps]
    if any(not c for c in candidates):
        return False
    rels = scene_relations(scene)
    for assign in product(*candidates):  # at most a few mentions over a few objects
        if len(set(assign)) < len(assign):
            continue
        if all((assign[r.subj], r.rel, assign[r.obj]) in rels for r in spec.rels):
            return True
    return False


def truth_matrix(scenes: Sequence[Scene], specs: Sequence[CaptionSpec]) -> np.ndarray:
    """(N_img, N_cap) bool: caption j is true of image i. Only images holding every type
    the caption names are checked (an inverted index), so a 1K x 5K split takes seconds."""
    by_type: dict[str, set[int]] = {}
    for i, scene in enumerate(scenes):
        for e in scene.entities:
            by_type.setdefault(e.type.name, set()).add(i)
    truth = np.zeros((len(scenes), len(specs)), dtype=bool)
    for j, spec in enumerate(specs):
        sets = [by_type.get(n.type, set()) for n in spec.nps]
        for i in set.intersection(*sets) if sets else range(len(scenes)):
            truth[i, j] = caption_true(spec, scenes[i])
    return truth
