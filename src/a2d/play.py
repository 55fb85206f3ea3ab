"""Play full games with a trained agent and record them: ``a2d play --run DIR --video out.mp4``.

The games are test-evaluation games: ``a2d.envs.run_test_episodes`` plays them (ale-py's
vector env: frame skip with max-pool, 84x84 grey, 4-frame stack, no-op starts, FIRE on reset
only, raw scores, frame cap) with ``a2d.rl.evaluate``'s sampling policy, so the same seed gives
evaluate()'s games. The video frames are its ``on_frame`` screens: full-resolution colour from a
second emulator kept in lockstep with the agent's. Frames are streamed to ffmpeg
(``imageio-ffmpeg`` ships the binary), so a 30-minute game needs no more memory than a short one.
The file is written beside its final name and renamed into place when complete.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from a2d import A2DError
from a2d.config import EnvConfig, EvalConfig


class PlayError(A2DError):
    pass


def check_video_path(video: str | Path) -> None:
    """A video is written as MP4: refuse another file name before any game is played."""
    if Path(video).suffix.lower() != ".mp4":
        raise PlayError(f"--video must name an .mp4 file, got {video}")


class _VideoWriter:
    """Streams RGB frames to an H.264 MP4 through imageio-ffmpeg's bundled ffmpeg."""

    def __init__(self, path: Path, size_hw: tuple[int, int], fps: float, scale: int):
        import imageio_ffmpeg

        self.scale = scale
        h, w = size_hw[0] * scale, size_hw[1] * scale
        self.frames = 0
        self._gen = imageio_ffmpeg.write_frames(
            str(path),
            (w, h),
            fps=fps,
            codec="libx264",
            quality=8,
            macro_block_size=2,  # 210x160 (x scale) is even: no resizing
            output_params=["-f", "mp4", "-movflags", "+faststart"],
        )
        self._gen.send(None)

    def write(self, frame: np.ndarray) -> None:
        if self.scale > 1:
            frame = frame.repeat(self.scale, axis=0).repeat(self.scale, axis=1)
        self._gen.send(np.ascontiguousarray(frame))
        self.frames += 1

    def close(self) -> None:
        self._gen.close()


def play(
    agent: torch.nn.Module,
    game: str,
    episodes: int = 1,
    *,
    seed: int = 1,
    eval_cfg: EvalConfig | None = None,
    env_cfg: EnvConfig | None = None,
    device: str = "cpu",
    greedy: bool = False,
    video: str | Path | None = None,
    scale: int = 2,
    max_steps: int | None = None,
    on_obs: Callable[[np.ndarray], None] | None = None,
    policy: Callable[[np.ndarray], np.ndarray] | None = None,
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """Play ``episodes`` full games (one env); optionally write them to an MP4 ``video``.

    ``on_obs(obs)`` sees every observation the agent acts on (uint8, 1x4x84x84); ``max_steps``
    stops early (an unfinished game is not scored). ``policy`` replaces the agent's (e.g. an
    exported model's). Returns scores, steps per game and the video's frame count.
    """
    from a2d.checkpoint import atomic_write
    from a2d.rl.evaluate import greedy_policy, protocol_episodes, sampling_policy

    eval_cfg = eval_cfg or EvalConfig()
    env_cfg = env_cfg or EnvConfig()
    if episodes < 1:
        raise PlayError(f"episodes must be >= 1, got {episodes}")
    if scale < 1:
        raise PlayError(f"scale must be >= 1, got {scale}")
    if policy is None:
        agent.eval()
        if greedy:
            policy = greedy_policy(agent, device)
        else:
            policy = sampling_policy(agent, device, torch.Generator().manual_seed(seed))
    fps = 60.0 / env_cfg.frameskip  # real time: the ALE runs at 60 frames per second
    result: dict[str, Any] = {}

    def run(video_path: Path | None) -> None:
        lengths: list[int] = []
        steps = 0
        writer: _VideoWriter | None = None

        def act(obs: np.ndarray) -> np.ndarray:
            nonlocal steps
            if on_obs is not None:
                on_obs(obs)
            steps += 1
            return policy(obs)

        def on_frame(_env: int, rgb: np.ndarray) -> None:
            nonlocal writer
            if writer is None:
                writer = _VideoWriter(video_path, rgb.shape[:2], fps, scale)
            writer.write(rgb)

        def on_episode(_env: int, score: float, length: int) -> None:
            lengths.append(length)
            log(f"episode {len(lengths)}: score {score:g} in {length} steps")

        try:
            scores = protocol_episodes(
                act,
                game,
                episodes,
                eval_cfg,
                env_cfg,
                seed,
                num_envs=1,
                on_frame=None if video_path is None else on_frame,
                on_episode=on_episode,
                max_steps=max_steps,
            )
            result.update(scores=scores, lengths=lengths, steps=steps)
            if writer is not None:
                result["video_frames"] = writer.frames
        finally:
            if writer is not None:
                writer.close()

    if video is None:
        run(None)
    else:
        check_video_path(video)
        atomic_write(video, run)
        result["video"] = str(video)
        result["video_fps"] = fps
    scores = result["scores"]
    result.update(
        game=game,
        episodes=len(scores),
        mean=float(np.mean(scores)) if scores else float("nan"),
        policy="greedy" if greedy else "sampled",
        seed=seed,
    )
    return result


def play_run(
    run: str | Path,
    episodes: int = 1,
    *,
    video: str | Path | None = None,
    seed: int = 1,
    eval_cfg: EvalConfig | None = None,
    env_cfg: EnvConfig | None = None,
    device: str = "cpu",
    greedy: bool = False,
    scale: int = 2,
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """``play`` the agent of a run directory (its agent.pt), or of an agent.pt path."""
    from a2d.models.agent_file import load_agent

    run = Path(run)
    agent_path = run / "agent.pt" if run.is_dir() else run
    if not agent_path.exists():
        raise PlayError(f"{run}: no agent.pt (is it a finished run directory?)")
    agent, ckpt = load_agent(agent_path, device)
    res = play(
        agent,
        ckpt["game"],
        episodes,
        seed=seed,
        eval_cfg=eval_cfg,
        env_cfg=env_cfg,
        device=device,
        greedy=greedy,
        video=video,
        scale=scale,
        log=log,
    )
    return {"arch": ckpt["spec"].get("arch"), "run": str(run), **res}
