"""The speed measures of models/ops.py are exact: the fused Conv2d -> ReLU kernel, in-place
ReLUs and the allocator setting give the same outputs and gradients, bit for bit, as the plain
modules (`plain_ops`), and the fused kernel is really used in a training step."""

from __future__ import annotations

import pytest
import torch

from a2d.models import build, count_macs
from a2d.models.builder import derived_spec
from a2d.models.ops import FUSE, _ConvReLU, keep_freed_memory, plain_ops

pytestmark = pytest.mark.skipif(not FUSE["conv_relu"], reason="no oneDNN fused convolution")

ALL_OPS = ["k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6", "skip"]
#: every op once, in a stride-2 cell and in a residual one, for the 14 cells
MIXED = ALL_OPS[:5] + [
    "k5_e6",
    "k3_e3",
    "skip",
    "k5_e1_g2",
    "k5_e3",
    "k3_e6",
    "k3_e1",
    "k5_e6",
    "k3_e1_g2",
]


def _step_grads(net, x):
    logits, value = net(x)
    loss = logits.logsumexp(-1).mean() + value.pow(2).mean()
    net.zero_grad(set_to_none=True)
    loss.backward()
    return [logits.detach(), value.detach()] + [p.grad.clone() for p in net.parameters()]


@pytest.mark.parametrize(
    "arch,norm",
    [
        (derived_spec(MIXED), "none"),
        (derived_spec(["k3_e3"] * 14), "none"),
        ("vanilla", "none"),
        ("resnet8", "none"),
        (derived_spec(MIXED), "group"),
        ("resnet8", "batch"),
        (derived_spec(["k3_e1_g2"] * 14), "none"),  # grouped 1x1 convs: left plain (ops._fusable)
    ],
    ids=[
        "derived_mixed",
        "derived_k3_e3",
        "vanilla",
        "resnet8",
        "derived_group",
        "resnet8_bn",
        "derived_grouped_1x1",
    ],  # fmt: skip
)
def test_fused_step_is_bitwise_the_plain_step(arch, norm, monkeypatch):
    torch.manual_seed(0)
    net = build(arch, 6, norm=norm)
    x = torch.randint(0, 256, (5, 4, 84, 84), dtype=torch.uint8)
    calls = []
    apply = _ConvReLU.apply
    monkeypatch.setattr(_ConvReLU, "apply", lambda *a: calls.append(1) or apply(*a))
    fused = _step_grads(net, x)
    # fused: every Conv2d -> ReLU pair; with a norm only the stem and head convs (no norm there)
    assert calls, "the fused kernel was not used"
    n_fused = len(calls)
    with plain_ops():
        plain = _step_grads(net, x)
    assert len(calls) == n_fused  # plain_ops really ran the plain modules
    assert len(fused) == len(plain)
    for a, b in zip(fused, plain):
        assert torch.equal(a, b)


def test_no_fusion_without_grad_and_macs_unchanged(monkeypatch):
    net = build(derived_spec(["k3_e3"] * 14), 4)
    calls = []
    apply = _ConvReLU.apply
    monkeypatch.setattr(_ConvReLU, "apply", lambda *a: calls.append(1) or apply(*a))
    with torch.no_grad():
        net(torch.zeros(2, 4, 84, 84, dtype=torch.uint8))
    assert not calls  # rollouts, export and the FLOP counter run the plain modules
    macs = count_macs(net)
    with plain_ops():
        assert count_macs(net) == macs
    # the derived all-k3_e3 net's documented MACs (docs/search-space.md)
    assert round(macs / 1e6, 1) == 25.1


def test_keep_freed_memory_is_on_linux():
    if not torch.cuda.is_available() and __import__("sys").platform.startswith("linux"):
        assert keep_freed_memory() is True
