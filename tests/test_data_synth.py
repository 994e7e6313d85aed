"""Synthetic scenes: determinism, validity of the tiny set, sane size parameters."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from ssamt.cli import main
from ssamt.data.precomp import SPLITS, open_split
from ssamt.data.synth.features import INDEX, region_layout
from ssamt.data.synth.generator import MARKER, SIZES, generate
from ssamt.data.synth.scene import Entity, Scene, sample_scene
from ssamt.data.synth.text import captions
from ssamt.data.synth.world import OBJECTS_BY_NAME, RELATIONS, relation_allowed
from ssamt.errors import DataError


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("synth") / "tiny", "tiny", seed=0)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_deterministic_for_a_seed(tiny, tmp_path):
    again = generate(tmp_path / "again", "tiny", seed=0)
    assert _files(again) == _files(tiny)
    other = generate(tmp_path / "other", "tiny", seed=1)
    assert _files(other)["train_caps.txt"] != _files(tiny)["train_caps.txt"]
    assert _files(other)["train_ims.npy"] != _files(tiny)["train_ims.npy"]


def test_tiny_is_a_valid_precomp_folder(tiny):
    cfg = SIZES["tiny"]
    for split in SPLITS:
        s = open_split(tiny, split)
        assert s.num_images == cfg.images(split) and s.captions_per_image == 5
        assert s.images.shape[1:] == (cfg.regions, cfg.dim) and s.boxes.shape[2] == 4
        s.check_finite(chunk=64)
        boxes = np.asarray(s.boxes)
        assert boxes.min() >= 0 and boxes.max() <= 1
        assert (boxes[..., 2] > boxes[..., 0]).all() and (boxes[..., 3] > boxes[..., 1]).all()
        assert len(set(s.ids)) == s.num_images
    test, testall = open_split(tiny, "test"), open_split(tiny, "testall")
    np.testing.assert_array_equal(np.asarray(test.images), testall.images[: test.num_images])
    assert test.captions == testall.captions[: test.num_captions]
    assert json.loads((tiny / MARKER).read_text())["size"] == "tiny"


def test_captions_talk_about_their_scene(tiny):
    split = open_split(tiny, "train")
    scenes = [json.loads(line) for line in (tiny / "train_scenes.jsonl").open()]
    assert len(scenes) == split.num_images
    for i, scene in enumerate(scenes):
        nouns = {w for o in scene["objects"] for pair in OBJECTS_BY_NAME[o["type"]].nouns
                 for w in pair}
        caps = split.image_captions(i)
        assert len(set(caps)) >= 3  # five captions, mostly different
        for cap in caps:
            words = set(cap.lower().rstrip(".").split())
            assert words & nouns, (cap, scene)


def test_spatial_relations_are_in_the_geometry(tiny):
    """Relations hold in the boxes by construction (DESIGN: recoverable from features)."""
    checks = {
        "on": lambda s, o: (s[1] + s[3]) / 2 < (o[1] + o[3]) / 2,
        "under": lambda s, o: s[3] > (o[1] + o[3]) / 2,
        "behind": lambda s, o: s[3] < o[3],
        "in front of": lambda s, o: s[3] > o[3],
        "ride": lambda s, o: s[1] < o[1],
    }
    seen = set()
    for line in (tiny / "train_scenes.jsonl").open():
        scene = json.loads(line)
        for s, rel, o in scene["relations"]:
            if rel in checks:
                seen.add(rel)
                sb, ob = scene["objects"][s]["boxes"][0], scene["objects"][o]["boxes"][0]
                assert checks[rel](sb, ob), (rel, scene)
    assert seen == set(checks)


def test_action_prototype_goes_to_the_subject_region():
    man, umbrella = OBJECTS_BY_NAME["man"], OBJECTS_BY_NAME["umbrella"]
    scene = Scene([Entity(man, 1, {"age": "old", "height": "tall"}, [(0.1, 0.1, 0.3, 0.9)]),
                   Entity(umbrella, 1, {"colour": "red", "size": "small"},
                          [(0.25, 0.3, 0.4, 0.5)])], [(0, "hold", 1)], "park")
    coef, noise, boxes = region_layout(random.Random(0), scene, 8)
    man_row = int(np.flatnonzero(coef[:, INDEX["obj:man"]] == 1.0)[0])
    assert coef[man_row, INDEX["act:hold"]] > 0 and coef[man_row, INDEX["attr:old"]] > 0
    assert coef[:, INDEX["act:hold"]].max() == coef[man_row, INDEX["act:hold"]]
    np.testing.assert_allclose(boxes[man_row], (0.1, 0.1, 0.3, 0.9))
    assert (noise > 0).all()


def test_scenes_are_sensible():
    rng = random.Random(3)
    for _ in range(300):
        scene = sample_scene(rng, (2, 6), max_members=10)
        assert sum(e.count for e in scene.entities) <= 10
        assert len(scene.relations) == len(scene.entities) - 1  # a tree
        for s, rel, o in scene.relations:
            assert rel in RELATIONS
            assert relation_allowed(scene.entities[s].type, rel, scene.entities[o].type)
        assert len(captions(rng, scene)) == 5


def test_objects_that_found_no_relation_are_drawn_again(monkeypatch):
    """A first object whose growth finds no allowed relation (a bus alone, seed 1 of the
    small set) would leave a scene no caption can start from."""
    from ssamt.data.synth import scene as scene_module

    grow, calls = scene_module._grow, {"n": 0}

    def fails_first(rng, entities, repeats):
        calls["n"] += 1
        return None if calls["n"] <= 40 else grow(rng, entities, repeats)

    monkeypatch.setattr(scene_module, "_grow", fails_first)
    for seed in range(5):
        calls["n"] = 0
        scene = sample_scene(random.Random(seed), (2, 5), 14)
        assert scene.relations and len(scene.entities) >= 2
        assert calls["n"] > 40  # the first draw did fail


def test_a_scene_that_grows_is_drawn_as_before():
    """Drawing again only where growth failed keeps every other scene's draws."""
    from ssamt.data.synth import scene as scene_module

    rng = random.Random(3)
    scene = sample_scene(rng, (2, 5), 14)
    again = random.Random(3)
    entities, relations = scene_module._related_objects(again, (2, 5), False)
    assert relations and [e.type.name for e in entities] == [e.type.name for e in scene.entities]


def test_size_parameters_are_sane():
    for name, cfg in SIZES.items():
        assert cfg.test <= cfg.testall and cfg.dev > 0 and cfg.train >= 2 * cfg.dev
        assert 2 <= cfg.objects[0] <= cfg.objects[1] <= cfg.regions - 2, name
        assert cfg.dtype in ("float16", "float32")
    small, medium = SIZES["small"], SIZES["medium"]
    small_bytes = (small.train + small.dev + 2 * small.testall) * small.regions * small.dim * 4
    assert small_bytes < 200e6 and small.train >= 2000  # trains on a CPU in minutes
    medium_bytes = ((medium.train + medium.dev + medium.test + medium.testall)
                    * medium.regions * medium.dim * 2)
    assert medium_bytes < 2e9 and medium.regions == 36 and medium.testall == 5000


def test_refuses_user_folder_and_replaces_its_own(tmp_path):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("precious")
    with pytest.raises(DataError, match="refusing"):
        generate(user, "tiny")
    assert (user / "notes.txt").read_text() == "precious"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no leftovers
    empty = tmp_path / "empty"
    empty.mkdir()
    generate(empty, "tiny", seed=2)
    generate(empty, "tiny", seed=3)  # its own folder: replaced
    assert json.loads((empty / MARKER).read_text())["seed"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "mine"]


def test_command(tmp_path, capsys):
    assert main(["synth", str(tmp_path / "d"), "--size", "tiny", "--seed", "5", "--quiet"]) == 0
    assert "train 200" in capsys.readouterr().out
    assert open_split(tmp_path / "d", "dev").num_images == SIZES["tiny"].dev
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "a").write_text("1")
    assert main(["synth", str(tmp_path / "x"), "--size", "tiny", "--quiet"]) == 2
    assert "refusing" in capsys.readouterr().err
