"""One GPU per job on a multi-GPU box, or a few jobs per GPU (``A2D_JOBS_PER_GPU``).

``snakemake --cores 32 --resources gpu=4`` lets four GPU jobs run at once but gives them no device
ids. Each ``a2d train`` / ``a2d search`` therefore claims a GPU itself when it starts: it takes an
exclusive ``flock`` on one of the lock files ("slots") of a GPU, ``A2D_JOBS_PER_GPU`` of them per
GPU (default 1), and sets ``CUDA_VISIBLE_DEVICES`` to that GPU before CUDA starts, so ``cuda`` in
that process means that GPU. It takes a free slot of the GPU with the most free slots, so jobs
spread over the GPUs before they stack up on one. The kernel drops the lock when the process exits,
crash or kill included, so a lock never outlives its job. When every slot is taken the job waits
for one (bounded by ``A2D_GPU_WAIT_S``); the timeout error says how long it waited and which GPUs
were busy (with the PIDs holding them). The choice is made under a short directory-wide lock
(``gpu-<host>.scan``), so simultaneous starts do not see each other's probes as jobs.

Lock files are named ``gpu-<host>-<id>.lock`` (slot 0) and ``gpu-<host>-<id>-s<slot>.lock``
(slots 1, 2, ...): the host keeps machines apart when the lock directory is on a shared file
system. Inside a SLURM job the host part is ``<host>-slurm<job>``: SLURM may number a job's GPUs
from 0 whatever their physical ids, so the names are per job.

SLURM: with ``SLURM_JOB_ID`` set, the GPUs are those SLURM gave the job (``CUDA_VISIBLE_DEVICES``).
One visible GPU needs no lock (the job has it to itself). Several (an allocation that runs
Snakemake with ``--resources gpu=N`` inside it) are shared out with the same locking, so each job
uses one of them, not all ``cuda:0``.

Safety: the lock directory is created private (mode 0700). An existing one must be a real
directory (not a symbolic link), owned by the current user and not group- or world-writable, else
the claim fails with a ``GpuError`` that says how to fix it (e.g. set ``A2D_GPU_LOCK_DIR``): in a
shared ``/tmp`` anyone can create the default path first. Lock files are opened relative to the
checked directory with ``O_NOFOLLOW | O_CLOEXEC``; a lock file that is a symbolic link, not a
regular file, owned by someone else or hard-linked elsewhere is refused by name and never written
to. Only then is the holder's PID written into it (for people looking). A file system without
``flock`` (``ENOLCK``, some NFS mounts) is a ``GpuError`` too, naming the ways out.

Environment:
  A2D_GPU_LOCK_DIR   lock directory (default: /tmp/a2d-gpu-locks-<uid>, per machine); must be
                     yours, a real directory, not group/world-writable; on a local file system
  A2D_FAKE_GPUS      pretend this many GPUs exist (tests on CPU-only machines; also under SLURM)
  A2D_GPU_WAIT_S     give up after this many seconds if no GPU frees up (default: wait forever;
                     0 = fail at once when all are busy)
  A2D_GPU_LOCK=0     no locking at all (share GPUs freely)
  A2D_JOBS_PER_GPU   how many jobs may hold one GPU at once (integer >= 1, default 1); the
                     workflow sets it from the config's ``resources.jobs_per_gpu``
"""

from __future__ import annotations

import errno
import fcntl
import math
import os
import re
import socket
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from a2d import A2DError

#: the lock of the GPU this process holds (kept open for the life of the process)
_HELD: GpuLease | None = None

_FIX = "set A2D_GPU_LOCK_DIR to a private local directory, or A2D_GPU_LOCK=0 to not lock GPUs"


class GpuError(A2DError):
    pass


@dataclass
class GpuLease:
    index: int  # position among the GPUs this process could see
    device_id: str  # what CUDA_VISIBLE_DEVICES now holds (an index or a GPU UUID)
    lock_path: Path
    fd: int
    slot: int = 0  # which of the GPU's A2D_JOBS_PER_GPU lock files this job holds

    def release(self) -> None:
        global _HELD
        if self.fd >= 0:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = -1
        if _HELD is self:
            _HELD = None


def lock_dir() -> Path:
    return Path(os.environ.get("A2D_GPU_LOCK_DIR") or f"/tmp/a2d-gpu-locks-{os.getuid()}")


def visible_gpu_ids() -> list[str]:
    """The GPUs this process may use, as CUDA_VISIBLE_DEVICES would name them.

    ``A2D_FAKE_GPUS=N`` pretends N GPUs exist. Otherwise: the entries of CUDA_VISIBLE_DEVICES if
    set, else 0..n-1 with n from ``torch.cuda.device_count()`` (NVML; it does not start CUDA, so
    CUDA_VISIBLE_DEVICES can still be narrowed afterwards).
    """
    fake = os.environ.get("A2D_FAKE_GPUS")
    if fake is not None:
        if not fake.isdigit():
            raise GpuError(f"A2D_FAKE_GPUS must be a number of GPUs, got {fake!r}")
        return [str(i) for i in range(int(fake))]
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d.strip() for d in env.split(",") if d.strip() and d.strip() != "-1"]
    import torch

    if not torch.backends.cuda.is_built():
        return []
    return [str(i) for i in range(torch.cuda.device_count())]


def _safe(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", s)


def _scope() -> str:
    """``<host>``; in a SLURM job ``<host>-slurm<job>``."""
    scope = _safe(socket.gethostname() or "localhost")
    job = os.environ.get("SLURM_JOB_ID")
    if job:
        scope += "-slurm" + _safe(job)
    return scope


def _lock_name(device_id: str, slot: int = 0) -> str:
    """``gpu-<scope>-<id>.lock`` for slot 0, ``gpu-<scope>-<id>-s<slot>.lock`` for the others."""
    tail = f"-s{slot}" if slot else ""
    return f"gpu-{_scope()}-{_safe(device_id)}{tail}.lock"


def _scan_lock_name() -> str:
    """``gpu-<scope>.scan``: no GPU's lock file ends so."""
    return f"gpu-{_scope()}.scan"


def _open_dir(d: Path) -> int:
    """Create ``d`` private (0700) if missing; open it, refusing anything another user could
    control. Returns a descriptor of the checked directory (lock files are opened relative to it,
    so the path cannot be swapped after the check)."""
    created = False
    try:
        d.parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(d, 0o700)
        created = True
    except FileExistsError:
        pass
    except OSError as e:
        raise GpuError(f"cannot create GPU lock directory {d}: {e.strerror}; {_FIX}") from None
    try:
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR) and d.is_symlink():  # Linux says ENOTDIR
            raise GpuError(
                f"GPU lock directory {d} is a symbolic link, refused (whoever made it chooses "
                f"where locks go): remove it or {_FIX}"
            ) from None
        if e.errno == errno.ENOTDIR:
            raise GpuError(
                f"GPU lock directory {d} exists but is not a directory: remove it or {_FIX}"
            ) from None
        raise GpuError(f"cannot open GPU lock directory {d}: {e.strerror}; {_FIX}") from None
    try:
        if created:
            os.fchmod(fd, 0o700)  # whatever the umask
        st = os.fstat(fd)
        me = os.geteuid()
        if st.st_uid != me:
            raise GpuError(
                f"GPU lock directory {d} is owned by uid {st.st_uid}, not by you (uid {me}), "
                f"refused: {_FIX}"
            )
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise GpuError(
                f"GPU lock directory {d} is group/world-writable (mode "
                f"{stat.S_IMODE(st.st_mode):04o}), refused: run `chmod 700 {d}` or {_FIX}"
            )
    except BaseException:
        os.close(fd)
        raise
    return fd


def _holder(fd: int) -> str:
    """The PID a busy lock file names (written by its holder), or '?'."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return "?"
    return text if text.isdigit() else "?"


def _open_lock(dir_fd: int, name: str, path: Path) -> int:
    """Open (create) a lock file in the checked directory, refusing one that is a symbolic link,
    not a regular file, someone else's or hard-linked elsewhere."""
    try:
        fd = os.open(
            name,
            os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
            0o600,
            dir_fd=dir_fd,
        )
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise GpuError(
                f"GPU lock file {path} is a symbolic link, refused (never written through): "
                f"remove it, or {_FIX}"
            ) from None
        raise GpuError(f"cannot open GPU lock file {path}: {e.strerror}; {_FIX}") from None
    try:
        st = os.fstat(fd)
        problem = None
        if not stat.S_ISREG(st.st_mode):
            problem = "is not a regular file"
        elif st.st_uid != os.geteuid():
            problem = f"is owned by uid {st.st_uid}, not by you (uid {os.geteuid()})"
        elif st.st_nlink != 1:
            problem = f"has {st.st_nlink} hard links (it would overwrite another file)"
        if problem:
            raise GpuError(f"GPU lock file {path} {problem}, refused: remove it, or {_FIX}")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _flock(fd: int, path: Path) -> bool:
    """Take the exclusive lock without waiting: True, or False when someone holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as e:
        if e.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
            raise GpuError(
                f"cannot lock {path}: its file system does not support flock "
                f"({errno.errorcode.get(e.errno, e.errno)}, e.g. NFS); set A2D_GPU_LOCK_DIR "
                "to a directory on a local disk (e.g. under /tmp), or A2D_GPU_LOCK=0 to not "
                "lock GPUs"
            ) from None
        raise GpuError(f"cannot lock {path}: {e.strerror}; {_FIX}") from None
    return True


def _try_lock(dir_fd: int, name: str, path: Path) -> tuple[int | None, str]:
    """(descriptor holding the lock, '') or (None, PID of the holder) when it is busy."""
    fd = _open_lock(dir_fd, name, path)
    try:
        if not _flock(fd, path):
            holder = _holder(fd)
            os.close(fd)
            return None, holder
    except BaseException:
        os.close(fd)
        raise
    return fd, ""


def _note_holder(fd: int) -> None:
    """Write this process's PID into the lock file it holds (checked ours on this descriptor)."""
    pid = f"{os.getpid()}\n".encode()
    os.pwrite(fd, pid, 0)
    os.ftruncate(fd, len(pid))


#: how long a claim waits for the directory-wide scan lock beyond its own wait limit (the scan
#: lock is held for the few milliseconds a choice takes; longer means a stopped process holds it)
_SCAN_GRACE_S = 30.0


def _scan_lock(dir_fd: int, d: Path, wait_s: float | None) -> int:
    name = _scan_lock_name()
    fd = _open_lock(dir_fd, name, d / name)
    try:
        start = time.monotonic()
        while not _flock(fd, d / name):
            if wait_s is not None and time.monotonic() - start > wait_s + _SCAN_GRACE_S:
                raise GpuError(
                    f"the GPU lock directory's scan lock {d / name} has been held for over "
                    f"{wait_s + _SCAN_GRACE_S:g}s by pid {_holder(fd)} (a stopped process?): "
                    "end that process or remove the file"
                )
            time.sleep(0.005)
        _note_holder(fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _choose(dir_fd: int, d: Path, ids: list[str], order: list[int], slots: int):
    """Under the scan lock: lock every free slot, keep one slot of the GPU with the most free
    slots (the earliest in ``order`` on a tie), release the others. Returns (lease or None, the
    busy GPUs' descriptions)."""
    got: dict[int, list[tuple[int, int, Path]]] = {}
    busy = []
    try:
        for i in order:
            holders = []
            for s in range(slots):
                name = _lock_name(ids[i], s)
                fd, holder = _try_lock(dir_fd, name, d / name)
                if fd is None:
                    holders.append(f"pid {holder}")
                else:
                    got.setdefault(i, []).append((s, fd, d / name))
            if holders and i not in got:
                busy.append(f"{ids[i]} ({', '.join(holders)})")
        if not got:
            return None, busy
        best = max(order, key=lambda i: (len(got.get(i, [])), -order.index(i)))
        s, fd, path = got[best][0]
        _note_holder(fd)
        got[best].pop(0)  # kept: the lease's now
        return GpuLease(best, ids[best], path, fd, s), busy
    finally:
        for held in got.values():
            for _, fd, _ in held:
                os.close(fd)


def acquire(
    ids: list[str] | None = None,
    directory: str | Path | None = None,
    wait_s: float | None = None,
    poll_s: float = 1.0,
    log: Callable[[str], None] = lambda s: None,
    slots: int = 1,
) -> GpuLease:
    """Lock a free slot of ``ids`` (default: ``visible_gpu_ids()``), ``slots`` of them per GPU,
    on the GPU with the most free slots; wait for one if none is free (at most ``wait_s``
    seconds; ``None`` = no limit). The lock is this process's until ``release()`` or exit."""
    ids = visible_gpu_ids() if ids is None else ids
    if not ids:
        raise GpuError("no GPU to claim")
    if slots < 1:
        raise GpuError(f"jobs per GPU must be >= 1, got {slots}")
    d = Path(directory) if directory is not None else lock_dir()
    dir_fd = _open_dir(d)
    try:
        start = time.monotonic()
        # ties go to a per-process first GPU so that simultaneous starts spread out quickly
        offset = os.getpid() % len(ids)
        order = [(offset + k) % len(ids) for k in range(len(ids))]
        per = f" with {slots} jobs per GPU (A2D_JOBS_PER_GPU)" if slots > 1 else ""
        said = False
        while True:
            scan_fd = _scan_lock(dir_fd, d, wait_s)
            try:
                lease, busy = _choose(dir_fd, d, ids, order, slots)
            finally:
                os.close(scan_fd)
            if lease is not None:
                return lease
            waited = time.monotonic() - start
            held = ", ".join(busy)
            if wait_s is not None and waited >= wait_s:
                raise GpuError(
                    f"no free GPU after waiting {waited:.1f}s (limit A2D_GPU_WAIT_S={wait_s:g}): "
                    f"all {len(ids)} GPUs busy: {held}{per} (locks in {d}); run fewer GPU jobs at "
                    "once (--resources gpu=N with N GPUs x jobs per GPU) or raise A2D_GPU_WAIT_S"
                )
            if not said:
                log(f"all {len(ids)} GPUs busy: {held}{per} (locks in {d}); waiting for one")
                said = True
            time.sleep(poll_s if wait_s is None else min(poll_s, max(wait_s - waited, 0.01)))
    finally:
        os.close(dir_fd)


def jobs_per_gpu() -> int:
    """``A2D_JOBS_PER_GPU`` (default 1): how many jobs may hold one GPU at once."""
    raw = os.environ.get("A2D_JOBS_PER_GPU")
    if raw is None or raw.strip() == "":
        return 1
    v = raw.strip()
    if not v.isdigit() or int(v) < 1:
        raise GpuError(f"A2D_JOBS_PER_GPU must be an integer >= 1 (jobs per GPU), got {raw!r}")
    return int(v)


def _wait_limit() -> float | None:
    wait = os.environ.get("A2D_GPU_WAIT_S")
    if not wait:
        return None
    try:
        wait_s = float(wait)
    except ValueError:
        wait_s = math.nan
    if math.isnan(wait_s) or wait_s < 0:
        raise GpuError(f"A2D_GPU_WAIT_S must be seconds >= 0 (or unset: no limit), got {wait!r}")
    return wait_s


def claim_for_job(device: str, log: Callable[[str], None] = print) -> GpuLease | None:
    """What ``a2d train``/``a2d search`` call before touching CUDA, with the config's ``device``.

    For ``cuda``/``auto`` with several GPUs visible: lock one and make it the only one this
    process sees (``CUDA_VISIBLE_DEVICES``). Under SLURM the GPUs are those of the allocation
    (``CUDA_VISIBLE_DEVICES``); one needs no lock. Returns the lease, or None when nothing was
    claimed (CPU runs, no GPU, one GPU under SLURM, ``A2D_GPU_LOCK=0``). Call it once per process.
    """
    global _HELD
    if _HELD is not None:
        return _HELD
    if device == "cpu" or os.environ.get("A2D_GPU_LOCK", "1") == "0":
        return None
    wait_s = _wait_limit()
    slots = jobs_per_gpu()
    slurm = bool(os.environ.get("SLURM_JOB_ID"))
    if slurm and "A2D_FAKE_GPUS" not in os.environ and "CUDA_VISIBLE_DEVICES" not in os.environ:
        return None  # SLURM gave this job no GPU
    ids = visible_gpu_ids()
    if not ids or (slurm and len(ids) == 1):
        return None  # nothing to claim / the allocation's only GPU is this job's alone
    lease = acquire(ids, wait_s=wait_s, log=log, slots=slots)
    os.environ["CUDA_VISIBLE_DEVICES"] = lease.device_id
    _HELD = lease
    slot = f", slot {lease.slot + 1} of {slots}" if slots > 1 else ""
    log(f"GPU {lease.device_id} ({lease.index + 1} of {len(ids)}{slot}), lock {lease.lock_path}")
    return lease
