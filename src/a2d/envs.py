"""Atari environments: game names, the training vector env, the test-evaluation vector env.

Both are ale-py's C++ ``AtariVectorEnv`` (frame skip with max-pool, 84x84 grey, 4-frame stack,
no-op starts, FIRE on reset) built with an explicit ``repeat_action_probability``.

Training: a lost life ends the episode for the value bootstrap while the game goes
on (``life_loss_info``), rewards are clipped to their sign here (the env returns raw rewards, so
true game scores can be logged), and with ``env.fire_on_life_loss`` the env presses FIRE itself
at the step after a lost life, in games whose action 1 is FIRE (what CleanRL's
FireReset-over-EpisodicLife wrapper order does; ale-py fires only on a full reset). The env says
so before that step (``TrainEnv.forced_actions``), so the rollout stores FIRE, the action
executed, not the one the policy sampled. Test evaluation: full games, raw rewards, no life-loss
ends, frame cap, every action the policy's (FIRE on reset only).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from a2d import A2DError
from a2d.config import EnvConfig


class GameError(A2DError):
    pass


class EnvSetupError(A2DError, ValueError):
    """Env settings that cannot work together (the config check refuses them first)."""


def _camel(rom_id: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in rom_id.split("_"))


def _norm(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "").replace(" ", "")


@functools.cache
def _games() -> dict[str, str]:
    from ale_py import roms

    return {_norm(r): r for r in roms.get_all_rom_ids()}


def valid_games() -> list[str]:
    """Every game ale-py ships, in the usual CamelCase spelling (Breakout, MsPacman, ...)."""
    return sorted(_camel(r) for r in _games().values())


def rom_id(game: str) -> str:
    """ALE ROM id (``ms_pacman``) of a game in any usual spelling (MsPacman, ALE/MsPacman-v5)."""
    name = game
    if name.startswith("ALE/"):
        name = name[4:]
    for suffix in ("-v5", "-v4", "NoFrameskip", "Deterministic"):
        name = name.replace(suffix, "")
    try:
        return _games()[_norm(name)]
    except KeyError:
        raise GameError(unknown_game_message(game, name)) from None


def unknown_game_message(game: str, name: str | None = None) -> str:
    """One line: ``game`` is unknown, the valid names closest to ``name`` (``game`` without an
    ``ALE/`` prefix or version suffix), and where to find them all."""
    import difflib

    games = valid_games()
    by_norm = {_norm(g): g for g in games}
    close = difflib.get_close_matches(_norm(name or game), list(by_norm), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(by_norm[c] for c in close)}?" if close else ""
    return f"unknown game {game!r}{hint} ('a2d games' lists all {len(games)} valid ALE games)"


def canonical(game: str) -> str:
    """The CamelCase name used in paths and tables."""
    return _camel(rom_id(game))


def _make(game: str, num_envs: int, **kw):
    from ale_py.vector_env import AtariVectorEnv

    return AtariVectorEnv(rom_id(game), num_envs, autoreset_mode="SameStep", **kw)


def _fire_action(env) -> int | None:
    from ale_py import Action

    actions = list(env.ale.get_action_set())
    return 1 if len(actions) > 1 and actions[1] == Action.FIRE else None


class _EpisodeTracker:
    """Finds real game ends and life losses from the info ale-py returns (SameStep autoreset)."""

    def __init__(self, info, life_loss_terminates: bool):
        self.lives = info["lives"].copy()
        self.efn = info["episode_frame_number"].copy()
        self.life_loss_terminates = life_loss_terminates

    def update(self, term, trunc, info):
        lives, efn = info["lives"], info["episode_frame_number"]
        reset = (efn < self.efn) | (lives > self.lives)
        if self.life_loss_terminates:
            game_over = trunc | (term & reset)
        else:
            game_over = trunc | term
        life_lost = (lives < self.lives) & ~game_over
        self.lives, self.efn = lives.copy(), efn.copy()
        return game_over, life_lost


class _EnvGroup:
    """One ale-py vector env (a group of the training envs) and its episode bookkeeping."""

    def __init__(self, game: str, num_envs: int, cfg: EnvConfig):
        self.cfg = cfg
        self.env = _make(
            game,
            num_envs,
            repeat_action_probability=cfg.repeat_action_probability,
            frameskip=cfg.frameskip,
            noop_max=cfg.noop_max,
            episodic_life=False,
            life_loss_info=cfg.episodic_life,
            reward_clipping=False,
            max_num_frames_per_episode=cfg.max_episode_frames,
            num_threads=cfg.num_threads,
        )
        self.num_envs = num_envs
        self.fire = _fire_action(self.env) if cfg.fire_on_life_loss else None
        self._pending_fire = np.zeros(num_envs, dtype=bool)
        self._returns = np.zeros(num_envs, dtype=np.float64)
        self._lengths = np.zeros(num_envs, dtype=np.int64)

    def reset(self, seed: int) -> np.ndarray:
        obs, info = self.env.reset(seed=seed)
        self._tracker = _EpisodeTracker(info, self.cfg.episodic_life)
        self._pending_fire[:] = False
        self._returns[:] = 0
        self._lengths[:] = 0
        return obs

    def forced_actions(self) -> np.ndarray | None:
        """The actions the env presses itself at the next step (FIRE where a life was just
        lost), -1 where the policy's action goes; None if there are none."""
        if self.fire is None or not self._pending_fire.any():
            return None
        return np.where(self._pending_fire, self.fire, -1).astype(np.int64)

    def send(self, actions: np.ndarray) -> None:
        actions = actions.astype(np.int64, copy=True)
        if self.fire is not None and self._pending_fire.any():
            actions[self._pending_fire] = self.fire
        self.env.send(actions)

    def recv(self):
        obs, raw, term, trunc, info = self.env.recv()
        raw = raw.astype(np.float64)
        self._returns += raw
        self._lengths += 1
        game_over, life_lost = self._tracker.update(term, trunc, info)
        self._pending_fire = life_lost
        done = term | trunc
        finished = [
            (float(self._returns[i]), int(self._lengths[i])) for i in np.flatnonzero(game_over)
        ]
        self._returns[game_over] = 0
        self._lengths[game_over] = 0
        reward = np.sign(raw) if self.cfg.reward_clipping else raw
        return obs, reward.astype(np.float32), done, finished


class TrainEnv:
    """The training vector env. ``step`` returns (obs, reward, done, finished_returns).

    ``done`` marks both lost lives (when ``episodic_life``) and game ends; ``finished_returns``
    lists the raw (unclipped) scores of games that ended at this step, for logging. With
    ``cfg.fire_on_life_loss`` an env presses FIRE itself at the step after a lost life
    (``forced_actions`` says where, before that step).

    The envs form ``cfg.async_groups`` groups (consecutive env indices, each its own ale-py
    vector env). ``send(g, actions)`` starts group g's step on ale-py's threads and returns at
    once; ``recv(g)`` waits for it: the PPO rollout acts for one group while another steps.
    Env i is seeded ``seed + i`` whatever the grouping, so each env's game is the same.
    """

    def __init__(self, game: str, num_envs: int, cfg: EnvConfig, seed: int):
        n_groups = max(1, cfg.async_groups)
        if num_envs % n_groups:
            raise EnvSetupError(f"env.async_groups ({n_groups}) must divide num_envs ({num_envs})")
        size = num_envs // n_groups
        self.cfg = cfg
        self.groups: list[_EnvGroup] = []
        try:
            for _ in range(n_groups):
                self.groups.append(_EnvGroup(game, size, cfg))
        except BaseException:
            self.close()
            raise
        #: the env indices of each group
        self.slices = [slice(g * size, (g + 1) * size) for g in range(n_groups)]
        self.num_envs = num_envs
        first = self.groups[0].env
        self.n_actions = int(first.single_action_space.n)
        self.observation_shape = tuple(first.single_observation_space.shape)  # (stack, H, W)
        self.seed = seed

    def reset(self) -> np.ndarray:
        return np.concatenate(
            [grp.reset(self.seed + sl.start) for grp, sl in zip(self.groups, self.slices)]
        )

    def forced_actions(self, g: int) -> np.ndarray | None:
        """Group g's actions that its next step executes whatever ``send`` is given (FIRE after
        a lost life, with ``fire_on_life_loss``), -1 where the policy's action goes; None if
        none. The rollout stores these, the actions executed."""
        return self.groups[g].forced_actions()

    def send(self, g: int, actions: np.ndarray) -> None:
        """Start group g's step with its envs' actions (returns at once); an env that presses
        FIRE itself (``forced_actions``) ignores its action."""
        self.groups[g].send(actions)

    def recv(self, g: int):
        """Wait for group g's step: (obs, reward, done, finished) of its envs."""
        return self.groups[g].recv()

    def step(self, actions: np.ndarray):
        for grp, sl in zip(self.groups, self.slices):
            grp.send(actions[sl])
        parts = [grp.recv() for grp in self.groups]
        if len(parts) == 1:
            return parts[0]
        return (
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]),
            [f for p in parts for f in p[3]],
        )

    def close(self):
        for grp in self.groups:
            grp.env.close()


@dataclass
class EvalProtocol:
    """What a test evaluation used (recorded in eval.json and curve metadata)."""

    episodes: int
    frame_cap: int
    sticky: float
    noop_max: int


def eval_env_kwargs(frame_cap: int, sticky: float, noop_max: int, frameskip: int) -> dict:
    """The test protocol's env settings (full games, raw scores, no-op starts, a frame cap)."""
    return dict(
        repeat_action_probability=sticky,
        frameskip=frameskip,
        noop_max=noop_max,
        episodic_life=False,
        life_loss_info=False,
        reward_clipping=False,
        max_num_frames_per_episode=frame_cap,
    )


class LockstepError(A2DError):
    """The rendering emulator of a test game no longer matches the agent's."""


def run_test_episodes(
    policy,
    game: str,
    episodes: int,
    num_envs: int,
    frame_cap: int,
    sticky: float,
    noop_max: int,
    frameskip: int,
    seed: int,
    *,
    on_frame: Callable[[int, np.ndarray], None] | None = None,
    on_episode: Callable[[int, float, int], None] | None = None,
    max_steps: int | None = None,
) -> list[float]:
    """Play ``episodes`` full games with ``policy(obs_uint8_batch) -> actions``; return raw scores.

    Each env plays a fixed quota of episodes (so short episodes are not over-represented); an env
    that has met its quota keeps stepping but its results are ignored. Scores are grouped by env.

    ``on_frame(i, rgb)`` receives env i's full-resolution colour screen (210x160x3, max-pooled
    over the last two frames like the agent's input) after the reset and after every step: it
    comes from a second emulator seeded identically and fed the same actions, checked to stay in
    lockstep (reward, end flags, lives, frame number) or ``LockstepError``. ``on_episode(i,
    score, steps)`` is called for each scored game. ``max_steps`` stops after that many steps
    (an unfinished game is not scored). The hooks take no random draws: the games are the same.

    Every action is the policy's: FIRE is pressed only on reset (ale-py's ``use_fire_reset``,
    the standard protocol), never after a lost life (``env.fire_on_life_loss`` is a setting of
    the training env only).
    """
    n = min(num_envs, episodes)
    kw = eval_env_kwargs(frame_cap, sticky, noop_max, frameskip)
    env = _make(game, n, **kw)
    screen = None
    try:
        if on_frame is not None:
            screen = _make(game, n, img_height=210, img_width=160, grayscale=False, stack_num=1,
                           **kw)  # fmt: skip
        quota = np.array([episodes // n + (i < episodes % n) for i in range(n)])
        obs, info = env.reset(seed=seed)
        if screen is not None:
            rgb, _ = screen.reset(seed=seed)
            for i in range(n):
                on_frame(i, rgb[i, 0])
        tracker = _EpisodeTracker(info, life_loss_terminates=False)
        returns = np.zeros(n)
        lengths = np.zeros(n, dtype=np.int64)
        scores: list[list[float]] = [[] for _ in range(n)]
        step = 0
        while any(len(s) < q for s, q in zip(scores, quota)) and (
            max_steps is None or step < max_steps
        ):
            actions = np.asarray(policy(obs), dtype=np.int64)
            obs, raw, term, trunc, info = env.step(actions)
            if screen is not None:
                rgb, raw_s, term_s, trunc_s, info_s = screen.step(actions)
                if not (
                    np.array_equal(raw_s, raw)
                    and np.array_equal(term_s, term)
                    and np.array_equal(trunc_s, trunc)
                    and np.array_equal(info_s["lives"], info["lives"])
                    and np.array_equal(info_s["episode_frame_number"], info["episode_frame_number"])
                ):
                    raise LockstepError(
                        f"the rendering emulator fell out of step with the agent's at step {step}"
                    )
                for i in range(n):
                    on_frame(i, rgb[i, 0])
            returns += raw
            lengths += 1
            step += 1
            game_over, _ = tracker.update(term, trunc, info)
            for i in np.flatnonzero(game_over):
                if len(scores[i]) < quota[i]:
                    scores[i].append(float(returns[i]))
                    if on_episode is not None:
                        on_episode(int(i), float(returns[i]), int(lengths[i]))
                returns[i] = 0
                lengths[i] = 0
        return [s for per_env in scores for s in per_env]
    finally:
        env.close()
        if screen is not None:
            screen.close()
