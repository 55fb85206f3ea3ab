"""a2d.results.stats: reference scores, normalisation, bootstrap intervals, aggregates."""

from __future__ import annotations

import math

import numpy as np
import pytest

from a2d.results import stats


def test_reference_table_has_the_57_games_with_valid_rom_ids():
    from a2d.envs import rom_id

    assert len(stats.ATARI_REFERENCE) == 57
    for key, (rnd, human) in stats.ATARI_REFERENCE.items():
        assert rom_id(key) == key  # every key is an ALE ROM id ale-py ships
        assert rnd != human
    # spot checks against DQN Zoo's atari_data.py
    assert stats.ATARI_REFERENCE["breakout"] == (1.7, 30.5)
    assert stats.ATARI_REFERENCE["road_runner"] == (11.5, 7845.0)
    assert stats.ATARI_REFERENCE["pong"] == (-20.7, 14.6)


def test_rom_key_and_human_normalized():
    assert stats.rom_key("MsPacman") == "ms_pacman"
    assert stats.rom_key("RoadRunner") == "road_runner"
    assert stats.rom_key("Breakout") == "breakout"
    assert stats.human_normalized("Breakout", 1.7) == pytest.approx(0.0)
    assert stats.human_normalized("Breakout", 30.5) == pytest.approx(1.0)
    # Pong: random -20.7, human 14.6 -> a score of 21 is (21 + 20.7) / 35.3
    assert stats.human_normalized("Pong", 21.0) == pytest.approx(41.7 / 35.3)
    assert stats.reference("Pooyan") is None
    with pytest.raises(KeyError, match="Pooyan"):
        stats.human_normalized("Pooyan", 1.0)


def test_mean_ci_one_run_has_no_interval():
    mean, lo, hi = stats.mean_ci([[3.0, 4.0]])
    assert mean.tolist() == [3.0, 4.0]
    assert np.isnan(lo).all() and np.isnan(hi).all()


def test_mean_ci_is_seeded_and_repeatable():
    x = np.arange(12.0).reshape(6, 2) ** 1.5
    a = stats.mean_ci(x)
    b = stats.mean_ci(x)
    for u, v in zip(a, b):
        assert u.tolist() == v.tolist()
    state = np.random.get_state()[1].copy()
    stats.mean_ci(x, seed=1)
    assert (np.random.get_state()[1] == state).all()  # the global generator is left as it was


def test_aggregate_hand_worked_example():
    # 2 runs x 4 games of normalised scores; 8 values sorted: 0, 1, 2, 3, 4, 5, 6, 100
    x = np.array([[0.0, 2.0, 4.0, 6.0], [1.0, 3.0, 5.0, 100.0]])
    out = stats.aggregate({"m": x}, reps=500)["m"]
    iqm, median, mean = out["IQM"][0], out["Median"][0], out["Mean"][0]
    assert iqm == pytest.approx((2 + 3 + 4 + 5) / 4)  # the middle half of the 8 runs
    # rliable's median: of the per-game means (0.5, 2.5, 4.5, 53) -> (2.5 + 4.5) / 2
    assert median == pytest.approx(3.5)
    # rliable's mean: of the per-game means
    assert mean == pytest.approx((0.5 + 2.5 + 4.5 + 53) / 4)
    for name in stats.AGGREGATES:
        p, lo, hi = out[name]
        assert lo <= p <= hi
    # the mean's interval: runs resampled within each game
    assert out["Mean"][1] >= (0 + 2 + 4 + 6) / 4 - 1e-9  # every resample is at least all-minima
    assert out["Mean"][2] <= (1 + 3 + 5 + 100) / 4 + 1e-9  # and at most all-maxima


def test_aggregate_one_run_collapses_to_the_point():
    out = stats.aggregate({"a": np.array([[0.2, 0.4, 0.9]])}, reps=100)["a"]
    for name, (p, lo, hi) in out.items():
        assert p == pytest.approx(lo) == pytest.approx(hi), name
    assert out["IQM"][0] == pytest.approx(stats.iqm(np.array([[0.2, 0.4, 0.9]])))


def test_aggregate_refuses_a_bad_matrix():
    with pytest.raises(ValueError, match="runs x games"):
        stats.aggregate({"a": np.array([1.0, 2.0])})
    assert math.isfinite(stats.iqm(np.ones((2, 2))))
