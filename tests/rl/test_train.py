"""a2d.rl.ppo.train end to end at a tiny scale: outputs, repeatability, hooks, resume."""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter

import pytest
import torch

from a2d.checkpoint import CheckpointError, read_resume
from a2d.config import TrainConfig
from a2d.models import build, count_macs, count_params
from a2d.models.agent_file import load_agent
from a2d.rl.evaluate import eval_seed, evaluate
from a2d.rl.ppo import CURVE_FIELDS, PPOHook, seed_everything, train

SEED = 3
EVAL_KEYS = {"mean", "std", "episodes", "scores", "frame_cap", "sticky"}


def tiny_cfg() -> TrainConfig:
    cfg = TrainConfig()
    cfg.ppo.total_steps = 256
    cfg.ppo.num_envs = 2
    cfg.ppo.num_steps = 64
    cfg.ppo.num_minibatches = 2
    cfg.ppo.update_epochs = 1
    cfg.eval.episodes = 1
    cfg.eval.curve_episodes = 1
    cfg.eval.num_envs = 1
    cfg.eval.frame_cap = 2000
    cfg.eval.interval = 128
    cfg.checkpoint_interval = 128
    cfg.device = "cpu"
    cfg.torch_threads = 1
    return cfg


class CountingHook(PPOHook):
    """Counts every call; adds a loss on a private parameter; optionally freezes the weights."""

    def __init__(self, step_weights: bool = True):
        self.calls: Counter[str] = Counter()
        self.w = torch.nn.Parameter(torch.zeros(()))
        self.grads: list[float] = []
        self._step = step_weights
        self.initial_state = None
        self.eval_steps: list[int] = []

    def setup(self, agent, n_actions, device):
        self.calls["setup"] += 1
        self.n_actions = n_actions
        self.initial_state = {k: v.clone() for k, v in agent.state_dict().items()}

    def on_iteration_start(self, iteration, global_step):
        self.calls["on_iteration_start"] += 1

    def extra_losses(self, obs, logits, value):
        self.calls["extra_losses"] += 1
        assert obs.dtype == torch.uint8 and logits.shape[0] == obs.shape[0] == value.shape[0]
        self.w.grad = None
        return {"hook_term": (self.w - 1.0) ** 2}

    def after_backward(self, minibatch):
        self.calls["after_backward"] += 1
        # the hook's term was part of the loss that was backpropagated: d/dw (w-1)^2 = -2 at w=0
        self.grads.append(float(self.w.grad))

    def step_weights(self, minibatch):
        return self._step

    def on_evaluation(self, step, result):
        self.calls["on_evaluation"] += 1
        self.eval_steps.append(step)

    def on_iteration_end(self, iteration, global_step, writer):
        self.calls["on_iteration_end"] += 1


def read_curve(path):
    with open(path) as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


class KeepResumeHook(PPOHook):
    """Copies the resume checkpoint as it stands mid-run (a finished run removes it)."""

    changes_training = False

    def __init__(self, run_dir, keep_dir):
        self.run_dir, self.keep_dir = run_dir, keep_dir

    def on_iteration_start(self, iteration, global_step):
        src = self.run_dir / "resume"
        if (src / "ckpt.pt").exists() and not self.keep_dir.exists():
            shutil.copytree(src, self.keep_dir)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    out = {"root": root}
    keep = KeepResumeHook(root / "a", root / "a_resume")
    out["a"] = train(
        "Breakout", "vanilla", SEED, root / "a", tiny_cfg(), hooks=[keep], log=lambda s: None
    )
    out["b"] = train("ALE/Breakout-v5", "vanilla", SEED, root / "b", tiny_cfg(), log=lambda s: None)
    hook = CountingHook(step_weights=False)
    out["hook"] = hook
    out["c"] = train(
        "Breakout", "vanilla", SEED, root / "c", tiny_cfg(), hooks=[hook], log=lambda s: None
    )
    return out


def test_model_json(runs):
    card = json.loads((runs["root"] / "a" / "model.json").read_text())
    ref = build("vanilla", 4)  # Breakout has 4 actions
    assert card == {"arch": "vanilla", "macs": count_macs(ref), "params": count_params(ref)}


def test_curve_csv(runs):
    fields, rows = read_curve(runs["root"] / "a" / "curve.csv")
    assert fields == ["step", "test_mean", "test_std", "train_return"]
    assert fields == CURVE_FIELDS
    assert [int(r["step"]) for r in rows] == [0, 128, 256]
    for r in rows:
        assert float(r["test_mean"]) == int(float(r["test_mean"]))  # a raw Breakout score
        assert float(r["test_std"]) == 0.0  # one episode per evaluation
    # the step-0 evaluation is the untrained net's (built from the run's seed), on its own seed
    seed_everything(SEED)
    cfg = tiny_cfg()
    first = evaluate(build("vanilla", 4), "Breakout", 1, cfg.eval, cfg.env, eval_seed(SEED, 0))
    assert float(rows[0]["test_mean"]) == first["mean"]
    assert rows[0]["train_return"] == "nan"  # no training episode had ended at step 0


def test_timing_csv(runs):
    _, rows = read_curve(runs["root"] / "a" / "curve.csv")
    t_fields, timing = read_curve(runs["root"] / "a" / "timing.csv")
    assert t_fields == ["step", "sps", "wall_s"]
    assert [r["step"] for r in timing] == [r["step"] for r in rows]
    assert timing[0]["sps"] == "nan" and float(timing[0]["wall_s"]) < 0.5  # nothing trained yet
    steps = [int(r["step"]) for r in timing]
    walls = [float(r["wall_s"]) for r in timing]
    for i in range(1, len(timing)):  # steps/s of the training time since the previous row
        assert walls[i] > walls[i - 1]
        rate = (steps[i] - steps[i - 1]) / (walls[i] - walls[i - 1])
        assert float(timing[i]["sps"]) == pytest.approx(rate, rel=1e-6)
    # train() returns the same training time, rounded
    assert runs["a"]["train_wall_s"] == round(walls[-1], 2)


def test_eval_json(runs):
    ev = json.loads((runs["root"] / "a" / "eval.json").read_text())
    assert EVAL_KEYS <= set(ev)
    assert ev["episodes"] == 1 == len(ev["scores"])
    assert ev["mean"] == pytest.approx(sum(ev["scores"]) / len(ev["scores"]))
    assert ev["frame_cap"] == 2000
    assert ev["sticky"] == 0.0
    assert ev["steps"] == 256
    assert (ev["game"], ev["arch"], ev["seed"]) == ("Breakout", "vanilla", SEED)
    # train() returns what it wrote, plus its training wall time (kept out of eval.json)
    returned = json.loads(json.dumps(runs["a"]))
    assert "train_wall_s" in returned and "train_wall_s" not in ev
    returned.pop("train_wall_s")
    assert ev == returned
    # the final evaluation is also the last point of the curve
    _, rows = read_curve(runs["root"] / "a" / "curve.csv")
    assert float(rows[-1]["test_mean"]) == ev["mean"]


def test_agent_pt_loads(runs):
    agent, ckpt = load_agent(runs["root"] / "a" / "agent.pt")
    assert ckpt["game"] == "Breakout" and ckpt["steps"] == 256 and ckpt["n_actions"] == 4
    x = torch.zeros(2, 4, 84, 84, dtype=torch.uint8)
    logits, value = agent(x)
    assert logits.shape == (2, 4) and value.shape == (2,)
    saved = ckpt["state_dict"]
    assert all(torch.equal(v, saved[k]) for k, v in agent.state_dict().items())


def test_tensorboard_and_resume_checkpoint_written(runs):
    run = runs["root"] / "a"
    assert any((run / "tb").iterdir())
    assert not (run / "resume" / "ckpt.pt").exists()  # spent once the run finished
    st = read_resume(runs["root"] / "a_resume" / "ckpt.pt")
    assert st["format"] == "a2d-resume-v3"
    assert st["global_step"] == 128 and st["iteration"] == 1


def test_same_seed_is_repeatable(runs):
    root = runs["root"]
    _, ra = read_curve(root / "a" / "curve.csv")
    _, rb = read_curve(root / "b" / "curve.csv")
    assert [r["test_mean"] for r in ra] == [r["test_mean"] for r in rb]
    ea = json.loads((root / "a" / "eval.json").read_text())
    eb = json.loads((root / "b" / "eval.json").read_text())
    assert ea["scores"] == eb["scores"]
    sa = torch.load(root / "a" / "agent.pt", weights_only=False)["state_dict"]
    sb = torch.load(root / "b" / "agent.pt", weights_only=False)["state_dict"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_hook_calls(runs):
    hook = runs["hook"]
    iterations, minibatches = 2, 2 * 1  # 256 / (2*64) iterations; 2 minibatches x 1 epoch
    assert hook.calls["setup"] == 1
    assert hook.n_actions == 4
    assert hook.calls["on_iteration_start"] == iterations
    assert hook.calls["on_iteration_end"] == iterations
    assert hook.calls["extra_losses"] == iterations * minibatches
    assert hook.calls["after_backward"] == iterations * minibatches
    assert hook.grads == [pytest.approx(-2.0)] * (iterations * minibatches)
    assert hook.eval_steps == [0, 128, 256]


def test_hook_loss_is_logged(runs):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(runs["root"] / "c" / "tb"))
    ea.Reload()
    tags = ea.Tags()["scalars"]
    assert "losses/hook_term" in tags
    assert "losses/policy_loss" in tags
    assert [e.value for e in ea.Scalars("losses/hook_term")] == [pytest.approx(1.0)] * 2


def test_hook_can_hold_the_weights(runs):
    hook = runs["hook"]
    final = torch.load(runs["root"] / "c" / "agent.pt", weights_only=False)["state_dict"]
    assert all(torch.equal(final[k], v) for k, v in hook.initial_state.items())
    trained = torch.load(runs["root"] / "a" / "agent.pt", weights_only=False)["state_dict"]
    assert not all(torch.equal(trained[k], v) for k, v in hook.initial_state.items())


class SnapshotHook(PPOHook):
    """Records the agent's weights when each iteration starts (after any resume)."""

    changes_training = False

    def __init__(self):
        self.starts: list[tuple[int, int, dict]] = []

    def setup(self, agent, n_actions, device):
        self.agent = agent

    def on_iteration_start(self, iteration, global_step):
        state = {k: v.clone() for k, v in self.agent.state_dict().items()}
        self.starts.append((iteration, global_step, state))


def test_resume_from_checkpoint(runs):
    root = runs["root"]
    d = root / "resumed"
    d.mkdir()
    shutil.copytree(root / "a_resume", d / "resume")
    ckpt = read_resume(d / "resume" / "ckpt.pt")
    logs: list[str] = []
    hook = SnapshotHook()
    res = train("Breakout", "vanilla", SEED, d, tiny_cfg(), hooks=[hook], log=logs.append)
    assert any("resumed from" in s and "128" in s for s in logs)
    assert res["steps"] == 256
    # only the second iteration ran, starting from the checkpoint's weights
    assert [(i, step) for i, step, _ in hook.starts] == [(1, 128)]
    state = hook.starts[0][2]
    assert all(torch.equal(state[k], v) for k, v in ckpt["model"].items())
    _, rows = read_curve(d / "curve.csv")
    _, ra = read_curve(root / "a" / "curve.csv")
    assert [int(r["step"]) for r in rows] == [0, 128, 256]
    assert rows[0] == ra[0]  # the curve so far came from the checkpoint
    # same weights and evaluation seed at step 128: the same test score as the uninterrupted run
    assert rows[1]["test_mean"] == ra[1]["test_mean"]


def test_resume_checkpoint_of_another_run_refused(runs):
    root = runs["root"]
    d = root / "other"
    d.mkdir()
    shutil.copytree(root / "a_resume", d / "resume")
    with pytest.raises(CheckpointError, match="belongs to another run"):
        train("Breakout", "resnet8", SEED, d, tiny_cfg(), log=lambda s: None)


def test_async_groups_and_bf16_runs_are_repeatable_and_change_only_the_random_order(tmp_path):
    """env.async_groups=2 (env stepping overlapped with inference) and precision=bf16: a full
    tiny run each, twice with the same seed -> the same weights; the grouped run is not the
    synchronous one (the policy's draws come in another order) but has the same shape."""
    import dataclasses

    def cfg(groups, precision):
        c = tiny_cfg()
        c.env = dataclasses.replace(c.env, async_groups=groups)
        c.precision = precision
        return c

    res = {}
    for name, groups, precision in [
        ("g2", 2, "fp32"),
        ("g2_again", 2, "fp32"),
        ("sync", 1, "fp32"),
        ("bf16", 2, "bf16"),
        ("bf16_again", 2, "bf16"),
    ]:
        res[name] = train(
            "Breakout", "vanilla", SEED, tmp_path / name, cfg(groups, precision), log=lambda s: None
        )
        assert res[name]["steps"] == 256

    def weights(name):
        return torch.load(tmp_path / name / "agent.pt", weights_only=False)["state_dict"]

    def same(a, b):
        wa, wb = weights(a), weights(b)
        return all(torch.equal(wa[k], wb[k]) for k in wa)

    assert same("g2", "g2_again")
    assert same("bf16", "bf16_again")
    assert not same("g2", "sync")
    assert not same("g2", "bf16")
    for name in res:
        assert all(torch.isfinite(v).all() for v in weights(name).values())
        assert [r["step"] for r in read_curve(tmp_path / name / "curve.csv")[1]] == [
            "0",
            "128",
            "256",
        ]


# ---- a finished run is never destroyed; the TensorBoard log of a resumed run ---------------


def test_finished_run_refused_and_force_moves_it_aside_after_the_checks(runs, tmp_path):
    from a2d import A2DError
    from a2d.runlock import RunLockError

    run = tmp_path / "done"
    shutil.copytree(runs["root"] / "a", run)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    with pytest.raises(RunLockError, match=r"holds a finished run \(eval.json\); give --force"):
        train("Breakout", "vanilla", SEED, run, tiny_cfg(), log=lambda s: None)
    with pytest.raises(A2DError, match="seed must be an integer >= 0"):
        train("Breakout", "vanilla", -1, run, tiny_cfg(), log=lambda s: None, force=True)
    with pytest.raises(Exception, match="Nope"):  # the env check fails: nothing moved aside
        train("Nope", "vanilla", SEED, run, tiny_cfg(), log=lambda s: None, force=True)
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["done"]
    logs: list[str] = []
    train("Breakout", "vanilla", SEED, run, tiny_cfg(), log=logs.append, force=True)
    (aside,) = [p for p in tmp_path.iterdir() if p.name.startswith(".done.replaced-")]
    assert any(str(aside) in s for s in logs)
    assert {p.name: p.read_bytes() for p in aside.iterdir() if p.is_file()} == before
    # the new run is the same seed's run again, bitwise
    assert (run / "eval.json").read_bytes() == before["eval.json"]
    assert (run / "curve.csv").read_bytes() == before["curve.csv"]
    assert not (run / ".lock").exists()


def _scalar_steps(tb) -> dict[str, list[int]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(tb), size_guidance={"scalars": 0})
    ea.Reload()
    return {tag: [e.step for e in ea.Scalars(tag)] for tag in ea.Tags()["scalars"]}


@pytest.mark.parametrize("kill_at", ["ckpt_done:1", "update:11"])
def test_resumed_run_logs_each_step_once(tmp_path, venv_bin, kill_at):
    """Killed at a checkpoint, or mid-iteration after one, and resumed: each scalar tag has each
    step exactly once, the same steps as the uninterrupted run's log."""
    import os
    import subprocess

    args = [
        str(venv_bin / "a2d"), "train", "--game", "Pong", "--arch", "vanilla", "--seed", "1",
        "--steps", "192", "--num-envs", "2", "--device", "cpu", "--set", "ppo.num_steps=16",
        "--set", "ppo.num_minibatches=2", "--set", "ppo.update_epochs=2",
        "--set", "eval.curve_episodes=1", "--set", "eval.episodes=1", "--set", "eval.num_envs=1",
        "--set", "eval.frame_cap=400", "--set", "eval.interval=64",
        "--set", "checkpoint.interval=64", "--set", "torch_threads=1",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("A2D_TEST_")}

    def run(out, kill=None):
        e = {**env, "A2D_TEST_KILL_AT": kill} if kill else env
        return subprocess.run([*args, "--out", str(out)], env=e, capture_output=True, timeout=300)

    assert run(tmp_path / "ref").returncode == 0
    killed = run(tmp_path / "run", kill_at)
    assert killed.returncode == -9, killed.stderr
    assert (tmp_path / "run" / "resume" / "ckpt.pt").exists()
    assert run(tmp_path / "run").returncode == 0
    ref, got = _scalar_steps(tmp_path / "ref" / "tb"), _scalar_steps(tmp_path / "run" / "tb")
    assert "losses/policy_loss" in got and "charts/test_mean" in got
    for tag, steps in got.items():
        assert len(steps) == len(set(steps)), (tag, steps)
    assert got == ref
