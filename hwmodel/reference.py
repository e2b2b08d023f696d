"""Published figures that hwmodel's measurements are compared against — never used as results.

Every table names its source. Values come from ``shared/reference/fp8_vs_int8_facts.md`` of
this project's reference notes, which records how each was obtained.
"""

from __future__ import annotations

import types

__all__ = ["WHITEPAPER", "FIGURE3_GATES", "FIGURE3_HEADLINE", "FIGURE5_BITS", "HOROWITZ_45NM_PJ"]

WHITEPAPER = ("van Baalen et al., 'FP8 versus INT8 for efficient deep learning inference', "
              "arXiv:2303.17951v1 (2023)")

# Figure 3: equivalent 2-input gate counts per stage of one MAC unit, read from the vector
# drawing of the PDF (±1–2 %); keys are (operand format, accumulator) in this project's names.
FIGURE3_GATES = types.MappingProxyType({
    ("int8_sym", "fixed"): (421, 104, 195),
    ("int8_sym", "float16"): (445, 591, 360),
    ("int8_sym", "float32"): (445, 1085, 799),
    ("float8_e2m5fnuz", "fixed"): (329, 335, 207),
    ("float8_e2m5fnuz", "float16"): (335, 579, 360),
    ("float8_e2m5fnuz", "float32"): (335, 1073, 799),
    ("float8_e3m4fnuz", "fixed"): (244, 409, 244),
    ("float8_e3m4fnuz", "float16"): (250, 573, 360),
    ("float8_e3m4fnuz", "float32"): (250, 1067, 799),
    ("float8_e4m3fnuz", "fixed"): (171, 567, 329),
    ("float8_e4m3fnuz", "float16"): (183, 567, 360),
    ("float8_e4m3fnuz", "float32"): (183, 1055, 805),
    ("float8_e5m2fnuz", "fixed"): (122, 878, 506),
    ("float8_e5m2fnuz", "float16"): (128, 567, 354),
    ("float8_e5m2fnuz", "float32"): (128, 1049, 805),
})
"""(mpy, alignadd, normacc) gates — the paper's Figure 3 [FIG-VECTOR]."""

FIGURE3_HEADLINE = types.MappingProxyType({
    ("float8_e4m3fnuz", "float16"): 1.53,  # "+53 %" versus INT8 with a 27-bit accumulator
    ("float8_e4m3fnuz", "float32"): 2.83,  # "+183 %"
})
"""Ratios to INT8 → FX+12 stated in the paper's text [EXACT]."""

HOROWITZ_45NM_PJ = types.MappingProxyType({
    "int8_mult": 0.2, "int32_add": 0.1, "int8_add": 0.03, "int16_add": 0.05,
    "fp16_add": 0.4, "fp32_add": 0.9, "fp16_mult": 1.1, "fp32_mult": 3.7,
})
"""Horowitz, ISSCC 2014, 45 nm energies as reproduced in Hennessy & Patterson 6th ed. Fig. 1.13."""

FIGURE5_BITS = types.MappingProxyType({
    (dist, fmt): bits
    for dist, row in (("uniform", (7.98, 7.33, 6.41, 5.43, 4.46)),
                      ("gaussian", (6.72, 7.08, 6.24, 5.24, 4.25)),
                      ("student_t3", (2.88, 3.21, 4.18, 5.15, 4.24)))
    for fmt, bits in zip(("int8_sym", "float8_e2m5fnuz", "float8_e3m4fnuz", "float8_e4m3fnuz",
                          "float8_e5m2fnuz"), row)
})
"""Bits of accuracy, log2(σ / RMSE), with an MSE-optimal per-tensor scale — the paper's Figure 5
[FIG-VECTOR], keyed by (distribution, format)."""
