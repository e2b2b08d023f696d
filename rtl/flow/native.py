"""C kernels shipped as source and compiled on first use.

A kernel that needs the CPU's vector instructions explicitly (AVX-512 gathers and scatters, which
numba does not emit for the code that needs them) is a C file beside this module. :func:`load`
compiles it with the machine's C compiler (``$CC``, else ``cc`` or ``gcc``) into
``~/.cache/hwmodel/native`` (``$HWMODEL_NATIVE_CACHE`` elsewhere), keyed by the source, the
flags and the compiler's version, so a change of any of them compiles again and a later run
loads the library in milliseconds. The file is written under a temporary name and renamed, so
processes compiling at once never load half a library.

Every such kernel has a numba twin that computes the same thing: where there is no compiler, the
compilation fails or the CPU lacks the instructions, :func:`load` says why and its caller runs
the twin.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Native", "load"]

_HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Native:
    library: ctypes.CDLL | None  # None where it could not be had
    reason: str                  # why not ("" where it loaded)
    path: str = ""               # the shared library loaded


def _cache_dir() -> Path:
    return Path(os.environ.get("HWMODEL_NATIVE_CACHE") or Path.home() / ".cache" / "hwmodel" / "native")


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


@functools.cache
def load(source: str, flags: tuple[str, ...], supported: str) -> Native:
    """The shared library of ``source`` (a C file beside this module) compiled with ``flags``, if
    its function ``supported`` (no arguments, int) says this CPU can run it."""
    path = _HERE / source
    compiler = _compiler()
    if compiler is None:
        return Native(None, "no C compiler (cc, gcc or $CC) on this machine")
    try:
        version = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return Native(None, f"the C compiler {compiler} does not run: {exc}")
    text = path.read_bytes()
    key = hashlib.sha256(text + "\0".join(flags).encode() + version.encode()).hexdigest()[:20]
    library = _cache_dir() / f"{path.stem}-{key}.so"
    if not library.exists():
        temporary = None
        for directory in (_cache_dir(), None):  # the cache, else a directory of this process's own
            try:
                directory = directory or Path(tempfile.mkdtemp(prefix="hwmodel-native-"))
                directory.mkdir(parents=True, exist_ok=True)
                fd, temporary = tempfile.mkstemp(dir=directory, suffix=".so")
                os.close(fd)
                library = directory / library.name
                break
            except OSError:
                continue
        if temporary is None:
            return Native(None, "no writable directory to compile into")
        try:
            result = subprocess.run([compiler, *flags, "-shared", "-fPIC", "-o", temporary, str(path)],
                                    capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.SubprocessError) as exc:
            os.unlink(temporary)
            return Native(None, f"{compiler} could not compile {source}: {exc}")
        if result.returncode != 0:
            os.unlink(temporary)
            return Native(None, f"{compiler} could not compile {source}: "
                                f"{(result.stderr or result.stdout).strip()[:400]}")
        os.replace(temporary, library)
    try:
        lib = ctypes.CDLL(str(library))
    except OSError as exc:
        return Native(None, f"the compiled {library.name} does not load: {exc}")
    check = getattr(lib, supported)
    check.restype = ctypes.c_int
    if not check():
        return Native(None, f"this CPU lacks the instructions {source} is compiled for ({' '.join(flags)})")
    return Native(lib, "", str(library))
