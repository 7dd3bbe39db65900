"""Files only their owner may read (0600, in 0700 directories): demo tokens and passwords,
SQLite databases, e-mails and SMS written to disk instead of sent."""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIRECTORY_MODE = 0o700


def private_dir(path: str | Path) -> Path:
    """Create `path` and any missing parents as 0700; make an existing leaf 0700 too."""
    path = Path(path)
    missing = []
    for candidate in (path, *path.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    for directory in reversed(missing):
        directory.mkdir(mode=DIRECTORY_MODE, exist_ok=True)
        os.chmod(directory, DIRECTORY_MODE)  # mkdir's mode is filtered by the umask
    if path.is_dir() and path.stat().st_uid == os.getuid():
        os.chmod(path, DIRECTORY_MODE)
    return path


def _open(path: Path, flags: int) -> int:
    private_dir(path.parent)
    fd = os.open(path, flags | os.O_CREAT, FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # a file made earlier with a wider mode
    return fd


def write_private(path: str | Path, data: str | bytes) -> None:
    """Write `data` to `path` (created 0600: never readable by others, not even for a moment)."""
    raw = data.encode() if isinstance(data, str) else data
    with os.fdopen(_open(Path(path), os.O_WRONLY | os.O_TRUNC), "wb") as out:
        out.write(raw)


def append_private(path: str | Path, text: str) -> None:
    with os.fdopen(_open(Path(path), os.O_WRONLY | os.O_APPEND), "a", encoding="utf-8") as out:
        out.write(text)


def create_private(path: str | Path) -> None:
    """Make sure `path` exists, as 0600 (e.g. before SQLite opens it)."""
    os.close(_open(Path(path), os.O_RDWR))
