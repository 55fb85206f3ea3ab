"""a2d.search.hooks.SearchHook: warm-up, the cost term, one-level and bi-level alpha steps."""

from __future__ import annotations

import math

import pytest
import torch

import a2d.search.hooks as hooks_mod
from a2d.config import MethodConfig, SearchConfig
from a2d.models.builder import supernet_spec
from a2d.rl.ppo import NumericalError
from a2d.search.hooks import SearchHook

N_ACTIONS = 4
MACS_REF = 9.3e6
ONE_LEVEL = MethodConfig(0.0, 0.0, "one_level")
BI_LEVEL = MethodConfig(1.0, 0.5, "bi_level")


def frames(batch: int = 2, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, 4, 84, 84), generator=g, dtype=torch.uint8)


class Writer:
    def __init__(self):
        self.scalars: dict[str, float] = {}

    def add_scalar(self, name, value, step):
        self.scalars[name] = value


@pytest.fixture
def make_hook(supernet, macs_table, tmp_path, monkeypatch):
    """A SearchHook set up on the `supernet` fixture (its MACs table measured once per session)."""
    monkeypatch.setattr(hooks_mod, "cell_macs_table", lambda spec, n, norm: macs_table)

    def make(method=ONE_LEVEL, num_iterations=4, **search) -> SearchHook:
        scfg = SearchConfig(**{"warmup": 0.5, **search})
        hook = SearchHook(supernet_spec(), scfg, method, num_iterations, MACS_REF, tmp_path)
        hook.setup(supernet, N_ACTIONS, "cpu")
        return hook

    return make


def minibatch_backward(hook: SearchHook, agent, seed: int = 0) -> None:
    """What train() does for one minibatch: forward, PPO-like loss + the hook's terms, backward."""
    obs = frames(seed=seed)
    logits, value = agent(obs)
    loss = logits.logsumexp(-1).mean() + value.pow(2).mean()
    for term in hook.extra_losses(obs, logits, value).values():
        loss = loss + term
    loss.backward()


def test_warmup_iterations_and_phase(make_hook):
    hook = make_hook(num_iterations=10, warmup=0.2)
    assert hook.warmup_iterations == 2
    seen = []
    for it in range(10):
        hook.on_iteration_start(it, it * 64)
        seen.append((hook.in_warmup, hook.ctl.state))
    assert seen == [(True, "warmup")] * 2 + [(False, "search")] * 8


def test_temperature_schedule_over_the_search(make_hook):
    hook = make_hook(num_iterations=6, warmup=0.34, tau_start=5.0, tau_end=0.5)
    assert hook.warmup_iterations == 2
    taus = []
    for it in range(2, 6):
        hook.on_iteration_start(it, 0)
        taus.append(hook.ctl.tau)
    # 5 -> 0.5 exponentially: equal ratios from the first post-warm-up iteration to the last
    assert taus[0] == pytest.approx(5.0) and taus[-1] == pytest.approx(0.5)
    ratios = [b / a for a, b in zip(taus, taus[1:])]
    assert ratios == pytest.approx([0.1 ** (1 / 3)] * 3)


def test_warmup_leaves_alpha_alone(make_hook, supernet):
    torch.manual_seed(0)
    hook = make_hook(method=ONE_LEVEL)
    hook.on_iteration_start(0, 0)
    assert hook.in_warmup
    alpha0 = hook.ctl.alpha.detach().clone()
    obs = frames()
    logits, value = supernet(obs)
    assert hook.extra_losses(obs, logits, value) == {}  # no cost term in the warm-up
    for mb in range(4):
        minibatch_backward(hook, supernet, seed=mb)
        hook.ctl.alpha.grad = torch.ones_like(hook.ctl.alpha)  # even a stray gradient ...
        hook.after_backward(mb)
        assert hook.ctl.alpha.grad is None  # ... is cleared
        assert hook.step_weights(mb)
        supernet.zero_grad(set_to_none=True)
    assert torch.equal(hook.ctl.alpha.detach(), alpha0)


def test_cost_term(make_hook):
    hook = make_hook(warmup=0.0, lambda_f=0.3)
    hook.on_iteration_start(0, 0)
    terms = hook.extra_losses(frames(), torch.zeros(2, N_ACTIONS), torch.zeros(2))
    assert set(terms) == {"flops"}
    expected = 0.3 * float(hook.ctl.expected_macs().detach()) / MACS_REF
    assert float(terms["flops"].detach()) == pytest.approx(expected, rel=1e-6)
    assert terms["flops"].requires_grad
    assert make_hook(warmup=0.0, lambda_f=0.0).extra_losses(frames(), None, None) == {}


def test_bi_level_holds_out_a_share_for_alpha(make_hook, supernet):
    """Bi-level: after the warm-up the hook holds out search.bilevel_alpha_share of each rollout;
    on a held-out minibatch (ppo_update says which) alpha steps and the weights do not; on a
    weights minibatch the weights step and alpha does not."""
    torch.manual_seed(0)
    hook = make_hook(method=BI_LEVEL, warmup=0.25, alpha_lr=0.01, bilevel_alpha_share=0.3)
    hook.on_iteration_start(0, 0)  # warm-up: no share, weights step on every minibatch
    assert hook.held_out_share() == 0.0
    assert all(hook.step_weights(mb) for mb in range(4))
    hook.on_iteration_start(1, 64)
    assert not hook.in_warmup and hook.held_out_share() == 0.3
    assert make_hook(method=ONE_LEVEL, warmup=0.0).held_out_share() == 0.0

    alpha = hook.ctl.alpha
    for mb in range(4):
        held_out = mb % 2 == 1
        hook.on_minibatch(mb, held_out, torch.arange(2))
        assert hook.step_weights(mb) is not held_out
        before = alpha.detach().clone()
        minibatch_backward(hook, supernet, seed=mb)
        assert alpha.grad is not None and alpha.grad.abs().sum() > 0
        hook.after_backward(mb)
        assert alpha.grad is None
        if held_out:
            assert not torch.equal(alpha.detach(), before), f"no alpha step on minibatch {mb}"
        else:
            assert torch.equal(alpha.detach(), before), f"alpha stepped on weights minibatch {mb}"
        supernet.zero_grad(set_to_none=True)
    assert hook.alpha_opt.state[alpha]["step"] == 2
    hook.on_iteration_start(2, 128)  # a new iteration starts on a weights minibatch
    assert hook.step_weights(0)


def test_one_level_steps_alpha_on_every_minibatch(make_hook, supernet):
    torch.manual_seed(0)
    hook = make_hook(method=ONE_LEVEL, warmup=0.0, alpha_lr=0.01)
    hook.on_iteration_start(0, 0)
    alpha, noise0 = hook.ctl.alpha, hook.ctl.noise.clone()
    for mb in range(4):
        assert hook.step_weights(mb)
        before = alpha.detach().clone()
        minibatch_backward(hook, supernet, seed=mb)
        hook.after_backward(mb)
        assert not torch.equal(alpha.detach(), before), f"no alpha step on minibatch {mb}"
        assert alpha.grad is None
        supernet.zero_grad(set_to_none=True)
    assert torch.equal(hook.ctl.noise, noise0)  # alpha steps do not redraw the noise
    assert hook.alpha_opt.state[alpha]["step"] == 4


def test_alpha_step_follows_the_cost_gradient(make_hook):
    """With only the cost term, one Adam step lowers every dear op's logit and raises skip."""
    hook = make_hook(method=ONE_LEVEL, warmup=0.0, lambda_f=1.0)
    hook.on_iteration_start(0, 0)
    e0 = float(hook.ctl.expected_macs().detach())
    hook.extra_losses(None, None, None)["flops"].backward()
    hook.after_backward(0)
    choices = hook.ctl.choices
    a = hook.ctl.alpha.detach()
    assert (a[:, choices.index("k5_e6")] < 0).all() and (a[:, choices.index("skip")] > 0).all()
    assert float(hook.ctl.expected_macs().detach()) < e0


def test_non_finite_alpha_gradient_is_refused(make_hook):
    hook = make_hook(warmup=0.0)
    hook.on_iteration_start(0, 0)
    hook.ctl.alpha.grad = torch.full_like(hook.ctl.alpha, math.nan)
    with pytest.raises(NumericalError, match="alpha gradient"):
        hook.after_backward(0)


# hooks.py on_iteration_end calls float() on expected_macs() without detach (a harmless warning)
@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad")
def test_macs_band_adapts_lambda_f(make_hook):
    hook = make_hook(warmup=0.0, lambda_f=0.2, macs_band=[1.0, 2.0])  # far below any net
    hook.on_iteration_start(0, 0)
    writer = Writer()
    hook.on_iteration_end(1, 64, writer)
    assert hook.lambda_f == pytest.approx(0.4)  # derived net above the band: costs weigh more
    assert writer.scalars["search/lambda_f"] == pytest.approx(0.2)
    hook.scfg.macs_band = [1e12, 2e12]  # far above
    hook.on_iteration_end(2, 128, writer)
    assert hook.lambda_f == pytest.approx(0.2)
    for k in ("temperature", "expected_macs", "argmax_macs", "alpha_entropy", "lambda_f"):
        assert math.isfinite(writer.scalars[f"search/{k}"])


def test_state_dict_round_trip(make_hook, supernet):
    hook = make_hook(warmup=0.0, lambda_f=0.7)
    hook.on_iteration_start(0, 0)
    hook.extra_losses(None, None, None)["flops"].backward()
    hook.after_backward(1)
    hook.on_evaluation(0, {"mean": 1.0, "std": 0.0})
    state = hook.state_dict()
    other = make_hook(warmup=0.0)
    other.load_state_dict(state)
    assert torch.equal(other.ctl.alpha.detach(), hook.ctl.alpha.detach())
    assert other.lambda_f == 0.7 and other.curve == hook.curve
    assert other.alpha_rows == hook.alpha_rows and len(other.alpha_rows) == 14


# ---- search.cost


def test_macs_cost_term_is_bit_for_bit_what_it_was(make_hook):
    """cost: macs (the default) is the paper's term, unchanged by the latency option: the value
    below was computed by the code before that option existed (same alpha, same table)."""
    hook = make_hook(lambda_f=0.1)
    with torch.no_grad():
        hook.ctl.alpha.copy_(torch.linspace(-2, 2, 14 * 9).reshape(14, 9).sin())
    hook.on_iteration_start(3, 0)
    terms = hook.extra_losses(None, None, None)
    assert list(terms) == ["flops"]
    assert float(terms["flops"].detach()) == float.fromhex("0x1.e5c2b80000000p-3")
    assert hook.ctl.argmax_macs() == 6462160.0
    assert hook.ctl.latency_table is None
    hook.on_evaluation(0, {"mean": 1.0, "std": 0.0})
    hook.write_outputs()
    header = (hook.out / "search_curve.csv").read_text().splitlines()[0]
    assert header == (
        "step,test_mean,test_std,temperature,expected_macs,lambda_f,argmax_macs,alpha_entropy,phase"
    )


def synthetic_table(spec, ms=0.01, fixed=0.4, ref=0.8, target="torch-cpu") -> dict:
    """A cost table of the right shape (op j of cell i costs ms * (i + 1) * (j + 1))."""
    from a2d.models.cost_table import FORMAT
    from a2d.models.ops import CELL_OPS

    return {
        "format": FORMAT,
        "target": target,
        "spec": spec,
        "norm": "none",
        "choices": list(CELL_OPS),
        "cells": [
            {"cell": i, "ms": {op: ms * (i + 1) * (j + 1) for j, op in enumerate(CELL_OPS)}}
            for i in range(14)
        ],
        "fixed_ms": fixed,
        "reference": {"arch": "vanilla", "ms": ref},
    }


@pytest.fixture
def make_latency_hook(supernet, macs_table, tmp_path, monkeypatch):
    monkeypatch.setattr(hooks_mod, "cell_macs_table", lambda spec, n, norm: macs_table)

    def make(table=None, **search) -> SearchHook:
        scfg = SearchConfig(**{"warmup": 0.0, "cost": "latency", **search})
        table = synthetic_table(supernet_spec()) if table is None else table
        hook = SearchHook(supernet_spec(), scfg, ONE_LEVEL, 4, MACS_REF, tmp_path, cost_table=table)
        hook.setup(supernet, N_ACTIONS, "cpu")
        return hook

    return make


@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad")
def test_latency_cost_term_band_and_curve(make_latency_hook):
    hook = make_latency_hook(lambda_f=0.2, latency_band=[0.1, 0.2])  # below any net (>= 0.4)
    hook.on_iteration_start(0, 0)
    terms = hook.extra_losses(None, None, None)
    assert list(terms) == ["latency"]
    # uniform alpha: 0.2 * (0.4 + 0.01 * 105 * 5) / 0.8
    assert float(terms["latency"].detach()) == pytest.approx(0.2 * (0.4 + 5.25) / 0.8)
    terms["latency"].backward()
    g = (
        hook.ctl.alpha.grad
    )  # at uniform alpha: dearer than a cell's mean op (j > 4) up, cheaper down
    assert (g[:, :4] < 0).all() and (g[:, 5:] > 0).all()
    writer = Writer()
    hook.on_iteration_end(1, 64, writer)
    assert hook.lambda_f == pytest.approx(0.4)  # above the latency band: cost weighs more
    assert writer.scalars["search/argmax_latency_ms"] == pytest.approx(0.4 + 0.01 * 105)
    hook.on_evaluation(0, {"mean": 1.0, "std": 0.0})
    hook.write_outputs()
    header = (hook.out / "search_curve.csv").read_text().splitlines()[0].split(",")
    assert header[-2:] == ["expected_latency_ms", "argmax_latency_ms"]


def test_latency_cost_refuses_a_missing_or_foreign_table(make_latency_hook, tmp_path):
    from a2d.models.cost_table import CostTableError

    with pytest.raises(ValueError, match="needs a cost table"):
        SearchHook(supernet_spec(), SearchConfig(cost="latency"), ONE_LEVEL, 4, MACS_REF, tmp_path)
    other = synthetic_table({**supernet_spec(), "fc": 256})
    with pytest.raises(CostTableError, match="another supernet spec"):
        make_latency_hook(table=other)
