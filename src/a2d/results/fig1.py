"""Figure 1: test score during training of the sweep models, one panel per figure game.

Reads ``{runs}/{game}/{arch}/seed{seed}/curve.csv`` and ``model.json`` (and the random-policy
score ``{random}/{game}.json`` when given). Never runs an agent.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from a2d.paths import game_json, run_dir  # noqa: E402
from a2d.results.curves import (  # noqa: E402
    across_seeds,
    closed_on_error,
    finish_panels,
    one_line_errors,
    read_curve,
    read_json,
    save_figure,
    spread_label,
)


def make_figure(
    runs: Path,
    games: list[str],
    archs: list[str],
    seeds: list[int],
    random_dir: Path | None = None,
) -> Figure:
    """The figure, not written: one panel per game, one line (mean) and band per arch, and the
    random policy's score as a dashed line where ``random_dir`` has it."""
    n = len(games)
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    with closed_on_error(fig):
        for ax, game in zip(axes.flat, games):
            for arch in archs:
                dirs = [Path(run_dir(runs, game, arch, s)) for s in seeds]
                curves = [read_curve(d / "curve.csv") for d in dirs]
                macs = read_json(dirs[0] / "model.json")["macs"]
                steps, mean, lo, hi = across_seeds(curves)
                (line,) = ax.plot(steps, mean, label=f"{arch} ({macs / 1e6:.1f}M MACs)")
                ax.fill_between(steps, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
            if random_dir is not None and Path(game_json(random_dir, game)).exists():
                ax.axhline(
                    read_json(game_json(random_dir, game))["mean"],
                    color="grey",
                    ls="--",
                    lw=1,
                    label="random",
                )
            ax.set_title(game)
            ax.set_xlabel("environment steps")
            ax.set_ylabel("test score")
            ax.grid(alpha=0.3)
        finish_panels(fig, axes, n, f"Test score during training ({spread_label(seeds)} as band)")
    return fig


def plot(
    runs: Path,
    games: list[str],
    archs: list[str],
    seeds: list[int],
    out_pdf: Path,
    out_png: Path,
    random_dir: Path | None = None,
) -> None:
    """:func:`make_figure`, written to ``out_pdf`` and ``out_png``."""
    save_figure(make_figure(runs, games, archs, seeds, random_dir), (out_pdf, out_png))


@one_line_errors
def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, required=True)
    ap.add_argument("--games", nargs="+", required=True)
    ap.add_argument("--archs", nargs="+", required=True)
    ap.add_argument("--seeds", nargs="+", type=int, required=True)
    ap.add_argument("--random", type=Path, help="directory of random-policy scores")
    ap.add_argument("--pdf", type=Path, required=True)
    ap.add_argument("--png", type=Path, required=True)
    a = ap.parse_args(argv)
    plot(a.runs, a.games, a.archs, a.seeds, a.pdf, a.png, a.random)


if __name__ == "__main__":
    main()
