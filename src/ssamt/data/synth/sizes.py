"""The built-in sizes of the synthetic data (`ssamt synth --size`): images per split, regions
and feature width, and how many objects a scene holds."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SynthSize:
    train: int
    dev: int
    test: int
    testall: int
    regions: int  # R
    dim: int  # D
    dtype: str
    objects: tuple[int, int]  # objects per scene, min and max

    def images(self, split: str) -> int:
        return getattr(self, split)


SIZES: dict[str, SynthSize] = {
    "tiny": SynthSize(200, 100, 100, 250, regions=12, dim=128, dtype="float32", objects=(2, 4)),
    "small": SynthSize(3000, 500, 500, 1000, regions=16, dim=256, dtype="float32",
                       objects=(2, 5)),
    "medium": SynthSize(30000, 1000, 1000, 5000, regions=36, dim=512, dtype="float16",
                        objects=(2, 6)),
}
