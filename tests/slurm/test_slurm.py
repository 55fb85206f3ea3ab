"""The smoke DAG through `snakemake --profile profiles/slurm` on a real one-node SLURM cluster.

Run with ``python -m pytest -q -m slurm tests/slurm`` as root (the script installs Debian's
slurm-wlm, slurmdbd, munge and mariadb-server when missing and starts the daemons itself).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slurm


@pytest.mark.timeout(2700)
def test_smoke_dag_through_slurm(repo, venv_env, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root: installs Debian packages and starts SLURM daemons")
    if shutil.which("apt-get") is None and shutil.which("slurmctld") is None:
        pytest.skip("needs Debian's packages (apt-get) or an installed slurm-wlm")
    work = tmp_path / "slurm"
    p = subprocess.run(
        ["bash", str(repo / "tests" / "slurm" / "run_slurm_test.sh")],
        env={**venv_env, "PYTHON": sys.executable, "A2D_SLURM_WORK": str(work),
             "A2D_SLURM_DAG_TIMEOUT": "1800"},
        capture_output=True, text=True, timeout=2600,
    )  # fmt: skip
    assert p.returncode == 0, (p.stdout + p.stderr)[-6000:]
    summary = json.loads((work / "summary.json").read_text())
    assert summary["submitted_jobs"] == summary["completed_jobs"] >= 20
    assert summary["sacct_jobs"] >= summary["submitted_jobs"]
    assert summary["gpu_jobs"] >= 10
    for rule in ("train", "train_budget", "train_kd", "search", "derive", "retrain",
                 "retrain_nokd", "random_policy"):  # fmt: skip
        assert summary["jobs_by_rule"][rule] >= 1
