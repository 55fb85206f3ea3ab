"""The run-folder lock, the refusal of a finished run's folder (and --force), and the cleanup of
temporary files on failure, SIGTERM and after a SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from a2d import cli
from a2d.checkpoint import atomic_write, atomic_write_text, sweep_temps, temp_beside
from a2d.runlock import LOCK_NAME, RunLockError, refuse_finished, run_lock

SRC = str(Path(__file__).resolve().parents[1] / "src")

HOLDER = textwrap.dedent(
    """
    import sys, time
    from a2d.runlock import run_lock
    with run_lock(sys.argv[1]):
        print("locked", flush=True)
        time.sleep(60)
    """
)


def _spawn(code: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE, text=True
    )


def test_second_process_on_a_locked_folder_stops_at_once_naming_folder_and_pid(tmp_path):
    run = tmp_path / "run"
    holder = _spawn(HOLDER, str(run))
    try:
        assert holder.stdout.readline().strip() == "locked"
        t0 = time.monotonic()
        other = subprocess.run(
            [sys.executable, "-c", HOLDER, str(run)],
            env={**os.environ, "PYTHONPATH": SRC},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert time.monotonic() - t0 < 10  # stopped at once, did not wait
        assert other.returncode != 0 and "locked" not in other.stdout
        assert f"{run} is in use by another a2d job (PID {holder.pid})" in other.stderr
    finally:
        holder.kill()
        holder.wait()
    # the kernel dropped the SIGKILLed holder's lock: the folder can be locked again
    with run_lock(run):
        assert (run / LOCK_NAME).read_text().strip() == str(os.getpid())
    assert not (run / LOCK_NAME).exists()  # a job that ends removes its lock file


def test_cli_train_on_a_locked_folder_is_one_line_and_touches_nothing(tmp_path, capsys):
    run = tmp_path / "run"
    holder = _spawn(HOLDER, str(run))
    try:
        assert holder.stdout.readline().strip() == "locked"
        rc = cli.main(["train", "--game", "Pong", "--arch", "vanilla", "--out", str(run),
                       "--device", "cpu", "--steps", "64", "--num-envs", "2"])  # fmt: skip
        err = capsys.readouterr().err
        assert rc == 2 and err.count("\n") == 1, err
        assert f"in use by another a2d job (PID {holder.pid})" in err
        assert sorted(p.name for p in run.iterdir()) == [LOCK_NAME]
    finally:
        holder.kill()
        holder.wait()


def test_lock_is_reentrant_in_one_process_and_a_symlink_lock_is_refused(tmp_path):
    run = tmp_path / "run"
    with run_lock(run), run_lock(run):
        assert (run / LOCK_NAME).exists()
    assert not (run / LOCK_NAME).exists()
    other = tmp_path / "other"
    other.mkdir()
    target = tmp_path / "target"
    target.write_text("keep")
    (other / LOCK_NAME).symlink_to(target)
    with pytest.raises(RunLockError, match="symbolic link"):
        with run_lock(other):
            pass
    assert target.read_text() == "keep"


def test_a_refused_run_leaves_no_folder_it_made(tmp_path):
    run = tmp_path / "new"
    with pytest.raises(ValueError):
        with run_lock(run):
            raise ValueError("a check failed")
    assert not run.exists()


def test_finished_run_refused_without_force_and_moved_aside_with_it(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "eval.json").write_text('{"mean": 1}')
    (run / "agent.pt").write_bytes(b"weights")
    with pytest.raises(RunLockError) as e:
        refuse_finished(run, force=False)
    assert str(run) in str(e.value) and "--force" in str(e.value)
    with run_lock(run) as lock:
        assert refuse_finished(run, force=True)
        aside = lock.move_aside()
        assert sorted(p.name for p in run.iterdir()) == [LOCK_NAME]  # a new, empty, locked one
    assert aside.parent == tmp_path and aside.name.startswith(".run.replaced-")
    assert (aside / "eval.json").read_text() == '{"mean": 1}'
    assert (aside / "agent.pt").read_bytes() == b"weights"


def test_cli_refuses_a_finished_run_before_any_work(tmp_path, capsys):
    for cmd in (
        ["train", "--game", "Pong", "--arch", "vanilla"],
        ["search", "--game", "Pong", "--method", "vanilla_dnas"],
    ):
        run = tmp_path / cmd[0]
        run.mkdir()
        (run / "eval.json").write_text("{}")
        rc = cli.main([*cmd, "--out", str(run), "--device", "cpu"])
        err = capsys.readouterr().err
        assert rc == 2 and err.count("\n") == 1, err
        assert f"{run} holds a finished run (eval.json); give --force" in err
        assert sorted(p.name for p in run.iterdir()) == ["eval.json"]


# ---- temporary files -------------------------------------------------------------------------


def test_failed_write_leaves_no_temp_and_keeps_the_old_file(tmp_path):
    out = tmp_path / "curve.csv"
    out.write_text("old")

    def write(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(out, write)
    assert out.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.csv"]


def test_sigterm_during_a_write_removes_the_temp(tmp_path):
    out = tmp_path / "video.mp4"
    code = textwrap.dedent(
        """
        import sys, time
        from a2d.checkpoint import atomic_write
        def write(tmp):
            tmp.write_bytes(b"x" * 1000)
            print(tmp, flush=True)
            time.sleep(60)
        atomic_write(sys.argv[1], write)
        """
    )
    proc = _spawn(code, str(out))
    tmp = Path(proc.stdout.readline().strip())
    assert tmp.exists() and tmp.name.startswith(".video.mp4.tmp-")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == []  # neither the temp nor a half video


def test_temps_of_dead_jobs_are_swept_and_those_of_live_ones_kept(tmp_path):
    out = tmp_path / "agent.pt"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        fd, mine = temp_beside(out)
        os.close(fd)
        host = Path(mine).name.split(".tmp-", 1)[1].rsplit("-", 2)[0]
        dead_tmp = tmp_path / f".agent.pt.tmp-{host}-{dead.pid}-abcd1234"
        live_tmp = tmp_path / f".agent.pt.tmp-{host}-{live.pid}-abcd1234"
        other_host = tmp_path / f".agent.pt.tmp-elsewhere-{dead.pid}-abcd1234"
        unrelated = tmp_path / ".agent.pt.notatemp"
        for p in (dead_tmp, live_tmp, other_host, unrelated):
            p.write_text("x")
        assert sweep_temps(tmp_path) == [dead_tmp]
        dead_tmp.write_text("x")
        atomic_write_text(out, "new")  # the next write of the same file sweeps it too
        assert not dead_tmp.exists()
        assert live_tmp.exists() and other_host.exists() and unrelated.exists()
        assert Path(mine).exists()  # this process's own temp
    finally:
        live.kill()
        live.wait()
    assert out.read_text() == "new"
