"""Verification of the MAC hardware against the golden arithmetic.

A *stream* is one operand pair per cycle plus the ``en`` / ``clear`` controls. The same stream is
run through :func:`golden_trace` (``rtl.numerics.arith``), :func:`amaranth_trace` (Amaranth's simulator)
and :func:`iverilog_trace` (the emitted Verilog in Icarus Verilog, an independent simulator);
each returns the accumulator register after every cycle, so they compare element by element.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rtl.numerics import arith, blocks, interleave
from rtl.numerics.formats import Format, decode, encode, quantize
from rtl.numerics.codebook import codebook_codes
from rtl.numerics.sparsity import select_activations
from rtl.hdl.spec import BIAS_BITS, MacSpec

__all__ = ["Stream", "zero_isolation", "random_stream", "exhaustive_stream", "exhaustive_block_stream", "scale_sample",
           "golden_trace", "unit_updates", "register_states", "loop_updates", "amaranth_trace",
           "iverilog_trace", "IverilogError"]


class IverilogError(RuntimeError):
    """Icarus Verilog is missing or failed; carries the tail of its output."""


@dataclass(frozen=True, eq=False)
class Stream:
    """Per-cycle inputs: codes of shape (cycles, lanes), controls and the exponent ``bias`` (for
    units that have the port; zeros otherwise) of shape (cycles,); for a block-scaled unit the
    block scale codes ``scale_a`` / ``scale_b`` (cycles,), read on each block's last chunk; for an
    N:M unit ``b`` and ``index`` (cycles, products): the kept weights and their positions; for a
    codebook unit ``b`` holds indices and ``cb_write`` / ``cb_addr`` / ``cb_data`` (cycles,)
    load its table."""

    a: np.ndarray
    b: np.ndarray
    en: np.ndarray
    clear: np.ndarray
    bias: np.ndarray | None = None
    scale_a: np.ndarray | None = None
    scale_b: np.ndarray | None = None
    index: np.ndarray | None = None
    cb_write: np.ndarray | None = None
    cb_addr: np.ndarray | None = None
    cb_data: np.ndarray | None = None

    def __post_init__(self):
        dense = self.index is None
        if self.a.ndim != 2 or self.b.ndim != 2 or len(self.a) != len(self.b) \
                or (dense and self.a.shape != self.b.shape) or (not dense and self.index.shape != self.b.shape):
            raise ValueError(f"a and b must both have shape (cycles, lanes) (an N:M unit: b and index "
                             f"(cycles, products)), got {self.a.shape} and {self.b.shape}")
        if self.en.shape != self.a.shape[:1] or self.clear.shape != self.a.shape[:1]:
            raise ValueError("en and clear need one entry per cycle")
        if self.bias is None:
            object.__setattr__(self, "bias", np.zeros(len(self.a), np.int64))
        if self.bias.shape != self.a.shape[:1]:
            raise ValueError("bias needs one entry per cycle")
        for name in ("scale_a", "scale_b", "cb_write", "cb_addr", "cb_data"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, np.zeros(len(self.a), np.int64))
            if getattr(self, name).shape != self.a.shape[:1]:
                raise ValueError(f"{name} needs one entry per cycle")

    def __len__(self):
        return len(self.a)

    def packed(self, spec: MacSpec) -> tuple[list[int], list[int]]:
        """Operand words with lane i in bits [i·w, (i+1)·w)."""
        return _pack(self.a, spec.a.bits), _pack(self.b, spec.b_port_bits)

    def packed_index(self, spec: MacSpec) -> list[int]:
        """The ``index`` port's words (zeros for a dense unit)."""
        return [0] * len(self) if self.index is None else _pack(self.index, spec.index_bits)


def _pack(codes: np.ndarray, width: int) -> list[int]:
    """One word per row of ``codes`` (cycles, lanes), lane i in bits [i·width, (i+1)·width)."""
    shifts = [i * width for i in range(codes.shape[1])]
    return [sum(int(c) << s for c, s in zip(row, shifts)) for row in codes]


def _interesting_codes(fmt: Format) -> np.ndarray:
    """Zero, extremes, smallest magnitudes, ±1 and the specials of a format."""
    values = [0.0, fmt.max_value, -fmt.max_value, fmt.min_subnormal, -fmt.min_subnormal,
              fmt.min_normal, -fmt.min_normal, 1.0, -1.0, fmt.min_value]
    values = [v for v in values if fmt.min_value <= v <= fmt.max_value]
    codes = list(encode(np.array(values), fmt))
    if fmt.has_nan:
        codes.append(fmt.nan_code)
    if fmt.has_inf:
        codes += list(encode(np.array([np.inf, -np.inf]), fmt))
    if fmt.has_negative_zero:
        codes.append(1 << (fmt.bits - 1))
    return np.array(codes, dtype=np.int64)


def _draw(fmt: Format, rng: np.random.Generator, shape) -> np.ndarray:
    """Codes mixing uniform codes, interesting codes and tiny / huge magnitudes, few NaNs."""
    uniform = rng.integers(0, 1 << fmt.bits, shape)
    special = rng.choice(_interesting_codes(fmt), shape)
    magnitude = np.exp2(rng.uniform(np.log2(fmt.min_subnormal), np.log2(fmt.max_magnitude), shape))
    if fmt.signed:
        magnitude *= rng.choice([-1.0, 1.0], shape)
    ranged = quantize(magnitude, fmt)
    pick = rng.random(shape)
    codes = np.where(pick < 0.45, uniform, np.where(pick < 0.6, special, ranged))
    values = decode(codes, fmt)
    nan = np.isnan(values) & (rng.random(shape) > 0.02)  # keep NaN rare so accumulations run on
    return np.where(nan, ranged, codes).astype(np.int64)


def random_stream(spec: MacSpec, cycles: int, seed: int = 0) -> Stream:
    """Random operands with cancellations (a product followed by its negation), clears every few
    dozen cycles and ``en`` low one cycle in ten."""
    rng = np.random.default_rng(seed)
    shape = (cycles, spec.lanes)
    a, b = _draw(spec.a, rng, shape), _draw(spec.b, rng, shape)
    bias = _draw_bias(spec, rng, cycles)
    scale_a, scale_b = _draw_scales(spec, rng, cycles), _draw_scales(spec, rng, cycles)
    if spec.scaling is not None:  # a block has up to 32 elements: keep Inf / NaN elements to a few blocks in 100
        for codes, fmt in ((a, spec.a), (b, spec.b)):
            special = ~np.isfinite(decode(codes, fmt)) & (rng.random(shape) > 0.1 / spec.scaling.block_size)
            codes[special] = 0
    if spec.a.signed:  # cancellation: repeat the previous step with a negated
        cancel = np.flatnonzero(rng.random(cycles) < 0.08)
        cancel = cancel[cancel > 0]
        negated = quantize(-decode(a[cancel - 1], spec.a), spec.a, saturate=False)
        keep_nan = np.isnan(decode(a[cancel - 1], spec.a))
        a[cancel] = np.where(keep_nan, a[cancel - 1], negated)
        b[cancel] = b[cancel - 1]
        bias[cancel] = bias[cancel - 1]
    index = None
    if spec.nm:  # kept weights at distinct positions of each group, in order
        n, m = spec.nm_pattern
        groups = spec.lanes // m
        index = np.sort(np.argsort(rng.random((cycles, groups, m)), axis=-1)[..., :n], axis=-1)
        index = index.reshape(cycles, groups * n)
        b = b[:, :spec.products]
    book = {}
    if spec.codebook_bits:  # load every entry first, then rewrite one now and then, mid-stream
        entries = 1 << spec.codebook_bits
        write = (np.arange(cycles) < entries) | (rng.random(cycles) < 0.03)
        address = np.where(np.arange(cycles) < entries, np.arange(cycles) % entries, rng.integers(0, entries, cycles))
        book = {"cb_write": write, "cb_addr": address, "cb_data": _draw(spec.b, rng, (cycles,))}
        b = rng.integers(0, entries, (cycles, spec.products))
    return Stream(a, b, rng.random(cycles) > 0.1, rng.random(cycles) < 0.04 * spec.chunks, bias, scale_a, scale_b,
                  index, **book)


def scale_sample(spec: MacSpec) -> np.ndarray:
    """Block scale codes worth trying: E8M0 1, its neighbours, the extremes 2**±127 and NaN;
    E4M3 1, the smallest and largest magnitudes, zero, a negative code (its sign unread) and
    NaN. Empty for a unit without block scales."""
    if spec.scaling is None:
        return np.zeros(0, np.int64)
    if spec.scaling.a.power_of_two_scale:
        return np.array([127, 126, 128, 100, 150, 0, 254, 0xFF], np.int64)
    return np.array([0x38, 0x01, 0x7E, 0x00, 0xB8, 0x30, 0x44, 0x7F], np.int64)


def _draw_scales(spec: MacSpec, rng: np.random.Generator, cycles: int) -> np.ndarray:
    """Scale codes: mostly near 1 (a tensor's blocks), the sample's extremes and NaN now and then."""
    if spec.scaling is None:
        return np.zeros(cycles, np.int64)
    if spec.scaling.a.power_of_two_scale:
        near = rng.integers(112, 142, cycles)
    else:
        near = rng.integers(0x20, 0x58, cycles)
    return np.where(rng.random(cycles) < 0.08, rng.choice(scale_sample(spec), cycles), near).astype(np.int64)


def _draw_bias(spec: MacSpec, rng: np.random.Generator, cycles: int) -> np.ndarray:
    """Offsets a tensor's scales give (two scale exponents of −12 … 2 each), held for runs of
    cycles as one output's accumulation holds them, with the port's extremes now and then."""
    if spec.bias == "none":
        return np.zeros(cycles, np.int64)
    low, high = spec.bias_range
    runs = np.repeat(rng.integers(-24, 5, -(-cycles // 16)), 16)[:cycles]
    extreme = rng.random(cycles) < 0.02
    return np.where(extreme, rng.choice([low, high, low + 1, high - 1], cycles), runs).astype(np.int64)


def exhaustive_stream(spec: MacSpec, biases=(0,)) -> Stream:
    """Every operand pair once (lane 0; other lanes zero) per exponent offset in ``biases``,
    each from a cleared accumulator."""
    na, nb = 1 << spec.a.bits, 1 << spec.b.bits
    if spec.bias == "none" and any(biases):
        raise ValueError(f"{spec.name} has no bias port")
    spec.check_bias(np.asarray(biases, np.int64))
    n = na * nb * len(biases)
    a = np.zeros((n, spec.lanes), np.int64)
    b = np.zeros_like(a)
    a[:, 0] = np.tile(np.repeat(np.arange(na), nb), len(biases))
    b[:, 0] = np.tile(np.arange(nb), na * len(biases))
    ones = np.ones(n, bool)
    return Stream(a, b, ones, ones.copy(), np.repeat(np.asarray(biases, np.int64), na * nb))


def exhaustive_block_stream(spec: MacSpec, *, seed: int = 0) -> Stream:
    """Every element pair once, in a random lane of a one-chunk block (the other lanes random
    too), each block from a cleared register, under scale pairs cycling through the finite
    scales of :func:`scale_sample` on both sides (every pair of them meets many element pairs;
    NaN scales, which would hide the elements, are left to the random streams)."""
    if spec.scaling is None or spec.chunks != 1:
        raise ValueError(f"{spec.name}: an exhaustive block stream needs a block-scaled unit taking a whole "
                         "block a cycle (lanes = block size)")
    rng = np.random.default_rng(seed)
    na, nb = 1 << spec.a.bits, 1 << spec.b.bits
    n = na * nb
    a, b = _draw(spec.a, rng, (n, spec.lanes)), _draw(spec.b, rng, (n, spec.lanes))
    lane = rng.integers(0, spec.lanes, n)
    a[np.arange(n), lane] = np.repeat(np.arange(na), nb)
    b[np.arange(n), lane] = np.tile(np.arange(nb), na)
    sample = scale_sample(spec)
    sample = sample[~blocks.scale_parts(spec.scaling.scale_format, sample)[2]]  # NaN scales hide the elements
    pairs = np.arange(n) % (len(sample) ** 2)
    ones = np.ones(n, bool)
    return Stream(a, b, ones, ones.copy(), None, sample[pairs // len(sample)], sample[pairs % len(sample)])


def unit_updates(spec: MacSpec, a, b, *, clear=None, enable=None, bias=0, scale_a=None, scale_b=None, index=None,
                 codebook=None):
    """What each cycle asks of the unit's accumulation loop (see
    :func:`rtl.numerics.arith.step_updates`): codes ``a`` / ``b`` of shape (cycles, …, lanes),
    the extra axes many units side by side; the block scales for a block-scaled unit; for an
    N:M unit ``b`` and ``index`` (cycles, …, products), each kept weight meeting the activation
    its index selects; for a codebook unit ``b`` the indices and ``codebook`` its load port
    (write, address, data: :func:`rtl.numerics.codebook.codebook_codes`)."""
    if spec.nm:
        a = select_activations(a, index, *spec.nm_pattern)
    if spec.codebook_bits:
        b = codebook_codes(b, *codebook, spec.codebook_bits)
    if spec.zero_gating:
        a, b, hold = zero_isolation(spec, a, b, clear)
        return _holding(arith.step_updates(spec.acc, spec.a, a, spec.b, b, clear=clear, enable=enable, bias=bias),
                        hold)
    if spec.scaling is not None:
        return blocks.block_updates(spec.acc, spec.scaling, a, b, scale_a, scale_b, clear=clear, enable=enable)
    return arith.step_updates(spec.acc, spec.a, a, spec.b, b, clear=clear, enable=enable, bias=bias)


def zero_isolation(spec: MacSpec, a, b, clear=None):
    """A zero-gated unit's view of its operands: every lane whose a or b value is ±0 has both
    forced to code 0 (+0), and ``hold`` (cycles, …) marks the steps whose lanes are all zero and
    that do not clear — the register keeps its state on them (an ungated unit would add a zero,
    the same, or NaN for 0 × Inf or 0 × NaN)."""
    a, b = np.broadcast_arrays(np.asarray(a), np.asarray(b))
    zero = (decode(a, spec.a) == 0) | (decode(b, spec.b) == 0)
    clears = np.zeros(len(a), bool) if clear is None else np.asarray(clear, bool)
    hold = zero.all(-1) & ~clears.reshape((-1,) + (1,) * (zero.ndim - 2))
    return np.where(zero, 0, a), np.where(zero, 0, b), hold


def _holding(updates, hold):
    """Updates that leave the register's state where ``hold`` marks the step."""
    for t, update in enumerate(updates):
        if update is None or not hold[t].any():
            yield update
            continue
        clear, add = update
        yield clear, (lambda state, add=add, keep=hold[t]: np.where(keep, state, add(state)))


def register_states(spec: MacSpec, shape, updates):
    """The ``acc`` register after every cycle of ``updates``: one register, or for an
    interleaved unit the partial sum each cycle updated (:mod:`rtl.numerics.interleave`)."""
    if spec.interleave > 1:
        return interleave.ring_steps(spec.acc, spec.interleave, shape, updates)
    return arith.fold(spec.acc, shape, updates)


def loop_updates(spec: MacSpec, stream: Stream):
    """:func:`unit_updates` for a :class:`Stream`."""
    return unit_updates(spec, stream.a, stream.b, clear=stream.clear, enable=stream.en, bias=stream.bias,
                        scale_a=stream.scale_a, scale_b=stream.scale_b, index=stream.index,
                        codebook=(stream.cb_write, stream.cb_addr, stream.cb_data))


def golden_trace(spec: MacSpec, stream: Stream) -> np.ndarray:
    """The accumulator register (as an unsigned bit pattern) after every cycle: for an
    interleaved unit, the partial sum the cycle updated (:mod:`rtl.numerics.interleave`)."""
    mask = (1 << spec.acc_width) - 1
    if spec.chunks == 1 and stream.en.all() and stream.clear.all() and not spec.codebook_bits \
            and not spec.zero_gating:
        # independent steps (an interleaved loop clears each partial sum too): one vectorized call
        zero = arith.zeros(spec.acc, (len(stream),))
        if spec.scaling is not None:
            states = blocks.block_accumulate(spec.acc, spec.scaling, zero, stream.a, stream.b, stream.scale_a,
                                             stream.scale_b)
        else:
            a = stream.a if not spec.nm else select_activations(stream.a, stream.index, *spec.nm_pattern)
            states = arith.accumulate(spec.acc, zero, arith.exact_products(spec.a, a, spec.b, stream.b), stream.bias)
    else:
        states = register_states(spec, (), loop_updates(spec, stream))
    return np.array([int(state) & mask for state in states], dtype=object)


def amaranth_trace(spec: MacSpec, stream: Stream) -> np.ndarray:
    """Run the stream through the Amaranth simulation of :class:`rtl.hdl.mac.Mac`."""
    from amaranth.sim import Simulator

    from rtl.hdl.mac import Mac

    dut = Mac(spec)
    a_words, b_words = stream.packed(spec)
    index = stream.packed_index(spec)
    en, clear, bias = stream.en.tolist(), stream.clear.tolist(), stream.bias.tolist()
    has_bias, has_scales = spec.bias != "none", spec.scaling is not None
    scale_a, scale_b = stream.scale_a.tolist(), stream.scale_b.tolist()
    out = []
    cycles = len(stream)

    async def testbench(ctx):
        for t in range(cycles + spec.latency - 1):
            if t < cycles:
                ctx.set(dut.a, a_words[t])
                ctx.set(dut.b, b_words[t])
                ctx.set(dut.en, en[t])
                ctx.set(dut.clear, clear[t])
                if has_bias:
                    ctx.set(dut.bias, bias[t])
                if has_scales:
                    ctx.set(dut.scale_a, scale_a[t])
                    ctx.set(dut.scale_b, scale_b[t])
                if spec.nm:
                    ctx.set(dut.index, index[t])
                if spec.codebook_bits:
                    ctx.set(dut.cb_write, int(stream.cb_write[t]))
                    ctx.set(dut.cb_addr, int(stream.cb_addr[t]))
                    ctx.set(dut.cb_data, int(stream.cb_data[t]))
            else:
                ctx.set(dut.en, 0)
                if spec.codebook_bits:
                    ctx.set(dut.cb_write, 0)
            await ctx.tick()
            if t >= spec.latency - 1:
                out.append(ctx.get(dut.acc))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return np.array(out, dtype=object)


_TESTBENCH = """\
`timescale 1ns/1ps
module hwmodel_tb;
  reg clk = 0, rst = 1, en = 0, clear = 0;
  reg [{aw}-1:0] a = 0;
  reg [{bw}-1:0] b = 0;
  wire [{accw}-1:0] acc;
  reg [{bias_bits}-1:0] bias = 0;
  reg [7:0] scale_a = 0, scale_b = 0;
  reg [{xw}-1:0] index = 0;
  reg cb_write = 0;
  reg [{kw}-1:0] cb_addr = 0;
  reg [{dw}-1:0] cb_data = 0;
  reg [{vw}-1:0] vectors [0:{n}-1];
  integer t, fd;
  {module} dut (.clk(clk), .rst(rst), .en(en), .clear(clear), .a(a), .b(b), .acc(acc){bias_port}{scale_ports}{index_port}{codebook_ports});
  initial begin
    $readmemh("{vectors}", vectors);
    fd = $fopen("{out}", "w");
    #1 clk = 1; #1 clk = 0; rst = 0;
    for (t = 0; t < {n} + {latency} - 1; t = t + 1) begin
      if (t < {n}) {{cb_write, cb_addr, cb_data, index, scale_a, scale_b, bias, en, clear, a, b}} = vectors[t];
      else begin en = 0; cb_write = 0; end
      #1 clk = 1;
      #1 if (t >= {latency} - 1) $fwrite(fd, "%h\\n", acc);
      clk = 0;
    end
    $fclose(fd);
    $finish;
  end
endmodule
"""


def iverilog_trace(spec: MacSpec, stream: Stream, verilog_text: str | None = None) -> np.ndarray:
    """Run the stream through the emitted Verilog in Icarus Verilog (``iverilog`` + ``vvp``)."""
    from rtl.hdl.verilog import emit_verilog

    if shutil.which("iverilog") is None or shutil.which("vvp") is None:
        raise IverilogError("iverilog/vvp not found on PATH (Debian: apt-get install iverilog)")
    verilog_text = verilog_text or emit_verilog(spec)
    a_words, b_words = stream.packed(spec)
    index = stream.packed_index(spec)
    aw, bw = spec.a.bits * spec.lanes, spec.b_port_bits * spec.products
    xw = max(1, spec.index_bits * spec.products)
    kw, dw = max(1, spec.codebook_bits), spec.b.bits
    with tempfile.TemporaryDirectory(prefix="hwmodel-iverilog-") as tmp:
        tmp = Path(tmp)
        (tmp / "dut.v").write_text(verilog_text)
        field = (1 << BIAS_BITS) - 1  # two's complement in the port's width
        top = aw + bw + 2 + BIAS_BITS
        book = [(int(w) << (kw + dw)) | (int(k) << dw) | int(d)
                for w, k, d in zip(stream.cb_write, stream.cb_addr, stream.cb_data)]
        lines = [f"{(q << (top + 16 + xw)) | (i << (top + 16)) | (int(sa) << (top + 8)) | (int(sb) << top) | ((int(o) & field) << (aw + bw + 2)) | (int(e) << (aw + bw + 1)) | (int(c) << (aw + bw)) | (x << bw) | y:x}"
                 for q, i, sa, sb, o, e, c, x, y in zip(book, index, stream.scale_a, stream.scale_b, stream.bias,
                                                        stream.en, stream.clear, a_words, b_words)]
        (tmp / "vectors.hex").write_text("\n".join(lines) + "\n")
        (tmp / "tb.v").write_text(_TESTBENCH.format(
            aw=aw, bw=bw, accw=spec.acc_width, vw=aw + bw + 2 + BIAS_BITS + 16 + xw + 1 + kw + dw, n=len(stream),
            module=spec.name, xw=xw, index_port=", .index(index)" if spec.nm else "", kw=kw, dw=dw,
            codebook_ports=", .cb_write(cb_write), .cb_addr(cb_addr), .cb_data(cb_data)" if spec.codebook_bits else "",
            scale_ports=", .scale_a(scale_a), .scale_b(scale_b)" if spec.scaling is not None else "",
            latency=spec.latency, vectors=tmp / "vectors.hex", out=tmp / "out.hex", bias_bits=BIAS_BITS,
            bias_port=", .bias(bias)" if spec.bias != "none" else ""))
        for cmd in (["iverilog", "-g2005", "-o", str(tmp / "sim"), str(tmp / "tb.v"), str(tmp / "dut.v")],
                    ["vvp", "-n", str(tmp / "sim")]):
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            if run.returncode != 0:
                tail = "\n".join((run.stdout + run.stderr).splitlines()[-20:])
                raise IverilogError(f"{cmd[0]} failed (exit {run.returncode}):\n{tail}")
        values = (tmp / "out.hex").read_text().split()
    if any("x" in v.lower() or "z" in v.lower() for v in values):
        raise IverilogError(f"{spec.name}: the accumulator went undefined (x/z) in simulation")
    return np.array([int(v, 16) for v in values], dtype=object)
