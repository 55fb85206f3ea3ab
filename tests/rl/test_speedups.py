"""Issue 6: the throughput changes keep every number the same (the frame scaling, the
channels-last rollout storage) and a2d's OpenMP default. The end-to-end check, a tiny run's
curve.csv, eval.json and weights hashed before vs after, is benchmarks/outputs_sha.py."""

from __future__ import annotations

import os

import torch

import a2d
from a2d.models import build


def test_frame_scaling_is_bitwise_the_old_one_and_leaves_float_inputs_alone():
    torch.manual_seed(0)
    agent = build("vanilla", 4)
    x = torch.randint(0, 256, (5, 4, 84, 84), dtype=torch.uint8)
    old = x.contiguous(memory_format=torch.channels_last).float() / 255.0
    with torch.no_grad():
        logits, value = agent(x)
        ref_h = agent.fc(agent.body(old))
        assert torch.equal(logits, agent.actor(ref_h))
        assert torch.equal(value, agent.critic(ref_h).squeeze(-1))
        xf = x.float()
        before = xf.clone()
        agent(xf)
        assert torch.equal(xf, before)  # scaled a copy, not the caller's tensor


def test_channels_last_rollout_storage_gathers_the_same_frames_in_the_nets_layout():
    T, N = 3, 2
    obs = torch.zeros((T, N, 84, 84, 4), dtype=torch.uint8).permute(0, 1, 4, 2, 3)
    plain = torch.zeros((T, N, 4, 84, 84), dtype=torch.uint8)
    for t in range(T):
        frame = torch.randint(0, 256, (N, 4, 84, 84), dtype=torch.uint8)
        obs[t], plain[t] = frame, frame
    b_obs, b_plain = obs.reshape(-1, 4, 84, 84), plain.reshape(-1, 4, 84, 84)
    assert b_obs.data_ptr() == obs.data_ptr()  # a view, no copy
    mb = torch.tensor([5, 0, 3])
    assert torch.equal(b_obs[mb], b_plain[mb])
    assert b_obs[mb].is_contiguous(memory_format=torch.channels_last)


def test_openmp_threads_wait_passively_unless_told_otherwise():
    assert a2d.__version__
    assert os.environ.get("OMP_WAIT_POLICY")


# ---- bf16 autocast (config `precision`) -----------------------------------------------------


def test_heads_stay_float32_under_bf16_autocast_and_output_is_close():
    torch.manual_seed(0)
    agent = build("vanilla", 6)
    x = torch.randint(0, 256, (4, 4, 84, 84), dtype=torch.uint8)
    with torch.no_grad():
        ref_logits, ref_value = agent(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits, value = agent(x)
            h = agent.features(x)
    assert h.dtype == torch.bfloat16  # the hidden layers did run in bf16
    assert logits.dtype == torch.float32 and value.dtype == torch.float32
    assert not torch.equal(logits, ref_logits)  # bf16 really changed the numbers ...
    torch.testing.assert_close(logits, ref_logits, atol=2e-2, rtol=0.05)  # ... a little
    torch.testing.assert_close(value, ref_value, atol=5e-2, rtol=0.05)


def test_depthwise_convs_stay_float32_under_cpu_autocast_and_are_plain_conv2d_otherwise():
    from a2d.models.builder import derived_spec
    from a2d.models.ops import DepthwiseConv2d

    torch.manual_seed(0)
    agent = build(derived_spec(["k5_e6"] * 14), 4)
    dws = [m for m in agent.modules() if isinstance(m, DepthwiseConv2d)]
    assert len(dws) == 14  # one per cell, and no other conv is one
    assert all(m.groups == m.in_channels == m.out_channels for m in dws)
    x = torch.randn(2, dws[0].in_channels, 21, 21).to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = dws[0](x)
    assert y.dtype == torch.float32
    xf = torch.randn(2, dws[0].in_channels, 21, 21)
    plain = torch.nn.functional.conv2d(
        xf, dws[0].weight, dws[0].bias, dws[0].stride, dws[0].padding, 1, dws[0].groups
    )
    assert torch.equal(dws[0](xf), plain)
    # state_dict keys are those of a plain nn.Conv2d: agent.pt files of before still load
    c = dws[0]
    ref = torch.nn.Conv2d(c.in_channels, c.out_channels, c.kernel_size, groups=c.groups)
    assert set(c.state_dict()) == set(ref.state_dict()) == {"weight", "bias"}


def test_resolve_precision(monkeypatch):
    import pytest

    from a2d import config

    monkeypatch.setattr(config, "cpu_native_bf16", lambda: True)
    assert config.resolve_precision("auto", "cpu") == "bf16"
    monkeypatch.setattr(config, "cpu_native_bf16", lambda: False)
    assert config.resolve_precision("auto", "cpu") == "fp32"
    assert config.resolve_precision("bf16", "cpu") == "bf16"
    assert config.resolve_precision("fp32", "cuda") == "fp32"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert config.resolve_precision("auto", "cuda") == "bf16"
    with pytest.raises(
        config.ConfigError, match="unknown precision 'fp16'; valid: auto, fp32, bf16"
    ):
        config.resolve_precision("fp16", "cpu")


def test_cpu_native_bf16_reads_the_cpu_flags():
    from a2d.config import cpu_native_bf16

    flags = set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    assert cpu_native_bf16() == bool(flags & {"amx_bf16", "avx512_bf16"})
