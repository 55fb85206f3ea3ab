"""a2d.rl.ppo maths: GAE, the clipped losses, log-probabilities, an optimisation sanity check."""

from __future__ import annotations

import math

import pytest
import torch

from a2d.models import build
from a2d.rl.ppo import PPOHook, compute_gae, logprob_entropy, ppo_losses

D = torch.float64


def t(*xs) -> torch.Tensor:
    return torch.tensor(xs, dtype=D)


# ---- GAE ----------------------------------------------------------------------------------


def test_gae_hand_worked_with_done_in_the_middle():
    """3 steps, 1 env; ``dones[2] = 1``: obs[2] starts a new episode (the episode ended at t=1)."""
    gamma, lam = 0.9, 0.8
    rewards = t(1.0, 2.0, 3.0).unsqueeze(1)
    values = t(0.5, 1.0, 1.5).unsqueeze(1)
    dones = t(0.0, 0.0, 1.0).unsqueeze(1)
    next_value, next_done = t(2.0), t(0.0)

    adv, ret = compute_gae(rewards, values, dones, next_value, next_done, gamma, lam)

    # t = 2: bootstraps from next_value (the episode goes on)
    d2 = 3.0 + 0.9 * 2.0 - 1.5  # = 3.3
    a2 = d2
    # t = 1: last step of its episode: no bootstrap, no carry-over of later advantages
    d1 = 2.0 + 0.9 * 1.0 * 0.0 - 1.0  # = 1.0
    a1 = d1
    # t = 0: bootstraps from values[1]; carries gamma * lambda * a1
    d0 = 1.0 + 0.9 * 1.0 - 0.5  # = 1.4
    a0 = d0 + 0.9 * 0.8 * a1  # = 2.12
    assert adv.shape == (3, 1)
    assert adv[:, 0].tolist() == pytest.approx([a0, a1, a2])
    assert adv[:, 0].tolist() == pytest.approx([2.12, 1.0, 3.3])
    assert ret[:, 0].tolist() == pytest.approx([a0 + 0.5, a1 + 1.0, a2 + 1.5])


def test_gae_next_done_stops_the_bootstrap():
    rewards = t(1.0, 2.0, 3.0).unsqueeze(1)
    values = t(0.5, 1.0, 1.5).unsqueeze(1)
    dones = torch.zeros(3, 1, dtype=D)
    adv, _ = compute_gae(rewards, values, dones, t(2.0), t(1.0), 0.9, 0.8)
    a2 = 3.0 - 1.5
    a1 = (2.0 + 0.9 * 1.5 - 1.0) + 0.72 * a2
    a0 = (1.0 + 0.9 * 1.0 - 0.5) + 0.72 * a1
    assert adv[:, 0].tolist() == pytest.approx([a0, a1, a2])


def test_gae_envs_are_independent_and_lambda_one_is_discounted_return():
    g = torch.Generator().manual_seed(0)
    rewards = torch.rand(5, 2, generator=g, dtype=D)
    values = torch.rand(5, 2, generator=g, dtype=D)
    dones = torch.zeros(5, 2, dtype=D)
    nv, nd = torch.rand(2, generator=g, dtype=D), torch.zeros(2, dtype=D)
    adv, ret = compute_gae(rewards, values, dones, nv, nd, 0.99, 1.0)
    for e in range(2):
        solo, _ = compute_gae(
            rewards[:, e : e + 1],
            values[:, e : e + 1],
            dones[:, e : e + 1],
            nv[e : e + 1],
            nd[e : e + 1],
            0.99,
            1.0,
        )
        assert torch.allclose(solo[:, 0], adv[:, e])
        # lambda = 1: returns are the discounted rewards plus the discounted bootstrap
        g0 = sum(0.99**k * rewards[k, e] for k in range(5)) + 0.99**5 * nv[e]
        assert float(ret[0, e]) == pytest.approx(float(g0))


# ---- the clipped surrogate ----------------------------------------------------------------


def _pg(ratio: float, adv: float, clip: float = 0.1):
    new = torch.tensor([math.log(ratio)], dtype=D, requires_grad=True)
    old = torch.zeros(1, dtype=D)
    z = torch.zeros(1, dtype=D)
    terms = ppo_losses(
        new, old, z, z, z, t(adv), z, clip_coef=clip, clip_vloss=False, norm_adv=False
    )
    terms["policy_loss"].backward()
    return float(terms["policy_loss"].detach()), float(new.grad[0]), terms


@pytest.mark.parametrize(
    "ratio, adv, loss, grad",
    [
        # ratio above 1 + clip with a positive advantage: clipped, no push further up
        (1.5, 1.0, -1.1, 0.0),
        # ratio below 1 - clip with a negative advantage: clipped, no push further down
        (0.5, -1.0, 0.9, 0.0),
        # the pessimistic side is never clipped: the gradient is -adv * ratio
        (0.5, 1.0, -0.5, -0.5),
        (1.5, -1.0, 1.5, 1.5),
        # inside the trust region: unclipped
        (1.05, 2.0, -2.1, -2.1),
    ],
)
def test_policy_loss_clipping(ratio, adv, loss, grad):
    got_loss, got_grad, _ = _pg(ratio, adv)
    assert got_loss == pytest.approx(loss)
    assert got_grad == pytest.approx(grad)  # d loss / d newlogprob = -adv * ratio when unclipped


def test_diagnostics():
    ratios = t(0.5, 0.95, 1.0, 1.2)
    new = ratios.log()
    terms = ppo_losses(
        new,
        torch.zeros(4, dtype=D),
        t(1.0, 2.0, 3.0, 4.0),
        torch.zeros(4, dtype=D),
        torch.zeros(4, dtype=D),
        torch.ones(4, dtype=D),
        torch.zeros(4, dtype=D),
        clip_coef=0.1,
        clip_vloss=False,
        norm_adv=False,
    )
    assert float(terms["clipfrac"]) == pytest.approx(0.5)  # 0.5 and 1.2 are outside [0.9, 1.1]
    assert float(terms["entropy"]) == pytest.approx(2.5)
    assert float(terms["old_approx_kl"]) == pytest.approx(float(-new.mean()))
    assert float(terms["approx_kl"]) == pytest.approx(float(((ratios - 1) - new).mean()))


def test_advantage_normalisation():
    adv = t(1.0, 2.0, 6.0)
    z = torch.zeros(3, dtype=D)
    on = ppo_losses(z, z, z, z, z, adv, z, 0.1, False, norm_adv=True)["policy_loss"]
    off = ppo_losses(z, z, z, z, z, adv, z, 0.1, False, norm_adv=False)["policy_loss"]
    assert float(on) == pytest.approx(0.0, abs=1e-9)  # ratio 1: -mean of normalised advantages
    assert float(off) == pytest.approx(-3.0)
    # a single-sample minibatch is not normalised (its std is undefined)
    one = ppo_losses(z[:1], z[:1], z[:1], z[:1], z[:1], t(5.0), z[:1], 0.1, False, norm_adv=True)
    assert float(one["policy_loss"]) == pytest.approx(-5.0)


# ---- the value loss -----------------------------------------------------------------------


def _v(new: float, old: float, ret: float, clip_vloss: bool, clip: float = 0.1):
    nv = torch.tensor([new], dtype=D, requires_grad=True)
    z = torch.zeros(1, dtype=D)
    terms = ppo_losses(z, z, z, nv, t(old), z, t(ret), clip, clip_vloss, norm_adv=False)
    terms["value_loss"].backward()
    return float(terms["value_loss"].detach()), float(nv.grad[0])


def test_value_loss_clipped_branch_wins():
    # new moved 1.0 away from old; clipped prediction 1.1 is further from the return 3.0
    loss, grad = _v(2.0, 1.0, 3.0, clip_vloss=True)
    assert loss == pytest.approx(0.5 * (1.1 - 3.0) ** 2)
    assert grad == pytest.approx(0.0)  # the clipped prediction does not depend on newvalue


def test_value_loss_unclipped_branch_wins():
    # new moved away from the return: the unclipped error is the larger one
    loss, grad = _v(0.5, 1.0, 3.0, clip_vloss=True)
    assert loss == pytest.approx(0.5 * (0.5 - 3.0) ** 2)
    assert grad == pytest.approx(0.5 - 3.0)


def test_value_loss_inside_clip_range_and_unclipped_mode():
    loss, grad = _v(1.05, 1.0, 3.0, clip_vloss=True)
    assert loss == pytest.approx(0.5 * (1.05 - 3.0) ** 2)
    assert grad == pytest.approx(1.05 - 3.0)
    loss, grad = _v(2.0, 1.0, 3.0, clip_vloss=False)
    assert loss == pytest.approx(0.5 * (2.0 - 3.0) ** 2)
    assert grad == pytest.approx(2.0 - 3.0)


# ---- log-probabilities --------------------------------------------------------------------


def test_logprob_entropy_matches_categorical():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(16, 7, generator=g) * 3
    actions = torch.randint(0, 7, (16,), generator=g)
    lp, ent = logprob_entropy(logits, actions)
    dist = torch.distributions.Categorical(logits=logits)
    assert lp.shape == ent.shape == (16,)
    assert torch.allclose(lp, dist.log_prob(actions), atol=1e-6)
    assert torch.allclose(ent, dist.entropy(), atol=1e-5)


# ---- the hook base class ------------------------------------------------------------------


def test_ppo_hook_defaults_do_nothing():
    h = PPOHook()
    assert h.extra_losses(None, None, None) == {}
    assert h.step_weights(0) is True
    assert h.state_dict() == {}
    with h.eval_context():
        pass


# ---- a few optimiser steps reduce the PPO loss --------------------------------------------


def test_adam_steps_reduce_ppo_loss():
    torch.manual_seed(0)
    agent = build("vanilla", 4)
    g = torch.Generator().manual_seed(1)
    n = 32
    obs = torch.randint(0, 256, (n, 4, 84, 84), generator=g, dtype=torch.uint8)
    actions = torch.randint(0, 4, (n,), generator=g)
    advantages = torch.randn(n, generator=g)
    returns = torch.randn(n, generator=g)
    with torch.no_grad():
        logits, old_values = agent(obs)
        old_logprob, _ = logprob_entropy(logits, actions)

    def loss_fn():
        logits, value = agent(obs)
        lp, ent = logprob_entropy(logits, actions)
        terms = ppo_losses(
            lp,
            old_logprob,
            ent,
            value,
            old_values,
            advantages,
            returns,
            clip_coef=0.1,
            clip_vloss=True,
            norm_adv=True,
        )
        return terms["policy_loss"] - 0.01 * terms["entropy"] + 0.5 * terms["value_loss"], terms

    opt = torch.optim.Adam(agent.parameters(), lr=2.5e-4, eps=1e-5)
    with torch.no_grad():
        before, _ = loss_fn()
    for _ in range(20):
        loss, _ = loss_fn()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(agent.parameters(), 0.5)
        opt.step()
    with torch.no_grad():
        after, terms = loss_fn()
    assert float(after) < float(before) - 1e-3
    assert float(terms["approx_kl"]) > 0  # the policy moved
