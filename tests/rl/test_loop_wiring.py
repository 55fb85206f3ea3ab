"""How ``train()`` wires its pieces: which reward, done flag, action and advantage land where in a
rollout, and what its test evaluations are given (the test protocol)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from fake_envs import (
    TINY_SPEC,
    FireScriptedEnv,
    ScriptedEnv,
    bandit_evaluate,
    fire_forced,
    life_lost,
    scripted_reward,
)

from a2d import envs
from a2d.config import TrainConfig
from a2d.rl import ppo
from a2d.rl.evaluate import eval_seed

T, N = 12, 4


def one_iteration_cfg(groups: int) -> TrainConfig:
    cfg = TrainConfig()
    cfg.device, cfg.torch_threads, cfg.precision = "cpu", 1, "fp32"
    cfg.env = dataclasses.replace(cfg.env, async_groups=groups)
    p = cfg.ppo
    p.num_envs, p.num_steps, p.num_minibatches, p.update_epochs = N, T, 2, 1
    p.total_steps = N * T
    cfg.eval.interval = cfg.checkpoint_interval = 10**6
    return cfg


class Capture(ppo.PPOHook):
    """The update's minibatches: frames (through the hook), actions, advantages and returns."""

    changes_training = False

    def __init__(self):
        self.obs, self.actions, self.adv, self.ret = [], [], [], []

    def extra_losses(self, obs, logits, value):
        self.obs.append(obs.clone())
        return {}


@pytest.mark.parametrize("groups", [1, 2])
def test_rollout_rewards_dones_actions_and_advantages_line_up(tmp_path, monkeypatch, groups):
    made: list[ScriptedEnv] = []
    gae: list[dict] = []
    cap = Capture()

    def make_env(*a, **kw):
        made.append(ScriptedEnv(*a, **kw))
        return made[-1]

    def spy_gae(rewards, values, dones, next_value, next_done, gamma, lam):
        adv, ret = real_gae(rewards, values, dones, next_value, next_done, gamma, lam)
        gae.append(
            dict(
                rewards=rewards.cpu().clone(),
                dones=dones.cpu().clone(),
                next_done=next_done.cpu().clone(),
                adv=adv.clone(),
                ret=ret.clone(),
            )
        )
        return adv, ret

    def spy_logprob(logits, actions):
        if not torch.is_inference_mode_enabled():  # the update's, not the rollout's
            cap.actions.append(actions.clone())
        return real_logprob(logits, actions)

    def spy_losses(newlogprob, oldlogprob, entropy, newvalue, oldvalue, adv, ret, *a):
        cap.adv.append(adv.clone())
        cap.ret.append(ret.clone())
        return real_losses(newlogprob, oldlogprob, entropy, newvalue, oldvalue, adv, ret, *a)

    real_gae, real_logprob, real_losses = ppo.compute_gae, ppo.logprob_entropy, ppo.ppo_losses
    monkeypatch.setattr(ppo, "TrainEnv", make_env)
    monkeypatch.setattr(ppo, "evaluate", bandit_evaluate)
    monkeypatch.setattr(ppo, "compute_gae", spy_gae)
    monkeypatch.setattr(ppo, "logprob_entropy", spy_logprob)
    monkeypatch.setattr(ppo, "ppo_losses", spy_losses)
    ppo.train("Pong", TINY_SPEC, 1, tmp_path, one_iteration_cfg(groups), [cap], log=str)

    assert len(made) == 1 and made[0].closed and len(gae) == 1
    g = gae[0]
    taken = {(i, t): a for i, t, a in made[0].log}  # what each env was sent
    assert sorted(taken) == [(i, t) for i in range(N) for t in range(T)]
    # the update sees every (step, env) once, each frame with its own action and advantage
    obs = torch.cat(cap.obs)
    actions, adv, ret = torch.cat(cap.actions), torch.cat(cap.adv), torch.cat(cap.ret)
    assert len(obs) == len(actions) == len(adv) == N * T
    seen = set()
    for k in range(N * T):
        t, i = int(obs[k, 0, 0, 0]), int(obs[k, 0, 0, 1])  # the frame env i showed after t steps
        seen.add((t, i))
        assert int(actions[k]) == taken[(i, t)], (t, i)
        assert float(adv[k]) == float(g["adv"][t, i]) and float(ret[k]) == float(g["ret"][t, i])
    assert len(seen) == N * T
    assert not torch.equal(g["adv"], g["ret"])
    for t in range(T):
        for i in range(N):
            # rewards[t] is what actions[t] earned at step t
            assert float(g["rewards"][t, i]) == scripted_reward(i, t, taken[(i, t)]), (t, i)
            # dones[t]: obs[t] is the first after a lost life or a game end (none before t = 0)
            assert float(g["dones"][t, i]) == float(t > 0 and life_lost(i, t - 1)), (t, i)
    assert g["next_done"].tolist() == [float(life_lost(i, T - 1)) for i in range(N)]
    assert g["dones"].sum() > 0 and g["next_done"].sum() > 0


def test_fire_pressed_by_the_env_is_stored_and_left_out_of_the_policy_terms(tmp_path, monkeypatch):
    """The env presses FIRE itself after a lost life: the update sees FIRE, the action executed,
    at that step (not what the policy sampled), and ppo_losses is told to count that sample in
    the value loss only."""
    made: list[FireScriptedEnv] = []
    cap = Capture()
    masks: list[torch.Tensor] = []

    def make_env(*a, **kw):
        made.append(FireScriptedEnv(*a, **kw))
        return made[-1]

    def spy_logprob(logits, actions):
        if not torch.is_inference_mode_enabled():
            cap.actions.append(actions.clone())
        return real_logprob(logits, actions)

    def spy_losses(*a):
        masks.append(a[10].clone())  # policy_mask
        return real_losses(*a)

    real_logprob, real_losses = ppo.logprob_entropy, ppo.ppo_losses
    monkeypatch.setattr(ppo, "TrainEnv", make_env)
    monkeypatch.setattr(ppo, "evaluate", bandit_evaluate)
    monkeypatch.setattr(ppo, "logprob_entropy", spy_logprob)
    monkeypatch.setattr(ppo, "ppo_losses", spy_losses)
    ppo.train("Pong", TINY_SPEC, 1, tmp_path, one_iteration_cfg(1), [cap], log=str)

    executed = {(i, t): a for i, t, a in made[0].log}
    obs, actions, mask = torch.cat(cap.obs), torch.cat(cap.actions), torch.cat(masks)
    assert len(obs) == len(actions) == len(mask) == N * T
    n_forced = 0
    for k in range(N * T):
        t, i = int(obs[k, 0, 0, 0]), int(obs[k, 0, 0, 1])
        assert int(actions[k]) == executed[(i, t)], (t, i)
        forced = fire_forced(i, t)
        n_forced += forced
        assert bool(mask[k]) == (not forced), (t, i)
        if forced:
            assert executed[(i, t)] == 1
    assert 0 < n_forced < N * T


class PongScripted(ScriptedEnv):
    n_actions = 6  # Pong's, so the test evaluations can play real Pong


def test_test_evaluations_use_the_test_protocol_not_the_training_envs(tmp_path, monkeypatch):
    """Full games (no life-loss ends), raw rewards, eval.frame_cap / sticky / noop_max, the
    episode counts and seeds of the periodic and the final evaluation."""
    makes: list[tuple[str, int, dict]] = []
    calls: list[tuple[int, int]] = []
    real_make, real_evaluate = envs._make, ppo.evaluate

    def spy_make(game, num_envs, **kw):
        makes.append((game, num_envs, kw))
        return real_make(game, num_envs, **kw)

    def spy_evaluate(agent, game, episodes, eval_cfg, env_cfg, seed, device="cpu"):
        calls.append((episodes, seed))
        return real_evaluate(agent, game, episodes, eval_cfg, env_cfg, seed, device)

    cfg = one_iteration_cfg(1)
    cfg.ppo.total_steps = 2 * N * T
    cfg.eval.interval = N * T
    cfg.eval.curve_episodes, cfg.eval.episodes, cfg.eval.num_envs = 1, 3, 2
    cfg.eval.frame_cap, cfg.eval.sticky, cfg.eval.noop_max = 400, 0.25, 7
    # training settings that the test games must not take
    cfg.env = dataclasses.replace(
        cfg.env, repeat_action_probability=0.1, noop_max=30, max_episode_frames=5000, frameskip=4
    )
    assert cfg.env.episodic_life and cfg.env.reward_clipping
    monkeypatch.setattr(ppo, "TrainEnv", PongScripted)
    monkeypatch.setattr(ppo, "evaluate", spy_evaluate)
    monkeypatch.setattr(envs, "_make", spy_make)
    res = ppo.train("Pong", TINY_SPEC, 5, tmp_path, cfg, log=str)

    # evaluations at steps 0, 48 (periodic: curve_episodes) and the final one (eval.episodes)
    assert calls == [(1, eval_seed(5, 0)), (1, eval_seed(5, 1)), (3, eval_seed(5, 10**6))]
    protocol = dict(
        repeat_action_probability=0.25,
        frameskip=4,
        noop_max=7,
        episodic_life=False,
        life_loss_info=False,
        reward_clipping=False,
        max_num_frames_per_episode=400,
    )
    assert [(g, n) for g, n, _ in makes] == [("Pong", 1), ("Pong", 1), ("Pong", 2)]
    assert all(kw == protocol for _, _, kw in makes), makes
    assert (res["frame_cap"], res["sticky"], res["noop_max"], res["episodes"]) == (400, 0.25, 7, 3)
    # raw Pong scores: whole points lost in 100 agent steps, not clipped per step
    assert all(s == int(s) and -21 <= s <= 0 for s in res["scores"])
    assert np.mean(res["scores"]) == res["mean"]
