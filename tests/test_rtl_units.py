"""Stand-alone IEEE multipliers and adders (rtl.hdl.units), bit-exact with numpy through the
synthesized netlist, and the integer units: what benchmarks/bench_horowitz.py sets beside
Horowitz's 45 nm table."""

import ml_dtypes
import numpy as np
import pytest

from rtl.flow.custom import characterize_verilog
from rtl.hdl.units import integer_verilog, unit_verilog
from rtl.numerics.formats import get_format

TYPES = {"float16": (np.float16, np.uint16), "bfloat16": (ml_dtypes.bfloat16, np.uint16)}


def _check(tmp_path, name, text, a, b, want):
    (tmp_path / "u.v").write_text(text)
    (tmp_path / "in.csv").write_text("a,b\n" + "\n".join(f"{x},{y}" for x, y in zip(a, b)))
    (tmp_path / "out.csv").write_text("y\n" + "\n".join(str(int(v)) for v in want))
    return characterize_verilog(tmp_path / "u.v", "nangate45_typ", stimulus=tmp_path / "in.csv",
                                expect=tmp_path / "out.csv")


@pytest.mark.parametrize("fmt", ["float16", "bfloat16"])
@pytest.mark.parametrize("kind", ["multiplier", "adder"])
def test_float_units_round_like_ieee(tmp_path, fmt, kind):
    dtype, udtype = TYPES[fmt]
    bits = get_format(fmt).bits
    rng = np.random.default_rng(4)
    a, b = rng.integers(0, 1 << bits, (2, 600), dtype=np.int64)
    sign = 1 << (bits - 1)
    edge = [0, sign, 1, sign | 1, get_format(fmt).nan_code, (get_format(fmt).nan_code - 1) & ~(1 << (bits - 2))]
    a[:len(edge)], b[:len(edge)] = edge, edge[::-1]  # ±0, the smallest subnormals, NaN, large values
    a[10], b[10] = 0x7BFF if fmt == "float16" else 0x7F7F, 0x7BFF if fmt == "float16" else 0x7F7F  # overflow
    x, y = a.astype(udtype).view(dtype), b.astype(udtype).view(dtype)
    with np.errstate(all="ignore"):  # bfloat16: the exact double result rounded once
        exact = x.astype(np.float64) * y.astype(np.float64) if kind == "multiplier" else \
            x.astype(np.float64) + y.astype(np.float64)
        result = exact.astype(dtype)  # one rounding (float64 holds every exact product and sum here)
    want = result.view(udtype).astype(np.int64)
    want[np.isnan(result.astype(np.float32))] = get_format(fmt).nan_code
    name, text = unit_verilog(kind, fmt)
    cost = _check(tmp_path, name, text, a, b, want)
    assert cost.verified and cost.clock_port is None and cost.sequential_area_um2 == 0


def test_integer_units(tmp_path):
    rng = np.random.default_rng(5)
    a, b = rng.integers(-128, 128, (2, 300), dtype=np.int64)
    name, text = integer_verilog("multiplier", 8)
    cost = _check(tmp_path, name, text, a & 255, b & 255, (a * b) & 0xFFFF)
    assert cost.verified and cost.top == "int8_multiplier" and cost.input_energy_pj_per_cycle > 0
    assert cost.input_energy_pj_per_cycle < cost.energy_pj_per_cycle
    with pytest.raises(ValueError, match="multiplier or adder"):
        integer_verilog("divider", 8)
