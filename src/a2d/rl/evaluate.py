"""Test evaluation: full games, raw scores, no-op starts, frame cap, episodes in parallel."""

from __future__ import annotations

import numpy as np
import torch

from a2d import faults
from a2d.config import EnvConfig, EvalConfig
from a2d.envs import run_test_episodes


def eval_seed(seed: int, tag: int) -> int:
    """A seed for evaluation number ``tag`` of run ``seed``, distinct from training seeds."""
    return int(np.random.SeedSequence([seed, 7, tag]).generate_state(1)[0] % (2**31 - 1))


def sampling_policy(agent: torch.nn.Module, device: str, generator: torch.Generator):
    """Actions sampled from the policy (the paper's protocol), with a private RNG so evaluations
    never disturb the training run's random stream."""

    def policy(obs: np.ndarray) -> np.ndarray:
        faults.point("eval")
        with torch.inference_mode():
            logits, _ = agent(torch.from_numpy(obs).to(device))
            probs = torch.softmax(logits.float(), -1).cpu()
        return torch.multinomial(probs, 1, generator=generator).squeeze(1).numpy()

    return policy


def greedy_policy(agent: torch.nn.Module, device: str):
    """The policy's most likely action (no random draws): for watching or comparing agents."""

    def policy(obs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            logits, _ = agent(torch.from_numpy(obs).to(device))
        return logits.float().cpu().argmax(-1).numpy()

    return policy


def protocol_episodes(
    policy,
    game: str,
    episodes: int,
    eval_cfg: EvalConfig,
    env_cfg: EnvConfig,
    seed: int,
    num_envs: int | None = None,
    **hooks,
) -> list[float]:
    """``episodes`` test games of ``policy`` under the test protocol of ``eval_cfg`` (frame cap,
    sticky actions, no-op starts) and the env dynamics of ``env_cfg``; ``hooks`` go to
    :func:`a2d.envs.run_test_episodes` (``on_frame``, ``on_episode``, ``max_steps``)."""
    return run_test_episodes(
        policy,
        game,
        episodes=episodes,
        num_envs=eval_cfg.num_envs if num_envs is None else num_envs,
        frame_cap=eval_cfg.frame_cap,
        sticky=eval_cfg.sticky,
        noop_max=eval_cfg.noop_max,
        frameskip=env_cfg.frameskip,
        seed=seed,
        **hooks,
    )


def _summary(scores: list[float], eval_cfg: EvalConfig) -> dict:
    """The eval.json fields of a set of test games."""
    return {
        "mean": float(np.mean(scores)),
        "std": float(np.std(scores)),
        "episodes": len(scores),
        "scores": scores,
        "frame_cap": eval_cfg.frame_cap,
        "sticky": eval_cfg.sticky,
        "noop_max": eval_cfg.noop_max,
    }


def evaluate(
    agent: torch.nn.Module,
    game: str,
    episodes: int,
    eval_cfg: EvalConfig,
    env_cfg: EnvConfig,
    seed: int,
    device: str = "cpu",
) -> dict:
    """Play ``episodes`` test games; return the eval.json fields."""
    was_training = agent.training
    agent.eval()
    g = torch.Generator().manual_seed(seed)
    try:
        scores = protocol_episodes(
            sampling_policy(agent, device, g), game, episodes, eval_cfg, env_cfg, seed
        )
    finally:
        agent.train(was_training)
    return _summary(scores, eval_cfg)


def evaluate_random(
    game: str, episodes: int, eval_cfg: EvalConfig, env_cfg: EnvConfig, seed: int
) -> dict:
    """The uniform-random policy on the same test protocol (the floor every score is read against)."""
    from a2d.envs import _make

    probe = _make(game, 1)
    n_actions = int(probe.single_action_space.n)
    probe.close()
    rng = np.random.default_rng(seed)
    scores = protocol_episodes(
        lambda obs: rng.integers(0, n_actions, size=len(obs)),
        game,
        episodes,
        eval_cfg,
        env_cfg,
        seed,
    )
    return {"policy": "random", **_summary(scores, eval_cfg)}
