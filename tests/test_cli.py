"""a2d.cli: one-line errors with exit code 2, no half-made outputs; the small commands."""

from __future__ import annotations

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
        (["--game", "NotAGame", "--arch", "vanilla"], ["unknown game", "NotAGame", "Breakout"]),
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
    assert t["agent"] == str(run / "agent.pt")


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
