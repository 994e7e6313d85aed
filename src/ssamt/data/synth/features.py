"""Region features and boxes of a synthetic scene, through fixed random prototypes.

A region's feature is a weighted sum of prototypes (its object type, each attribute value,
and, for the subject of an action, the action) plus Gaussian noise, like a detector's
mean-pooled feature that mixes "what" and "how it looks". The action is added to the
subject's region (whom it is done to is read from the geometry); spatial relations live
in the boxes only. Other regions are weaker duplicate proposals of the objects and
background regions (setting + background kind), as a detector also returns.
"""

from __future__ import annotations

import random

import numpy as np

from ssamt.data.synth.scene import SETTINGS, Scene
from ssamt.data.synth.world import ACTIONS, ATTRIBUTE_VALUES, OBJECT_TYPES

BACKGROUNDS = ("sky", "wall", "ground", "grass", "water", "road", "floor", "window")

# Prototype bank layout: one row per object type, attribute value, action, setting, background.
_NAMES = [*(f"obj:{t.name}" for t in OBJECT_TYPES), *(f"attr:{a}" for a in ATTRIBUTE_VALUES),
          *(f"act:{a}" for a in ACTIONS), *(f"set:{s}" for s in SETTINGS),
          *(f"bg:{b}" for b in BACKGROUNDS)]
INDEX = {name: k for k, name in enumerate(_NAMES)}
NUM_PROTOTYPES = len(_NAMES)

W_ATTR, W_ACTION, W_DUP, W_BG = 0.6, 0.8, 0.6, 0.8
NOISE, NOISE_DUP, NOISE_BG = 0.5, 0.8, 0.6


def prototype_bank(seed: int, dim: int) -> np.ndarray:
    """(NUM_PROTOTYPES, dim) float32 N(0, 1) prototypes, fixed for a seed (shared by splits)."""
    return np.random.default_rng([seed, 7919]).standard_normal((NUM_PROTOTYPES, dim),
                                                               dtype=np.float32)


def region_layout(rng: random.Random, scene: Scene, num_regions: int):
    """Coefficients, noise scales and boxes of the scene's regions, in random order.

    Returns coef (R, NUM_PROTOTYPES) float32, noise (R,) float32, boxes (R, 4) float32.
    """
    coef = np.zeros((num_regions, NUM_PROTOTYPES), np.float32)
    noise = np.empty(num_regions, np.float32)
    boxes = np.empty((num_regions, 4), np.float32)
    members = _member_regions(scene)
    order = list(range(num_regions))
    rng.shuffle(order)  # detectors return regions in no meaningful order
    slot = iter(order)
    for weights, box in members:
        r = next(slot)
        for k, w in weights:
            coef[r, k] += w
        noise[r], boxes[r] = NOISE, box
    free = num_regions - len(members)
    n_dup = min(free, rng.randint(0, len(members)))
    for _ in range(n_dup):  # a weaker, noisier proposal on part of an object
        weights, box = rng.choice(members)
        r = next(slot)
        for k, w in weights:
            coef[r, k] += W_DUP * w
        noise[r], boxes[r] = NOISE_DUP, _crop(rng, box)
    for _ in range(free - n_dup):
        r = next(slot)
        coef[r, INDEX[f"set:{scene.setting}"]] += W_BG
        coef[r, INDEX[f"bg:{rng.choice(BACKGROUNDS)}"]] += W_BG
        noise[r], boxes[r] = NOISE_BG, _random_box(rng)
    return coef, noise, boxes


def _member_regions(scene: Scene) -> list[tuple[list[tuple[int, float]], tuple]]:
    """(prototype weights, box) of every object member's main region."""
    acting: dict[int, list[str]] = {}
    for s, rel, _ in scene.relations:
        if rel in ACTIONS:
            acting.setdefault(s, []).append(rel)
    out = []
    for i, e in enumerate(scene.entities):
        weights = [(INDEX[f"obj:{e.type.name}"], 1.0)]
        weights += [(INDEX[f"attr:{v}"], W_ATTR) for v in e.attrs.values()]
        weights += [(INDEX[f"act:{a}"], W_ACTION) for a in acting.get(i, [])]
        out.extend((weights, box) for box in e.boxes)
    return out


def _crop(rng: random.Random, box) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = box
    w, h = (x2 - x1) * rng.uniform(0.5, 0.9), (y2 - y1) * rng.uniform(0.5, 0.9)
    cx, cy = rng.uniform(x1 + w / 2, x2 - w / 2), rng.uniform(y1 + h / 2, y2 - h / 2)
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def _random_box(rng: random.Random) -> tuple[float, float, float, float]:
    w, h = rng.uniform(0.1, 0.8), rng.uniform(0.1, 0.6)
    x1, y1 = rng.uniform(0, 1 - w), rng.uniform(0, 1 - h)
    return x1, y1, x1 + w, y1 + h


def render_features(coef: np.ndarray, noise: np.ndarray, bank: np.ndarray,
                    rng: np.random.Generator) -> np.ndarray:
    """coef (B, R, K) @ bank (K, D) + noise (B, R) * N(0, 1) -> (B, R, D) float32."""
    b, r, k = coef.shape
    # one 2-D product: numpy's batched 3-D matmul is ~100x slower here
    feats = (coef.reshape(b * r, k) @ bank).reshape(b, r, bank.shape[1])  # (B, R, D)
    eps = rng.standard_normal(feats.shape, dtype=np.float32)
    feats += eps * noise[..., None]
    return feats
