"""C kernels compiled on first use (rtl.flow.native): cached, and a clear reason where they cannot be had."""

import shutil

import pytest

from rtl.flow import native

GOOD = """int supported(void) { return 1; }
int answer(void) { return 42; }
"""
UNSUPPORTED = "int supported(void) { return 0; }\n"
BROKEN = "int supported(void) { return 1 }\n"

pytestmark = pytest.mark.skipif(native._compiler() is None, reason="needs a C compiler")


@pytest.fixture
def beside(tmp_path, monkeypatch):
    """Sources in a directory of the test's own, compiled into a cache of its own."""
    source = tmp_path / "src"
    source.mkdir()
    monkeypatch.setattr(native, "_HERE", source)
    monkeypatch.setenv("HWMODEL_NATIVE_CACHE", str(tmp_path / "cache"))

    def write(name, text):
        (source / name).write_text(text)
        return native.load.__wrapped__(name, ("-O1",), "supported")
    return write


def test_a_kernel_compiles_once_and_loads_from_the_cache(beside, tmp_path, monkeypatch):
    first = beside("k.c", GOOD)
    assert first.library is not None and first.reason == "" and first.library.answer() == 42
    assert first.path.startswith(str(tmp_path / "cache"))
    monkeypatch.setattr(native.subprocess, "run", _no_compiling(native.subprocess.run))
    again = beside("k.c", GOOD)  # the same source, flags and compiler: nothing compiles
    assert again.path == first.path and again.library.answer() == 42
    changed = beside("k.c", GOOD.replace("42", "43"))  # another source: it would compile again
    assert changed.library is None and "could not compile k.c: compiling again" in changed.reason


def _no_compiling(run):
    def guarded(args, **kwargs):
        if "-shared" in args:
            raise OSError("compiling again")
        return run(args, **kwargs)
    return guarded


def test_a_source_that_does_not_compile_gives_the_compilers_message(beside):
    broken = beside("bad.c", BROKEN)
    assert broken.library is None
    assert "could not compile bad.c" in broken.reason and "bad.c:1" in broken.reason
    assert list((native._cache_dir()).glob("*.so")) == []  # nothing half-written is left


def test_a_cpu_without_the_instructions_is_said_so(beside):
    unsupported = beside("u.c", UNSUPPORTED)
    assert unsupported.library is None and "this CPU lacks the instructions u.c is compiled for (-O1)" \
        in unsupported.reason


def test_no_compiler_and_an_unwritable_cache(beside, tmp_path, monkeypatch):
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("HWMODEL_NATIVE_CACHE", str(blocked / "cache"))  # under a file: not a directory
    fallback = beside("k.c", GOOD)
    assert fallback.library is not None and fallback.library.answer() == 42
    assert not fallback.path.startswith(str(blocked))
    shutil.rmtree(fallback.path.rsplit("/", 1)[0])
    monkeypatch.setattr(native, "_compiler", lambda: None)
    none = beside("k.c", GOOD)
    assert none.library is None and none.reason == "no C compiler (cc, gcc or $CC) on this machine"
