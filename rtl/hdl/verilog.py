"""Verilog emission: one MacSpec → one self-describing Verilog module, written atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path

from amaranth.back import verilog

from rtl.files import atomic_write_text
from rtl.hdl.mac import Mac
from rtl.hdl.spec import BIAS_BITS, MacSpec, standard_specs

__all__ = ["emit_verilog", "write_verilog", "write_standard_set", "atomic_write_text"]

_PORTS = """\
Ports:
  clk    in   clock; everything updates on its rising edge
  rst    in   synchronous, active high: acc <- 0, pipeline emptied
  en     in   1: this cycle's operands are accumulated
  clear  in   1 (with en): start from zero, acc <- 0 (+) sum a_i*b_i
  a      in   {a_bits} bits: lane i in bits [i*{a_width}, (i+1)*{a_width}), {a} codes
  b      in   {b_bits} bits: lane i in bits [i*{b_width}, (i+1)*{b_width}), {b} codes
  acc    out  {acc_bits} bits: the accumulator register, {acc_meaning}{bias_line}"""

_UPDATE = """\
On a rising edge with en = 1: acc <- (clear ? 0 : acc) (+) {sum}, taking effect
{latency} edge(s) after the operands are presented (latency = stages + 1, + the loop's own
registers after the adder's input when it is interleaved)."""

_BLOCK_PORTS = """\
  scale_a, scale_b  in  {scale_bits} bits each: the blocks' {scale} scale codes{sign}
A block of {block} elements arrives over {chunks} enabled cycle(s), {lanes} per cycle. On the
block's last chunk (every {chunks}-th enabled edge) acc <- (clear ? 0 : acc) (+)
X_a*X_b*{unit}sum_block a_i*b_i with one rounding, taking scale_a, scale_b and clear from that
cycle; other enabled edges only add to the block's exact partial sum. NaN scales give NaN.
acc reflects a block {latency} edge(s) after its last chunk is presented."""


_INTERLEAVE = """\
Interleaved: the accumulation loop holds {n} partial sums, one register stage each, and turns
every cycle. The step of cycle c (counted after the pipeline) updates partial sum c mod {n}:
s <- s (+) step with one rounding; a cycle without a step leaves its partial sum unchanged, and
clear (with the step) starts all {n} from +0 (each as it next passes the adder, within {n}
cycles). acc shows each cycle's partial sum {latency} edge(s) after its operands; a dot product
whose last step is at cycle e has its {n} partial sums on acc for cycles e-{last}..e (one per
cycle), and its result is their left fold in that order, one rounding per addition
(rtl.numerics.interleave.reduce_partials), done by whatever reads them."""


_NM = """\
N:M sparse weights ({nm}): a carries {lanes} activations, {groups} group(s) of {m}; b carries the
{products} kept weights, {n} per group in group order, and index their positions, kept weight j in
bits [j*{x}, (j+1)*{x}), a position 0..{last} in its group. Kept weight j of group g multiplies
a[g*{m} + index_j]; the {products} products are summed exactly, as a dense unit's lanes
(rtl.numerics.sparsity.select_activations). A zero weight in a kept slot adds nothing."""


_CODEBOOK = """\
Codebook weights: b carries {bits}-bit indices, lane i in bits [i*{bits}, (i+1)*{bits}), into a
register file of {entries} {fmt} centroid codes; lane i multiplies a_i by table[b_i].
  cb_write  in  1: write cb_data into table[cb_addr] on this edge (lookups this cycle read the
                old entry); rst clears the table to code 0
  cb_addr   in  {bits} bits
  cb_data   in  {width} bits: a {fmt} code (rtl.numerics.codebook.codebook_codes)"""


_ZERO_GATING = """\
Zero-gated: a lane whose a or b is +-0 has both multiplier inputs forced to 0; an enabled step
whose every lane is zero and that does not clear leaves acc as it is (its register's enable,
clocked through an integrated clock gate by synthesis), where an ungated unit would add a zero
(the same) or NaN (0 * Inf, 0 * NaN). rst reaches the register through the same enable
(rtl.hdl.verify.zero_isolation)."""


def _acc_meaning(spec: MacSpec) -> str:
    d = spec.describe()["acc"]
    if d["kind"] == "float":
        ftz = ", subnormal results flushed to zero" if d["flush_to_zero"] else ", with subnormals"
        return (f"IEEE {spec.acc.format.name} bit pattern; one round-to-nearest-even per step{ftz}; "
                f"NaN is the canonical 0x{spec.acc.format.nan_code:X}")
    return (f"two's complement, LSB = 2^{d['lsb_exponent']}, {d['overflow']} on overflow; "
            "NaN/Inf operands add 0")


def _element(spec: MacSpec, side: int) -> str:
    fmt = (spec.a, spec.b)[side]
    return fmt.name if spec.scaling is None else f"{spec.operand_names[side]} element ({fmt.name})"


def emit_verilog(spec: MacSpec) -> str:
    """Verilog text of the module for ``spec``, with a header stating its spec and ports."""
    text = verilog.convert(Mac(spec), name=spec.name, emit_src=False)
    ports = _PORTS.format(
        a_bits=spec.a.bits * spec.lanes, a_width=spec.a.bits, a=_element(spec, 0),
        b_bits=spec.b_port_bits * spec.products, b_width=spec.b_port_bits,
        b=_element(spec, 1) if not spec.codebook_bits else f"codebook index ({spec.b.name} centroids)",
        acc_bits=spec.acc_width, acc_meaning=_acc_meaning(spec),
        bias_line="" if spec.bias == "none" else (
            f"\n  bias   in   {BIAS_BITS} bits, signed: exponent offset added to every product (the operands' "
            "scale powers of two), presented with its operands"))
    header = ["// Generated by hwmodel: a multiply-accumulate unit, bit-exact with rtl.numerics.arith.",
              "// Spec: " + json.dumps(spec.describe(), sort_keys=True)]
    if spec.scaling is not None:
        scaling = spec.scaling
        header[0] = "// Generated by hwmodel: a block-scaled dot-product unit, bit-exact with rtl.numerics.blocks."
        ports += "\n" + _BLOCK_PORTS.format(
            scale_bits=scaling.scale_format.bits, scale=scaling.scale_format.name, block=scaling.block_size,
            chunks=spec.chunks, lanes=spec.lanes, latency=spec.latency,
            sign=" (the sign bit is not read)" if not scaling.a.power_of_two_scale else "",
            unit=f"2^{scaling.element_scale_exponent}*" if scaling.element_scale_exponent else "")
    else:
        ports += "\n" + _UPDATE.format(latency=spec.latency,
                                       sum="sum_i a_i*b_i" if spec.bias == "none" else "sum_i a_i*b_i*2^bias")
    if spec.nm:
        n, m = spec.nm_pattern
        ports = ports.replace("  acc    out", f"  index  in   {spec.index_bits * spec.products} bits: kept weight j's "
                                                f"position in bits [j*{spec.index_bits}, (j+1)*{spec.index_bits})\n"
                                                "  acc    out")
        ports += "\n" + _NM.format(nm=spec.nm, lanes=spec.lanes, groups=spec.lanes // m, m=m, n=n,
                                   products=spec.products, x=spec.index_bits, last=m - 1)
    if spec.codebook_bits:
        ports += "\n" + _CODEBOOK.format(bits=spec.codebook_bits, entries=1 << spec.codebook_bits, fmt=spec.b.name,
                                         width=spec.b.bits)
    if spec.zero_gating:
        ports += "\n" + _ZERO_GATING
    if spec.interleave > 1:
        ports += "\n" + _INTERLEAVE.format(n=spec.interleave, latency=spec.latency, last=spec.interleave - 1)
    header += ["// " + line for line in ports.splitlines()]
    return "\n".join(header) + "\n" + text


def write_verilog(spec: MacSpec, path: str | os.PathLike) -> Path:
    return atomic_write_text(Path(path), emit_verilog(spec))


def write_standard_set(directory: str | os.PathLike) -> list[Path]:
    """Write every spec of :func:`rtl.hdl.spec.standard_specs` as ``DIR/<module>.v``."""
    directory = Path(directory)
    return [write_verilog(spec, directory / f"{spec.name}.v") for spec in standard_specs()]
