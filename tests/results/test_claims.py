"""a2d.results.claims: verdicts on fixture results (one seed, separated and overlapping
intervals), and the Welch / Student-t / probability-of-improvement statistics they rest on."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from a2d.results import claims
from a2d.results.claims import CONTRADICTED, INCONCLUSIVE, SUPPORTED
from a2d.results.stats import t_ci, welch

GAMES = ["Breakout", "Pong"]
SWEEP = ["resnet8", "resnet14"]  # not the manual nets: their runs would overwrite these
MANUAL = ["vanilla", "resnet20"]
METHOD, VANILLA = "a2d_one_level", "vanilla_dnas"


def write_tree(root, seeds, spread, best_swaps=True, a2d_delta=20.0, macs_by_game=None):
    """Fixture results: every score is base + spread * (seed - mean seed).

    (a) sweep: on Breakout resnet8 beats vanilla by 10, on Pong the reverse when best_swaps;
    (b) the main method's search scores 10 above vanilla DNAS's;
    (c) A2D scores a2d_delta above each manual net, with fewer MACs;
    (d) derived MACs per game from macs_by_game (default 5M on Breakout, 8M on Pong)."""
    macs_by_game = macs_by_game or {"Breakout": 5e6, "Pong": 8e6}
    mid = np.mean(seeds)
    runs, search = root / "runs", root / "search"

    def put(path, doc):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc))

    for g in GAMES:
        for s in seeds:
            e = spread * (s - mid)
            for arch in SWEEP:
                up = (arch == "resnet8") == (g == "Breakout" or not best_swaps)
                put(runs / g / arch / f"seed{s}" / "eval.json", {"mean": 50 + 10 * up + e})
            for arch, m in (("vanilla", 9e6), ("resnet20", 76e6)):
                put(runs / g / arch / f"seed{s}" / "eval.json", {"mean": 40 + e, "macs": m})
            put(
                runs / g / f"searched_{METHOD}" / f"seed{s}" / "eval.json",
                {"mean": 40 + a2d_delta + e, "macs": macs_by_game[g]},
            )
            for method, base in ((METHOD, 30.0), (VANILLA, 20.0)):
                d = search / g / method / f"seed{s}"
                put(d / "eval.json", {"mean": base + e})
                put(d / "arch.json", {"macs": macs_by_game[g] + 1000 * e})
                d.mkdir(parents=True, exist_ok=True)
                lines = ["step,test_mean,test_std,phase"]
                lines += [f"{k * 100},{0.0},{1.0},warmup" for k in range(2)]  # not counted
                lines += [f"{k * 100},{base + e},{1.0},search" for k in range(2, 5)]
                (d / "search_curve.csv").write_text("\n".join(lines) + "\n")
    return runs, search


def run(tmp_path, seeds, **kw):
    runs, search = write_tree(tmp_path, seeds, **kw)
    prefix = tmp_path / "tables" / "claims"
    claims.main(
        ["--runs", str(runs), "--search", str(search), "--games", *GAMES]
        + ["--figure-games", *GAMES, "--sweep-archs", *SWEEP, "--archs", *MANUAL]
        + ["--method", METHOD, "--vanilla", VANILLA, "--seeds", *map(str, seeds)]
        + ["--out", str(prefix), "--steps-json", '{"a2d": 30000000}']
    )
    rows = list(csv.DictReader(io.StringIO((tmp_path / "tables" / "claims.csv").read_text())))
    md = (tmp_path / "tables" / "claims.md").read_text()
    verdict = {r["claim"]: r["verdict"] for r in rows if r["level"] == "claim"}
    return verdict, rows, md


def test_one_seed_is_inconclusive_everywhere(tmp_path):
    verdict, rows, md = run(tmp_path, [1], spread=0.0)
    # the effects are large, but one seed has no interval: never supported
    assert verdict == dict.fromkeys("abcd", INCONCLUSIVE)
    assert all(r["verdict"] == INCONCLUSIVE for r in rows)
    assert "no interval: 1 seed" in md and "every verdict inconclusive" in md
    assert "A2D (teacher + search + retrain with KD) 30M" in md


def test_separated_intervals_support_the_claims(tmp_path):
    verdict, rows, md = run(tmp_path, [1, 2, 3], spread=1.0)
    assert verdict == dict.fromkeys("abcd", SUPPORTED)
    # (b): two statistics per figure game, each main - vanilla = 10 with a Welch interval:
    # seeds give equal spreads on both sides, sd 1, se sqrt(2/3), df 4, t = 2.776
    b = [r for r in rows if r["claim"] == "b" and r["level"] == "evidence"]
    assert len(b) == 4
    half = 2.7764 * np.sqrt(2 / 3)
    for r in b:
        assert float(r["value"]) == pytest.approx(10.0)
        assert float(r["lower"]) == pytest.approx(10 - half, abs=1e-3)
    # (c): A2D 20 above each manual net on each game, same spreads
    c = [r for r in rows if r["claim"] == "c" and r["level"] == "evidence"]
    assert [r["subject"] for r in c] == [
        "Breakout, vs Vanilla",
        "Pong, vs Vanilla",
        "Breakout, vs ResNet-20",
        "Pong, vs ResNet-20",
    ]
    assert all(float(r["value"]) == pytest.approx(20.0) for r in c)
    assert all(float(r["lower"]) == pytest.approx(20 - half, abs=1e-3) for r in c)
    assert "**supported**" in md


def test_overlapping_intervals_are_inconclusive(tmp_path):
    # spreads of 30 swamp the effects of 10 (a, b, d) and 5 (c): every interval covers 0 / 0.5
    verdict, rows, _ = run(
        tmp_path,
        [1, 2, 3],
        spread=30.0,
        a2d_delta=5.0,
        macs_by_game={"Breakout": 5e6, "Pong": 5.01e6},
    )
    assert verdict == dict.fromkeys("abcd", INCONCLUSIVE)


def test_separated_intervals_against_the_claims_contradict(tmp_path):
    # (a) the same size (resnet8) clearly best on both games; (c) A2D clearly worse; (d) both
    # games derive the same MACs on every seed (zero spread in the fixture's MACs)
    runs, search = write_tree(tmp_path, [1, 2, 3], spread=1.0, best_swaps=False, a2d_delta=-20)
    a = claims.claim_a(runs, GAMES, SWEEP, [1, 2, 3])
    assert [e.verdict for e in a] == [CONTRADICTED]
    c = claims.claim_c(runs, GAMES, MANUAL, METHOD, [1, 2, 3])
    assert [e.verdict for e in c] == [CONTRADICTED] * 4
    assert c[0].value == pytest.approx(-20.0)
    for s in (1, 2, 3):
        for g in GAMES:
            (search / g / METHOD / f"seed{s}" / "arch.json").write_text('{"macs": 7000000}')
    d = claims.claim_d(search, GAMES, METHOD, [1, 2, 3])
    assert [e.verdict for e in d] == [CONTRADICTED]
    # (b): vanilla DNAS's search clearly better on a game contradicts the universal claim
    b = claims.claim_b(search, GAMES, VANILLA, METHOD, [1, 2, 3])  # swapped: -10
    assert {e.verdict for e in b} == {CONTRADICTED}


def test_fewer_macs_is_part_of_claim_c(tmp_path):
    # A2D scores higher, but has more MACs than vanilla (9M) on Pong: contradicted there
    runs, _ = write_tree(
        tmp_path, [1, 2, 3], spread=1.0, macs_by_game={"Breakout": 5e6, "Pong": 1e7}
    )
    c = claims.claim_c(runs, GAMES, MANUAL, METHOD, [1, 2, 3])
    assert [e.verdict for e in c] == [SUPPORTED, CONTRADICTED, SUPPORTED, SUPPORTED]
    assert "fewer MACs: False" in c[1].statistic
    assert claims.combine([e.verdict for e in c], universal=True) == CONTRADICTED


def test_combine_rules():
    S, C, N = SUPPORTED, CONTRADICTED, INCONCLUSIVE
    assert claims.combine([S, S], universal=True) == S
    assert claims.combine([S, N], universal=True) == N
    assert claims.combine([S, C], universal=True) == C
    assert claims.combine([N, S], universal=False) == S
    assert claims.combine([C, C], universal=False) == C
    assert claims.combine([C, N], universal=False) == N
    assert claims.combine([], universal=True) == N == claims.combine([], universal=False)
    assert claims.side(0.1, 2.0) == S and claims.side(-2.0, -0.1) == C
    assert claims.side(-0.1, 2.0) == N and claims.side(float("nan"), float("nan")) == N
    assert claims.side(0.55, 0.9, 0.5) == S and claims.side(0.45, 0.9, 0.5) == N


def test_welch_and_t_hand_checked():
    # [1, 2, 3] vs [4, 5, 7]: d = -10/3; variances 1 and 7/3, se^2 = 10/9; df = (10/9)^2 /
    # ((1/3)^2/2 + (7/9)^2/2) = 3.448; t_{0.975, 3.448} = 2.9606
    d, lo, hi = welch([1, 2, 3], [4, 5, 7])
    assert d == pytest.approx(-10 / 3)
    assert (hi - d) == pytest.approx(2.9606 * np.sqrt(10 / 9), rel=1e-3)
    assert np.isnan(welch([1], [2, 3])[1])
    assert welch([2, 2], [1, 1]) == (1.0, 1.0, 1.0)  # no spread: the difference is exact
    m, lo, hi = t_ci([1.0, 3.0])
    assert (m[0], lo[0], hi[0]) == pytest.approx((2.0, 2 - 12.7062, 2 + 12.7062), abs=1e-3)
