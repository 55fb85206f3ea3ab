"""Aggregate performance across games: IQM, median and mean of human-normalised test scores per
method (the manual nets and the A2D net, and with ``--kd`` / ``--nokd`` the control runs), each
with a 95 % stratified-bootstrap interval (rliable; runs resampled within each game). With one
seed per game there is nothing to resample: the point estimate is shown with "(1 seed)" and no
interval.

Reads ``{runs}/{game}/{arch}/seed{seed}/eval.json``. Human-normalised score =
(score - random) / (human - random) with the published reference scores
(:data:`a2d.results.stats.ATARI_REFERENCE`, from DQN Zoo); games without published references are
left out and named in the table's note. Writes a figure (PDF + PNG) and a table (Markdown, LaTeX,
CSV). Never runs an agent.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from a2d.paths import run_dir  # noqa: E402
from a2d.results import ResultsError  # noqa: E402
from a2d.results.curves import (  # noqa: E402
    add_nets_args,
    arch_label,
    closed_on_error,
    comparison_nets,
    one_line_errors,
    save_figure,
)
from a2d.results.stats import AGGREGATES, aggregate, human_normalized, reference  # noqa: E402
from a2d.results.tables import (  # noqa: E402
    Table,
    read_input,
    read_steps,
    steps_arg,
    steps_note,
    write_table,
)


def normalized_scores(
    runs: Path, games: list[str], nets: list[str], seeds: list[int]
) -> tuple[dict[str, np.ndarray], list[str], list[str]]:
    """{net: seeds x games matrix of human-normalised scores}, the games used, the games left out."""
    used = [g for g in games if reference(g) is not None]
    skipped = [g for g in games if reference(g) is None]
    if not used:
        raise ResultsError(
            f"no game among {games} has published random/human reference scores; "
            "an aggregate needs at least one"
        )
    out = {}
    for net in nets:
        m = np.empty((len(seeds), len(used)))
        for j, game in enumerate(used):
            for i, s in enumerate(seeds):
                path = Path(run_dir(runs, game, net, s), "eval.json")
                doc = read_input(path)
                if "mean" not in doc:
                    raise ResultsError(f"input file {path} has no 'mean'")
                m[i, j] = human_normalized(game, float(doc["mean"]))
        out[net] = m
    return out, used, skipped


def build(runs, games, archs, method, seeds, reps, kd=False, nokd=False):
    nets = comparison_nets(archs, method, kd, nokd)
    scores, used, skipped = normalized_scores(runs, games, nets, seeds)
    return aggregate(scores, reps=reps), nets, used, skipped


def table(agg, nets, used, skipped, seeds, steps=None) -> Table:
    rows = []
    for net in nets:
        row = [arch_label(net)]
        for name in AGGREGATES:
            p, lo, hi = agg[net][name]
            row.append(f"{p:.3f} [{lo:.3f}, {hi:.3f}]" if len(seeds) > 1 else f"{p:.3f} (1 seed)")
        rows.append(row)
    note = (
        f"Human-normalised test score (0 = random policy, 1 = human tester; reference scores "
        f"from DQN Zoo) over {len(used)} game(s) ({', '.join(used)}) x {len(seeds)} seed(s); "
        "point estimate [95 % stratified-bootstrap interval, runs resampled within each game]"
    )
    if len(seeds) == 1:
        note += "; with one seed per game there is nothing to resample: no interval (1 seed)"
    if skipped:
        note += f"; left out (no published reference scores): {', '.join(skipped)}"
    return Table(
        title="Aggregate human-normalised score (IQM, median, mean)",
        header=["Net", *AGGREGATES],
        rows=rows,
        align="lrrr",
        note=note + "." + steps_note(steps),
    )


def make_figure(agg, nets, used, seeds) -> Figure:
    """The figure, not written: one panel per aggregate (IQM, median, mean), one bar (the
    interval) and tick (the point estimate) per net, top to bottom in the order of ``nets``."""
    fig, axes = plt.subplots(
        1, len(AGGREGATES), figsize=(3.4 * len(AGGREGATES), 0.5 * len(nets) + 1.4)
    )
    with closed_on_error(fig):
        ys = np.arange(len(nets))[::-1]
        for ax, name in zip(axes, AGGREGATES):
            for y, net in zip(ys, nets):
                p, lo, hi = agg[net][name]
                color = "C3" if net.startswith("searched_") else "C0"
                if net.endswith("_kd") or net.endswith("_nokd"):  # a control run
                    color = "C1" if net.endswith("_kd") else "C4"
                if len(seeds) > 1:  # one seed: no interval to draw
                    ax.hlines(y, lo, hi, color=color, lw=6, alpha=0.45)
                ax.plot([p], [y], "|", color="k", ms=14, mew=2)
            ax.set_yticks(ys, [arch_label(n) for n in nets] if ax is axes[0] else [])
            ax.set_title(name)
            ax.set_xlabel("human-normalised score")
            ax.grid(alpha=0.3, axis="x")
        fig.suptitle(
            f"{len(used)} game(s), {len(seeds)} seed(s): point estimate"
            + (" and 95 % stratified-bootstrap CI" if len(seeds) > 1 else " (1 seed: no interval)"),
            fontsize=9,
        )
        fig.tight_layout()
    return fig


def figure(agg, nets, used, seeds, out_pdf: Path, out_png: Path) -> None:
    """:func:`make_figure`, written to ``out_pdf`` and ``out_png``."""
    save_figure(make_figure(agg, nets, used, seeds), (out_pdf, out_png))


@one_line_errors
def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_nets_args(ap)
    ap.add_argument("--reps", type=int, default=2000, help="bootstrap replications")
    ap.add_argument("--pdf", type=Path, required=True)
    ap.add_argument("--png", type=Path, required=True)
    ap.add_argument("--out", required=True, help="table prefix: writes PREFIX.{md,tex,csv}")
    steps_arg(ap)
    a = ap.parse_args(argv)
    steps = read_steps(a.steps_json)
    agg, nets, used, skipped = build(
        a.runs, a.games, a.archs, a.method, a.seeds, a.reps, a.kd, a.nokd
    )
    figure(agg, nets, used, a.seeds, a.pdf, a.png)
    for path in write_table(table(agg, nets, used, skipped, a.seeds, steps), a.out):
        print(path)


if __name__ == "__main__":
    main()
