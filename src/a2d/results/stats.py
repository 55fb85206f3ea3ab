"""Statistics across seeds and games, with rliable (Agarwal et al., 2021).

- :func:`t_ci`: per-column mean and 95 % Student-t interval of the mean over runs (seeds), used by
  every per-game table cell and every figure band (an interval meant for few samples: a
  percentile bootstrap of 2-3 values is about [min, max], far too narrow); none with one run.
- :func:`welch`: difference of two means with its 95 % Welch-t interval (the claims' tests).
- :func:`mean_ci`: per-column mean and 95 % stratified-bootstrap interval over runs (kept for
  callers that want it; the across-game aggregates use :func:`aggregate`).
- :func:`human_normalized`: ``(score - random) / (human - random)`` with the published random and
  human reference scores (:data:`ATARI_REFERENCE`).
- :func:`aggregate`: IQM, median and mean of human-normalised scores across games and seeds, each
  with a 95 % stratified-bootstrap interval (runs resampled within each game).
- :func:`performance_profile`, :func:`probability_of_improvement`, :func:`iqm_curve`: the rest of
  rliable's toolkit (score distributions, P(X > Y), IQM sample-efficiency curves), each with a
  95 % stratified-bootstrap interval; they need at least 2 runs per game.

Bootstrap draws are seeded (see :func:`_seeded`) so a rebuilt table is identical.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Mapping, Sequence

import numpy as np

#: Random-policy and professional-human test scores, (random, human), on the 57 Atari games,
#: keyed by ALE ROM id. Source: DeepMind DQN Zoo, ``dqn_zoo/atari_data.py`` (Apache-2.0;
#: github.com/google-deepmind/dqn_zoo), the numbers of Mnih et al. 2015 / Badia et al. 2020:
#: undiscounted returns averaged over >= 3 episodes, noop starts (1-30), 108k-frame cap.
ATARI_REFERENCE: dict[str, tuple[float, float]] = {
    "alien": (227.8, 7127.7),
    "amidar": (5.8, 1719.5),
    "assault": (222.4, 742.0),
    "asterix": (210.0, 8503.3),
    "asteroids": (719.1, 47388.7),
    "atlantis": (12850.0, 29028.1),
    "bank_heist": (14.2, 753.1),
    "battle_zone": (2360.0, 37187.5),
    "beam_rider": (363.9, 16926.5),
    "berzerk": (123.7, 2630.4),
    "bowling": (23.1, 160.7),
    "boxing": (0.1, 12.1),
    "breakout": (1.7, 30.5),
    "centipede": (2090.9, 12017.0),
    "chopper_command": (811.0, 7387.8),
    "crazy_climber": (10780.5, 35829.4),
    "defender": (2874.5, 18688.9),
    "demon_attack": (152.1, 1971.0),
    "double_dunk": (-18.6, -16.4),
    "enduro": (0.0, 860.5),
    "fishing_derby": (-91.7, -38.7),
    "freeway": (0.0, 29.6),
    "frostbite": (65.2, 4334.7),
    "gopher": (257.6, 2412.5),
    "gravitar": (173.0, 3351.4),
    "hero": (1027.0, 30826.4),
    "ice_hockey": (-11.2, 0.9),
    "jamesbond": (29.0, 302.8),
    "kangaroo": (52.0, 3035.0),
    "krull": (1598.0, 2665.5),
    "kung_fu_master": (258.5, 22736.3),
    "montezuma_revenge": (0.0, 4753.3),
    "ms_pacman": (307.3, 6951.6),
    "name_this_game": (2292.3, 8049.0),
    "phoenix": (761.4, 7242.6),
    "pitfall": (-229.4, 6463.7),
    "pong": (-20.7, 14.6),
    "private_eye": (24.9, 69571.3),
    "qbert": (163.9, 13455.0),
    "riverraid": (1338.5, 17118.0),
    "road_runner": (11.5, 7845.0),
    "robotank": (2.2, 11.9),
    "seaquest": (68.4, 42054.7),
    "skiing": (-17098.1, -4336.9),
    "solaris": (1236.3, 12326.7),
    "space_invaders": (148.0, 1668.7),
    "star_gunner": (664.0, 10250.0),
    "surround": (-10.0, 6.5),
    "tennis": (-23.8, -8.3),
    "time_pilot": (3568.0, 5229.2),
    "tutankham": (11.4, 167.6),
    "up_n_down": (533.4, 11693.2),
    "venture": (0.0, 1187.5),
    "video_pinball": (16256.9, 17667.9),
    "wizard_of_wor": (563.5, 4756.5),
    "yars_revenge": (3092.9, 54576.9),
    "zaxxon": (32.5, 9173.3),
}

CONFIDENCE = 0.95
REPS = 2000  # bootstrap replications: the interval ends move by < 1 % of their width beyond this


def rom_key(game: str) -> str:
    """CamelCase game name (``MsPacman``, ``RoadRunner``) -> ROM id (``ms_pacman``)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", game).lower()


def reference(game: str) -> tuple[float, float] | None:
    """(random, human) reference scores of a game, or None where none are published."""
    return ATARI_REFERENCE.get(rom_key(game))


def human_normalized(game: str, score: float | np.ndarray):
    """0 = the random policy, 1 = the human tester (raises KeyError for a game without data)."""
    ref = reference(game)
    if ref is None:
        raise KeyError(f"no published random/human reference score for {game!r}")
    rnd, human = ref
    return (np.asarray(score, dtype=float) - rnd) / (human - rnd)


def _rliable():
    from rliable import library as rly
    from rliable import metrics

    return rly, metrics


@contextlib.contextmanager
def _seeded(seed: int):
    """rliable 1.2's StratifiedBootstrap draws its resamples from NumPy's global generator (its
    ``random_state`` argument does not reach them), so seed that one and restore it after."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def mean_ci(
    runs: np.ndarray | Sequence[Sequence[float]],
    reps: int = REPS,
    confidence: float = CONFIDENCE,
    seed: int = 0,
):
    """Mean over runs (axis 0) of a runs x k matrix, and its percentile stratified-bootstrap
    interval (runs resampled independently within each of the k columns).

    Returns three arrays of length k: mean, lower, upper. With a single run the interval is
    undefined: lower and upper are nan."""
    x = np.asarray(runs, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    mean = x.mean(axis=0)
    if x.shape[0] < 2:
        nan = np.full_like(mean, math.nan)
        return mean, nan, nan.copy()
    rly, _ = _rliable()
    with _seeded(seed):
        _, ci = rly.get_interval_estimates(
            {"x": x}, lambda s: s.mean(axis=0), reps=reps, confidence_interval_size=confidence
        )
    return mean, ci["x"][0], ci["x"][1]


def t_ci(runs: np.ndarray | Sequence[Sequence[float]], confidence: float = CONFIDENCE):
    """Mean over runs (axis 0) of a runs x k matrix (or a vector of runs) and its Student-t
    interval: mean ± t_{n-1} * sd / sqrt(n), sd with n - 1 degrees of freedom.

    Returns three arrays of length k: mean, lower, upper; with fewer than 2 runs there is no
    interval and lower and upper are nan."""
    from scipy import stats

    x = np.asarray(runs, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    n = x.shape[0]
    mean = x.mean(axis=0)
    if n < 2:
        nan = np.full_like(mean, math.nan)
        return mean, nan, nan.copy()
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * x.std(axis=0, ddof=1) / math.sqrt(n)
    return mean, mean - half, mean + half


def welch(
    x: Sequence[float], y: Sequence[float], confidence: float = CONFIDENCE
) -> tuple[float, float, float]:
    """mean(x) - mean(y) and its Welch-t interval (unequal variances, Welch-Satterthwaite
    degrees of freedom). Fewer than 2 values on either side: (difference, nan, nan). Both
    samples constant: the interval is the difference itself (no spread to allow for)."""
    from scipy import stats

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    d = float(x.mean() - y.mean())
    if len(x) < 2 or len(y) < 2:
        return d, math.nan, math.nan
    vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    se = math.sqrt(vx + vy)
    if se == 0:
        return d, d, d
    df = (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    return d, d - half, d + half


def iqm(x: np.ndarray) -> float:
    """Interquartile mean of all entries (the 25 % trimmed mean), as rliable computes it."""
    _, metrics = _rliable()
    return float(metrics.aggregate_iqm(x))


AGGREGATES = ("IQM", "Median", "Mean")


def aggregate(
    scores: Mapping[str, np.ndarray],
    reps: int = REPS,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> dict[str, dict[str, tuple[float, float, float]]]:
    """IQM, median and mean of each method's runs x games matrix of (normalised) scores.

    Returns ``{method: {"IQM": (point, lower, upper), "Median": ..., "Mean": ...}}``; with one run
    per game the intervals come from resampling nothing and collapse onto the point estimate."""
    rly, metrics = _rliable()

    def agg(x):
        return np.array(
            [metrics.aggregate_iqm(x), metrics.aggregate_median(x), metrics.aggregate_mean(x)]
        )

    data = {m: np.asarray(v, dtype=float) for m, v in scores.items()}
    for m, v in data.items():
        if v.ndim != 2 or v.size == 0:
            raise ValueError(f"{m}: scores must be a non-empty runs x games matrix, got {v.shape}")
    with _seeded(seed):
        point, ci = rly.get_interval_estimates(
            data, agg, reps=reps, confidence_interval_size=confidence
        )
    return {
        m: {
            name: (float(point[m][i]), float(ci[m][0][i]), float(ci[m][1][i]))
            for i, name in enumerate(AGGREGATES)
        }
        for m in data
    }


def _runs_x_games(name: str, v) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    if v.ndim != 2 or v.shape[0] < 2 or v.shape[1] < 1:
        raise ValueError(f"{name}: needs a runs x games matrix with >= 2 runs, got {v.shape}")
    return v


def performance_profile(
    scores: Mapping[str, np.ndarray],
    taus: np.ndarray,
    reps: int = REPS,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Score distribution of each method's runs x games matrix: the fraction of runs with a
    (normalised) score above each tau, with its 95 % stratified-bootstrap band.

    Returns ``{method: (fraction, lower, upper)}``, arrays the length of ``taus``."""
    rly, _ = _rliable()
    data = {m: _runs_x_games(m, v) for m, v in scores.items()}
    with _seeded(seed):
        dist, cis = rly.create_performance_profile(
            data, np.asarray(taus, dtype=float), reps=reps, confidence_interval_size=confidence
        )
    return {m: (np.asarray(dist[m]), np.asarray(cis[m][0]), np.asarray(cis[m][1])) for m in data}


def probability_of_improvement(
    pairs: Mapping[str, tuple[np.ndarray, np.ndarray]],
    reps: int = REPS,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> dict[str, tuple[float, float, float]]:
    """P(X > Y) for each pair of runs x games matrices (rliable: per game the Mann-Whitney
    probability that a run of X scores above a run of Y, ties counting one half, averaged over
    games), with its 95 % stratified-bootstrap interval. Raw scores do: the statistic is
    invariant to a per-game affine normalisation. Returns ``{pair: (p, lower, upper)}``."""
    rly, metrics = _rliable()
    data = {k: (_runs_x_games(k, x), _runs_x_games(k, y)) for k, (x, y) in pairs.items()}
    with _seeded(seed):
        point, ci = rly.get_interval_estimates(
            data,
            metrics.probability_of_improvement,
            reps=reps,
            confidence_interval_size=confidence,
        )
    ci = {k: np.ravel(v) for k, v in ci.items()}
    return {k: (float(np.squeeze(point[k])), float(ci[k][0]), float(ci[k][1])) for k in data}


def iqm_curve(
    scores: Mapping[str, np.ndarray],
    reps: int = REPS,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """IQM across games and runs at each point of a runs x games x points array per method
    (a sample-efficiency curve), with its 95 % stratified-bootstrap band.
    Returns ``{method: (iqm, lower, upper)}``, arrays the length of the points axis."""
    rly, metrics = _rliable()
    data = {}
    for m, v in scores.items():
        v = np.asarray(v, dtype=float)
        if v.ndim != 3 or v.shape[0] < 2:
            raise ValueError(f"{m}: needs a runs x games x points array with >= 2 runs")
        data[m] = v

    def curve(x):
        return np.array([metrics.aggregate_iqm(x[..., i]) for i in range(x.shape[-1])])

    with _seeded(seed):
        point, ci = rly.get_interval_estimates(
            data, curve, reps=reps, confidence_interval_size=confidence
        )
    return {m: (np.asarray(point[m]), np.asarray(ci[m][0]), np.asarray(ci[m][1])) for m in data}
