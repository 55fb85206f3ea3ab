"""a2d.results.fig1 on synthetic results files: the figure's data, read back from its axes."""

from __future__ import annotations

import csv
import json
import os

import matplotlib.pyplot as plt
import numpy as np
import pytest

from a2d.results import ResultsError, fig1

GAMES = ["Breakout", "Pong"]
ARCHS = {"vanilla": 9_345_536, "resnet8": 26_372_864}
SEEDS = [1, 2]
FIELDS = ["step", "test_mean", "test_std", "train_return"]  # curve.csv (timing is elsewhere)
STEPS = [0, 128, 256]


def score(step, arch_index, seed):
    return step / 64 + arch_index + seed


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "runs"
    for g in GAMES:
        for i, (arch, macs) in enumerate(ARCHS.items()):
            for s in SEEDS:
                d = root / g / arch / f"seed{s}"
                d.mkdir(parents=True)
                (d / "model.json").write_text(
                    json.dumps({"arch": arch, "macs": macs, "params": 1000})
                )
                with open(d / "curve.csv", "w", newline="") as f:
                    w = csv.DictWriter(f, fieldnames=FIELDS)
                    w.writeheader()
                    for step in STEPS:
                        w.writerow(
                            {
                                "step": step,
                                "test_mean": score(step, i, s),
                                "test_std": 0.5,
                                "train_return": "nan",
                            }
                        )
    rnd = tmp_path / "random"
    rnd.mkdir()
    (rnd / "Breakout.json").write_text(json.dumps({"mean": 1.2}))
    return root, rnd


def _band(collection):
    """(lowest, highest) y of a fill_between band."""
    ys = np.concatenate([p.vertices[:, 1] for p in collection.get_paths()])
    return ys.min(), ys.max()


def test_figure_has_a_panel_per_game_and_a_line_per_arch(runs):
    root, rnd = runs
    fig = fig1.make_figure(root, GAMES, list(ARCHS), SEEDS, random_dir=rnd)
    try:
        axes = fig.axes
        assert [ax.get_title() for ax in axes] == GAMES
        for ax in axes:
            lines = [ln for ln in ax.get_lines() if ln.get_label() != "random"]
            assert [ln.get_label() for ln in lines] == [
                "vanilla (9.3M MACs)",
                "resnet8 (26.4M MACs)",
            ]
            for i, ln in enumerate(lines):
                assert ln.get_xdata().tolist() == STEPS
                # the mean over seeds 1 and 2
                assert ln.get_ydata() == pytest.approx([score(s, i, 1.5) for s in STEPS])
            # two seeds 1 apart: Student-t band mean ± t(0.975, 1 df) * 0.5 = ± 6.353 (a
            # percentile bootstrap would have been [seed 1, seed 2], ± 0.5)
            bands = ax.collections
            assert len(bands) == len(ARCHS)
            for i, band in enumerate(bands):
                lo, hi = _band(band)
                assert lo == pytest.approx(score(0, i, 1.5) - 6.3531, abs=1e-3)
                assert hi == pytest.approx(score(256, i, 1.5) + 6.3531, abs=1e-3)
        # the random policy's score only where there is one (Breakout)
        breakout, pong = axes
        (rnd_line,) = [ln for ln in breakout.get_lines() if ln.get_label() == "random"]
        assert list(rnd_line.get_ydata()) == [1.2, 1.2]
        assert "random" not in [ln.get_label() for ln in pong.get_lines()]
        assert "2 seeds; 95 % Student-t CI of the mean (n = 2)" in fig._suptitle.get_text()
    finally:
        plt.close(fig)


def test_one_seed_has_no_band_and_unused_panels_are_blank(runs):
    root, _ = runs
    games = ["Pong"] * 5  # 5 panels on a 4-column grid: 3 blank ones
    fig = fig1.make_figure(root, games, ["resnet8"], [2])
    try:
        assert len(fig.axes) == 8
        assert [ax.axison for ax in fig.axes] == [True] * 5 + [False] * 3
        ax = fig.axes[0]
        (line,) = ax.get_lines()
        assert line.get_ydata() == pytest.approx([score(s, 1, 2) for s in STEPS])
        # one seed: no interval, so no band (its test-episode std is not one)
        assert all(len(c.get_paths()) == 0 for c in ax.collections)
        assert "1 seed: mean only, no interval" in fig._suptitle.get_text()
    finally:
        plt.close(fig)


def test_main_writes_pdf_and_png_and_closes_the_figure(runs, tmp_path):
    root, rnd = runs
    pdf, png = tmp_path / "out" / "f.pdf", tmp_path / "out" / "f.png"
    fig1.main(
        ["--runs", str(root), "--random", str(rnd), "--games", *GAMES, "--archs", *ARCHS]
        + ["--seeds", "1", "2", "--pdf", str(pdf), "--png", str(png)]
    )
    assert pdf.read_bytes()[:5] == b"%PDF-" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(os.listdir(pdf.parent)) == ["f.pdf", "f.png"]  # no temp files left
    assert plt.get_fignums() == []


def test_missing_run_raises_a_results_error_and_writes_nothing(runs, tmp_path):
    root, _ = runs
    with pytest.raises(ResultsError, match="missing input file: .*resnet20/seed1/curve.csv"):
        fig1.plot(root, ["Breakout"], ["resnet20"], SEEDS, tmp_path / "f.pdf", tmp_path / "f.png")
    assert not (tmp_path / "f.pdf").exists()
    assert plt.get_fignums() == []  # the half-built figure is closed
    with pytest.raises(SystemExit) as e:  # the command line: one line, exit status 1
        fig1.main(
            ["--runs", str(root), "--games", "Breakout", "--archs", "resnet20", "--seeds", "1"]
            + ["--pdf", str(tmp_path / "f.pdf"), "--png", str(tmp_path / "f.png")]
        )
    assert e.value.code == f"missing input file: {root}/Breakout/resnet20/seed1/curve.csv"
