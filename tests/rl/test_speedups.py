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
