"""Actions the environment pressed itself (FIRE after a lost life) in the PPO loss, and in a
rollout on real Breakout: stored as executed, left out of the policy terms."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

from a2d import envs
from a2d.config import EnvConfig
from a2d.envs import TrainEnv
from a2d.models import build
from a2d.rl.ppo import Rollout, collect_rollout, ppo_losses


def t(*xs):
    return torch.tensor(xs, dtype=torch.float32)


def test_masked_samples_count_in_the_value_loss_only():
    new, old = t(-0.5, -1.0, -3.0), t(-1.0, -1.0, -0.1)
    ent, adv = t(1.0, 0.5, 9.0), t(2.0, -1.0, 50.0)
    value, oldv, ret = t(0.0, 0.0, 0.0), t(0.0, 0.0, 0.0), t(1.0, 2.0, 3.0)
    mask = torch.tensor([True, True, False])
    got = ppo_losses(new, old, ent, value, oldv, adv, ret, 0.2, False, False, mask)
    only = ppo_losses(new[:2], old[:2], ent[:2], value[:2], oldv[:2], adv[:2], ret[:2], 0.2,
                      False, False)  # fmt: skip
    for k in ("policy_loss", "entropy", "approx_kl", "old_approx_kl", "clipfrac"):
        assert float(got[k]) == pytest.approx(float(only[k])), k
    # ratio e^0.5 clipped at 1.2 for the positive advantage, e^0 for the other: by hand
    assert float(got["policy_loss"]) == pytest.approx((-2.0 * 1.2 + 1.0 * 1.0) / 2)
    assert float(got["entropy"]) == pytest.approx(0.75)
    assert float(got["value_loss"]) == pytest.approx(0.5 * (1 + 4 + 9) / 3)  # all three samples


def test_masked_advantage_normalisation_uses_the_policy_samples():
    adv = t(1.0, 3.0, 1000.0)
    z = torch.zeros(3)
    mask = torch.tensor([True, True, False])
    got = ppo_losses(z, z, z, z, z, adv, z, 0.1, False, True, mask)["policy_loss"]
    # normalised over (1, 3): (-1/sqrt2, +1/sqrt2), ratio 1: loss = -mean = 0
    assert float(got) == pytest.approx(0.0, abs=1e-6)
    none = ppo_losses(z, z, z, z, z, adv, z, 0.1, False, True, torch.zeros(3, dtype=torch.bool))
    assert float(none["policy_loss"]) == 0.0 and float(none["entropy"]) == 0.0


class Sent:
    """Wraps the vector env ``envs._make`` builds: records the actions the emulator was sent."""

    def __init__(self, env):
        self.env, self.actions = env, []

    def __getattr__(self, name):
        return getattr(self.env, name)

    def send(self, actions):
        self.actions.append(np.asarray(actions).copy())
        self.env.send(actions)


def test_breakout_rollout_stores_the_actions_the_emulator_executed(monkeypatch):
    made = []
    real = envs._make

    def make(game, n, **kw):
        made.append(Sent(real(game, n, **kw)))
        return made[-1]

    monkeypatch.setattr(envs, "_make", make)
    torch.manual_seed(0)
    env = TrainEnv("Breakout", 2, EnvConfig(), seed=0)
    try:
        agent = build("vanilla", env.n_actions, fc_dim=32)
        rollout = Rollout(env, 400, 2, "cpu")
        rollout.reset()
        collect_rollout(agent, rollout, contextlib.nullcontext(), 0, lambda *a: None, 0.99, 0.95)
    finally:
        env.close()
    sent = np.stack(made[0].actions)  # (steps, envs)
    assert np.array_equal(rollout.actions.numpy(), sent)
    forced = rollout.forced.numpy()
    assert forced.sum() >= 1  # lives were lost within 400 steps of an untrained agent
    assert (sent[forced] == 1).all()
    # each forced step follows a lost life: the step before ended the bootstrap episode
    assert (rollout.dones.numpy()[forced] == 1).all()
