"""Atomic file writes and resume checkpoints.

Every result file is written to a temporary file in the same directory and renamed into place,
so a killed job never leaves a half-written file that looks finished. Resume state lives in
``<run>/resume/`` beside (not among) the files a Snakemake rule declares, so it survives
Snakemake's deletion of a failed job's outputs.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from a2d import A2DError


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


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it onto ``path``."""
    path = Path(path)
    fd, tmp = temp_beside(path)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    atomic_write(path, write)


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
    except Exception as e:  # torn, truncated or not a torch file
        raise CheckpointError(
            f"unreadable {what} {path}: {type(e).__name__}: {str(e).splitlines()[0][:120]}"
        ) from None
    if not isinstance(obj, dict) or "format" not in obj:
        raise CheckpointError(f"{path} is not an a2d {what} (no 'format' key)")
    return obj
