"""The fair bi-level split of ``ppo_update``: alpha's minibatches come from a share of the
rollout held out of the weights' update, and the weights keep one-level's step count."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from a2d.config import PPOConfig
from a2d.rl import ppo

T, N, ACTIONS = 16, 8, 3  # a batch of 128 samples


class IndexAgent(nn.Module):
    """Each sample's frame is its batch index; records the indices of every forward pass."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(1, ACTIONS + 1)
        self.seen: list[list[int]] = []

    def forward(self, obs):
        self.seen.append(obs[:, 0].long().tolist())
        out = self.head(obs.float() / (T * N))
        return out[:, :ACTIONS], out[:, ACTIONS]


class CountingAdam(torch.optim.Adam):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.steps = 0

    def step(self, *a, **kw):
        self.steps += 1
        return super().step(*a, **kw)


class Share(ppo.PPOHook):
    """Holds out ``share`` of the rollout; records each minibatch's kind and hook calls."""

    def __init__(self, share: float):
        self.share, self.kinds, self.backwards = share, [], 0

    def held_out_share(self):
        return self.share

    def on_minibatch(self, minibatch, held_out, rows):
        self.kinds.append((minibatch, held_out))

    def after_backward(self, minibatch):
        self.backwards += 1


def rollout():
    g = torch.Generator().manual_seed(0)
    return SimpleNamespace(
        obs=torch.arange(T * N, dtype=torch.float32).reshape(T, N, 1),
        actions=torch.randint(0, ACTIONS, (T, N), generator=g),
        logprobs=torch.full((T, N), -1.0986),
        values=torch.zeros(T, N),
        forced=torch.zeros(T, N, dtype=torch.bool),
        device="cpu",
    )


def update(hooks, iteration=0, **ppo_kw):
    torch.manual_seed(iteration)
    p = PPOConfig(num_envs=N, num_steps=T, **ppo_kw)
    agent = IndexAgent()
    opt = CountingAdam(agent.parameters(), lr=1e-3)
    r = rollout()
    adv = torch.randn(T, N, generator=torch.Generator().manual_seed(1))
    ppo.ppo_update(agent, opt, r, adv, adv, p, hooks, contextlib.nullcontext(), iteration, 0)
    return agent, opt, p


@pytest.mark.parametrize("share", [0.25, 0.5])
def test_held_out_samples_never_reach_the_weights_steps(share):
    hook = Share(share)
    agent, opt, p = update([hook])
    M, E = p.num_minibatches, p.update_epochs
    # weights minibatch i, then held-out minibatch i: 2M per epoch
    assert [k for _, k in hook.kinds] == [False, True] * M * E
    assert [m for m, _ in hook.kinds] == list(range(2 * M)) * E
    assert hook.backwards == 2 * M * E  # alpha's turn has its backward pass too
    weights = [set(s) for s, (_, held) in zip(agent.seen, hook.kinds) if not held]
    held = [set(s) for s, (_, held) in zip(agent.seen, hook.kinds) if held]
    w_all, h_all = set().union(*weights), set().union(*held)
    assert not w_all & h_all  # no held-out sample in any weights step of the iteration
    assert w_all | h_all == set(range(T * N))
    assert len(h_all) == round(share * T * N)
    # each epoch covers each part once, in num_minibatches minibatches
    for e in range(E):
        ep_w = weights[e * M : (e + 1) * M]
        assert sorted(x for s in ep_w for x in s) == sorted(w_all)
    # the weights keep one-level's step count
    assert opt.steps == M * E


def test_without_a_share_every_minibatch_is_a_weights_minibatch():
    hook = Share(0.0)
    agent, opt, p = update([hook])
    M, E = p.num_minibatches, p.update_epochs
    assert hook.kinds == [(m, False) for m in range(M)] * E
    assert opt.steps == M * E
    assert all(len(s) == p.minibatch_size for s in agent.seen)


def test_the_split_changes_with_the_iteration():
    held = []
    for it in (0, 1):
        hook = Share(0.25)
        agent, _, _ = update([hook], iteration=it)
        held.append({x for s, (_, h) in zip(agent.seen, hook.kinds) if h for x in s})
    assert held[0] != held[1]


def test_a_share_too_small_for_the_minibatches_is_refused():
    with pytest.raises(ppo.HeldOutError, match="ppo.num_minibatches"):
        update([Share(0.01)], num_minibatches=4)
