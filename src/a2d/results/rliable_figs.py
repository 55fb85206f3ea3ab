"""rliable's toolkit across games (Agarwal et al., 2021): performance profiles, probability of
improvement and IQM sample-efficiency curves, each with 95 % stratified-bootstrap intervals.

- Performance profile: for each net, the fraction of (game, seed) runs whose human-normalised
  test score exceeds tau, against tau, with its band (games with published reference scores).
- Probability of improvement: P(A2D > X) for each manual net X and its KD control (and, with
  ``--nokd``, P(A2D no-KD > X)): per game the probability that a run of A2D scores above a run of
  X (ties count one half), averaged over games; raw scores, every game.
- Sample efficiency: IQM of human-normalised test score across games and seeds against the env
  steps of each net's final training run (``curve.csv``), with its band. A2D's pipeline also
  consumed the teacher's and the search's steps, which this x axis does not show (the caption
  and the tables' notes give them).

All three resample runs within each game, so they need at least 2 seeds: with one seed each
output is a figure that says so, and nothing else (the report keeps one place for it; decision
documented in docs/results.md). Reads ``{runs}/{game}/{net}/seed{seed}/{eval.json,curve.csv}``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from a2d.paths import kd, nokd, run_dir, searched  # noqa: E402
from a2d.results import ResultsError  # noqa: E402
from a2d.results.aggregate import normalized_scores  # noqa: E402
from a2d.results.curves import (  # noqa: E402
    add_nets_args,
    arch_label,
    closed_on_error,
    comparison_nets,
    one_line_errors,
    read_curve,
    save_figure,
)
from a2d.results.stats import (  # noqa: E402
    human_normalized,
    iqm_curve,
    performance_profile,
    probability_of_improvement,
    reference,
)
from a2d.results.tables import read_input  # noqa: E402


def one_seed_figure(what: str, seeds: list[int]) -> Figure:
    """A figure that only says why ``what`` is not shown."""
    fig, ax = plt.subplots(figsize=(6.0, 2.0))
    ax.axis("off")
    ax.text(
        0.5,
        0.5,
        f"{what}: not computable with {len(seeds)} seed (seed {seeds[0]}).\n"
        "Its 95 % interval resamples runs within each game and needs >= 2 seeds;\n"
        "run with more seeds (config key `seeds`).",
        ha="center",
        va="center",
        fontsize=9,
        wrap=True,
    )
    return fig


def _color(net: str) -> str:
    if net.startswith("searched_"):
        return "C4" if net.endswith("_nokd") else "C3"
    return "C1" if net.endswith("_kd") else "C0"


def profile_figure(scores: dict[str, np.ndarray], used: list[str], reps: int) -> Figure:
    """Performance profiles of ``scores`` ({net: runs x games human-normalised})."""
    top = max(1.0, max(float(np.max(v)) for v in scores.values()))
    taus = np.linspace(0.0, top, 101)
    prof = performance_profile(scores, taus, reps=reps)
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    with closed_on_error(fig):
        for i, (net, (frac, lo, hi)) in enumerate(prof.items()):
            ls = "--" if net.endswith("_kd") or net.endswith("_nokd") else "-"
            (line,) = ax.plot(taus, frac, ls=ls, label=arch_label(net), color=f"C{i % 10}")
            ax.fill_between(taus, lo, hi, color=line.get_color(), alpha=0.15, linewidth=0)
        ax.set_xlabel(r"human-normalised score $\tau$")
        ax.set_ylabel(r"fraction of runs with score > $\tau$")
        ax.set_title(
            f"Performance profiles, {len(used)} game(s); 95 % stratified-bootstrap band",
            fontsize=9,
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
    return fig


def poi_pairs(archs: list[str], method: str, kd_runs: bool, nokd_runs: bool):
    """(x, y) net pairs for P(x > y): A2D vs each manual net and its KD control; the no-KD
    A2D vs each plain manual net."""
    a2d = searched(method)
    pairs = []
    for arch in archs:
        pairs.append((a2d, arch))
        if kd_runs:
            pairs.append((a2d, kd(arch)))
    if nokd_runs:
        pairs += [(nokd(method), arch) for arch in archs]
    return pairs


def raw_scores(runs: Path, games: list[str], net: str, seeds: list[int]) -> np.ndarray:
    """seeds x games matrix of raw test scores (eval.json ``mean``)."""
    m = np.empty((len(seeds), len(games)))
    for j, g in enumerate(games):
        for i, s in enumerate(seeds):
            path = Path(run_dir(runs, g, net, s), "eval.json")
            doc = read_input(path)
            if "mean" not in doc:
                raise ResultsError(f"input file {path} has no 'mean'")
            m[i, j] = float(doc["mean"])
    return m


def poi_figure(runs, games, pairs, seeds, reps) -> Figure:
    data = {
        f"{x}>{y}": (raw_scores(runs, games, x, seeds), raw_scores(runs, games, y, seeds))
        for x, y in pairs
    }
    poi = probability_of_improvement(data, reps=reps)
    fig, ax = plt.subplots(figsize=(6.0, 0.45 * len(pairs) + 1.4))
    with closed_on_error(fig):
        ys = np.arange(len(pairs))[::-1]
        for yv, (x, y) in zip(ys, pairs):
            p, lo, hi = poi[f"{x}>{y}"]
            ax.hlines(yv, lo, hi, color=_color(y), lw=6, alpha=0.45)
            ax.plot([p], [yv], "|", color="k", ms=14, mew=2)
        ax.axvline(0.5, color="grey", ls="--", lw=1)
        ax.set_yticks(ys, [f"P({arch_label(x)} > {arch_label(y)})" for x, y in pairs])
        ax.set_xlim(0, 1)
        ax.set_xlabel("probability of improvement")
        ax.set_title(
            f"{len(games)} game(s), {len(seeds)} seeds: point and 95 % stratified-bootstrap CI",
            fontsize=9,
        )
        ax.grid(alpha=0.3, axis="x")
        fig.tight_layout()
    return fig


def normalized_curves(runs, games, net, seeds, points: int = 50):
    """(steps, runs x games x points) human-normalised test-score curves of one net on a
    common grid (``points`` steps spanning the steps every run reached)."""
    curves = {
        (g, s): read_curve(Path(run_dir(runs, g, net, s), "curve.csv"))
        for g in games
        for s in seeds
    }
    start = max(float(c["step"].min()) for c in curves.values())
    end = min(float(c["step"].max()) for c in curves.values())
    steps = np.linspace(start, end, points) if end > start else np.array([end])
    out = np.empty((len(seeds), len(games), len(steps)))
    for j, g in enumerate(games):
        for i, s in enumerate(seeds):
            c = curves[(g, s)]
            out[i, j] = human_normalized(g, np.interp(steps, c["step"], c["test_mean"]))
    return steps, out


def curves_figure(runs, games, nets, seeds, reps) -> Figure:
    used = [g for g in games if reference(g) is not None]
    if not used:
        raise ResultsError(f"no game among {games} has published random/human reference scores")
    grids = {net: normalized_curves(runs, used, net, seeds) for net in nets}
    iqm = iqm_curve({net: v for net, (_, v) in grids.items()}, reps=reps)
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    with closed_on_error(fig):
        for i, net in enumerate(nets):
            steps = grids[net][0]
            mid, lo, hi = iqm[net]
            ls = "--" if net.endswith("_kd") or net.endswith("_nokd") else "-"
            (line,) = ax.plot(steps, mid, ls=ls, label=arch_label(net), color=f"C{i % 10}")
            ax.fill_between(steps, lo, hi, color=line.get_color(), alpha=0.15, linewidth=0)
        ax.set_xlabel("environment steps of the final training run")
        ax.set_ylabel("IQM human-normalised score")
        ax.set_title(
            f"Sample efficiency, {len(used)} game(s) x {len(seeds)} seeds; "
            "95 % stratified-bootstrap band",
            fontsize=9,
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
    return fig


@one_line_errors
def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_nets_args(ap)
    ap.add_argument("--reps", type=int, default=2000, help="bootstrap replications")
    for name in ("profile", "poi", "curves"):
        ap.add_argument(f"--{name}-pdf", type=Path, required=True)
        ap.add_argument(f"--{name}-png", type=Path, required=True)
    a = ap.parse_args(argv)
    nets = comparison_nets(a.archs, a.method, a.kd, a.nokd)
    outs = {
        n: (getattr(a, f"{n}_pdf"), getattr(a, f"{n}_png")) for n in ("profile", "poi", "curves")
    }
    if len(a.seeds) < 2:
        for name, what in (
            ("profile", "Performance profiles"),
            ("poi", "Probability of improvement"),
            ("curves", "IQM sample-efficiency curves"),
        ):
            save_figure(one_seed_figure(what, a.seeds), outs[name])
        return
    scores, used, _ = normalized_scores(a.runs, a.games, nets, a.seeds)
    figs = {
        "profile": lambda: profile_figure(scores, used, a.reps),
        "poi": lambda: poi_figure(
            a.runs, a.games, poi_pairs(a.archs, a.method, a.kd, a.nokd), a.seeds, a.reps
        ),
        "curves": lambda: curves_figure(a.runs, a.games, nets, a.seeds, a.reps),
    }
    for name, make in figs.items():
        save_figure(make(), outs[name])


if __name__ == "__main__":
    main()
