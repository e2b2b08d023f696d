"""SCALE-Sim topology CSV files, read and written so that they mean what they mean to SCALE-Sim.

Conv form: ``Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels,
Num Filter, Strides,`` (an optional ``N:M`` sparsity column). GEMM form: ``Layer, M, N, K,``.
SCALE-Sim's quirks, as in its ``topology_utils``: every row ends with a comma (it drops the last
field of each row); there is no padding column — padding is folded into the IFMAP size; one
stride serves both axes; ``DP`` in a layer name marks a depthwise conv (one single-channel conv
per input channel); and the output size is ceil((I − F + S) / S), which is not the usual
floor((I − F) / S) + 1 when I − F is not a multiple of S. An imported file keeps SCALE-Sim's
output size, so cycle comparisons are exact, and its notes list the layers where the readings
differ.
"""

from __future__ import annotations

import math
from pathlib import Path

from rtl.numerics.sparsity import parse_nm
from workloads.trace import Trace, TraceError, conv_row, gemm_row

__all__ = ["read_scalesim", "write_scalesim", "is_scalesim_csv", "FORMS"]

FORMS = ("conv", "gemm")

CONV_HEADER = ["Layer name", "IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width",
               "Channels", "Num Filter", "Strides"]
GEMM_HEADER = ["Layer", "M", "N", "K"]


def is_scalesim_csv(text: str) -> bool:
    header = [h.strip().lower() for h in text.lstrip("\ufeff").partition("\n")[0].split(",")]
    return "ifmap height" in header or header[:4] == ["layer", "m", "n", "k"]


def read_scalesim(path: str | Path, text: str | None = None, *, network: str | None = None) -> Trace:
    path = Path(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as error:
            raise TraceError(f"{path}: cannot read ({error.strerror})") from None
    lines = text.lstrip("\ufeff").splitlines()
    if not lines:
        raise TraceError(f"{path}: empty file")
    header = [h.strip() for h in lines[0].split(",")]
    gemm = [h.lower() for h in header[:4]] == ["layer", "m", "n", "k"]
    columns = GEMM_HEADER if gemm else CONV_HEADER
    if not gemm and [h.lower() for h in header[:8]] != [c.lower() for c in CONV_HEADER]:
        raise TraceError(f"{path}: row 1: header {header} is neither the SCALE-Sim conv form "
                         f"({', '.join(CONV_HEADER)}) nor the GEMM form ({', '.join(GEMM_HEADER)})")
    rows, notes = [], []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.strip().split(",")
        if fields[-1].strip() != "":
            raise TraceError(f"{path}: row {number}: no trailing comma; SCALE-Sim would drop its last "
                             f"field ({fields[-1].strip()!r})")
        fields = [f.strip() for f in fields[:-1]]
        if len(fields) < len(columns):
            raise TraceError(f"{path}: row {number}: missing column {columns[len(fields)]!r} "
                             f"({len(fields)} of {len(columns)} fields)")
        values = {}
        for column, value in zip(columns[1:], fields[1:len(columns)]):
            try:
                values[column] = int(value)
            except ValueError:
                raise TraceError(f"{path}: row {number}, column {column!r}: {value!r} is not an integer") from None
            if values[column] <= 0:
                raise TraceError(f"{path}: row {number}, column {column!r}: size must be positive, not {values[column]}")
        name = fields[0] or f"layer{number - 1}"
        if gemm:
            rows.append(gemm_row(name, m=values["M"], n=values["N"], k=values["K"], op="scalesim_gemm"))
            continue
        h, w = values["IFMAP Height"], values["IFMAP Width"]
        r, s = values["Filter Height"], values["Filter Width"]
        c, k, stride = values["Channels"], values["Num Filter"], values["Strides"]
        if r > h or s > w:
            raise TraceError(f"{path}: row {number}: filter {r}×{s} is larger than the IFMAP {h}×{w}")
        p = math.ceil((h - r + stride) / stride)  # SCALE-Sim's reading
        q = math.ceil((w - s + stride) / stride)
        if (p, q) != ((h - r) // stride + 1, (w - s) // stride + 1):
            notes.append(f"{name}: SCALE-Sim's output {p}×{q} differs from floor((I − F) / S) + 1 = "
                         f"{(h - r) // stride + 1}×{(w - s) // stride + 1}; kept SCALE-Sim's")
        if "DP" in name:  # one single-channel conv per channel, num_filter filters each
            rows.append(conv_row(name, batch=1, C=c, K=c * k, H=h, W=w, R=r, S=s, stride=(stride, stride),
                                 groups=c, P=p, Q=q, op="scalesim_dp"))
        else:
            rows.append(conv_row(name, batch=1, C=c, K=k, H=h, W=w, R=r, S=s, stride=(stride, stride),
                                 P=p, Q=q, op="scalesim_conv"))
    if not rows:
        raise TraceError(f"{path}: no layers")
    return Trace.from_rows(rows, network=network or path.stem, source=str(path), notes=tuple(notes))


def write_scalesim(trace: Trace, form: str = "conv", *, weight_sparsity: str = "") -> tuple[str, list[str]]:
    """The trace as a SCALE-Sim topology (``conv`` or ``gemm`` form) and notes on what changes.

    Conv form: convs with padding folded into the IFMAP (one stride for both axes, no dilation,
    batch 1), and GEMMs the way SCALE-Sim maps its GEMM form (IFMAP M × K, filter 1 × K, one
    channel, N filters). GEMM form: every MAC layer, a row per independent product.
    ``weight_sparsity`` (``"2:4"``): SCALE-Sim 3.0's sparsity column, the pattern on every layer
    whose k × n operand is a weight and ``1:1`` (dense) on the others.
    """
    notes = []
    pattern = parse_nm(weight_sparsity, "weight_sparsity")
    extra = " Sparsity," if pattern else ""

    def sparsity(row) -> str:
        return "" if not pattern else f" {weight_sparsity}," if row.weight_operand else " 1:1,"

    if form == "gemm":
        lines = [", ".join(GEMM_HEADER) + "," + extra]
        for row in trace.mac_layers.itertuples():
            for i in range(row.gemm_count):
                name = row.name if row.gemm_count == 1 else f"{row.name}_{i}"
                lines.append(f"{name}, {row.gemm_m}, {row.gemm_n}, {row.gemm_k}," + sparsity(row))
        return "\n".join(lines) + "\n", notes
    if form != "conv":
        raise ValueError(f"form must be one of {FORMS}, not {form!r}")
    lines = [", ".join(CONV_HEADER) + "," + extra]
    for row in trace.layers.itertuples():
        if row.kind in ("linear", "matmul"):  # SCALE-Sim's own GEMM-as-conv mapping
            for i in range(row.gemm_count):
                name = row.name if row.gemm_count == 1 else f"{row.name}_{i}"
                lines.append(f"{name.replace('DP', 'Dp')}, {row.gemm_m}, {row.gemm_k}, 1, {row.gemm_k}, 1, "
                             f"{row.gemm_n}, 1," + sparsity(row))
            continue
        if row.kind not in ("conv", "depthwise"):
            continue
        if row.stride_h != row.stride_w or row.dilation_h != 1 or row.dilation_w != 1 or row.batch != 1:
            raise ValueError(f"layer {row.name}: SCALE-Sim's conv form has one stride, no dilation "
                             "and batch 1")
        h = row.H + row.pad_top + row.pad_bottom
        w = row.W + row.pad_left + row.pad_right
        if row.kind == "depthwise":
            name, channels, filters = (row.name if "DP" in row.name else f"{row.name}_DP"), row.C, row.K // row.C
        elif row.groups != 1:
            raise ValueError(f"layer {row.name}: grouped conv ({row.groups} groups) has no SCALE-Sim "
                             "conv form (write the GEMM form)")
        else:
            name, channels, filters = row.name.replace("DP", "Dp"), row.C, row.K
        p = math.ceil((h - row.R + row.stride_h) / row.stride_h)
        if p != row.P:
            notes.append(f"{row.name}: SCALE-Sim will compute {p} output rows, not {row.P}")
        lines.append(f"{name}, {h}, {w}, {row.R}, {row.S}, {channels}, {filters}, {row.stride_h}," + sparsity(row))
    return "\n".join(lines) + "\n", notes
