"""Codebook (clustered-weight) operands: weights stored as k-bit indices into a table of 2^k
centroids.

A codebook unit holds its centroids — codes of the weight format — in a register file it is
loaded with one entry per cycle (``write``, ``address``, ``data``); each lane's k-bit index
selects the centroid its multiplier sees. A write at cycle t takes effect from cycle t + 1 (the
lookups of cycle t read the table before it), and the table starts at code 0 (reset clears it).
The arithmetic after the lookup is the MAC's own, so :func:`codebook_codes` turns a stream of
indices into the codes the golden model multiplies.
"""

from __future__ import annotations

import numpy as np

from rtl.errors import FieldError
from rtl.numerics.formats import Format, finite_values, get_format

__all__ = ["CODEBOOK_BITS", "codebook_codes", "check_codebook"]

CODEBOOK_BITS = (2, 3, 4, 5, 6)
"""Index widths a codebook unit takes (4 to 64 centroids)."""


def check_codebook(bits, centroids: Format | str) -> None:
    """``bits``: 0 (no codebook) or one of :data:`CODEBOOK_BITS`, with no more entries than the
    ``centroids`` format has values (a 4-bit codebook of int4_sym's 15 would hold a duplicate)."""
    if isinstance(bits, bool) or not isinstance(bits, int) or (bits and bits not in CODEBOOK_BITS):
        raise FieldError("codebook_bits", f"codebook_bits must be 0 (no codebook) or one of {CODEBOOK_BITS}, not "
                                          f"{bits!r}", bits)
    fmt = get_format(centroids)
    values = len(finite_values(fmt)) if bits and fmt.bits <= 16 else None
    if values is not None and (1 << bits) > values:
        raise FieldError("codebook_bits", f"a {bits}-bit codebook holds {1 << bits} centroids but {fmt.name} has only "
                                          f"{values} values: use fewer bits or a wider centroid format", bits)


def codebook_codes(index, write, address, data, bits: int) -> np.ndarray:
    """The centroid codes each cycle's lookups read.

    ``index`` (cycles, …, lanes) k-bit indices; ``write`` (cycles,) and ``address`` (cycles,) the
    load port; ``data`` (cycles, …) the entry written (one per unit side by side in ``…``).
    Returns the codes, shaped like ``index``.
    """
    index = np.asarray(index, dtype=np.int64)
    write = np.asarray(write, dtype=bool)
    address = np.asarray(address, dtype=np.int64)
    data = np.asarray(data, dtype=np.int64)
    entries = 1 << bits
    if index.size and (index.min() < 0 or index.max() >= entries):
        raise ValueError(f"a {bits}-bit codebook has entries 0..{entries - 1}; an index is out of range")
    if write.shape != index.shape[:1] or address.shape != index.shape[:1] or data.shape != index.shape[:-1]:
        raise ValueError(f"write and address need shape (cycles,), data (cycles, …) = {index.shape[:-1]}, not "
                         f"{write.shape}, {address.shape}, {data.shape}")
    if address[write].size and (address[write].min() < 0 or address[write].max() >= entries):
        raise ValueError(f"a {bits}-bit codebook has entries 0..{entries - 1}; a write address is out of range")
    table = np.zeros(index.shape[1:-1] + (entries,), np.int64)
    out = np.empty_like(index)
    for t in range(len(index)):
        out[t] = np.take_along_axis(table, index[t], axis=-1)
        if write[t]:
            table[..., address[t]] = data[t]
    return out
