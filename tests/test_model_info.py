"""`ssamt info` prints per-part parameter counts."""

from ssamt.cli import main


def test_info_paper_preset(capsys):
    assert main(["info", "--config", "paper-f30k", "--vocab-size", "9568"]) == 0
    out = capsys.readouterr().out
    for part in ("embeddings", "intra image encoder", "intra text encoder", "inter encoder",
                 "total"):
        assert part in out
    assert "62,831,616" in out


def test_info_unknown_preset(capsys):
    assert main(["info", "--config", "nope"]) == 2
    assert "unknown preset 'nope'" in capsys.readouterr().err  # the training presets' schema
