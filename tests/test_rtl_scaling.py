"""Scale selection, granularity and MX block formats."""

import math

import numpy as np
import pytest

from rtl.numerics import formats as F
from rtl.numerics import scaling as S


def test_absmax_per_tensor_channel_block():
    x = np.array([[1.0, -4.0, 2.0], [0.5, 0.25, -0.125]])
    fmt = F.get_format("int8_sym")
    assert S.choose_scale(x, fmt) == pytest.approx(4 / 127)
    assert S.choose_scale(x, fmt, axis=0).ravel().tolist() == pytest.approx([4 / 127, 0.5 / 127])
    assert S.choose_scale(x, fmt, axis=-1).shape == (1, 3)
    assert S.choose_scale(x, fmt, axis=1).ravel().tolist() == pytest.approx([1 / 127, 4 / 127, 2 / 127])
    blocks = S.choose_scale(x, fmt, block_size=2)  # blocks along the last axis, the last one short
    assert blocks.shape == (2, 2)
    assert blocks.ravel().tolist() == pytest.approx([4 / 127, 2 / 127, 0.5 / 127, 0.125 / 127])
    assert S.choose_scale(np.zeros(5), fmt) == 1.0


def test_quantize_tensor_roundtrip_and_granularity_shapes():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((16, 8, 3, 3)) * np.linspace(0.1, 10, 16)[:, None, None, None]
    for kwargs in ({}, {"axis": 0}, {"block_size": 4}, {"block_size": 5, "axis": 1}):
        qt = S.quantize_tensor(w, "float8_e4m3fn", **kwargs)
        err = np.abs(qt.dequantize() - w)
        rel = err.max() / np.abs(w).max()
        assert qt.codes.shape == w.shape and rel < 2 ** -4, kwargs
    per_tensor = S.quantize_tensor(w, "int4_sym")
    per_channel = S.quantize_tensor(w, "int4_sym", axis=0)
    assert np.mean((per_channel.dequantize() - w) ** 2) < np.mean((per_tensor.dequantize() - w) ** 2)


@pytest.mark.parametrize("name", ["int8_sym", "int4_sym", "float8_e4m3fnuz", "float4_e2m1fn"])
def test_mse_scale_beats_absmax_on_heavy_tails(name):
    rng = np.random.default_rng(1)
    x = rng.standard_t(3, 20_000)
    mse_scale = S.choose_scale(x, name, "mse")
    absmax_scale = S.choose_scale(x, name, "absmax")

    def err(s):
        return np.mean((F.fake_quantize(x, name, s) - x) ** 2)

    assert err(mse_scale) <= err(absmax_scale)
    # the search is locally optimal: nearby scales are no better
    for f in (0.97, 1.03):
        assert err(mse_scale) <= err(mse_scale * f) * 1.0001
    if name == "int4_sym":
        assert mse_scale < absmax_scale / 2  # clipping outliers pays off


def test_percentile_scale():
    x = np.concatenate([np.linspace(-1, 1, 10_001), [100.0]])
    s = S.choose_scale(x, "int8_sym", "percentile", percentile=99.9)
    assert s == pytest.approx(np.percentile(np.abs(x), 99.9) / 127)
    blocks = S.choose_scale(np.array([1.0, 2, 3, 4, 5, 6, 7]), "int8_sym", "percentile",
                            block_size=4, percentile=100)
    assert blocks.tolist() == pytest.approx([4 / 127, 7 / 127])  # padding left out


def test_bad_granularity_and_methods():
    x = np.ones((2, 3))
    with pytest.raises(ValueError, match="axis 2 is out of range for a tensor with 2 dimension"):
        S.choose_scale(x, "int8", axis=2)
    with pytest.raises(ValueError, match="axis -3 is out of range"):
        S.quantize_tensor(x, "int8", axis=-3)
    with pytest.raises(ValueError, match="method must be one of"):
        S.choose_scale(x, "int8", "minmax")
    with pytest.raises(ValueError, match="block_size must be a positive integer, not 0"):
        S.choose_scale(x, "int8", block_size=0)
    with pytest.raises(ValueError, match=r"non-finite value .* at index \(1, 2\)"):
        S.choose_scale(np.array([[1.0, 1, 1], [1, 1, np.inf]]), "int8")
    with pytest.raises(ValueError, match="unknown MX format 'mxfp8'.*mxfp8_e4m3"):
        S.get_mx_format("mxfp8")


# ----- MX ---------------------------------------------------------------------------------
def test_mx_table_matches_ocp_spec():
    assert {n: f.bits_per_element for n, f in S.MX_FORMATS.items()} == {
        "mxfp8_e4m3": 8.25, "mxfp8_e5m2": 8.25, "mxfp6_e3m2": 6.25, "mxfp6_e2m3": 6.25,
        "mxfp4_e2m1": 4.25, "mxint8": 8.25, "nvfp4": 4.5}
    assert {n: f.element_emax for n, f in S.MX_FORMATS.items()} == {
        "mxfp8_e4m3": 8, "mxfp8_e5m2": 15, "mxfp6_e3m2": 4, "mxfp6_e2m3": 2, "mxfp4_e2m1": 2, "mxint8": 0,
        "nvfp4": 2}
    assert all(f.block_size == 32 and f.scale_format.name == "float8_e8m0fnu"
               for n, f in S.MX_FORMATS.items() if n != "nvfp4")
    assert (S.MX_FORMATS["nvfp4"].block_size, S.MX_FORMATS["nvfp4"].scale_format.name) == (16, "float8_e4m3fn")


def _mx_reference_block(block, mx):
    """OCP MX v1.0 §6.3 conversion written out for one block."""
    absmax = max(abs(v) for v in block)
    # ⌊log2 amax⌋ exactly: math.frexp's exponent (math.log2 rounds a value just below 2^k up to k)
    shared = -127 if absmax == 0 else max(-127, min(127, math.frexp(absmax)[1] - 1 - mx.element_emax))
    x = 2.0 ** shared
    unit = 2.0 ** mx.element_scale_exponent
    codes = F.quantize(np.array(block) / (x * unit), mx.element)
    return shared + 127, codes


@pytest.mark.parametrize("name", [n for n, f in S.MX_FORMATS.items() if f.power_of_two_scale])
def test_mx_quantize_matches_spec_per_block(name):
    mx = S.get_mx_format(name)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 96)) * np.exp2(rng.integers(-20, 20, (3, 1)))
    x[1, 40] = 1e4  # an outlier in one block only
    x[2, 70] = np.nextafter(2.0 ** 40, 0)  # ⌊log2⌋ is 39, where np.log2 gives 40.0
    qt = S.quantize_mx(x, mx)
    assert qt.scale_codes.shape == (3, 3) and qt.codes.shape == x.shape
    for r in range(3):
        for b in range(3):
            block = x[r, 32 * b:32 * (b + 1)]
            scale_code, codes = _mx_reference_block(block, mx)
            assert qt.scale_codes[r, b] == scale_code
            assert np.array_equal(qt.codes[r, 32 * b:32 * (b + 1)], codes)
    y = qt.dequantize()
    # the outlier's block is coarse, the others are not disturbed by it
    other = np.abs(y[1, :32] - x[1, :32]).max() / np.abs(x[1, :32]).max()
    assert other < 0.3


def test_nvfp4_quantize_matches_its_two_level_recipe():
    """NVFP4 written out: a float32 tensor scale amax / (6 · 448), E4M3 block scales of
    amax_block / 6 over it, E2M1 elements rounded at their product."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 48)) * np.exp2(rng.integers(-6, 6, (2, 1)))
    x[0, 5] = 0.0
    x[1, 16:32] = 1e-9  # a block far below the tensor's range: its E4M3 scale rounds to 0
    qt = S.quantize_mx(x, "nvfp4")
    tensor = float(np.float32(np.abs(x).max() / (6 * 448)))
    assert qt.tensor_scale == tensor and qt.scale_codes.shape == (2, 3)
    for r in range(2):
        for b in range(3):
            block = x[r, 16 * b:16 * (b + 1)]
            code = F.quantize(np.array([np.abs(block).max() / 6 / tensor]), "float8_e4m3fn")[0]
            assert qt.scale_codes[r, b] == code
            scale = F.decode(np.array([code]), "float8_e4m3fn")[0] * tensor
            want = F.quantize(block / scale, "float4_e2m1fn") if scale else np.zeros(16)
            assert np.array_equal(qt.codes[r, 16 * b:16 * (b + 1)], want)
    assert qt.scale_codes[1, 1] == 0 and not qt.codes[1, 16:32].any()
    assert qt.scale_codes.max() == 0x7E  # the largest block reaches the largest E4M3 scale, 448
    assert np.abs(qt.dequantize() - x).max() <= np.abs(x).max() / 6  # within one E2M1 step at the top


def test_mx_scale_is_e8m0_and_values_are_exact_products():
    qt = S.quantize_mx(np.linspace(-3, 3, 64), "mxfp4_e2m1")
    scales = F.decode(qt.scale_codes, "float8_e8m0fnu")
    assert np.array_equal(scales, qt.scale)
    assert set(np.unique(np.abs(qt.dequantize() / np.repeat(scales, 32)))) <= set(F.finite_values("float4_e2m1fn"))


def test_mx_partial_block_is_padded_or_refused():
    x = np.arange(40, dtype=float)
    qt = S.quantize_mx(x, "mxint8")
    assert qt.codes.shape == (40,) and qt.scale.shape == (2,)
    # padding is zeros: the short block's scale comes from its own 8 values
    assert qt.scale_codes[1] == 127 + math.floor(math.log2(39))
    with pytest.raises(ValueError, match="length 40 along axis 0 is not a multiple of the mxint8 block size 32"):
        S.quantize_mx(x, "mxint8", pad=False)



@pytest.mark.parametrize("name", ["mxfp4_e2m1", "nvfp4"])
def test_mx_rows_shorter_than_a_block_and_empty_tensors(name):
    """Rows shorter than one block are each one block, quantized as if padded with zeros; empty
    tensors keep their shapes."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 9)) * np.exp(rng.normal(0, 3, (6, 1)))
    x[2, 4] = np.inf
    block = S.get_mx_format(name).block_size
    short = S.quantize_mx(x, name)
    top = float(np.abs(x[np.isfinite(x)]).max())
    padded = S.quantize_mx(np.pad(x, ((0, 0), (0, block - 9))), name, tensor_absmax=top)
    assert np.array_equal(short.codes, padded.codes[:, :9]) and np.array_equal(short.scale_codes, padded.scale_codes)
    assert short.scale_codes.shape == (6, 1) and np.isnan(short.scale[2, 0])
    for shape, scales in (((3, 0), (3, 0)), ((0, 5), (0, 1)), ((0, 0), (0, 0))):
        qt = S.quantize_mx(np.ones(shape), name)
        assert qt.codes.shape == shape and qt.scale.shape == scales

def test_mx_non_finite_block_gets_nan_scale():
    x = np.ones(64)
    x[3] = np.nan
    qt = S.quantize_mx(x, "mxfp8_e4m3")
    assert qt.scale_codes.tolist() == [0xFF, 127 - 8]  # 1.0 = 2**8 · 2**-8
    assert np.isnan(qt.dequantize()[:32]).all() and (qt.dequantize()[32:] == 1).all()


def test_mxint8_elements_span_plus_minus_two():
    qt = S.quantize_mx(np.array([1.984375, -1.984375, 0.015625] + [0.0] * 29), "mxint8")
    assert qt.scale_codes[0] == 127
    assert F.decode(qt.codes[:3], "int8_sym").tolist() == [127, -127, 1]
