"""Play full games with a trained agent and record them: ``a2d play --run DIR --video out.mp4``.

The agent sees exactly what it saw in test evaluations (ale-py's vector env: frame skip with
max-pool, 84x84 grey, 4-frame stack, no-op starts, FIRE after a lost life, raw scores, frame cap).
The video comes from a second emulator seeded identically and fed the same actions, which
returns the full-resolution colour screen (210x160, max-pooled over the last two frames like the
agent's input); the two are checked to stay in lockstep (reward, lives, game over, frame number)
at every step. Frames are streamed to ffmpeg (``imageio-ffmpeg`` ships the binary), so a
30-minute game needs no more memory than a short one. The file is written beside its final name
and renamed into place when complete.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from a2d import A2DError
from a2d.config import EnvConfig, EvalConfig
from a2d.envs import eval_env_kwargs


class PlayError(A2DError):
    pass


def _env_kwargs(eval_cfg: EvalConfig, env_cfg: EnvConfig) -> dict[str, Any]:
    """The test-evaluation env settings (the ones run_test_episodes uses)."""
    return eval_env_kwargs(
        eval_cfg.frame_cap, eval_cfg.sticky, eval_cfg.noop_max, env_cfg.frameskip
    )


def make_policy(
    agent: torch.nn.Module, device: str, seed: int, greedy: bool = False
) -> Callable[[np.ndarray], np.ndarray]:
    """Actions sampled from the policy (the test protocol; private RNG) or its argmax."""
    g = torch.Generator().manual_seed(seed)

    def policy(obs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            logits, _ = agent(torch.from_numpy(obs).to(device))
            logits = logits.float().cpu()
        if greedy:
            return logits.argmax(-1).numpy()
        return torch.multinomial(torch.softmax(logits, -1), 1, generator=g).squeeze(1).numpy()

    return policy


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
    from a2d.envs import _EpisodeTracker, _fire_action, _make

    eval_cfg = eval_cfg or EvalConfig()
    env_cfg = env_cfg or EnvConfig()
    if episodes < 1:
        raise PlayError(f"episodes must be >= 1, got {episodes}")
    if scale < 1:
        raise PlayError(f"scale must be >= 1, got {scale}")
    if policy is None:
        agent.eval()
        policy = make_policy(agent, device, seed, greedy)
    kw = _env_kwargs(eval_cfg, env_cfg)
    fps = 60.0 / env_cfg.frameskip  # real time: the ALE runs at 60 frames per second
    result: dict[str, Any] = {}

    def run(video_path: Path | None) -> None:
        env = _make(game, 1, **kw)
        screen = None
        writer = None
        try:
            if video_path is not None:
                screen = _make(game, 1, img_height=210, img_width=160, grayscale=False,
                               stack_num=1, **kw)  # fmt: skip
            fire = _fire_action(env) if env_cfg.fire_on_life_loss else None
            obs, info = env.reset(seed=seed)
            if screen is not None:
                rgb, info_s = screen.reset(seed=seed)
                writer = _VideoWriter(video_path, rgb.shape[2:4], fps, scale)
                writer.write(rgb[0, 0])
            tracker = _EpisodeTracker(info, life_loss_terminates=False)
            scores: list[float] = []
            lengths: list[int] = []
            ret, length, step = 0.0, 0, 0
            pending_fire = False
            while len(scores) < episodes and (max_steps is None or step < max_steps):
                if on_obs is not None:
                    on_obs(obs)
                actions = np.asarray(policy(obs), dtype=np.int64).reshape(1)
                if fire is not None and pending_fire:
                    actions[0] = fire
                obs, raw, term, trunc, info = env.step(actions)
                if screen is not None:
                    rgb, raw_s, term_s, trunc_s, info_s = screen.step(actions)
                    same = (
                        raw_s[0] == raw[0]
                        and term_s[0] == term[0]
                        and trunc_s[0] == trunc[0]
                        and info_s["lives"][0] == info["lives"][0]
                        and info_s["episode_frame_number"][0] == info["episode_frame_number"][0]
                    )
                    if not same:
                        raise PlayError(
                            f"the video emulator fell out of step with the agent's at step {step}"
                        )
                    writer.write(rgb[0, 0])
                ret += float(raw[0])
                length += 1
                step += 1
                game_over, life_lost = tracker.update(term, trunc, info)
                pending_fire = bool(life_lost[0])
                if game_over[0]:
                    scores.append(ret)
                    lengths.append(length)
                    log(f"episode {len(scores)}: score {ret:g} in {length} steps")
                    ret, length = 0.0, 0
            result.update(scores=scores, lengths=lengths, steps=step)
            if writer is not None:
                result["video_frames"] = writer.frames
        finally:
            if writer is not None:
                writer.close()
            env.close()
            if screen is not None:
                screen.close()

    if video is None:
        run(None)
    else:
        if Path(video).suffix.lower() != ".mp4":
            raise PlayError(f"--video must name an .mp4 file, got {video}")
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
