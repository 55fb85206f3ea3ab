"""Issue 7, item 1: real runs killed with SIGKILL at many points resume to exactly the result of an
uninterrupted run (no mocking: `a2d train`/`a2d search` subprocesses, killed from outside by
polling or by themselves at a named point through ``A2D_TEST_KILL_AT``, see ``a2d.faults``)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from a2d.checkpoint import previous_path

# 6 PPO iterations of 2 envs x 16 steps; a resume checkpoint every 2 iterations (steps 64, 128);
# test evaluations at 0, 64, 128 and the final one (one episode capped at 400 frames = 100 calls)
TINY = [
    "--seed", "1", "--num-envs", "2", "--device", "cpu",
    "--set", "ppo.num_steps=16", "--set", "ppo.num_minibatches=2", "--set", "ppo.update_epochs=2",
    "--set", "eval.curve_episodes=1", "--set", "eval.episodes=1", "--set", "eval.num_envs=1",
    "--set", "eval.frame_cap=400", "--set", "checkpoint.interval=64", "--set", "torch_threads=1",
]  # fmt: skip
TRAIN = [
    "train",
    "--game",
    "Pong",
    "--arch",
    "vanilla",
    "--steps",
    "192",
    "--set",
    "eval.interval=64",
]
SEARCH = [
    "search", "--game", "Pong", "--method", "vanilla_dnas", "--steps", "192",
    "--set", "search.eval_interval=64", "--set", "model.fc_dim=64",
]  # fmt: skip
#: wall-clock fields of arch.json (curve.csv and eval.json have none: timing.csv holds them)
TIMING_FIELDS = {"search_wall_s", "latency_ms_b1"}


def a2d(venv_bin, args, out, kill_at=None, timeout=120):
    env = {k: v for k, v in os.environ.items() if not k.startswith("A2D_TEST_")}
    if kill_at:
        env["A2D_TEST_KILL_AT"] = kill_at
    return subprocess.run(
        [str(venv_bin / "a2d"), *args, *TINY, "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def kill_when(venv_bin, args, out, ready, timeout=120):
    """Start a run and SIGKILL it from outside as soon as ``ready()`` holds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("A2D_TEST_")}
    proc = subprocess.Popen(
        [str(venv_bin / "a2d"), *args, *TINY, "--out", str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    t0 = time.monotonic()
    try:
        while not ready():
            assert proc.poll() is None, "the run ended before the kill point"
            assert time.monotonic() - t0 < timeout
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        rc = proc.wait()
    return rc


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f))


def strip_timing(rows):
    return [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in rows]


def max_param_diff(a: Path, b: Path) -> float:
    sa = torch.load(a, weights_only=False)["state_dict"]
    sb = torch.load(b, weights_only=False)["state_dict"]
    assert sa.keys() == sb.keys()
    return max(float((sa[k].double() - sb[k].double()).abs().max()) for k in sa)


def assert_same_result(ref: Path, run: Path, agent="agent.pt", curves=("curve.csv",)):
    assert max_param_diff(ref / agent, run / agent) == 0.0
    # byte for byte: the wall-clock side of a run is in timing.csv
    for f in ("eval.json", *curves):
        assert (run / f).read_bytes() == (ref / f).read_bytes(), f
    assert not (run / "resume" / "ckpt.pt").exists()
    assert not (run / "resume" / "ckpt.prev.pt").exists()


@pytest.fixture(scope="module")
def train_ref(tmp_path_factory, venv_bin):
    out = tmp_path_factory.mktemp("kill") / "ref"
    r = a2d(venv_bin, TRAIN, out)
    assert r.returncode == 0, r.stderr
    assert "checkpoint at step 64" in r.stdout and "checkpoint at step 128" in r.stdout
    return out


def test_train_killed_at_every_kind_of_point_resumes_exactly(train_ref, tmp_path, venv_bin):
    run = tmp_path / "run"
    resume = run / "resume" / "ckpt.pt"
    # 1. killed from outside the moment the first checkpoint is in place (wherever it then is)
    assert kill_when(venv_bin, TRAIN, run, resume.exists) == -signal.SIGKILL
    assert not (run / "eval.json").exists()
    # 2.-6. killed by itself at named points; every restart resumes from the last checkpoint
    kills = [
        ("rollout:20", "step 64"),  # mid-rollout of iteration 2
        ("update:3", "step 64"),  # between optimiser steps of iteration 2's update
        ("ckpt_write:1", "step 64"),  # checkpoint 128 in its temp file, not renamed
        ("ckpt_rotate:1", "step 64"),  # ckpt.pt renamed to ckpt.prev.pt, new one not in place
        ("eval:150", "step 64"),  # in the test evaluation at step 128
    ]
    for kill_at, resumed_at in kills:
        r = a2d(venv_bin, TRAIN, run, kill_at)
        assert r.returncode == -signal.SIGKILL, (kill_at, r.stdout, r.stderr)
        assert "resumed from" in r.stdout and resumed_at in r.stdout.split("resumed from")[1]
        assert not (run / "eval.json").exists()  # never a result that passes for finished
        assert not list(resume.parent.glob(".*.tmp-*")) or kill_at.startswith("ckpt")
    # 7. a torn newest checkpoint: detected by its checksum, the previous one is used
    assert resume.exists() and previous_path(resume).exists()
    data = resume.read_bytes()
    resume.write_bytes(data[: len(data) // 2])
    r = a2d(venv_bin, TRAIN, run, "final:1")  # and killed after the outputs, before eval.json
    assert r.returncode == -signal.SIGKILL
    assert "torn resume checkpoint" in r.stdout and "ckpt.prev.pt at step 64" in r.stdout
    assert (run / "agent.pt").exists() and not (run / "eval.json").exists()
    # 8. the last restart finishes
    r = a2d(venv_bin, TRAIN, run)
    assert r.returncode == 0, r.stderr
    assert "resumed from" in r.stdout
    assert_same_result(train_ref, run)


@pytest.mark.slow  # ~30 s; the fast suite checks the search's resume in-process (test_resilience.py)
def test_search_killed_resumes_exactly(tmp_path, venv_bin):
    ref, run = tmp_path / "ref", tmp_path / "run"
    r = a2d(venv_bin, SEARCH, ref)
    assert r.returncode == 0, r.stderr
    # mid-update of iteration 2 (4 optimiser steps an iteration; alpha is being searched: the
    # warm-up is iteration 0 only)
    r = a2d(venv_bin, SEARCH, run, "update:10")
    assert r.returncode == -signal.SIGKILL
    # in the evaluation at step 128, after resuming from step 64
    r = a2d(venv_bin, SEARCH, run, "eval:150")
    assert r.returncode == -signal.SIGKILL and "resumed from" in r.stdout
    for f in ("search_curve.csv", "alpha.csv", "supernet.pt", "arch.json", "eval.json"):
        assert not (run / f).exists(), f  # declared outputs only once the search has finished
    r = a2d(venv_bin, SEARCH, run)
    assert r.returncode == 0, r.stderr
    assert_same_result(
        ref, run, agent="supernet.pt", curves=("curve.csv", "search_curve.csv", "alpha.csv")
    )
    a = torch.load(ref / "supernet.pt", weights_only=False)["alpha"]
    b = torch.load(run / "supernet.pt", weights_only=False)["alpha"]
    assert torch.equal(a, b)
    arch_ref = json.loads((ref / "arch.json").read_text())
    arch_run = json.loads((run / "arch.json").read_text())
    assert strip_timing([arch_run]) == strip_timing([arch_ref])


@pytest.mark.slow
def test_retrain_with_teacher_killed_resumes_exactly(train_ref, tmp_path, venv_bin):
    retrain = [*TRAIN, "--teacher", str(train_ref)]
    ref, run = tmp_path / "ref", tmp_path / "run"
    assert a2d(venv_bin, retrain, ref).returncode == 0
    assert a2d(venv_bin, retrain, run, "update:12").returncode == -signal.SIGKILL
    r = a2d(venv_bin, retrain, run)
    assert r.returncode == 0 and "resumed from" in r.stdout
    assert_same_result(ref, run)
