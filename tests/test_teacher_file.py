"""a2d.teacher_file: the teacher file written by ``a2d teacher`` and read by ``--teacher``."""

from __future__ import annotations

import json

import pytest
import torch
from test_export import make_run  # tests/ is on sys.path (pytest's rootdir import)

from a2d.checkpoint import CheckpointError
from a2d.teacher_file import (
    FIELDS,
    TeacherFileError,
    TeacherGameError,
    load_teacher,
    read_teacher,
    teacher_agent_path,
    write_teacher,
)

EVAL = {"game": "Breakout", "arch": "vanilla", "seed": 3, "mean": 7.5, "std": 2.25, "macs": 9345536}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("teacher") / "run"
    agent = make_run(d, "vanilla", seed=4)
    (d / "eval.json").write_text(json.dumps({**EVAL, "episodes": 30, "scores": [7.5] * 30}))
    return d, agent


def test_round_trip(run, tmp_path):
    d, agent = run
    out = tmp_path / "teachers" / "Breakout.json"
    record = write_teacher(d, out)
    assert list(json.loads(out.read_text())) == list(FIELDS)  # the keys, in the file's order
    assert read_teacher(out) == record == {
        "game": "Breakout", "arch": "vanilla", "seed": 3, "run": str(d),
        "agent": str(d / "agent.pt"), "test_mean": 7.5, "test_std": 2.25, "macs": 9345536,
    }  # fmt: skip
    # the three ways to name a teacher lead to the same agent.pt
    assert teacher_agent_path(out) == teacher_agent_path(d) == teacher_agent_path(d / "agent.pt")
    assert teacher_agent_path(out) == d / "agent.pt"
    teacher = load_teacher(out, "breakout", "cpu")  # any usual spelling of the game
    for a, b in zip(teacher.state_dict().values(), agent.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    "text, match",
    [
        ("{not json", "unreadable"),
        ('["agent.pt"]', "not a JSON object"),
        ('{"game": "Breakout"}', "names no agent"),
        ('{"agent": 3}', "names no agent"),
        ('{"agent": ""}', "names no agent"),
    ],
)
def test_malformed_teacher_file_refused(tmp_path, text, match):
    bad = tmp_path / "Breakout.json"
    bad.write_text(text)
    with pytest.raises(TeacherFileError, match=match):
        read_teacher(bad)
    with pytest.raises(TeacherFileError, match=match):
        teacher_agent_path(bad)


def test_teacher_file_naming_a_missing_agent_refused(tmp_path):
    f = tmp_path / "Breakout.json"
    f.write_text(json.dumps({"agent": str(tmp_path / "gone" / "agent.pt")}))
    with pytest.raises(TeacherFileError, match="teacher not found"):
        teacher_agent_path(f)
    assert issubclass(TeacherFileError, CheckpointError)  # what callers caught before


def test_write_refuses_unfinished_runs(run, tmp_path):
    d, _ = run
    out = tmp_path / "t.json"
    with pytest.raises(TeacherFileError, match="not a finished run"):
        write_teacher(tmp_path / "nope", out)
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "agent.pt").write_bytes((d / "agent.pt").read_bytes())
    (partial / "eval.json").write_text(json.dumps({k: v for k, v in EVAL.items() if k != "macs"}))
    with pytest.raises(TeacherFileError, match="lacks macs"):
        write_teacher(partial, out)
    (partial / "agent.pt").unlink()
    with pytest.raises(TeacherFileError, match="no agent.pt"):
        write_teacher(partial, out)
    assert not out.exists()


def test_teacher_of_another_game_refused(run):
    d, _ = run
    with pytest.raises(TeacherGameError, match="trained on Breakout, not Pong"):
        load_teacher(d, "Pong", "cpu")
