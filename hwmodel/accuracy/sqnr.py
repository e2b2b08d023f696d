"""Quantization SQNR in theory: bits of accuracy of each format on synthetic distributions.

The whitepaper's Section 4.1 measure: bits = log2(σ / RMSE), where σ is the distribution's
standard deviation and RMSE the root-mean-square error of quantizing it to the format with the
MSE-optimal per-tensor scale (dB = 20·log10(σ / RMSE) ≈ 6.02 · bits).

The error is an expectation over the distribution, computed exactly: between two neighbouring
grid values the quantizer's bin edge is their midpoint, so the mean squared error at scale s is
Σ_bins (M2 − 2·v·M1 + v²·M0), with M_k the bin's partial moments — closed forms of the uniform,
Gaussian and Student-t (ν = 3) distributions, whose tails run to infinity. Sampling instead
truncates the tails at the sample maximum, which flatters formats that clip (Student-t E3M4
reads 5.9 bits from 2^20 samples but 4.19 exactly); the exact expectation is what reproduces
the paper's Figure 5. MX formats have no tensor scale — their shared per-block power-of-two scale
follows the OCP rule from each block's own maximum — so they are measured on ``samples`` draws.

For measured tensors, :func:`mse_optimal_scale` uses the same bin sums with prefix sums of the
sorted data (:func:`rtl.numerics.scaling.mse_scales`), so a candidate scale costs O(grid · log n) instead
of a full quantization.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from rtl.numerics.formats import Format, finite_values, get_format
from rtl.numerics.scaling import MX_FORMATS, MxFormat, mse_scales, quantize_mx, scale_search

from hwmodel.reference import FIGURE5_BITS

__all__ = ["DISTRIBUTIONS", "SQNR_FORMATS", "PAPER_FORMATS", "Distribution", "SqnrResult",
           "sample", "expected_mse", "mse_optimal_scale", "sqnr_bits", "sqnr_table", "largest_paper_difference"]


_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(8)


@dataclass(frozen=True)
class Distribution:
    """A zero-mean symmetric test distribution: σ, density, support and upper-tail moments."""

    name: str
    label: str
    sigma: float
    support: float  # density is zero beyond ±support

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if self.name == "uniform":
            return rng.uniform(-1.0, 1.0, n)
        if self.name == "gaussian":
            return rng.standard_normal(n)
        return rng.standard_t(3.0, n)

    def pdf(self, t: np.ndarray) -> np.ndarray:
        if self.name == "uniform":
            return np.where(np.abs(t) <= 1.0, 0.5, 0.0)
        if self.name == "gaussian":
            return np.exp(-t * t / 2) / math.sqrt(2 * math.pi)
        return 6 * math.sqrt(3.0) / (math.pi * (3 + t * t) ** 2)

    def tail(self, c: float) -> tuple[float, float, float]:
        """(∫ p, ∫ t·p, ∫ t²·p) over [c, ∞) for c ≥ 0, in forms free of cancellation."""
        if self.name == "uniform":
            c = min(c, 1.0)
            return (1 - c) / 2, (1 - c * c) / 4, (1 - c ** 3) / 6
        if self.name == "gaussian":
            density = math.exp(-c * c / 2) / math.sqrt(2 * math.pi)
            mass = float(special.ndtr(-c))
            return mass, density, mass + c * density
        r3 = math.sqrt(3.0)  # Student-t, ν = 3: p(t) = 6√3 / (π (3 + t²)²)
        return (float(special.stdtr(3, -c)), 3 * r3 / (math.pi * (3 + c * c)),
                3 / math.pi * ((math.atan2(r3, c)) + r3 * c / (c * c + 3)))


DISTRIBUTIONS = {d.name: d for d in (
    Distribution("uniform", "Uniform[−1, 1]", 1 / math.sqrt(3), 1.0),
    Distribution("gaussian", "Gaussian N(0, 1)", 1.0, math.inf),
    Distribution("student_t3", "Student-t ν = 3", math.sqrt(3), math.inf),
)}

PAPER_FORMATS = ("int8_sym", "float8_e2m5fnuz", "float8_e3m4fnuz", "float8_e4m3fnuz", "float8_e5m2fnuz")
"""The formats of the whitepaper's Figure 5 (its FP8 formats: 255 values, subnormals, no Inf)."""

SQNR_FORMATS = PAPER_FORMATS + ("int4_sym", "float4_e2m1fn", "float6_e2m3fn", "float6_e3m2fn",
                                "float8_e4m3fn", "float8_e5m2") + tuple(MX_FORMATS)


def _distribution(name: str) -> Distribution:
    if name not in DISTRIBUTIONS:
        raise ValueError(f"unknown distribution {name!r}; valid: {', '.join(DISTRIBUTIONS)}")
    return DISTRIBUTIONS[name]


def sample(distribution: str, n: int = 2 ** 20, seed: int = 0) -> np.ndarray:
    """``n`` seeded samples of a named distribution (see :data:`DISTRIBUTIONS`)."""
    d = _distribution(distribution)
    if not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"sample count must be an integer ≥ 2, not {n!r}")
    return d.draw(int(n), np.random.default_rng(seed))


def _expected_error(d: Distribution, grid: np.ndarray, scale: float) -> float:
    """E[(X − s·Q(X / s))²].

    The real line is cut at the bin edges and at σ·2^k (k = −12 … 30, both signs, and 0), so no
    piece is wide compared with the density's own scale near it; each piece is integrated by
    8-point Gauss–Legendre with the value of the bin it lies in, and beyond ±σ·2^30 (or the
    support) closed-form tail moments finish the two outer bins.
    """
    v = grid * scale
    edges = (v[1:] + v[:-1]) / 2
    reach = min(d.sigma * 2.0 ** 30, d.support)
    marks = d.sigma * np.exp2(np.arange(-12, 31))
    cuts = np.unique(np.clip(np.concatenate((edges, marks, -marks, [0.0, -reach, reach])), -reach, reach))
    lo, hi = cuts[:-1], cuts[1:]
    mid, half = (hi + lo) / 2, (hi - lo) / 2
    value = v[np.searchsorted(edges, mid)]
    t = mid[:, None] + half[:, None] * _NODES
    inner = float(np.sum(half * (((t - value[:, None]) ** 2 * d.pdf(t)) @ _WEIGHTS)))
    if reach == d.support:
        return inner

    def outer(c, value):  # ∫_c^∞ (t − value)² p(t) dt, c ≥ 0
        m0, m1, m2 = d.tail(c)
        return m2 - 2 * value * m1 + value * value * m0

    return inner + outer(reach, v[np.searchsorted(edges, reach)]) + outer(reach, -v[np.searchsorted(edges, -reach) ])


def expected_mse(distribution: str, fmt: Format | str, scale: float) -> float:
    """E[(X − s·Q(X / s))²] for X of the named distribution (``fmt``'s grid of ≥ 3 values)."""
    return _expected_error(_distribution(distribution), finite_values(fmt), scale)


def mse_optimal_scale(data, fmt: Format | str, *, points: int = 2048) -> float:
    """The per-tensor scale minimising the mean squared quantization error of ``fmt``.

    ``data`` is a distribution name (exact expectation) or an array of finite values.
    """
    fmt = get_format(fmt)
    grid = finite_values(fmt)
    if isinstance(data, str):
        d = _distribution(data)
        top = d.sigma * 2.0 ** 24 / fmt.max_value  # clipping points from σ·2^24 down to σ·2^-8
        return float(scale_search(lambda scales: np.array([_expected_error(d, grid, s) for s in scales]),
                                  np.array([top]), octaves=32.0, points=points, refine=40)[0])
    x = np.asarray(data, dtype=np.float64).reshape(1, -1)
    if x.size == 0 or not np.isfinite(x).all():
        raise ValueError("mse_optimal_scale needs a non-empty array of finite values")
    return float(mse_scales(x, fmt, octaves=16.0, points=129, refine=40)[0])


@dataclass(frozen=True)
class SqnrResult:
    distribution: str
    format: str
    bits: float
    sqnr_db: float
    scale: float | None
    paper_bits: float | None

    def row(self) -> dict:
        return {"distribution": self.distribution, "format": self.format, "bits": self.bits,
                "sqnr_db": self.sqnr_db, "scale": self.scale, "paper_bits": self.paper_bits}


def sqnr_bits(distribution: str, fmt: Format | MxFormat | str, *, n: int = 2 ** 20,
              seed: int = 0) -> tuple[float, float | None]:
    """(bits of accuracy, per-tensor scale — None for MX) of ``fmt`` on a named distribution."""
    d = _distribution(distribution)
    if isinstance(fmt, MxFormat) or (isinstance(fmt, str) and fmt in MX_FORMATS):
        x = sample(distribution, n, seed)
        error = quantize_mx(x, fmt).dequantize().reshape(-1)[: x.size] - x
        mse, scale = float(np.mean(error * error)), None
    else:
        scale = mse_optimal_scale(distribution, fmt)
        mse = expected_mse(distribution, fmt, scale)
    return (math.inf if mse <= 0 else math.log2(d.sigma / math.sqrt(mse))), scale


def largest_paper_difference(results) -> float | None:
    """The largest |ours − the paper's| over the cells of Figure 5 in ``results`` (bits)."""
    gaps = [abs(r.bits - r.paper_bits) for r in results if r.paper_bits is not None]
    return max(gaps) if gaps else None


def sqnr_table(distributions=tuple(DISTRIBUTIONS), formats=SQNR_FORMATS, *, n: int = 2 ** 20,
               seed: int = 0) -> list[SqnrResult]:
    """Bits of accuracy of every format on every distribution, beside the paper's Figure 5."""
    for d in distributions:
        _distribution(d)
    for f in formats:
        if not (isinstance(f, MxFormat) or f in MX_FORMATS):
            get_format(f)
    results = []
    for d in distributions:
        for f in formats:
            bits, scale = sqnr_bits(d, f, n=n, seed=seed)
            name = f.name if isinstance(f, MxFormat) else f
            results.append(SqnrResult(d, name, bits, 20 * math.log10(2) * bits, scale,
                                      FIGURE5_BITS.get((d, name))))
    return results
