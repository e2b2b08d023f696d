"""Data-dependent energy of a synthesized MAC: named operand streams through its gate netlist.

Energy of a run = Σ over nets of transitions × (internal energy of the driving cell + internal
energy of the receiving pins + ½·C_load·V²) + clock energy (every flip-flop's clock pin, two
transitions a cycle) + leakage × time. The stream drives ``streams`` independent copies of the
unit (64 per machine word), each accumulating ``accumulation`` steps between clears, and the
accumulators reached at the end are checked against the golden arithmetic, so the energy comes
from a netlist proven to compute the right numbers.

The zero-delay simulation counts a net's transitions where it settles, once a cycle at most.
With ``glitches`` (a timer's name) the first :data:`GLITCH_STREAMS` streams run again through the
glitch-aware simulation (:mod:`rtl.flow.timedsim`, that timer's rise and fall delays), which
counts every transition, and the transitions beyond the settled ones — the glitches — are
accounted the same way per MAC of those streams (:attr:`EnergyReport.glitch_pj_per_mac`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np

from rtl.numerics.formats import Format, decode, quantize
from rtl.flow.gatesim import GateNetlist, pack_bits
from rtl.flow.timedsim import TimedNetlist
from rtl.numerics.scaling import choose_scale, quantize_mx, split_scale
from rtl.numerics.sparsity import compress_nm, nm_mask
from rtl.hdl.spec import BIAS_BITS, MacSpec
from rtl.hdl.verify import register_states, unit_updates

__all__ = ["OperandStream", "make_stream", "EnergyReport", "measure_energy", "account_energy", "glitch_energy_pj",
           "STREAM_KINDS", "NAMED_STREAMS", "GLITCH_STREAMS"]

NAMED_STREAMS = ("uniform", "gaussian", "laplace", "student_t")
"""Streams a name fully describes (a CLI flag or a sweep key can ask for them)."""
STREAM_KINDS = NAMED_STREAMS + ("tensor",)
GLITCH_STREAMS = 256
"""Streams the glitch-aware simulation runs (of the zero-delay simulation's 4096 by default):
a transition there costs ~40× one of the bit-parallel zero-delay simulator, and 256 streams of
a few dozen cycles put the glitch energy within a per cent or two."""


@dataclass(frozen=True, eq=False)
class OperandStream:
    """Codes for ``cycles`` steps of ``streams`` independent units: a and b of shape
    (cycles, streams, lanes); ``clear`` of shape (cycles,) starts a new accumulation; ``bias``
    is the exponent offset a unit with a bias port is given (the two scales' powers of two);
    ``scale_a`` / ``scale_b`` (cycles, streams) the block scale codes of a block-scaled unit;
    ``index`` (cycles, streams, products) the kept weights' positions of an N:M unit, whose ``b``
    holds the kept weights only; ``codebook`` (entries, streams) the centroid codes a codebook unit
    is loaded with before the stream, whose ``b`` then holds indices."""

    name: str
    a: np.ndarray
    b: np.ndarray
    clear: np.ndarray
    key: str
    bias: int = 0
    scale_a: np.ndarray | None = None
    scale_b: np.ndarray | None = None
    index: np.ndarray | None = None
    codebook: np.ndarray | None = None

    def __post_init__(self):
        expected = self.a.shape if self.index is None else self.index.shape
        if self.a.ndim != 3 or self.b.shape != expected or self.a.shape[:2] != self.b.shape[:2]:
            raise ValueError(f"stream {self.name}: a and b must have shape (cycles, streams, lanes) (an N:M "
                             f"unit's b and index: (cycles, streams, products)), got {self.a.shape} and "
                             f"{self.b.shape}")
        if self.a.shape[1] % 64:
            raise ValueError(f"stream {self.name}: streams must be a multiple of 64, not {self.a.shape[1]}")
        if self.clear.shape != self.a.shape[:1]:
            raise ValueError(f"stream {self.name}: clear needs one entry per cycle")

    @property
    def macs(self) -> int:
        """Products computed (an N:M unit's kept weights, not the positions they skip)."""
        return int(np.prod(self.b.shape))


def _values(kind: str, rng, shape, tensor) -> np.ndarray:
    if kind == "uniform":
        return None
    if kind == "gaussian":
        return rng.standard_normal(shape)
    if kind == "laplace":
        return rng.laplace(size=shape)
    if kind == "student_t":
        return rng.standard_t(3, shape)
    flat = np.asarray(tensor, dtype=np.float64).reshape(-1)
    if flat.size == 0 or not np.isfinite(flat).all():
        raise ValueError("a tensor stream needs a non-empty array of finite values")
    return flat[rng.integers(0, flat.size, shape)]


def _codes(fmt: Format, kind: str, rng, shape, tensor, sparsity: float) -> tuple[np.ndarray, int]:
    """(codes, the power of two of their scale — 0 for uniform codes, which have none)."""
    values = _values(kind, rng, shape, tensor)
    exponent = 0
    if values is None:  # uniform random codes, excluding NaN codes so accumulations run on
        codes = rng.integers(0, 1 << fmt.bits, shape)
        bad = ~np.isfinite(decode(codes, fmt))
        codes[bad] = 0
    else:
        source = np.asarray(tensor, dtype=np.float64).reshape(-1) if kind == "tensor" else values.reshape(-1)[:65536]
        scale = choose_scale(source, fmt, "mse")
        codes = quantize(values, fmt, scale)
        exponent = int(split_scale(scale)[0])
    if sparsity:
        zero = quantize(np.zeros(1), fmt)[0]
        codes = np.where(rng.random(shape) < sparsity, zero, codes)
    return codes.astype(np.int64), exponent


def make_stream(spec: MacSpec, kind: str = "uniform", *, macs: int = 1 << 18, streams: int = 4096,
                accumulation: int = 64, sparsity: float = 0.0, seed: int = 0,
                a_values=None, b_values=None, b_sparsity: float = 0.0) -> OperandStream:
    """A named operand stream for ``spec``.

    ``uniform``: random codes; ``gaussian`` / ``laplace`` / ``student_t`` (ν = 3): values
    quantized with their MSE-optimal per-tensor scale; ``tensor``: values drawn from the given
    arrays (``a_values`` weights, ``b_values`` activations) and quantized the same way.
    ``sparsity`` is the fraction of ``a`` operands replaced by zero, ``b_sparsity`` the fraction
    of ``b`` operands (pruned weights; a codebook unit's pruned weights index its entry 0, which
    then holds zero). Each unit clears its
    accumulator every ``accumulation`` steps. An N:M unit's weights are drawn dense and pruned
    to N:M by magnitude (:func:`rtl.numerics.sparsity.nm_mask`, the kept ones by
    :func:`~rtl.numerics.sparsity.compress_nm`); ``macs``
    counts the products it computes.
    """
    if kind not in STREAM_KINDS:
        raise ValueError(f"stream kind must be one of {STREAM_KINDS}, not {kind!r}")
    if kind == "tensor" and (a_values is None or b_values is None):
        raise ValueError("a tensor stream needs a_values and b_values")
    for name, value in (("sparsity", sparsity), ("b_sparsity", b_sparsity)):
        if not 0 <= value < 1:
            raise ValueError(f"{name} must be in [0, 1), not {value!r}")
    if b_sparsity and spec.nm:
        raise ValueError(f"an {spec.nm} unit's weights are pruned by its pattern; b_sparsity does not apply")
    if streams % 64 or streams <= 0:
        raise ValueError(f"streams must be a positive multiple of 64, not {streams!r}")
    if accumulation < 1:
        raise ValueError(f"accumulation must be at least 1, not {accumulation!r}")
    cycles = max(1, -(-macs // (streams * spec.products)))
    cycles = -(-cycles // spec.chunks) * spec.chunks  # whole blocks
    rng = np.random.default_rng(seed)
    shape = (cycles, streams, spec.lanes)
    scales = {}
    if spec.scaling is not None:
        (a, scales["scale_a"]), (b, scales["scale_b"]) = (
            _block_codes(spec, mx, kind, rng, shape, values, s)
            for mx, values, s in ((spec.scaling.a, a_values, sparsity), (spec.scaling.b, b_values, b_sparsity)))
        bias = 0
    else:
        a, a_exponent = _codes(spec.a, kind, rng, shape, a_values, sparsity)
        b, b_exponent = _codes(spec.b, kind, rng, shape, b_values, 0.0 if spec.codebook_bits else b_sparsity)
        bias = a_exponent + b_exponent if spec.bias != "none" else 0
    index = codebook = None
    if spec.nm:
        b, index = _prune(spec, b)
    if spec.codebook_bits:  # centroids drawn like the weights themselves, indices uniform
        entries = 1 << spec.codebook_bits
        codebook, _ = _codes(spec.b, kind if kind != "tensor" else "uniform", rng, (entries, streams), None, 0.0)
        b = rng.integers(0, entries, shape[:-1] + (spec.products,))
        if b_sparsity:
            codebook[0] = quantize(np.zeros(1), spec.b)[0]
            b = np.where(rng.random(shape) < b_sparsity, 0, b)
    # a block unit reads clear on a block's last chunk: every chunk of the block carries it
    clear = ((np.arange(cycles) // spec.chunks) % max(1, accumulation // spec.chunks)) == 0
    params = {"kind": kind, "macs": macs, "streams": streams, "accumulation": accumulation,
              "sparsity": sparsity, "seed": seed, "a": spec.a.name, "b": spec.b.name, "lanes": spec.lanes}
    if b_sparsity:  # only streams with zero weights carry the key, so the others hash as before
        params["b_sparsity"] = b_sparsity
    if kind == "tensor":
        params["tensors"] = hashlib.sha256(np.ascontiguousarray(a_values, dtype=np.float64).tobytes()
                                           + np.ascontiguousarray(b_values, dtype=np.float64).tobytes()).hexdigest()
    name = kind + (f"_sparsity{sparsity:g}" if sparsity else "") + (f"_bsparsity{b_sparsity:g}" if b_sparsity else "")
    params["bias"] = bias
    if spec.scaling is not None:
        params["scaling"] = spec.scaling.describe()
    if spec.nm:  # only N:M streams carry the key, so dense ones hash as before
        params["nm"] = spec.nm
    if spec.codebook_bits:
        params["codebook_bits"] = spec.codebook_bits
    return OperandStream(name, a, b, clear, hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest(),
                         bias, **scales, index=index, codebook=codebook)


def _prune(spec: MacSpec, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense weight codes (…, lanes) pruned to the unit's N:M by magnitude (ties: the earlier
    position): (kept codes, their positions), each (…, products)."""
    n, m = spec.nm_pattern
    magnitude = np.abs(np.nan_to_num(decode(b, spec.b), nan=np.inf))
    return compress_nm(b, n, m, keep=nm_mask(magnitude, n, m))


def _block_codes(spec: MacSpec, mx, kind: str, rng, shape, tensor, sparsity: float):
    """(element codes (cycles, streams, lanes), scale codes (cycles, streams)) for a block unit:
    each unit's block is ``chunks`` consecutive cycles of its lanes, quantized as the format
    does (uniform: random codes under scales near 1)."""
    cycles, streams, lanes = shape
    values = _values(kind, rng, shape, tensor)
    if values is None:
        codes = rng.integers(0, 1 << mx.element.bits, shape)
        codes[~np.isfinite(decode(codes, mx.element))] = 0
        block_scales = (rng.integers(120, 135, (cycles // spec.chunks, streams)) if mx.power_of_two_scale
                        else rng.integers(0x30, 0x48, (cycles // spec.chunks, streams)))
    else:
        # (blocks, chunks, streams, lanes) → one row of chunks·lanes elements per (block, stream)
        grouped = values.reshape(cycles // spec.chunks, spec.chunks, streams, lanes).transpose(0, 2, 1, 3)
        q = quantize_mx(grouped.reshape(-1, spec.chunks * lanes), mx)
        codes = q.codes.reshape(cycles // spec.chunks, streams, spec.chunks, lanes).transpose(0, 2, 1, 3)
        codes = codes.reshape(shape)
        block_scales = q.scale_codes.reshape(cycles // spec.chunks, streams)
    if sparsity:
        zero = quantize(np.zeros(1), mx.element)[0]
        codes = np.where(rng.random(shape) < sparsity, zero, codes)
    return codes.astype(np.int64), np.repeat(block_scales, spec.chunks, axis=0).astype(np.int64)


@dataclass(frozen=True)
class EnergyReport:
    """Energy per MAC (one product: for an N:M unit, one kept weight) and its parts, in pJ, for one
    stream and clock."""

    stream: str
    energy_pj_per_mac: float
    switching_pj_per_mac: float
    internal_pj_per_mac: float
    clock_pj_per_mac: float
    leakage_pj_per_mac: float
    clock_ns: float
    macs: int
    toggles_per_mac: float
    verified_streams: int
    codebook_load_pj: float = 0.0  # a codebook unit: loading its whole table once (not in the per-MAC figures)
    glitch_pj_per_mac: float = 0.0  # with ``glitches``: the transitions beyond the settled ones (in energy_pj_per_mac)
    glitch_streams: int = 0  # the streams the glitch-aware simulation ran
    idle_clock_pj_per_mac: float | None = None  # clock-gated netlists: the clock of a cycle with every gate shut


def measure_energy(spec: MacSpec, netlist: GateNetlist, stream: OperandStream, clock_ns: float,
                   voltage_v: float, *, glitches: str | None = None) -> EnergyReport:
    """Simulate ``stream`` through ``netlist`` and account its energy (see module docstring);
    ``glitches``: the timer whose delays the glitch-aware simulation takes (``linear`` or
    ``nldm``), or None for the zero-delay figure alone."""
    if clock_ns <= 0:
        raise ValueError(f"clock_ns must be positive, not {clock_ns!r}")
    cycles, streams, lanes = stream.a.shape
    words = streams // 64

    def packed(codes, width):
        count = codes.shape[-1]
        word = np.zeros(streams, dtype=object if width * count > 62 else np.int64)
        for lane in range(count):
            word = word + (codes[:, lane].astype(word.dtype) << (lane * width))
        return pack_bits(word, width * count)

    ones, zeros = np.full((1, words), np.uint64(0xFFFFFFFFFFFFFFFF)), np.zeros((1, words), np.uint64)
    bias = pack_bits(np.full(streams, stream.bias & ((1 << BIAS_BITS) - 1), np.int64), BIAS_BITS)
    inputs = [{"a": packed(stream.a[t], spec.a.bits), "b": packed(stream.b[t], spec.codebook_bits or spec.b.bits),
               "en": ones, "clear": ones if stream.clear[t] else zeros, "rst": zeros, "bias": bias}
              for t in range(cycles)]
    if spec.scaling is not None:
        for t, cycle in enumerate(inputs):
            cycle["scale_a"] = pack_bits(stream.scale_a[t], 8)
            cycle["scale_b"] = pack_bits(stream.scale_b[t], 8)
    if spec.nm:
        for t, cycle in enumerate(inputs):
            cycle["index"] = packed(stream.index[t], spec.index_bits)
    prefix = []
    if spec.codebook_bits:  # the table is loaded first, en low: its energy is the load's, not the MACs'
        k = spec.codebook_bits
        for cycle in inputs:
            cycle.update(cb_write=zeros, cb_addr=pack_bits(np.zeros(streams, np.int64), k),
                         cb_data=pack_bits(np.zeros(streams, np.int64), spec.b.bits))
        prefix = [dict(inputs[0], en=zeros, cb_write=ones, cb_addr=pack_bits(np.full(streams, j, np.int64), k),
                       cb_data=pack_bits(stream.codebook[j], spec.b.bits)) for j in range(len(stream.codebook))]
    # a pipelined unit needs latency − 1 more edges for the last operands to reach the register:
    # the inputs held, en low (so only the pipeline drains)
    inputs += [dict(inputs[-1], en=zeros) for _ in range(spec.latency - 1)]
    inputs = [{k: v for k, v in cycle.items() if k in netlist.ports} for cycle in prefix + inputs]
    result = netlist.simulate(inputs, words)
    toggles, gated, load_pj = result.toggles, result.gated_cycles, 0.0
    codebook = None
    if prefix:
        loaded = netlist.simulate(inputs[:len(prefix)], words)
        toggles, gated = result.toggles - loaded.toggles, result.gated_cycles - loaded.gated_cycles
        load_pj = sum(account_energy(netlist, loaded.toggles, len(prefix) * streams, clock_ns, voltage_v,
                                     gated_cycles=loaded.gated_cycles).values()) / streams
        # the golden model: the same table, loaded in the cycles before the stream
        entries = len(stream.codebook)
        codebook = (np.arange(entries + cycles) < entries, np.arange(entries + cycles) % entries,
                    np.concatenate([stream.codebook, np.zeros((cycles, streams), np.int64)]))
    a, b, clear, index = stream.a, stream.b, stream.clear, stream.index
    if codebook is not None:  # the load cycles step nothing: en low
        pad = lambda x: np.concatenate([np.zeros((len(prefix),) + x.shape[1:], x.dtype), x])  # noqa: E731
        a, b, clear = pad(a), pad(b), pad(clear)
        index = pad(index) if index is not None else None
    enable = None if codebook is None else np.arange(len(a)) >= len(prefix)
    updates = unit_updates(spec, a, b, clear=clear, enable=enable, bias=stream.bias, scale_a=stream.scale_a,
                           scale_b=stream.scale_b, index=index, codebook=codebook)
    for golden in register_states(spec, stream.a.shape[1:-1], updates):
        pass
    mask = (1 << spec.acc_width) - 1
    want = [int(v) & mask for v in golden]
    got = result.outputs["acc"]
    if got != want:
        bad = next(i for i, (g, w) in enumerate(zip(got, want)) if g != w)
        raise AssertionError(f"{spec.name}: the synthesized netlist disagrees with the golden model "
                             f"on stream {bad}: {got[bad]:#x} != {want[bad]:#x}")
    parts = account_energy(netlist, toggles, cycles * streams, clock_ns, voltage_v, gated_cycles=gated)
    macs = stream.macs
    glitch_pj, glitch_streams = 0.0, 0
    if glitches is not None:
        glitch_pj, glitch_streams = glitch_energy_pj(netlist, inputs, words, glitches, voltage_v, skip=len(prefix))
        glitch_pj /= macs * glitch_streams / streams
    return EnergyReport(
        stream=stream.name, energy_pj_per_mac=sum(parts.values()) / macs + glitch_pj,
        glitch_pj_per_mac=glitch_pj, glitch_streams=glitch_streams,
        switching_pj_per_mac=parts["switching"] / macs, internal_pj_per_mac=parts["internal"] / macs,
        clock_pj_per_mac=parts["clock"] / macs, leakage_pj_per_mac=parts["leakage"] / macs, clock_ns=clock_ns,
        macs=macs, toggles_per_mac=float(toggles.sum()) / macs, verified_streams=streams, codebook_load_pj=load_pj,
        idle_clock_pj_per_mac=idle_clock_pj(netlist, voltage_v) / spec.products if len(netlist.clock_gates) else None)


def glitch_energy_pj(netlist: GateNetlist, inputs: list[dict], words: int, timer: str, voltage_v: float, *,
                     streams: int = GLITCH_STREAMS, skip: int = 0) -> tuple[float, int]:
    """The energy (pJ) of the transitions beyond the settled ones — glitches — that the first
    ``streams`` (whole words of 64) of ``inputs`` make from cycle ``skip`` on, in the glitch-aware
    simulation with ``timer``'s delays (their nets' switching and the cells' internal energy, as
    :func:`account_energy` charges a transition); and how many streams that is. Every net must
    settle where the zero-delay simulation of the same streams says (checked)."""
    used = max(1, min(words, -(-streams // 64)))
    part = [{port: packed[:, :used] for port, packed in cycle.items()} for cycle in inputs]
    timed = TimedNetlist(netlist, timer=timer)

    result = timed.simulate(part, used, skip=skip)  # the first `skip` cycles simulated, not counted
    zero = netlist.simulate(part, used).toggles
    if skip:
        zero = zero - netlist.simulate(part[:skip], used).toggles
    if not np.array_equal(result.settled_toggles, zero):
        bad = int(np.flatnonzero(result.settled_toggles != zero)[0])
        raise AssertionError(f"the glitch-aware simulation settles net {bad} elsewhere than the zero-delay one")
    toggles = result.toggles - result.settled_toggles
    parts = account_energy(netlist, toggles, 0, 1.0, voltage_v, clocked=False)
    return parts["switching"] + parts["internal"], 64 * used


def idle_clock_pj(netlist: GateNetlist, voltage_v: float) -> float:
    """The clock energy (pJ) of one cycle in which no clock gate opens: the ungated flip-flops'
    clock pins and the gates' own (what an idle PE of a clock-gated unit pays, ``en`` low)."""
    return 2 * netlist.clock_energy_pj + netlist.clock_pf * voltage_v ** 2


def account_energy(netlist: GateNetlist, toggles: np.ndarray, steps: int, clock_ns: float, voltage_v: float, *,
                   clocked: bool = True, gated_cycles=None) -> dict:
    """Energy (pJ) of ``steps`` unit-cycles whose nets made ``toggles`` transitions: switching
    (½·C·V² per transition), internal (driver and receiving pins), clock (every flip-flop's clock
    pin, two transitions a cycle — behind a clock gate only in the ``gated_cycles`` it let the
    clock through (:attr:`rtl.flow.gatesim.SimulationResult.gated_cycles`); none for
    ``clocked=False``) and leakage over the time."""
    v2 = voltage_v ** 2
    toggles = toggles.astype(np.float64)
    clock = steps * idle_clock_pj(netlist, voltage_v)
    if len(netlist.clock_gates) and clocked:
        if gated_cycles is None:
            raise ValueError("a netlist with clock gates needs the cycles each let the clock through (gated_cycles)")
        clock += float(np.sum(np.asarray(gated_cycles, np.float64)
                              * (2 * netlist.gated_clock_energy_pj + netlist.gated_clock_pf * v2)))
    return {"switching": float(np.sum(toggles * 0.5 * netlist.load_pf * v2)),  # pF·V² = pJ
            "internal": float(np.sum(toggles * (netlist.driver_energy_pj + netlist.input_energy_pj))),
            "clock": clock if clocked else 0.0,
            "leakage": netlist.leakage_nw * 1e-9 * clock_ns * 1e-9 * steps * 1e12}  # W·s → pJ
