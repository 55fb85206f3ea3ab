"""Figure 3: test score vs MACs (log axis) on every game: the manual nets and the A2D net.

Reads ``{runs}/{game}/{arch}/seed{seed}/eval.json`` for each manual net and for the retrained
searched net ``searched_{method}`` (and ``{random}/{game}.json`` when given). Never runs an agent.
With ``--kd`` each manual net's KD control ``{arch}_kd`` (same net, trained with the teacher's
distillation; hollow marker) and with ``--nokd`` the derived net retrained without the teacher
``searched_{method}_nokd`` are drawn too. Error bars: the 95 % Student-t interval of the mean over
seeds when there are several seeds (n stated in the title), none with one seed; horizontal bars
the same for MACs (a searched net's size can differ between seeds).
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
from matplotlib.ticker import FuncFormatter  # noqa: E402

from a2d.paths import game_json, run_dir  # noqa: E402
from a2d.results.curves import (  # noqa: E402
    add_nets_args,
    arch_label,
    closed_on_error,
    comparison_nets,
    finish_panels,
    one_line_errors,
    read_json,
    save_figure,
    spread_label,
)
from a2d.results.stats import t_ci  # noqa: E402

MARKERS = "osD^vP*X"


def point(runs: Path, game: str, arch: str, seeds: list[int]):
    """(macs, macs_lo, macs_hi, score, score_lo, score_hi) of one net on one game: means over
    seeds and their 95 % Student-t intervals (nan bounds with one seed: no interval)."""
    evals = [read_json(Path(run_dir(runs, game, arch, s), "eval.json")) for s in seeds]
    macs = np.array([e["macs"] for e in evals], dtype=float)
    score = np.array([e["mean"] for e in evals], dtype=float)
    return (*(float(v[0]) for v in t_ci(macs)), *(float(v[0]) for v in t_ci(score)))


def _err(centre: float, lo: float, hi: float):
    """An errorbar argument, or None where there is no interval."""
    if math.isnan(lo) or math.isnan(hi):
        return None
    return [[centre - lo], [hi - centre]]


def make_figure(
    runs: Path,
    games: list[str],
    archs: list[str],
    method: str,
    seeds: list[int],
    random_dir: Path | None = None,
    kd: bool = False,
    nokd: bool = False,
) -> Figure:
    """The figure, not written: one panel per game, one point with error bars per net (the
    manual nets and their KD controls, then ``searched_{method}`` and its no-KD retraining), the
    random policy's score as a dashed line where ``random_dir`` has it."""
    nets = comparison_nets(archs, method, kd, nokd)
    n = len(games)
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(max(3.8 * cols, 6.0), 3.2 * rows + 0.4), squeeze=False
    )
    millions = FuncFormatter(lambda v, _: f"{v / 1e6:.3g}M")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    with closed_on_error(fig):
        for ax, game in zip(axes.flat, games):
            base = [a for a in nets if not a.startswith("searched_") and a not in archs]
            for arch in nets:
                mx, mlo, mhi, y, ylo, yhi = point(runs, game, arch, seeds)
                is_searched = arch.startswith("searched_")
                control = arch in base or arch.endswith("_nokd")  # a KD or no-KD control
                # a control shares its plain net's marker and colour, drawn hollow
                parent = arch[: -len("_kd")] if arch in base else arch
                i = archs.index(parent) if parent in archs else len(archs)
                color = "C3" if is_searched else colors[i % len(colors)]
                ax.errorbar(
                    [mx],
                    [y],
                    xerr=_err(mx, mlo, mhi),
                    yerr=_err(y, ylo, yhi),
                    fmt=MARKERS[i % len(MARKERS)],
                    color=color,
                    mfc="none" if control else color,
                    ms=9 if is_searched else 6,
                    capsize=3,
                    label=arch_label(arch),
                )
            if random_dir is not None and Path(game_json(random_dir, game)).exists():
                ax.axhline(
                    read_json(game_json(random_dir, game))["mean"],
                    color="grey",
                    ls="--",
                    lw=1,
                    label="random",
                )
            ax.set_xscale("log")
            lo, hi = ax.get_xlim()
            ax.set_xlim(lo / 1.3, hi * 1.3)
            ax.xaxis.set_major_formatter(millions)
            ax.xaxis.set_minor_formatter(millions)
            ax.tick_params(axis="x", which="both", labelsize=7)
            ax.set_title(game)
            ax.set_xlabel("MACs per step (log)")
            ax.set_ylabel("test score")
            ax.grid(alpha=0.3, which="both")
        finish_panels(fig, axes, n, f"Score vs MACs ({spread_label(seeds)} as error bars)")
    return fig


def plot(
    runs: Path,
    games: list[str],
    archs: list[str],
    method: str,
    seeds: list[int],
    out_pdf: Path,
    out_png: Path,
    random_dir: Path | None = None,
    kd: bool = False,
    nokd: bool = False,
) -> None:
    """:func:`make_figure`, written to ``out_pdf`` and ``out_png``."""
    fig = make_figure(runs, games, archs, method, seeds, random_dir, kd, nokd)
    save_figure(fig, (out_pdf, out_png))


@one_line_errors
def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_nets_args(ap)
    ap.add_argument("--random", type=Path, help="directory of random-policy scores")
    ap.add_argument("--pdf", type=Path, required=True)
    ap.add_argument("--png", type=Path, required=True)
    a = ap.parse_args(argv)
    plot(a.runs, a.games, a.archs, a.method, a.seeds, a.pdf, a.png, a.random, a.kd, a.nokd)


if __name__ == "__main__":
    main()
