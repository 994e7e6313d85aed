"""One synthetic image as the generator draws it: scene, region layout, captions.

`generator._write_split` and the minimal-pair writer (`minimal.py`) both draw images through
`draw_image`, so replaying a split's random stream gives back exactly the scenes, layouts
and captions on disk (and the layout's random state, to render an edited scene with the
same regions).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np

from ssamt.data.synth.caption import CaptionSpec
from ssamt.data.synth.features import region_layout
from ssamt.data.synth.scene import Scene, sample_scene
from ssamt.data.synth.text import STYLE_V1, STYLE_V2, caption_specs

CAPTIONS_PER_IMAGE = 5
# 1: one object per type (the default; its output never changes for a seed).
# 2: up to two objects of a type and more captions binding attributes to both related
#    objects, opt-in with `ssamt synth --generator 2`.
GENERATORS = (1, 2)


@dataclass
class ImageDraw:
    """scene; layout_state: the random state region_layout started from; coef (R, K),
    noise (R,), boxes (R, 4) float32 (synth_features.region_layout); specs: the captions."""

    scene: Scene
    layout_state: Any
    coef: np.ndarray
    noise: np.ndarray
    boxes: np.ndarray
    specs: list[CaptionSpec]


def draw_image(rng: random.Random, objects: tuple[int, int], regions: int,
               generator: int = 1) -> ImageDraw:
    """The next image of a split's random stream `rng`."""
    scene = sample_scene(rng, objects, max_members=regions - 2, repeats=generator >= 2)
    state = rng.getstate()
    coef, noise, boxes = region_layout(rng, scene, regions)
    style = STYLE_V2 if generator >= 2 else STYLE_V1
    return ImageDraw(scene, state, coef, noise, boxes,
                     caption_specs(rng, scene, CAPTIONS_PER_IMAGE, style))


def relayout(draw: ImageDraw, edited: Scene) -> np.ndarray:
    """coef (R, K) of `edited` laid out from the same random state as the original: the same
    regions in the same slots (an edit that keeps every object's boxes changes only the
    prototype weights of its regions)."""
    rng = random.Random()
    rng.setstate(draw.layout_state)
    return region_layout(rng, edited, len(draw.coef))[0]
