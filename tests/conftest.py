"""Make the project importable when the tests run from a plain checkout."""

import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def stable_seed(*parts) -> int:
    """A seed that is the same in every run (``hash()`` of a str changes per process)."""
    import hashlib
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:4], "little")


def interruptible() -> None:
    """``preexec_fn`` of a subprocess a test interrupts with SIGINT: Ctrl-C's default disposition,
    as a terminal gives it. A suite started in the background by a shell (``&``) hands its
    children SIGINT ignored, and Python then installs no KeyboardInterrupt handler at all."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
