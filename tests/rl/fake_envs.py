"""Stand-ins for ``a2d.envs.TrainEnv`` (same interface, no emulator) and for the test
evaluation, so that the real ``a2d.rl.ppo.train`` loop can be driven on problems with a known
answer. Used by test_learning.py and test_loop_wiring.py."""

from __future__ import annotations

import numpy as np
import torch

from a2d.rl.evaluate import _summary

OBS_SHAPE = (4, 84, 84)

#: a small net, so that a run of a few thousand steps takes seconds
TINY_SPEC = {
    "arch": "tiny",
    "layers": [
        {"op": "conv", "c": 8, "k": 8, "s": 4, "padding": 0},
        {"op": "conv", "c": 8, "k": 4, "s": 4, "padding": 0},
    ],
    "fc": 32,
}


class FakeTrainEnv:
    """The interface of ``TrainEnv``: ``slices``, ``n_actions``, ``observation_shape``, ``seed``,
    ``reset()``, ``send(g, actions)``, ``recv(g) -> (obs, reward, done, finished)``, ``close()``.

    Subclasses say what an env shows (``frame``), pays (``reward``) and when it is done."""

    n_actions = 4

    def __init__(self, game: str, num_envs: int, cfg, seed: int):
        groups = max(1, cfg.async_groups)
        size = num_envs // groups
        self.slices = [slice(g * size, (g + 1) * size) for g in range(groups)]
        self.num_envs = num_envs
        self.observation_shape = OBS_SHAPE
        self.seed = seed
        self.pending: dict[int, np.ndarray] = {}
        self.closed = False
        self.t = np.zeros(num_envs, dtype=np.int64)  # steps taken since the last reset()

    def reset(self) -> np.ndarray:
        assert not self.pending, "reset() with a step in flight"
        self.rng = [np.random.default_rng(self.seed + i) for i in range(self.num_envs)]
        self.t[:] = 0
        self.start()
        return np.stack([self.frame(i) for i in range(self.num_envs)])

    def send(self, g: int, actions: np.ndarray) -> None:
        assert g not in self.pending, f"group {g} sent twice without a recv"
        cols = self.slices[g]
        assert actions.shape == (cols.stop - cols.start,)
        self.pending[g] = np.asarray(actions).copy()

    def recv(self, g: int):
        actions = self.pending.pop(g)  # KeyError: recv without a send
        obs, rew, done, finished = [], [], [], []
        for i, a in zip(range(self.slices[g].start, self.slices[g].stop), actions):
            r, d, game_over = self.step_one(i, int(a))
            self.t[i] += 1
            rew.append(r)
            done.append(d)
            if game_over:
                finished.append((float(r), 1))
            obs.append(self.frame(i))
        return (
            np.stack(obs),
            np.asarray(rew, dtype=np.float32),
            np.asarray(done, dtype=bool),
            finished,
        )

    def close(self) -> None:
        self.closed = True

    # what a subclass defines
    def start(self) -> None: ...

    def frame(self, i: int) -> np.ndarray:
        raise NotImplementedError

    def step_one(self, i: int, action: int) -> tuple[float, bool, bool]:
        """(reward, done, game over) of env ``i`` taking ``action``."""
        raise NotImplementedError


# ---- a contextual bandit: 4 contexts, each with its own right action and reward offset ----

CORRECT = [2, 0, 3, 1]  # the right action in context c
OFFSET = [4.0, -4.0, 8.0, -8.0]  # reward of context c = offset + 1 if the action is right


def context_frame(c: int) -> np.ndarray:
    f = np.zeros(OBS_SHAPE, dtype=np.uint8)
    f[:, 21 * c : 21 * (c + 1), :] = 255
    return f


class BanditEnv(FakeTrainEnv):
    """Every step is a one-step episode: see a context, act, get paid, see the next context."""

    def start(self) -> None:
        self.ctx = [int(r.integers(4)) for r in self.rng]

    def frame(self, i: int) -> np.ndarray:
        return context_frame(self.ctx[i])

    def step_one(self, i: int, action: int) -> tuple[float, bool, bool]:
        c = self.ctx[i]
        r = OFFSET[c] + float(action == CORRECT[c])
        self.ctx[i] = int(self.rng[i].integers(4))
        return r, True, True


def bandit_evaluate(agent, game, episodes, eval_cfg, env_cfg, seed, device="cpu") -> dict:
    """In place of ``a2d.rl.evaluate.evaluate``: the policy's probability of the right action in
    each context (its expected fraction of right actions, no sampling noise)."""
    was_training = agent.training
    agent.eval()
    try:
        with torch.no_grad():
            frames = torch.from_numpy(np.stack([context_frame(c) for c in range(4)])).to(device)
            probs = torch.softmax(agent(frames)[0].float(), -1).cpu()
    finally:
        agent.train(was_training)
    scores = [float(probs[c, CORRECT[c]]) for c in range(4)]
    return _summary(scores, eval_cfg)  # the eval.json fields, as the real evaluation writes them


# ---- a scripted env whose frames say when they were seen and whose reward names the action ----


def scripted_reward(i: int, t: int, action: int) -> float:
    """Env ``i``'s reward for ``action`` at its step ``t``: the three are readable from it."""
    return 1000.0 * i + 10.0 * t + action


def life_lost(i: int, t: int) -> bool:
    return (t + 1) % (3 + i) == 0  # env i loses a life every 3 + i steps


def game_over(i: int, t: int) -> bool:
    return (t + 1) % (2 * (3 + i)) == 0  # ... and its game ends at every second lost life


class ScriptedEnv(FakeTrainEnv):
    """Frame of env ``i`` after ``t`` steps: pixel (0, 0, 0) = t, (0, 0, 1) = i."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.log: list[tuple[int, int, int]] = []  # (env, step, action) as received

    def frame(self, i: int) -> np.ndarray:
        f = np.zeros(OBS_SHAPE, dtype=np.uint8)
        f[0, 0, 0], f[0, 0, 1] = self.t[i], i
        return f

    def step_one(self, i: int, action: int) -> tuple[float, bool, bool]:
        t = int(self.t[i])
        self.log.append((i, t, action))
        return scripted_reward(i, t, action), life_lost(i, t), game_over(i, t)


class FireScriptedEnv(ScriptedEnv):
    """ScriptedEnv whose env presses FIRE (action 1) itself at the step after a lost life (not
    after a game end), as ``TrainEnv`` does with ``env.fire_on_life_loss``; ``forced_actions(g)``
    says where, before that step. ``log`` holds the actions executed."""

    def start(self) -> None:
        self.fire_next = np.zeros(self.num_envs, dtype=bool)

    def forced_actions(self, g: int):
        f = self.fire_next[self.slices[g]]
        return np.where(f, 1, -1).astype(np.int64) if f.any() else None

    def step_one(self, i: int, action: int) -> tuple[float, bool, bool]:
        if self.fire_next[i]:
            action = 1
        r, lost, over = super().step_one(i, action)
        self.fire_next[i] = lost and not over
        return r, lost, over


def fire_forced(i: int, t: int) -> bool:
    """Whether FireScriptedEnv's env ``i`` presses FIRE itself at its step ``t``."""
    return t > 0 and life_lost(i, t - 1) and not game_over(i, t - 1)
