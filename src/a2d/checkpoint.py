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

Every checkpoint is read with ``torch.load(weights_only=True)``: tensors and plain data, never
objects that run code when unpickled (a file from someone else cannot run anything).
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
from typing import Any, NamedTuple

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


def file_sha256(path: str | Path) -> str:
    """The SHA-256 (hex) of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _named_object(e: Exception) -> str | None:
    """The object a ``weights_only`` load refused to build (``GLOBAL module.name``, a class),
    or None when the refusal is about something else (a corrupt stream, an unknown opcode)."""
    text = str(e).split("WeightsUnpickler error:", 1)[-1].strip()
    first = text.splitlines()[0] if text else ""
    if "global" in first.lower() or "class" in first.lower() or "reduce" in first.lower():
        return first.split(" was not ")[0][:120]
    return None


def torch_loads(payload: bytes, where: str) -> Any:
    """Unpickle a torch payload with ``weights_only=True``: tensors and plain data only, never
    code. A payload naming any other object (a crafted pickle, or a file holding NumPy arrays
    or custom classes) is refused with a CheckpointError naming ``where``."""
    import pickle
    import warnings

    import torch

    try:
        with warnings.catch_warnings():  # e.g. on the pickle protocol: the error says enough
            warnings.simplefilter("ignore")
            return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        named = _named_object(e)
        if named is None:  # not a refusal of an object: the caller reports an unreadable file
            raise
        raise CheckpointError(
            f"{where} refused: it holds more than tensors and plain data ({named}); "
            "a2d runs no code from a checkpoint"
        ) from None


class Digest(NamedTuple):
    """The SHA-256 a file must have, what the file is and who records the digest (for the
    message: ``<what> <path> has sha256 ..., <recorded_in> records ...``)."""

    sha256: str
    what: str
    recorded_in: str


def load_torch(
    path: str | Path, what: str = "checkpoint", digest: Digest | None = None
) -> dict[str, Any]:
    """A checkpoint file (a dict with a 'format' key), loaded with ``weights_only=True``.

    ``digest``: the SHA-256 the file must have, checked on the very bytes that are then
    unpickled, before they are."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise CheckpointError(f"{what} {path} is a directory, not a checkpoint file") from None
    except OSError as e:
        raise CheckpointError(f"{what} {path} cannot be read: {e.strerror}") from None
    if digest is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest.sha256:
            raise CheckpointError(
                f"{digest.what} {path} has sha256 {actual}, {digest.recorded_in} records "
                f"{digest.sha256}"
            )
    try:
        obj = torch_loads(data, f"{what} {path}")
    except CheckpointError:
        raise
    except Exception as e:  # torn, truncated or not a torch file
        # the type only: the message of a failed unpickling may quote the file's bytes
        raise CheckpointError(
            f"unreadable {what} {path}: truncated or not a PyTorch checkpoint ({type(e).__name__})"
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
    """One resume checkpoint, its checksum verified and loaded with ``weights_only=True``;
    CheckpointError if torn, not one, or holding more than tensors and plain data (the
    checksum detects torn files, not tampering: anyone can recompute it)."""
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
        obj = torch_loads(payload, f"resume checkpoint {path}")
    except CheckpointError:
        raise
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
