"""Reading results files (curve.csv, search_curve.csv, eval.json, model.json), aggregating across
seeds, method labels and atomic writes of outputs. Where the files are: :mod:`a2d.paths`."""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path

import numpy as np

from a2d.checkpoint import atomic_write, atomic_write_text, temp_beside
from a2d.results import ResultsError

#: Display names of the search schemes (figures and tables); other names are shown as they are.
METHOD_LABELS = {
    "vanilla_dnas": "Vanilla-DNAS",
    "a2d_one_level": "A2D-One-level",
    "a2d_bi_level": "A2D-Bi-level",
    "a2d_actor_only": "A2D-actor-only",
    "a2d_critic_only": "A2D-critic-only",
}


def method_label(method: str) -> str:
    return METHOD_LABELS.get(method, method)


def arch_label(arch: str) -> str:
    """vanilla -> Vanilla, resnet14 -> ResNet-14, searched_<method> -> the method's label; the
    control runs: ``{arch}_kd`` -> "Vanilla + KD" (the manual net trained with the teacher's
    distillation), ``searched_{method}_nokd`` -> "A2D-One-level (no KD)" (the derived net
    retrained without the teacher), ``{arch}_eq`` -> "Vanilla (equal budget)" (trained for A2D's
    env steps)."""
    if arch.startswith("searched_") and arch.endswith("_nokd"):
        return f"{arch_label(arch[: -len('_nokd')])} (no KD)"
    if arch.endswith("_kd") and not arch.startswith("searched_"):
        return f"{arch_label(arch[: -len('_kd')])} + KD"
    if arch.endswith("_eq") and not arch.startswith("searched_"):
        return f"{arch_label(arch[: -len('_eq')])} (equal budget)"
    if arch == "vanilla":
        return "Vanilla"
    if arch.startswith("resnet") and arch[6:].isdigit():
        return f"ResNet-{arch[6:]}"
    if arch.startswith("searched_"):
        return method_label(arch[len("searched_") :])
    return arch


def add_nets_args(ap) -> None:
    """The arguments of the per-game comparisons (Fig 3, Table 1, the aggregate): where the
    runs are, which games, manual nets, search method and seeds."""
    ap.add_argument("--runs", type=Path, required=True, help="root of the trained runs")
    ap.add_argument("--games", nargs="+", required=True)
    ap.add_argument("--archs", nargs="+", required=True, help="the manual nets, smallest first")
    ap.add_argument("--method", required=True, help="search method whose nets were retrained")
    ap.add_argument("--seeds", nargs="+", type=int, required=True)
    ap.add_argument(
        "--kd",
        action="store_true",
        help="also show each manual net's KD control (runs {arch}_kd: trained with the teacher)",
    )
    ap.add_argument(
        "--nokd",
        action="store_true",
        help="also show the derived net retrained without the teacher (searched_{method}_nokd)",
    )


def comparison_nets(archs: Sequence[str], method: str, kd: bool = False, nokd: bool = False):
    """The nets of Fig 3, Table 1 and the aggregate, in display order: each manual net (then its
    KD control ``{arch}_kd`` when ``kd``), then ``searched_{method}`` (then its no-teacher
    retraining ``searched_{method}_nokd`` when ``nokd``)."""
    from a2d.paths import kd as kd_name
    from a2d.paths import nokd as nokd_name
    from a2d.paths import searched

    nets = []
    for arch in archs:
        nets += [arch, *([kd_name(arch)] if kd else [])]
    return [*nets, searched(method), *([nokd_name(method)] if nokd else [])]


def spread_label(seeds: Sequence[int]) -> str:
    """What a figure's band or error bar is, and over how many seeds (for its title)."""
    n = len(seeds)
    if n < 2:
        return "1 seed: mean only, no interval"
    return f"{n} seeds; 95 % Student-t CI of the mean (n = {n})"


def _column(values: list[str]) -> np.ndarray:
    """Floats ('' and 'nan' -> nan); a column with any other non-numeric value stays strings."""
    try:
        return np.array([float(v) if v not in ("", "nan") else math.nan for v in values])
    except ValueError:
        return np.array(values, dtype=str)


def input_file(path: str | Path) -> Path:
    """``path``, an existing file; else :class:`ResultsError` "missing input file: PATH"."""
    path = Path(path)
    if not path.is_file():
        raise ResultsError(f"missing input file: {path}")
    return path


def read_curve(path: str | Path) -> dict[str, np.ndarray]:
    """A CSV curve (``curve.csv``, ``search_curve.csv``, ``timing.csv``) as {column: array}."""
    with open(input_file(path)) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ResultsError(f"{path}: empty curve")
    return {k: _column([r[k] for r in rows]) for k in rows[0]}


def read_json(path: str | Path) -> dict:
    return json.loads(input_file(path).read_text())


def across_seeds(curves: list[dict[str, np.ndarray]], key: str = "test_mean"):
    """Align curves on the steps they share; return steps, mean, lower, upper across seeds.

    Several seeds: the band is the 95 % Student-t interval of the mean over seeds at each step
    (:func:`a2d.results.stats.t_ci`). One seed: no band (lower and upper are nan)."""
    from a2d.results.stats import t_ci

    steps = sorted(set.intersection(*(set(c["step"].tolist()) for c in curves)))
    steps = np.array(steps)
    ys = np.stack([np.interp(steps, c["step"], c[key]) for c in curves])
    return (steps, *t_ci(ys))


def atomic_write_texts(files: dict[Path, str]) -> list[Path]:
    """Write several files together: each text is first written, by the checkpoint writer
    (:func:`a2d.checkpoint.atomic_write_text`), to a staging file beside its output, and only
    when all are written are they renamed into place, so a failure while writing leaves none of
    the outputs touched."""
    staged: dict[Path, Path] = {}
    try:
        for path, text in files.items():
            path = Path(path)
            fd, tmp = temp_beside(path)
            os.close(fd)
            staged[path] = Path(tmp)
            atomic_write_text(tmp, text)
        for path, tmp in staged.items():
            os.replace(tmp, path)
    finally:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)
    return list(staged)


def one_line_errors(main: Callable[..., None]) -> Callable[..., None]:
    """For a module's ``main``: a :class:`ResultsError` ends the process with its message as one
    line and exit status 1 (no traceback)."""

    @wraps(main)
    def wrapper(*args, **kwargs) -> None:
        try:
            main(*args, **kwargs)
        except ResultsError as e:
            raise SystemExit(str(e)) from None

    return wrapper


def finish_panels(fig, axes, n: int, title: str, legend: bool = True) -> None:
    """The common end of a figure of per-game panels: blank the unused panels, a legend on the
    first, the title (what the band or bars are), a tight layout."""
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    if legend:
        axes.flat[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9, wrap=True)
    fig.tight_layout()


@contextlib.contextmanager
def closed_on_error(fig):
    """Close ``fig`` if building it fails (pyplot keeps every open figure alive)."""
    import matplotlib.pyplot as plt

    try:
        yield fig
    except BaseException:
        plt.close(fig)
        raise


def save_figure(fig, paths: Sequence[str | Path], dpi: int = 150) -> None:
    """``fig.savefig`` to each path (format from its suffix), each written atomically; the
    figure is closed afterwards, written or not."""
    import matplotlib.pyplot as plt

    try:
        for out in paths:
            fmt = Path(out).suffix.lstrip(".")
            atomic_write(out, lambda tmp, fmt=fmt: fig.savefig(tmp, dpi=dpi, format=fmt))
    finally:
        plt.close(fig)
