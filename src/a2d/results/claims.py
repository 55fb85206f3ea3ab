"""The paper's four claims, each tested on the results files: the test, its statistic with a 95 %
interval, and a verdict (supported / contradicted / inconclusive at this scale).

Every test compares means over seeds: a difference of two means with its 95 % Welch-t interval
(:func:`a2d.results.stats.welch`: unequal variances, Welch-Satterthwaite degrees of freedom).
"Separated" below means that interval excludes 0: checking the interval of the difference is the test, not whether two per-net
intervals overlap. One piece of evidence is

- supported: the interval lies entirely on the claim's side;
- contradicted: it lies entirely on the other side;
- inconclusive: it contains the no-effect value, or there is no interval (fewer than 2 seeds).

So one seed is always inconclusive, and nothing is ever "supported" on one seed.

The claims and their tests (score: the final test score, ``eval.json`` ``mean``):

(a) The best model size differs by game (Fig 1 data: the size-sweep runs on the figure games).
    For each pair of figure games (g, h) let A and B be the sweep nets with the highest mean
    score on g and on h. If A != B, the pair supports the claim when both
    score_g(A) - score_g(B) and score_h(B) - score_h(A) are separated above 0 (the ranking
    crosses); the statistic shown is the one of the two with the lower bound nearer 0. If
    A == B, the pair contradicts the claim when on both games A's margin over every other sweep
    net is separated above 0 (the same size is clearly best on both); statistic: the smallest
    such margin. Otherwise the pair is inconclusive. Verdict: supported if any pair supports;
    contradicted if every pair contradicts; else inconclusive (also with one figure game).

(b) Distillation stabilises the search where vanilla DNAS fails (Fig 2 search curves, Table 2's
    search score). Per figure game, two differences main method - vanilla DNAS (the search
    without distillation): the mean test score of the search curve's post-warm-up points
    (``search_curve.csv``, ``phase == search``: the stability of the search) and the final
    search score (the search's ``eval.json``). Verdict: supported if every difference is
    separated above 0; contradicted if any is separated below 0; else inconclusive.

(c) A2D matches or beats the manual nets on score at fewer MACs (Table 1 data, every game). Per
    manual net X and game: score(A2D) - score(X), Welch-t interval, and whether A2D's mean MACs
    are below X's. The evidence is contradicted when A2D does not have fewer MACs (with >= 2
    seeds) or the interval lies below 0; supported when it lies above 0 (beats); else
    inconclusive ("matches" cannot be told from "slightly worse" without an equivalence margin,
    and none is assumed). Verdict: supported if every (net, game) is; contradicted if any is;
    else inconclusive. (Not rliable's probability of improvement: its stratified bootstrap
    over 2-3 runs collapses, e.g. to [1, 1] when both A2D runs beat both runs of X, one chance
    in 6 under no effect; the rliable figure shows it.)

(d) The searched size adapts to the game (Table 4 data: the main method's derived MACs per game
    and seed). For each pair of games: the difference of mean derived MACs (larger - smaller),
    Welch-t interval. Supported when separated above 0; contradicted when every seed on both
    games derived the same MACs (zero spread, zero difference); else inconclusive. Verdict:
    supported if any pair supports; contradicted if every pair contradicts; else inconclusive
    (also with one game).

Reads results files only; writes ``PREFIX.md`` and ``PREFIX.csv``.
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from a2d.paths import run_dir, search_dir, searched
from a2d.results import ResultsError
from a2d.results.curves import (
    arch_label,
    atomic_write_texts,
    method_label,
    one_line_errors,
    read_curve,
)
from a2d.results.stats import welch
from a2d.results.tables import read_input, read_steps, steps_arg, steps_note

SUPPORTED, CONTRADICTED, INCONCLUSIVE = "supported", "contradicted", "inconclusive"

CLAIMS = {
    "a": "The best model size differs by game",
    "b": "Distillation stabilises the search where vanilla DNAS fails",
    "c": "A2D matches or beats the manual nets on score at fewer MACs",
    "d": "The searched size adapts to the game",
}
TESTS = {
    "a": "per pair of figure games: do the best sweep nets differ, with the ranking crossing "
    "(both Welch-t 95 % intervals of the score differences above 0)?",
    "b": "per figure game: main method - vanilla DNAS, post-warm-up mean search-curve score and "
    "final search score, Welch-t 95 % intervals; all above 0?",
    "c": "per manual net X and game: score(A2D) - score(X), Welch-t 95 % interval above 0, with "
    "fewer MACs?",
    "d": "per pair of games: difference of the derived nets' mean MACs, Welch-t 95 % interval "
    "above 0?",
}


@dataclass
class Evidence:
    claim: str
    subject: str
    statistic: str
    value: float
    lower: float
    upper: float
    n: int
    verdict: str


def side(lower: float, upper: float, null: float = 0.0) -> str:
    """Supported if the interval lies above ``null``, contradicted if below, else (or without
    an interval) inconclusive."""
    if math.isnan(lower) or math.isnan(upper):
        return INCONCLUSIVE
    if lower > null:
        return SUPPORTED
    if upper < null:
        return CONTRADICTED
    return INCONCLUSIVE


def combine(verdicts: list[str], universal: bool) -> str:
    """A claim's verdict from its evidence. Universal (holds on every game / net): supported if
    all are, contradicted if any is. Existential (some pair of games): supported if any is,
    contradicted if all are. Otherwise, and with no evidence, inconclusive."""
    if not verdicts:
        return INCONCLUSIVE
    if universal:
        if CONTRADICTED in verdicts:
            return CONTRADICTED
        return SUPPORTED if all(v == SUPPORTED for v in verdicts) else INCONCLUSIVE
    if SUPPORTED in verdicts:
        return SUPPORTED
    return CONTRADICTED if all(v == CONTRADICTED for v in verdicts) else INCONCLUSIVE


# ---------------------------------------------------------------- reading


def _scores(runs: Path, game: str, net: str, seeds: list[int], key: str = "mean") -> np.ndarray:
    out = []
    for s in seeds:
        path = Path(run_dir(runs, game, net, s), "eval.json")
        doc = read_input(path)
        if key not in doc:
            raise ResultsError(f"input file {path} has no {key!r}")
        out.append(float(doc[key]))
    return np.array(out)


def _search_values(search: Path, game: str, method: str, seeds: list[int], name: str, key: str):
    out = []
    for s in seeds:
        path = Path(search_dir(search, game, method, s), name)
        doc = read_input(path)
        if key not in doc:
            raise ResultsError(f"input file {path} has no {key!r}")
        out.append(float(doc[key]))
    return np.array(out)


def _search_phase_mean(search: Path, game: str, method: str, seeds: list[int]) -> np.ndarray:
    out = []
    for s in seeds:
        path = Path(search_dir(search, game, method, s), "search_curve.csv")
        c = read_curve(path)
        keep = c["phase"] == "search" if "phase" in c else np.ones(len(c["step"]), bool)
        if not keep.any():
            raise ResultsError(f"{path}: no post-warm-up (phase == search) evaluation")
        out.append(float(np.mean(c["test_mean"][keep])))
    return np.array(out)


def _ev(claim, subject, statistic, d, n, verdict=None) -> Evidence:
    value, lo, hi = d
    return Evidence(claim, subject, statistic, value, lo, hi, n, verdict or side(lo, hi))


# ---------------------------------------------------------------- the four tests


def claim_a(runs: Path, games: list[str], archs: list[str], seeds: list[int]) -> list[Evidence]:
    n = len(seeds)
    scores = {(g, a): _scores(runs, g, a, seeds) for g in games for a in archs}
    best = {g: max(archs, key=lambda a: scores[(g, a)].mean()) for g in games}
    out = []
    for g, h in itertools.combinations(games, 2):
        a, b = best[g], best[h]
        if a != b:
            dg = welch(scores[(g, a)], scores[(g, b)])
            dh = welch(scores[(h, b)], scores[(h, a)])
            verdict = SUPPORTED if side(dg[1], dg[2]) == side(dh[1], dh[2]) == SUPPORTED else None
            weaker, where, x, y = (dg, g, a, b) if dg[1] <= dh[1] else (dh, h, b, a)
            stat = f"{where}: score({x}) - score({y}); best {a} on {g}, {b} on {h}"
            out.append(_ev("a", f"{g} vs {h}", stat, weaker, n, verdict or INCONCLUSIVE))
        else:
            margins = [
                (welch(scores[(k, a)], scores[(k, x)]), k, x)
                for k in (g, h)
                for x in archs
                if x != a
            ]
            if not margins:  # a single sweep net: nothing to compare
                out.append(
                    _ev("a", f"{g} vs {h}", "one sweep net", (math.nan,) * 3, n, INCONCLUSIVE)
                )
                continue
            d, k, x = min(margins, key=lambda m: m[0][1])
            sides = [side(m[0][1], m[0][2]) for m in margins]
            verdict = CONTRADICTED if all(v == SUPPORTED for v in sides) else INCONCLUSIVE
            stat = f"{k}: score({a}) - score({x}); {a} best on both"
            out.append(_ev("a", f"{g} vs {h}", stat, d, n, verdict))
    return out


def claim_b(
    search: Path, games: list[str], method: str, vanilla: str, seeds: list[int]
) -> list[Evidence]:
    n, out = len(seeds), []
    for g in games:
        d = welch(
            _search_phase_mean(search, g, method, seeds),
            _search_phase_mean(search, g, vanilla, seeds),
        )
        stat = f"post-warm-up mean search score, {method_label(method)} - {method_label(vanilla)}"
        out.append(_ev("b", g, stat, d, n))
        d = welch(
            _search_values(search, g, method, seeds, "eval.json", "mean"),
            _search_values(search, g, vanilla, seeds, "eval.json", "mean"),
        )
        stat = f"final search score, {method_label(method)} - {method_label(vanilla)}"
        out.append(_ev("b", g, stat, d, n))
    return out


def claim_c(
    runs: Path, games: list[str], archs: list[str], method: str, seeds: list[int]
) -> list[Evidence]:
    n, net, out = len(seeds), searched(method), []
    for x in archs:
        for g in games:
            fewer = (
                _scores(runs, g, net, seeds, "macs").mean()
                < _scores(runs, g, x, seeds, "macs").mean()
            )
            d = welch(_scores(runs, g, net, seeds), _scores(runs, g, x, seeds))
            verdict = side(d[1], d[2])
            if not fewer and n >= 2:
                verdict = CONTRADICTED
            stat = f"score({arch_label(net)}) - score({arch_label(x)}); fewer MACs: {fewer}"
            out.append(_ev("c", f"{g}, vs {arch_label(x)}", stat, d, n, verdict))
    return out


def claim_d(search: Path, games: list[str], method: str, seeds: list[int]) -> list[Evidence]:
    n, out = len(seeds), []
    macs = {g: _search_values(search, g, method, seeds, "arch.json", "macs") for g in games}
    for g, h in itertools.combinations(games, 2):
        hi_g, lo_g = (g, h) if macs[g].mean() >= macs[h].mean() else (h, g)
        d = welch(macs[hi_g], macs[lo_g])
        same = n >= 2 and len(set(macs[g]) | set(macs[h])) == 1
        verdict = CONTRADICTED if same else side(d[1], d[2])
        stat = f"MACs({hi_g}) - MACs({lo_g}), derived by {method_label(method)}"
        out.append(_ev("d", f"{g} vs {h}", stat, d, n, verdict))
    return out


UNIVERSAL = {"a": False, "b": True, "c": True, "d": False}


def verdicts(evidence: list[Evidence]) -> dict[str, str]:
    return {c: combine([e.verdict for e in evidence if e.claim == c], UNIVERSAL[c]) for c in CLAIMS}


# ---------------------------------------------------------------- output


def _num(x: float, kind: str) -> str:
    if math.isnan(x):
        return "-"
    if kind == "d" or abs(x) >= 1e5:
        return f"{x / 1e6:.2f}M"
    return f"{x:.2f}"


def _interval(e: Evidence) -> str:
    if math.isnan(e.lower):
        return f"{_num(e.value, e.claim)} (no interval: {e.n} seed{'s' if e.n != 1 else ''})"
    return f"{_num(e.value, e.claim)} [{_num(e.lower, e.claim)}, {_num(e.upper, e.claim)}]"


def _headline(evidence: list[Evidence], verdict: str) -> Evidence | None:
    """The piece of evidence shown in the summary: one with the claim's verdict, else the first."""
    same = [e for e in evidence if e.verdict == verdict]
    return (same or evidence or [None])[0]


def render(evidence: list[Evidence], seeds: list[int], steps: dict | None) -> tuple[str, str]:
    """(Markdown, CSV) of the claims table."""
    v = verdicts(evidence)

    def md_line(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    md = [
        "**Claims — what these results say about the paper's four claims**",
        "",
        md_line(["Claim", "Test", "Statistic [95 % interval]", "Evidence", "Verdict"]),
        "|---|---|---|---|---|",
    ]
    for c, text in CLAIMS.items():
        ev = [e for e in evidence if e.claim == c]
        head = _headline(ev, v[c])
        stat = (
            f"{head.subject}: {head.statistic} = {_interval(head)}"
            if head
            else "no evidence (a pair of games needs >= 2 games)"
        )
        counts = ", ".join(
            f"{sum(e.verdict == k for e in ev)} {k}"
            for k in (SUPPORTED, CONTRADICTED, INCONCLUSIVE)
        )
        md.append(md_line([f"({c}) {text}", TESTS[c], stat, counts, f"**{v[c]}**"]))
    md += [
        "",
        "**Evidence**",
        "",
        md_line(["Claim", "Subject", "Statistic", "Value [95 % interval]", "n seeds", "Verdict"]),
        "|---|---|---|---|---|---|",
    ]
    for e in evidence:
        md.append(md_line([f"({e.claim})", e.subject, e.statistic, _interval(e), e.n, e.verdict]))
    seeds_text = (
        f"n = {len(seeds)} seeds ({', '.join(map(str, seeds))})"
        if len(seeds) > 1
        else f"1 seed ({seeds[0]}): no interval, every verdict inconclusive"
    )
    md += [
        "",
        "Differences of means over seeds with their 95 % Welch-t interval. Supported / contradicted: the interval lies entirely on / "
        "against the claim's side of no effect; inconclusive: it contains no effect, or there is "
        f"none. {seeds_text}. Tests defined in docs/results.md." + steps_note(steps),
    ]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        ["claim", "level", "subject", "statistic", "value", "lower", "upper", "n_seeds", "verdict"]
    )
    for c, text in CLAIMS.items():
        w.writerow([c, "claim", text, TESTS[c], "", "", "", len(seeds), v[c]])
    for e in evidence:
        w.writerow(
            [e.claim, "evidence", e.subject, e.statistic, e.value, e.lower, e.upper, e.n, e.verdict]
        )
    return "\n".join(md) + "\n", buf.getvalue()


@one_line_errors
def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, required=True, help="root of the trained runs")
    ap.add_argument("--search", type=Path, required=True, help="root of the search outputs")
    ap.add_argument("--games", nargs="+", required=True, help="every game (claims c, d)")
    ap.add_argument("--figure-games", nargs="+", required=True, help="claims a, b")
    ap.add_argument("--sweep-archs", nargs="+", required=True, help="claim a: the size sweep")
    ap.add_argument("--archs", nargs="+", required=True, help="claim c: the manual nets")
    ap.add_argument("--method", required=True, help="the main search method")
    ap.add_argument(
        "--vanilla", help="claim b: the search without distillation (none: b is inconclusive)"
    )
    ap.add_argument("--seeds", nargs="+", type=int, required=True)
    ap.add_argument("--out", required=True, help="output prefix: writes PREFIX.{md,csv}")
    steps_arg(ap)
    a = ap.parse_args(argv)
    steps = read_steps(a.steps_json)
    evidence = [
        *claim_a(a.runs, a.figure_games, a.sweep_archs, a.seeds),
        *(claim_b(a.search, a.figure_games, a.method, a.vanilla, a.seeds) if a.vanilla else []),
        *claim_c(a.runs, a.games, a.archs, a.method, a.seeds),
        *claim_d(a.search, a.games, a.method, a.seeds),
    ]
    md, text = render(evidence, a.seeds, steps)
    for path in atomic_write_texts({Path(a.out + ".md"): md, Path(a.out + ".csv"): text}):
        print(path)


if __name__ == "__main__":
    main()
