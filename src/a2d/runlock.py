"""The run-folder lock, and the refusal to overwrite a finished run.

A job that writes a run folder (``a2d train``, ``a2d search``) holds ``fcntl.flock`` on
``<out>/.lock`` for its whole life; a second job on the same folder stops at once, naming the
folder and the PID of the job that holds it. The kernel drops the lock when its holder dies, even
by SIGKILL, so a stale ``.lock`` file never blocks a restart; a job that ends removes its
``.lock`` (a job that locks checks that the file it locked is still the one in the folder). The
lock is re-entrant within a process (``run_search`` holds it and calls ``train``, which takes it
again).

A folder holding a finished run (its finish marker, ``eval.json``, is there) is never trained into
again unless the caller forces it; then the old run is moved aside to ``<parent>/.<name>.replaced-
<UTC timestamp>`` (hidden, so globs over the results tree do not pick it up), never deleted.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from a2d import A2DError

LOCK_NAME = ".lock"


class RunLockError(A2DError):
    pass


class _Held:
    """One lock held by this process: the open ``.lock`` and how many holders share it."""

    def __init__(self, folder: Path, created: bool):
        self.folder, self.created, self.depth = folder, created, 0
        self.fd = _acquire(folder)


#: folder (absolute path) -> the lock this process holds on it
_HELD: dict[str, _Held] = {}


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def _acquire(folder: Path) -> int:
    path = folder / LOCK_NAME
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    while True:
        try:
            fd = os.open(path, flags, 0o644)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise RunLockError(
                    f"{path} is a symbolic link, not a2d's lock; remove it"
                ) from None
            raise RunLockError(f"cannot open the lock {path}: {e.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                pid = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            finally:
                os.close(fd)
            raise RunLockError(
                f"{folder} is in use by another a2d job (PID {pid}); wait for it to end or stop it"
            ) from None
        if _same_file(fd, path):
            break
        os.close(fd)  # its holder removed it as we opened it: lock the one there now
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _release(fd: int, folder: Path) -> None:
    """Remove the lock file (still holding it, so no job can hold it meanwhile), then unlock."""
    path = folder / LOCK_NAME
    with contextlib.suppress(OSError):
        if _same_file(fd, path):
            path.unlink()
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


@contextlib.contextmanager
def run_lock(folder: str | Path) -> Iterator[RunLock]:
    """Hold the lock of run folder ``folder`` (created if missing) for the ``with`` block.

    If the block fails and this call created the folder, the folder is removed again when it
    holds nothing but the lock (a refused run leaves no trace)."""
    folder = Path(os.path.abspath(folder))
    key = str(folder)
    held = _HELD.get(key)
    if held is None:
        created = not folder.exists()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RunLockError(f"cannot make the run folder {folder}: {e.strerror}") from None
        held = _Held(folder, created)
        _HELD[key] = held
    held.depth += 1
    failed = False
    try:
        yield RunLock(held)
    except BaseException:
        failed = True
        raise
    finally:
        held.depth -= 1
        if held.depth == 0:
            del _HELD[key]
            _release(held.fd, held.folder)
            if failed and held.created:
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only if empty


class RunLock:
    """A held run-folder lock (see :func:`run_lock`)."""

    def __init__(self, held: _Held):
        self._held = held

    @property
    def folder(self) -> Path:
        return self._held.folder

    def move_aside(self) -> Path:
        """Move the locked folder (a finished run) aside and lock a new, empty one in its place;
        returns where the old run now is."""
        folder = self._held.folder
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        aside = folder.parent / f".{folder.name}.replaced-{stamp}"
        n = 1
        while aside.exists():
            aside = folder.parent / f".{folder.name}.replaced-{stamp}-{n}"
            n += 1
        os.rename(folder, aside)
        folder.mkdir()
        old = self._held.fd
        self._held.fd = _acquire(folder)  # fails if another job took the new folder meanwhile
        self._held.created = False
        _release(old, aside)
        return aside


def finished(folder: str | Path, marker: str = "eval.json") -> bool:
    """Whether ``folder`` holds a finished run (its finish marker is there)."""
    return (Path(folder) / marker).exists()


def refuse_finished(folder: str | Path, force: bool, marker: str = "eval.json") -> bool:
    """Refuse a finished run's folder unless ``force``; returns whether it is to be replaced
    (moved aside, :meth:`RunLock.move_aside`) before anything is written."""
    if not finished(folder, marker):
        return False
    if not force:
        raise RunLockError(
            f"{folder} holds a finished run ({marker}); give --force to move it aside "
            "and start afresh"
        )
    return True
