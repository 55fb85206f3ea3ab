"""a2d.cli: one-line errors with exit code 2, no half-made outputs; the small commands."""

from __future__ import annotations

import hashlib
import json
import subprocess

import pytest
import torch

from a2d.checkpoint import atomic_torch_save
from a2d.cli import main
from a2d.models import build, count_macs


def run_main(capsys, argv):
    rc = main(argv)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def assert_one_line_error(err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("a2d: error:")
    for f in fragments:
        assert f in lines[0]


@pytest.mark.parametrize(
    "extra, fragments",
    [
        (["--game", "NotAGame", "--arch", "vanilla"], ["unknown game", "NotAGame", "a2d games"]),
        (["--game", "Breakout", "--arch", "resnot"], ["unknown arch", "resnot", "vanilla"]),
        (["--game", "Breakout", "--arch", "resnet9"], ["6n+2"]),
        (
            ["--game", "Breakout", "--arch", "vanilla", "--set", "ppo.bogus=1"],
            ["bogus", "valid keys"],
        ),
        (["--game", "Breakout", "--arch", "vanilla", "--set", "bogus=1"], ["bogus", "valid keys"]),
        (["--game", "Breakout", "--arch", "vanilla", "--steps", "0"], ["ppo.total_steps"]),
        (["--game", "Breakout", "--arch", "vanilla", "--set", "ppo.gamma=1.5"], ["ppo.gamma"]),
        (["--game", "Breakout", "--arch", "vanilla", "--set", "ppo.num_envs"], ["--set"]),
        (
            ["--game", "Breakout", "--arch", "vanilla", "--set", "ppo.num_minibatches=3"],
            ["num_minibatches"],
        ),
    ],
)
def test_train_user_errors(tmp_path, capsys, extra, fragments):
    out = tmp_path / "run"
    rc, _, err = run_main(capsys, ["train", *extra, "--out", str(out)])
    assert rc == 2
    assert_one_line_error(err, *fragments)
    assert not out.exists()


def test_train_unknown_key_in_config_file(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("eval:\n  episodez: 3\n")
    out = tmp_path / "run"
    rc, _, err = run_main(
        capsys,
        [
            "train",
            "--game",
            "Breakout",
            "--arch",
            "vanilla",
            "--config",
            str(cfg),
            "--out",
            str(out),
        ],
    )
    assert rc == 2
    assert_one_line_error(err, "episodez")
    assert not out.exists()


def test_console_script_bad_game(tmp_path, venv_bin, venv_env):
    out = tmp_path / "run"
    p = subprocess.run(
        [
            str(venv_bin / "a2d"),
            "train",
            "--game",
            "NotAGame",
            "--arch",
            "vanilla",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=venv_env,
        timeout=300,
    )
    assert p.returncode == 2
    assert_one_line_error(p.stderr, "unknown game 'NotAGame'")
    assert "Traceback" not in p.stderr
    assert not out.exists()


def test_info_prints_json_with_macs(capsys):
    rc, out, _ = run_main(capsys, ["info", "vanilla", "resnet8"])
    assert rc == 0
    cards = [json.loads(line) for line in out.strip().splitlines()]
    assert [c["arch"] for c in cards] == ["vanilla", "resnet8"]
    assert cards[0]["macs"] == count_macs(build("vanilla", 18))  # info uses the full action set
    assert 9.2e6 < cards[0]["macs"] < 9.4e6
    assert cards[1]["macs"] > cards[0]["macs"]
    assert [c["params"] for c in cards] == [
        sum(t.numel() for t in build(a, 18).parameters()) for a in ("vanilla", "resnet8")
    ]


def test_info_bad_arch(capsys):
    rc, _, err = run_main(capsys, ["info", "resnot"])
    assert rc == 2
    assert_one_line_error(err, "resnot")


def test_games_lists_valid_games(capsys):
    rc, out, _ = run_main(capsys, ["games"])
    assert rc == 0
    games = out.split()
    assert "Breakout" in games and "MsPacman" in games and games == sorted(games)


def test_random_command(tmp_path, capsys):
    out = tmp_path / "random" / "Breakout.json"
    rc, stdout, _ = run_main(
        capsys,
        [
            "random",
            "--game",
            "breakout",
            "--episodes",
            "2",
            "--set",
            "eval.frame_cap=400",
            "--set",
            "eval.num_envs=2",
            "--out",
            str(out),
        ],
    )
    assert rc == 0
    res = json.loads(out.read_text())
    assert res["game"] == "Breakout" and res["policy"] == "random"
    assert res["episodes"] == 2 and res["frame_cap"] == 400
    assert "random policy" in stdout


def _fake_agent(tmp_path):
    path = tmp_path / "run" / "agent.pt"
    agent = build("vanilla", 4)
    atomic_torch_save(
        path,
        {
            "format": "a2d-agent-v1",
            "spec": agent.spec,
            "n_actions": 4,
            "norm": "none",
            "game": "Breakout",
            "seed": 1,
            "steps": 0,
            "state_dict": agent.state_dict(),
        },
    )
    return path


def test_evaluate_command(tmp_path, capsys):
    agent = _fake_agent(tmp_path)
    out = tmp_path / "ev.json"
    rc, stdout, _ = run_main(
        capsys,
        [
            "evaluate",
            "--agent",
            str(agent),
            "--episodes",
            "1",
            "--set",
            "eval.frame_cap=400",
            "--set",
            "eval.num_envs=1",
            "--device",
            "cpu",
            "--out",
            str(out),
        ],
    )
    assert rc == 0
    res = json.loads(out.read_text())
    assert res == json.loads(stdout)
    assert res["game"] == "Breakout" and res["arch"] == "vanilla" and res["episodes"] == 1


def test_evaluate_corrupt_agent(tmp_path, capsys):
    bad = tmp_path / "agent.pt"
    bad.write_bytes(b"not a checkpoint")
    rc, _, err = run_main(capsys, ["evaluate", "--agent", str(bad), "--device", "cpu"])
    assert rc == 2
    assert_one_line_error(err, "agent.pt")


def test_teacher_command(tmp_path, capsys):
    run = _fake_agent(tmp_path).parent
    (run / "eval.json").write_text(
        json.dumps(
            {
                "game": "Breakout",
                "arch": "vanilla",
                "seed": 1,
                "mean": 3.0,
                "std": 1.0,
                "macs": 9345536,
            }
        )
    )
    out = tmp_path / "teachers" / "Breakout.json"
    rc, _, _ = run_main(capsys, ["teacher", "--run", str(run), "--out", str(out)])
    assert rc == 0
    t = json.loads(out.read_text())
    assert t["game"] == "Breakout" and t["arch"] == "vanilla" and t["test_mean"] == 3.0
    assert (out.parent / t["agent"]).resolve() == (run / "agent.pt").resolve()
    assert t["agent_sha256"] == hashlib.sha256((run / "agent.pt").read_bytes()).hexdigest()


def test_teacher_unfinished_run(tmp_path, capsys):
    out = tmp_path / "t.json"
    rc, _, err = run_main(capsys, ["teacher", "--run", str(tmp_path / "nope"), "--out", str(out)])
    assert rc == 2
    assert_one_line_error(err, "not a finished run")
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
def test_train_cuda_without_gpu(tmp_path, capsys):
    out = tmp_path / "run"
    rc, _, err = run_main(
        capsys,
        ["train", "--game", "Breakout", "--arch", "vanilla", "--device", "cuda", "--out", str(out)],
    )
    assert rc == 2
    assert_one_line_error(err, "cuda")
    assert not out.exists()


# --------------------------------------------------------------------------------------------
# Bad input of every kind: one line on stderr, exit 2, no traceback, nothing written.


def finished_run(path):
    """The files of a finished run (a vanilla agent for Breakout), made without training."""
    from a2d.models.agent_file import agent_payload, save_agent

    path.mkdir(parents=True, exist_ok=True)
    net = build("vanilla", 4)
    save_agent(path / "agent.pt", agent_payload(net, net.spec, 4, "none", "Breakout", 1, 128))
    ev = {"game": "Breakout", "arch": "vanilla", "seed": 1, "mean": 2.0, "std": 1.0}
    (path / "eval.json").write_text(json.dumps({**ev, "episodes": 2, "macs": count_macs(net)}))
    (path / "curve.csv").write_text("step,mean,std\n0,1.0,0.5\n128,2.0,1.0\n")
    (path / "timing.csv").write_text("step,wall_s\n0,0.0\n128,1.5\n")
    (path / "model_card.json").write_text(json.dumps({"arch": "vanilla"}))
    return path


def folder_digest(path) -> dict[str, str]:
    """SHA-256 of every file under ``path`` (by relative name): what a run folder holds."""
    import hashlib

    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def unwritable_dir(tmp_path):
    """A folder this process cannot write into (a read-only folder; /proc/1 when root)."""
    import os

    if os.geteuid() != 0:
        d = tmp_path / "readonly"
        d.mkdir()
        d.chmod(0o500)
        return d
    from pathlib import Path

    if Path("/proc/1").is_dir() and not os.access("/proc/1", os.W_OK):
        return Path("/proc/1")
    pytest.skip("no folder is unwritable to root here")


def _probe_files(tmp_path):
    from a2d.models.agent_file import agent_payload, save_agent

    run = finished_run(tmp_path / "done")
    net = build("vanilla", 4)
    for name, change in (("neg.pt", {"n_actions": -1}), ("str.pt", {"spec": "vanilla"})):
        save_agent(
            tmp_path / name, {**agent_payload(net, net.spec, 4, "none", "Breakout", 1, 0), **change}
        )
    (tmp_path / "list.json").write_text("[]")
    bad = tmp_path / "badrun"
    bad.mkdir()
    (bad / "eval.json").write_text("[]")
    save_agent(bad / "agent.pt", agent_payload(net, net.spec, 4, "none", "Breakout", 1, 0))
    (tmp_path / "latin1.json").write_bytes(b'{"arch": "caf\xe9"}')
    (tmp_path / "archdir.json").mkdir()
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "dup.yaml").write_text("ppo:\n  num_envs: 4\n  num_envs: 8\n")
    return run


T = ["train", "--game", "Breakout", "--arch", "vanilla"]
BIG = str(2**70)


@pytest.mark.parametrize(
    "argv, fragments",
    [
        ([*T, "--seed", BIG, "--out", "{tmp}/o"], ["--seed", f"[0, {2**31 - 1}]", BIG]),
        ([*T, "--seed", "-1", "--out", "{tmp}/o"], ["--seed", "[0, ", "-1"]),
        ([*T, "--seed", "1.5", "--out", "{tmp}/o"], ["--seed", "'1.5'"]),
        ([*T, "--seed", str(2**31 - 1), "--out", "{tmp}/o"], ["ppo.num_envs 8", "<= 2147483640"]),
        ([*T, "--seed", "-1", "--out", "{run}"], ["--seed"]),
        (["evaluate", "--agent", "{run}/agent.pt", "--seed", "-1"], ["--seed"]),
        (["evaluate", "--agent", "{run}/agent.pt", "--episodes", "-1"], ["--episodes", ">= 1"]),
        (["evaluate", "--agent", "{run}/agent.pt", "--episodes", "0"], ["--episodes", ">= 1"]),
        ([*T, "--set", "ppo.num_envs=1.0", "--out", "{tmp}/o"], ["ppo.num_envs", "1.0", "integer"]),
        ([*T, "--set", "env.frameskip=true", "--out", "{tmp}/o"], ["env.frameskip"]),
        ([*T, "--out", "{tmp}/afile"], ["--out", "afile", "is an existing file"]),
        ([*T, "--out", "{tmp}/afile/sub"], ["--out", "afile is a file"]),
        ([*T, "--out", "{ro}/run"], ["--out", "not writable"]),
        ([*T, "--teacher", "{tmp}/list.json", "--out", "{tmp}/o"], ["list.json", "JSON object"]),
        (["teacher", "--run", "{tmp}/badrun", "--out", "{tmp}/t.json"], ["eval.json", "object"]),
        (["teacher", "--run", "{run}", "--out", "{run}/eval.json"], ["inside the run"]),
        (["evaluate", "--agent", "{tmp}/neg.pt"], ["neg.pt", "n_actions", ">= 1", "-1"]),
        (["evaluate", "--agent", "{tmp}/str.pt"], ["str.pt", "spec", "mapping"]),
        (["evaluate", "--agent", "{run}"], ["is a folder"]),
        (["export", "--run", "{run}", "--format", "onnx", "--observations", "0"], ["observ"]),
        (["export", "--run", "{run}", "--format", "onnx", "--threads", "0"], ["--threads"]),
        (["export", "--run", "{run}", "--format", "onnx", "--out", "{run}"], ["existing folder"]),
        (["export", "--run", "{tmp}/str.pt", "--format", "onnx"], ["spec"]),
        (["info", "{tmp}/latin1.json"], ["latin1.json", "not UTF-8"]),
        (["info", "{tmp}/archdir.json"], ["archdir.json", "folder"]),
        (["info", "{tmp}/"], ["is a folder"]),
        (
            [*T, "--config", "{tmp}/dup.yaml", "--out", "{tmp}/o"],
            ["dup.yaml", "duplicate", "num_envs"],
        ),
        ([*T, "--set", "ppo={{a: 1, a: 2}}", "--out", "{tmp}/o"], ["duplicate key 'a'"]),
        (["train", "--game", "Breakoutt", "--arch", "vanilla", "--out", "{tmp}/o"], ["Breakout?"]),
        (["random", "--game", "Pong", "--episodes", "0", "--out", "{tmp}/r.json"], ["--episodes"]),
        (["random", "--game", "Pong", "--out", "{run}"], ["existing folder"]),
        (["random", "--game", "Pong", "--out", "{ro}/r.json"], ["not writable"]),
        (["play", "--run", "{run}", "--episodes", "0"], ["--episodes"]),
        (["play", "--run", "{run}", "--scale", "0"], ["--scale"]),
        (["play", "--run", "{run}", "--video", "{tmp}/v.avi"], [".mp4"]),
        (["play", "--run", "{run}", "--out", "{tmp}/afile/x.json"], ["afile is a file"]),
        (["derive", "--search", "{tmp}/nope", "--out", "{run}"], ["existing folder"]),
        (["derive", "--search", "{tmp}/afile", "--out", "{tmp}/a.json"], ["afile"]),
        (["search", "--game", "Pong", "--method", "a2d_one_level", "--out", "{tmp}/s"], ["teach"]),
        (["search", "--game", "Pong", "--method", "nope", "--out", "{tmp}/s"], ["unknown search"]),
        (["export", "--run", "{run}", "--format", "gif"], ["invalid choice", "'gif'"]),
        (["train", "--game", "Pong"], ["required", "--arch", "--out"]),
        (["nosuch"], ["invalid choice"]),
    ],
)
def test_bad_input_is_one_line_exit_2_and_touches_nothing(tmp_path, capsys, argv, fragments):
    run = _probe_files(tmp_path)
    ro = unwritable_dir(tmp_path) if any("{ro}" in a for a in argv) else None
    before = {p: folder_digest(p) for p in (run, tmp_path / "badrun")}
    listing = sorted(str(p) for p in tmp_path.rglob("*"))
    argv = [a.format(tmp=tmp_path, run=run, ro=ro) for a in argv]
    rc, _, err = run_main(capsys, argv)
    assert rc == 2, err
    assert_one_line_error(err, *fragments)
    assert "Traceback" not in err
    assert {p: folder_digest(p) for p in before} == before
    assert sorted(str(p) for p in tmp_path.rglob("*")) == listing  # nothing created either


def test_main_returns_0_for_help(capsys):
    assert main(["train", "--help"]) == 0
    assert "--seed" in capsys.readouterr().out


def test_version_flag_prints_the_one_version_source(capsys, monkeypatch):
    import a2d

    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"a2d {a2d.__version__}\n"
    monkeypatch.setattr(a2d, "__version__", "9.8.7")  # the flag reads it, never a copy
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == "a2d 9.8.7\n"
    # pyproject.toml writes no version of its own: setuptools reads a2d.__version__
    from pathlib import Path

    from setuptools.config.pyprojecttoml import read_configuration

    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    static = read_configuration(pyproject, expand=False)["project"]
    assert "version" not in static and "version" in static["dynamic"]
    monkeypatch.undo()
    assert read_configuration(pyproject)["project"]["version"] == a2d.__version__


def test_games_into_a_closed_pipe_ends_quietly(venv_bin, venv_env):
    p = subprocess.run(
        f"'{venv_bin / 'a2d'}' games | head -n 1",
        shell=True,
        capture_output=True,
        text=True,
        env=venv_env,
        timeout=120,
    )
    assert p.stdout == "Adventure\n"
    assert p.stderr == ""
