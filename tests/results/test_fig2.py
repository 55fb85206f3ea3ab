"""a2d.results.fig2 on synthetic search curves."""

from __future__ import annotations

import csv
import math
import os

import matplotlib.pyplot as plt
import numpy as np
import pytest

from a2d.results import ResultsError, fig2
from a2d.results.curves import method_label, read_curve

GAMES = ["Breakout", "Pong"]
METHODS = ["vanilla_dnas", "a2d_one_level", "a2d_bi_level"]
SEEDS = [1, 2]
FIELDS = [
    "step",
    "test_mean",
    "test_std",
    "temperature",
    "expected_macs",
    "lambda_f",
    "argmax_macs",
    "alpha_entropy",
    "phase",
]


def write_search_curve(path, steps=(0, 128, 256, 384, 512), warmup_until=128, offset=0.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        for step in steps:
            warm = step <= warmup_until
            w.writerow(
                {
                    "step": step,
                    "test_mean": step / 64 + offset,
                    "test_std": 0.5,
                    "temperature": math.nan if warm else 5.0 - step / 256,
                    "expected_macs": 9e6,
                    "lambda_f": 0.1,
                    "argmax_macs": 8e6,
                    "alpha_entropy": 2.1,
                    "phase": "warmup" if warm else "search",
                }
            )


@pytest.fixture
def search(tmp_path):
    root = tmp_path / "search"
    for g in GAMES:
        for i, m in enumerate(METHODS):
            for s in SEEDS:
                write_search_curve(root / g / m / f"seed{s}" / "search_curve.csv", offset=i + s)
    return root


def _x_extent(patch):
    """(left, right) in data coordinates of an axvspan patch (a Rectangle or a Polygon)."""
    xs = patch.get_patch_transform().transform(patch.get_path().vertices)[:, 0]
    return xs.min(), xs.max()


def test_figure_has_a_line_per_method_and_the_warmup_span(search):
    fig = fig2.make_figure(search, GAMES, METHODS, SEEDS)
    try:
        assert [ax.get_title() for ax in fig.axes] == GAMES
        for ax in fig.axes:
            lines = ax.get_lines()
            assert [ln.get_label() for ln in lines] == [method_label(m) for m in METHODS]
            for i, ln in enumerate(lines):
                assert ln.get_xdata().tolist() == [0, 128, 256, 384, 512]
                # offset i + seed, averaged over seeds 1 and 2
                assert ln.get_ydata() == pytest.approx([s / 64 + i + 1.5 for s in ln.get_xdata()])
            assert len(ax.collections) == len(METHODS)  # one band per method
            # warm-up: evaluations at 0 and 128, the first search-phase one at 256
            (span,) = ax.patches
            assert _x_extent(span) == pytest.approx((0.0, 256.0))
        labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert labels == [method_label(m) for m in METHODS] + ["warm-up"]
        assert "grey: warm-up" in fig._suptitle.get_text()
    finally:
        plt.close(fig)


def test_main_single_seed_writes_both_formats(search, tmp_path):
    pdf, png = tmp_path / "out" / "f.pdf", tmp_path / "out" / "f.png"
    fig2.main(
        ["--search", str(search), "--games", "Pong", "--methods", *METHODS, "--seeds", "1"]
        + ["--pdf", str(pdf), "--png", str(png)]
    )
    assert pdf.read_bytes()[:5] == b"%PDF-" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(os.listdir(pdf.parent)) == ["f.pdf", "f.png"]  # no temp files left
    assert plt.get_fignums() == []


def test_one_seed_has_no_band(search):
    fig = fig2.make_figure(search, ["Pong"], ["a2d_bi_level"], [2])
    try:
        ax = fig.axes[0]
        (line,) = ax.get_lines()
        assert line.get_ydata() == pytest.approx([s / 64 + 2 + 2 for s in line.get_xdata()])
        bands = [c for c in ax.collections if type(c).__name__ == "FillBetweenPolyCollection"]
        assert all(len(c.get_paths()) == 0 for c in bands)  # no interval with one seed
        assert "1 seed: mean only, no interval" in fig._suptitle.get_text()
        assert "alpha = 0: every point tests the all-k3_e1 net" in fig._suptitle.get_text()
    finally:
        plt.close(fig)


def test_read_search_curve_keeps_phase_and_nan_temperature(search):
    c = read_curve(search / "Pong" / "a2d_one_level" / "seed1" / "search_curve.csv")
    assert c["phase"].tolist() == ["warmup", "warmup", "search", "search", "search"]
    assert np.isnan(c["temperature"][:2]).all() and c["temperature"][2] == pytest.approx(4.0)
    assert c["step"].dtype.kind == "f"


def test_warmup_span():
    phase = np.array(["warmup", "warmup", "search"])
    step = np.array([0.0, 10.0, 20.0])
    assert fig2.warmup_span({"step": step, "phase": phase}) == (0.0, 20.0)
    assert fig2.warmup_span({"step": step, "phase": np.array(["search"] * 3)}) is None
    assert fig2.warmup_span({"step": step, "phase": np.array(["warmup"] * 3)}) == (0.0, 20.0)
    assert fig2.warmup_span({"step": step}) is None


def test_method_labels():
    assert [method_label(m) for m in METHODS + ["a2d_actor_only", "a2d_critic_only", "x_y"]] == [
        "Vanilla-DNAS",
        "A2D-One-level",
        "A2D-Bi-level",
        "A2D-actor-only",
        "A2D-critic-only",
        "x_y",
    ]


def test_missing_curve_fails_without_outputs(search, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ResultsError, match="missing input file: .*a2d_actor_only/seed1"):
        fig2.plot(search, GAMES, ["a2d_actor_only"], SEEDS, out / "f.pdf", out / "f.png")
    assert not out.exists()
    assert plt.get_fignums() == []
