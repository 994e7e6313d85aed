"""Checkpoints: atomic writes, weights_only loading, clear errors for every kind of bad file."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from ssamt.errors import CheckpointError
from ssamt.train import checkpoint as ck


def _payload():
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    static = {"train_config": {"name": "t", "betas": [0.9, 0.999]}, "model_config": {"d": 3},
              "vocab": {"tokens": ["<pad>", "<unk>", "dog"]}}
    state = {"phase": "phase1", "step": 3, "epoch": 1, "batch_in_epoch": 2, "best": -float("inf"),
             "done": False}
    return model, ck.training_payload(static, model, state, opt, None)


def test_round_trip_weights_only(tmp_path):
    model, payload = _payload()
    ck.save_checkpoint(tmp_path / "a.pt", payload)
    loaded = ck.load_checkpoint(tmp_path / "a.pt")
    assert loaded["format"] == ck.FORMAT and loaded["state"]["step"] == 3
    assert loaded["vocab"]["tokens"][2] == "dog"
    assert torch.equal(loaded["model"]["weight"], model.weight.detach())
    assert loaded["optimizer"]["state"][0]["exp_avg"].shape == (2, 3)


def test_rng_state_round_trip(tmp_path):
    state = ck.capture_rng_state()
    first = (random.random(), np.random.rand(), torch.rand(2))
    ck.save_checkpoint(tmp_path / "r.pt", {"train_config": {}, "model_config": {}, "vocab": {},
                                           "model": {}, "rng": state})
    ck.restore_rng_state(ck.load_checkpoint(tmp_path / "r.pt")["rng"])
    again = (random.random(), np.random.rand(), torch.rand(2))
    assert first[:2] == again[:2] and torch.equal(first[2], again[2])


def test_missing(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint") as info:
        ck.load_checkpoint(tmp_path / "nope.pt")
    assert "nope.pt" in str(info.value)


def test_truncated_and_corrupt(tmp_path):
    _, payload = _payload()
    ck.save_checkpoint(tmp_path / "a.pt", payload)
    data = (tmp_path / "a.pt").read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint at all" * 10)
    (tmp_path / "empty.pt").write_bytes(b"")
    for name in ("trunc.pt", "garbage.pt", "empty.pt"):
        with pytest.raises(CheckpointError, match="cannot read checkpoint") as info:
            ck.load_checkpoint(tmp_path / name)
        assert name in str(info.value)


class Evil:
    """Any class outside the weights_only allow-list."""


def test_unsafe_pickle_refused(tmp_path):
    torch.save({"format": ck.FORMAT, "obj": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="cannot read") as info:
        ck.load_checkpoint(tmp_path / "evil.pt")
    # The message must not pass on torch's advice to retry with weights_only=False.
    assert "unsafe pickle" in str(info.value)
    assert "weights_only" not in str(info.value)


def test_mismatched(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an ssamt checkpoint"):
        ck.load_checkpoint(tmp_path / "other.pt")
    _, payload = _payload()
    torch.save({**payload, "format": ck.FORMAT, "version": 99}, tmp_path / "v99.pt")
    with pytest.raises(CheckpointError, match="version 99"):
        ck.load_checkpoint(tmp_path / "v99.pt")
    torch.save({"format": ck.FORMAT, "version": ck.VERSION, "model": {}}, tmp_path / "part.pt")
    with pytest.raises(CheckpointError, match="lacks train_config"):
        ck.load_checkpoint(tmp_path / "part.pt")
    model = torch.nn.Linear(4, 2)  # another shape than the saved Linear(3, 2)
    with pytest.raises(CheckpointError, match="cannot resume"):
        ck.restore_training(payload, model, path=tmp_path / "x.pt")


def test_crash_mid_write_keeps_previous(tmp_path, monkeypatch):
    _, payload = _payload()
    ck.save_checkpoint(tmp_path / "last.pt", payload)
    before = (tmp_path / "last.pt").read_bytes()

    def crash(obj, handle, *args, **kwargs):
        handle.write(b"partial bytes")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError):
        ck.save_checkpoint(tmp_path / "last.pt", {**payload, "step": 4})
    assert (tmp_path / "last.pt").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp file left behind


def test_resolve_run_dir(tmp_path):
    with pytest.raises(CheckpointError, match="neither best.pt nor last.pt"):
        ck.resolve_checkpoint(tmp_path)
    (tmp_path / "last.pt").write_bytes(b"x")
    assert ck.resolve_checkpoint(tmp_path).name == "last.pt"
    (tmp_path / "best.pt").write_bytes(b"x")
    assert ck.resolve_checkpoint(tmp_path).name == "best.pt"
