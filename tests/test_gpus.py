"""One GPU per job (a2d.gpus), tested on CPU by faking the device count."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import socket
import stat
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
    t0 = time.monotonic()
    with pytest.raises(gpus.GpuError) as e:
        gpus.acquire(ids, tmp_path, wait_s=0.3, poll_s=0.05)
    assert 0.3 <= time.monotonic() - t0 < 3  # bounded: waited its limit, then gave up
    msg = str(e.value)
    assert "\n" not in msg and "no free GPU after waiting 0.3s" in msg
    assert "A2D_GPU_WAIT_S=0.3" in msg
    pid = os.getpid()  # the holder of every lock here; each busy GPU is named with it
    assert "all 4 GPUs busy: " in msg and all(f"{i} (pid {pid})" in msg for i in ids)
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


# --- the lock directory and the lock files cannot be turned against their user ---------------


def _victim(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious data\n")
    victim.chmod(0o600)
    return victim


@pytest.mark.parametrize("dangling", [False, True])
def test_a_symlinked_lock_file_is_refused_and_its_target_untouched(tmp_path, dangling):
    locks = tmp_path / "locks"
    locks.mkdir(mode=0o700)
    victim = tmp_path / "victim.txt" if dangling else _victim(tmp_path)
    (locks / gpus._lock_name("0")).symlink_to(victim)
    before = None if dangling else victim.read_bytes()
    with pytest.raises(gpus.GpuError, match="is a symbolic link, refused") as e:
        gpus.acquire(["0"], locks, wait_s=0)
    assert gpus._lock_name("0") in str(e.value) and "\n" not in str(e.value)
    if dangling:
        assert not victim.exists()  # not created through the link either
    else:
        assert victim.read_bytes() == before


def test_a_hard_linked_lock_file_is_refused_and_left_untouched(tmp_path):
    locks = tmp_path / "locks"
    locks.mkdir(mode=0o700)
    victim = _victim(tmp_path)
    os.link(victim, locks / gpus._lock_name("0"))
    with pytest.raises(gpus.GpuError, match="has 2 hard links"):
        gpus.acquire(["0"], locks, wait_s=0)
    assert victim.read_bytes() == b"precious data\n"


def test_a_lock_file_that_is_not_a_regular_file_is_refused(tmp_path):
    locks = tmp_path / "locks"
    locks.mkdir(mode=0o700)
    os.mkfifo(locks / gpus._lock_name("0"))
    with pytest.raises(gpus.GpuError, match="is not a regular file"):
        gpus.acquire(["0"], locks, wait_s=0)


def test_a_foreign_lock_file_is_refused_and_left_untouched(tmp_path, monkeypatch):
    locks = tmp_path / "locks"
    locks.mkdir(mode=0o700)
    lock = locks / gpus._lock_name("0")
    lock.write_bytes(b"someone else's\n")
    real_fstat = os.fstat
    ino = lock.stat().st_ino

    def fstat(fd):  # the lock file looks as if another user owned it
        st = real_fstat(fd)
        if st.st_ino == ino:
            fields = list(st)
            fields[stat.ST_UID] = st.st_uid + 1
            return os.stat_result(fields)
        return st

    monkeypatch.setattr(os, "fstat", fstat)
    with pytest.raises(gpus.GpuError, match=rf"{lock.name} is owned by uid \d+, not by you"):
        gpus.acquire(["0"], locks, wait_s=0)
    assert lock.read_bytes() == b"someone else's\n"


def test_the_lock_holder_pid_is_written_without_leftovers(tmp_path):
    locks = tmp_path / "locks"
    locks.mkdir(mode=0o700)
    lock = locks / gpus._lock_name("0")
    lock.write_bytes(b"12345678901234567890\n")  # an older, longer note
    lease = gpus.acquire(["0"], locks, wait_s=0)
    try:
        assert lock.read_bytes() == f"{os.getpid()}\n".encode()
    finally:
        lease.release()


def test_the_created_lock_dir_is_private_whatever_the_umask(tmp_path):
    locks = tmp_path / "new" / "locks"
    old = os.umask(0)
    try:
        lease = gpus.acquire(["0"], locks, wait_s=0)
    finally:
        os.umask(old)
    lease.release()
    assert stat.S_IMODE(locks.stat().st_mode) == 0o700
    assert stat.S_IMODE(lease.lock_path.stat().st_mode) & 0o077 == 0


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o1777])
def test_a_group_or_world_writable_lock_dir_is_refused(tmp_path, mode):
    locks = tmp_path / "locks"
    locks.mkdir()
    os.chmod(locks, mode)
    with pytest.raises(gpus.GpuError, match=r"is group/world-writable .*chmod 700") as e:
        gpus.acquire(["0"], locks, wait_s=0)
    assert "A2D_GPU_LOCK_DIR" in str(e.value)
    assert list(locks.iterdir()) == []  # no lock file made in it


def test_a_lock_dir_owned_by_someone_else_is_refused(tmp_path, monkeypatch):
    locks = tmp_path / "locks"
    locks.mkdir(mode=0o700)
    me = os.geteuid()
    monkeypatch.setattr(os, "geteuid", lambda: me + 1)  # the directory is now someone else's
    with pytest.raises(gpus.GpuError, match=rf"is owned by uid {me}, not by you \(uid {me + 1}\)"):
        gpus.acquire(["0"], locks, wait_s=0)
    assert list(locks.iterdir()) == []


def test_a_symlinked_or_non_directory_lock_dir_is_refused(tmp_path):
    real = tmp_path / "elsewhere"
    real.mkdir(mode=0o700)
    link = tmp_path / "locks"
    link.symlink_to(real)
    with pytest.raises(gpus.GpuError, match="lock directory .* is a symbolic link, refused"):
        gpus.acquire(["0"], link, wait_s=0)
    assert list(real.iterdir()) == []
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(gpus.GpuError, match="exists but is not a directory"):
        gpus.acquire(["0"], afile, wait_s=0)


def test_claim_for_job_checks_the_lock_dir_too(tmp_path, monkeypatch):
    """claim_for_job goes through the same checks (A2D_GPU_LOCK_DIR a world-writable dir)."""
    locks = tmp_path / "locks"
    locks.mkdir()
    os.chmod(locks, 0o777)
    for k in ("SLURM_JOB_ID", "A2D_GPU_LOCK", "A2D_GPU_WAIT_S"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("A2D_GPU_LOCK_DIR", str(locks))
    monkeypatch.setenv("A2D_FAKE_GPUS", "2")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # restored after claim_for_job sets it
    with pytest.raises(gpus.GpuError, match="group/world-writable"):
        gpus.claim_for_job("auto", log=lambda s: None)
    assert gpus._HELD is None


def test_enolck_is_a_named_error(tmp_path, monkeypatch):
    def flock(fd, op):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", flock)
    with pytest.raises(gpus.GpuError) as e:
        gpus.acquire(["0"], tmp_path, wait_s=0)
    msg = str(e.value)
    assert "does not support flock (ENOLCK" in msg and "\n" not in msg
    assert "A2D_GPU_LOCK_DIR" in msg and "A2D_GPU_LOCK=0" in msg


def test_lock_names_carry_the_host_so_machines_sharing_a_dir_do_not_collide(tmp_path, monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.setattr(socket, "gethostname", lambda: "node-a")
    a = gpus.acquire(["0"], tmp_path, wait_s=0)
    monkeypatch.setattr(socket, "gethostname", lambda: "node/b")
    b = gpus.acquire(["0"], tmp_path, wait_s=0)  # GPU 0 of another machine: free
    assert (a.lock_path.name, b.lock_path.name) == ("gpu-node-a-0.lock", "gpu-node_b-0.lock")
    with pytest.raises(gpus.GpuError, match="busy: 0 "):
        gpus.acquire(["0"], tmp_path, wait_s=0)  # node/b's GPU 0 is taken
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    assert gpus._lock_name("GPU-1a:2") == "gpu-node_b-slurm77-GPU-1a_2.lock"
    a.release()
    b.release()


def test_a_bad_wait_limit_is_refused(monkeypatch):
    monkeypatch.setenv("A2D_GPU_WAIT_S", "-1")
    with pytest.raises(gpus.GpuError, match="A2D_GPU_WAIT_S must be seconds"):
        gpus.claim_for_job("auto", log=lambda s: None)


# --- SLURM: an allocation's GPUs are shared out among its jobs ---------------------------------


@pytest.mark.parametrize(
    "gpus_env",
    [
        {"CUDA_VISIBLE_DEVICES": "4,5,6,7"},
        {"A2D_FAKE_GPUS": "4", "CUDA_VISIBLE_DEVICES": "0,1,2,3"},
    ],
    ids=["visible-devices", "fake-gpus"],
)
def test_slurm_allocation_with_several_gpus_spreads_its_jobs(env, gpus_env, monkeypatch):
    slurm = {k: v for k, v in env.items() if k != "A2D_FAKE_GPUS"}
    slurm.update(SLURM_JOB_ID="4242", **gpus_env)
    want = set(gpus_env["CUDA_VISIBLE_DEVICES"].split(","))
    code = (
        "import os, sys; from a2d.gpus import claim_for_job; "
        "claim_for_job('auto', log=lambda s: None); "
        "print(os.environ['CUDA_VISIBLE_DEVICES'], flush=True); sys.stdin.read()"
    )
    children = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            env=slurm,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    try:
        got = [c.stdout.readline().strip() for c in children]
        assert sorted(got) == sorted(want)  # four jobs, four different GPUs of the allocation
        # a fifth job of the same allocation waits, within its bound, then says who holds what
        for k in ("A2D_FAKE_GPUS", "A2D_GPU_LOCK"):
            monkeypatch.delenv(k, raising=False)
        for k in ("SLURM_JOB_ID", "A2D_GPU_LOCK_DIR", *gpus_env):
            monkeypatch.setenv(k, slurm[k])
        monkeypatch.setenv("A2D_GPU_WAIT_S", "0.5")
        t0 = time.monotonic()
        with pytest.raises(gpus.GpuError, match="no free GPU after waiting 0.5s") as e:
            gpus.claim_for_job("auto", log=lambda s: None)
        assert 0.5 <= time.monotonic() - t0 < 5
        for c, dev in zip(children, got):
            assert f"{dev} (pid {c.pid})" in str(e.value)
        # one job ends: the waiting one gets its GPU
        children[1].stdin.close()
        children[1].wait(timeout=10)
        monkeypatch.setenv("A2D_GPU_WAIT_S", "10")
        lease = gpus.claim_for_job("auto", log=lambda s: None)
        try:
            assert lease.device_id == got[1] == os.environ["CUDA_VISIBLE_DEVICES"]
            assert f"-slurm4242-{got[1]}.lock" in lease.lock_path.name
        finally:
            lease.release()
    finally:
        for c in children:
            c.kill()
            c.wait(timeout=10)


def test_slurm_with_one_gpu_claims_nothing(env):
    one = {k: v for k, v in env.items() if k != "A2D_FAKE_GPUS"}
    one.update(SLURM_JOB_ID="42", CUDA_VISIBLE_DEVICES="3")
    assert _claim(one) == "None 3"
    assert _claim({**env, "SLURM_JOB_ID": "42", "A2D_FAKE_GPUS": "1"}) == "None None"
    assert not os.path.exists(env["A2D_GPU_LOCK_DIR"])  # no lock taken, none made


# --- several jobs per GPU (A2D_JOBS_PER_GPU) ----------------------------------------------------


def _holder_child(env):
    code = (
        "import os, sys; from a2d.gpus import claim_for_job; "
        "l = claim_for_job('auto', log=lambda s: None); "
        "print(os.environ['CUDA_VISIBLE_DEVICES'], l.lock_path.name, flush=True); sys.stdin.read()"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_two_jobs_per_gpu_spread_first_then_share_then_wait(env, monkeypatch):
    two = {**env, "A2D_FAKE_GPUS": "2", "A2D_JOBS_PER_GPU": "2", "A2D_GPU_WAIT_S": "0"}
    children = []
    try:
        got = []
        for _ in range(2):  # one after the other: the second goes to the other, idle GPU
            children.append(_holder_child(two))
            got.append(children[-1].stdout.readline().split())
        assert got[0][0] != got[1][0]
        children += [_holder_child(two) for _ in range(2)]  # these two start together
        got += [c.stdout.readline().split() for c in children[2:]]
        assert sorted(dev for dev, _ in got) == ["0", "0", "1", "1"]
        assert len({name for _, name in got}) == 4  # four different slots
        host = gpus._safe(socket.gethostname())
        assert {name for _, name in got} == {
            f"gpu-{host}-{i}{s}.lock" for i in "01" for s in ("", "-s1")
        }
        # a fifth job waits, within its bound, then names the holders of both slots of each GPU
        for k in ("SLURM_JOB_ID", "A2D_GPU_LOCK", "CUDA_VISIBLE_DEVICES"):
            monkeypatch.delenv(k, raising=False)
        for k in ("A2D_FAKE_GPUS", "A2D_JOBS_PER_GPU", "A2D_GPU_LOCK_DIR"):
            monkeypatch.setenv(k, two[k])
        monkeypatch.setenv("A2D_GPU_WAIT_S", "0.5")
        t0 = time.monotonic()
        with pytest.raises(gpus.GpuError, match="no free GPU after waiting 0.5s") as e:
            gpus.claim_for_job("auto", log=lambda s: None)
        assert 0.5 <= time.monotonic() - t0 < 5
        msg = str(e.value)
        assert "with 2 jobs per GPU (A2D_JOBS_PER_GPU)" in msg and "\n" not in msg
        assert all(f"pid {c.pid}" in msg for c in children)
        # one job ends: the waiting one gets its GPU (a slot of it)
        children[2].stdin.close()
        children[2].wait(timeout=10)
        monkeypatch.setenv("A2D_GPU_WAIT_S", "10")
        lease = gpus.claim_for_job("auto", log=lambda s: None)
        try:
            assert (lease.device_id, lease.lock_path.name) == tuple(got[2])
        finally:
            lease.release()
    finally:
        for c in children:
            c.kill()
            c.wait(timeout=10)


def test_a_job_goes_to_the_gpu_with_the_most_free_slots(tmp_path):
    """Not the first free slot met: GPU a has its slot 0 free, GPU b two slots free -> b."""
    ids = ["0", "1"]
    leases = [gpus.acquire(ids, tmp_path, wait_s=0, slots=3) for _ in range(6)]
    assert sorted(lease.device_id for lease in leases) == ["0", "0", "0", "1", "1", "1"]
    by = {(lease.device_id, lease.slot): lease for lease in leases}
    assert set(by) == {(i, s) for i in ids for s in range(3)}
    for a, b in (("0", "1"), ("1", "0")):  # whichever GPU the scan meets first
        by[(a, 0)].release()
        by[(b, 1)].release()
        by[(b, 2)].release()
        first = gpus.acquire(ids, tmp_path, wait_s=0, slots=3)
        assert (first.device_id, first.slot) == (b, 1)
        # now one free slot each: either; then none
        second = gpus.acquire(ids, tmp_path, wait_s=0, slots=3)
        third = gpus.acquire(ids, tmp_path, wait_s=0, slots=3)
        assert {(second.device_id, second.slot), (third.device_id, third.slot)} == {(a, 0), (b, 2)}
        with pytest.raises(gpus.GpuError, match="all 2 GPUs busy"):
            gpus.acquire(ids, tmp_path, wait_s=0, slots=3)
        by.update({(x.device_id, x.slot): x for x in (first, second, third)})
    for lease in by.values():
        lease.release()


def test_one_job_per_gpu_keeps_the_old_lock_files(env):
    one = {**env, "A2D_FAKE_GPUS": "1", "A2D_JOBS_PER_GPU": "1", "A2D_GPU_WAIT_S": "0"}
    child = _holder_child(one)
    try:
        dev, name = child.stdout.readline().split()
        assert (dev, name) == ("0", gpus._lock_name("0")) and "-s" not in name[-8:]
        p = subprocess.run(
            [sys.executable, "-c", "from a2d.gpus import claim_for_job; claim_for_job('auto')"],
            env=one,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert p.returncode != 0 and "all 1 GPUs busy: 0 (pid" in p.stderr
        assert "jobs per GPU (A2D_JOBS_PER_GPU)" not in p.stderr
    finally:
        child.kill()
        child.wait(timeout=10)


@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5", " 2x"])
def test_a_bad_jobs_per_gpu_is_refused_by_name(monkeypatch, tmp_path, bad):
    for k in ("SLURM_JOB_ID", "A2D_GPU_LOCK", "A2D_GPU_WAIT_S"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("A2D_FAKE_GPUS", "2")
    monkeypatch.setenv("A2D_GPU_LOCK_DIR", str(tmp_path / "locks"))
    monkeypatch.setenv("A2D_JOBS_PER_GPU", bad)
    with pytest.raises(gpus.GpuError, match="A2D_JOBS_PER_GPU must be an integer >= 1") as e:
        gpus.claim_for_job("auto", log=lambda s: None)
    assert repr(bad) in str(e.value)
    assert gpus._HELD is None and not (tmp_path / "locks").exists()  # refused before locking
