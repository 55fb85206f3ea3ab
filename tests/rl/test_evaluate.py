"""a2d.rl.evaluate: evaluation seeds, sampled-policy evaluation, the random policy."""

from __future__ import annotations

import numpy as np
import torch

from a2d.config import EnvConfig, EvalConfig
from a2d.models import build
from a2d.rl.evaluate import eval_seed, evaluate, evaluate_random, sampling_policy

SMALL = EvalConfig(episodes=2, curve_episodes=2, num_envs=2, frame_cap=400)


def test_eval_seed_deterministic_distinct_and_in_range():
    seeds = {eval_seed(s, tag) for s in (1, 2, 3) for tag in (0, 1, 2, 10**6)}
    assert len(seeds) == 12
    assert eval_seed(1, 0) == eval_seed(1, 0)
    assert all(0 <= s < 2**31 - 1 for s in seeds)


def test_sampling_policy_uses_its_own_generator():
    torch.manual_seed(0)
    agent = build("vanilla", 4)
    obs = np.zeros((3, 4, 84, 84), dtype=np.uint8)
    a = sampling_policy(agent, "cpu", torch.Generator().manual_seed(5))(obs)
    state = torch.get_rng_state()
    b = sampling_policy(agent, "cpu", torch.Generator().manual_seed(5))(obs)
    assert torch.equal(state, torch.get_rng_state())  # the global stream is untouched
    assert a.shape == (3,) and np.array_equal(a, b)
    assert set(a.tolist()) <= {0, 1, 2, 3}


def test_evaluate_fields_and_training_mode_restored():
    agent = build("vanilla", 4)
    agent.train()
    res = evaluate(agent, "Breakout", 2, SMALL, EnvConfig(), seed=7)
    assert agent.training
    assert res["episodes"] == 2 == len(res["scores"])
    assert res["mean"] == np.mean(res["scores"]) and res["std"] == np.std(res["scores"])
    assert (res["frame_cap"], res["sticky"], res["noop_max"]) == (400, 0.0, 30)
    assert res == evaluate(agent, "Breakout", 2, SMALL, EnvConfig(), seed=7)


def test_evaluate_random():
    res = evaluate_random("Breakout", 3, SMALL, EnvConfig(), seed=1)
    assert res["policy"] == "random"
    assert res["episodes"] == 3 == len(res["scores"])
    assert res == evaluate_random("Breakout", 3, SMALL, EnvConfig(), seed=1)
