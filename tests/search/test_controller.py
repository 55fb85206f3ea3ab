"""a2d.search.controller.ArchController: how the mixed cells run (hard / soft / warm-up / argmax),
the per-iteration Gumbel noise, the temperature schedule and the MACs expectations."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

from a2d.models import build, count_macs
from a2d.models.builder import derived_spec, supernet_spec
from a2d.models.ops import CELL_OPS, MixedOp
from a2d.search.controller import ArchController

N_ACTIONS = 4
K5 = CELL_OPS.index("k5_e6")
SKIP = CELL_OPS.index("skip")


def frames(batch: int = 2, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, 4, 84, 84), generator=g, dtype=torch.uint8)


def controller(agent, macs_table, mode="hard", **kw) -> ArchController:
    table, fixed, _ = macs_table
    return ArchController(agent, table, fixed, mode=mode, **kw)


def cells_of(agent) -> list[MixedOp]:
    return [m for m in agent.modules() if isinstance(m, MixedOp)]


def count_runs(agent) -> list[Counter]:
    """Forward hooks on every candidate: counts[i][j] = calls of op j of cell i."""
    counts = [Counter() for _ in cells_of(agent)]
    for i, cell in enumerate(cells_of(agent)):
        for j, op in enumerate(cell.candidates):
            op.register_forward_hook(lambda m, a, o, i=i, j=j: counts[i].update([j]))
    return counts


def test_constructor_defaults_and_errors(supernet, macs_table):
    ctl = controller(supernet, macs_table)
    assert ctl.alpha.shape == (14, len(CELL_OPS))
    assert torch.equal(ctl.alpha.detach(), torch.zeros(14, 9))  # alpha starts at 0
    assert (ctl.tau_start, ctl.tau_end) == (5.0, 0.5)  # docs/method.md#temperature-schedule
    assert ctl.choices == list(CELL_OPS)
    assert [c.cell for c in cells_of(supernet)] == list(range(14))
    with pytest.raises(ValueError, match="hard, soft"):
        controller(supernet, macs_table, mode="medium")
    with pytest.raises(ValueError, match="no searchable"):
        controller(build("vanilla", N_ACTIONS), macs_table)


# ---- hard mode: one op per cell, straight-through weight


def test_hard_weight_is_one_and_its_gradient_reaches_only_its_row(supernet, macs_table):
    torch.manual_seed(0)
    ctl = controller(supernet, macs_table, mode="hard")
    ctl.new_iteration(progress=0.5, warmup=False)
    for i in (0, 6, 13):
        ctl.alpha.grad = None
        kind, j, w = ctl.cell_weights(i)
        assert kind == "hard" and j == int(ctl.index[i])
        assert float(w.detach()) == pytest.approx(1.0, abs=1e-6)
        assert w.requires_grad
        w.backward()
        g = ctl.alpha.grad
        assert g[i].abs().sum() > 0
        others = torch.cat([g[:i], g[i + 1 :]])
        assert torch.equal(others, torch.zeros_like(others))


def test_hard_forward_runs_only_the_sampled_op_and_backprops_to_alpha(supernet, macs_table):
    torch.manual_seed(0)
    ctl = controller(supernet, macs_table, mode="hard")
    ctl.new_iteration(progress=0.5, warmup=False)
    counts = count_runs(supernet)
    logits, value = supernet(frames())
    assert logits.shape == (2, N_ACTIONS) and value.shape == (2,)
    (logits.sum() + value.sum()).backward()
    index = ctl.index.tolist()
    assert len(set(index)) > 1  # the sample is not one op everywhere (seeded)
    for i, cell in enumerate(cells_of(supernet)):
        assert counts[i] == Counter({index[i]: 1}), f"cell {i}"
        for j, op in enumerate(cell.candidates):
            grads = [p.grad for p in op.parameters()]
            if j == index[i]:
                assert all(g is not None for g in grads)
            else:
                assert all(g is None for g in grads), f"cell {i}: op {j} did not run"
    g = ctl.alpha.grad
    assert g is not None and torch.isfinite(g).all()
    assert (g.abs().sum(-1) > 0).all()  # every cell's row gets a gradient


def test_inference_mode_runs_the_same_ops_without_weights(supernet, macs_table):
    torch.manual_seed(1)
    ctl = controller(supernet, macs_table, mode="hard")
    ctl.new_iteration(progress=0.3, warmup=False)
    grad_idx = [ctl.cell_weights(i)[1] for i in range(14)]
    with torch.inference_mode():
        for i in range(14):
            assert ctl.cell_weights(i) == ("hard", grad_idx[i], None)
    counts = count_runs(supernet)
    x = frames()
    with torch.inference_mode():
        logits_inf, value_inf = supernet(x)
    assert [list(c) for c in counts] == [[j] for j in grad_idx]
    logits, value = supernet(x)  # the same net, with straight-through weights of value 1
    torch.testing.assert_close(logits.detach(), logits_inf, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(value.detach(), value_inf, rtol=1e-5, atol=1e-6)


# ---- soft mode: the weighted sum of every op


def test_soft_mode_runs_every_op_with_weights_summing_to_one(supernet, macs_table):
    torch.manual_seed(0)
    # At initialisation every shape-keeping op is the identity (zero-init projections), so the
    # soft mixture of them does not depend on alpha; move the weights off that point first.
    with torch.no_grad():
        for p in supernet.parameters():
            p.add_(0.05 * torch.randn_like(p))
    ctl = controller(supernet, macs_table, mode="soft")
    ctl.new_iteration(progress=0.5, warmup=False)
    for i in range(14):
        kind, w = ctl.cell_weights(i)
        assert kind == "soft" and w.shape == (len(CELL_OPS),)
        assert float(w.detach().sum()) == pytest.approx(1.0, abs=1e-6)
        assert (w > 0).all()
        expected = torch.softmax((ctl.alpha[i] + ctl.noise[i]) / ctl.tau, -1)
        torch.testing.assert_close(w, expected)
    counts = count_runs(supernet)
    logits, value = supernet(frames(1))
    assert all(c == Counter(range(len(CELL_OPS))) for c in counts)
    (logits.sum() + value.sum()).backward()
    assert (ctl.alpha.grad.abs().sum(-1) > 0).all()


# ---- the Gumbel noise: drawn once per PPO iteration


def test_noise_and_index_fixed_within_an_iteration(supernet, macs_table):
    torch.manual_seed(0)
    ctl = controller(supernet, macs_table, mode="hard")
    ctl.new_iteration(progress=0.2, warmup=False)
    noise0, index0 = ctl.noise.clone(), ctl.index.clone()
    assert noise0.abs().sum() > 0
    assert torch.equal(index0, (ctl.alpha + ctl.noise).argmax(-1))
    idx0 = [ctl.cell_weights(i)[1] for i in range(14)]
    assert idx0 == index0.tolist()

    # a minibatch: forward, backward, an alpha step (a large one, so alpha surely moves)
    opt = torch.optim.Adam([ctl.alpha], lr=0.5)
    for _ in range(2):
        logits, value = supernet(frames())
        opt.zero_grad()
        (logits.sum() + value.sum()).backward()
        opt.step()
    assert ctl.alpha.detach().abs().sum() > 0
    assert torch.equal(ctl.noise, noise0)
    assert torch.equal(ctl.index, index0)
    assert [ctl.cell_weights(i)[1] for i in range(14)] == idx0
    with torch.inference_mode():
        assert [ctl.cell_weights(i)[1] for i in range(14)] == idx0
    with torch.no_grad():
        assert [ctl.cell_weights(i)[1] for i in range(14)] == idx0

    ctl.new_iteration(progress=0.4, warmup=False)  # the next PPO iteration draws again
    assert not torch.equal(ctl.noise, noise0)
    assert torch.equal(ctl.index, (ctl.alpha + ctl.noise).argmax(-1))
    assert [ctl.cell_weights(i)[1] for i in range(14)] == ctl.index.tolist()


@pytest.mark.parametrize("progress", [0.0, 0.25, 0.5, 0.8, 1.0])
def test_temperature_anneals_exponentially(supernet, macs_table, progress):
    ctl = controller(supernet, macs_table, tau_start=4.0, tau_end=0.25)
    ctl.new_iteration(progress=progress, warmup=False)
    assert ctl.tau == pytest.approx(4.0 * (0.25 / 4.0) ** progress, rel=1e-9)
    assert math.log(ctl.tau) == pytest.approx(math.log(4.0) + progress * math.log(0.25 / 4.0))


def test_temperature_endpoints_and_clamping(supernet, macs_table):
    ctl = controller(supernet, macs_table)
    taus = []
    for p in (-0.5, 0.0, 0.5, 1.0, 1.5):
        ctl.new_iteration(progress=p, warmup=False)
        taus.append(ctl.tau)
    assert taus[0] == taus[1] == pytest.approx(5.0)
    assert taus[2] == pytest.approx(math.sqrt(5.0 * 0.5))  # geometric midpoint
    assert taus[3] == taus[4] == pytest.approx(0.5)


# ---- warm-up: uniform sampling, no path to alpha


def test_warmup_samples_ops_uniformly(supernet, macs_table):
    torch.manual_seed(0)
    ctl = controller(supernet, macs_table)
    draws = 300
    per_cell = [Counter() for _ in range(14)]
    for _ in range(draws):
        ctl.new_iteration(progress=0.0, warmup=True)
        for i in range(14):
            kind, j, w = ctl.cell_weights(i)
            assert (kind, w) == ("hard", None)  # no straight-through weight, even with grad on
            per_cell[i][j] += 1
    assert all(set(c) == set(range(len(CELL_OPS))) for c in per_cell)
    pooled = sum(per_cell, Counter())
    expected = draws * 14 / len(CELL_OPS)
    assert all(0.8 * expected < pooled[j] < 1.2 * expected for j in range(len(CELL_OPS)))
    assert torch.equal(ctl.alpha.detach(), torch.zeros_like(ctl.alpha))  # sampling ignores alpha


def test_warmup_forward_does_not_reach_alpha(supernet, macs_table):
    torch.manual_seed(0)
    ctl = controller(supernet, macs_table)
    with torch.no_grad():
        ctl.alpha[:, K5] = 50.0  # a warm-up sample must not follow alpha
    ctl.new_iteration(progress=0.0, warmup=True)
    assert ctl.index.tolist() != [K5] * 14
    logits, value = supernet(frames())
    (logits.sum() + value.sum()).backward()
    assert ctl.alpha.grad is None


def test_argmax_context(supernet, macs_table):
    torch.manual_seed(0)
    ctl = controller(supernet, macs_table)
    with torch.no_grad():
        ctl.alpha.normal_()
    ctl.new_iteration(progress=0.5, warmup=False)
    sampled = ctl.index.tolist()
    best = ctl.alpha.argmax(-1).tolist()
    assert sampled != best  # seeded: the Gumbel sample differs from the argmax somewhere
    with ctl.argmax_context():
        assert [ctl.cell_weights(i) for i in range(14)] == [("hard", j, None) for j in best]
        counts = count_runs(supernet)
        with torch.inference_mode():
            supernet(frames(1))
        assert [list(c) for c in counts] == [[j] for j in best]
    assert ctl.state == "search"
    assert [ctl.cell_weights(i)[1] for i in range(14)] == sampled


# ---- costs


def test_expected_macs_at_uniform_alpha(supernet, macs_table):
    table, fixed, _ = macs_table
    ctl = controller(supernet, macs_table)
    expected = fixed + sum(sum(row) / len(row) for row in table)
    assert float(ctl.expected_macs().detach()) == pytest.approx(expected, rel=1e-6)


def test_expected_macs_is_differentiable_in_alpha(supernet, macs_table):
    ctl = controller(supernet, macs_table)
    e = ctl.expected_macs()
    assert e.requires_grad
    e.backward()
    g = ctl.alpha.grad
    assert g is not None and torch.isfinite(g).all()
    assert (g[:, K5] > 0).all()  # the dearest op of every cell: more of it costs more
    assert (g[:, SKIP] < 0).all()
    before = float(e.detach())
    with torch.no_grad():
        ctl.alpha[3, K5] += 1.0
    assert float(ctl.expected_macs().detach()) > before
    with torch.no_grad():
        ctl.alpha[3, K5] -= 1.0
        ctl.alpha[3, SKIP] += 1.0
    assert float(ctl.expected_macs().detach()) < before


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_argmax_macs_equals_the_derived_net(supernet, macs_table, seed):
    torch.manual_seed(seed)
    ctl = controller(supernet, macs_table)
    with torch.no_grad():
        ctl.alpha.normal_()
    ops = ctl.argmax_ops()
    assert ops == [CELL_OPS[j] for j in ctl.alpha.argmax(-1).tolist()]
    assert ctl.argmax_macs() == count_macs(build(derived_spec(ops), N_ACTIONS))


def test_entropy_normalised(supernet, macs_table):
    ctl = controller(supernet, macs_table)
    assert ctl.entropy() == pytest.approx(1.0, abs=1e-6)
    with torch.no_grad():
        ctl.alpha[:, 0] = 30.0
    assert ctl.entropy() == pytest.approx(0.0, abs=1e-6)


def test_attaching_a_controller_leaves_the_agents_parameters_alone(macs_table):
    agent = build(supernet_spec(), N_ACTIONS)
    keys = set(agent.state_dict())
    n_params = len(list(agent.parameters()))
    ctl = controller(agent, macs_table)
    assert all(p is not ctl.alpha for p in agent.parameters())
    assert len(list(agent.parameters())) == n_params
    assert set(agent.state_dict()) == keys


# ---- the latency cost (search.cost: latency)


def latency_table(n=14) -> list[list[float]]:
    """A synthetic table (ms): op j of cell i costs 0.01 * (i + 1) * (j + 1)."""
    return [[0.01 * (i + 1) * (j + 1) for j in range(len(CELL_OPS))] for i in range(n)]


def test_expected_latency_at_uniform_alpha_and_argmax(supernet, macs_table):
    ctl = controller(supernet, macs_table, latency_table=latency_table(), latency_fixed=0.5)
    # uniform: fixed + sum_i mean_j 0.01 (i+1)(j+1) = 0.5 + 0.01 * 105 * 5
    assert float(ctl.expected_latency().detach()) == pytest.approx(0.5 + 0.01 * 105 * 5)
    with torch.no_grad():
        ctl.alpha[:, 2] = 5.0  # argmax: op 2 everywhere
    assert ctl.argmax_latency() == pytest.approx(0.5 + 0.01 * 105 * 3)


def test_expected_latency_is_differentiable_in_alpha(supernet, macs_table):
    torch.manual_seed(0)
    ctl = controller(supernet, macs_table, latency_table=latency_table(), latency_fixed=0.5)
    with torch.no_grad():
        ctl.alpha.normal_()
    e = ctl.expected_latency()
    e.backward()
    g = ctl.alpha.grad.clone()
    assert torch.isfinite(g).all() and (g.abs() > 0).all()
    # finite differences (float64 copy of the same expectation through the controller)
    ctl64 = controller(supernet, macs_table, latency_table=latency_table(), latency_fixed=0.5)
    ctl64.double()
    eps = 1e-6
    for i, j in [(0, 0), (5, 3), (13, 8), (7, 2)]:
        with torch.no_grad():
            ctl64.alpha.copy_(ctl.alpha.double())
            ctl64.alpha[i, j] += eps
            up = float(ctl64.expected_latency())
            ctl64.alpha[i, j] -= 2 * eps
            down = float(ctl64.expected_latency())
        assert (up - down) / (2 * eps) == pytest.approx(float(g[i, j]), rel=1e-3, abs=1e-7)


def test_without_a_latency_table_the_latency_cost_is_refused(supernet, macs_table):
    ctl = controller(supernet, macs_table)
    with pytest.raises(ValueError, match="no latency table"):
        ctl.expected_latency()
    with pytest.raises(ValueError, match="14 rows of 9 ops"):
        controller(supernet, macs_table, latency_table=latency_table(n=13))
