"""a2d.results.rliable_figs (performance profiles, probability of improvement, IQM curves) and
the stats behind them, on synthetic runs; the search-space MACs note checked against the code."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np
import pytest

from a2d.results import rliable_figs, stats, tables

GAMES = ["Breakout", "Pong"]
ARCHS = ["vanilla", "resnet20"]
METHOD = "a2d_one_level"
NETS = ["vanilla", "vanilla_kd", "resnet20", "resnet20_kd", f"searched_{METHOD}"]


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "runs"
    for g in GAMES:
        for k, net in enumerate(NETS):
            for s in (1, 2, 3):
                d = root / g / net / f"seed{s}"
                d.mkdir(parents=True)
                final = 10.0 * k + s  # A2D (k = 4) above every other net on every run
                (d / "eval.json").write_text(json.dumps({"mean": final, "macs": 1}))
                rows = [f"{step},{final * step / 1000},1.0" for step in (0, 500, 1000)]
                (d / "curve.csv").write_text("step,test_mean,test_std\n" + "\n".join(rows) + "\n")
    return root


def _outs(tmp_path):
    args, files = [], []
    for name in ("profile", "poi", "curves"):
        for ext in ("pdf", "png"):
            path = tmp_path / "figs" / f"{name}.{ext}"
            args += [f"--{name}-{ext}", str(path)]
            files.append(path)
    return args, files


def test_main_writes_the_three_figures(runs, tmp_path):
    args, files = _outs(tmp_path)
    rliable_figs.main(
        ["--runs", str(runs), "--games", *GAMES, "--archs", *ARCHS, "--method", METHOD]
        + ["--seeds", "1", "2", "3", "--kd", "--reps", "100", *args]
    )
    for f in files:
        head = f.read_bytes()[:5]
        assert head == (b"%PDF-" if f.suffix == ".pdf" else b"\x89PNG\r")
    assert plt.get_fignums() == []


def test_one_seed_writes_a_figure_that_says_so(runs, tmp_path):
    fig = rliable_figs.one_seed_figure("Performance profiles", [1])
    try:
        (text,) = fig.axes[0].texts
        assert "not computable with 1 seed" in text.get_text()
    finally:
        plt.close(fig)
    args, files = _outs(tmp_path)
    rliable_figs.main(
        ["--runs", str(runs), "--games", *GAMES, "--archs", *ARCHS, "--method", METHOD]
        + ["--seeds", "1", *args]
    )
    assert all(f.exists() for f in files)


def test_poi_pairs_and_values(runs):
    pairs = rliable_figs.poi_pairs(ARCHS, METHOD, kd_runs=True, nokd_runs=True)
    a2d = f"searched_{METHOD}"
    assert pairs == [
        (a2d, "vanilla"),
        (a2d, "vanilla_kd"),
        (a2d, "resnet20"),
        (a2d, "resnet20_kd"),
        (f"{a2d}_nokd", "vanilla"),
        (f"{a2d}_nokd", "resnet20"),
    ]
    fig = rliable_figs.poi_figure(runs, GAMES, pairs[:4], [1, 2, 3], reps=100)
    try:
        # A2D's every run beats every run of the others: P = 1, interval [1, 1]
        ticks = [ln for ln in fig.axes[0].get_lines() if ln.get_marker() == "|"]
        points = [ln.get_xdata()[0] for ln in ticks]
        assert points == pytest.approx([1.0] * 4)
    finally:
        plt.close(fig)


def test_probability_of_improvement_hand_example():
    # one game; x = [1, 3], y = [2, 2]: of the 4 (x, y) pairs, 3 > 2 twice, 1 > 2 never: 0.5
    p = stats.probability_of_improvement(
        {"p": (np.array([[1.0], [3.0]]), np.array([[2.0], [2.0]]))}, reps=50
    )["p"]
    assert p[0] == pytest.approx(0.5)
    # ties count one half: x = y everywhere -> 0.5 with an interval of one point
    q = stats.probability_of_improvement({"q": (np.ones((2, 2)), np.ones((2, 2)))}, reps=50)["q"]
    assert q == pytest.approx((0.5, 0.5, 0.5))


def test_performance_profile_and_iqm_curve():
    x = np.array([[0.1, 0.5], [0.3, 0.9]])  # 2 runs x 2 games
    prof = stats.performance_profile({"m": x}, np.array([0.0, 0.2, 0.6, 1.0]), reps=50)["m"]
    assert prof[0].tolist() == [1.0, 0.75, 0.25, 0.0]  # fraction of the 4 runs above tau
    curve = stats.iqm_curve({"m": np.stack([x, 2 * x], axis=-1)}, reps=50)["m"]
    # IQM of 4 values = mean of the middle two: (0.3 + 0.5) / 2, then twice that
    assert curve[0] == pytest.approx([0.4, 0.8])
    with pytest.raises(ValueError, match=">= 2 runs"):
        stats.performance_profile({"m": x[:1]}, np.array([0.0]))


def test_search_space_macs_match_the_models():
    from a2d.models import build, count_macs
    from a2d.models.builder import derived_spec, supernet_spec
    from a2d.models.cost import cell_macs_table

    table, fixed, _ = cell_macs_table(supernet_spec(), 4)
    lo, hi = fixed + sum(map(min, table)), fixed + sum(map(max, table))
    assert (lo, hi) == tables.search_space_macs() == (3_581_440, 55_900_048)  # docs' numbers
    assert count_macs(build(derived_spec(["k5_e6"] * 14), 4)) == hi
    assert hi < count_macs(build("resnet20", 4))  # fewer MACs than ResNet-20 by construction
    lo4, hi4 = tables.search_space_macs(stem_stride=4)
    assert count_macs(build(derived_spec(["k5_e6"] * 14, stem_stride=4), 4)) == hi4
    assert lo4 < lo and hi4 < hi / 3  # the stride-4 space: cells at a quarter of the area
