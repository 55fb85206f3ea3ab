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
CONTROLS = [*(f"{a}_kd" for a in ARCHS), f"searched_{METHOD}_nokd"]
T2 = 4.302653  # Student t, 0.975 quantile, 2 degrees of freedom (3 seeds)


def latency(arch, seed):
    return 0.1 * (list(ARCHS).index(arch) + 1 if arch in ARCHS else 0.5) + 0.01 * seed


def score(game, arch, seed):
    if arch.endswith("_kd"):  # a KD control: its net + 100
        return 100.0 + score(game, arch[:-3], seed)
    if arch.endswith("_nokd"):  # the no-teacher retraining: A2D - 5
        return score(game, arch[: -len("_nokd")], seed) - 5.0
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
            for arch in [*ARCHS, f"searched_{METHOD}", *CONTROLS]:
                d = root / g / arch / f"seed{s}"
                d.mkdir(parents=True)
                plain = arch.removesuffix("_nokd").removesuffix("_kd")
                macs = ARCHS.get(plain) or a2d_macs(g, s)
                (d / "eval.json").write_text(
                    json.dumps({"mean": score(g, arch, s), "std": 0.5 * s, "macs": macs})
                )
                if arch in CONTROLS:
                    continue
                e = tmp_path / "export" / g / arch / f"seed{s}"
                e.mkdir(parents=True)
                card = {"latency_ms_b1": {"onnxruntime": latency(arch, s), "pytorch_eager": 9.0}}
                (e / "agent.onnx.json").write_text(json.dumps(card))
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
        "MACs saving vs Vanilla",
        "MACs saving vs ResNet-14",
        "MACs saving vs ResNet-20",
    ]
    pong = rows[2]
    assert pong[0] == "Pong"
    # resnet14 on Pong: 21 + seed -> 22, 23, 24: mean 23, sd 1, Student-t half-width
    # 4.3027 / sqrt(3) = 2.48 (a bootstrap would say [22, 24])
    assert pong[3] == "23.0 [20.5, 25.5]"
    assert pong[6] == "76.70M [76.70M, 76.70M]"
    # A2D on Pong: 8.1M, 8.2M, 8.3M MACs -> mean 8.2M, half-width 0.1M * 2.48
    assert pong[8] == "8.20M [7.95M, 8.45M]"
    # saving vs each manual net: 1 - 8.2 / MACs(X); A2D has fewer than vanilla's 9.35M here
    assert pong[9] == f"{100 * (1 - 8.2 / 9.352704):.1f}% ({9.352704 / 8.2:.1f}x fewer)"
    assert pong[10] == f"{100 * (1 - 8.2 / 51.6):.1f}% ({51.6 / 8.2:.1f}x fewer)"
    assert pong[11] == "89.3% (9.4x fewer)"
    # Pooyan: A2D 9.1-9.3M MACs, just below vanilla's 9.35M
    assert rows[3][9] == f"{100 * (1 - 9.2 / 9.352704):.1f}% ({9.352704 / 9.2:.1f}x fewer)"
    note = (prefix.parent / "table1.md").read_text()
    assert "3.58M (smallest) to 55.90M MACs" in note
    # ResNet-20 (76.7M) is above the space's largest net, ResNet-14 (51.6M) is not
    assert "ResNet-20 has more, so every derived net has fewer MACs than ResNet-20 by" in note
    assert "than ResNet-14" not in note and "stem stride" not in note
    assert "n = 3 seeds" in note


def test_table1_with_controls_latency_and_steps(runs, tmp_path):
    root, _ = runs
    prefix = tmp_path / "t" / "table1"
    steps = {"a2d": {"teacher": 10, "search": 20, "retrain": 10}, "baseline": 10}
    tables.main(
        ["table1", "--runs", str(root), "--games", "Pong", "--archs", "vanilla", "resnet20"]
        + ["--method", METHOD, "--seeds", "1", "2", "3", "--kd", "--nokd"]
        + ["--exports", str(tmp_path / "export"), "--steps-json", json.dumps(steps)]
        + ["--out", str(prefix)]
    )
    rows = check_agree(prefix)
    assert rows[0] == [
        "Game",
        "Vanilla score",
        "Vanilla + KD score",
        "Vanilla MACs",
        "Vanilla latency b1 (ms)",
        "ResNet-20 score",
        "ResNet-20 + KD score",
        "ResNet-20 MACs",
        "ResNet-20 latency b1 (ms)",
        "A2D-One-level score",
        "A2D-One-level (no KD) score",
        "A2D-One-level MACs",
        "A2D-One-level latency b1 (ms)",
        "MACs saving vs Vanilla",
        "MACs saving vs ResNet-20",
    ]
    pong = dict(zip(rows[0], rows[1]))
    # the KD control's scores are its own runs' (+100 in the fixture), not the plain net's
    assert pong["Vanilla score"] == "22.0 [19.5, 24.5]"
    assert pong["Vanilla + KD score"] == "122.0 [119.5, 124.5]"
    assert pong["A2D-One-level score"] == "42.0 [39.5, 44.5]"
    assert pong["A2D-One-level (no KD) score"] == "37.0 [34.5, 39.5]"
    # latency from the export cards: ResNet-20 0.3 + 0.01 * seed -> mean 0.32
    assert pong["ResNet-20 latency b1 (ms)"].startswith("0.32 [")
    assert pong["A2D-One-level latency b1 (ms)"].startswith("0.07 [")
    note = (prefix.parent / "table1.md").read_text()
    assert "Env steps consumed per pipeline: A2D (teacher + search + retrain with KD) 40" in note
    assert "(teacher 10 + search 20 + retrain 10)" in note and "manual net 10" in note
    assert "+ KD: the manual net trained with that same distillation" in note


def test_table1_reference_and_one_seed(runs):
    root, _ = runs
    t = tables.table1(root, ["Breakout"], list(ARCHS), METHOD, [2], reference="vanilla")
    row = t.rows[0]
    assert row[1] == "12.0 (1 seed)"  # vanilla, seed 2: no interval at all with one seed
    assert not any("[" in c or "±" in c for c in row)
    assert t.header[-1] == "MACs saving vs Vanilla"
    assert row[-1] == f"{100 * (1 - 7.2 / 9.352704):.1f}% ({9.352704 / 7.2:.1f}x fewer)"
    assert "seed 2 only: no interval (1 seed)" in t.note
    with pytest.raises(ResultsError, match="--reference 'resnet32' is not one of --archs"):
        tables.table1(root, ["Breakout"], list(ARCHS), METHOD, [2], reference="resnet32")


def test_table1_missing_run_is_named(runs):
    root, _ = runs
    with pytest.raises(ResultsError, match="missing input file: .*Seaquest"):
        tables.table1(root, ["Seaquest"], list(ARCHS), METHOD, [1])


def test_fig3_point_and_plot(runs, tmp_path):
    root, rnd = runs
    mx, mlo, mhi, y, ylo, yhi = fig3.point(root, "Pong", f"searched_{METHOD}", SEEDS)
    half = T2 / np.sqrt(3)  # sd 1 (score) and 0.1M (MACs) over 3 seeds
    assert (mx, mlo, mhi) == pytest.approx((8.2e6, 8.2e6 - 1e5 * half, 8.2e6 + 1e5 * half))
    assert (y, ylo, yhi) == pytest.approx((42.0, 42.0 - half, 42.0 + half))
    one = fig3.point(root, "Pong", "vanilla", [3])  # one seed: no interval
    assert one[0] == ARCHS["vanilla"] and one[3] == 23.0
    assert all(np.isnan(one[i]) for i in (1, 2, 4, 5))
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


def test_fig3_shows_the_controls_beside_the_plain_runs(runs):
    root, _ = runs
    fig = fig3.make_figure(root, ["Pong"], list(ARCHS), METHOD, SEEDS, kd=True, nokd=True)
    try:
        bars = fig.axes[0].containers
        assert [b.get_label() for b in bars] == [
            "Vanilla",
            "Vanilla + KD",
            "ResNet-14",
            "ResNet-14 + KD",
            "ResNet-20",
            "ResNet-20 + KD",
            "A2D-One-level",
            "A2D-One-level (no KD)",
        ]
        ys = [b.lines[0].get_ydata()[0] for b in bars]
        assert ys == pytest.approx([22, 122, 23, 123, 24, 124, 42, 37])
        # a control is drawn hollow in its plain net's colour
        plain, control = bars[0].lines[0], bars[1].lines[0]
        assert control.get_markerfacecolor() == "none"
        assert control.get_color() == plain.get_color()
    finally:
        plt.close(fig)


def test_fig3_one_seed_has_no_error_bars(runs):
    root, _ = runs
    fig = fig3.make_figure(root, ["Pong"], ["vanilla"], METHOD, [1])
    try:
        for bar in fig.axes[0].containers:
            assert bar.has_xerr is False and bar.has_yerr is False
        assert "1 seed: mean only, no interval" in fig._suptitle.get_text()
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


def test_aggregate_with_controls_and_one_seed(runs, tmp_path):
    root, _ = runs
    pdf, png, prefix = tmp_path / "agg.pdf", tmp_path / "agg.png", tmp_path / "agg"
    aggregate.main(
        ["--runs", str(root), "--games", *GAMES, "--archs", "vanilla", "--method", METHOD]
        + ["--seeds", "2", "--reps", "50", "--kd", "--nokd", "--pdf", str(pdf)]
        + ["--png", str(png), "--out", str(prefix), "--steps-json", '{"baseline": 5000000}']
    )
    rows = check_agree(prefix)
    assert [r[0] for r in rows[1:]] == [
        "Vanilla",
        "Vanilla + KD",
        "A2D-One-level",
        "A2D-One-level (no KD)",
    ]
    # one seed: the point and "(1 seed)", no degenerate [x, x]
    for r in rows[1:]:
        assert all(c.endswith(" (1 seed)") and "[" not in c for c in r[1:]), r
    md = (tmp_path / "agg.md").read_text()
    assert "no interval (1 seed)" in md and "manual net 5M" in md
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
