"""Make the project importable when the tests run from a plain checkout."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def stable_seed(*parts) -> int:
    """A seed that is the same in every run (``hash()`` of a str changes per process)."""
    import hashlib
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:4], "little")
