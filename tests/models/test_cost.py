"""a2d.models.cost: MACs and parameter counts."""

from __future__ import annotations

import pytest
import torch

from a2d.models import build, count_macs, count_params
from a2d.models.cost import cpu_latency_ms, model_card


def conv_out(size: int, k: int, s: int, pad: int = 0) -> int:
    return (size + 2 * pad - k) // s + 1


def vanilla_macs_by_hand(n_actions: int) -> int:
    """Nature CNN: MACs = C_out * H_out * W_out * C_in * k * k per conv, in * out per linear."""
    h1 = conv_out(84, 8, 4)  # 20
    h2 = conv_out(h1, 4, 2)  # 9
    h3 = conv_out(h2, 3, 1)  # 7
    assert (h1, h2, h3) == (20, 9, 7)
    conv1 = 32 * h1 * h1 * 4 * 8 * 8
    conv2 = 64 * h2 * h2 * 32 * 4 * 4
    conv3 = 64 * h3 * h3 * 64 * 3 * 3
    flat = 64 * h3 * h3  # 3136
    fc = flat * 512
    heads = 512 * (n_actions + 1)  # actor + critic
    return conv1 + conv2 + conv3 + fc + heads


def vanilla_params_by_hand(n_actions: int) -> int:
    conv1 = 32 * 4 * 8 * 8 + 32
    conv2 = 64 * 32 * 4 * 4 + 64
    conv3 = 64 * 64 * 3 * 3 + 64
    fc = 3136 * 512 + 512
    heads = (512 * n_actions + n_actions) + (512 + 1)
    return conv1 + conv2 + conv3 + fc + heads


@pytest.mark.parametrize("n_actions", [4, 18])
def test_vanilla_macs_match_hand_computation(n_actions):
    macs = count_macs(build("vanilla", n_actions))
    expected = vanilla_macs_by_hand(n_actions)
    assert macs == pytest.approx(expected, rel=1e-4)
    assert macs / 1e6 == pytest.approx(9.3, abs=0.1)  # the paper's 9.3M


@pytest.mark.parametrize("n_actions", [4, 18])
def test_vanilla_params_match_hand_computation(n_actions):
    assert count_params(build("vanilla", n_actions)) == vanilla_params_by_hand(n_actions)


def test_resnet_macs_strictly_increase_with_depth():
    macs = [count_macs(build(f"resnet{d}", 4)) for d in (8, 14, 20)]
    assert macs[0] > count_macs(build("vanilla", 4))
    assert macs[0] < macs[1] < macs[2]


@pytest.mark.parametrize("arch", ["vanilla", "resnet8", "supernet"])
def test_params_equal_sum_of_numel(arch):
    m = build(arch, 6)
    n = count_params(m)
    assert n == sum(t.numel() for t in m.state_dict().values())  # no buffers without norm
    assert n == sum(p.numel() for p in m.parameters())


def test_count_macs_keeps_training_mode_and_ignores_batch_norm_stats():
    m = build("resnet8", 4, norm="batch")
    m.train()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    count_macs(m)
    assert m.training
    after = m.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_model_card():
    m = build("vanilla", 4)
    card = model_card(m, "vanilla")
    assert card["arch"] == "vanilla"
    assert card["macs"] == count_macs(m)
    assert card["params"] == vanilla_params_by_hand(4)


def test_cpu_latency_positive():
    assert cpu_latency_ms(build("vanilla", 4), repeats=3, warmup=1) > 0
