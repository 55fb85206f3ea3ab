"""Atomic file writes and resume checkpoints.

Every result file is written to a temporary file in the same directory, fsynced, renamed into
place, and the directory fsynced: a killed job (or a crashed machine) never leaves a half-written
file that looks finished. ``atomic_write`` is the one writer; the others are built on it.

Resume state lives in ``<run>/resume/`` beside (not among) the files a Snakemake rule declares, so it survives
Snakemake's deletion of a failed job's outputs.

Resume checkpoints carry a header (magic, payload length, SHA-256 of the payload), so a torn or
truncated one is detected on load; the one before it is kept as ``ckpt.prev.pt`` and used then.

Every checkpoint is read with ``torch.load(weights_only=True)``: tensors and plain data, never
objects that run code when unpickled (a file from someone else cannot run anything).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import struct
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from a2d import A2DError, faults


class CheckpointError(A2DError):
    pass


def temp_beside(path: Path) -> tuple[int, str]:
    """An open temporary file in ``path``'s directory (created if needed), with ordinary
    permissions (mkstemp alone makes 0600 files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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
