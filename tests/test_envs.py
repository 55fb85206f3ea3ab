"""a2d.envs: game names, the training env, the test-evaluation protocol."""

from __future__ import annotations

import numpy as np
import pytest

from a2d import A2DError, envs
from a2d.config import EnvConfig
from a2d.envs import GameError, TrainEnv, canonical, rom_id, run_test_episodes, valid_games

# ---- game names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, expected",
    [
        ("Breakout", "Breakout"),
        ("breakout", "Breakout"),
        ("MsPacman", "MsPacman"),
        ("ms_pacman", "MsPacman"),
        ("ALE/Breakout-v5", "Breakout"),
        ("ALE/MsPacman-v5", "MsPacman"),
        ("BreakoutNoFrameskip-v4", "Breakout"),
        ("space_invaders", "SpaceInvaders"),
        ("SpaceInvaders", "SpaceInvaders"),
        ("Pong", "Pong"),
    ],
)
def test_canonical_game_names(name, expected):
    assert canonical(name) == expected


def test_rom_id():
    assert rom_id("MsPacman") == "ms_pacman"
    assert rom_id("ALE/SpaceInvaders-v5") == "space_invaders"


@pytest.mark.parametrize(
    "name, close",
    [("Breakoutt", ["Breakout"]), ("mspacmn", ["MsPacman"]), ("ALE/Pongg-v5", ["Pong"])],
)
def test_unknown_game_names_the_closest_games(name, close):
    assert issubclass(GameError, A2DError)
    with pytest.raises(GameError) as e:
        canonical(name)
    msg = str(e.value)
    assert msg.startswith(f"unknown game {name!r}; did you mean ")
    suggested = msg.split("did you mean ", 1)[1].split("?", 1)[0].split(", ")
    assert suggested[0] == close[0] and 1 <= len(suggested) <= 3
    assert set(suggested) <= set(valid_games())
    assert f"'a2d games' lists all {len(valid_games())} valid ALE games" in msg
    assert "Adventure" not in msg and "\n" not in msg  # not the whole list on one line


def test_unknown_game_without_a_close_name():
    with pytest.raises(GameError) as e:
        canonical("zzzzzzzz")
    assert "did you mean" not in str(e.value) and "'a2d games' lists all" in str(e.value)


def test_valid_games_are_sorted_camel_case():
    games = valid_games()
    assert games == sorted(games)
    assert {"Breakout", "MsPacman", "SpaceInvaders", "Pong", "BeamRider"} <= set(games)
    assert all(g[0].isupper() and "_" not in g for g in games)
    assert all(canonical(g) == g for g in games)


# ---- a recording wrapper around ale-py's vector env ---------------------------------------


class Recorder:
    """Wraps the env that ``envs._make`` builds; records what the env itself returned."""

    def __init__(self, env):
        self.env = env
        self.lives: list[np.ndarray] = []
        self.rewards: list[np.ndarray] = []
        self.actions: list[np.ndarray] = []  # what the emulator was sent, step by step
        self.num_envs_made: int | None = None

    def __getattr__(self, name):
        return getattr(self.env, name)

    def reset(self, **kw):
        obs, info = self.env.reset(**kw)
        self.lives.append(info["lives"].copy())
        return obs, info

    def step(self, actions):
        self.actions.append(np.asarray(actions).copy())
        obs, r, term, trunc, info = self.env.step(actions)
        self.lives.append(info["lives"].copy())
        self.rewards.append(np.asarray(r, dtype=np.float64).copy())
        return obs, r, term, trunc, info

    def send(self, actions):
        self.actions.append(np.asarray(actions).copy())
        self.env.send(actions)

    def recv(self):
        obs, r, term, trunc, info = self.env.recv()
        self.lives.append(info["lives"].copy())
        self.rewards.append(np.asarray(r, dtype=np.float64).copy())
        return obs, r, term, trunc, info


@pytest.fixture
def recorders(monkeypatch):
    made: list[Recorder] = []
    real = envs._make

    def make(game, num_envs, **kw):
        rec = Recorder(real(game, num_envs, **kw))
        rec.num_envs_made = num_envs
        made.append(rec)
        return rec

    monkeypatch.setattr(envs, "_make", make)
    return made


def random_policy(n_actions: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return lambda obs: rng.integers(0, n_actions, size=len(obs))


TEST_KW = dict(sticky=0.0, noop_max=30, frameskip=4)


# ---- training env -------------------------------------------------------------------------


def test_train_env_observation_and_step_shapes():
    env = TrainEnv("Breakout", 2, EnvConfig(), seed=0)
    try:
        obs = env.reset()
        assert obs.shape == (2, 4, 84, 84)
        assert obs.dtype == np.uint8
        assert env.n_actions == 4
        obs, reward, done, finished = env.step(np.zeros(2, dtype=np.int64))
        assert obs.shape == (2, 4, 84, 84) and obs.dtype == np.uint8
        assert reward.shape == (2,) and reward.dtype == np.float32
        assert done.shape == (2,) and done.dtype == bool
        assert finished == []
    finally:
        env.close()


def _train_rewards(reward_clipping: bool, steps: int = 300):
    env = TrainEnv("SpaceInvaders", 2, EnvConfig(reward_clipping=reward_clipping), seed=0)
    rng = np.random.default_rng(0)
    try:
        env.reset()
        out = [env.step(rng.integers(0, env.n_actions, 2))[1] for _ in range(steps)]
    finally:
        env.close()
    return np.concatenate(out)


def test_train_rewards_clipped_to_sign():
    clipped = _train_rewards(True)
    assert set(np.unique(clipped).tolist()) <= {-1.0, 0.0, 1.0}
    assert (clipped == 1.0).any()
    raw = _train_rewards(False)
    assert raw.max() > 1.0  # SpaceInvaders pays 5..30 per invader: clipping really did something
    assert np.array_equal(np.sign(raw), clipped)  # same seed, same actions, same game


def _play_one_train_game(cfg: EnvConfig, policy, max_steps: int):
    env = TrainEnv("Breakout", 1, cfg, seed=0)
    try:
        env.reset()
        n_done, total = 0, 0.0
        for t in range(max_steps):
            _, reward, done, finished = env.step(policy(None))
            n_done += int(done[0])
            total += float(reward[0])
            if finished:
                return n_done, finished, t + 1, total
        return n_done, [], max_steps, total
    finally:
        env.close()


def test_train_env_life_loss_ends_bootstrap_episode_not_game():
    rng = np.random.default_rng(0)
    # raw rewards, so the game's finished score can be checked against the steps' rewards
    n_done, finished, steps, total = _play_one_train_game(
        EnvConfig(reward_clipping=False), lambda _: rng.integers(0, 4, 1), max_steps=20_000
    )
    assert len(finished) == 1
    # Breakout: 5 lives -> 4 life-loss dones, then the game-over done
    assert n_done == 5
    # the finished game spans all five lives: every step, every point, not the last life's
    ret, length = finished[0]
    assert length == steps and ret == total


def test_train_env_without_episodic_life_one_done_per_game():
    rng = np.random.default_rng(0)
    n_done, finished, _, _ = _play_one_train_game(
        EnvConfig(episodic_life=False), lambda _: rng.integers(0, 4, 1), max_steps=20_000
    )
    assert len(finished) == 1
    assert n_done == 1


def test_fire_on_life_loss_relaunches_the_ball():
    noop = lambda _: np.zeros(1, dtype=np.int64)  # noqa: E731
    # With FIRE after each lost life a NOOP-only player still loses all 5 balls quickly ...
    n_done, finished, steps, _ = _play_one_train_game(
        EnvConfig(max_episode_frames=8000), noop, max_steps=2500
    )
    assert len(finished) == 1 and n_done == 5 and steps < 1500
    # ... without it the ball is never served again and the game only ends at the frame cap.
    n_done, finished, steps, _ = _play_one_train_game(
        EnvConfig(max_episode_frames=8000, fire_on_life_loss=False), noop, max_steps=2500
    )
    assert len(finished) == 1 and steps == 2000  # 8000 frames / frameskip 4
    assert n_done == 2  # one life lost, then the truncation


def test_train_env_says_where_it_presses_fire_and_sends_it(recorders):
    """After a lost life the env announces FIRE for that env (forced_actions) and the emulator
    gets FIRE whatever action is sent; elsewhere it gets the action sent."""
    env = TrainEnv("Breakout", 2, EnvConfig(), seed=0)
    try:
        env.reset()
        (rec,) = recorders
        announced = 0
        for _ in range(3000):
            forced = env.forced_actions(0)
            sent = np.array([2, 3])  # RIGHT, LEFT: never FIRE from the "policy"
            env.step(sent.copy())
            got = rec.actions[-1]
            if forced is None:
                assert np.array_equal(got, sent)
            else:
                announced += int((forced >= 0).sum())
                assert np.array_equal(got, np.where(forced >= 0, 1, sent))
                assert set(forced[forced >= 0].tolist()) == {1}
            if announced >= 2:
                break
        assert announced >= 2  # lives were lost, so FIRE was pressed by the env
        assert int(sum((a == 1).sum() for a in rec.actions)) == announced
    finally:
        env.close()


def test_train_env_without_fire_on_life_loss_forces_nothing():
    env = TrainEnv("Breakout", 1, EnvConfig(fire_on_life_loss=False), seed=0)
    try:
        env.reset()
        for _ in range(400):
            assert env.forced_actions(0) is None
            env.step(np.array([2]))
    finally:
        env.close()


def test_test_episodes_press_no_fire_after_a_lost_life(recorders):
    """Every action the emulator gets in a test game is the policy's (FIRE on reset only, inside
    ale-py): with a policy that never presses FIRE, the emulator gets no FIRE."""
    rng = np.random.default_rng(0)
    given: list[np.ndarray] = []

    def no_fire(obs):
        a = rng.choice([0, 2, 3], size=len(obs))  # NOOP, RIGHT, LEFT
        given.append(a.copy())
        return a

    run_test_episodes(
        no_fire, "Breakout", episodes=1, num_envs=1, frame_cap=4000, seed=0, **TEST_KW
    )
    (rec,) = recorders
    sent = np.concatenate(rec.actions)
    assert np.array_equal(sent, np.concatenate(given))
    assert not (sent == 1).any()
    lives = np.concatenate(rec.lives)
    assert lives.min() < 5  # a life was lost: the old protocol would have pressed FIRE here


# ---- test protocol ------------------------------------------------------------------------


def test_test_episode_spans_all_lives(recorders):
    scores = run_test_episodes(
        random_policy(4), "Breakout", episodes=1, num_envs=1, frame_cap=40_000, seed=3, **TEST_KW
    )
    assert len(scores) == 1
    (rec,) = recorders
    lives = [int(x[0]) for x in rec.lives]
    assert lives[0] == 5
    # every life of the game was played inside the single test episode: had a life loss ended
    # the episode, run_test_episodes would have returned as soon as lives first dropped to 4
    before_reset = lives[: lives.index(5, lives.index(1))] if 1 in lives else lives
    assert {4, 3, 2, 1} <= set(before_reset)
    assert lives[-1] == 5  # the last step was the game over (SameStep autoreset to a new game)


def test_test_scores_are_raw_unclipped_sums(recorders):
    scores = run_test_episodes(
        random_policy(6), "SpaceInvaders", episodes=1, num_envs=1, frame_cap=4000, seed=0, **TEST_KW
    )
    (rec,) = recorders
    rewards = np.concatenate(rec.rewards)
    assert rewards.max() > 1.0  # the env was not asked to clip
    assert scores == [float(rewards.sum())]  # and the score is the sum of raw rewards
    assert scores[0] > 0 and scores[0] % 5 == 0  # SpaceInvaders: multiples of 5 points


@pytest.mark.parametrize("episodes, num_envs", [(3, 2), (2, 5), (4, 4), (1, 3)])
def test_episode_quota(recorders, episodes, num_envs):
    scores = run_test_episodes(
        random_policy(4),
        "Breakout",
        episodes=episodes,
        num_envs=num_envs,
        frame_cap=200,
        seed=0,
        **TEST_KW,
    )
    assert len(scores) == episodes
    assert all(isinstance(s, float) for s in scores)
    assert recorders[0].num_envs_made == min(episodes, num_envs)


def test_test_episodes_repeatable_with_seed():
    kw = dict(episodes=2, num_envs=2, frame_cap=2000, seed=11, **TEST_KW)
    a = run_test_episodes(random_policy(4, 5), "Breakout", **kw)
    b = run_test_episodes(random_policy(4, 5), "Breakout", **kw)
    assert a == b


def test_hooks_see_the_same_games_frame_by_frame():
    """on_frame / on_episode / max_steps take no random draws: the games are the hook-less ones.
    on_frame gets each env's colour screen once after the reset and once per step, and it is the
    screen the agent's newest grey frame was made from."""
    kw = dict(episodes=3, num_envs=2, frame_cap=1600, seed=7, **TEST_KW)
    plain = run_test_episodes(random_policy(4, 3), "Breakout", **kw)
    obs_seen, frames, games = [], {0: [], 1: []}, []
    policy = random_policy(4, 3)

    def act(obs):
        obs_seen.append(obs.copy())
        return policy(obs)

    scores = run_test_episodes(
        act,
        "Breakout",
        **kw,
        on_frame=lambda i, rgb: frames[i].append(rgb.copy()),
        on_episode=lambda i, score, steps: games.append((i, score, steps)),
    )
    assert scores == plain
    steps = len(obs_seen)
    assert len(frames[0]) == len(frames[1]) == steps + 1
    assert frames[0][0].shape == (210, 160, 3) and frames[0][0].dtype == np.uint8
    # the scored games, env by env in play order, as returned; env 0 plays 2 games, env 1 one
    assert [s for _, s, _ in sorted(games, key=lambda g: g[0])] == scores
    assert sorted(i for i, _, _ in games) == [0, 0, 1]
    assert sum(n for i, _, n in games if i == 0) <= steps
    ys, xs = np.arange(84) * 210 // 84, np.arange(84) * 160 // 84
    for k in range(0, steps, 11):
        for i in (0, 1):
            grey = frames[i][k][np.ix_(ys, xs)] @ np.array([0.299, 0.587, 0.114])
            assert np.abs(grey - obs_seen[k][i, -1]).mean() < 12, (k, i)


def test_max_steps_stops_early_and_scores_no_unfinished_game():
    calls = []
    scores = run_test_episodes(
        lambda obs: calls.append(1) or np.zeros(len(obs), dtype=np.int64),
        "Breakout",
        episodes=1,
        num_envs=1,
        frame_cap=40_000,
        seed=0,
        max_steps=25,
        **TEST_KW,
    )
    assert scores == [] and len(calls) == 25


def test_rendering_emulator_out_of_step_is_refused(monkeypatch):
    real = envs._make

    class Drifting:  # the colour emulator reports a reward the agent's did not get
        def __init__(self, env):
            self.env = env

        def __getattr__(self, name):
            return getattr(self.env, name)

        def step(self, actions):
            obs, r, term, trunc, info = self.env.step(actions)
            return obs, r + 1, term, trunc, info

    def make(game, num_envs, **kw):
        env = real(game, num_envs, **kw)
        return Drifting(env) if kw.get("grayscale") is False else env

    monkeypatch.setattr(envs, "_make", make)
    with pytest.raises(envs.LockstepError, match="step 0"):
        run_test_episodes(
            random_policy(4), "Breakout", episodes=1, num_envs=1, frame_cap=400, seed=0,
            on_frame=lambda i, rgb: None, **TEST_KW,
        )  # fmt: skip


def test_async_groups_step_the_same_games_as_one_vector_env():
    """Env i is seeded seed + i whatever the grouping: same actions -> same frames, rewards,
    dones and finished games; send/recv of one group leaves the other alone."""
    n, steps = 4, 400
    rng = np.random.default_rng(1)
    acts = rng.integers(0, 4, size=(steps, n))
    outs = {}
    for groups in (1, 2):
        env = TrainEnv("Breakout", n, EnvConfig(async_groups=groups), seed=5)
        try:
            assert [(s.start, s.stop) for s in env.slices] == (
                [(0, 4)] if groups == 1 else [(0, 2), (2, 4)]
            )
            frames = [env.reset()]
            rows = []
            for t in range(steps):
                if groups == 1:
                    o, r, d, fin = env.step(acts[t])
                else:  # the rollout's order: send group 0, send group 1, then receive both
                    env.send(0, acts[t, :2])
                    env.send(1, acts[t, 2:])
                    o0, r0, d0, f0 = env.recv(0)
                    o1, r1, d1, f1 = env.recv(1)
                    o, r, d = (
                        np.concatenate([o0, o1]),
                        np.concatenate([r0, r1]),
                        np.concatenate([d0, d1]),
                    )
                    fin = f0 + f1
                frames.append(o)
                rows.append((r, d, sorted(fin)))
        finally:
            env.close()
        outs[groups] = (np.stack(frames), rows)
    assert np.array_equal(outs[1][0], outs[2][0])
    for (r1, d1, f1), (r2, d2, f2) in zip(outs[1][1], outs[2][1]):
        assert np.array_equal(r1, r2) and np.array_equal(d1, d2) and f1 == f2
    assert any(r.any() for r, _, _ in outs[1][1])  # something happened in those 400 steps


def test_async_groups_must_divide_num_envs():
    with pytest.raises(envs.EnvSetupError, match="async_groups"):
        TrainEnv("Breakout", 3, EnvConfig(async_groups=2), seed=0)
