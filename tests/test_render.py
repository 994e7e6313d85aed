"""Pictures and pages: synthetic scenes as SVG, original pictures found by id (and never
outside their folder), the explanation page's colours and Eq. 5 terms, and
`ssamt explain --html` end to end on the tiny synthetic split with a small random model."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch

from ssamt.render.explain_html import eq5_terms, score_colour
from ssamt.render.pictures import file_candidates, find_image_file
from ssamt.render.scene_svg import object_label, read_scene, relation_lines, scene_svg

SCENE = {"setting": "park", "objects": [
    {"type": "dog", "count": 2, "attrs": {"colour": "brown", "size": "<small>"},
     "boxes": [[0.1, 0.5, 0.3, 0.7], [0.35, 0.5, 0.55, 0.7]]},
    {"type": "frisbee", "count": 1, "attrs": {"colour": "red"}, "boxes": [[0.4, 0.2, 0.45, 0.25]]}],
    "relations": [[0, "catch", 1], [5, "on", 0]]}


def test_scene_svg_is_valid_and_labelled():
    svg = scene_svg(SCENE, 320, 240)
    root = ET.fromstring(svg)  # well-formed, attribute text escaped
    ns = "{http://www.w3.org/2000/svg}"
    rects = root.findall(f"{ns}rect")
    assert len(rects) == 1 + 3  # background + one per member box
    labels = [t.text for t in root.findall(f"{ns}text")]
    assert "2 brown <small> dog" in labels and "red frisbee" in labels and "park" in labels
    assert root.find(f"{ns}title").text == "setting: park; dog catch frisbee"
    # Largest box first, so the small frisbee is drawn on top of the dogs.
    assert float(rects[-1].get("width")) == pytest.approx(0.05 * 320)
    assert rects[-1].get("fill") == "#d62728"
    assert relation_lines(SCENE) == ["dog catch frisbee"]  # out-of-range subject skipped
    assert object_label({"type": "cat", "attrs": {}}) == "cat"


def test_read_scene_lines(tmp_path):
    lines = [dict(SCENE, setting=s) for s in ("park", "beach", "room")]
    (tmp_path / "test_scenes.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert read_scene(tmp_path, "test", 1)["setting"] == "beach"
    assert read_scene(tmp_path, "test", 3) is None and read_scene(tmp_path, "dev", 0) is None
    (tmp_path / "test_scenes.jsonl").write_text(json.dumps(lines[2]) + "\n")  # rewritten
    assert read_scene(tmp_path, "test", 0)["setting"] == "room"


def test_find_image_file_names_and_traversal(tmp_path):
    root = tmp_path / "pics"
    (root / "val2014").mkdir(parents=True)
    (root / "1000092795.jpg").write_bytes(b"jpeg")
    (root / "val2014" / "COCO_val2014_000000391895.jpg").write_bytes(b"jpeg")
    (tmp_path / "secret.jpg").write_bytes(b"no")
    assert find_image_file(root, "1000092795") == (root / "1000092795.jpg").resolve()
    assert find_image_file(root, 391895).name == "COCO_val2014_000000391895.jpg"
    assert "000000391895.jpg" in file_candidates("391895")
    for bad in ("../secret", "..", "/etc/passwd", "a/../../secret", "", ".hidden"):
        assert find_image_file(root, bad) is None
    (root / "link.jpg").symlink_to(tmp_path / "secret.jpg")
    assert find_image_file(root, "link") is None  # resolves outside the root


def test_score_colour_scale():
    hues = [int(score_colour(s).split("(")[1].split(",")[0]) for s in (-2, -1, 0, 0.5, 1, 3)]
    assert hues == [0, 0, 60, 90, 120, 120] and score_colour(None) == "#ffffff"


@pytest.fixture(scope="module")
def run_and_data(tmp_path_factory):
    pytest.importorskip("spacy")
    from _gallery import make_gallery

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    g = make_gallery(tmp_path_factory.mktemp("render"), index=False)
    yield g["run"], g["data"], g["split"]
    torch.set_num_threads(threads)


def test_explain_html_end_to_end(run_and_data, tmp_path, capsys):
    from ssamt.cli import main

    run, data, split = run_and_data
    page, js = tmp_path / "page.html", tmp_path / "e.json"
    rc = main(["explain", "--checkpoint", str(run), "--data", str(data), "--image", "2",
               "--caption", "11", "--html", str(page), "--json", str(js), "--device", "cpu"])
    assert rc == 0 and f"wrote {page}" in capsys.readouterr().out
    html = page.read_text()
    expl = json.loads(js.read_text())
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<script" not in html and "src=\"http" not in html  # self-contained
    assert f"{expl['scores']['eq5']:+.4f}" in html
    for caption in split.image_captions(2):
        assert caption.replace("'", "&#x27;") in html or caption in html
    words = [p for p in expl["parts"] if p["kind"] == "word"]
    assert html.count('class="chip') >= len(words)
    named = expl["verdict"]["flagged"]["text"]
    assert f"Most likely mismatch: <b>{named.replace(chr(39), '&#x27;')}</b>" in html
    scene = read_scene(data, "test", 2)
    assert object_label(scene["objects"][0]).split()[-1] in html


def test_eq5_terms_sum():
    from types import SimpleNamespace

    expl = SimpleNamespace(mu1=0.3, mu2=0.1, scores={
        "intra": 0.5, "inter_global": 0.2, "s_P": -0.4, "s_R": 0.6, "eq5": 0.58})
    assert sum(v for _, v in eq5_terms(expl)) == pytest.approx(0.58)


def test_explain_html_bad_images_root(run_and_data, tmp_path, capsys):
    from ssamt.cli import main

    run, data, _ = run_and_data
    rc = main(["explain", "--checkpoint", str(run), "--data", str(data), "--image", "0",
               "--caption", "0", "--html", str(tmp_path / "p.html"), "--images-root",
               str(tmp_path / "missing"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 2 and "--images-root is not a folder" in err and "Traceback" not in err


def test_pictures_stay_in_their_folder_and_are_redrawn(tmp_path):
    from io import BytesIO
    from types import SimpleNamespace

    Image = pytest.importorskip("PIL.Image")
    from ssamt.render.pictures import contained_file, photo_folder, picture, thumb_path

    root = tmp_path / "photos"
    root.mkdir()
    Image.new("RGB", (200, 100), (200, 30, 30)).save(root / "a.png")
    Image.new("RGB", (20, 20)).save(tmp_path / "secret.png")  # a picture, but not the gallery's
    (tmp_path / "test_photos.json").write_text(json.dumps({"root": str(root)}))
    split = SimpleNamespace(data_dir=tmp_path, split="test", ids=["a.png", "../secret.png"],
                            rows=np.arange(2), image_captions=lambda i: ["c"])
    assert photo_folder(split) == root
    assert contained_file(root, "a.png") == (root / "a.png").resolve()
    for outside in ("../secret.png", str(tmp_path / "secret.png"), "."):
        assert contained_file(root, outside) is None
    pic = picture(split, 0, max_side=50)
    assert pic.kind == "file" and Image.open(BytesIO(pic.jpeg)).size == (50, 25)
    assert pic.jpeg[:3] == b"\xff\xd8\xff" and pic.problem is None  # redrawn as a JPEG
    refused = picture(split, 1)
    assert refused.kind == "none" and refused.problem == "not a regular file inside its folder"
    thumbs = tmp_path / "thumbs"
    thumbs.mkdir()
    thumb_path(thumbs, 1).write_bytes(b"\xff\xd8\xff")  # named .jpg, not a readable JPEG
    assert picture(split, 1, thumbs=thumbs).problem == "not an image PIL can read"
    Image.new("RGB", (30, 10)).save(thumb_path(thumbs, 1), format="JPEG")
    pic = picture(split, 1, thumbs=thumbs)
    assert pic.kind == "file" and Image.open(BytesIO(pic.jpeg)).size == (30, 10)
    thumb_path(thumbs, 0).symlink_to(tmp_path / "secret.png")  # out of thumbs/: the photo
    pic = picture(split, 0, thumbs=thumbs, max_side=50)
    assert pic.kind == "file" and Image.open(BytesIO(pic.jpeg)).size == (50, 25)
