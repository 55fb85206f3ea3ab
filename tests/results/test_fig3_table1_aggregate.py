"""Fig 3, Table 1 and the aggregate on synthetic run outputs (results files only)."""

from __future__ import annotations

import json
import os

import matplotlib.pyplot as plt
import numpy as np
import pytest
from test_tables import check_agree

from a2d.results import ResultsError, aggregate, fig3, tables
from a2d.results.stats import human_normalized

GAMES = ["Breakout", "Pong", "Pooyan"]  # Pooyan: no published human score
ARCHS = {"vanilla": 9_352_704, "resnet14": 51_600_000, "resnet20": 76_700_000}
METHOD = "a2d_one_level"
SEEDS = [1, 2, 3]


def score(game, arch, seed):
    return (
        10.0 * (GAMES.index(game) + 1) + list(ARCHS).index(arch) + seed
        if arch in ARCHS
        else (20.0 * (GAMES.index(game) + 1) + seed)
    )


def a2d_macs(game, seed):
    return 7_000_000 + 1_000_000 * GAMES.index(game) + 100_000 * seed


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "runs"
    for g in GAMES:
        for s in SEEDS:
            for arch in [*ARCHS, f"searched_{METHOD}"]:
                d = root / g / arch / f"seed{s}"
                d.mkdir(parents=True)
                macs = ARCHS.get(arch) or a2d_macs(g, s)
                (d / "eval.json").write_text(
                    json.dumps({"mean": score(g, arch, s), "std": 0.5 * s, "macs": macs})
                )
    rnd = tmp_path / "random"
    rnd.mkdir()
    (rnd / "Breakout.json").write_text(json.dumps({"mean": 1.2}))
    return root, rnd


def test_table1(runs, tmp_path):
    root, _ = runs
    prefix = tmp_path / "t" / "table1"
    tables.main(
        ["table1", "--runs", str(root), "--games", *GAMES, "--archs", *ARCHS]
        + ["--method", METHOD, "--seeds", "1", "2", "3", "--out", str(prefix)]
    )
    rows = check_agree(prefix)
    assert rows[0] == [
        "Game",
        "Vanilla score",
        "Vanilla MACs",
        "ResNet-14 score",
        "ResNet-14 MACs",
        "ResNet-20 score",
        "ResNet-20 MACs",
        "A2D-One-level score",
        "A2D-One-level MACs",
        "MACs saving vs ResNet-20",
    ]
    pong = rows[2]
    assert pong[0] == "Pong"
    # resnet14 on Pong: 21 + seed -> 22, 23, 24: mean 23, 95 % interval [min, max] with 3 seeds
    assert pong[3] == "23.0 [22.0, 24.0]"
    assert pong[6] == "76.70M [76.70M, 76.70M]"
    # A2D on Pong: 8.1M, 8.2M, 8.3M MACs -> mean 8.2M; saving 1 - 8.2 / 76.7
    assert pong[8] == "8.20M [8.10M, 8.30M]"
    assert (
        pong[9]
        == f"{100 * (1 - 8.2 / 76.7):.1f}% ({76.7 / 8.2:.1f}x fewer)"
        == "89.3% (9.4x fewer)"
    )


def test_table1_reference_and_one_seed(runs):
    root, _ = runs
    t = tables.table1(root, ["Breakout"], list(ARCHS), METHOD, [2], reference="vanilla")
    row = t.rows[0]
    assert row[1] == "12.0 ± 1.0 (1 seed)"  # vanilla, seed 2: score 12, test std 1.0
    assert row[-1] == f"{100 * (1 - 7.2 / 9.352704):.1f}% ({9.352704 / 7.2:.1f}x fewer)"
    with pytest.raises(ResultsError, match="--reference 'resnet32' is not one of --archs"):
        tables.table1(root, ["Breakout"], list(ARCHS), METHOD, [2], reference="resnet32")


def test_table1_missing_run_is_named(runs):
    root, _ = runs
    with pytest.raises(ResultsError, match="missing input file: .*Seaquest"):
        tables.table1(root, ["Seaquest"], list(ARCHS), METHOD, [1])


def test_fig3_point_and_plot(runs, tmp_path):
    root, rnd = runs
    mx, mlo, mhi, y, ylo, yhi = fig3.point(root, "Pong", f"searched_{METHOD}", SEEDS)
    assert (mx, mlo, mhi) == pytest.approx((8.2e6, 8.1e6, 8.3e6))
    assert (y, ylo, yhi) == pytest.approx((42.0, 41.0, 43.0))
    one = fig3.point(root, "Pong", "vanilla", [3])
    assert one == pytest.approx((ARCHS["vanilla"],) * 3 + (23.0, 21.5, 24.5))
    pdf, png = tmp_path / "f" / "fig3.pdf", tmp_path / "f" / "fig3.png"
    fig3.main(
        ["--runs", str(root), "--games", *GAMES, "--archs", *ARCHS, "--method", METHOD]
        + ["--seeds", "1", "2", "3", "--random", str(rnd), "--pdf", str(pdf), "--png", str(png)]
    )
    assert pdf.read_bytes()[:5] == b"%PDF-" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(os.listdir(pdf.parent)) == ["fig3.pdf", "fig3.png"]
    assert plt.get_fignums() == []


def test_fig3_figure_has_a_point_per_net_on_each_game(runs):
    root, rnd = runs
    nets = [*ARCHS, f"searched_{METHOD}"]
    fig = fig3.make_figure(root, GAMES, list(ARCHS), METHOD, SEEDS, random_dir=rnd)
    try:
        assert [ax.get_title() for ax in fig.axes[:3]] == GAMES
        assert [ax.axison for ax in fig.axes] == [True, True, True]
        for ax, game in zip(fig.axes, GAMES):
            assert ax.get_xscale() == "log"
            bars = ax.containers  # one errorbar per net, in order
            assert [b.get_label() for b in bars] == ["Vanilla", "ResNet-14", "ResNet-20"] + [
                "A2D-One-level"
            ]
            for bar, net in zip(bars, nets):
                data_line = bar.lines[0]
                mx, _, _, y, _, _ = fig3.point(root, game, net, SEEDS)
                assert (data_line.get_xdata()[0], data_line.get_ydata()[0]) == pytest.approx(
                    (mx, y)
                )
            randoms = [ln for ln in ax.get_lines() if ln.get_label() == "random"]
            assert [list(ln.get_ydata()) for ln in randoms] == (
                [[1.2, 1.2]] if game == "Breakout" else []
            )
        # Pong, A2D: mean score 42 over seeds, MACs 8.2M
        a2d = fig.axes[1].containers[-1].lines[0]
        assert (a2d.get_xdata()[0], a2d.get_ydata()[0]) == pytest.approx((8.2e6, 42.0))
    finally:
        plt.close(fig)


def test_fig3_missing_run_writes_nothing(runs, tmp_path):
    root, _ = runs
    pdf, png = tmp_path / "f" / "fig3.pdf", tmp_path / "f" / "fig3.png"
    with pytest.raises(ResultsError, match="missing input file: .*Seaquest/vanilla/seed1"):
        fig3.plot(root, ["Breakout", "Seaquest"], list(ARCHS), METHOD, SEEDS, pdf, png)
    assert not pdf.exists() and not png.exists()
    assert plt.get_fignums() == []


def test_aggregate_normalises_and_skips_games_without_references(runs):
    root, _ = runs
    nets = [*ARCHS, f"searched_{METHOD}"]
    scores, used, skipped = aggregate.normalized_scores(root, GAMES, nets, SEEDS)
    assert used == ["Breakout", "Pong"] and skipped == ["Pooyan"]
    m = scores["resnet20"]
    assert m.shape == (3, 2)
    assert m[0, 1] == pytest.approx(human_normalized("Pong", 23.0))  # Pong resnet20 seed 1
    assert m[2, 0] == pytest.approx((15.0 - 1.7) / (30.5 - 1.7))  # Breakout resnet20 seed 3


def test_aggregate_outputs(runs, tmp_path):
    root, _ = runs
    pdf, png, prefix = tmp_path / "agg.pdf", tmp_path / "agg.png", tmp_path / "agg"
    aggregate.main(
        ["--runs", str(root), "--games", *GAMES, "--archs", *ARCHS, "--method", METHOD]
        + ["--seeds", "1", "2", "3", "--reps", "300", "--pdf", str(pdf), "--png", str(png)]
        + ["--out", str(prefix)]
    )
    rows = check_agree(prefix)
    assert rows[0] == ["Net", "IQM", "Median", "Mean"]
    assert [r[0] for r in rows[1:]] == ["Vanilla", "ResNet-14", "ResNet-20", "A2D-One-level"]
    # A2D mean: per-game means Breakout 22 -> (22-1.7)/28.8, Pong 42 -> (42+20.7)/35.3
    expect = np.mean([(22 - 1.7) / 28.8, (42 + 20.7) / 35.3])
    assert rows[4][3].startswith(f"{expect:.3f} [")
    md = (tmp_path / "agg.md").read_text()
    assert "Pooyan" in md and "left out" in md
    assert pdf.read_bytes()[:5] == b"%PDF-" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plt.get_fignums() == []


def test_aggregate_figure_shows_each_nets_interval_and_point(runs):
    root, _ = runs
    agg, nets, used, skipped = aggregate.build(root, GAMES, list(ARCHS), METHOD, SEEDS, reps=300)
    fig = aggregate.make_figure(agg, nets, used, SEEDS)
    try:
        assert [ax.get_title() for ax in fig.axes] == ["IQM", "Median", "Mean"]
        labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
        assert labels == ["Vanilla", "ResNet-14", "ResNet-20", "A2D-One-level"]
        for ax, name in zip(fig.axes, ["IQM", "Median", "Mean"]):
            points = ax.get_lines()  # one tick per net, top to bottom in the order of nets
            assert len(points) == len(nets) == len(ax.collections)
            for y, (net, line, bars) in enumerate(zip(nets, points, ax.collections)):
                p, lo, hi = agg[net][name]
                assert (line.get_xdata()[0], line.get_ydata()[0]) == pytest.approx(
                    (p, len(nets) - 1 - y)
                )
                (seg,) = bars.get_segments()
                assert seg[:, 0] == pytest.approx([lo, hi])
        assert "2 game(s), 3 seed(s)" in fig._suptitle.get_text()
    finally:
        plt.close(fig)


def test_aggregate_without_any_reference_game_is_refused(runs):
    root, _ = runs
    with pytest.raises(ResultsError, match="reference scores"):
        aggregate.normalized_scores(root, ["Pooyan"], ["vanilla"], SEEDS)


def test_aggregate_eval_without_a_mean_is_named(runs):
    root, _ = runs
    path = root / "Pong" / "vanilla" / "seed2" / "eval.json"
    path.write_text(json.dumps({"std": 1.0, "macs": 1}))
    with pytest.raises(ResultsError) as e:
        aggregate.normalized_scores(root, GAMES, ["vanilla"], SEEDS)
    assert str(e.value) == f"input file {path} has no 'mean'"
