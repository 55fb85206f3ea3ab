"""The published evidence: a finished results tree's figures, tables and claims as one folder of
small files (``docs/evidence/`` by default, config ``evidence_docs``), with how it was made.

    python -m a2d.results.evidence_docs --results results/evidence --out docs/evidence \
        --command "snakemake --cores 2 --configfile presets/evidence.yaml evidence_docs"

Reads results files only and writes:

- ``README.md``: the command; the commit (``git rev-parse HEAD`` of ``--repo``, with "+ local
  changes" when ``git status --porcelain`` lists any; ``unknown`` outside git); the machine it
  was built on (CPU model from ``/proc/cpuinfo``, cores, torch version; the rule runs in the
  run's own invocation, so that is the run's machine); the wall time and per-rule times; the
  claims table with its verdicts; every figure; every table; the rliable figures and the
  PPO-vs-CleanRL comparison when present.
- ``figures/*.png`` (copied from ``{results}/figures/``), ``tables/*.md`` (from
  ``{results}/tables/``), ``config.yaml`` (the merged config), ``cleanrl_comparison.{md,json}``
  (from ``{results}/cleanrl/``, written by ``benchmarks/cleanrl_compare.py``).

Times come from the run's ``benchmark:`` files (``{results}/benchmarks/<stage>/...tsv``, one per
job, Snakemake's column ``s``: the job's wall seconds). Per rule: jobs, total, mean and longest
job. Wall time: from the first job's start to the last job's end, a job's end being its
benchmark file's modification time and its start that less its ``s`` (so a tree copied without
its modification times gives a wrong wall time; the per-rule times stay right). The
``evidence_docs`` rule's own benchmark is left out.

Nothing is written when an input is missing: the refusal is one line naming the file. The folder
is built beside ``--out`` and swapped in at the end, so ``--out`` is either the old folder or
the new one.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from a2d.machine import cpu_model
from a2d.paths import ResultsTree
from a2d.results import ResultsError
from a2d.results.curves import atomic_write_texts, input_file, one_line_errors

#: figures of the paper DAG (required) and of the rliable rule (when present)
FIGURES = {
    "fig1": "Fig 1: test score during training per net size (size sweep, figure games)",
    "fig2": "Fig 2: test score of the argmax architecture during the search, per method",
    "fig3": "Fig 3: test score against MACs per game",
    "aggregate": "Aggregate: IQM / median / mean human-normalised score per net",
}
RLIABLE_FIGURES = {
    "profile": "Performance profiles (rliable)",
    "poi": "Probability of improvement (rliable)",
    "sample_efficiency": "IQM sample-efficiency curves (rliable)",
}
TABLES = {
    "table1": "Table 1: score and MACs of the manual nets and A2D",
    "table2": "Table 2: distillation ablation",
    "table3": "Table 3: one-level, bi-level and vanilla DNAS",
    "table4": "Table 4: the derived architectures",
    "aggregate": "Aggregate table",
}
#: a stage directory of benchmarks/ that holds several rules, one file each (figures/fig1.tsv)
MULTI_RULE_STAGES = ("figures", "tables")
OWN_STAGE = "evidence_docs"


def required_inputs(tree: ResultsTree) -> list[Path]:
    """The files every page needs, in the order they are checked."""
    return [
        *[Path(tree.figure(f, "png")) for f in FIGURES],
        *[Path(tree.table(t, "md")) for t in TABLES],
        Path(tree.table("claims", "md")),
        Path(tree.config_yaml),
    ]


def comparison_files(tree: ResultsTree) -> tuple[Path, Path]:
    """``benchmarks/cleanrl_compare.py``'s output in this tree (its default ``--out``)."""
    return Path(tree.cleanrl, "comparison.md"), Path(tree.cleanrl, "comparison.json")


# ---------------------------------------------------------------- times
def _rule_of(rel: Path) -> str:
    """The rule of a benchmark file, from its path under benchmarks/."""
    if len(rel.parts) == 1:
        return rel.stem  # config_used.tsv
    if rel.parts[0] in MULTI_RULE_STAGES:
        return rel.stem if len(rel.parts) == 2 else rel.parts[0]
    return rel.parts[0]


def read_benchmark(path: Path) -> float:
    """Snakemake's benchmark TSV: the job's wall seconds (column ``s``, first row)."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    try:
        return float(rows[0]["s"])
    except (IndexError, KeyError, ValueError):
        raise ResultsError(f"{path}: not a Snakemake benchmark file (no 's' column)") from None


def benchmark_times(bench_dir: Path) -> tuple[list[dict], float]:
    """Per rule (jobs, total, mean, longest seconds), sorted by total, and the wall time."""
    files = sorted(p for p in Path(bench_dir).rglob("*.tsv") if p.is_file())
    own = (OWN_STAGE, f"{OWN_STAGE}.tsv")
    files = [p for p in files if p.relative_to(bench_dir).parts[0] not in own]
    if not files:
        raise ResultsError(f"missing input file: {bench_dir}/*.tsv (the run's benchmark files)")
    per_rule: dict[str, list[float]] = {}
    starts, ends = [], []
    for p in files:
        s = read_benchmark(p)
        per_rule.setdefault(_rule_of(p.relative_to(bench_dir)), []).append(s)
        end = p.stat().st_mtime
        starts.append(end - s)
        ends.append(end)
    rows = [
        {"rule": r, "jobs": len(v), "total_s": sum(v), "mean_s": sum(v) / len(v), "max_s": max(v)}
        for r, v in per_rule.items()
    ]
    rows.sort(key=lambda r: (-r["total_s"], r["rule"]))
    return rows, max(ends) - min(starts)


def hms(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


# ---------------------------------------------------------------- where it ran
def commit(repo: Path, ignore: str | Path | None = None) -> str:
    """``git rev-parse HEAD`` (+ " + local changes" if the tree differs); ``unknown`` otherwise.
    Changes under ``ignore`` (the published folder itself, which a rebuild rewrites) do not
    count."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=30
        )
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ":/", *_exclude(repo, ignore)],
            cwd=repo, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if dirty.returncode != 0:
        return head.stdout.strip() + " + unknown changes"
    return head.stdout.strip() + (" + local changes" if dirty.stdout.strip() else "")


def _exclude(repo: Path, path: str | Path | None) -> list[str]:
    """A git pathspec leaving out ``path`` (relative to the working directory) when it lies in
    ``repo`` (git refuses a pathspec outside the repository)."""
    if path is None:
        return []
    try:
        rel = Path(path).resolve().relative_to(Path(repo).resolve())
    except ValueError:
        return []
    return [f":(exclude){rel.as_posix()}"] if rel.parts else []


def torch_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch")
    except PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, str]:
    return {
        "cpu": cpu_model(),
        "cores": str(os.cpu_count() or "unknown"),
        "torch": torch_version(),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }


# ---------------------------------------------------------------- the page
def render_readme(
    results: str,
    command: str,
    commit_id: str,
    mach: dict[str, str],
    times: list[dict],
    wall_s: float,
    texts: dict[str, str],
    rliable: list[str],
    comparison: str | None,
    built: str,
) -> str:
    """README.md. ``texts``: the Markdown tables by name (``claims`` and TABLES)."""
    out = [
        f"# Evidence: `{results}`",
        "",
        "Written by `python -m a2d.results.evidence_docs` (rule `evidence_docs`) from the results"
        " tree's files only; every number below is in those files.",
        "",
        f"- **command**: `{command}`",
        f"- **commit**: `{commit_id}`",
        f"- **machine**: {mach['cpu']}, {mach['cores']} cores, torch {mach['torch']}, "
        f"Python {mach['python']}, {mach['os']} (where this page was built)",
        f"- **built**: {built}",
        f"- **wall time**: {hms(wall_s)} ({wall_s:,.0f} s), first job start to last job end, "
        "from the jobs' benchmark files",
        "- **config**: [config.yaml](config.yaml)",
        "",
        "## Claims",
        "",
        texts["claims"].strip(),
        "",
        "## Figures",
        "",
    ]
    for name, caption in FIGURES.items():
        out += [f"**{caption}**", "", f"![{name}](figures/{name}.png)", ""]
    if rliable:
        for name in rliable:
            out += [f"**{RLIABLE_FIGURES[name]}**", "", f"![{name}](figures/{name}.png)", ""]
    out += ["## Tables", ""]
    for name, caption in TABLES.items():
        out += [f"### {caption}", "", texts[name].strip(), ""]
    if comparison is not None:
        out += [
            "## Our PPO against CleanRL",
            "",
            "`benchmarks/cleanrl_compare.py` ([JSON](cleanrl_comparison.json)):",
            "",
            comparison.strip(),
            "",
        ]
    out += [
        "## Time per rule",
        "",
        "Wall seconds per job from the run's benchmark files (jobs ran side by side, so the"
        " totals add up to more than the wall time).",
        "",
        "| rule | jobs | total | mean | longest |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in times:
        out.append(
            f"| {r['rule']} | {r['jobs']} | {r['total_s']:,.0f} s | {r['mean_s']:,.1f} s"
            f" | {r['max_s']:,.1f} s |"
        )
    return "\n".join(out) + "\n"


def build(
    results: str | Path,
    out: str | Path,
    command: str,
    repo: str | Path = ".",
    record: str | Path | None = None,
    now=None,
) -> Path:
    """Check every input, build the folder beside ``out``, swap it in; return ``out``. Then
    ``record`` (the rule's output), a JSON of the folder, its files, the commit and the time."""
    tree = ResultsTree(str(results).rstrip("/"))
    for p in required_inputs(tree):
        input_file(p)
    times, wall_s = benchmark_times(Path(tree.benchmarks))
    rliable = [n for n in RLIABLE_FIGURES if Path(tree.figure(n, "png")).is_file()]
    cmp_md, cmp_json = comparison_files(tree)
    has_cmp = cmp_md.is_file()
    if has_cmp:
        input_file(cmp_json)  # the table without its numbers: refused
    texts = {t: input_file(tree.table(t, "md")).read_text() for t in [*TABLES, "claims"]}
    built = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    commit_id = commit(Path(repo), ignore=out)
    readme = render_readme(
        tree.root, command, commit_id, machine(), times, wall_s, texts, rliable,
        cmp_md.read_text() if has_cmp else None, built,
    )  # fmt: skip

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        (stage / "figures").mkdir()
        (stage / "tables").mkdir()
        for name in [*FIGURES, *rliable]:
            shutil.copyfile(tree.figure(name, "png"), stage / "figures" / f"{name}.png")
        for name in [*TABLES, "claims"]:
            shutil.copyfile(tree.table(name, "md"), stage / "tables" / f"{name}.md")
        shutil.copyfile(tree.config_yaml, stage / "config.yaml")
        if has_cmp:
            shutil.copyfile(cmp_md, stage / "cleanrl_comparison.md")
            shutil.copyfile(cmp_json, stage / "cleanrl_comparison.json")
        (stage / "README.md").write_text(readme)
        os.chmod(stage, 0o755)  # mkdtemp's 0700 would be the published folder's mode
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, old / out.name)
        os.replace(stage, out)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    if record is not None:
        files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
        doc = {"out": str(out), "files": files, "commit": commit_id, "built": built}
        atomic_write_texts({Path(record): json.dumps(doc, indent=1) + "\n"})
    return out


@one_line_errors
def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", required=True, help="the results tree's root")
    ap.add_argument("--out", default="docs/evidence", help="the folder written (%(default)s)")
    ap.add_argument("--command", required=True, help="the command that made the results")
    ap.add_argument("--repo", default=".", help="the git checkout whose commit is reported")
    ap.add_argument("--record", help="also write this JSON record of what was published")
    a = ap.parse_args(argv)
    print(build(a.results, a.out, a.command, a.repo, a.record))


if __name__ == "__main__":
    main()
