"""a2d.results.evidence_docs: the published folder built from a fixture results tree, its times
read from benchmark files with known modification times, and the refusal when an input is
missing (nothing written)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from a2d.paths import ResultsTree
from a2d.results import evidence_docs as ed

T0 = 1_800_000_000  # a fixed epoch second for the benchmark files' modification times
#: (benchmark path under benchmarks/, job seconds, end time after T0)
BENCH = [
    ("train/RoadRunner/vanilla/seed1.tsv", 250.0, 260.0),
    ("train/RoadRunner/vanilla/seed2.tsv", 270.0, 280.0),
    ("search/RoadRunner/a2d_one_level/seed1.tsv", 100.0, 400.0),
    ("figures/fig1.tsv", 2.0, 500.0),
    ("tables/table1.tsv", 1.5, 600.0),
    ("config_used.tsv", 0.5, 30.0),
]
HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def write_tree(root, rliable=True, comparison=False):
    t = ResultsTree(root)
    for name in [*ed.FIGURES, *(ed.RLIABLE_FIGURES if rliable else [])]:
        for ext in ("png", "pdf"):
            p = root / "figures" / f"{name}.{ext}"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(f"{name}.{ext} bytes".encode())
    for name in [*ed.TABLES, "claims"]:
        p = root / "tables" / f"{name}.md"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"| {name} | row |\n| --- | --- |\n| {name} value | 1 |\n")
    (root / "tables" / "claims.md").write_text(
        "| claim | verdict |\n| --- | --- |\n| (a) | inconclusive |\n"
    )
    (root / "config.yaml").write_text("results: fixture\n")
    for rel, s, end in BENCH:
        p = root / "benchmarks" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(HEADER + f"{s}\t0:00:00\t1\t1\t1\t1\t0\t0\t1\t1\n")
        os.utime(p, (T0 + end, T0 + end))
    if comparison:
        os.makedirs(t.cleanrl, exist_ok=True)
        (root / "cleanrl" / "comparison.md").write_text(
            "| game | verdict |\n| RoadRunner | inside |\n"
        )
        (root / "cleanrl" / "comparison.json").write_text('{"games": {}}\n')
    # big files of the tree that must never be published
    run = root / "runs" / "RoadRunner" / "vanilla" / "seed1"
    run.mkdir(parents=True)
    (run / "agent.pt").write_bytes(b"weights")
    return t


def build(tmp_path, root, out, **kw):
    return ed.build(
        root, out, "snakemake --cores 2 --configfile presets/evidence.yaml", tmp_path, **kw
    )


def test_builds_the_folder_from_a_results_tree(tmp_path):
    root, out = tmp_path / "res", tmp_path / "docs" / "evidence"
    write_tree(root, rliable=True, comparison=True)
    record = root / "evidence.json"
    build(tmp_path, root, out, record=record)
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    pngs = [f"figures/{n}.png" for n in ["aggregate", "fig1", "fig2", "fig3", "poi", "profile"]]
    assert files == sorted(
        ["README.md", "config.yaml", "cleanrl_comparison.json", "cleanrl_comparison.md"]
        + pngs + ["figures/sample_efficiency.png"]
        + [f"tables/{t}.md" for t in ["aggregate", "claims", "table1", "table2", "table3", "table4"]]
    )  # fmt: skip
    assert (out / "figures" / "fig2.png").read_bytes() == b"fig2.png bytes"
    readme = (out / "README.md").read_text()
    assert "`snakemake --cores 2 --configfile presets/evidence.yaml`" in readme
    assert "**commit**: `unknown`" in readme  # tmp_path is not a git checkout
    assert "| (a) | inconclusive |" in readme and "| table3 value | 1 |" in readme
    assert "![fig1](figures/fig1.png)" in readme and "![poi](figures/poi.png)" in readme
    assert "| RoadRunner | inside |" in readme
    # wall time: first start (train seed 1: 260 - 250 = 10 s) to last end (table1, 600 s): 590 s
    assert "**wall time**: 0:09:50 (590 s)" in readme
    # per rule, by total: train 2 jobs 520 s (mean 260, longest 270), search, fig1, table1
    assert "| train | 2 | 520 s | 260.0 s | 270.0 s |" in readme
    assert "| search | 1 | 100 s | 100.0 s | 100.0 s |" in readme
    assert "| fig1 | 1 | 2 s | 2.0 s | 2.0 s |" in readme
    assert "| config_used | 1 | 0 s | 0.5 s | 0.5 s |" in readme
    rec = json.loads(record.read_text())
    assert rec["out"] == str(out) and "README.md" in rec["files"] and rec["commit"] == "unknown"
    assert [p.name for p in out.parent.iterdir()] == ["evidence"]  # no staging folder left


def test_rliable_and_comparison_only_when_present(tmp_path):
    root, out = tmp_path / "res", tmp_path / "ev"
    write_tree(root, rliable=False, comparison=False)
    build(tmp_path, root, out)
    readme = (out / "README.md").read_text()
    assert "(rliable)" not in readme and "poi.png" not in readme and "CleanRL" not in readme
    assert (
        not (out / "figures" / "poi.png").exists() and not (out / "cleanrl_comparison.md").exists()
    )


def test_commit_of_a_git_checkout(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "f").write_text("x")
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    for cmd in (["git", "add", "f"], ["git", "commit", "-qm", "x"]):
        subprocess.run(cmd, cwd=tmp_path, check=True, env=env)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True
    ).stdout.strip()
    assert len(head) == 40 and ed.commit(tmp_path) == head
    (tmp_path / "f").write_text("changed")
    assert ed.commit(tmp_path) == head + " + local changes"
    # a rebuild rewrites the published folder: its own changes do not make the tree dirty
    (tmp_path / "f").write_text("x")
    (tmp_path / "docs" / "evidence").mkdir(parents=True)
    (tmp_path / "docs" / "evidence" / "README.md").write_text("old page")
    for cmd in (["git", "add", "docs"], ["git", "commit", "-qm", "page"]):
        subprocess.run(cmd, cwd=tmp_path, check=True, env=env)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True
    ).stdout.strip()
    (tmp_path / "docs" / "evidence" / "README.md").write_text("new page")
    assert ed.commit(tmp_path, ignore=tmp_path / "docs" / "evidence") == head
    assert ed.commit(tmp_path) == head + " + local changes"
    (tmp_path / "f").write_text("changed")
    assert ed.commit(tmp_path, ignore=tmp_path / "docs" / "evidence") == head + " + local changes"
    # a folder outside the checkout excludes nothing
    assert ed.commit(tmp_path, ignore=tmp_path.parent) == head + " + local changes"


@pytest.mark.parametrize(
    "missing",
    [
        "tables/table2.md",
        "figures/fig3.png",
        "tables/claims.md",
        "config.yaml",
        "cleanrl/comparison.json",
    ],
)
def test_refuses_a_missing_input_and_writes_nothing(tmp_path, missing):
    root, out = tmp_path / "res", tmp_path / "docs" / "evidence"
    write_tree(root, comparison=True)
    out.mkdir(parents=True)
    (out / "README.md").write_text("the previous evidence\n")
    (root / missing).unlink()
    p = subprocess.run(
        [sys.executable, "-m", "a2d.results.evidence_docs", "--results", str(root), "--out", str(out),
         "--command", "c", "--record", str(root / "evidence.json")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert p.returncode == 1
    assert p.stderr.strip() == f"missing input file: {root / missing}"
    assert [f.name for f in out.iterdir()] == ["README.md"]
    assert (out / "README.md").read_text() == "the previous evidence\n"
    assert sorted(f.name for f in out.parent.iterdir()) == ["evidence"]
    assert not (root / "evidence.json").exists()


def test_refuses_a_tree_without_benchmark_files(tmp_path):
    root, out = tmp_path / "res", tmp_path / "ev"
    write_tree(root)
    for rel, _, _ in BENCH:
        (root / "benchmarks" / rel).unlink()
    with pytest.raises(ed.ResultsError, match="benchmark files"):
        build(tmp_path, root, out)
    assert not out.exists() and sorted(f.name for f in tmp_path.iterdir()) == ["res"]


def test_a_rebuild_replaces_the_old_folder(tmp_path):
    root, out = tmp_path / "res", tmp_path / "ev"
    write_tree(root)
    out.mkdir()
    (out / "stale.md").write_text("from an older run")
    build(tmp_path, root, out)
    assert not (out / "stale.md").exists() and (out / "README.md").is_file()
    assert oct(out.stat().st_mode & 0o777) == "0o755"
