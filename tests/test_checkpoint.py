"""a2d.checkpoint: atomic writes and checked loading."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import torch

from a2d import A2DError
from a2d.checkpoint import (
    CheckpointError,
    Digest,
    atomic_torch_save,
    atomic_write,
    atomic_write_bytes,
    atomic_write_csv,
    atomic_write_json,
    atomic_write_text,
    load_torch,
)


def test_atomic_write_json_leaves_only_the_file(tmp_path):
    path = tmp_path / "sub" / "dir" / "eval.json"  # parents are created
    atomic_write_json(path, {"mean": 1.5, "scores": [1, 2]})
    assert json.loads(path.read_text()) == {"mean": 1.5, "scores": [1, 2]}
    assert path.read_text().endswith("\n")
    assert os.listdir(path.parent) == ["eval.json"]


def test_atomic_write_replaces_existing(tmp_path):
    path = tmp_path / "x.txt"
    atomic_write_text(path, "old")
    atomic_write_text(path, "new")
    assert path.read_text() == "new"
    assert os.listdir(tmp_path) == ["x.txt"]


def test_failed_write_leaves_no_temp_and_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "x.bin"
    atomic_write_bytes(path, b"old")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["x.bin"]


def test_torch_round_trip(tmp_path):
    path = tmp_path / "ckpt.pt"
    obj = {"format": "test-v1", "w": torch.arange(5.0)}
    atomic_torch_save(path, obj)
    back = load_torch(path)
    assert back["format"] == "test-v1" and torch.equal(back["w"], obj["w"])
    assert os.listdir(tmp_path) == ["ckpt.pt"]


def test_load_truncated_file_raises(tmp_path):
    path = tmp_path / "ckpt.pt"
    atomic_torch_save(path, {"format": "test-v1", "w": torch.randn(1000)})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert issubclass(CheckpointError, A2DError)
    with pytest.raises(CheckpointError, match="unreadable"):
        load_torch(path, "resume checkpoint")


def test_load_random_bytes_raises(tmp_path):
    path = tmp_path / "ckpt.pt"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(CheckpointError) as e:
        load_torch(path)
    assert str(path) in str(e.value)
    assert "\n" not in str(e.value)


def test_load_missing_file_raises(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_torch(tmp_path / "nope.pt")


@pytest.mark.parametrize("obj", [{"w": 1}, [1, 2, 3], torch.zeros(2)])
def test_load_without_format_raises(tmp_path, obj):
    path = tmp_path / "x.pt"
    torch.save(obj, path)
    with pytest.raises(CheckpointError, match="format"):
        load_torch(path)


def test_load_agent_wrong_format(tmp_path):
    from a2d.models.agent_file import load_agent

    path = tmp_path / "agent.pt"
    atomic_torch_save(path, {"format": "a2d-resume-v1"})
    with pytest.raises(CheckpointError, match="a2d-agent-v1"):
        load_agent(path)


@pytest.mark.parametrize(
    "writer",
    [
        lambda p: atomic_write(p, lambda tmp: tmp.write_text("via a callback")),
        lambda p: atomic_write_bytes(p, b"bytes"),
        lambda p: atomic_write_text(p, "text"),
        lambda p: atomic_write_json(p, {"a": 1}),
        lambda p: atomic_write_csv(p, ["a", "b"], [{"a": 1, "b": 2}]),
        lambda p: atomic_torch_save(p, {"format": "test-v1"}),
    ],
    ids=["atomic_write", "bytes", "text", "json", "csv", "torch"],
)
def test_every_atomic_writer_fsyncs_the_file_before_the_rename_and_the_dir_after(
    tmp_path, monkeypatch, writer
):
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", str(src)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    path = tmp_path / "out" / "file"
    writer(path)
    assert path.exists() and os.listdir(path.parent) == ["file"]
    renames = [i for i, (kind, _) in enumerate(events) if kind == "replace"]
    assert len(renames) == 1
    tmp = events[renames[0]][1]
    assert Path(tmp).parent == path.parent and Path(tmp).name.startswith(".file.")
    assert ("fsync", tmp) in events[: renames[0]]  # the data is on disk before it is renamed
    assert ("fsync", str(path.parent)) in events[renames[0] :]  # and then the rename itself


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"n_actions": True}, "n_actions must be an integer >= 1"),
        ({"n_actions": 0}, "n_actions must be an integer >= 1"),
        ({"n_actions": 4.0}, "n_actions must be an integer >= 1"),
        ({"spec": ["vanilla"]}, "spec must be a mapping, got list"),
        ({"norm": None}, "norm must be one of none, batch, group"),
        ({"game": 7}, "game must be a string, got int"),
        ({"state_dict": [1, 2]}, "state_dict must map parameter names to tensors"),
        ({"state_dict": {"conv.weight": [0.0]}}, "state_dict must map parameter names to tensors"),
    ],
)
def test_load_agent_refuses_badly_typed_fields_by_name(tmp_path, change, fragment):
    from a2d.models import build
    from a2d.models.agent_file import agent_payload, load_agent, save_agent

    net = build("vanilla", 4)
    path = tmp_path / "agent.pt"
    save_agent(path, {**agent_payload(net, net.spec, 4, "none", "Breakout", 1, 0), **change})
    with pytest.raises(CheckpointError) as e:
        load_agent(path)
    assert f"agent checkpoint {path}: {fragment}" in str(e.value)


def test_load_torch_checks_the_digest_before_unpickling(tmp_path):
    path = tmp_path / "agent.pt"
    atomic_torch_save(path, {"format": "test-v1"})
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert load_torch(path, digest=Digest(digest, "x", "y"))["format"] == "test-v1"
    path.write_bytes(b"\x80\x04not a pickle at all")
    with pytest.raises(CheckpointError, match=f"^my agent {path} has sha256 .*, the JSON records"):
        load_torch(path, digest=Digest(digest, "my agent", "the JSON"))
