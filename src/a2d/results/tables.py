"""Tables 1-4 (Markdown, LaTeX and CSV from one in-memory table), read from results files only.

- ``table1``: the retrained A2D net vs the manual nets per game: score, MACs, ONNX Runtime batch-1
  latency (``--exports``), A2D's MACs saving against each manual net; with ``--kd`` / ``--nokd``
  the control runs' scores beside (``{arch}_kd``: the manual net trained with the teacher;
  ``searched_{method}_nokd``: the derived net retrained without it).
- ``table2``: distillation ablation (none / actor / critic / both) on the figure games: the
  search score, and the derived net retrained with the teacher's distillation and (``--nokd``)
  from scratch without it.
- ``table3``: one-level vs bi-level search (and vanilla DNAS): scores, MACs, search wall time.
- ``table4``: the derived architecture per game and seed (op per cell, MACs, params, latency;
  with a cost table's prediction, the predicted and measured latency and the error).

Inputs: ``{search}/{game}/{method}/seed{seed}/{arch,eval}.json`` (the search's derived
architecture and its final test with the supernet's shared weights) and
``{runs}/{game}/searched_{method}/seed{seed}/eval.json`` (that architecture retrained, from fresh
weights, with the teacher's distillation; ``searched_{method}_nokd``: without it). Across seeds a
cell shows "mean [lower, upper]", the 95 % Student-t interval of the mean over the n seeds (an
interval meant for few samples; n is in the note); with one seed a cell shows the value and
"(1 seed)" and no interval. ``--steps-json`` (the workflow's PIPELINE_STEPS) adds to every note
the environment steps each pipeline consumed. A missing or unreadable input stops with a
one-line message naming the file, before any output is written.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from a2d.paths import kd, nokd, run_dir, search_dir, searched
from a2d.results import ResultsError
from a2d.results.curves import (
    add_nets_args,
    arch_label,
    atomic_write_texts,
    comparison_nets,
    input_file,
    method_label,
    one_line_errors,
)
from a2d.results.stats import t_ci

# ---------------------------------------------------------------- the table model and renderers


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]]
    note: str = ""
    align: str = ""  # LaTeX column alignment, one letter a column; default: "l" then "r"s

    def __post_init__(self):
        for r in self.rows:
            if len(r) != len(self.header):
                raise ValueError(f"row {r} has {len(r)} cells, header has {len(self.header)}")

    def to_markdown(self) -> str:
        def line(cells):
            return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

        out = [f"**{self.title}**", "", line(self.header)]
        out.append("|" + "|".join("---" for _ in self.header) + "|")
        out += [line(r) for r in self.rows]
        if self.note:
            out += ["", self.note]
        return "\n".join(out) + "\n"

    def to_latex(self) -> str:
        align = self.align or "l" + "r" * (len(self.header) - 1)
        caption = latex_escape(self.title + (". " + self.note if self.note else ""))
        out = [
            "\\begin{table}[t]",
            "\\centering",
            "\\small",
            f"\\caption{{{caption}}}",
            f"\\begin{{tabular}}{{{align}}}",
            "\\toprule",
            " & ".join(latex_escape(h) for h in self.header) + " \\\\",
            "\\midrule",
        ]
        out += [" & ".join(latex_escape(c) for c in r) + " \\\\" for r in self.rows]
        out += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
        return "\n".join(out) + "\n"

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.header)
        w.writerows(self.rows)
        return buf.getvalue()


_LATEX = {
    "\\": r"\textbackslash{}",
    "_": r"\_",
    "%": r"\%",
    "&": r"\&",
    "#": r"\#",
    "$": r"\$",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in text)


def write_table(table: Table, prefix: str | Path) -> list[Path]:
    """PREFIX.md, PREFIX.tex and PREFIX.csv, rendered from the same rows and written together."""
    prefix = str(prefix)
    return atomic_write_texts(
        {
            Path(prefix + ".md"): table.to_markdown(),
            Path(prefix + ".tex"): table.to_latex(),
            Path(prefix + ".csv"): table.to_csv(),
        }
    )


# ---------------------------------------------------------------- numbers


def _millions(x: float) -> str:
    return f"{x / 1e6:.2f}M"


FORMATS: dict[str, Callable[[float], str]] = {
    "score": lambda x: f"{x:.1f}",
    "macs": _millions,
    "params": _millions,
    "seconds": lambda x: f"{x:.0f}",
    "ms": lambda x: f"{x:.2f}",
    "percent": lambda x: f"{x:+.1f}",
}


def fmt(x: float | None, kind: str) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return FORMATS[kind](float(x))


def mean_spread(values: Sequence[float], test_stds: Sequence[float] | None = None):
    """Mean of per-seed values and its 95 % Student-t interval over seeds (lower, upper are nan
    with one seed: no interval). ``test_stds`` is accepted for older callers and not used: the
    spread of one seed's test episodes is not an interval of the mean over seeds.
    Returns (mean, lower, upper)."""
    if not values:
        raise ValueError("no values")
    mean, lo, hi = t_ci(np.asarray(values, dtype=float))
    return float(mean[0]), float(lo[0]), float(hi[0])


def fmt_mean_spread(
    values: Sequence[float], kind: str, test_stds: Sequence[float] | None = None
) -> str:
    """Several seeds: "mean [lower, upper]" (95 % Student-t interval of the mean); one seed:
    "value (1 seed)", no interval."""
    mean, lo, hi = mean_spread(values, test_stds)
    if len(values) > 1:
        return f"{fmt(mean, kind)} [{fmt(lo, kind)}, {fmt(hi, kind)}]"
    return f"{fmt(mean, kind)} (1 seed)"


#: Display names of the PIPELINE_STEPS keys (the workflow's env-step accounting).
PIPELINES = {
    "a2d": "A2D (teacher + search + retrain with KD)",
    "a2d_nokd": "A2D no-KD retrain (teacher + search + retrain without KD)",
    "baseline": "manual net",
    "baseline_kd": "manual net + KD (teacher + training)",
}


def _steps(x) -> float:
    return float(sum(x.values())) if isinstance(x, dict) else float(x)


def _steps_text(x: float) -> str:
    return f"{x / 1e6:.3g}M" if x >= 1e5 else f"{x:,.0f}"


def steps_note(steps: dict | None) -> str:
    """One sentence: the env steps each pipeline consumed (a value may be a number or a
    {part: steps} dict, summed and itemised). "" without ``steps``."""
    if not steps:
        return ""
    parts = []
    for key in PIPELINES:
        value = steps.get(key)
        if value is None:  # e.g. no scratch retraining ran
            continue
        text = f"{PIPELINES.get(key, key)} {_steps_text(_steps(value))}"
        if isinstance(value, dict) and len(value) > 1:
            text += " (" + " + ".join(f"{k} {_steps_text(float(v))}" for k, v in value.items())
            text += ")"
        parts.append(text)
    return " Env steps consumed per pipeline: " + "; ".join(parts) + "."


def read_steps(path: str | Path | None) -> dict | None:
    """The ``--steps-json`` argument: a JSON object, or a path to a file holding one."""
    if path is None:
        return None
    text = str(path)
    if not text.lstrip().startswith("{"):
        text = input_file(path).read_text()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ResultsError(f"--steps-json is not a JSON object: {e}") from e
    if not isinstance(doc, dict):
        raise ResultsError("--steps-json is not a JSON object")
    return doc


# ---------------------------------------------------------------- reading inputs


def read_input(path: str | Path) -> dict:
    """A JSON input; :class:`ResultsError` naming the file when it is missing or unreadable."""
    path = input_file(path)
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ResultsError(f"unreadable input file: {path} ({e})") from e


def _get(doc: dict, key: str, path: Path):
    if key not in doc:
        raise ResultsError(f"input file {path} has no {key!r}")
    return doc[key]


def _collect(paths: list[Path], key: str, with_std: bool = False):
    docs = [(read_input(p), p) for p in paths]
    values = [float(_get(d, key, p)) for d, p in docs]
    stds = [float(_get(d, "std", p)) for d, p in docs] if with_std else None
    return values, stds


def _score(paths: list[Path]) -> str:
    values, stds = _collect(paths, "mean", with_std=True)
    return fmt_mean_spread(values, "score", stds)


def _seeds_note(seeds: Sequence[int]) -> str:
    if len(seeds) > 1:
        return (
            f"mean [95 % Student-t interval of the mean, n = {len(seeds)} seeds: "
            f"{', '.join(map(str, seeds))}]"
        )
    return f"seed {seeds[0]} only: no interval (1 seed)"


# ---------------------------------------------------------------- the tables


def search_space_macs(stem_stride: int = 2, n_actions: int = 4) -> tuple[int, int]:
    """(smallest, largest) MACs of the search space's derived nets (batch 1), from the per-cell
    MACs table (docs/search-space.md "MACs range"): at the paper's stem stride 2 and 4 actions
    3,581,440 and 55,900,048 (all k5_e6), below ResNet-20's 76,729,088, so "fewer MACs than
    ResNet-20" holds by construction of that space."""
    from a2d.models.builder import supernet_spec
    from a2d.models.cost import cell_macs_table

    table, fixed, _ = cell_macs_table(supernet_spec(stem_stride=stem_stride), n_actions)
    return fixed + sum(map(min, table)), fixed + sum(map(max, table))


def _latency(exports: Path, game: str, arch: str, seeds: list[int]) -> str:
    """ONNX Runtime batch-1 latency (median, ms) from the export cards, mean [interval]."""
    values = []
    for s in seeds:
        path = Path(run_dir(exports, game, arch, s), "agent.onnx.json")
        lat = _get(read_input(path), "latency_ms_b1", path)
        if not isinstance(lat, dict) or lat.get("onnxruntime") is None:
            raise ResultsError(f"input file {path} has no ONNX Runtime latency")
        values.append(float(lat["onnxruntime"]))
    return fmt_mean_spread(values, "ms")


def table1(
    runs: Path,
    games: list[str],
    archs: list[str],
    method: str,
    seeds: list[int],
    reference: str | None = None,
    kd_runs: bool = False,
    nokd_runs: bool = False,
    exports: Path | None = None,
    steps: dict | None = None,
    stem_stride: int = 2,
) -> Table:
    """Per game: score and MACs of each manual net and of the retrained A2D net (with the
    controls' scores beside: ``kd_runs``: ``{arch}_kd``, ``nokd_runs``:
    ``searched_{method}_nokd``; with ``exports`` the ONNX Runtime batch-1 latency from the export
    cards), and A2D's MACs saving against each manual net (``reference``, default the last:
    ResNet-20 at paper scale, is the column kept under its old name and listed last)."""
    reference = reference or archs[-1]
    if reference not in archs:
        raise ResultsError(f"--reference {reference!r} is not one of --archs {archs}")
    net = searched(method)
    nets = comparison_nets(archs, method, kd_runs, nokd_runs)
    controls = {kd(a) for a in archs} | {nokd(method)}
    # per plain net: its score, its control's score beside (a control has its plain net's
    # MACs and latency), its MACs, its latency
    groups = [[a] for a in nets if a not in controls]
    for a in nets:
        if a in controls:
            groups[-1 if a == nokd(method) else archs.index(a[: -len("_kd")])].append(a)
    header = ["Game"]
    for plain, *ctl in groups:
        header += [f"{arch_label(a)} score" for a in (plain, *ctl)]
        header.append(f"{arch_label(plain)} MACs")
        if exports is not None:
            header.append(f"{arch_label(plain)} latency b1 (ms)")
    saving_vs = [a for a in archs if a != reference] + [reference]
    header += [f"MACs saving vs {arch_label(a)}" for a in saving_vs]
    rows, largest_macs = [], {}
    for game in games:
        row, macs_of = [game], {}
        for arch, *ctl in groups:
            dirs = [Path(run_dir(runs, game, arch, s)) for s in seeds]
            for a in (arch, *ctl):
                row.append(_score([Path(run_dir(runs, game, a, s), "eval.json") for s in seeds]))
            macs, _ = _collect([d / "eval.json" for d in dirs], "macs")
            macs_of[arch] = sum(macs) / len(macs)
            largest_macs[arch] = max(largest_macs.get(arch, 0), max(macs))
            row.append(fmt_mean_spread(macs, "macs"))
            if exports is not None:
                row.append(_latency(exports, game, arch, seeds))
        for a in saving_vs:
            ratio = macs_of[net] / macs_of[a]
            if ratio <= 1:
                row.append(f"{100 * (1 - ratio):.1f}% ({1 / ratio:.1f}x fewer)")
            else:
                row.append(f"{100 * (1 - ratio):.1f}% ({ratio:.1f}x more)")
        rows.append(row)
    lo, hi = search_space_macs(stem_stride)
    above = [arch_label(a) for a in archs if largest_macs.get(a, 0) > hi]
    space = (
        f"Search space: derived nets have {lo / 1e6:.2f}M (smallest) to {hi / 1e6:.2f}M MACs "
        "(all k5_e6), at 4 actions"
        + (f", stem stride {stem_stride} (not the paper's 2)" if stem_stride != 2 else "")
        + (
            f"; {' and '.join(above)} {'has' if len(above) == 1 else 'have'} more, so every "
            f"derived net has fewer MACs than {' and '.join(above)} by construction: that "
            "saving is a property of the space, the score beside it is the finding."
            if above
            else "."
        )
    )
    note = (
        "Each net trained from fresh weights with PPO; the A2D net (the derived architecture) "
        "with the teacher's actor-critic distillation"
        + ("; + KD: the manual net trained with that same distillation" if kd_runs else "")
        + ("; (no KD): the derived net retrained with plain PPO, no teacher" if nokd_runs else "")
        + ". Score: full test games, raw game score; MACs per forward pass of one 4x84x84 "
        "observation (PyTorch FLOP counter), a control's MACs are its plain net's"
        + (
            "; latency: the exported ONNX model, ONNX Runtime on CPU, batch 1, 1 thread, median "
            "(`a2d export` card), on the machine that exported it"
            if exports is not None
            else ""
        )
        + f"; saving vs X = 1 - MACs(A2D) / MACs(X), mean MACs over seeds; {_seeds_note(seeds)}. "
        + space
        + steps_note(steps)
    )
    return Table(
        title=f"Table 1 — {method_label(method)} vs manual networks: test score and MACs",
        header=header,
        rows=rows,
        align="l" + "r" * (len(header) - 1),
        note=note,
    )


def table2(
    search: Path,
    runs: Path,
    games: list[str],
    methods: list[str],
    labels: list[str],
    seeds: list[int],
    nokd_runs: bool = False,
    steps: dict | None = None,
) -> Table:
    """Per figure game and distillation setting of the search: the search score, the derived
    net retrained with the teacher's distillation (``searched_{method}``, every row, "none"
    included) and, with ``nokd_runs``, retrained from scratch without the teacher
    (``searched_{method}_nokd``; "not run" otherwise), and the derived MACs."""
    if len(labels) != len(methods):
        raise ResultsError(f"--labels has {len(labels)} entries, --methods has {len(methods)}")
    rows = []
    for game in games:
        for method, label in zip(methods, labels):
            sdirs = [Path(search_dir(search, game, method, s)) for s in seeds]
            rdirs = [Path(run_dir(runs, game, searched(method), s)) for s in seeds]
            ndirs = [Path(run_dir(runs, game, nokd(method), s)) for s in seeds]
            macs, _ = _collect([d / "arch.json" for d in sdirs], "macs")
            rows.append(
                [
                    game,
                    label,
                    _score([d / "eval.json" for d in sdirs]),
                    _score([d / "eval.json" for d in rdirs]),
                    _score([d / "eval.json" for d in ndirs]) if nokd_runs else "not run",
                    fmt_mean_spread(macs, "macs"),
                ]
            )
    return Table(
        title="Table 2 — distillation ablation",
        header=[
            "Game",
            "Distillation",
            "Search score",
            "Retrained with distillation score",
            "Retrained from scratch (no teacher) score",
            "MACs",
        ],
        rows=rows,
        align="llrrrr",
        note=(
            "Distillation: the distillation terms the search used (none: vanilla DNAS). "
            "Search score: the derived (argmax) architecture tested with the supernet's shared "
            "weights at the end of the search; retrained score: that architecture retrained from "
            "fresh weights WITH the teacher's actor-critic distillation, on every row, none "
            "included (the search setting differs between rows, the retraining does not); "
            "retrained from scratch: the same architecture retrained with plain PPO, no teacher"
            + ("" if nokd_runs else " (not run: controls.scratch_retrain is off)")
            + f"; MACs of the derived architecture; {_seeds_note(seeds)}."
            + steps_note(steps)
        ),
    )


def table3(
    search: Path,
    runs: Path,
    games: list[str],
    methods: list[str],
    seeds: list[int],
    steps: dict | None = None,
) -> Table:
    rows = []
    for game in games:
        for method in methods:
            sdirs = [Path(search_dir(search, game, method, s)) for s in seeds]
            rdirs = [Path(run_dir(runs, game, searched(method), s)) for s in seeds]
            archs = [d / "arch.json" for d in sdirs]
            macs, _ = _collect(archs, "macs")
            wall, _ = _collect(archs, "search_wall_s")
            rows.append(
                [
                    game,
                    method_label(method),
                    _score([d / "eval.json" for d in rdirs]),
                    _score([d / "eval.json" for d in sdirs]),
                    fmt_mean_spread(macs, "macs"),
                    fmt_mean_spread(wall, "seconds"),
                ]
            )
    return Table(
        title="Table 3 — one-level vs bi-level search (and vanilla DNAS)",
        header=[
            "Game",
            "Method",
            "Retrained score",
            "Search score",
            "MACs",
            "Search wall time (s)",
        ],
        rows=rows,
        align="llrrrr",
        note=(
            "Retrained score: the derived architecture retrained from fresh weights with the "
            "teacher's actor-critic distillation (every method, vanilla DNAS included); search "
            "score: it tested with the supernet's shared weights at the end of the search; "
            f"search wall time excludes test evaluations; {_seeds_note(seeds)}." + steps_note(steps)
        ),
    )


#: the key of an export card's ``latency_ms_b1`` measured on each cost-table target
CARD_LATENCY = {"onnxruntime-cpu": "onnxruntime", "torch-cpu": "pytorch_eager"}
COST_TABLE_FORMAT = "a2d-cost-table-v1"  # a2d.models.cost_table.FORMAT


def read_cost_table(path: Path) -> dict:
    """A latency table of ``a2d cost-table`` (``a2d.models.cost_table``), as an input file."""
    table = read_input(path)
    if table.get("format") != COST_TABLE_FORMAT:
        raise ResultsError(f"input file {path} is not a cost table ({COST_TABLE_FORMAT})")
    _get(table, "cells", path), _get(table, "fixed_ms", path), _get(table, "target", path)
    return table


def predicted_latency(
    arch: dict, path: Path, table: dict | None, table_path: Path | None
) -> tuple[float, str] | tuple[None, None]:
    """``(ms, target)`` of a derived net: the search's own table's prediction (``arch.json``'s
    ``predicted_latency_ms``, present when it searched with ``search.cost: latency``), else the
    given cost table's ``fixed_ms + sum of ms[cell][op]``, else ``(None, None)``."""
    pred = arch.get("predicted_latency_ms")
    if isinstance(pred, dict) and "ms" in pred:
        return float(pred["ms"]), str(pred.get("target"))
    if table is None:
        return None, None
    ops, cells = _get(arch, "ops", path), table["cells"]
    try:
        if len(ops) != len(cells):
            raise KeyError(f"{len(cells)} cells, {len(ops)} ops")
        ms = float(table["fixed_ms"]) + sum(float(c["ms"][op]) for c, op in zip(cells, ops))
    except (KeyError, TypeError, ValueError) as e:
        raise ResultsError(
            f"cost table {table_path} does not fit the architecture of {path} ({e})"
        ) from None
    return ms, str(table["target"])


def table4(
    search: Path,
    games: list[str],
    method: str,
    seeds: list[int],
    exports: Path | None = None,
    steps: dict | None = None,
    cost_table: Path | None = None,
) -> Table:
    """Derived architecture per game and seed; with ``exports``, also the batch-1 ONNX Runtime
    latency of the retrained net from its export card
    ``{exports}/{game}/searched_{method}/seed{seed}/agent.onnx.json``.

    Latency predicted by a cost table (beyond the paper): when a derived net's search used
    ``search.cost: latency`` (its ``arch.json`` has ``predicted_latency_ms``), or when a
    ``cost_table`` file is given, three columns more: the table's predicted latency, the latency
    measured on the same target from the export card (ONNX Runtime or PyTorch eager; none for
    cuda) and the prediction's error in %. A value that is not there is a dash."""
    table = read_cost_table(cost_table) if cost_table is not None else None
    entries = []
    for game in games:
        for seed in seeds:
            path = Path(search_dir(search, game, method, seed), "arch.json")
            arch = read_input(path)
            entries.append(
                (game, seed, path, arch, predicted_latency(arch, path, table, cost_table))
            )
    n_cells = max(len(_get(a, "ops", p)) for _, _, p, a, _ in entries)
    predicting = any(ms is not None for *_, (ms, _) in entries)
    targets = sorted({t for *_, (ms, t) in entries if ms is not None})
    rows = []
    for game, seed, path, arch, (pred_ms, target) in entries:
        ops = list(_get(arch, "ops", path))
        latency = arch.get("latency_ms_b1")
        row = [
            game,
            str(seed),
            *ops,
            *["-"] * (n_cells - len(ops)),
            fmt(_get(arch, "macs", path), "macs"),
            fmt(_get(arch, "params", path), "params"),
            fmt(latency, "ms"),
        ]
        card_lat: dict = {}
        if exports is not None:
            card_path = Path(run_dir(exports, game, searched(method), seed), "agent.onnx.json")
            card = read_input(card_path)
            card_lat = _get(card, "latency_ms_b1", card_path)
            row.append(fmt(card_lat.get("onnxruntime"), "ms"))
        if predicting:
            measured = card_lat.get(CARD_LATENCY.get(target, ""))
            error = (
                100 * (pred_ms - float(measured)) / float(measured)
                if pred_ms is not None and measured
                else None
            )
            row += [fmt(pred_ms, "ms"), fmt(measured, "ms"), fmt(error, "percent")]
        rows.append(row)
    return Table(
        title=f"Table 4 — derived architectures ({method_label(method)})",
        header=[
            "Game",
            "Seed",
            *[f"Cell {i}" for i in range(1, n_cells + 1)],
            "MACs",
            "Params",
            "Latency b1 (ms)",
            *(["ONNX Runtime b1 (ms)"] if exports is not None else []),
            *(
                ["Predicted b1 (ms)", "Measured b1 (ms)", "Prediction error (%)"]
                if predicting
                else []
            ),
        ],
        rows=rows,
        align="lr"
        + "l" * n_cells
        + "rrr"
        + ("r" if exports is not None else "")
        + ("rrr" if predicting else ""),
        note=(
            "kK_eE: inverted residual with kernel K and expansion E (_g2: grouped, 2 groups); "
            "skip: identity (a projection where the shape changes). Latency: batch 1, PyTorch "
            "eager, on the CPU of the machine that ran the search"
            + (
                "; ONNX Runtime: the retrained net exported to ONNX (`a2d export`), batch 1, "
                "1 thread, median, on the CPU of the machine that exported it."
                if exports is not None
                else "."
            )
            + (
                f" Predicted: the derived net's latency by the measured per-cell cost table "
                f"({', '.join(targets)}; `a2d cost-table`, beyond the paper): fixed part + sum "
                "of its cells' op latencies; measured: the export card's latency on that target "
                "(ONNX Runtime, or PyTorch eager for torch-cpu; '-' when not measured there); "
                "error: (predicted - measured) / measured. The table and the export may have "
                "been measured on different machines."
                if predicting
                else ""
            )
            + steps_note(steps)
        ),
    )


# ---------------------------------------------------------------- command line


def steps_arg(p) -> None:
    p.add_argument(
        "--steps-json",
        help="env steps each pipeline consumed: a JSON object (or a file holding one), "
        'e.g. {"a2d": ..., "baseline": ..., "baseline_kd": ..., "a2d_nokd": ...}',
    )


@one_line_errors
def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="table", required=True)

    def common(p, runs=True, method_nargs="+"):
        p.add_argument("--search", type=Path, required=True, help="root of the search outputs")
        if runs:
            p.add_argument("--runs", type=Path, required=True, help="root of the trained runs")
        p.add_argument("--games", nargs="+", required=True)
        if method_nargs == "+":
            p.add_argument("--methods", nargs="+", required=True)
        else:
            p.add_argument("--method", required=True)
        p.add_argument("--seeds", nargs="+", type=int, required=True)
        p.add_argument("--out", required=True, help="output prefix: writes PREFIX.{md,tex,csv}")
        steps_arg(p)
        return p

    p1 = sub.add_parser("table1", help="A2D vs the manual nets: score and MACs per game")
    add_nets_args(p1)
    p1.add_argument("--reference", help="manual net the MACs saving is against (default: last)")
    p1.add_argument("--out", required=True, help="output prefix: writes PREFIX.{md,tex,csv}")
    p1.add_argument("--exports", type=Path, help="root of the ONNX exports (adds their latency)")
    p1.add_argument(
        "--stem-stride",
        type=int,
        default=2,
        choices=(2, 4),
        help="search.stem_stride of the searches: the search space's MACs range in the note",
    )
    steps_arg(p1)
    p2 = common(sub.add_parser("table2", help="distillation ablation"))
    p2.add_argument("--labels", nargs="+", required=True, help="one label per method")
    p2.add_argument(
        "--nokd",
        action="store_true",
        help="fill the from-scratch column from searched_{method}_nokd runs",
    )
    common(sub.add_parser("table3", help="one-level vs bi-level vs vanilla DNAS"))
    p4 = common(sub.add_parser("table4", help="derived architecture per game"), False, "1")
    p4.add_argument("--exports", type=Path, help="root of the ONNX exports (adds their latency)")
    p4.add_argument(
        "--cost-table",
        type=Path,
        help="a latency table (a2d cost-table): predicts each derived net's latency where its "
        "search did not (search.cost: macs)",
    )
    a = ap.parse_args(argv)
    steps = read_steps(a.steps_json)
    if a.table == "table1":
        table = table1(
            a.runs,
            a.games,
            a.archs,
            a.method,
            a.seeds,
            a.reference,
            a.kd,
            a.nokd,
            a.exports,
            steps,
            a.stem_stride,
        )
    elif a.table == "table2":
        table = table2(a.search, a.runs, a.games, a.methods, a.labels, a.seeds, a.nokd, steps)
    elif a.table == "table3":
        table = table3(a.search, a.runs, a.games, a.methods, a.seeds, steps)
    else:
        table = table4(a.search, a.games, a.method, a.seeds, a.exports, steps, a.cost_table)
    for path in write_table(table, a.out):
        print(path)


if __name__ == "__main__":
    main()
