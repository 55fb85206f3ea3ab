"""The real PPO loop learns: ``train()`` on a contextual bandit with a known right action.

The pieces (GAE, the losses) have their own hand-worked tests; this checks how ``train()`` wires
them: a flipped policy-loss sign, or returns passed where advantages belong, makes it fail (the
contexts' reward offsets, which the value learns, swamp the right action's +1 in the returns).
"""

from __future__ import annotations

import dataclasses

import pytest
from fake_envs import TINY_SPEC, BanditEnv, bandit_evaluate

from a2d.config import TrainConfig
from a2d.rl import ppo


def bandit_cfg(groups: int, precision: str) -> TrainConfig:
    cfg = TrainConfig()
    cfg.device, cfg.torch_threads, cfg.precision = "cpu", 1, precision
    cfg.env = dataclasses.replace(cfg.env, async_groups=groups)
    p = cfg.ppo
    p.num_envs, p.num_steps, p.num_minibatches, p.update_epochs = 8, 16, 4, 4
    p.total_steps = 2048  # 16 iterations of 128 steps
    p.learning_rate = 1e-3
    cfg.eval.interval = 1024
    cfg.checkpoint_interval = 1024  # one resume checkpoint and env re-seed on the way
    return cfg


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_train_learns_the_right_action_of_each_context(tmp_path, monkeypatch, groups, precision):
    monkeypatch.setattr(ppo, "TrainEnv", BanditEnv)
    monkeypatch.setattr(ppo, "evaluate", bandit_evaluate)
    logs: list[str] = []
    res = ppo.train(
        "Breakout", TINY_SPEC, 1, tmp_path, bandit_cfg(groups, precision), log=logs.append
    )
    assert any("checkpoint at step 1024" in s for s in logs)
    with open(tmp_path / "curve.csv") as f:
        rows = [line.split(",") for line in f.read().splitlines()[1:]]
    steps = [int(r[0]) for r in rows]
    right = [float(r[1]) for r in rows]  # the policy's probability of the right action
    assert steps == [0, 1024, 2048]
    assert right[0] == pytest.approx(0.25, abs=0.05)  # an untrained policy: chance
    assert right[-1] > 0.8, right  # learnt (chance is 0.25)
    assert right[-1] > right[0] + 0.5, right
    assert res["mean"] == right[-1]
    # the training return (offset + 1 for a right action; the offsets average 0) rose too
    train_return = [float(r[3]) for r in rows]
    assert train_return[-1] > 0.6 and train_return[-1] > train_return[1] + 0.3, train_return


@pytest.mark.slow  # ~4 min on 2 idle cores
def test_short_roadrunner_run_beats_the_random_policy_and_its_untrained_self(tmp_path):
    """A real Atari run, the test protocol of the paper (full games, raw scores, sampled actions):
    48k steps of PPO on RoadRunner (the game it learns fastest here) beat the random policy.
    Every test action is the policy's (no FIRE pressed for it after a lost life), so the agent
    must have learned what it scores with."""
    from a2d.rl.evaluate import evaluate_random

    cfg = TrainConfig()
    cfg.device, cfg.precision = "cpu", "fp32"
    cfg.ppo.total_steps = 49_152
    cfg.eval.interval = 10**9  # evaluations at step 0 and at the end only
    cfg.eval.episodes = cfg.eval.curve_episodes = cfg.eval.num_envs = 8
    cfg.eval.frame_cap = 10_000
    res = ppo.train("RoadRunner", "vanilla", 1, tmp_path, cfg, log=print)
    rand = evaluate_random("RoadRunner", 8, cfg.eval, cfg.env, seed=1)
    with open(tmp_path / "curve.csv") as f:
        first = float(f.read().splitlines()[1].split(",")[1])
    print(f"trained {res['mean']:.1f}, untrained {first:.1f}, random {rand['mean']:.1f}")
    assert res["steps"] == 49_152
    assert res["mean"] > rand["mean"] + 200 and res["mean"] > 2 * rand["mean"]
    assert res["mean"] > first + 200
