"""Atomic file writes and resume checkpoints.

Every result file is written to a temporary file in the same directory, fsynced, renamed into
place, and the directory fsynced: a killed job (or a crashed machine) never leaves a half-written
file that looks finished. ``atomic_write`` is the one writer; the others are built on it. Its
temporary file is removed when the write fails, and on SIGTERM (turned into an exception while a
write is under way); one left by a SIGKILLed job is recognised by its name and swept at the next
write of the same file (``temp_beside``) or by ``sweep_temps``.

Resume state lives in ``<run>/resume/`` beside (not among) the files a Snakemake rule declares, so it survives
Snakemake's deletion of a failed job's outputs.

Resume checkpoints carry a header (magic, payload length, SHA-256 of the payload), so a torn or
truncated one is detected on load; the one before it is kept as ``ckpt.prev.pt`` and used then.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import re
import signal
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from a2d import A2DError, faults


class CheckpointError(A2DError):
    pass


#: Temporary files are named ``.<name>.tmp-<host>-<pid>-<random>``: a leftover one (its job was
#: SIGKILLed) is recognised, and removed by the next write of that name or ``sweep_temps``, only
#: when it is this host's and its PID is dead.
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<host>.+)-(?P<pid>\d+)-[a-z0-9_]{8}$")


def _temp_prefix(name: str) -> str:
    return f".{name}.tmp-{socket.gethostname()}-{os.getpid()}-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _stale_temp(entry: Path, name: str | None = None) -> bool:
    m = _TEMP_RE.match(entry.name)
    if m is None or (name is not None and m["name"] != name):
        return False
    if m["host"] != socket.gethostname():
        return False  # another machine's job (a shared file system): its PIDs are not ours
    pid = int(m["pid"])
    return pid != os.getpid() and not _pid_alive(pid)


def sweep_temps(folder: str | Path, name: str | None = None) -> list[Path]:
    """Remove the temporary files in ``folder`` (of target ``name``, or of any) left by jobs of
    this host that are dead; returns them. Temps of live jobs are kept."""
    folder = Path(folder)
    removed = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        if _stale_temp(entry, name):
            with contextlib.suppress(OSError):
                entry.unlink()
                removed.append(entry)
    return removed


class Terminated(SystemExit):
    """SIGTERM, turned into an exception so that ``finally`` blocks remove temporary files."""


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While inside, SIGTERM raises :class:`Terminated` (exit status 143) instead of ending the
    process at once, so the writer's temp is removed. A no-op outside the main thread or when
    SIGTERM already has a handler."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def handler(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends it at once
        raise Terminated(128 + signal.SIGTERM)

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGTERM) is handler:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def temp_beside(path: Path) -> tuple[int, str]:
    """An open temporary file in ``path``'s directory (created if needed), with ordinary
    permissions (mkstemp alone makes 0600 files). Leftover temps of ``path`` from dead jobs are
    removed first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_temps(path.parent, path.name)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path.name), suffix="")
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    return fd, tmp


def _fsync_dir(path: Path) -> None:
    """fsync a directory (its entries: a rename in it); a no-op where that is unsupported."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``; fsync it, rename it onto
    ``path`` and fsync the directory (the rename is then durable too)."""
    path = Path(path)
    with _sigterm_raises():
        fd, tmp = temp_beside(path)
        os.close(fd)
        try:
            write(Path(tmp))
            _fsync_file(Path(tmp))  # whatever ``write`` did (torch.save, a library's writer, ...)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    _fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def atomic_write_csv(path: str | Path, fields: list[str], rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def atomic_torch_save(path: str | Path, obj: Any) -> None:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_torch(path: str | Path, what: str = "checkpoint") -> dict[str, Any]:
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise CheckpointError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise CheckpointError(f"{what} {path} is a directory, not a checkpoint file") from None
    except Exception as e:  # torn, truncated or not a torch file
        detail = str(e).splitlines()[0].split(". ")[0][:100] if str(e) else ""
        raise CheckpointError(
            f"unreadable {what} {path}: truncated or not a PyTorch checkpoint "
            f"({type(e).__name__}{': ' + detail if detail else ''})"
        ) from None
    if not isinstance(obj, dict) or "format" not in obj:
        raise CheckpointError(f"{path} is not an a2d {what} (no 'format' key)")
    return obj


# --------------------------------------------------------------------------------------------
# Resume checkpoints: checksummed, written atomically, the previous one kept.

RESUME_MAGIC = b"A2DCKPT2"
_HEADER = struct.Struct("<8sQ32s")  # magic, payload length, sha256(payload)


def previous_path(path: Path) -> Path:
    return path.with_name(path.stem + ".prev" + path.suffix)


def save_resume(path: str | Path, obj: dict[str, Any]) -> dict[str, float]:
    """Write a checksummed resume checkpoint atomically; the one it replaces becomes
    ``<name>.prev.pt``. At every instant a valid checkpoint exists under one of the two names.
    Returns the size (bytes) and the write time (seconds, serialisation included)."""
    import torch

    t0 = time.perf_counter()
    path = Path(path)
    buf = io.BytesIO()
    torch.save(obj, buf)
    payload = buf.getvalue()
    header = _HEADER.pack(RESUME_MAGIC, len(payload), hashlib.sha256(payload).digest())
    with _sigterm_raises():
        fd, tmp = temp_beside(path)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(header)
                f.write(payload)
                f.flush()
                os.fsync(f.fileno())
            faults.point("ckpt_write")
            if path.exists():
                os.replace(path, previous_path(path))
            faults.point("ckpt_rotate")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    _fsync_dir(path.parent)
    faults.point("ckpt_done")
    return {"bytes": float(len(header) + len(payload)), "seconds": time.perf_counter() - t0}


def read_resume(path: str | Path) -> dict[str, Any]:
    """One resume checkpoint, its checksum verified; CheckpointError if torn or not one."""
    import torch

    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"resume checkpoint not found: {path}") from None
    if len(data) < _HEADER.size:
        raise CheckpointError(f"{path}: truncated resume checkpoint ({len(data)} bytes)")
    magic, n, digest = _HEADER.unpack_from(data)
    if magic != RESUME_MAGIC:
        raise CheckpointError(f"{path} is not an a2d resume checkpoint (bad magic)")
    payload = data[_HEADER.size :]
    if len(payload) != n:
        raise CheckpointError(
            f"{path}: torn resume checkpoint ({len(payload)} of {n} payload bytes)"
        )
    if hashlib.sha256(payload).digest() != digest:
        raise CheckpointError(f"{path}: resume checkpoint fails its SHA-256 check")
    try:
        obj = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=False)
    except Exception as e:  # a checksummed payload that still does not load: a bug, say so
        raise CheckpointError(f"{path}: unreadable resume checkpoint: {type(e).__name__}") from None
    if not isinstance(obj, dict) or "format" not in obj:
        raise CheckpointError(f"{path} is not an a2d resume checkpoint (no 'format' key)")
    return obj


def load_resume(
    path: str | Path, log: Callable[[str], None] = print
) -> tuple[dict[str, Any], Path] | None:
    """The newest valid resume checkpoint (``path``, else ``<name>.prev.pt``), or None if there
    is none. A torn newest one is reported and skipped; if every one present is bad, raise."""
    path = Path(path)
    for orphan in path.parent.glob(f".{path.name}.*.tmp"):  # a write killed before its rename
        orphan.unlink(missing_ok=True)
    candidates = [p for p in (path, previous_path(path)) if p.exists()]
    errors, bad = [], []
    for p in candidates:
        try:
            obj = read_resume(p)
        except CheckpointError as e:
            errors.append(str(e))
            bad.append(p)
            log(f"warning: {e}; trying the previous checkpoint")
            continue
        for b in bad:  # never rotate a torn checkpoint into the place of the previous one
            b.unlink(missing_ok=True)
        return obj, p
    if errors:
        raise CheckpointError(
            f"no usable resume checkpoint in {path.parent} ({'; '.join(errors)}); "
            f"remove {path.parent} to start the run afresh"
        )
    return None


def remove_resume(path: str | Path) -> None:
    path = Path(path)
    for p in (path, previous_path(path)):
        p.unlink(missing_ok=True)
