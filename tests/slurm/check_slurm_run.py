"""Checks of tests/slurm/run_slurm_test.sh: the smoke DAG's outputs and its SLURM accounting.

Every job Snakemake submitted (the plugin logs "Job N has been submitted with SLURM jobid J
(log: .../rule_<rule>/...)") must appear in ``sacct`` as COMPLETED with exit code 0:0; jobs of
the GPU rules must have been allocated ``gres/gpu=1``; the local rules (figures, tables, teacher)
must not have been submitted. Writes a summary JSON and prints it.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path

import yaml

from a2d.config import deep_merge

GPU_RULES = {"train", "train_budget", "train_kd", "search", "retrain", "retrain_nokd"}


def local_rules(repo: Path) -> set[str]:
    """The rules the workflow marks `localrule: True` (and `all`), read from its rule files."""
    rules = {"all"}
    for f in sorted((repo / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"^rule ", f.read_text(), flags=re.M)[1:]:
            name, _, body = block.partition(":")
            if re.search(r"^\s+localrule:\s*True", body, flags=re.M):
                rules.add(name.strip())
    return rules


SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (.+?)\)")


def fail(msg: str) -> None:
    print(f"[slurm-test] FAILED: {msg}", file=sys.stderr)
    sys.exit(1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", type=Path, required=True)
    ap.add_argument("--results", type=Path, required=True)
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--sacct", type=Path, required=True)
    ap.add_argument("--snakemake-log", type=Path, required=True)
    ap.add_argument("--dag-seconds", type=float, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--overlay",
        type=Path,
        action="append",
        default=[],
        help="a config file the DAG ran with after presets/smoke.yaml (repeatable)",
    )
    a = ap.parse_args()

    cfg = deep_merge(
        yaml.safe_load((a.repo / "config.yaml").read_text()),
        yaml.safe_load((a.repo / "presets" / "smoke.yaml").read_text()),
    )
    for path in a.overlay:
        cfg = deep_merge(cfg, yaml.safe_load(path.read_text()))

    # ---- outputs of the DAG
    res = a.results
    for fig in ("fig1", "fig2"):
        if (res / "figures" / f"{fig}.pdf").read_bytes()[:5] != b"%PDF-":
            fail(f"{fig}.pdf is not a PDF")
    for t in ("table2", "table3", "table4"):
        rows = list(csv.reader(open(res / "tables" / f"{t}.csv")))
        if len(rows) < 2:
            fail(f"{t}.csv has no rows")
    total = cfg["ppo"]["total_steps"]
    # the smoke preset's equal-budget runs ({arch}_eq, {arch}_eq_kd): teacher + search + retrain
    # (its step counts are whole PPO batches)
    equal = 2 * total + cfg["search"]["steps"]
    runs = sorted((res / "runs").glob("*/*/seed*/eval.json"))
    if not runs:
        fail("no run finished")
    for p in runs:
        ev = json.loads(p.read_text())
        run = p.parent.parent.name
        steps = equal if run.endswith(("_eq", "_eq_kd")) else total
        if ev["steps"] != steps or ev["episodes"] != cfg["eval"]["episodes"]:
            fail(f"{p}: steps {ev['steps']} episodes {ev['episodes']}")
        if not (p.parent / "agent.pt").stat().st_size:
            fail(f"{p.parent}/agent.pt is empty")
    searches = sorted((res / "search").glob("*/*/seed*/arch.json"))
    if len(searches) != len(cfg["search"]["methods"]) * len(cfg["seeds"]) * len(
        cfg["figure_games"]
    ):
        fail(f"{len(searches)} searches finished")

    # ---- what Snakemake submitted
    submitted: dict[str, str] = {}  # SLURM job id -> rule
    for m in SUBMITTED.finditer(a.snakemake_log.read_text()):
        rule = next(
            (p[len("rule_") :] for p in Path(m.group(3)).parts if p.startswith("rule_")), "?"
        )
        submitted[m.group(2)] = rule
    if not submitted:
        fail("the snakemake log names no submitted SLURM job")
    local = local_rules(a.repo)
    if set(submitted.values()) & local:
        fail(f"local rules were submitted: {set(submitted.values()) & local}")
    for rule in ("train", "train_budget", "train_kd", "search", "derive", "retrain",
                 "retrain_nokd", "random_policy"):  # fmt: skip
        if rule not in submitted.values():
            fail(f"no {rule} job went through SLURM")

    # ---- what SLURM accounted (sacct -X -P: JobID|JobName|State|ExitCode|AllocTRES|Elapsed)
    acct = {}
    for line in a.sacct.read_text().splitlines():
        if line.strip():
            jid, name, state, exit_code, tres, elapsed = line.split("|")
            acct[jid] = {"state": state, "exit": exit_code, "tres": tres, "elapsed": elapsed}
    for jid, rule in submitted.items():
        if jid not in acct:
            fail(f"SLURM job {jid} ({rule}) is not in sacct")
        j = acct[jid]
        if j["state"] != "COMPLETED" or j["exit"] != "0:0":
            fail(f"SLURM job {jid} ({rule}): {j['state']} exit {j['exit']}")
        has_gpu = "gres/gpu=1" in j["tres"]
        if has_gpu != (rule in GPU_RULES):
            fail(f"SLURM job {jid} ({rule}) AllocTRES {j['tres']!r}")
    by_rule: dict[str, int] = {}
    for rule in submitted.values():
        by_rule[rule] = by_rule.get(rule, 0) + 1
    summary = {
        "dag_wall_s": a.dag_seconds,
        "sacct_jobs": len(acct),
        "submitted_jobs": len(submitted),
        "completed_jobs": sum(acct[j]["state"] == "COMPLETED" for j in submitted),
        "gpu_jobs": sum(r in GPU_RULES for r in submitted.values()),
        "jobs_by_rule": dict(sorted(by_rule.items())),
        "runs": len(runs),
        "searches": len(searches),
        "local_rules": sorted(local),
    }
    a.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
