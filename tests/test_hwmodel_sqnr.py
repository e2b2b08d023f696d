"""SQNR theory: exact expectations, the paper's Figure 5, and the fast scale search."""

import json
import math

import numpy as np
import pytest
from scipy import integrate

from hwmodel.cli import main
from hwmodel.accuracy.sqnr import (DISTRIBUTIONS, PAPER_FORMATS, expected_mse, largest_paper_difference, mse_optimal_scale,
                          sample, sqnr_bits, sqnr_table)
from rtl.numerics.formats import fake_quantize, finite_values
from rtl.numerics.scaling import _GroupErrors, choose_scale

README_BITS = 0.06  # "All 15 cells of the paper's Figure 5 are reproduced within 0.06 bit" (README)


@pytest.mark.parametrize("distribution", list(DISTRIBUTIONS))
def test_figure5_reproduced(distribution):
    results = sqnr_table([distribution], PAPER_FORMATS)
    assert len([r for r in results if r.paper_bits is not None]) == 5
    assert largest_paper_difference(results) <= README_BITS, [(r.format, r.bits, r.paper_bits) for r in results]


def test_paper_orderings_hold():
    bits = {(r.distribution, r.format): r.bits for r in sqnr_table(formats=PAPER_FORMATS)}
    best = {d: max(PAPER_FORMATS, key=lambda f: bits[(d, f)]) for d in DISTRIBUTIONS}
    assert best == {"uniform": "int8_sym", "gaussian": "float8_e2m5fnuz", "student_t3": "float8_e4m3fnuz"}


@pytest.mark.parametrize("distribution,fmt", [("gaussian", "int8_sym"), ("student_t3", "float8_e3m4fnuz"),
                                              ("uniform", "float4_e2m1fn"), ("student_t3", "int4_sym")])
def test_expectation_matches_adaptive_quadrature(distribution, fmt):
    """Bin by bin with scipy's adaptive quadrature, at the optimum and off it."""
    d = DISTRIBUTIONS[distribution]
    best = mse_optimal_scale(distribution, fmt)
    for scale in (best, best * 0.7, best * 1.5):
        v = finite_values(fmt) * scale
        edges = np.concatenate(([-np.inf], (v[1:] + v[:-1]) / 2, [np.inf]))
        total = sum(integrate.quad(lambda t: (t - value) ** 2 * d.pdf(np.array(t)),
                                   max(lo, -d.support), min(hi, d.support), limit=200)[0]
                    for lo, hi, value in zip(edges[:-1], edges[1:], v) if max(lo, -d.support) < min(hi, d.support))
        assert expected_mse(distribution, fmt, scale) == pytest.approx(total, rel=1e-5)


@pytest.mark.parametrize("distribution,fmt", [("uniform", "float8_e3m4fnuz"), ("gaussian", "float4_e2m1fn"),
                                              ("gaussian", "float8_e5m2fnuz")])
def test_expectation_matches_monte_carlo(distribution, fmt):
    """Against 2^21 samples quantized with the real rounding (formats whose optimum clips little:
    a clipped tail of ~10^2 samples would make the sampled value noisier than the tolerance)."""
    scale = mse_optimal_scale(distribution, fmt)
    x = sample(distribution, 2 ** 21, seed=3)
    sampled = float(np.mean((fake_quantize(x, fmt, scale) - x) ** 2))
    assert sampled == pytest.approx(expected_mse(distribution, fmt, scale), rel=0.01)


@pytest.mark.parametrize("distribution", list(DISTRIBUTIONS))
def test_density_and_tail_moments_against_quadrature(distribution):
    d = DISTRIBUTIONS[distribution]
    assert integrate.quad(lambda t: t * t * d.pdf(np.array(t)), -np.inf, np.inf)[0] == pytest.approx(d.sigma ** 2)
    for c in (0.0, 0.3, 2.0, 40.0):
        for k, moment in enumerate(d.tail(c)):
            expected = integrate.quad(lambda t: t ** k * d.pdf(np.array(t)), c, min(d.support, np.inf))[0] \
                if c < d.support else 0.0
            assert moment == pytest.approx(expected, rel=1e-7, abs=1e-14), (c, k)


def test_sampled_error_is_exact():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(10_000)
    for fmt in ("int8_sym", "float8_e4m3fn", "float4_e2m1fn"):
        for scale in (0.001, 0.01, 0.05):
            direct = float(np.mean((fake_quantize(x, fmt, scale) - x) ** 2))
            sse = _GroupErrors(x[None, :], fmt)(np.array([scale]))[0]
            assert sse / x.size == pytest.approx(direct, rel=1e-9, abs=1e-15)


def test_sample_scale_search_beats_the_coarse_grid():
    x = np.random.default_rng(2).standard_t(3, 50_000)
    for fmt in ("int8_sym", "float8_e3m4fnuz"):
        ours = mse_optimal_scale(x, fmt)
        coarse = float(choose_scale(x, fmt, "mse"))
        mse = lambda s: float(np.mean((fake_quantize(x, fmt, s) - x) ** 2))  # noqa: E731
        assert mse(ours) <= mse(coarse) * (1 + 1e-9)


def test_sampling_flatters_clipping_formats_on_heavy_tails():
    """Why the expectation is exact rather than sampled: a finite sample has no far tail."""
    exact, _ = sqnr_bits("student_t3", "float8_e3m4fnuz")
    x = sample("student_t3", 2 ** 18)
    s = mse_optimal_scale(x, "float8_e3m4fnuz")
    sampled = math.log2(math.sqrt(3) / math.sqrt(np.mean((fake_quantize(x, "float8_e3m4fnuz", s) - x) ** 2)))
    assert sampled > exact + 0.5


def test_mx_formats_are_sampled_with_block_scales():
    bits, scale = sqnr_bits("gaussian", "mxint8", n=2 ** 14)
    assert scale is None and 6.5 < bits < 7.5


def test_bad_input():
    with pytest.raises(ValueError, match="unknown distribution 'cauchy'"):
        sample("cauchy")
    with pytest.raises(ValueError, match="sample count"):
        sample("gaussian", 1)
    with pytest.raises(ValueError, match="finite"):
        mse_optimal_scale(np.array([1.0, np.nan]), "int8")
    assert mse_optimal_scale(np.zeros(4), "int8") == 1.0


def test_cli_json_and_errors(capsys, tmp_path):
    assert main(["sqnr", "--formats", "int8_sym,float8_e4m3fn", "--distributions", "gaussian", "--json",
                 "--plot", str(tmp_path / "s.svg")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(r["distribution"], r["format"]) for r in out] == [("gaussian", "int8_sym"), ("gaussian", "float8_e4m3fn")]
    assert set(out[0]) == {"distribution", "format", "bits"}
    assert (tmp_path / "s.svg").read_text().lstrip().startswith("<?xml")
    assert main(["sqnr", "--formats", "int8_symm", "--plot", ""]) == 2
    assert "closest valid names: int8_sym" in capsys.readouterr().err
    assert main(["sqnr", "--distributions", "cauchy", "--plot", ""]) == 2


def test_the_figure_says_sampled_only_where_block_formats_are_there():
    from hwmodel.study.plots import sqnr_label
    plain = sqnr_table(formats=("int8_sym",), distributions=("gaussian",), n=2 ** 12)
    mixed = sqnr_table(formats=("int8_sym", "mxfp8_e4m3"), distributions=("gaussian",), n=2 ** 12)
    assert "sampled" not in sqnr_label(plain)
    assert "MX sampled" in sqnr_label(mixed)
