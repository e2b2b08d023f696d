"""The MAC cost table: van Baalen et al.'s Figure 3 measured on real cells, and more.

Rows: the standard set (:data:`rtl.hdl.spec.STANDARD_DESIGNS`) — INT8 and the paper's four FP8
formats × {fixed FX+12, float16, float32} accumulators (with the paper's gate counts beside
ours), plus rows the paper lacks: int4, int16, W4A8, OCP float8_e4m3fn / float8_e5m2, FP4,
flush-to-zero, float16/bfloat16, and 4- and 16-lane dot products. Every row is synthesized on
each library and its energy measured on one operand stream.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rtl.files import atomic_write_text
from rtl.flow.characterize import DEFAULT_CACHE, characterize_many
from rtl.hdl.mac import WHITEPAPER_STAGES
from rtl.hdl.spec import STANDARD_DESIGNS, Design

from hwmodel.reference import FIGURE3_GATES, FIGURE3_HEADLINE, HOROWITZ_45NM_PJ, WHITEPAPER
from hwmodel.study.plots import pyplot, save_figure

__all__ = ["build_mac_table", "write_mac_table", "render_mac_table", "sanity_anchors", "differs_from_paper",
           "RATIO_TOLERANCE", "BASELINE"]

RATIO_TOLERANCE = 0.25  # flag rows whose ratio to INT8 differs from the paper's by more than this
BASELINE = Design("int8_sym", "int8_sym", "fixed")


def differs_from_paper(ours_ratio, paper_ratio, tolerance: float = RATIO_TOLERANCE):
    """Whether our area ratio to INT8 departs from the paper's by more than ``tolerance``
    (relative); False where the paper has no such design."""
    ours, paper = pd.Series(ours_ratio, dtype=float), pd.Series(paper_ratio, dtype=float)
    return ((ours / paper - 1).abs() > tolerance) & paper.notna()


def _label(design: Design, spec) -> str:
    operands = design.a if design.a == design.b else f"{design.a}×{design.b}"
    acc_text = f"fixed{spec.acc_width}" if design.acc == "fixed" else design.acc
    return f"{operands} → {acc_text}{' ftz' if design.flush_to_zero else ''}" + (
        f", {design.lanes} lanes" if design.lanes > 1 else "")


def build_mac_table(libraries=("sky130hd_tt", "nangate45_typ"), *, stream: str = "uniform",
                    processes: int | None = None, cache_dir=DEFAULT_CACHE, tool: str = "yowasp",
                    rows=None) -> pd.DataFrame:
    """Characterize every row on every library; one DataFrame row per design."""
    rows = list(rows or STANDARD_DESIGNS)
    if BASELINE not in rows:
        rows.insert(0, BASELINE)
    specs = [r.spec() for r in rows]
    table = pd.DataFrame({
        "design": [_label(r, s) for r, s in zip(rows, specs)],
        "a": [r.a for r in rows], "b": [r.b for r in rows], "acc": [s.acc.name for s in specs],
        "acc_width": [s.acc_width for s in specs], "lanes": [r.lanes for r in rows],
    })
    paper = [FIGURE3_GATES.get((r.a, r.acc)) if r.in_whitepaper else None for r in rows]
    base_paper = sum(FIGURE3_GATES[(BASELINE.a, BASELINE.acc)])
    for i, stage in enumerate(WHITEPAPER_STAGES):
        table[f"paper_{stage}_gates"] = [p[i] if p else None for p in paper]
    table["paper_gates"] = [sum(p) if p else None for p in paper]
    table["paper_ratio"] = [sum(p) / base_paper if p else None for p in paper]
    for library in libraries:
        costs = characterize_many(specs, processes=processes, library=library, stream=stream,
                                  cache_dir=cache_dir, tool=tool)
        base = costs[rows.index(BASELINE)]
        table[f"{library}_area_um2"] = [c.area_um2 for c in costs]
        table[f"{library}_nand2eq"] = [c.nand2_equivalent for c in costs]
        nand2 = base.area_um2 / base.nand2_equivalent
        for stage in WHITEPAPER_STAGES:
            table[f"{library}_{stage}_nand2eq"] = [c.whitepaper_stage_area_um2[stage] / nand2 for c in costs]
        table[f"{library}_ratio"] = [c.area_um2 / base.area_um2 for c in costs]
        table[f"{library}_energy_pj_per_mac"] = [c.energy_pj_per_mac for c in costs]
        table[f"{library}_energy_ratio"] = [c.energy_pj_per_mac / base.energy_pj_per_mac for c in costs]
        table[f"{library}_critical_path_ns"] = [c.critical_path_ns for c in costs]
    first = libraries[0]
    table["ratio_vs_paper"] = table[f"{first}_ratio"] / table["paper_ratio"]
    table["differs_from_paper"] = differs_from_paper(table[f"{first}_ratio"], table["paper_ratio"])
    table.attrs["libraries"] = list(libraries)
    table.attrs["stream"] = stream
    return table


def sanity_anchors(table: pd.DataFrame) -> list[str]:
    """Reference points printed next to ours (not tuned to)."""
    lines = []
    libraries = table.attrs.get("libraries", [])
    int8 = table[(table.a == "int8_sym") & (table.acc == "fixed27") & (table.lanes == 1)]
    if "nangate45_typ" in libraries and len(int8):
        ours = float(int8["nangate45_typ_energy_pj_per_mac"].iloc[0])
        anchor = HOROWITZ_45NM_PJ["int8_mult"] + HOROWITZ_45NM_PJ["int32_add"]
        lines.append(f"INT8 MAC on Nangate45: {ours:.3f} pJ/MAC measured (multiplier, 27-bit add, "
                     f"register and clock) vs Horowitz 45 nm 8-bit multiply + 32-bit add = {anchor:.1f} pJ")
    for (fmt, acc), ratio in FIGURE3_HEADLINE.items():
        row = table[(table.a == fmt) & (table.acc == acc) & (table.lanes == 1)]
        if len(row):
            for library in libraries:
                ours = float(row[f"{library}_ratio"].iloc[0])
                lines.append(f"{fmt} + {acc} accumulator vs INT8 + 27-bit accumulator on {library}: "
                             f"{(ours - 1) * 100:+.0f} % area measured; paper: {(ratio - 1) * 100:+.0f} % gates")
    return lines


def render_mac_table(table: pd.DataFrame) -> str:
    libraries = table.attrs.get("libraries", [])
    header = f"{'design':42s} {'paper gates':>11s} {'paper ×':>7s}"
    for library in libraries:
        header += f" {library + ' NAND2eq':>20s} {'×':>5s} {'µm²':>8s} {'pJ/MAC':>7s}"
    lines = [header, "-" * len(header)]
    for _, row in table.iterrows():
        paper = f"{row.paper_gates:11.0f} {row.paper_ratio:7.2f}" if pd.notna(row.paper_gates) else f"{'':11s} {'':7s}"
        text = f"{row.design[:42]:42s} {paper}"
        for library in libraries:
            text += (f" {row[f'{library}_nand2eq']:20.0f} {row[f'{library}_ratio']:5.2f}"
                     f" {row[f'{library}_area_um2']:8.0f} {row[f'{library}_energy_pj_per_mac']:7.3f}")
        if bool(row.differs_from_paper) and pd.notna(row.paper_ratio):
            text += f"  <- differs from the paper by {(row.ratio_vs_paper - 1) * 100:+.0f} %"
        lines.append(text)
    lines += ["", f"Paper: {WHITEPAPER}, Figure 3 (gate counts read from the figure; ratios to INT8 → FX+12).",
              f"Ours: area from synthesis (NAND2-equivalents = area / smallest NAND2), energy on the "
              f"'{table.attrs.get('stream', '')}' stream; rows flagged where our ratio differs from "
              f"the paper's by more than {RATIO_TOLERANCE:.0%}.", ""]
    lines += sanity_anchors(table)
    return "\n".join(lines)


def write_mac_table(table: pd.DataFrame, directory) -> list[Path]:
    """``mac_table.csv``, ``mac_table.txt`` and ``mac_table.png`` (stacked stages, paper beside ours)."""
    plt = pyplot()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = [atomic_write_text(directory / "mac_table.csv", table.to_csv(index=False)),
             atomic_write_text(directory / "mac_table.txt", render_mac_table(table) + "\n")]
    library = table.attrs.get("libraries", ["sky130hd_tt"])[0]
    rows = table[table.paper_gates.notna()]
    fig, ax = plt.subplots(figsize=(12, 5.5))
    colors = {"mpy": "#4c72b0", "alignadd": "#dd8452", "normacc": "#55a868"}
    x = range(len(rows))
    for offset, source, hatch in ((-0.2, "paper", "//"), (0.2, "ours", "")):
        bottom = [0.0] * len(rows)
        for stage in WHITEPAPER_STAGES:
            column = f"paper_{stage}_gates" if source == "paper" else f"{library}_{stage}_nand2eq"
            values = rows[column].astype(float).tolist()
            ax.bar([i + offset for i in x], values, 0.38, bottom=bottom, color=colors[stage],
                   hatch=hatch, edgecolor="white",
                   label=f"{stage} ({'paper, gates' if source == 'paper' else f'ours, NAND2-eq, {library}'})")
            bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_xticks(list(x))
    ax.set_xticklabels([d.replace(" → ", "\n→ ") for d in rows.design], rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("2-input-gate equivalents")
    ax.set_title("MAC area by stage: van Baalen et al. Fig. 3 (hatched) vs synthesized (solid)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    png = save_figure(fig, directory / "mac_table.png")
    plt.close(fig)
    return paths + [png]
