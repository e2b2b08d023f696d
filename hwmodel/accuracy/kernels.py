"""Compiled loops for the MAC arithmetic the accuracy models run: one rounding per step of
``lanes`` products into an IEEE float16 / bfloat16 / float32 register, exactly.

A step computes ``acc ← round(acc + Σ_lanes a_k·b_k)`` with the sum exact and one
round-to-nearest-even — :func:`rtl.numerics.arith.accumulate` bit for bit (the tests replay them
against each other). Products of formats of up to 16 bits are exact doubles; what may not be
exact is their sum, so each kernel is chosen for what its inputs need (see
:func:`hwmodel.accuracy.qmatmul.float_kernel`):

* ``exact`` — the lane sum and ``acc + sum`` are both exact in double (a float16 register
  with 8-bit operands at moderate scale offsets): one addition and one rounding;
* ``twosum`` — the lane sum is exact, ``acc + sum`` is formed exactly as ``s + t`` (Knuth's
  TwoSum), and ``s`` is rounded with ``t`` deciding the ties it creates or breaks;
* ``twosum_float32`` — the same for a float32 register, rounded by the CPU's own double →
  float32 conversion, with ``t`` consulted only where ``s`` is a float32 midpoint;
* ``double_double`` — the lane sum itself needs two doubles (E5M2 or float16 operands over
  several lanes): it is kept as ``hi + lo``, and the three-term sum ``acc + hi + lo`` is
  reduced to ``s + ρ`` exactly before the one rounding.

Rounding an exact double ``s`` with a remainder of sign ``ρ`` to p bits: the bit pattern of
``|s|`` is rounded at bit 53 − p (a carry into the exponent is the binade change the format
would make), ties go by ``ρ`` and, where ``ρ`` is 0, to even; below the normal range a magic
addition rounds onto the subnormal grid; beyond the largest finite value is ±Inf; NaN and Inf
pass through. The loops run over output columns innermost, so they vectorize, and release the
GIL, so batches run on threads. A product with fewer columns than :data:`NARROW` (a depthwise
convolution's, one column per channel) runs transposed — its rows innermost — since each output
is still the same sum in the same order, and the product of two doubles commutes.

One more path runs in float32 arithmetic (:func:`float32_steps`), where the operands allow it
(:func:`hwmodel.accuracy.qmatmul.native_register`), one product a step:

* a float32 register whose every product is an exact float32 normal (8-bit operands at any scale
  that keeps the products between 2^-126 and 2^128) is the CPU's own float32 ``acc + a·b``: the
  product is exact, so IEEE's one round-to-nearest-even of the sum is the register's,
  subnormals, overflow to ±Inf and NaN included;
* a float16 or bfloat16 register rounds ``float32(acc + a·b)`` once more, by bit operations on
  the float32 pattern: exact where float32 held the sum (integer products, whose sums stay on a
  grid 24 bits spans), and otherwise where the product is itself a value of the register's
  precision p on its grid — then the double rounding is innocuous, float32's 24 bits being at
  least 2p + 2 (Figueroa, "When is double rounding innocuous?", SIGNUM Newsletter 30(3), 1995).

These run four rows at a time, so each weight row is read once for four.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["float_steps", "float32_steps", "float32_range", "block_sums_steps", "fixed_saturating_steps", "exact_sums",
           "block_steps", "fold_add", "block_values", "block_depthwise", "KERNELS", "NARROW", "ROUNDINGS"]

KERNELS = ("exact", "twosum", "double_double", "twosum_float32")
NARROW = 8  # products with fewer columns than this (and more rows) run transposed


@njit(inline="always", cache=True)
def _two_sum(x, h):
    """Knuth's TwoSum: s = fl(x + h) and the exact error t, so that x + h = s + t."""
    s = x + h
    bb = s - x
    return s, (x - (s - bb)) + (h - bb)


@njit(inline="always", cache=True)
def _round_float32(x, h, ftz):
    """round(x + h) to float32 with the hardware's own conversion: the exact sum is s + t
    (TwoSum); converting s rounds it correctly unless s is a float32 midpoint (then r2 = 2s − r
    is the other neighbour) and t says which way the exact sum lies."""
    s, t = _two_sum(x, h)
    r = np.float64(np.float32(s))
    r2 = 2.0 * s - r
    tie = (np.float64(np.float32(r2)) == r2) and (r2 != r) and (abs(r) < np.inf)
    r = r2 if (tie and t != 0 and (r2 - s) * t > 0) else r
    return np.copysign(0.0, r) if (ftz and abs(r) < 1.1754943508222875e-38) else r


@njit(inline="always", cache=True)
def _round(s, rho, shift, mask, half, emin_value, magic, grid, max_value, ftz):
    a = abs(s)
    bits = np.float64(a).view(np.int64)
    direction = rho if s >= 0 else -rho  # the remainder, relative to the magnitude
    lsb = (bits >> shift) & 1
    increment = half - 1 + (1 if direction > 0 else (0 if direction < 0 else lsb))
    r_normal = np.int64((bits + increment) & ~mask).view(np.float64)
    r_sub = (a + magic) - magic  # round to nearest even on the subnormal grid
    d = a - r_sub
    tie = abs(d) == 0.5 * grid
    up = tie and direction > 0 and d > 0
    down = tie and direction < 0 and d < 0
    r_sub = r_sub + (grid if up else 0.0) - (grid if down else 0.0)  # selects, so the loops vectorize
    r = r_sub if a < emin_value else r_normal
    r = np.inf if r > max_value else r
    r = 0.0 if (ftz and r < emin_value) else r
    r = a if not a < np.inf else r  # NaN and Inf pass through
    return np.copysign(r, s)


@njit(inline="always", cache=True)
def _rounding(p, emin):
    """What :func:`_round` needs for a register of ``p`` significand bits and smallest normal
    exponent ``emin``: the bit shift, its mask and half, the smallest normal, the subnormal grid
    and the magic number that rounds onto it."""
    shift = 53 - p
    return (shift, (np.int64(1) << shift) - 1, np.int64(1) << (shift - 1), 2.0 ** emin, 2.0 ** (emin - p + 1),
            2.0 ** (emin - p + 1 + 52))


@njit(nogil=True, cache=True)
def _steps(a, b, lanes, p, emin, max_value, ftz, kernel, out):
    groups, rows, k_total = a.shape
    cols = b.shape[2]
    shift, mask, half, emin_value, grid, magic = _rounding(p, emin)
    hi = np.empty(cols)
    lo = np.empty(cols)
    steps = (k_total + lanes - 1) // lanes
    for g in range(groups):
        bg = b[g if b.shape[0] > 1 else 0]
        for m in range(rows):
            acc = out[g, m]
            if lanes == 1 and kernel != 2:  # a MAC: one product a step, fused into one loop
                for k in range(k_total):
                    ak = a[g, m, k]
                    bk = bg[k]
                    if kernel == 3:
                        for n in range(cols):
                            acc[n] = _round_float32(acc[n], ak * bk[n], ftz)
                    elif kernel == 0:
                        for n in range(cols):
                            acc[n] = _round(acc[n] + ak * bk[n], 0.0, shift, mask, half, emin_value, magic, grid,
                                            max_value, ftz)
                    else:
                        for n in range(cols):
                            s, t1 = _two_sum(acc[n], ak * bk[n])
                            acc[n] = _round(s, t1, shift, mask, half, emin_value, magic, grid, max_value, ftz)
                continue
            for t in range(steps):
                k0 = t * lanes
                k1 = min(k0 + lanes, k_total)
                a0 = a[g, m, k0]
                for n in range(cols):
                    hi[n] = a0 * bg[k0, n]
                    lo[n] = 0.0
                for k in range(k0 + 1, k1):
                    ak = a[g, m, k]
                    if kernel == 2:
                        for n in range(cols):
                            s, t = _two_sum(hi[n], ak * bg[k, n])
                            lo[n] += t
                            hi[n] = s
                    else:
                        for n in range(cols):
                            hi[n] += ak * bg[k, n]
                if k1 - k0 < lanes:  # the lanes past the end hold zero codes: +0 products
                    for n in range(cols):
                        hi[n] += 0.0
                if kernel == 0:
                    for n in range(cols):
                        acc[n] = _round(acc[n] + hi[n], 0.0, shift, mask, half, emin_value, magic, grid,
                                        max_value, ftz)
                elif kernel == 3:
                    for n in range(cols):
                        acc[n] = _round_float32(acc[n], hi[n], ftz)
                elif kernel == 1:
                    for n in range(cols):
                        s, t1 = _two_sum(acc[n], hi[n])
                        acc[n] = _round(s, t1, shift, mask, half, emin_value, magic, grid, max_value, ftz)
                else:
                    for n in range(cols):
                        s, t1 = _two_sum(acc[n], hi[n])
                        s2, t2 = _two_sum(s, lo[n])
                        r, err = _two_sum(t1, t2)
                        s3, r2 = _two_sum(s2, r)
                        rho = r2 if r2 != 0 else err
                        v = _round(s3, rho, shift, mask, half, emin_value, magic, grid, max_value, ftz)
                        acc[n] = v if s - s == 0 else s  # Inf and NaN as IEEE addition gives them (lo is
                        # then meaningless: TwoSum of an infinity leaves NaN in it)
    return out


def float_steps(a: np.ndarray, b: np.ndarray, *, lanes: int, precision: int, emin: int, max_value: float,
                flush_to_zero: bool, kernel: str, out: np.ndarray) -> np.ndarray:
    """Run every step into ``out`` (groups, rows, cols), starting from its values.

    ``a`` (groups, rows, K) and ``b`` (groups or 1, K, cols) hold exact operand values (codes'
    values, with any power-of-two bias already folded into ``b``'s columns); ``precision`` is
    the register's significand bits with the hidden one (11 for float16), ``emin`` its smallest
    normal exponent.
    """
    return _oriented(_steps, a, b, (lanes, precision, emin, max_value, flush_to_zero, KERNELS.index(kernel)), out)


def _oriented(kernel, a: np.ndarray, b: np.ndarray, args: tuple, out: np.ndarray) -> np.ndarray:
    """``kernel(a, b, *args, out)`` into ``out`` — on ``(bᵀ, aᵀ, outᵀ)`` where the product is
    narrow (:func:`_narrow`)."""
    if not _narrow(a, b):
        return kernel(a, b, *args, out)
    out[...] = kernel(*_transposed(a, b), *args, np.ascontiguousarray(out.transpose(0, 2, 1))).transpose(0, 2, 1)
    return out


def _narrow(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether ``a @ b`` runs faster transposed: few columns, more rows, and ``b`` one matrix per
    group (it becomes the row operand, which is never shared between groups)."""
    return b.shape[2] < NARROW and a.shape[1] > b.shape[2] and b.shape[0] == a.shape[0]


def _transposed(a: np.ndarray, b: np.ndarray):
    """(bᵀ, aᵀ): outᵀ = bᵀ @ aᵀ, the same products summed in the same order along K."""
    return np.ascontiguousarray(b.transpose(0, 2, 1)), np.ascontiguousarray(a.transpose(0, 2, 1))


_HALF_MIN_NORMAL = np.float32(2.0 ** -14)
_HALF_MAX = np.float32(65504.0)
_HALF_MAGIC = np.float32(0.5)  # its float32 ulp is 2^-24, float16's subnormal step
_FLOAT32_MIN_NORMAL = np.float32(2.0 ** -126)


@njit(inline="always", cache=True)
def _to_float16(s, ftz):
    """float32 ``s`` rounded to the nearest float16 value (ties to even), as a float32: the
    significand cut at 11 bits (a carry is the next binade), the subnormal grid by the magic
    addition, ±Inf past 65504; with ``ftz`` a subnormal result becomes a zero; Inf, NaN through."""
    a = abs(s)
    bits = np.float32(a).view(np.int32)
    normal = np.int32((bits + 0xFFF + ((bits >> 13) & 1)) & -8192).view(np.float32)
    r = ((a + _HALF_MAGIC) - _HALF_MAGIC) if a < _HALF_MIN_NORMAL else normal
    r = np.float32(np.inf) if r > _HALF_MAX else r
    r = np.float32(0.0) if (ftz and r < _HALF_MIN_NORMAL) else r
    r = a if not a < np.inf else r
    return np.copysign(r, s)


@njit(inline="always", cache=True)
def _to_bfloat16(s, ftz):
    """float32 ``s`` rounded to the nearest bfloat16 (ties to even), as a float32: the bit pattern
    cut at 16 bits, the same on the shared subnormal grid; a carry past the largest finite value
    is the Inf pattern; with ``ftz`` a subnormal result becomes a zero; Inf, NaN through."""
    a = abs(s)
    bits = np.float32(a).view(np.int32)
    r = np.int32((bits + 0x7FFF + ((bits >> 16) & 1)) & -65536).view(np.float32)
    r = np.float32(0.0) if (ftz and r < _FLOAT32_MIN_NORMAL) else r
    r = a if not a < np.inf else r
    return np.copysign(r, s)


@njit(inline="always", cache=True)
def _register(s, rounding, ftz):
    if rounding == 1:
        return _to_float16(s, ftz)
    if rounding == 2:
        return _to_bfloat16(s, ftz)
    return s


@njit(nogil=True, cache=True)
def _float32(a, b, rounding, ftz, out):
    groups, rows, k_total = a.shape
    cols = b.shape[2]
    for g in range(groups):
        bg = b[g if b.shape[0] > 1 else 0]
        m = 0
        while m + 4 <= rows:  # four rows share each read of a weight row
            o0, o1, o2, o3 = out[g, m], out[g, m + 1], out[g, m + 2], out[g, m + 3]
            for k in range(k_total):
                a0, a1, a2, a3 = a[g, m, k], a[g, m + 1, k], a[g, m + 2, k], a[g, m + 3, k]
                bk = bg[k]
                for n in range(cols):
                    x = bk[n]
                    o0[n] = _register(o0[n] + a0 * x, rounding, ftz)
                    o1[n] = _register(o1[n] + a1 * x, rounding, ftz)
                    o2[n] = _register(o2[n] + a2 * x, rounding, ftz)
                    o3[n] = _register(o3[n] + a3 * x, rounding, ftz)
            m += 4
        for r in range(m, rows):
            o = out[g, r]
            for k in range(k_total):
                ak = a[g, r, k]
                bk = bg[k]
                for n in range(cols):
                    o[n] = _register(o[n] + ak * bk[n], rounding, ftz)
    return out


@njit(nogil=True, cache=True)
def _float32_range(x):
    low, high, held = np.inf, 0.0, True
    for v in x.reshape(-1):
        a = abs(v)
        if a < np.inf:  # finite (NaN fails the test too)
            if a > 0:
                low = min(low, a)
                high = max(high, a)
            held = held and np.float64(np.float32(v)) == v
    return low, high, held


def float32_range(x: np.ndarray) -> tuple[float, float, bool]:
    """(smallest and largest non-zero finite magnitude — inf and 0 when there is none — and
    whether float32 holds every finite value of ``x``) in one pass, nothing allocated."""
    return _float32_range(np.ascontiguousarray(x, np.float64))


ROUNDINGS = ("float32", "float16", "bfloat16")


def float32_steps(a: np.ndarray, b: np.ndarray, out: np.ndarray, *, register: str = "float32",
                  flush_to_zero: bool = False) -> np.ndarray:
    """A ``register`` (float32, float16 or bfloat16) fed one product a step, in float32
    arithmetic: ``acc ← round(float32(acc + a·b))``. ``a`` (groups, rows, K), ``b`` (groups or 1,
    K, cols) and ``out`` (groups, rows, cols) float32, ``out`` updated from its values. Exact only
    where the caller has checked it is (:func:`hwmodel.accuracy.qmatmul.native_register`)."""
    rounding = ROUNDINGS.index(register)
    if rounding == 0 and flush_to_zero:
        raise ValueError("a float32 register with flush to zero does not run on float32 arithmetic")
    return _oriented(_float32, a, b, (rounding, flush_to_zero), out)


@njit(nogil=True, cache=True)
def _exact_sums(a, b, hi_out, lo_out):
    groups, rows, k_total = a.shape
    cols = b.shape[2]
    for g in range(groups):
        bg = b[g if b.shape[0] > 1 else 0]
        for m in range(rows):
            hi = hi_out[g, m]
            lo = lo_out[g, m]
            for k in range(k_total):
                ak = a[g, m, k]
                for n in range(cols):
                    s, t = _two_sum(hi[n], ak * bg[k, n])
                    lo[n] += t
                    hi[n] = s
    return hi_out, lo_out


def exact_sums(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Σ_k a·b as ``hi + lo`` (two doubles per output): exact while the products' span plus
    twice log2(K) stays under 104 bits (a Kulisch register's sum for 8-bit floats)."""
    shape = (a.shape[0], a.shape[1], b.shape[2])
    return _exact_sums(a, b, np.zeros(shape), np.zeros(shape))


@njit(nogil=True, cache=True)
def _saturating(a, b, lanes, low, high, out):
    groups, rows, k_total = a.shape
    cols = b.shape[2]
    steps = (k_total + lanes - 1) // lanes
    total = np.empty(cols, np.int64)
    for g in range(groups):
        bg = b[g if b.shape[0] > 1 else 0]
        for m in range(rows):
            acc = out[g, m]
            for t in range(steps):
                for n in range(cols):
                    total[n] = acc[n]
                for k in range(t * lanes, min((t + 1) * lanes, k_total)):
                    ak = a[g, m, k]
                    for n in range(cols):
                        total[n] += ak * bg[k, n]
                for n in range(cols):
                    acc[n] = min(max(total[n], low), high)
    return out


def fixed_saturating_steps(a_units: np.ndarray, b_units: np.ndarray, *, lanes: int, width: int,
                           out: np.ndarray) -> np.ndarray:
    """A saturating ``width``-bit register fed integer products (in units of its LSB) ``lanes``
    at a time; the caller guarantees every sum fits int64."""
    return _saturating(a_units, b_units, lanes, -(1 << (width - 1)), (1 << (width - 1)) - 1, out)


@njit(nogil=True, cache=True)
def _block_steps(a, b, sa, sb, block, p, emin, max_value, ftz, out):
    groups, rows, k_total = a.shape
    cols = b.shape[2]
    shift, mask, half, emin_value, grid, magic = _rounding(p, emin)
    hi = np.empty(cols)
    lo = np.empty(cols)
    blocks = (k_total + block - 1) // block
    for g in range(groups):
        bg = b[g if b.shape[0] > 1 else 0]
        sbg = sb[g if sb.shape[0] > 1 else 0]
        for m in range(rows):
            acc = out[g, m]
            for j in range(blocks):
                for n in range(cols):
                    hi[n] = -0.0  # so a block of −0 products sums to −0, as IEEE addition (and the unit) has it
                    lo[n] = 0.0
                end = min((j + 1) * block, k_total)
                for k in range(j * block, end):
                    ak = a[g, m, k]
                    for n in range(cols):
                        s, t = _two_sum(hi[n], ak * bg[k, n])
                        lo[n] += t
                        hi[n] = s
                if end - j * block < block:  # a short last block: its zero padding's +0 products
                    for n in range(cols):
                        hi[n] += 0.0
                x = sa[g, m, j]
                for n in range(cols):
                    acc[n] = _add_block(acc[n], hi[n], lo[n], x * sbg[n, j], shift, mask, half, emin_value, magic,
                                        grid, max_value, ftz)
    return out


@njit(inline="always", cache=True)
def _add_block(acc, hi, lo, scale, shift, mask, half, emin_value, magic, grid, max_value, ftz):
    """round(acc + (hi + lo) · scale): a block's exact sum ``hi + lo`` times its two scales'
    product ``scale`` (exact: powers of two, or E4M3 × E4M3 over a short NVFP4 sum), added to the
    register with one rounding."""
    h = hi * scale
    if hi == 0:  # an exact zero (lo is 0 too): the signed-zero sum IEEE gives
        return acc + h
    s, t1 = _two_sum(acc, h)
    if not (s - s == 0):  # Inf or NaN: the block's specials, a NaN scale, or the register's
        return s
    s2, t2 = _two_sum(s, lo * scale)
    r, err = _two_sum(t1, t2)
    s3, r2 = _two_sum(s2, r)
    rho = r2 if r2 != 0 else err
    return _round(s3, rho, shift, mask, half, emin_value, magic, grid, max_value, ftz)


@njit(nogil=True, cache=True)
def _block_sums_steps(sums, a, b, block, sa, sb, p, emin, max_value, ftz, out):
    groups, blocks, rows, cols = sums.shape
    k_total = a.shape[2]
    shift, mask, half, emin_value, grid, magic = _rounding(p, emin)
    for g in range(groups):
        bg = b[g if b.shape[0] > 1 else 0]
        sbg = sb[g if sb.shape[0] > 1 else 0]
        for m in range(rows):
            acc = out[g, m]
            for j in range(blocks):
                x = sa[g, m, j]
                hi = sums[g, j, m]
                end = min((j + 1) * block, k_total)
                for n in range(cols):
                    h = hi[n]
                    if h == 0 and acc[n] == 0 and math.copysign(1.0, acc[n]) < 0:
                        # a −0 register and a zero sum: the sum's sign decides (−0 only where every
                        # product is −0, as IEEE addition from −0 gives it); BLAS may have formed +0
                        h = -0.0
                        for k in range(j * block, end):
                            h += a[g, m, k] * bg[k, n]
                        if end - j * block < block:  # a short last block's zero padding: +0 products
                            h += 0.0
                    acc[n] = _add_block(acc[n], h, 0.0, x * sbg[n, j], shift, mask, half, emin_value, magic, grid,
                                        max_value, ftz)
    return out


def block_sums_steps(sums: np.ndarray, a: np.ndarray, b: np.ndarray, a_scales: np.ndarray, b_scales: np.ndarray, *,
                     block: int, precision: int, emin: int, max_value: float, flush_to_zero: bool,
                     out: np.ndarray) -> np.ndarray:
    """:func:`block_steps` from the blocks' sums already formed: ``sums`` (groups, blocks, rows,
    cols), each exact in one double (:func:`hwmodel.accuracy.qmatmul.block_register` forms them
    as batched BLAS products where no sum can be inexact) from the elements ``a`` (groups, rows,
    K) and ``b`` (groups or 1, K, cols); ``a_scales`` (groups, rows, blocks), ``b_scales``
    (groups or 1, cols, blocks), ``out`` (groups, rows, cols) updated. A last block shorter than
    ``block`` is one padded with zero elements. A zero sum's sign is the one thing BLAS may get
    otherwise (+0 for a block of −0 products); it matters only to a register holding −0 — one a
    sum too small for it rounded to zero — and there the block's products are summed again."""
    return _block_sums_steps(sums, a, b, block, a_scales, b_scales, precision, emin, max_value, flush_to_zero, out)


def block_steps(a: np.ndarray, b: np.ndarray, a_scales: np.ndarray, b_scales: np.ndarray, *, block: int,
                precision: int, emin: int, max_value: float, flush_to_zero: bool, out: np.ndarray) -> np.ndarray:
    """A block-scaled unit's register over whole blocks (:mod:`rtl.numerics.blocks`), into ``out``.

    ``a`` (groups, rows, K) and ``b`` (groups or 1, K, cols) hold exact element values (a last
    block shorter than ``block`` is one padded with zero elements); ``a_scales`` (groups, rows,
    blocks) and ``b_scales`` (groups or 1, cols, blocks) the block scales' values (NaN for a NaN
    scale). Each block's sum is exact as ``hi + lo`` (TwoSum), scaled exactly, and added to the
    register with one rounding.
    """
    return _block_steps(a, b, a_scales, b_scales, block, precision, emin, max_value, flush_to_zero, out)


@njit(nogil=True, cache=True)
def _fold_add(x, y, p, emin, max_value, ftz, out):
    shift, mask, half, emin_value, grid, magic = _rounding(p, emin)
    xf, yf, of = x.reshape(-1), y.reshape(-1), out.reshape(-1)
    for i in range(xf.size):
        s, t = _two_sum(xf[i], yf[i])
        of[i] = _round(s, t, shift, mask, half, emin_value, magic, grid, max_value, ftz) if s - s == 0 else s
    return out


def fold_add(x: np.ndarray, y: np.ndarray, *, precision: int, emin: int, max_value: float,
             flush_to_zero: bool) -> np.ndarray:
    """round(x + y) for register values ``x`` and ``y`` (float64 arrays of one shape): the sum
    exact as ``s + t`` (TwoSum), one rounding into the register's format — how an interleaved
    unit's partial sums fold (:func:`rtl.numerics.interleave.reduce_partials`)."""
    x, y = np.ascontiguousarray(x, np.float64), np.ascontiguousarray(y, np.float64)
    return _fold_add(x, y, precision, emin, max_value, flush_to_zero, np.empty_like(x))


@njit(inline="always", cache=True)
def _exponent(a):
    """⌊log2 a⌋ of a normal double a > 0, from its exponent field (−1023 for a subnormal or 0)."""
    return ((np.float64(a).view(np.int64) >> 52) & 0x7FF) - 1023


@njit(inline="always", cache=True)
def _power_of_two(e):
    """2^e for a normal double's exponent e, built from the field."""
    return np.int64((e + 1023) << 52).view(np.float64)


@njit(inline="always", cache=True)
def _saturated(v, p, emin, max_value, signed_zero):
    """``v`` rounded to nearest even onto a format of ``p`` significand bits (an integer format:
    p − 1 = ``emin`` ≥ its bits, so the grid is 1) with normal exponents from ``emin``, ±its
    largest value ``max_value`` where it rounds past it; a zero keeps ``v``'s sign only where
    ``signed_zero``. Branch-free: the grid's step q = 2^e from the exponent field, and the
    CPU's own round to nearest even of a + 2^52·q."""
    a = abs(v)  # below 2^1000: a block's elements are at most 2^1024 / 2^121 over its scale
    e = max(_exponent(a), emin) - (p - 1)
    c = _power_of_two(e + 52)
    r = math.copysign(min((a + c) - c, max_value), v)
    return r if signed_zero else r + 0.0


@njit(inline="always", cache=True)
def _block_scale(top, power_of_two, emax, unit, max_value, tensor_scale, sp, semin, smax):
    """A block's scale value and what its elements are divided by (both 0 where an NVFP4 scale
    rounds to 0: the block's elements are then zeros), from ``top``, the largest finite magnitude
    in the block: 2^(⌊log2 top⌋ − ``emax``) within 2^±127 from the exponent field (a subnormal
    top is below 2^-127), or an E4M3 scale of top / ``max_value`` / ``tensor_scale``."""
    if power_of_two:
        shared = min(max(_exponent(top) - emax, -127), 127) if top > 0 else -127
        scale = _power_of_two(shared)
        return scale, scale * unit
    scale = _saturated(top / max_value / tensor_scale, sp, semin, smax, True)
    return scale, scale * tensor_scale


@njit(inline="always", cache=True)
def _element(v, divisor, power_of_two, p, emin, max_value, signed_zero, unit):
    """An element's value (times ``unit``) in a block whose elements are divided by ``divisor``:
    a power of two's reciprocal is exact, so there it multiplies."""
    q = v * (1.0 / divisor) if power_of_two else v / divisor
    return _saturated(q, p, emin, max_value, signed_zero) * unit


@njit(nogil=True, cache=True, error_model="numpy")  # x / 0 is IEEE's, unchecked
def _block_values(x, size, power_of_two, emax, p, emin, max_value, signed_zero, unit, tensor_scale, sp, semin,
                  smax, out, scales):
    rows, n = x.shape
    blocks = (n + size - 1) // size
    for r in range(rows):
        for j in range(blocks):
            start, end = j * size, min((j + 1) * size, n)
            top = 0.0
            finite = True
            for k in range(start, end):
                v = np.float64(x[r, k])
                ok = v - v == 0
                top = max(top, abs(v) if ok else 0.0)
                finite &= ok
            scale, divisor = _block_scale(top, power_of_two, emax, unit, max_value, tensor_scale, sp, semin, smax)
            scales[r, j] = scale if finite else np.nan
            if finite and divisor != 0:
                for k in range(start, end):
                    out[r, k] = _element(np.float64(x[r, k]), divisor, power_of_two, p, emin, max_value, signed_zero,
                                         unit)
            else:  # a block holding NaN or ±Inf (its scale NaN), or under an NVFP4 scale of 0: zeros
                for k in range(start, end):
                    out[r, k] = 0.0
    return out, scales


@njit(nogil=True, cache=True, error_model="numpy")  # x / 0 is IEEE's, unchecked
def _block_depthwise(xp, wv, ws, kh, kw, sh, sw, dh, dw, size, power_of_two, emax, p, emin, max_value, signed_zero,
                     unit, tensor_scale, sp, semin, smax, rp, remin, rmax, ftz, out):
    n, c, ho, wo = out.shape
    taps = kh * kw
    blocks = (taps + size - 1) // size
    shift, mask, half, emin_value, grid, magic = _rounding(rp, remin)
    # one output row at a time, its columns innermost (each its own unit: they vectorize), a
    # block's taps copied into one contiguous window first
    window = np.empty((size, wo))
    top, divisor, scale = np.empty(wo), np.empty(wo), np.empty(wo)
    keep = np.empty(wo, np.bool_)
    hi, lo, acc = np.empty(wo), np.empty(wo), np.empty(wo)
    for b in range(n):
        for ch in range(c):
            for oy in range(ho):
                acc[:] = 0.0
                for j in range(blocks):
                    start, end = j * size, min((j + 1) * size, taps)
                    top[:] = 0.0
                    keep[:] = True
                    for t in range(start, end):
                        row = xp[b, ch, oy * sh + (t // kw) * dh]
                        x0 = (t % kw) * dw
                        tap = window[t - start]
                        for ox in range(wo):
                            tap[ox] = row[x0 + ox * sw]
                        for ox in range(wo):
                            v = tap[ox]
                            ok = v - v == 0
                            top[ox] = max(top[ox], abs(v) if ok else 0.0)
                            keep[ox] &= ok
                    for ox in range(wo):
                        sc, divisor[ox] = _block_scale(top[ox], power_of_two, emax, unit, max_value, tensor_scale, sp,
                                                       semin, smax)
                        scale[ox] = sc if keep[ox] else np.nan  # a block holding NaN or ±Inf: a NaN scale
                        keep[ox] &= divisor[ox] != 0  # an NVFP4 scale of 0: zero elements
                    hi[:] = -0.0  # each block's products summed exactly as hi + lo, IEEE's signed zero kept
                    lo[:] = 0.0
                    for t in range(start, end):
                        tap = window[t - start]
                        weight = wv[ch, t]
                        for ox in range(wo):
                            e = _element(tap[ox], divisor[ox], power_of_two, p, emin, max_value, signed_zero, unit)
                            s, r = _two_sum(hi[ox], (e if keep[ox] else 0.0) * weight)
                            lo[ox] += r
                            hi[ox] = s
                    if end - start < size:  # a short block's zero padding: +0 products
                        for ox in range(wo):
                            hi[ox] += 0.0
                    for ox in range(wo):
                        acc[ox] = _add_block(acc[ox], hi[ox], lo[ox], scale[ox] * ws[ch, j], shift, mask, half,
                                             emin_value, magic, grid, rmax, ftz)
                out[b, ch, oy] = acc
    return out


def block_values(x: np.ndarray, *, size: int, power_of_two: bool, emax: int, precision: int, emin: int,
                 max_value: float, signed_zero: bool, unit: float, tensor_scale: float = 1.0,
                 scale_precision: int = 0, scale_emin: int = 0, scale_max: float = 0.0):
    """A block format's quantization of the rows of ``x`` (rows, n) in blocks of ``size`` (a
    short last block as if padded with zeros), in one pass a block: (element values × ``unit``,
    float64 like ``x``'s shape; the block scales' values, (rows, blocks), NaN for a block holding
    NaN or ±Inf, whose elements are 0).

    ``power_of_two``: an E8M0 scale 2^(⌊log2 amax⌋ − ``emax``) within 2^±127 (OCP MX v1.0);
    else an E4M3 scale (``scale_precision``, ``scale_emin``, ``scale_max``) of amax /
    ``max_value`` / ``tensor_scale``, rounded to nearest even and saturating (NVFP4). Elements:
    ``x`` / (scale · ``unit``) (times ``tensor_scale`` for NVFP4) rounded to nearest even onto the
    element format (``precision``, ``emin``, ``max_value``; an integer one as ``_saturated``
    takes it), saturating. :func:`rtl.numerics.scaling.quantize_mx` and the codes' decoding
    bit for bit."""
    x = np.ascontiguousarray(x)
    rows, n = x.shape
    out = np.empty((rows, n))
    scales = np.empty((rows, -(-n // size)))
    return _block_values(x, size, power_of_two, emax, precision, emin, max_value, signed_zero, unit, tensor_scale,
                         scale_precision, scale_emin, scale_max, out, scales)


def block_depthwise(padded: np.ndarray, weights: np.ndarray, weight_scales: np.ndarray, *, kernel: tuple,
                    strides: tuple, dilations: tuple, out_shape: tuple, size: int, power_of_two: bool, emax: int,
                    precision: int, emin: int, max_value: float, signed_zero: bool, unit: float, tensor_scale: float,
                    scale_precision: int, scale_emin: int, scale_max: float, register_precision: int,
                    register_emin: int, register_max: float, flush_to_zero: bool) -> np.ndarray:
    """A depthwise convolution on block-scaled units, each output one unit's register: every
    window of the (already padded) NCHW input ``padded`` — its kh·kw taps in (kh, kw) order, in
    blocks of ``size`` — quantized as :func:`block_values` quantizes an im2col row, its blocks'
    exact sums against the channel's element values ``weights`` (channels, kh·kw) scaled by the
    two block scales (``weight_scales`` (channels, blocks)) and added to a +0 register with one
    rounding each (:func:`block_steps`), without the kh·kw-fold im2col copy. Returns the
    registers (``out_shape``: n, channels, ho, wo) before any tensor scale."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, strides, dilations
    return _block_depthwise(padded, np.ascontiguousarray(weights, np.float64),
                            np.ascontiguousarray(weight_scales, np.float64), kh, kw, sh, sw, dh, dw, size, power_of_two,
                            emax, precision, emin, max_value, signed_zero, unit, tensor_scale, scale_precision,
                            scale_emin, scale_max, register_precision, register_emin, register_max, flush_to_zero,
                            np.zeros(out_shape))
