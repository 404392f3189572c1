"""File handling shared by every part: atomic writes, output modes that follow the umask, paths kept inside a
root."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path, PurePosixPath
from typing import IO, Any, Callable

from icaa.common.errors import IcaaError

__all__ = [
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "is_inside",
    "resolve_inside",
    "relative_id",
    "apply_umask",
    "file_sha256",
]


def apply_umask(path: Path | str) -> None:
    """Give a file made by ``tempfile.mkstemp`` (mode 0600) the mode a plain ``open`` would, 0666 less the umask
    (a folder from ``tempfile.mkdtemp``: 0777 less the umask, as ``mkdir`` gives).

    Outputs on shared storage must be readable by whoever the user's umask allows, as any other file they
    write is.
    """
    mask = os.umask(0o022)
    os.umask(mask)
    os.chmod(path, (0o777 if Path(path).is_dir() else 0o666) & ~mask)


def atomic_write(path: Path | str, write: Callable[[IO[bytes]], Any]) -> None:
    """Call ``write(handle)`` on a temporary file beside ``path``, then rename it to ``path``: readers never
    see half a file, and a failed write leaves ``path`` as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        apply_umask(tmp_name)
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: readers never see half a file."""
    atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: Path | str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path | str, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def is_inside(root: Path, path: Path) -> bool:
    """Whether resolved ``path`` is ``root`` or lies below it (both already resolved)."""
    return path == root or root in path.parents


def resolve_inside(root: Path | str, relative: str) -> Path:
    """The absolute path of ``relative`` under ``root``; IcaaError if it escapes the root.

    ``../../x.jpg``, absolute paths and symlinks pointing outside are refused.
    """
    root_path = Path(root).resolve()
    candidate = (root_path / relative).resolve()
    if not is_inside(root_path, candidate):
        raise IcaaError(f"{relative!r} escapes the image root {root_path}")
    return candidate


def relative_id(path: Path | str, root: Path | str) -> str:
    """A stable image id: the path relative to ``root`` with POSIX separators."""
    relative = Path(path).resolve().relative_to(Path(root).resolve())
    return str(PurePosixPath(*relative.parts))


def file_sha256(path: Path | str, *, block_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in blocks (a large file is never held in memory whole)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(block_bytes):
            digest.update(block)
    return digest.hexdigest()
