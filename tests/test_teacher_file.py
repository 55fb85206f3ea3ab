"""a2d.teacher_file: the teacher file written by ``a2d teacher`` and read by ``--teacher``."""

from __future__ import annotations

import hashlib
import json
import os

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


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_round_trip(run, tmp_path):
    d, agent = run
    out = tmp_path / "teachers" / "Breakout.json"
    record = write_teacher(d, out)
    assert list(json.loads(out.read_text())) == list(FIELDS)  # the keys, in the file's order
    assert read_teacher(out) == record == {
        "game": "Breakout", "arch": "vanilla", "seed": 3, "run": str(d),
        "agent": os.path.relpath(d / "agent.pt", out.parent), "agent_sha256": sha(d / "agent.pt"),
        "test_mean": 7.5, "test_std": 2.25, "macs": 9345536,
    }  # fmt: skip
    assert not os.path.isabs(record["agent"])
    # the three ways to name a teacher lead to the same agent.pt
    assert teacher_agent_path(out).resolve() == teacher_agent_path(d).resolve()
    assert teacher_agent_path(out).resolve() == (d / "agent.pt").resolve()
    teacher = load_teacher(out, "breakout", "cpu")  # any usual spelling of the game
    for a, b in zip(teacher.state_dict().values(), agent.state_dict().values()):
        assert torch.equal(a, b)


def test_agent_path_resolves_against_the_teacher_files_folder(run, tmp_path, monkeypatch):
    """Wherever the reader's working directory is (Snakemake's, a user's), and after the tree
    moves as a whole, the relative path finds the agent."""
    d, _ = run
    tree = tmp_path / "results"
    (tree / "runs").mkdir(parents=True)
    run_copy = tree / "runs" / "r"
    run_copy.mkdir()
    for name in ("agent.pt", "eval.json"):
        (run_copy / name).write_bytes((d / name).read_bytes())
    write_teacher(run_copy, tree / "teachers" / "Breakout.json")
    assert read_teacher(tree / "teachers" / "Breakout.json")["agent"] == "../runs/r/agent.pt"
    moved = tmp_path / "elsewhere"
    tree.rename(moved)
    monkeypatch.chdir(moved / "runs")  # a folder where the relative path would resolve wrongly
    t = moved / "teachers" / "Breakout.json"
    assert teacher_agent_path(t) == moved / "teachers" / "../runs/r/agent.pt"
    load_teacher(os.path.relpath(t), "Breakout", "cpu")  # the JSON named relatively, too


def test_teacher_agent_digest_mismatch_refused(run, tmp_path):
    d, _ = run
    out = tmp_path / "teachers" / "Breakout.json"
    write_teacher(d, out)
    record = json.loads(out.read_text())
    record["agent_sha256"] = "0" * 64
    out.write_text(json.dumps(record))
    with pytest.raises(CheckpointError) as e:
        load_teacher(out, "Breakout", "cpu")
    msg = str(e.value)
    assert f"teacher agent {out.parent / record['agent']} has sha256 {sha(d / 'agent.pt')}" in msg
    assert f"the teacher file {out} records {'0' * 64}" in msg


@pytest.mark.parametrize(
    "change, match",
    [
        ({"agent_sha256": None}, "records no agent_sha256.*re-run `a2d teacher"),
        ({"agent_sha256": "abc"}, "not a SHA-256"),
        ({"agent": "/etc/passwd"}, "absolute path.*re-run `a2d teacher"),
        ({"agent": "../../../etc/passwd"}, "must name an agent.pt"),
    ],
)
def test_teacher_file_without_digest_or_with_absolute_path_refused(run, tmp_path, change, match):
    d, _ = run
    out = tmp_path / "Breakout.json"
    write_teacher(d, out)
    record = {**json.loads(out.read_text()), **change}
    record = {k: v for k, v in record.items() if v is not None}
    out.write_text(json.dumps(record))
    with pytest.raises(TeacherFileError, match=match) as e:
        load_teacher(out, "Breakout", "cpu")
    assert "root:" not in str(e.value)  # nothing of the named file in the message


def test_teacher_file_pointing_at_a_foreign_agent_pt_echoes_no_content(run, tmp_path):
    """A teacher file naming some other file called agent.pt: refused on its digest, before it
    is unpickled, and the message shows digests, not the file's bytes."""
    d, _ = run
    out = tmp_path / "t" / "Breakout.json"
    write_teacher(d, out)
    other = tmp_path / "other" / "agent.pt"
    other.parent.mkdir()
    other.write_bytes(b"SECRET-CONTENT\n")
    record = json.loads(out.read_text())
    record["agent"] = "../other/agent.pt"
    out.write_text(json.dumps(record))
    with pytest.raises(CheckpointError, match="has sha256") as e:
        load_teacher(out, "Breakout", "cpu")
    assert "SECRET" not in str(e.value) and "'S'" not in str(e.value)


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
    f.write_text(json.dumps({"agent": "gone/agent.pt", "agent_sha256": "0" * 64}))
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
