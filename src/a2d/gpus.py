"""One GPU per job on a multi-GPU box.

``snakemake --cores 32 --resources gpu=4`` lets four GPU jobs run at once but gives them no device
ids. Each ``a2d train`` / ``a2d search`` therefore claims a GPU itself when it starts: it takes an
exclusive ``flock`` on one lock file per GPU (``<lock dir>/gpu-<id>.lock``), picks the first GPU
whose lock is free and sets ``CUDA_VISIBLE_DEVICES`` to it before CUDA starts, so ``cuda`` in that
process means that GPU. The kernel drops the lock when the process exits, crash or kill included,
so a lock never outlives its job. When every GPU is taken the job waits for one.

Not done under SLURM (``SLURM_JOB_ID`` set): there the scheduler has already given the job its
GPUs through ``CUDA_VISIBLE_DEVICES``.

Environment:
  A2D_GPU_LOCK_DIR   lock directory (default: /tmp/a2d-gpu-locks-<uid>, per machine)
  A2D_FAKE_GPUS      pretend this many GPUs exist (tests on CPU-only machines)
  A2D_GPU_WAIT_S     give up after this many seconds if no GPU frees up (default: wait forever)
  A2D_GPU_LOCK=0     no locking at all (share GPUs freely)
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from a2d import A2DError

#: the lock of the GPU this process holds (kept open for the life of the process)
_HELD: GpuLease | None = None


class GpuError(A2DError):
    pass


@dataclass
class GpuLease:
    index: int  # position among the GPUs this process could see
    device_id: str  # what CUDA_VISIBLE_DEVICES now holds (an index or a GPU UUID)
    lock_path: Path
    fd: int

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


def _lock_name(device_id: str) -> str:
    return "gpu-" + re.sub(r"[^A-Za-z0-9_.-]", "_", device_id) + ".lock"


def _try_lock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())  # who holds it, for people looking
    return fd


def acquire(
    ids: list[str] | None = None,
    directory: str | Path | None = None,
    wait_s: float | None = None,
    poll_s: float = 1.0,
    log: Callable[[str], None] = lambda s: None,
) -> GpuLease:
    """Lock the first free GPU of ``ids`` (default: ``visible_gpu_ids()``); wait for one if none
    is free (at most ``wait_s`` seconds; ``None`` = no limit). The lock is this process's until
    ``release()`` or exit."""
    ids = visible_gpu_ids() if ids is None else ids
    if not ids:
        raise GpuError("no GPU to claim")
    d = Path(directory) if directory is not None else lock_dir()
    d.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    # start the scan at a per-process offset so that simultaneous starts spread out quickly
    offset = os.getpid() % len(ids)
    order = [(offset + k) % len(ids) for k in range(len(ids))]
    said = False
    while True:
        for i in order:
            path = d / _lock_name(ids[i])
            fd = _try_lock(path)
            if fd is not None:
                return GpuLease(i, ids[i], path, fd)
        waited = time.monotonic() - start
        if wait_s is not None and waited >= wait_s:
            raise GpuError(
                f"all {len(ids)} GPUs are held by other jobs (locks in {d}) after {waited:.0f}s; "
                "run fewer GPU jobs at once (--resources gpu=N with N GPUs)"
            )
        if not said:
            log(f"all {len(ids)} GPUs busy (locks in {d}); waiting for one")
            said = True
        time.sleep(poll_s)


def claim_for_job(device: str, log: Callable[[str], None] = print) -> GpuLease | None:
    """What ``a2d train``/``a2d search`` call before touching CUDA, with the config's ``device``.

    For ``cuda``/``auto`` on a box with GPUs, outside SLURM: lock one GPU and make it the only one
    this process sees (``CUDA_VISIBLE_DEVICES``). Returns the lease, or None when nothing was
    claimed (CPU runs, no GPU, SLURM, ``A2D_GPU_LOCK=0``). Call it once per process.
    """
    global _HELD
    if _HELD is not None:
        return _HELD
    if device == "cpu" or os.environ.get("A2D_GPU_LOCK", "1") == "0":
        return None
    if os.environ.get("SLURM_JOB_ID") and "A2D_FAKE_GPUS" not in os.environ:
        return None  # SLURM assigned this job's GPUs already
    ids = visible_gpu_ids()
    if not ids:
        return None
    wait = os.environ.get("A2D_GPU_WAIT_S")
    try:
        wait_s = float(wait) if wait else None
    except ValueError:
        raise GpuError(f"A2D_GPU_WAIT_S must be seconds, got {wait!r}") from None
    lease = acquire(ids, wait_s=wait_s, log=log)
    os.environ["CUDA_VISIBLE_DEVICES"] = lease.device_id
    _HELD = lease
    log(f"GPU {lease.device_id} ({lease.index + 1} of {len(ids)}), lock {lease.lock_path}")
    return lease
