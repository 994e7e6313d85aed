"""Bad-input class 1 (docs/BAD_INPUT.md): output paths. Atomic replacement is for regular
files only; links are followed, devices and FIFOs written through, an input never
overwritten (any file of a split a command reads, the checkpoint, a folder of pictures),
two outputs never one file, a replaced file keeps its mode, `-` is stdout, OS errors are
one line."""

import os
import resource
import signal
import stat
import threading
from pathlib import Path

import pytest
from _dataset import make_dataset, one_line, snapshot

from ssamt.cli import main
from ssamt.data.precomp import SPLITS
from ssamt.data.split_files import split_files
from ssamt.errors import OutputError
from ssamt.fileio import atomic_open, check_output, check_outputs, write_json, write_text


def _only(tmp_path, *names):
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)


def test_symlink_is_followed_and_stays_a_link(tmp_path):
    target = tmp_path / "real.txt"
    target.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(target.name)
    write_text(link, "new")
    assert link.is_symlink() and os.readlink(link) == "real.txt"
    assert target.read_text() == "new"
    _only(tmp_path, "real.txt", "link.txt")


def test_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.txt"
    link.symlink_to(tmp_path / "sub" / "made.txt")
    write_text(link, "x")
    assert link.is_symlink() and (tmp_path / "sub" / "made.txt").read_text() == "x"


def test_device_node_is_written_through_not_replaced(tmp_path):
    node = tmp_path / "null"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("mknod needs CAP_MKNOD on this machine")
    write_json(node, {"a": 1})
    assert stat.S_ISCHR(node.stat().st_mode)
    _only(tmp_path, "null")


def test_dev_null_and_dev_stdout_stay_devices(capfd):
    write_text("/dev/null", "nothing")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    write_text("/dev/stdout", "to stdout\n")
    assert "to stdout" in capfd.readouterr().out


def test_link_to_dev_stdout_writes_to_stdout(tmp_path, capfd):
    link = tmp_path / "out.json"
    link.symlink_to("/dev/stdout")
    write_json(link, {"via": "link"})
    assert '"via": "link"' in capfd.readouterr().out
    assert link.is_symlink()
    _only(tmp_path, "out.json")


def test_regular_file_under_dev_is_replaced_not_appended():
    if not os.path.isdir("/dev/shm") or not os.access("/dev/shm", os.W_OK):
        pytest.skip("no writable /dev/shm on this machine")
    target = f"/dev/shm/ssamt-test-{os.getpid()}.txt"
    try:
        write_text(target, "first")
        write_text(target, "second")
        assert Path(target).read_text() == "second"
    finally:
        os.unlink(target)


def test_fifo_is_written_through(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    write_text(fifo, "through the pipe")
    reader.join(timeout=10)
    assert got == ["through the pipe"] and stat.S_ISFIFO(fifo.stat().st_mode)


def test_replaced_file_keeps_its_mode(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("{}")
    target.chmod(0o640)
    write_json(target, {"b": 2})
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert '"b": 2' in target.read_text()


def test_dash_is_stdout(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_json("-", {"c": 3})
    assert '"c": 3' in capsys.readouterr().out
    _only(tmp_path)


def test_output_that_is_the_input_is_refused(tmp_path):
    captions = tmp_path / "caps.txt"
    captions.write_text("a dog on a sofa\n")
    alias = tmp_path / "alias.txt"
    alias.symlink_to(captions)
    for out in (captions, alias):
        with pytest.raises(OutputError, match="same file as the input"):
            check_output(out, [captions])
    assert captions.read_text() == "a dog on a sofa\n"


def test_parse_onto_its_input_is_one_line_and_keeps_the_captions(tmp_path, capsys):
    captions = tmp_path / "caps.txt"
    captions.write_text("a dog on a sofa\n")
    assert main(["parse", str(captions), "-o", str(captions)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "same file as the input" in err
    assert captions.read_text() == "a dog on a sofa\n"


def test_parent_that_is_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        write_text(tmp_path / "file" / "out.txt", "y")
    captions = tmp_path / "caps.txt"
    captions.write_text("a dog\n")
    assert main(["parse", str(captions), "-o", str(tmp_path / "file" / "o.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "file/o.jsonl" in err


def test_name_too_long_is_caught_before_the_work(tmp_path, capsys):
    long_name = tmp_path / ("x" * 300 + ".jsonl")
    with pytest.raises(OutputError, match="file name too long"):
        check_output(long_name)
    with pytest.raises(OutputError, match="cannot write"):
        write_text(long_name, "y")
    _only(tmp_path)


def test_unwritable_folder_is_caught_before_the_work():
    # /sys refuses new files even to root (chmod does not stop root; a read-only mount would).
    if not os.path.isdir("/sys/kernel"):
        pytest.skip("no sysfs on this machine")
    with pytest.raises(OutputError, match="cannot write"):
        check_output("/sys/kernel/ssamt-results.json")


def test_full_device_is_one_error_naming_it():
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this machine")
    with pytest.raises(OutputError, match="/dev/full: cannot write"):
        write_text("/dev/full", "x" * 10000)


def test_file_too_large_mid_write_keeps_the_old_file(tmp_path):
    """A write that fails half-way (disk full, quota, file size limit) leaves the previous
    version and no temporary file: RLIMIT_FSIZE makes the failure on any file system."""
    target = tmp_path / "big.txt"
    target.write_text("previous")
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, old_limit[1]))
    try:
        with pytest.raises(OutputError, match="big.txt: cannot write"), \
                atomic_open(target) as handle:
            for _ in range(100):
                handle.write("y" * 1000)
                handle.flush()
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    assert target.read_text() == "previous"
    _only(tmp_path, "big.txt")


def test_json_over_the_checkpoint_or_the_data_is_refused(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "best.pt").write_bytes(b"weights")
    (tmp_path / "test_caps.txt").write_text("a dog\n")
    for target in (tmp_path / "run" / "best.pt", tmp_path / "test_caps.txt"):
        assert main(["evaluate", "--checkpoint", str(tmp_path / "run"), "--data",
                     str(tmp_path), "--split", "test", "--json", str(target)]) == 2
        assert "same file as the input" in capsys.readouterr().err
    assert (tmp_path / "run" / "best.pt").read_bytes() == b"weights"
    assert (tmp_path / "test_caps.txt").read_text() == "a dog\n"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """The tiny synthetic folder with every kind of split file (_dataset.py), beside a run
    folder: ROOT/data, ROOT/photos, ROOT/run."""
    root = tmp_path_factory.mktemp("dataset")
    data = make_dataset(root)
    (root / "run").mkdir()
    (root / "run" / "best.pt").write_bytes(b"weights")
    (root / "run" / "part_levels.json").write_text("{}\n")
    return data


def _refused(capsys, argv, out) -> str:
    """Run `argv`: exit status 2 and one line naming the output `out`."""
    assert main(argv) == 2
    err = one_line(capsys.readouterr().err)
    assert str(out) in err
    return err


def test_every_file_synth_writes_is_a_file_of_its_split(dataset):
    for split in SPLITS:
        written = {p.name for p in dataset.iterdir() if p.name.startswith(f"{split}_")}
        assert written and written <= {p.name for p in split_files(dataset, split)}, split


def test_evaluate_json_over_any_file_of_the_split_is_refused(dataset, tmp_path, capsys):
    before = snapshot(dataset.parent)
    evaluate = ["evaluate", "--checkpoint", str(dataset.parent / "run"), "--data", str(dataset)]
    for extra, name in [((), "test_scenes.jsonl"),  # read for scene truth
                        ((), "test_capspecs.jsonl"),  # read for scene truth too
                        ((), "test_minimal_ims.npy"), ((), "test_ids.txt"),
                        ((), "test_labels.jsonl"), ((), "test_photos.json"),
                        (("--protocol", "coco5k"), "testall_capspecs.jsonl"),
                        (("--split", "dev"), "dev_scenes.jsonl")]:
        err = _refused(capsys, [*evaluate, *extra, "--json", str(dataset / name)], dataset / name)
        assert "is the same file as the input" in err
    # A file the split has when it is there (the label cache evaluate writes) is no output.
    cache_to_be = dataset / "dev_labels.jsonl"
    err = _refused(capsys, [*evaluate, "--split", "dev", "--json", str(cache_to_be)], cache_to_be)
    assert "a file the command reads when it is there" in err
    cache = tmp_path / "caches"  # where this run's label caches go, and where others' are
    for out in (cache / "test_labels.jsonl", dataset / "test_labels.jsonl"):
        _refused(capsys, [*evaluate, "--labels-cache", str(cache), "--json", str(out)], out)
    assert "is the input folder" in _refused(capsys, [*evaluate, "--json", str(dataset)], dataset)
    assert snapshot(dataset.parent) == before and not cache.exists()


def test_explain_outputs_over_its_inputs_or_each_other_are_refused(dataset, tmp_path, capsys):
    root = dataset.parent
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    before = snapshot(root, pictures)
    explain = ["explain", "--checkpoint", str(root / "run"), "--data", str(dataset), "--image",
               "0", "--caption", "0"]
    for flag, out in [("--html", dataset / "test_scenes.jsonl"),
                      ("--json", dataset / "train_caps.txt"),  # the part levels read train
                      ("--json", root / "run" / "part_levels.json")]:
        assert "same file as the input" in _refused(capsys, [*explain, flag, str(out)], out)
    for extra, out in [((), root / "photos" / "page.html"),  # the folder test_photos.json names
                       (("--images-root", str(pictures)), pictures / "sub" / "page.html")]:
        err = _refused(capsys, [*explain, *extra, "--html", str(out)], out)
        assert "a folder the command reads" in err
    both = tmp_path / "both.json"
    err = _refused(capsys, [*explain, "--json", str(both), "--html", str(both)], both)
    assert "both --json and --html" in err
    assert snapshot(root, pictures) == before and not both.exists()


def test_labels_out_over_another_file_of_the_split_is_refused(dataset, capsys):
    before = snapshot(dataset)
    out = dataset / "test_capspecs.jsonl"
    _refused(capsys, ["labels", str(dataset), "--split", "test", "--out", str(out)], out)
    assert snapshot(dataset) == before


def test_two_outputs_may_not_be_one_file(tmp_path):
    out = tmp_path / "out.json"
    link = tmp_path / "link.json"
    link.symlink_to(out.name)
    for first, second in ((out, out), (out, link), (out, tmp_path / "." / "out.json"),
                          ("-", "-")):
        with pytest.raises(OutputError, match="both --json and --html"):
            check_outputs({"--json": first, "--html": second})
    out.write_text("kept")
    os.link(out, tmp_path / "hard.json")
    with pytest.raises(OutputError, match="both --json and --html"):
        check_outputs({"--json": out, "--html": tmp_path / "hard.json"})
    check_outputs({"--json": "/dev/null", "--html": "/dev/null"})  # written through, both
    check_outputs({"--json": out, "--html": None})
    _only(tmp_path, "out.json", "link.json", "hard.json")
