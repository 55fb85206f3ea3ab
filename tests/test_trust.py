"""Files from other people: no checkpoint runs code when loaded, and a resume refuses a run that
differs in its search method, its teacher or its resolved precision."""

from __future__ import annotations

import hashlib
import io
import json
import pathlib
import random

import numpy as np
import pytest
import torch

from a2d.checkpoint import _HEADER, RESUME_MAGIC, CheckpointError, read_resume, save_resume
from a2d.cli import main
from a2d.config import MethodConfig, TrainConfig
from a2d.models import build
from a2d.models.agent_file import agent_payload
from a2d.rl import ppo
from a2d.rl.ppo import RunState, _numpy_rng_state, _run_signature, _set_numpy_rng_state
from a2d.search.distill import DistillHook
from a2d.search.hooks import SearchHook


class Touch:
    """Unpickling this object would create ``marker`` (a stand-in for running any code)."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def crafted(marker: pathlib.Path, fmt: str) -> bytes:
    """A torch payload of the given format that runs code when loaded without weights_only."""
    net = build("vanilla", 4)
    payload = {**agent_payload(net, net.spec, 4, "none", "Breakout", 1, 0), "format": fmt}
    payload["evil"] = Touch(marker)
    buf = io.BytesIO()
    torch.save(payload, buf)
    return buf.getvalue()


def test_the_crafted_payload_does_run_code_without_weights_only(tmp_path):
    """The probe is real: loaded the old way, it creates its marker."""
    marker = tmp_path / "marker"
    torch.load(io.BytesIO(crafted(marker, "a2d-agent-v1")), weights_only=False)
    assert marker.exists()


def refused(capsys, argv, name: str) -> str:
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith("a2d: error:"), err
    assert name in lines[0]
    return lines[0]


TINY = ["--seed", "1", "--device", "cpu", "--steps", "64", "--num-envs", "2"]


def test_evaluate_refuses_a_crafted_agent(tmp_path, capsys):
    marker, agent = tmp_path / "marker", tmp_path / "agent.pt"
    agent.write_bytes(crafted(marker, "a2d-agent-v1"))
    line = refused(capsys, ["evaluate", "--agent", agent, "--device", "cpu"], str(agent))
    assert "refused" in line and "plain data" in line
    assert not marker.exists()


def test_derive_refuses_a_crafted_supernet(tmp_path, capsys):
    marker, search = tmp_path / "marker", tmp_path / "search"
    search.mkdir()
    (search / "supernet.pt").write_bytes(crafted(marker, "a2d-supernet-v1"))
    argv = ["derive", "--search", search, "--out", tmp_path / "arch.json"]
    refused(capsys, argv, str(search / "supernet.pt"))
    assert not marker.exists() and not (tmp_path / "arch.json").exists()


def test_train_refuses_a_crafted_teacher_agent_even_with_its_digest_recorded(tmp_path, capsys):
    """The digest says the file is the one recorded, not that it is safe: it still loads
    with weights_only."""
    marker, run = tmp_path / "marker", tmp_path / "runs" / "t"
    run.mkdir(parents=True)
    data = crafted(marker, "a2d-agent-v1")
    (run / "agent.pt").write_bytes(data)
    teacher = tmp_path / "teachers" / "Breakout.json"
    teacher.parent.mkdir()
    record = {"game": "Breakout", "agent": "../runs/t/agent.pt"}
    teacher.write_text(json.dumps({**record, "agent_sha256": hashlib.sha256(data).hexdigest()}))
    out = tmp_path / "out"
    argv = ["train", "--game", "Breakout", "--arch", "vanilla", "--teacher", teacher]
    refused(capsys, [*argv, *TINY, "--out", out], "agent.pt")
    assert not marker.exists()


def test_resume_refuses_a_crafted_checkpoint_with_a_recomputed_header(tmp_path, capsys):
    marker, out = tmp_path / "marker", tmp_path / "run"
    payload = crafted(marker, ppo.CHECKPOINT_FORMAT)
    ckpt = out / "resume" / "ckpt.pt"
    ckpt.parent.mkdir(parents=True)
    header = _HEADER.pack(RESUME_MAGIC, len(payload), hashlib.sha256(payload).digest())
    ckpt.write_bytes(header + payload)
    argv = ["train", "--game", "Breakout", "--arch", "vanilla", *TINY, "--out", out]
    line = refused(capsys, argv, str(ckpt))
    assert "plain data" in line
    assert not marker.exists()
    assert not (out / "eval.json").exists()


def test_numpy_rng_state_round_trips_exactly_through_a_weights_only_checkpoint(tmp_path):
    np.random.seed(7)
    np.random.standard_normal(3)  # an odd count: a cached Gaussian is part of the state
    path = tmp_path / "ckpt.pt"
    save_resume(path, {"format": "t", "numpy_rng": _numpy_rng_state()})
    expected = (np.random.standard_normal(5), np.random.randint(0, 2**31, 5))
    np.random.seed(99)
    _set_numpy_rng_state(read_resume(path)["numpy_rng"])
    again = (np.random.standard_normal(5), np.random.randint(0, 2**31, 5))
    assert np.array_equal(expected[0], again[0]) and np.array_equal(expected[1], again[1])


def test_a_resume_checkpoint_of_the_loop_loads_with_weights_only(tmp_path):
    """RunState.to_checkpoint holds only tensors and plain data (no allow-list needed)."""
    net = build("vanilla", 4)
    opt = torch.optim.Adam(net.parameters())
    random.seed(3)
    st = RunState(global_step=64).to_checkpoint({"s": 1}, net, opt, [], 1.5)
    save_resume(tmp_path / "ckpt.pt", st)
    back = read_resume(tmp_path / "ckpt.pt")
    expected = random.random()
    random.seed(4)
    state = RunState.from_checkpoint(back, build("vanilla", 4), opt, [])
    assert state.global_step == 64 and random.random() == expected


def signature(hooks=(), precision="fp32", monkeypatch=None):
    monkeypatch.setattr(ppo, "resolve_precision", lambda name, device: precision)
    return _run_signature("Breakout", {"arch": "x"}, 1, TrainConfig(), hooks)


def search_hook(tmp_path, method: MethodConfig) -> SearchHook:
    return SearchHook({}, TrainConfig().search, method, 4, 1.0, tmp_path)


def teacher(seed: int):
    torch.manual_seed(seed)
    return build("vanilla", 4)


def refused_resume(tmp_path, old: dict, new: dict) -> str:
    path = tmp_path / "resume" / "ckpt.pt"
    save_resume(path, {"format": ppo.CHECKPOINT_FORMAT, "signature": old})
    assert RunState.find(path, old, print) is not None  # the same run resumes
    with pytest.raises(CheckpointError, match="belongs to another run") as e:
        RunState.find(path, new, print)
    return str(e.value)


def test_resume_refuses_another_search_method(tmp_path, monkeypatch):
    a = MethodConfig(1.0, 1.0, "one_level")
    b = MethodConfig(1.0, 1.0, "bi_level")
    old = signature([search_hook(tmp_path, a)], monkeypatch=monkeypatch)
    new = signature([search_hook(tmp_path, b)], monkeypatch=monkeypatch)
    msg = refused_resume(tmp_path, old, new)
    assert "hooks[0].method.optimisation: checkpoint has 'one_level', this run 'bi_level'" in msg


def test_resume_refuses_another_teacher(tmp_path, monkeypatch):
    old = signature([DistillHook(teacher(1), 1.0, 1.0)], monkeypatch=monkeypatch)
    same = signature([DistillHook(teacher(1), 1.0, 1.0)], monkeypatch=monkeypatch)
    assert old == same  # the same weights: the same identity
    new = signature([DistillHook(teacher(2), 1.0, 1.0)], monkeypatch=monkeypatch)
    assert "hooks[0].teacher.sha256: checkpoint has" in refused_resume(tmp_path, old, new)


def test_resume_refuses_another_resolved_precision(tmp_path, monkeypatch):
    old = signature(precision="bf16", monkeypatch=monkeypatch)
    new = signature(precision="fp32", monkeypatch=monkeypatch)
    msg = refused_resume(tmp_path, old, new)
    assert "config.precision: checkpoint has 'bf16', this run 'fp32'" in msg
