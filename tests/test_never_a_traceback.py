"""Bad-input class 4 (docs/BAD_INPUT.md): never a traceback. Config values range-checked where
read, a dataset checked against the checkpoint before any work, OS errors as one line naming
the path, outputs checked writable before the work, and anything unexpected as one line
saying where its traceback was written (--debug shows it)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from ssamt.cli import main
from ssamt.errors import CheckpointError, ConfigError, SsamtError
from ssamt.train.checkpoint import save_checkpoint, vocab_hash
from ssamt.train.config import load_config
from ssamt.train.trained_run import load_run
from ssamt.train.validate import validate_config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sandbox import can_mount, in_namespace, run_ssamt
from test_train_trainer import TINY, tiny_data


def _one_line(err: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("override, names", [
    ("phase1.lr=0", "phase1.lr must be > 0"),
    ("phase2.lr=-1e-4", "phase2.lr must be > 0"),
    ("phase1.token_budget=0", "phase1.token_budget must be >= 1"),
    ("phase2.accum_steps=0", "phase2.accum_steps must be >= 1"),
    ("phase1.max_steps=-1", "phase1.max_steps must be >= 0"),
    ("seed=-3", "seed must be >= 0"),
    ("loss.mu1=.nan", "loss.mu1 must be a finite number"),
    ("loss.mu2=.inf", "loss.mu2 must be a finite number"),
    ("loss.negatives_m=0", "loss.negatives_m must be >= 1"),
    ("model.dropout=1.0", "model.dropout must be in [0, 1)"),
    ("model.n_heads=3", "model.d_model must be a multiple of model.n_heads"),
    ("eval.select_by=accuracy", "eval.select_by must be one of"),
    ("eval.select_mu_images=-5", "eval.select_mu_images must be >= 0, got -5"),
    ("eval.mu1_grid=[]", ("eval.mu1_grid must be a list of 1 to 100 numbers, each between "
                          "-1000 and 1000, got []")),
    ("eval.mu2_grid=[0.1, .nan]", "eval.mu2_grid must be a list of 1 to 100 numbers"),
    ("eval.mu2_grid=[0, 1e308]", "eval.mu2_grid must be a list of 1 to 100 numbers"),
    ("loss.mu1=1e308", "loss.mu1 must be between -1000 and 1000"),
    ("seed=4294967296", "seed must be <= 4294967295"),
    ("phase1.max_steps=99999999999999999999", "phase1.max_steps must be <= 2147483647"),
    ("eval.batch_size=1.0e+30", "eval.batch_size must be <= 2147483647"),
    ("model.d_model=1099511627776", "model.d_model must be <= 16777216"),
    ("model.max_tokens=99999999999999999999999", "model.max_tokens must be <= 16777216"),
])
def test_config_values_are_range_checked_before_any_data(tmp_path, capsys, override, names):
    args = ["train", "--config", "synthetic", "--data", str(tmp_path / "nothing-here"),
            "--out", str(tmp_path / "run"), "--set", override]
    assert main(args) == 2
    assert names in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("override, names", [
    ("phase1.betas=[a, b]", "phase1.betas: expected a list of numbers, got ['a', 'b']"),
    ("phase2.betas=[[0.9, 0.99], [1]]", "phase2.betas: expected a list of numbers"),
    ("phase1.lr=1" + "0" * 400, "phase1.lr: expected a number, got 10000"),
    ("name=[run]", "name: expected text"),
    ("model=0", "--set model: model is a section, not a key"),
    ("loss=null", "--set loss: loss is a section, not a key"),
    ("phase1=", "--set phase1: phase1 is a section, not a key"),
])
def test_config_values_of_the_wrong_shape_are_refused_before_any_data(tmp_path, capsys,
                                                                      override, names):
    args = ["train", "--config", "synthetic", "--data", str(tmp_path / "nothing-here"),
            "--out", str(tmp_path / "run"), "--set", override]
    assert main(args) == 2
    err = _one_line(capsys.readouterr().err)
    assert names in err and len(err) < 300  # a 400-digit number is shown cut
    assert not (tmp_path / "run").exists()


def test_a_section_that_is_not_a_mapping_is_refused_not_reset(tmp_path, capsys):
    path = tmp_path / "mine.yaml"
    path.write_text("model: 0\n")
    assert main(["info", "--config", str(path)]) == 2
    assert "model: expected a mapping, got 0" in _one_line(capsys.readouterr().err)
    path.write_text("model:\nloss:\n")  # sections left empty take their defaults
    assert load_config(str(path), ["model.d_model=64"]).model.d_model == 64


@pytest.mark.parametrize("argv, names", [
    (["synth", "{tmp}/d", "--seed", "-1"], "--seed must be >= 0"),
    (["quickstart", "--out", "{tmp}/q", "--seed", "-2"], "--seed must be >= 0"),
    (["evaluate", "--checkpoint", "{tmp}", "--data", "{tmp}", "--mu1", "nan"],
     "--mu1 must be a finite number"),
    (["evaluate", "--checkpoint", "{tmp}", "--data", "{tmp}", "--batch-size", "0"],
     "--batch-size must be >= 1"),
    (["evaluate", "--checkpoint", "{tmp}", "--data", "{tmp}", "--device", "cpu", "--bf16"],
     "--bf16 needs a CUDA device"),
    (["explain", "--checkpoint", "{tmp}", "--data", "{tmp}", "--image", "0", "--caption", "0",
      "--threshold", "inf"], "--threshold must be a finite number"),
    (["analyze", "data-fraction", "--data", "{tmp}", "--out", "{tmp}/a", "--subset-seed", "-1"],
     "--subset-seed must be >= 0"),
    (["train", "--config", "synthetic", "--data", "{tmp}", "--out", "{tmp}/r", "--device",
      "gpu0"], "is not a device name"),
    (["evaluate", "--checkpoint", "{tmp}", "--data", "{tmp}", "--mu1", "1e308"],
     "--mu1 must be between -1000 and 1000, got 1e+308"),
    (["explain", "--checkpoint", "{tmp}", "--data", "{tmp}", "--image", "0", "--caption", "0",
      "--mu2=-1e308"], "--mu2 must be between -1000 and 1000"),
    (["search", "--index", "{tmp}", "a dog", "--threads", "100000"],
     "--threads must be between 1 and"),
    (["serve", "--index", "{tmp}", "--threads", "0"], "--threads must be between 1 and"),
    (["features", "--images", "{tmp}", "--out", "{tmp}/f", "--size", "100000"],
     "--size must be a multiple of 32 from 32 to 1024, got 100000"),
])
def test_command_arguments_are_range_checked_first(tmp_path, capsys, argv, names):
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 2
    assert names in _one_line(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


def test_the_bounds_of_the_flags_are_in_their_help_and_in_the_library(capsys):
    from ssamt.bounds import max_threads
    from ssamt.search.searcher import set_threads
    from ssamt.train.trained_run import eq5_weights

    for command, words in (("evaluate", "between -1000 and 1000"),
                           ("explain", "between -1000 and 1000"),
                           ("search", "1 to 4 per CPU"), ("serve", "1 to 4 per CPU"),
                           ("features", "from 32 to 1024")):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert words in " ".join(capsys.readouterr().out.split()), command
    with pytest.raises(SsamtError, match=f"threads must be between 1 and {max_threads()}"):
        set_threads(max_threads() + 1)
    with pytest.raises(ConfigError, match="mu1 must be between -1000 and 1000, got inf"):
        eq5_weights({}, mu1=float("inf"), mu2=0.1)


def test_zero_steps_and_other_documented_zeros_are_valid():
    validate_config(load_config("synthetic", ["phase1.max_steps=0", "phase2.max_epochs=0",
                                              "eval.rerank_k=0", "eval.max_images=0",
                                              "phase1.clip_norm=0", "seed=0"]))


def test_the_bounds_themselves_are_valid():
    validate_config(load_config("synthetic", ["seed=4294967295", "phase1.max_steps=2147483647",
                                              "loss.mu1=-1000", "eval.mu1_grid=[1000]",
                                              "model.max_tokens=16777216"]))


def test_quickstart_and_analyze_check_their_config_first(tmp_path, capsys):
    assert main(["quickstart", "--out", str(tmp_path / "q"), "--set", "phase1.lr=0"]) == 2
    assert "phase1.lr" in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "q").exists()
    assert main(["analyze", "ablation", "--data", str(tmp_path), "--out", str(tmp_path / "a"),
                 "--set", "seed=-1"]) == 2
    assert "seed must be >= 0" in _one_line(capsys.readouterr().err)
    huge = "model.d_model=1048576"
    assert main(["quickstart", "--out", str(tmp_path / "q"), "--device", "cpu", "--set",
                 huge]) == 2
    assert "quickstart config: training would need at least" in _one_line(
        capsys.readouterr().err)
    assert main(["analyze", "ablation", "--data", str(tmp_path), "--out", str(tmp_path / "a"),
                 "--device", "cpu", "--set", huge]) == 2
    assert "training would need at least" in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "q").exists() and not (tmp_path / "a").exists()


def test_binary_config_is_a_clear_error(tmp_path, capsys):
    binary = tmp_path / "model.yaml"
    binary.write_bytes(bytes(range(256)) * 4)
    assert main(["train", "--config", str(binary), "--data", str(tmp_path), "--out",
                 str(tmp_path / "r")]) == 2
    assert "model.yaml: not" in _one_line(capsys.readouterr().err)


def _laughs(levels: int = 9) -> str:
    """A "billion laughs": each level an alias list of nine of the level below."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text, names", [
    (_laughs(), "line 1: YAML anchors and aliases (&name, *name) are not allowed"),
    ("phase1:\n  betas: &b [0.9, 0.99]\nphase2:\n  betas: *b\n", "line 2: YAML anchors"),
    ("model: " + "[" * 5000 + "]" * 5000 + "\n", "line 1: nested more than 16 levels deep"),
    # read up to the limit, the file is cut inside an é: still too large, not "not UTF-8"
    ("name: big\n# " + "é" * 40000 + "\n", "larger than 64 KiB"),
    ("phase1:\n  lr: 1.0e-3\n  lr: 2.0e-3\n", "lines 2 and 3: key 'lr' is given twice"),
    ("loss: {mu1: 0.3, mu1: 0.5}\n", "line 1: key 'mu1' is given twice"),
], ids=["billion-laughs", "one-alias", "deep", "large", "duplicate-key", "duplicate-in-flow"])
def test_config_files_beyond_the_reader_s_limits_are_refused_at_once(tmp_path, capsys, text,
                                                                     names):
    import time

    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    for argv in (["info", "--config", str(path)],
                 ["train", "--config", str(path), "--data", str(tmp_path / "none"), "--out",
                  str(tmp_path / "run")]):
        start = time.perf_counter()
        assert main(argv) == 2
        assert time.perf_counter() - start < 30  # the laughs expand for minutes unrefused
        err = _one_line(capsys.readouterr().err)
        assert f"{path}: {names}" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("override, names", [
    ("phase1.betas=[0.9,", "--set phase1.betas: not a YAML value"),
    ("phase1.betas=&b [0.9, *b]", "--set phase1.betas: line 1: YAML anchors"),
    ("loss={mu1: 1, mu1: 2}", "--set loss: line 1: key 'mu1' is given twice"),
])
def test_set_values_are_read_by_the_same_reader(tmp_path, capsys, override, names):
    assert main(["train", "--config", "synthetic", "--data", str(tmp_path / "none"), "--out",
                 str(tmp_path / "run"), "--set", override]) == 2
    assert names in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "run").exists()


def test_training_split_of_one_image_is_refused(tmp_path):
    from ssamt.train.trainer import train

    data, vocab = tiny_data(tmp_path / "data", n_images=1)
    with pytest.raises(SsamtError, match="at least 2"):
        train(load_config("synthetic", TINY), data, None, vocab, tmp_path / "run",
              progress=False)


@pytest.mark.parametrize("phase, items_per_pair", [("phase1", 1), ("phase2", 2)])
def test_a_token_budget_of_one_item_is_refused_before_training(tmp_path, phase,
                                                               items_per_pair):
    """A budget below two items makes every batch one item: no in-batch negative, every
    loss 0. Phase 2's items (the ssamt recipe's) are an anchor and its partner."""
    from ssamt.train.resources import check_token_budgets
    from ssamt.train.trainer import train

    data, vocab = tiny_data(tmp_path / "data")
    need = 2 * items_per_pair * int(data.pair_costs().max())
    cfg = load_config("synthetic", [*TINY, f"{phase}.token_budget=1"])
    with pytest.raises(ConfigError, match=rf"config: {phase}\.token_budget must be >= {need} "
                                          r"to hold 2 of the training split's largest items"):
        train(cfg, data, None, vocab, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
    check_token_budgets(load_config("synthetic", [*TINY, f"{phase}.token_budget={need}"]), data,
                        [phase])


def test_a_model_too_large_for_memory_is_refused_before_any_data(tmp_path, capsys):
    for sizes, driver in ((["model.d_model=1048576"], "model.d_model=1048576"),
                          (["model.d_model=65536", "model.max_tokens=16777216"],
                           "model.max_tokens=16777216")):
        args = ["train", "--config", "synthetic", "--data", str(tmp_path / "nothing-here"),
                "--out", str(tmp_path / "run"), "--device", "cpu"]
        assert main([*args, *(f"--set={item}" for item in sizes)]) == 2
        err = _one_line(capsys.readouterr().err)
        assert "config synthetic: training would need at least" in err
        assert "GiB of memory, more than the" in err and driver in err
    assert not (tmp_path / "run").exists()


def test_a_batch_too_large_for_memory_is_refused_naming_its_budget(tmp_path, monkeypatch):
    from ssamt.train import resources
    from ssamt.train.trainer import train

    data, vocab = tiny_data(tmp_path / "data")
    cfg = load_config("synthetic", [*TINY, "phase1.token_budget=2147483647"])
    model = cfg.model.with_data(vocab_size=len(vocab), d_region=data.feature_dim, d_box=0)
    need = resources.memory_needs(model, ["phase1"], {"phase1": int(data.pair_costs().sum())})[0]
    monkeypatch.setattr(resources, "device_memory", lambda device: need.total - 1)
    with pytest.raises(ConfigError, match=rf"a phase1 micro-batch of {need.instances:,} "
                                          r"instances \(phase1\.token_budget=2147483647\)"):
        train(cfg, data, None, vocab, tmp_path / "run", phase="phase1", progress=False)
    assert not (tmp_path / "run").exists()
    monkeypatch.setattr(resources, "device_memory", lambda device: need.total)
    resources.check_memory(cfg, "cpu", ["phase1"], data, len(vocab))  # fits exactly


def test_unexpected_error_is_one_line_and_a_crash_report(tmp_path, capsys, monkeypatch):
    from ssamt.commands import info

    def broken(args):
        raise ValueError("an internal bug")

    monkeypatch.setattr(info, "run", broken)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert main(["info"]) == 1
    err = _one_line(capsys.readouterr().err)
    assert "unexpected error: ValueError: an internal bug" in err and "--debug" in err
    reports = list((tmp_path / "cache" / "ssamt" / "crash").iterdir())
    assert len(reports) == 1 and "Traceback" in reports[0].read_text()
    assert str(reports[0]) in err
    for argv in (["--debug", "info"], ["info", "--debug"]):
        with pytest.raises(ValueError, match="an internal bug"):
            main(argv)


def test_os_error_is_one_line_naming_the_path(capsys, monkeypatch):
    from ssamt.commands import info

    def unreadable(args):
        raise PermissionError(13, "Permission denied", "/data/train_ims.npy")

    monkeypatch.setattr(info, "run", unreadable)
    assert main(["info"]) == 2
    assert "/data/train_ims.npy: Permission denied" in _one_line(capsys.readouterr().err)


def test_json_target_is_checked_before_the_evaluation(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    for command in ("evaluate", "explain"):
        extra = ["--image", "0", "--caption", "0"] if command == "explain" else []
        assert main([command, "--checkpoint", str(tmp_path / "no-such-run"), "--data",
                     str(tmp_path), "--json", str(tmp_path / "file" / "r.json"), *extra]) == 2
        err = _one_line(capsys.readouterr().err)
        assert "r.json: cannot write" in err and "no-such-run" not in err


# ---- a dataset against a checkpoint --------------------------------------------------------


def _checkpoint(path: Path, d_region: int, d_box: int = 0, vocab_tokens=None,
                hash_of=None) -> Path:
    from ssamt.data.vocab import Vocab
    from ssamt.model.config import ModelConfig
    from ssamt.model.ssamt import SSAMT

    vocab = Vocab(vocab_tokens or ["<pad>", "<unk>", "a", "dog"])
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=len(vocab), d_model=8, n_heads=2, n_layers=1, d_ffn=16,
                         dropout=0.0, d_region=d_region, d_box=d_box, max_tokens=8)
    payload = {"train_config": {}, "model_config": config.to_dict(), "vocab": vocab.to_dict(),
               "model": SSAMT(config).state_dict(),
               "vocab_hash": vocab_hash((hash_of or vocab).to_dict())}
    save_checkpoint(path, payload)
    return path


def test_other_features_or_missing_boxes_are_refused_before_work(tmp_path, capsys):
    tiny_data(tmp_path / "data", n_images=4)  # train split: 12-dim features, no boxes
    for ckpt, problem in ((_checkpoint(tmp_path / "d64.pt", 64), "12 dims"),
                          (_checkpoint(tmp_path / "box.pt", 12, d_box=4), "missing")):
        assert main(["evaluate", "--checkpoint", str(ckpt), "--data", str(tmp_path / "data"),
                     "--split", "train", "--quiet", "--device", "cpu"]) == 2
        err = _one_line(capsys.readouterr().err)
        assert problem in err and "train_" in err


def test_vocabulary_that_does_not_belong_to_the_weights_is_refused(tmp_path):
    from ssamt.data.vocab import Vocab

    path = _checkpoint(tmp_path / "ok.pt", 12)
    payload = torch.load(path, weights_only=True)
    payload["vocab"] = Vocab(["<pad>", "<unk>", "a", "dog", "cat"]).to_dict()
    save_checkpoint(path, payload)
    with pytest.raises(CheckpointError, match="does not belong to these weights"):
        load_run(path)
    swapped = _checkpoint(tmp_path / "swapped.pt", 12, vocab_tokens=["<pad>", "<unk>", "dog", "a"],
                          hash_of=Vocab(["<pad>", "<unk>", "a", "dog"]))
    with pytest.raises(CheckpointError, match="vocabulary was replaced"):
        load_run(swapped)


# ---- a full file system, where this machine can make one -----------------------------------


@pytest.mark.skipif(not can_mount(), reason="no private mount namespace on this machine")
def test_disk_full_during_synth_is_one_line_and_leaves_nothing(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    done = in_namespace(f"mount -t tmpfs -o size=256k tmpfs {mnt}", "synth", mnt / "d",
                        "--size", "tiny", "--quiet", after=f"ls -A {mnt}")
    assert done.returncode == 2, done.stderr
    assert "cannot write the dataset (No space left on device)" in _one_line(done.stderr)
    assert done.stdout.strip() == ""  # no dataset, no temporary folder left on the device


def test_reader_that_leaves_is_no_traceback(tmp_path):
    """`ssamt ... | head`: the pipe closes before ssamt prints; exit 141, nothing on stderr."""
    import subprocess

    from sandbox import child_env, ssamt_argv

    proc = subprocess.Popen(ssamt_argv("synth", tmp_path / "d", "--size", "tiny", "--quiet"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and err == ""


# A byte that is not UTF-8, as Python holds it in sys.argv on Linux (surrogateescape).
NOT_UTF8 = "\udcff"


@pytest.mark.parametrize("argv, flag", [
    (["search", "--index", "{tmp}/index", f"a dog{NOT_UTF8}"], "query 'a dog\\xff'"),
    (["search", "--index", "{tmp}/index", "--image", f"id{NOT_UTF8}"], "--image 'id\\xff'"),
    (["explain", "--checkpoint", "{tmp}/run", "--data", "{tmp}/data", "--image", "0",
      "--text", f"two dogs{NOT_UTF8}"], "--text 'two dogs\\xff'"),
    (["train", "--config", "synthetic", "--data", "{tmp}/data", "--out", "{tmp}/run", "--set",
      f"name=run{NOT_UTF8}"], "--set 'name=run\\xff'"),
    (["parse", f"{{tmp}}/caps{NOT_UTF8}.txt"], "FILE '{tmp}/caps\\xff.txt'"),
    (["parse", "{tmp}/notes.txt", "-o", f"{{tmp}}/out{NOT_UTF8}.jsonl"],
     "--output '{tmp}/out\\xff.jsonl'"),
])
def test_arguments_that_are_not_utf8_are_one_line_naming_the_flag(tmp_path, capsys, argv,
                                                                  flag):
    (tmp_path / "notes.txt").write_text("the user's captions\n")
    (tmp_path / f"caps{NOT_UTF8}.txt").write_text("a dog\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = _one_line(capsys.readouterr().err)
    assert f"error: {flag.format(tmp=tmp_path)}: not valid UTF-8 (byte 0xff" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
    assert (tmp_path / "notes.txt").read_text() == "the user's captions\n"


def test_argv_bytes_that_are_not_utf8_never_reach_a_traceback(tmp_path):
    """The real command line: the bytes come through sys.argv, and the crash handler's
    report (which records the arguments) must never be what fails."""
    for argv in (["search", "--index", str(tmp_path / "index"), f"a dog{NOT_UTF8}"],
                 ["explain", "--checkpoint", str(tmp_path / "run"), "--data", str(tmp_path),
                  "--image", "0", "--text", f"a{NOT_UTF8}b"]):
        done = run_ssamt(*argv, timeout=60)
        assert done.returncode == 2, done.stderr
        assert "not valid UTF-8 (byte 0xff" in _one_line(done.stderr) and not done.stdout


def test_a_crash_whose_message_is_not_utf8_is_still_one_line(tmp_path, capsys, monkeypatch):
    from ssamt.commands import info

    def broken(args):
        raise ValueError(f"a name with a byte that is not UTF-8: x{NOT_UTF8}\nand a second line")

    monkeypatch.setattr(info, "run", broken)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert main(["info"]) == 1
    err = _one_line(capsys.readouterr().err)
    assert "unexpected error: ValueError: a name with a byte that is not UTF-8: x\\xff" in err
    report = next((tmp_path / "cache" / "ssamt" / "crash").iterdir())
    assert "Traceback" in report.read_text() and "x\\udcff" in report.read_text()


def test_printable_escapes_bytes_that_are_not_utf8():
    from ssamt.text import printable, utf8_problem

    assert printable(f"caf\u00e9 {NOT_UTF8}\x1b[2J") == "caf\u00e9 \\xff\\x1b[2J"
    assert printable("\ud800").encode("ascii") == b"\\ud800"
    assert utf8_problem("caf\u00e9") is None
    assert utf8_problem(f"ab{NOT_UTF8}") == "not valid UTF-8 (byte 0xff at character 3)"
