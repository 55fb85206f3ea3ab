"""One GPU per job (a2d.gpus), tested on CPU by faking the device count."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from a2d import gpus


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Environment for child processes: 4 fake GPUs, a private lock directory."""
    e = dict(os.environ)
    e.pop("SLURM_JOB_ID", None)
    e.pop("CUDA_VISIBLE_DEVICES", None)
    e.pop("A2D_GPU_LOCK", None)
    e.pop("A2D_GPU_WAIT_S", None)
    e.update(A2D_FAKE_GPUS="4", A2D_GPU_LOCK_DIR=str(tmp_path / "locks"))
    return e


def test_acquire_gives_distinct_gpus_and_refuses_a_fifth(tmp_path):
    ids = ["0", "1", "2", "3"]
    leases = [gpus.acquire(ids, tmp_path, wait_s=0) for _ in ids]
    assert sorted(lease.device_id for lease in leases) == ids
    with pytest.raises(gpus.GpuError, match="all 4 GPUs are held"):
        gpus.acquire(ids, tmp_path, wait_s=0.2, poll_s=0.05)
    leases[2].release()
    again = gpus.acquire(ids, tmp_path, wait_s=0)
    assert again.device_id == leases[2].device_id
    for lease in [*leases, again]:
        lease.release()


def test_waits_for_a_gpu_to_free_up(tmp_path):
    held = gpus.acquire(["7"], tmp_path, wait_s=0)
    p = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from a2d import gpus; import sys; "
            f"l = gpus.acquire(['7'], {str(tmp_path)!r}, poll_s=0.05, log=print); "
            "print('got', l.device_id, flush=True)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)
    assert p.poll() is None  # still waiting
    held.release()
    out, _ = p.communicate(timeout=30)
    assert "waiting for one" in out and out.strip().endswith("got 7")


def test_a_killed_job_frees_its_gpu(env):
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, time; from a2d.gpus import claim_for_job; "
            "claim_for_job('auto', log=lambda s: None); "
            "print(os.environ['CUDA_VISIBLE_DEVICES'], flush=True); time.sleep(60)",
        ],
        env={**env, "A2D_FAKE_GPUS": "1"},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "0"
        with pytest.raises(gpus.GpuError):
            gpus.acquire(["0"], env["A2D_GPU_LOCK_DIR"], wait_s=0.2, poll_s=0.05)
    finally:
        child.send_signal(signal.SIGKILL)  # a crash: no cleanup code runs
        child.wait(timeout=10)
    lease = gpus.acquire(["0"], env["A2D_GPU_LOCK_DIR"], wait_s=0)
    lease.release()


def _claim(env, device="auto") -> str:
    code = (
        "import os; from a2d.gpus import claim_for_job; "
        f"l = claim_for_job({device!r}, log=lambda s: None); "
        "print(None if l is None else l.device_id, os.environ.get('CUDA_VISIBLE_DEVICES'))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_claim_for_job_narrows_cuda_visible_devices(env):
    assert _claim(env) in {f"{i} {i}" for i in range(4)}
    assert _claim(env, "cpu") == "None None"  # a CPU run claims nothing
    assert _claim({**env, "A2D_GPU_LOCK": "0"}) == "None None"
    slurm = {k: v for k, v in env.items() if k != "A2D_FAKE_GPUS"}
    slurm.update(SLURM_JOB_ID="42", CUDA_VISIBLE_DEVICES="3")
    assert _claim(slurm) == "None 3"  # SLURM chose the GPU already
    # GPUs named by CUDA_VISIBLE_DEVICES: the claim picks one of them, by its own name
    named = {k: v for k, v in env.items() if k != "A2D_FAKE_GPUS"}
    named["CUDA_VISIBLE_DEVICES"] = "2,5"
    assert _claim(named) in {"2 2", "5 5"}


@pytest.mark.parametrize("cmd", ["train", "search"])
def test_entry_points_claim_before_cuda(env, cmd, venv_bin):
    """`a2d train/search` claim a GPU first (then, on this CPU box, refuse device: cuda)."""
    args = {
        "train": ["train", "--game", "Breakout", "--arch", "vanilla"],
        "search": ["search", "--game", "Breakout", "--method", "vanilla_dnas"],
    }[cmd]
    p = subprocess.run(
        [str(venv_bin / "a2d"), *args, "--out", "/nonexistent/x", "--device", "cuda"],
        env={**env, "A2D_FAKE_GPUS": "2"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 2
    assert "no CUDA GPU is available" in p.stderr
    assert p.stdout.startswith("GPU ") and "of 2), lock " in p.stdout


def test_snakemake_runs_four_gpu_jobs_at_once_each_on_its_own_gpu(env, tmp_path, venv_bin):
    """`snakemake all --cores 32 --resources gpu=4`: 4 jobs at a time, never two on one GPU."""
    (tmp_path / "Snakefile").write_text(
        textwrap.dedent(
            f"""
            rule all:
                input: expand("out/{{i}}.json", i=range(8))

            rule job:
                output: "out/{{i}}.json"
                resources: gpu=1
                shell:
                    "{sys.executable} -c \\"import json, os, sys, time; "
                    "from a2d.gpus import claim_for_job; t0 = time.time(); "
                    "claim_for_job('auto', log=lambda s: None); time.sleep(3); "
                    "json.dump(dict(gpu=os.environ['CUDA_VISIBLE_DEVICES'], start=t0, "
                    "end=time.time()), open(sys.argv[1], 'w'))\\" {{output}}"
            """
        )
    )
    p = subprocess.run(
        [str(venv_bin / "snakemake"), "all", "--cores", "32", "--resources", "gpu=4"],
        cwd=tmp_path,
        env={**env, "A2D_GPU_WAIT_S": "0"},  # a job that finds no free GPU fails
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    jobs = [json.loads((tmp_path / "out" / f"{i}.json").read_text()) for i in range(8)]
    assert {j["gpu"] for j in jobs} == {"0", "1", "2", "3"}
    # at every job start, the jobs then running are on pairwise different GPUs
    most = 0
    for j in jobs:
        running = [k for k in jobs if k["start"] <= j["start"] < k["end"]]
        assert len({k["gpu"] for k in running}) == len(running) <= 4
        most = max(most, len(running))
    assert most == 4
