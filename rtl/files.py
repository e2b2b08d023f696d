"""Writing files: atomic writes (readers see the old file or the whole new one, never a part of
it) and a check that a destination can be written, made before the work that fills it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "atomic_write_text", "check_writable"]


def atomic_write(path: Path, write) -> Path:
    """Call ``write(temporary_path)`` beside ``path``, then move the result onto ``path`` in one
    step, so readers see either the old or the whole new file; a failed write leaves no trace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; a written file should not be
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    """Write a text file atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def check_writable(path: str | os.PathLike, *, directory: bool = False, needed_mb: float = 0.0) -> Path:
    """Fail now — before any work — if ``path`` cannot be written.

    ``path`` is a file to be written (its folder is probed) or, with ``directory``, a folder to
    write into; missing folders are created. Raises :class:`rtl.errors.FieldError` (field
    ``output``) naming the path and the reason: a folder that is a file, a path under a file,
    no permission, a full or read-only disk, or less than ``needed_mb`` free.
    """
    from rtl.errors import FieldError

    path = Path(path)
    folder = path if directory else path.parent
    if not directory and path.is_dir():
        raise FieldError("output", f"{path} is a directory, not a file to write", str(path))
    for parent in [folder, *folder.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise FieldError("output", f"cannot write {path}: {parent} is a file, not a directory", str(path))
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".hwmodel-write-test-")
        try:
            os.write(fd, b"ok")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as error:
        raise FieldError("output", f"cannot write to {folder}: {error.strerror or error}", str(path)) from None
    if needed_mb:
        import shutil
        free_mb = shutil.disk_usage(folder).free / 2 ** 20
        if free_mb < needed_mb:
            raise FieldError("output", f"{folder} has {free_mb:.0f} MB free; this needs about {needed_mb:.0f} MB",
                             str(path))
    return path
