"""Tables 1-4 (Markdown, LaTeX and CSV from one in-memory table), read from results files only.

- ``table1``: the retrained A2D net vs the manual nets per game: score, MACs, MACs saving.
- ``table2``: distillation ablation (none / actor / critic / both) on the figure games.
- ``table3``: one-level vs bi-level search (and vanilla DNAS): scores, MACs, search wall time.
- ``table4``: the derived architecture per game and seed (op per cell, MACs, params, latency).

Inputs: ``{search}/{game}/{method}/seed{seed}/{arch,eval}.json`` (the search's derived
architecture and its final test with the supernet's shared weights) and
``{runs}/{game}/searched_{method}/seed{seed}/eval.json`` (that architecture retrained from
scratch). Across seeds a cell shows "mean [lower, upper]", the 95 % stratified-bootstrap
interval over seeds (rliable); with one seed a score shows "mean ± std over its test episodes
(1 seed)". A missing or unreadable input stops with a
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

from a2d.paths import run_dir, search_dir, searched
from a2d.results import ResultsError
from a2d.results.curves import (
    add_nets_args,
    arch_label,
    atomic_write_texts,
    input_file,
    method_label,
    one_line_errors,
)
from a2d.results.stats import mean_ci

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
}


def fmt(x: float | None, kind: str) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return FORMATS[kind](float(x))


def mean_spread(values: Sequence[float], test_stds: Sequence[float] | None = None):
    """Mean and interval of per-seed values: the 95 % stratified-bootstrap interval over seeds
    (rliable) when there are several; with one seed mean ± that seed's test-episode std (nan
    when not given). Returns (mean, lower, upper)."""
    if not values:
        raise ValueError("no values")
    if len(values) > 1:
        mean, lo, hi = mean_ci(np.asarray(values, dtype=float))
        return float(mean[0]), float(lo[0]), float(hi[0])
    mean = float(values[0])
    sd = float(test_stds[0]) if test_stds else math.nan
    return mean, mean - sd, mean + sd


def fmt_mean_spread(
    values: Sequence[float], kind: str, test_stds: Sequence[float] | None = None
) -> str:
    """Several seeds: "mean [lower, upper]" (95 % bootstrap interval over seeds); one seed:
    "mean ± test-std (1 seed)", or "mean" when there is no std."""
    mean, lo, hi = mean_spread(values, test_stds)
    if len(values) > 1:
        return f"{fmt(mean, kind)} [{fmt(lo, kind)}, {fmt(hi, kind)}]"
    if test_stds:
        return f"{fmt(mean, kind)} ± {fmt(mean - lo, kind)} (1 seed)"
    return fmt(mean, kind)


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
        return f"mean [95 % stratified-bootstrap interval] over seeds {', '.join(map(str, seeds))}"
    return f"seed {seeds[0]} only: scores are mean ± std over its test episodes (1 seed)"


# ---------------------------------------------------------------- the tables


def table1(
    runs: Path,
    games: list[str],
    archs: list[str],
    method: str,
    seeds: list[int],
    reference: str | None = None,
) -> Table:
    """Per game: score and MACs of each manual net and of the retrained A2D net, and A2D's MACs
    saving against ``reference`` (default: the last manual net, ResNet-20 at paper scale)."""
    reference = reference or archs[-1]
    if reference not in archs:
        raise ResultsError(f"--reference {reference!r} is not one of --archs {archs}")
    net = searched(method)
    header = ["Game"]
    for arch in [*archs, net]:
        header += [f"{arch_label(arch)} score", f"{arch_label(arch)} MACs"]
    header.append(f"MACs saving vs {arch_label(reference)}")
    rows = []
    for game in games:
        row, macs_of = [game], {}
        for arch in [*archs, net]:
            dirs = [Path(run_dir(runs, game, arch, s)) for s in seeds]
            macs, _ = _collect([d / "eval.json" for d in dirs], "macs")
            macs_of[arch] = sum(macs) / len(macs)
            row += [_score([d / "eval.json" for d in dirs]), fmt_mean_spread(macs, "macs")]
        ratio = macs_of[net] / macs_of[reference]
        row.append(f"{100 * (1 - ratio):.1f}% ({1 / ratio:.1f}x fewer)")
        rows.append(row)
    return Table(
        title=f"Table 1 — {method_label(method)} vs manual networks: test score and MACs",
        header=header,
        rows=rows,
        align="l" + "r" * (len(header) - 1),
        note=(
            f"Each net trained from scratch with PPO (the searched net with teacher distillation); "
            f"score: full test games, raw game score; MACs per forward pass of one 4x84x84 "
            f"observation (PyTorch FLOP counter); saving = 1 - MACs(A2D) / "
            f"MACs({arch_label(reference)}), mean MACs over seeds; {_seeds_note(seeds)}."
        ),
    )


def table2(
    search: Path,
    runs: Path,
    games: list[str],
    methods: list[str],
    labels: list[str],
    seeds: list[int],
) -> Table:
    if len(labels) != len(methods):
        raise ResultsError(f"--labels has {len(labels)} entries, --methods has {len(methods)}")
    rows = []
    for game in games:
        for method, label in zip(methods, labels):
            sdirs = [Path(search_dir(search, game, method, s)) for s in seeds]
            rdirs = [Path(run_dir(runs, game, searched(method), s)) for s in seeds]
            macs, _ = _collect([d / "arch.json" for d in sdirs], "macs")
            rows.append(
                [
                    game,
                    label,
                    _score([d / "eval.json" for d in sdirs]),
                    _score([d / "eval.json" for d in rdirs]),
                    fmt_mean_spread(macs, "macs"),
                ]
            )
    return Table(
        title="Table 2 — distillation ablation",
        header=["Game", "Distillation", "Search score", "Retrained score", "MACs"],
        rows=rows,
        align="llrrr",
        note=(
            "Search score: the derived (argmax) architecture tested with the supernet's shared "
            "weights at the end of the search; retrained score: that architecture trained from "
            f"scratch; MACs of the derived architecture; {_seeds_note(seeds)}."
        ),
    )


def table3(
    search: Path, runs: Path, games: list[str], methods: list[str], seeds: list[int]
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
            "Retrained score: the derived architecture trained from scratch; search score: it "
            "tested with the supernet's shared weights at the end of the search; search wall "
            f"time excludes test evaluations; {_seeds_note(seeds)}."
        ),
    )


def table4(
    search: Path, games: list[str], method: str, seeds: list[int], exports: Path | None = None
) -> Table:
    """Derived architecture per game and seed; with ``exports``, also the batch-1 ONNX Runtime
    latency of the retrained net from its export card
    ``{exports}/{game}/searched_{method}/seed{seed}/agent.onnx.json``."""
    entries = []
    for game in games:
        for seed in seeds:
            path = Path(search_dir(search, game, method, seed), "arch.json")
            entries.append((game, seed, path, read_input(path)))
    n_cells = max(len(_get(a, "ops", p)) for *_, p, a in entries)
    rows = []
    for game, seed, path, arch in entries:
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
        if exports is not None:
            card_path = Path(run_dir(exports, game, searched(method), seed), "agent.onnx.json")
            card = read_input(card_path)
            row.append(fmt(_get(card, "latency_ms_b1", card_path).get("onnxruntime"), "ms"))
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
        ],
        rows=rows,
        align="lr" + "l" * n_cells + "rrr" + ("r" if exports is not None else ""),
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
        ),
    )


# ---------------------------------------------------------------- command line


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
        return p

    p1 = sub.add_parser("table1", help="A2D vs the manual nets: score and MACs per game")
    add_nets_args(p1)
    p1.add_argument("--reference", help="manual net the MACs saving is against (default: last)")
    p1.add_argument("--out", required=True, help="output prefix: writes PREFIX.{md,tex,csv}")
    p2 = common(sub.add_parser("table2", help="distillation ablation"))
    p2.add_argument("--labels", nargs="+", required=True, help="one label per method")
    common(sub.add_parser("table3", help="one-level vs bi-level vs vanilla DNAS"))
    p4 = common(sub.add_parser("table4", help="derived architecture per game"), False, "1")
    p4.add_argument("--exports", type=Path, help="root of the ONNX exports (adds their latency)")
    a = ap.parse_args(argv)
    if a.table == "table1":
        table = table1(a.runs, a.games, a.archs, a.method, a.seeds, a.reference)
    elif a.table == "table2":
        table = table2(a.search, a.runs, a.games, a.methods, a.labels, a.seeds)
    elif a.table == "table3":
        table = table3(a.search, a.runs, a.games, a.methods, a.seeds)
    else:
        table = table4(a.search, a.games, a.method, a.seeds, a.exports)
    for path in write_table(table, a.out):
        print(path)


if __name__ == "__main__":
    main()
