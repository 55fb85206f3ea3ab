"""a2d.results.tables on synthetic search and run outputs."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest

from a2d.results import ResultsError, tables
from a2d.results.tables import Table, fmt, fmt_mean_spread, latex_escape, mean_spread

GAMES = ["Breakout", "Pong"]
ABLATION = ["vanilla_dnas", "a2d_actor_only", "a2d_critic_only", "a2d_one_level"]
LABELS = ["none", "actor", "critic", "both"]
FIG2 = ["vanilla_dnas", "a2d_one_level", "a2d_bi_level"]
SEEDS = [1, 2, 3]
OPS = ["k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6", "skip"]


def arch_ops(seed: int) -> list[str]:
    return [OPS[(i + seed) % len(OPS)] for i in range(14)]


def search_score(game, method, seed):
    return 10.0 * (GAMES.index(game) + 1) + (ABLATION + FIG2).index(method) + seed


def retrained_score(game, method, seed):
    return 2 * search_score(game, method, seed) + seed**2


def macs(method, seed):
    return 9_345_536 + 100_000 * seed + 1000 * len(method)


def wall(method, seed):
    return 3600.4 + 50.0 * seed + len(method)


def _eval(mean, std, game, arch, seed):
    return {
        "mean": mean,
        "std": std,
        "episodes": 10,
        "scores": [mean] * 10,
        "frame_cap": 108000,
        "sticky": 0.25,
        "noop_max": 30,
        "macs": 1,
        "params": 1,
        "train_wall_s": 1.0,
        "game": game,
        "arch": arch,
        "seed": seed,
        "steps": 1000,
    }


@pytest.fixture
def roots(tmp_path):
    search, runs = tmp_path / "search", tmp_path / "runs"
    for g in GAMES:
        for m in dict.fromkeys(ABLATION + FIG2):
            for s in SEEDS:
                d = search / g / m / f"seed{s}"
                d.mkdir(parents=True)
                arch = {
                    "arch": m,
                    "ops": arch_ops(s),
                    "layers": [],
                    "fc": 512,
                    "macs": macs(m, s),
                    "params": 1_234_567 + s,
                    "game": g,
                    "method": m,
                    "seed": s,
                    "search_steps": 1000,
                    "search_wall_s": wall(m, s),
                    "norm": "none",
                    "confidence": [0.5] * 14,
                    "latency_ms_b1": 1.2345 + s,
                }
                if s == 3:
                    del arch["latency_ms_b1"]  # older arch.json without a latency
                (d / "arch.json").write_text(json.dumps(arch))
                (d / "eval.json").write_text(
                    json.dumps(_eval(search_score(g, m, s), 0.25 * s, g, m, s))
                )
                r = runs / g / f"searched_{m}" / f"seed{s}"
                r.mkdir(parents=True)
                (r / "eval.json").write_text(
                    json.dumps(_eval(retrained_score(g, m, s), 0.5 * s, g, f"searched_{m}", s))
                )
                (r / "model.json").write_text(
                    json.dumps({"arch": f"searched_{m}", "macs": macs(m, s), "params": 1})
                )
                # the control: the same derived net retrained without the teacher (score - 30)
                n = runs / g / f"searched_{m}_nokd" / f"seed{s}"
                n.mkdir(parents=True)
                nokd = retrained_score(g, m, s) - 30
                (n / "eval.json").write_text(
                    json.dumps(_eval(nokd, 0.5 * s, g, f"searched_{m}_nokd", s))
                )
    return search, runs


# ---------------------------------------------------------------- parsing the three renderings


def read_outputs(prefix):
    md = (prefix.parent / (prefix.name + ".md")).read_text()
    tex = (prefix.parent / (prefix.name + ".tex")).read_text()
    rows = list(csv.reader(io.StringIO((prefix.parent / (prefix.name + ".csv")).read_text())))
    md_rows = [
        [c.strip() for c in line.strip().strip("|").split(" | ")]
        for line in md.splitlines()
        if line.startswith("| ")
    ]
    tex_rows = [
        [c.strip() for c in line[: -len("\\\\")].split(" & ")]
        for line in tex.splitlines()
        if line.endswith("\\\\")
    ]
    return rows, md_rows, tex_rows, md, tex


def check_agree(prefix):
    rows, md_rows, tex_rows, md, tex = read_outputs(prefix)
    assert len(rows) == len(md_rows) == len(tex_rows) > 1
    for csv_row, md_row, tex_row in zip(rows, md_rows, tex_rows):
        assert len(csv_row) == len(md_row) == len(tex_row)
        for cell, md_cell, tex_cell in zip(csv_row, md_row, tex_row):
            assert md_cell == cell
            assert tex_cell == latex_escape(cell)
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
    return rows


# ---------------------------------------------------------------- numbers


def test_mean_spread_hand_checked():
    # Student-t: mean ± t_{0.975, n-1} * sd / sqrt(n); [1, 2, 6]: sd = sqrt(7), t_2 = 4.3027,
    # half-width 6.572 (a percentile bootstrap of 3 values would say [min, max] = [1, 6])
    assert mean_spread([1.0, 2.0, 6.0]) == pytest.approx((3.0, -3.572, 9.572), abs=1e-3)
    # one seed: no interval, and a test-episode std is not turned into one
    assert all(math.isnan(v) for v in mean_spread([4.0], [0.7])[1:])
    assert all(math.isnan(v) for v in mean_spread([4.0])[1:])
    assert fmt_mean_spread([1.0, 2.0, 6.0], "score") == "3.0 [-3.6, 9.6]"
    assert fmt_mean_spread([4.0], "score", [0.75]) == "4.0 (1 seed)"
    assert fmt_mean_spread([9_345_536], "macs") == "9.35M (1 seed)"
    # two seeds 1M apart: se 0.5M, t_1 = 12.706: ± 6.35M
    assert fmt_mean_spread([9e6, 10e6], "macs") == "9.50M [3.15M, 15.85M]"
    assert fmt_mean_spread([3600.4, 3700.6], "seconds") == "3650 [3014, 4287]"


def test_steps_note_and_read_steps(tmp_path):
    steps = {"a2d": {"teacher": 10_000_000, "search": 10_000_000, "retrain": 10_000_000}}
    steps["baseline"] = 10_000_000
    note = tables.steps_note(steps)
    assert note == (
        " Env steps consumed per pipeline: A2D (teacher + search + retrain with KD) 30M"
        " (teacher 10M + search 10M + retrain 10M); manual net 10M."
    )
    assert tables.steps_note(None) == ""
    path = tmp_path / "steps.json"
    path.write_text(json.dumps(steps))
    assert tables.read_steps(str(path)) == steps == tables.read_steps(json.dumps(steps))
    bad = tmp_path / "list.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ResultsError, match="--steps-json is not a JSON object"):
        tables.read_steps(str(bad))


def test_fmt():
    assert fmt(9_345_536, "macs") == "9.35M"
    assert fmt(1_686_000, "params") == "1.69M"
    assert fmt(12.345, "score") == "12.3"
    assert fmt(3599.7, "seconds") == "3600"
    assert fmt(None, "ms") == "-" and fmt(math.nan, "score") == "-"


def test_latex_escape():
    assert latex_escape("k3_e1_g2 50% a&b #1") == r"k3\_e1\_g2 50\% a\&b \#1"
    assert latex_escape("1.0 ± 0.5") == r"1.0 $\pm$ 0.5"


def test_renderings_agree_with_awkward_cells(tmp_path):
    t = Table("T", ["a_b", "c"], [["x|y", "50% & #2"], ["k5_e6", "1.0 ± 2.0"]], note="n")
    tables.write_table(t, tmp_path / "t")
    csv_rows = list(csv.reader(io.StringIO((tmp_path / "t.csv").read_text())))
    assert csv_rows == [t.header, *t.rows]
    assert "| x\\|y | 50% & #2 |" in (tmp_path / "t.md").read_text()
    assert r"x|y & 50\% \& \#2 \\" in (tmp_path / "t.tex").read_text()
    with pytest.raises(ValueError):
        Table("T", ["a", "b"], [["only one"]])


# ---------------------------------------------------------------- the three tables


def test_table2(roots, tmp_path):
    search, runs = roots
    prefix = tmp_path / "out" / "table2"
    tables.main(
        ["table2", "--search", str(search), "--runs", str(runs), "--games", *GAMES]
        + ["--methods", *ABLATION, "--labels", *LABELS, "--seeds", *map(str, SEEDS)]
        + ["--nokd", "--out", str(prefix)]
    )
    rows = check_agree(prefix)
    assert rows[0] == [
        "Game",
        "Distillation",
        "Search score",
        "Retrained with distillation score",
        "Retrained from scratch (no teacher) score",
        "MACs",
    ]
    body = rows[1:]
    assert [(r[0], r[1]) for r in body] == [(g, lab) for g in GAMES for lab in LABELS]
    # hand-check one cell: Pong, critic only (a2d_critic_only), seeds 1..3
    row = body[len(LABELS) + 2]
    s = [search_score("Pong", "a2d_critic_only", x) for x in SEEDS]  # 23, 24, 25
    assert s == [23.0, 24.0, 25.0] and row[2] == "24.0 [21.5, 26.5]"  # ± 4.3027 / sqrt(3)
    r = [retrained_score("Pong", "a2d_critic_only", x) for x in SEEDS]  # 47, 52, 59
    assert r == [47.0, 52.0, 59.0]
    assert row[3] == "52.7 [37.7, 67.6]"  # sd 6.03, ± 14.97
    assert row[4] == "22.7 [7.7, 37.6]"  # the no-teacher runs: 30 lower, same spread
    assert row[5] == "9.56M [9.31M, 9.81M]"  # sd 0.1M
    # the "none" row is vanilla DNAS's search; its net is retrained with distillation too
    md = (prefix.parent / "table2.md").read_text()
    assert "none: vanilla DNAS" in md and "none\nincluded" not in md
    assert "WITH the teacher's actor-critic distillation, on every row, none included" in md
    assert "architecture trained from scratch" not in md  # the old, wrong wording
    assert sorted(p.name for p in prefix.parent.iterdir()) == [
        "table2.csv",
        "table2.md",
        "table2.tex",
    ]


def test_table2_without_the_scratch_runs_and_one_seed(roots):
    search, runs = roots
    t = tables.table2(search, runs, ["Breakout"], ["a2d_one_level"], ["both"], [2])
    assert t.rows == [
        ["Breakout", "both", "15.0 (1 seed)", "34.0 (1 seed)", "not run", "9.56M (1 seed)"]
    ]
    assert "not run: controls.scratch_retrain is off" in t.note
    assert "seed 2 only: no interval (1 seed)" in t.note


def test_table2_labels_must_match_methods(roots):
    search, runs = roots
    with pytest.raises(ResultsError, match="--labels has 2 entries, --methods has 4"):
        tables.table2(search, runs, GAMES, ABLATION, LABELS[:2], SEEDS)


def test_table3(roots, tmp_path):
    search, runs = roots
    prefix = tmp_path / "table3"
    tables.main(
        ["table3", "--search", str(search), "--runs", str(runs), "--games", *GAMES]
        + ["--methods", *FIG2, "--seeds", "1", "2", "--out", str(prefix)]
    )
    rows = check_agree(prefix)
    assert rows[0] == [
        "Game",
        "Method",
        "Retrained score",
        "Search score",
        "MACs",
        "Search wall time (s)",
    ]
    assert [r[1] for r in rows[1:4]] == ["Vanilla-DNAS", "A2D-One-level", "A2D-Bi-level"]
    row = rows[1 + 3 + 2]  # Pong, a2d_bi_level
    w = [wall("a2d_bi_level", x) for x in (1, 2)]
    assert w == [3662.4, 3712.4]
    assert row[5] == "3687 [3370, 4005]"  # 2 seeds 50 apart: se 25, ± 12.706 * 25
    s = [search_score("Pong", "a2d_bi_level", x) for x in (1, 2)]
    assert s == [27.0, 28.0] and row[3] == "27.5 [21.1, 33.9]"
    assert "retrained from fresh weights with the teacher" in (tmp_path / "table3.md").read_text()
    assert "A2D-Bi-level" in (tmp_path / "table3.md").read_text()


def test_table4_lists_ops_in_order(roots, tmp_path):
    search, _ = roots
    prefix = tmp_path / "table4"
    tables.main(
        ["table4", "--search", str(search), "--games", *GAMES, "--method", "a2d_one_level"]
        + ["--seeds", *map(str, SEEDS), "--out", str(prefix)]
    )
    rows = check_agree(prefix)
    header = rows[0]
    assert header == ["Game", "Seed", *[f"Cell {i}" for i in range(1, 15)]] + [
        "MACs",
        "Params",
        "Latency b1 (ms)",
    ]
    body = rows[1:]
    assert [(r[0], r[1]) for r in body] == [(g, str(s)) for g in GAMES for s in SEEDS]
    for r in body:
        assert r[2:16] == arch_ops(int(r[1]))
        assert r[16] == f"{macs('a2d_one_level', int(r[1])) / 1e6:.2f}M"
        assert r[17] == "1.23M"
    assert [r[18] for r in body[:3]] == ["2.23", "3.23", "-"]  # seed 3 has no latency
    tex = (tmp_path / "table4.tex").read_text()
    assert r"k3\_e1\_g2" in tex and "k3_e1_g2" not in tex


@pytest.mark.parametrize(
    "argv, missing",
    [
        (
            ["table2", "--methods", *ABLATION, "--labels", *LABELS],
            "runs/Pong/searched_a2d_critic_only/seed2/eval.json",
        ),
        (["table3", "--methods", *FIG2], "search/Pong/a2d_bi_level/seed2/eval.json"),
        (["table4", "--method", "a2d_one_level"], "search/Pong/a2d_one_level/seed2/arch.json"),
    ],
)
def test_missing_file_names_it_and_writes_nothing(roots, tmp_path, argv, missing):
    search, runs = roots
    (tmp_path / missing).unlink()
    out = tmp_path / "out"
    args = [argv[0], "--search", str(search)]
    if argv[0] != "table4":
        args += ["--runs", str(runs)]
    args += [*argv[1:], "--games", *GAMES, "--seeds", *map(str, SEEDS), "--out", str(out / "t")]
    with pytest.raises(SystemExit) as e:
        tables.main(args)
    msg = str(e.value.code)
    assert msg == f"missing input file: {tmp_path / missing}"
    assert not out.exists()


def test_table4_with_onnx_latency_from_export_cards(roots, tmp_path):
    search, _ = roots
    exports = tmp_path / "export"
    for g in GAMES:
        for s in SEEDS:
            d = exports / g / "searched_a2d_one_level" / f"seed{s}"
            d.mkdir(parents=True)
            card = {"latency_ms_b1": {"pytorch_eager": 1.5, "onnxruntime": 0.25 * s}}
            (d / "agent.onnx.json").write_text(json.dumps(card))
    t = tables.table4(search, GAMES, "a2d_one_level", SEEDS, exports)
    assert t.header[-1] == "ONNX Runtime b1 (ms)"
    assert [r[-1] for r in t.rows] == ["0.25", "0.50", "0.75"] * len(GAMES)
    assert "ONNX Runtime" in t.note
    (exports / "Pong" / "searched_a2d_one_level" / "seed2" / "agent.onnx.json").unlink()
    with pytest.raises(ResultsError, match="missing input file: .*Pong.*seed2"):
        tables.table4(search, GAMES, "a2d_one_level", SEEDS, exports)


def test_unreadable_or_incomplete_input_raises_a_results_error(roots, tmp_path):
    search, runs = roots
    arch = search / "Pong" / "a2d_one_level" / "seed2" / "arch.json"
    arch.write_text('{"ops": [')
    with pytest.raises(ResultsError, match=f"unreadable input file: {arch} "):
        tables.table4(search, GAMES, "a2d_one_level", SEEDS)
    arch.write_text(json.dumps({"ops": ["skip"] * 14, "params": 1}))
    with pytest.raises(ResultsError) as e:
        tables.table4(search, GAMES, "a2d_one_level", SEEDS)
    assert str(e.value) == f"input file {arch} has no 'macs'"
    # the command line: the same message as one line, exit status 1, nothing written
    out = tmp_path / "out" / "t"
    with pytest.raises(SystemExit) as e:
        tables.main(
            ["table4", "--search", str(search), "--games", *GAMES, "--method", "a2d_one_level"]
            + ["--seeds", "1", "2", "--out", str(out)]
        )
    assert e.value.code == f"input file {arch} has no 'macs'"
    assert not out.parent.exists()


def write_cards(exports, ort=0.5, eager=2.0):
    for g in GAMES:
        for s in SEEDS:
            d = exports / g / "searched_a2d_one_level" / f"seed{s}"
            d.mkdir(parents=True, exist_ok=True)
            card = {"latency_ms_b1": {"pytorch_eager": eager, "onnxruntime": ort}}
            (d / "agent.onnx.json").write_text(json.dumps(card))


def test_table4_latency_predicted_by_the_searchs_table(roots, tmp_path):
    """A search with search.cost: latency records its table's prediction in arch.json; Table 4
    sets it beside the export card's latency on the same target, and the error."""
    search, _ = roots
    arch_path = search / "Pong" / "a2d_one_level" / "seed2" / "arch.json"
    arch = json.loads(arch_path.read_text())
    arch["predicted_latency_ms"] = {"target": "onnxruntime-cpu", "ms": 0.6}
    arch_path.write_text(json.dumps(arch))
    exports = tmp_path / "export"
    write_cards(exports, ort=0.5)
    t = tables.table4(search, GAMES, "a2d_one_level", SEEDS, exports)
    assert t.header[-4:] == [
        "ONNX Runtime b1 (ms)",
        "Predicted b1 (ms)",
        "Measured b1 (ms)",
        "Prediction error (%)",
    ]
    rows = {(r[0], r[1]): r for r in t.rows}
    assert rows[("Pong", "2")][-3:] == ["0.60", "0.50", "+20.0"]  # (0.6 - 0.5) / 0.5
    assert rows[("Breakout", "1")][-3:] == ["-", "-", "-"]  # searched with MACs: no prediction
    assert "onnxruntime-cpu" in t.note and "beyond the paper" in t.note
    # without the exports: the prediction alone, never a made-up measurement
    t = tables.table4(search, GAMES, "a2d_one_level", SEEDS)
    assert {(r[0], r[1]): r[-3:] for r in t.rows}[("Pong", "2")] == ["0.60", "-", "-"]


def test_table4_latency_predicted_by_a_given_cost_table(roots, tmp_path):
    search, _ = roots
    ms = {op: 0.01 * (j + 1) for j, op in enumerate(OPS)}  # the same in every cell
    table = {
        "format": "a2d-cost-table-v1",
        "target": "torch-cpu",
        "fixed_ms": 1.0,
        "cells": [{"cell": i, "ms": ms} for i in range(14)],
    }
    path = tmp_path / "cost.json"
    path.write_text(json.dumps(table))
    exports = tmp_path / "export"
    write_cards(exports, eager=2.0)
    prefix = tmp_path / "t4"
    tables.main(
        ["table4", "--search", str(search), "--games", *GAMES, "--method", "a2d_one_level"]
        + ["--seeds", *map(str, SEEDS), "--exports", str(exports), "--cost-table", str(path)]
        + ["--out", str(prefix)]
    )
    rows = check_agree(prefix)
    for r in rows[1:]:
        ops = arch_ops(int(r[1]))
        pred = 1.0 + sum(0.01 * (OPS.index(op) + 1) for op in ops)
        # the measured value on torch-cpu is the card's PyTorch eager latency
        assert r[-3:] == [f"{pred:.2f}", "2.00", f"{100 * (pred - 2.0) / 2.0:+.1f}"]
    path.write_text(json.dumps({**table, "cells": table["cells"][:13]}))
    with pytest.raises(ResultsError, match="does not fit the architecture"):
        tables.table4(search, GAMES, "a2d_one_level", SEEDS, cost_table=path)
