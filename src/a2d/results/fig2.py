"""Figure 2: test score during the search, one panel per figure game, one curve per search scheme.

Reads ``{search}/{game}/{method}/seed{seed}/search_curve.csv`` (the argmax architecture tested with
the supernet's shared weights at each evaluation). Never runs an agent.

Warm-up shading: an evaluation is tagged ``warmup`` when the iterations before it trained the
weights only, so the end of the warm-up lies after the last ``warmup`` point and no later than the
first ``search`` point; the grey span runs from the first point to that first ``search`` point (to
the last point when a curve never leaves the warm-up).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from a2d.paths import search_dir  # noqa: E402
from a2d.results.curves import (  # noqa: E402
    across_seeds,
    closed_on_error,
    method_label,
    one_line_errors,
    read_curve,
    save_figure,
    spread_label,
)


def warmup_span(curve: dict[str, np.ndarray]) -> tuple[float, float] | None:
    """(start, end) of the warm-up as seen in a search curve's ``phase`` column; None if none."""
    if "phase" not in curve:
        return None
    phase, step = curve["phase"], curve["step"]
    warm = phase == "warmup"
    if not warm.any():
        return None
    search = np.flatnonzero(phase == "search")
    end = step[search[0]] if search.size else step.max()
    return float(step[warm].min()), float(end)


def make_figure(search: Path, games: list[str], methods: list[str], seeds: list[int]) -> Figure:
    """The figure, not written: one panel per game, one line (mean) and band per method, the
    warm-up as a grey span."""
    n = len(games)
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    with closed_on_error(fig):
        for ax, game in zip(axes.flat, games):
            spans = []
            for method in methods:
                curves = [
                    read_curve(Path(search_dir(search, game, method, s), "search_curve.csv"))
                    for s in seeds
                ]
                spans += [sp for sp in map(warmup_span, curves) if sp is not None]
                steps, mean, lo, hi = across_seeds(curves)
                (line,) = ax.plot(steps, mean, label=method_label(method))
                ax.fill_between(steps, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
            if spans:
                start = min(a for a, _ in spans)
                end = max(b for _, b in spans)
                ax.axvspan(start, end, color="0.85", alpha=0.6, linewidth=0, zorder=0)
            ax.set_title(game)
            ax.set_xlabel("environment steps (search)")
            ax.set_ylabel("test score")
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[n:]:
            ax.axis("off")
        handles, labels = axes.flat[0].get_legend_handles_labels()
        handles.append(plt.Rectangle((0, 0), 1, 1, color="0.85", alpha=0.6, linewidth=0))
        labels.append("warm-up")
        axes.flat[0].legend(handles, labels, fontsize=7)
        fig.suptitle(
            "Test score of the argmax architecture during the search (shared weights; "
            f"{spread_label(seeds)} as band; grey: warm-up, alpha = 0: every point tests the "
            "all-k3_e1 net)",
            fontsize=9,
            wrap=True,
        )
        fig.tight_layout()
    return fig


def plot(
    search: Path,
    games: list[str],
    methods: list[str],
    seeds: list[int],
    out_pdf: Path,
    out_png: Path,
) -> None:
    """:func:`make_figure`, written to ``out_pdf`` and ``out_png``."""
    save_figure(make_figure(search, games, methods, seeds), (out_pdf, out_png))


@one_line_errors
def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--search", type=Path, required=True, help="root of the search outputs")
    ap.add_argument("--games", nargs="+", required=True)
    ap.add_argument("--methods", nargs="+", required=True)
    ap.add_argument("--seeds", nargs="+", type=int, required=True)
    ap.add_argument("--pdf", type=Path, required=True)
    ap.add_argument("--png", type=Path, required=True)
    a = ap.parse_args(argv)
    plot(a.search, a.games, a.methods, a.seeds, a.pdf, a.png)


if __name__ == "__main__":
    main()
