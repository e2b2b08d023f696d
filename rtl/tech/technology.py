"""A cell library as synthesis and energy need it: cell data, liberty text for Yosys, the cells
kept out of mapping, and a digest identifying all three."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from rtl.tech.cells import EMBEDDED_LIBRARIES, CellLibrary, derive_library, load_library, write_minimal_liberty
from rtl.tech.liberty import read_liberty_text
from rtl.errors import FieldError

__all__ = ["Technology", "technology"]


@dataclass(frozen=True, eq=False)
class Technology:
    """A cell library as synthesis and energy need it: cell data, liberty text for Yosys,
    cells kept out of mapping, and a digest identifying all three."""

    name: str
    cells: CellLibrary
    liberty_text: str
    dont_use: tuple[str, ...]
    digest: str


@functools.lru_cache(maxsize=8)
def technology(library: str) -> Technology:
    """An embedded library by name (``sky130hd_tt``, ``nangate45_typ``) or a liberty file path."""
    if library in EMBEDDED_LIBRARIES:
        data = resources.files("rtl.tech").joinpath("data", EMBEDDED_LIBRARIES[library]).read_bytes()
        cells = load_library(library)
        return Technology(library, cells, write_minimal_liberty(cells), (),
                          hashlib.sha256(data).hexdigest())
    path = Path(library)
    if not path.is_file():
        raise FieldError("library", f"library {library!r} is neither an embedded library "
                         f"({', '.join(EMBEDDED_LIBRARIES)}) nor a readable file")
    cells = derive_library(path)
    dont_use = tuple(cells.provenance.get("dont_use", ()))
    text = read_liberty_text(path)
    digest = hashlib.sha256(text.encode() + json.dumps(dont_use).encode()).hexdigest()
    return Technology(path.name, cells, text, dont_use, digest)
