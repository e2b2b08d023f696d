"""Plots and the markdown report of a sweep: cost against accuracy, beside the whitepaper.

Every figure is written as PNG and SVG with units on its axes. The report's tables put the
paper's published figures (labelled as the paper's) next to what this run measured, and its
conclusions are computed from the run's data — they say what the data supports, agreeing with
the paper or not.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from rtl.numerics.scaling import MX_FORMATS
from rtl.flow.clocking import AREA_MARGIN
from rtl.hdl.spec import MAX_STAGES

from hwmodel.accuracy.sqnr import largest_paper_difference
from hwmodel.accuracy.studies import outlier_verdict
from hwmodel.study.plots import plot_sqnr, pyplot, save_figure
from hwmodel.study.spec import VARIANT_DEFAULTS, fill_variants, variant_suffix
from hwmodel.reference import FIGURE3_GATES, FIGURE3_HEADLINE, WHITEPAPER

__all__ = ["write_results", "write_plots", "write_report", "pareto_front", "accuracy_column", "file_stem", "design_label"]

TRANSFORMERS = ("bert_base", "minilm_l6", "vit_s16", "vit_b16", "gpt2_small", "gpt2_small_decode",
                "llama3_8b_prefill", "llama3_8b_decode", "llama3_2_1b_prefill", "llama3_2_1b_decode")
USABLE = 0.01  # a design "keeps accuracy" within this of the sweep's best on the workload's accuracy column
STAGE_COLORS = {"mpy": "#4c72b0", "alignadd": "#dd8452", "normacc": "#55a868"}


OWN_ACCURACY = {"minilm_l6": "minilm_cosine_mean", "efficientnet_lite0": "efficientnet_lite0_top1_agreement",
                "ppocr_rec": "ppocr_line_accuracy", "ppocr_det": "ppocr_det_box_f1", "ppocr_cls": "ppocr_cls_accuracy"}
"""Workloads whose own network's accuracy the sweeps can measure, and that metric's column."""


def accuracy_column(points: pd.DataFrame, workload: str) -> str | None:
    """The accuracy measured closest to ``workload``: its own network's where the sweep measured
    it (:data:`OWN_ACCURACY`), else a proxy — MiniLM's mean cosine for transformers, the real
    CNNs' (then the digits CNN's) for convolutional networks, whichever the sweep measured."""
    cnn = ["efficientnet_lite0_top1_agreement", "ppocr_line_accuracy", "digits_cnn_top1", "digits_mlp_top1"]
    order = ["minilm_cosine_mean", *cnn] if workload in TRANSFORMERS else [*cnn, "minilm_cosine_mean"]
    own = OWN_ACCURACY.get(workload)
    for column in ([own] if own else []) + order:
        if column in points and points[column].notna().any():
            return column
    return None


def file_stem(workload: str) -> str:
    """A file-name-safe stem for a workload (a path names its file; nothing escapes the folder)."""
    name = Path(workload).stem if ("/" in workload or "\\" in workload or workload.endswith((".onnx", ".csv"))) \
        else workload
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "workload"


def pareto_front(cost: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """Mask of the points no other point beats in both lower cost and higher quality."""
    cost, quality = np.asarray(cost, float), np.asarray(quality, float)
    order = np.lexsort((-quality, cost))
    mask = np.zeros(len(cost), bool)
    best = -math.inf
    for i in order:
        if quality[i] > best:
            mask[i] = True
            best = quality[i]
    return mask


def design_label(row) -> str:
    """How a design is named in tables, plots and conclusions: ``a→acc ×lanes +bias`` and its
    variant (:func:`hwmodel.study.spec.variant_suffix`: `` i2``, `` 2:4``, `` d0.5``, `` cb4``,
    `` zg``)."""
    operands = row["a"] if row["a"] == row["b"] else f"W {row['b']} / A {row['a']}"
    return f"{operands}→{row['acc']}" + (f" ×{row['lanes']}" if row["lanes"] > 1 else "") + (
        " +bias" if row.get("bias", "none") != "none" else "") + variant_suffix(row)


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of uncompressed, uninterleaved, ungated designs (every variant key at its default),
    so the format comparisons compare formats."""
    mask = pd.Series(True, index=frame.index)
    for key, default in VARIANT_DEFAULTS.items():
        if key in frame:
            mask &= frame[key].isna() | (frame[key] == default)
    return frame[mask]


def compressed(frame: pd.DataFrame) -> pd.Series:
    """Mask of the rows whose weights are pruned (N:M or unstructured) or clustered."""
    mask = pd.Series(False, index=frame.index)
    for key, default in (("nm", ""), ("density", 1.0), ("codebook_bits", 0)):
        if key in frame:
            mask |= frame[key].notna() & (frame[key] != default)
    return mask


FAMILY_COLORMAPS = (("int", "Oranges"), ("float8", "Blues"), ("mx", "Greens"), ("nvfp4", "Purples"),
                    ("float", "Greys"))
"""Format families and the colour map whose shades tell their members apart."""
ACC_MARKERS = {"fixed": "o", "float16": "s", "bfloat16": "D", "float32": "^"}


def _color_family(fmt: str) -> str:
    return next((family for family, _ in FAMILY_COLORMAPS if fmt.startswith(family)), "float")


def format_colors(formats) -> dict:
    """A colour per format: its family's colour map, one shade per member (so a reader sees the
    family first, then the member)."""
    plt = pyplot()
    out = {}
    for family, cmap in FAMILY_COLORMAPS:
        members = sorted(f for f in set(formats) if _color_family(f) == family)
        for i, fmt in enumerate(members):
            out[fmt] = plt.get_cmap(cmap)(0.45 + 0.5 * (i + 1) / (len(members) + 1))
    return out


LOSS_FLOOR = 1e-4  # a loss below this (or exactly 0: float32-equal) is drawn at the floor


def _loss(values) -> np.ndarray:
    return np.maximum(1.0 - np.asarray(values, float), LOSS_FLOOR)


def _draw(ax, data, x, y, *, loss: bool, front: bool, colors: dict) -> list[tuple[str, float, float]]:
    """One panel: colour = the weights' format, marker = accumulator, hollow = a dot-product unit
    (lanes > 1), a black rim = the exponent-bias port, a cross = pruned or clustered weights; the
    Pareto front (lower x, higher accuracy) stepped. Returns the front's labels, (text, x, y) as
    drawn, for :func:`_label_points` once the figure has its layout."""
    value = (lambda col: _loss(col)) if loss else (lambda col: np.asarray(col, float))
    for (fmt, acc, wide, bias), part in data.groupby([data.b, data.acc, data.lanes > 1, data.bias != "none"]):
        color = colors[fmt]
        ax.scatter(part[x], value(part[y]), marker=ACC_MARKERS.get(acc, "v"), s=38, alpha=0.9, zorder=3,
                   facecolors="none" if wide else color, edgecolors="black" if bias else color,
                   linewidths=1.6 if (wide or bias) else 0.8)
    squeezed = data[compressed(data)]
    if len(squeezed):  # pruned or clustered weights: a cross on the design's own marker
        ax.scatter(squeezed[x], value(squeezed[y]), marker="x", color="black", s=16, linewidths=0.9, zorder=4)
    labels = []
    if front and len(data):
        mask = pareto_front(data[x].to_numpy(), data[y].to_numpy())
        edge = data[mask].sort_values(x)
        ax.step(edge[x], value(edge[y]), where="post", color="black", lw=1.0, zorder=2)
        labels = [(design_label(row), row[x], value([row[y]])[0]) for _, row in edge.iterrows()]
    if loss:
        _loss_axis(ax, value(data[y]) if len(data) else np.array([]))
    ax.grid(alpha=0.3, which="both")
    return labels


def _loss_axis(ax, losses: np.ndarray) -> None:
    """A log loss axis, better up, labelled in plain numbers at 1, 2, 5 × 10^k — at every
    1…9 × 10^k where the losses span less than a decade, so that no point sits between two
    labels a factor of 2.5 apart —, reaching a label beyond the best and the worst point, and its
    floor, where a loss of 0 is drawn, labelled as such."""
    from matplotlib.ticker import FixedLocator, LogLocator
    ax.set_yscale("log")
    losses = np.asarray(losses, float)
    losses = losses[np.isfinite(losses)]
    narrow = len(losses) and losses.max() / losses.min() < 10
    subs = tuple(float(k) for k in range(1, 10)) if narrow else (1.0, 2.0, 5.0)
    if len(losses):  # the axis reaches the labels beyond the best and the worst point: none sits past the last
        grid = [LOSS_FLOOR] + [k * 10.0 ** d for d in range(int(np.floor(np.log10(losses.min()))) - 1,
                                                              int(np.ceil(np.log10(losses.max()))) + 1) for k in subs]
        below = max(t for t in grid if t <= losses.min() * (1 + 1e-9))
        above = min(t for t in grid if t >= losses.max() * (1 - 1e-9))
        low, high = sorted(ax.get_ylim())
        ax.set_ylim(min(low, below / 1.04), max(high, above * 1.04))
    if len(losses) and losses.min() <= LOSS_FLOOR:  # the floor gets its own label; none crowd it
        low, high = ax.get_ylim()
        decades = range(int(np.floor(np.log10(LOSS_FLOOR))), int(np.ceil(np.log10(max(low, high)))) + 1)
        ticks = [LOSS_FLOOR] + [k * 10.0 ** d for d in decades for k in subs if k * 10.0 ** d >= 2.5 * LOSS_FLOOR]
        ax.yaxis.set_major_locator(FixedLocator(ticks))
    else:
        ax.yaxis.set_major_locator(LogLocator(subs=subs))
    _plain_labels(ax.yaxis, lambda v: f"≤ {LOSS_FLOOR:g} (0)" if math.isclose(v, LOSS_FLOOR) else f"{v:g}")
    ax.invert_yaxis()  # better (smaller loss) up, as accuracy would be


def _legends(fig, colors: dict, accs, *, wide: bool, bias: bool, front: bool, at: float | None = None,
             labelled: bool = True, squeezed: bool = False):
    """The legends, outside the axes: formats by family, accumulators, and what fill and rim mean."""
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], ls="", marker="o", color=c, label=f) for f, c in colors.items()]
    handles += [Line2D([], [], ls="", marker=ACC_MARKERS.get(a, "v"), color="0.3", label=f"→ {a}")
                for a in sorted(accs, key=list(ACC_MARKERS).index if all(a in ACC_MARKERS for a in accs) else str)]
    if wide:
        handles.append(Line2D([], [], ls="", marker="o", markerfacecolor="none", color="0.3",
                              label="hollow: dot product (lanes > 1)"))
    if bias:
        handles.append(Line2D([], [], ls="", marker="o", color="0.7", markeredgecolor="black", markeredgewidth=1.6,
                              label="black rim: exponent-bias port"))
    if squeezed:
        handles.append(Line2D([], [], ls="", marker="x", color="black", label="cross: pruned or clustered weights"))
    if front:
        handles.append(Line2D([], [], color="black", lw=1.0, label="Pareto front" + (" (labelled)" if labelled else "")))
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(at or LEGEND_AT, 0.5), fontsize=7, frameon=False)


LEGEND_AT = 0.76  # the figure's right quarter holds the legends, so they never cover a point


def _plain_log_x(ax) -> None:
    """A log x axis labelled in plain numbers at 1, 2, 5 × 10^k (no crowded minor labels) —
    where the data span more than a factor of 5; a narrower span stays linear."""
    from matplotlib.ticker import LogLocator
    low, high = ax.dataLim.intervalx
    if not (low > 0 and high / low > 5):
        return
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    _plain_labels(ax.xaxis, lambda v: f"{v:g}")


def _plain_labels(axis, label) -> None:
    """A log axis's major ticks labelled ``label(value)``, its minor ones not at all."""
    from matplotlib.ticker import FuncFormatter
    axis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    axis.set_major_formatter(FuncFormatter(lambda v, _: label(v)))


def _is_fraction(points, column) -> bool:
    values = points[column].dropna()
    return bool(len(values)) and values.between(0, 1).all()


def _scatter(points, workload, x, y, xlabel, ylabel, title, path_stem, *, log_x=False, front=True):
    plt = pyplot()
    data = points[points.workload == workload].dropna(subset=[x, y])
    loss = front and _is_fraction(data, y)  # accuracies crowd at 0.99+: their loss on a log axis
    colors = format_colors(data.b)
    fig, ax = plt.subplots(figsize=(10.5, 5.5))
    labels = _draw(ax, data, x, y, loss=loss, front=front, colors=colors)
    if log_x:
        _plain_log_x(ax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"accuracy loss, 1 − {ylabel}\n(log scale, better up; ≤ {LOSS_FLOOR:g} drawn at {LOSS_FLOOR:g})"
                  if loss else ylabel, fontsize=8 if loss else 10)
    ax.set_title(title, fontsize=10)
    _legends(fig, colors, set(data.acc), wide=bool((data.lanes > 1).any()), bias=bool((data.bias != "none").any()),
             front=front, squeezed=bool(compressed(data).any()))
    fig.tight_layout(rect=(0, 0, LEGEND_AT, 1))
    if labels:  # the front's labels clear of every point, the unlabelled ones too
        drawn = np.asarray(_loss(data[y]) if loss else data[y], float)
        _label_points(fig, ax, labels, others=list(zip(data[x], drawn)))
    paths = [save_figure(fig, path_stem.with_suffix(s)) for s in (".png", ".svg")]
    plt.close(fig)
    return paths


def _facets(points, x, xlabel, title, path_stem, *, log_x=False) -> list[Path]:
    """Every workload with an accuracy in one figure, a panel each (their own accuracy's loss)."""
    plt = pyplot()
    panels = [(w, accuracy_column(points, w)) for w in sorted(set(points.workload))]
    panels = [(w, c) for w, c in panels if c and _is_fraction(points[points.workload == w], c)]
    if not panels:
        return []
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 3.8 * rows), squeeze=False)
    colors = format_colors(points.b)
    for ax, (workload, column) in zip(axes.flat, panels):
        data = points[points.workload == workload].dropna(subset=[x, column])
        _draw(ax, data, x, column, loss=True, front=True, colors=colors)  # the panels are too small for labels
        if log_x:
            _plain_log_x(ax)
        ax.set_title(workload, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(f"1 − {_label(column, workload)}", fontsize=7)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    at = 0.84 if columns > 2 else LEGEND_AT
    _legends(fig, colors, set(points.acc), wide=bool((points.lanes > 1).any()), bias=bool((points.bias != "none").any()),
             front=True, at=at, labelled=False, squeezed=bool(compressed(points).any()))
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, at, 0.97))
    paths = [save_figure(fig, path_stem.with_suffix(s)) for s in (".png", ".svg")]
    plt.close(fig)
    return paths


def _label(column: str, workload: str | None = None) -> str:
    """What an accuracy column measures; for a workload whose own network it is not, "(proxy)"."""
    text = {"minilm_cosine_mean": "MiniLM-L6 mean cosine to float32",
            "efficientnet_lite0_top1_agreement": "EfficientNet-Lite0 top-1 agreement with float32",
            "ppocr_line_accuracy": "PP-OCRv4 line accuracy",
            "ppocr_det_box_f1": "PP-OCRv4 detector box F1 against float32",
            "ppocr_cls_accuracy": "PP-OCRv4 direction accuracy",
            "digits_cnn_top1": "digits CNN top-1 accuracy",
            "digits_mlp_top1": "digits MLP top-1 accuracy"}.get(column, column)
    if workload is not None and OWN_ACCURACY.get(workload) != column:
        text += " (proxy)"
    return text


FIGURES_RECORD = ".figures.json"
"""In an output folder: what its figures were drawn from (a digest of the plotted tables, the
drawing code and matplotlib's version) and each figure file's SHA-256, so a re-run from the same
data keeps them instead of drawing them again."""


def _figures_key(result, sqnr_results) -> str:
    """The digest of everything the figures are drawn from: the points, MACs and SQNR rows as
    their CSV text, the source of the study package (the drawing code and the labels it uses) and
    matplotlib's version."""
    import hashlib
    import json

    import matplotlib

    digest = hashlib.sha256()
    for frame in (result.points, result.macs):
        digest.update(frame.to_csv(index=False).encode())
    digest.update(json.dumps([r.row() for r in sqnr_results or []], sort_keys=True, default=str).encode())
    digest.update(_STUDY_CODE.encode())
    digest.update(matplotlib.__version__.encode())
    return digest.hexdigest()


def _study_code() -> str:
    """The digest of the study package's source as it was when this module loaded: the code that
    draws is the code that ran, not what the files say later."""
    import hashlib

    digest = hashlib.sha256()
    for source in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(source.name.encode() + source.read_bytes())
    return digest.hexdigest()


_STUDY_CODE = _study_code()


def _file_sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _kept_figures(directory: Path, key: str) -> list[Path] | None:
    """The figures in ``directory`` if they were drawn from ``key`` and are unchanged since,
    else None."""
    import json

    try:
        record = json.loads((directory / FIGURES_RECORD).read_text())
        if record.get("key") != key:
            return None
        files = [(directory / name, sha) for name, sha in record["files"]]
        if all(path.is_file() and _file_sha256(path) == sha for path, sha in files):
            return [path for path, _ in files]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def write_plots(result, directory: Path, sqnr_results=None) -> list[Path]:
    """Every figure of a sweep result into ``directory``. Figures already there, drawn from the
    same data by the same code and untouched since (:data:`FIGURES_RECORD`), are kept as they are."""
    import json

    from rtl.files import atomic_write_text

    directory = Path(directory)
    key = _figures_key(result, sqnr_results)
    kept = _kept_figures(directory, key)
    if kept is not None:
        return kept
    (directory / FIGURES_RECORD).unlink(missing_ok=True)  # an interrupted drawing leaves no record
    written = _draw_plots(result, directory, sqnr_results)
    atomic_write_text(directory / FIGURES_RECORD,
                      json.dumps({"key": key, "files": [[str(p.relative_to(directory)), _file_sha256(p)]
                                                   for p in written]}, indent=0))
    return written


def _draw_plots(result, directory: Path, sqnr_results=None) -> list[Path]:
    plt = pyplot()
    directory = Path(directory)
    points, macs, written = result.points, result.macs, []
    for workload in sorted(set(points.workload)) if len(points) else []:
        column = accuracy_column(points, workload)
        if column:
            written += _scatter(points, workload, "area_mm2", column, "accelerator area (mm², PEs + SRAM)",
                                _label(column, workload), f"{workload}: area versus accuracy",
                                directory / f"pareto_area_accuracy_{file_stem(workload)}")
            written += _scatter(points, workload, "energy_uj", column, "energy per inference (µJ)", _label(column, workload),
                                f"{workload}: energy versus accuracy", directory / f"energy_accuracy_{file_stem(workload)}",
                                log_x=True)
        written += _scatter(points, workload, "tops_per_mm2", "tops_per_w", "achieved TOPS/mm² (2 ops per MAC; PEs + SRAM)",
                            "TOPS/W (2 ops per MAC; the whole inference's energy)",
                            f"{workload}: efficiency", directory / f"tops_w_vs_tops_mm2_{file_stem(workload)}", front=False)
        data = points[points.workload == workload].sort_values("energy_uj")
        fig, ax = plt.subplots(figsize=(max(8, 0.35 * len(data)), 5))
        bottom = np.zeros(len(data))
        for part, color in (("mac", "#4c72b0"), ("idle", "#8da0cb"), ("sram", "#dd8452"), ("dram", "#55a868"),
                            ("leakage", "#c44e52")):
            values = data[f"energy_{part}_uj"].to_numpy()
            ax.bar(range(len(data)), values, bottom=bottom, color=color,
                   label={"mac": "MACs", "idle": "idle PEs (clock, registers)", "sram": "SRAM",
                          "dram": "DRAM"}.get(part, part))
            bottom += values
        ax.set_xticks(range(len(data)))
        ax.set_xticklabels([design_label(r) for _, r in data.iterrows()], rotation=70, ha="right", fontsize=6)
        ax.set_ylabel("energy per inference (µJ)")
        ax.set_title(f"{workload}: energy by component", fontsize=10)
        ax.legend(fontsize=7)
        fig.tight_layout()
        written += [save_figure(fig, directory / f"energy_breakdown_{file_stem(workload)}{s}") for s in (".png", ".svg")]
        plt.close(fig)
        if "compulsory_dram_mb" in data:
            fig, ax = plt.subplots(figsize=(max(8, 0.35 * len(data)), 5))
            x = np.arange(len(data))
            ax.bar(x, data.dram_mb.to_numpy(), color="#55a868", label="DRAM traffic")
            ax.scatter(x, data.compulsory_dram_mb.to_numpy(), color="black", marker="_", s=200, zorder=3,
                       label="compulsory (every operand once)")
            ax.set_xticks(x)
            ax.set_xticklabels([design_label(r) for _, r in data.iterrows()], rotation=70, ha="right", fontsize=6)
            ax.set_ylabel("DRAM traffic per inference (MB)")
            ax.set_ylim(0, 1.3 * max(data.dram_mb.max(), data.compulsory_dram_mb.max()))  # room for the legend
            ax.set_title(f"{workload}: DRAM traffic against the compulsory bound", fontsize=10)
            ax.legend(fontsize=7, loc="upper right", ncol=2)
            fig.tight_layout()
            written += [save_figure(fig, directory / f"dram_traffic_{file_stem(workload)}{s}") for s in (".png", ".svg")]
            plt.close(fig)
    if len(points):
        written += _facets(points, "area_mm2", "area (mm², PEs + SRAM)", "Area versus accuracy loss, every workload",
                           directory / "pareto_area_accuracy")
        written += _facets(points, "energy_uj", "energy per inference (µJ)", "Energy versus accuracy loss, every workload",
                           directory / "energy_accuracy", log_x=True)
    if len(points):
        written += _compression_plots(points, directory)
    if len(macs):  # per MAC: a unit's area over the products it computes, so MX units sit beside single MACs
        macs = macs.assign(products=macs.products if "products" in macs else macs.lanes)
        single = macs.assign(per_mac=macs.area_um2 / macs.products).sort_values("per_mac")
        fig, ax = plt.subplots(figsize=(max(8, 0.4 * len(single)), 5.5))
        bottom = np.zeros(len(single))
        for stage, color in STAGE_COLORS.items():
            values = (single[f"{stage}_area_um2"] / single.products).to_numpy()
            ax.bar(range(len(single)), values, bottom=bottom, color=color, label=stage)
            bottom += values
        ax.set_xticks(range(len(single)))
        ax.set_xticklabels([design_label(r) for _, r in single.iterrows()], rotation=70, ha="right", fontsize=7)
        ax.set_ylabel(f"area per MAC by stage (µm², {single.library.iloc[0]}; unit area / products)", fontsize=8)
        ax.set_title("Synthesized area per MAC and stage (the whitepaper's Figure 3 breakdown)", fontsize=10)
        ax.legend(fontsize=7)
        fig.tight_layout()
        written += [save_figure(fig, directory / f"mac_stage_area{s}") for s in (".png", ".svg")]
        plt.close(fig)
    if sqnr_results:
        written += plot_sqnr(sqnr_results, [directory / "sqnr.png", directory / "sqnr.svg"])
    return written


COUNT_SUFFIXES = ("_sites", "_sentences", "_samples", "_count", "_lines", "_crops", "_seeds")
"""Columns that count things: printed as whole numbers."""


def _markdown(frame: pd.DataFrame, floatfmt: str = ".3f") -> str:
    """A markdown table; floats to ``floatfmt``, but those it would show as 0.000 (TOPS/mm² of a
    batch-1 accelerator, 3e-4) to three significant figures."""
    columns = list(frame.columns)
    counts = [c.endswith(COUNT_SUFFIXES) for c in columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in frame.itertuples(index=False):
        cells = []
        for v, count in zip(row, counts):
            if isinstance(v, float) and count and v == v and v == int(v):
                cells.append(str(int(v)))  # a count (a float column only because others are missing)
            elif isinstance(v, float):
                small = v != 0 and abs(v) < 0.01
                cells.append("—" if v != v else format(v, ".3g" if small else floatfmt))
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _mac_vs_paper(macs: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    single = plain(macs[(macs.lanes == 1) & (macs.a == macs.b) & (macs.get("bias", "none") == "none")])
    base = single[(single.a == "int8_sym") & (single.acc == "fixed")]
    if base.empty:
        return pd.DataFrame(), []
    base_area, base_energy = float(base.area_um2.iloc[0]), float(base.energy_pj_per_mac.iloc[0])
    glitch = single.get("glitch_pj_per_mac", pd.Series(0.0, index=single.index)).fillna(0.0)
    base_settled = base_energy - float(glitch[base.index].iloc[0])
    paper_base = sum(FIGURE3_GATES[("int8_sym", "fixed")])
    rows = []
    for r in single.sort_values(["a", "acc"]).itertuples():
        paper = FIGURE3_GATES.get((r.a, r.acc))
        rows.append({"MAC (a = b → accumulator)": f"{r.a} → {r.acc}{r.acc_width if r.acc == 'fixed' else ''}",
                     "area µm²": r.area_um2, "area ratio (ours)": r.area_um2 / base_area,
                     "area ratio (paper, gates)": sum(paper) / paper_base if paper else float("nan"),
                     "energy pJ/MAC": r.energy_pj_per_mac, "energy ratio (ours)": r.energy_pj_per_mac / base_energy,
                     "of it glitches pJ": glitch[r.Index],
                     "energy ratio without glitches": (r.energy_pj_per_mac - glitch[r.Index]) / base_settled,
                     "critical path ns": r.critical_path_ns})
    table = pd.DataFrame(rows)
    notes = []
    for (fmt, acc), paper_ratio in FIGURE3_HEADLINE.items():
        hit = single[(single.a == fmt) & (single.acc == acc)]
        if len(hit):
            ours = float(hit.area_um2.iloc[0]) / base_area
            notes.append(f"{fmt} with a {acc} accumulator: {ours - 1:+.0%} area versus INT8 with a fixed "
                         f"accumulator (the paper: {paper_ratio - 1:+.0%}).")
    if glitch.gt(0).any():
        share = glitch / single.energy_pj_per_mac
        of_int8 = float(share[base.index].iloc[0])
        spread = (f"{share.min():.0%} to {share.max():.0%} of these MACs' energy ({of_int8:.0%} of INT8's)"
                  if len(share) > 1 else f"{of_int8:.0%} of the INT8 MAC's energy")
        notes.append(f"Glitches — transitions that settle back within a cycle, from the timed gate-level simulation — "
                     f"are {spread}; the zero-delay ratios leave them out.")
    in_paper = single[[(a, acc) in FIGURE3_GATES and a != "int8_sym" for a, acc in zip(single.a, single.acc)]]
    if len(in_paper):
        ratios = in_paper.area_um2 / base_area
        paper = [sum(FIGURE3_GATES[(a, acc)]) / paper_base for a, acc in zip(in_paper.a, in_paper.acc)]
        notes.append(f"Across the paper's {len(in_paper)} FP8 MACs, area is {ratios.min():.2f}× to {ratios.max():.2f}× "
                     f"INT8's (the paper's gate counts for the same designs: {min(paper):.2f}× to {max(paper):.2f}×).")
    return table, notes


def _span(values) -> str:
    low, high = float(min(values)), float(max(values))
    return f"{low:+.0f} %" if round(low) == round(high) else f"{low:+.0f} % to {high:+.0f} %"


def _bias_section(result) -> tuple[list[str], list[str]]:
    """Where the scales go: float-accumulator MACs with and without the exponent-offset port —
    what the port costs, and what leaving it out does to accuracy (lines, conclusions)."""
    macs, acc = result.macs, result.accuracy
    if not len(macs) or "bias" not in macs or not (macs.bias == "power_of_two").any():
        return [], []
    key = ["a", "b", "acc", "lanes", "library"]
    with_port = plain(macs[macs.bias == "power_of_two"]).set_index(key)
    without = plain(macs[macs.bias == "none"]).set_index(key)
    common = with_port.index.intersection(without.index)
    rows = []
    for index in common:
        a, b, accumulator, lanes, library = index
        rows.append({"MAC": design_label({"a": a, "b": b, "acc": accumulator, "lanes": lanes}), "library": library,
                     "area µm² (no port)": without.loc[index, "area_um2"], "area µm² (bias port)": with_port.loc[index, "area_um2"],
                     "area +%": 100 * (with_port.loc[index, "area_um2"] / without.loc[index, "area_um2"] - 1),
                     "energy +%": 100 * (with_port.loc[index, "energy_pj_per_mac"] / without.loc[index, "energy_pj_per_mac"] - 1)})
    lines, conclusions = [], []
    if rows:
        table = pd.DataFrame(rows)
        lines += ["## Scales in the accumulator: the exponent bias", "",
                  "A float-accumulator MAC sums products of codes; with `bias = power_of_two` it has an input that "
                  "adds the tensors' scale exponents to every product (the residual scale is applied after the MAC). "
                  "What the port costs:", "", _markdown(table, ".1f"), ""]
        conclusions.append(f"The exponent-bias port costs {_span(table['area +%'])} area and {_span(table['energy +%'])} "
                           f"energy per MAC over the same MAC without it ({len(table)} design(s): "
                           + ", ".join(f"{mac} {area:+.0f} %" for mac, area in zip(table["MAC"], table["area +%"]))
                           + " area).")
    if len(acc) and "minilm_cosine_mean" in acc and "bias" in acc:
        picked = acc[acc.accumulator.isin(["float16", "bfloat16", "float32"]) & acc.minilm_cosine_mean.notna()]
        if len(picked):
            shown = picked[["weights", "activations", "accumulator", "lanes", "bias", "minilm_cosine_mean",
                            "minilm_overflow_sites", "minilm_non_finite_sentences"]].sort_values(
                ["weights", "accumulator", "lanes", "bias"])
            lines += ["What leaving the port out does on MiniLM-L6 (an overflowed register reaches the model as Inf/NaN; a "
                      "sentence whose embedding is not finite counts as cosine 0):", "", _markdown(shown, ".4f"), ""]
            def name(r):
                return f"{r.weights} → {r.accumulator}" + (f" ×{r.lanes}" if r.lanes > 1 else "")

            overflowing = shown[(shown.bias == "none") & (shown.minilm_overflow_sites > 0)]
            if len(overflowing):
                conclusions.append("Without a bias port these float-accumulator MACs overflow in MiniLM-L6, their "
                                   "registers summing products of raw codes: " + ", ".join(sorted({name(r) for r in
                                                                                               overflowing.itertuples()}))
                                   + ".")
            biased = shown[shown.bias == "power_of_two"].set_index(["weights", "accumulator", "lanes"])
            rescued = []
            for r in overflowing.itertuples():
                if (r.weights, r.accumulator, r.lanes) in biased.index:
                    other = biased.loc[(r.weights, r.accumulator, r.lanes)]
                    state = "still overflows" if other.minilm_overflow_sites > 0 else \
                        f"mean cosine {other.minilm_cosine_mean:.4f}"
                    rescued.append(f"{name(r)}: {state}")
            if rescued:
                conclusions.append("With the bias port: " + "; ".join(rescued) + ".")
    return lines, conclusions


def _mapping_note(points: pd.DataFrame) -> str:
    mappings = sorted(set(points.get("mapping", pd.Series(["scalesim"]))))
    if mappings == ["search"]:
        objective = ", ".join(sorted(set(points.get("objective", pd.Series(["energy"])))))
        how = (f"Every layer of every design is mapped by the same search (tiles, loop order and what each buffer "
               f"holds, minimizing {objective}); partial sums stay on chip at accumulator width unless nothing fits.")
    else:
        how = ("Layers are mapped with SCALE-Sim's fixed whole-layer tiling" + (" (some points)" if len(mappings) > 1
                                                                               else "") + ".")
    dram = ", ".join(sorted(set(points.get("dram_type", pd.Series(["ddr3"])))))
    return (how + f" Buffers are costed with the SRAM macros of each MAC's own cell library; DRAM energy per bit "
            f"is {dram}'s. `dram_over_compulsory` is DRAM traffic over every weight, input and output moved "
            "once; `dram_busy` the fraction of the run the DRAM interface is busy (1.0: memory-bound).")


def _family(fmt: str) -> str:
    return "FP8" if str(fmt).startswith("float8") else ("INT" if str(fmt).startswith("int") else str(fmt))


def _roofline(row) -> str:
    """Arithmetic intensity against the array's balance at its clock and DRAM bandwidth."""
    gb_s = float(row.get("dram_gb_s", 0) or 0)
    clock = float(row.get("clock_ns_used", 0) or 0)
    if not gb_s or not clock or not row.get("dram_mb"):
        return ""
    rows, cols = (int(v) for v in str(row["array"]).lower().split("x"))
    lanes = int(row.get("lanes", 1) or 1)
    balance = rows * cols * lanes / (gb_s * clock)
    intensity = row["macs"] / (row["dram_mb"] * 1e6)
    bound = "memory-bound" if intensity < balance else "compute-bound"
    text = (f"{intensity:.1f} MAC per DRAM byte against the array's balance of {balance:.1f} ({rows * cols * lanes} MACs "
            f"a cycle over {gb_s:g} GB/s at {clock:.2f} ns): {bound} by the roofline")
    if intensity < balance:
        text += f", at most {intensity / balance:.1%} of peak"
    if "utilization" not in row or "dram_busy" not in row:
        return text + "."
    text += f"; measured utilization {row['utilization']:.1%}, DRAM busy {row['dram_busy']:.0%} of the run"
    if intensity < balance and row["dram_busy"] < 0.5:
        text += (" — the array's folds, not the DRAM, set the pace (each fold loads its stationary operand and "
                 "pays its fill and drain for the few rows it streams)")
    return text + "."


def _traffic_section(points: pd.DataFrame) -> tuple[list[str], list[str]]:
    """DRAM traffic against the compulsory bound, and which design wins per inference."""
    if "compulsory_dram_mb" not in points:
        return [], []
    lines = ["### DRAM traffic against the compulsory bound", "",
             "Per workload, over the designs: traffic per inference, the compulsory traffic (every operand "
             "once, at the design's widths) and their ratio.", ""]
    rows, conclusions = [], []
    for workload in sorted(set(points.workload)):
        data = points[points.workload == workload].copy()
        data["design"] = [design_label(r) for _, r in data.iterrows()]
        every = data
        ratio = every.dram_over_compulsory
        cheapest = data.sort_values("energy_uj").iloc[0]
        column = accuracy_column(points, workload)
        if column and data[column].notna().any():
            usable = data[data[column] >= data[column].max() - USABLE]
        else:
            usable = data
        data = usable
        best = data.sort_values("energy_uj").iloc[0]
        rows.append({"workload": workload, "DRAM MB (min)": every.dram_mb.min(), "DRAM MB (max)": every.dram_mb.max(),
                     "compulsory MB (min)": every.compulsory_dram_mb.min(), "ratio (min)": ratio.min(),
                     "ratio (max)": ratio.max(), "spilling layers (max)": int(every.psum_spill_layers.max()),
                     "DRAM busy": every.dram_busy.median() if "dram_busy" in every else float("nan"),
                     "lowest energy (keeping accuracy)": best.design,
                     "MAC per DRAM byte": best.macs / (best.dram_mb * 1e6) if best.dram_mb else float("nan")})
        kept = f" among the designs within {USABLE} of the best {_label(column, workload)}" if column else ""
        line = f"{workload}: the lowest energy per inference{kept} is {best.design} ({best.energy_uj:,.1f} µJ)"
        if cheapest.design != best.design:
            value = cheapest[column]
            line += (f" ({cheapest.design} costs less, {cheapest.energy_uj:,.1f} µJ, but its {_label(column, workload)} "
                     + (f"is {value:.3f})" if value == value else "was not measured: that model does not run its "
                        "arithmetic)"))
        if "mac_energy_pj" in data:
            by_mac = data.sort_values("mac_energy_pj").iloc[0]
            line += ("; among them the MAC with the least energy per MAC also wins per inference"
                     if by_mac.design == best.design
                     else f"; per MAC the cheapest of them is {by_mac.design} — per inference the buffers, DRAM "
                          "and partial-sum widths reorder them")
        conclusions.append(line + ".")
        families = {}
        formats = plain(every)
        for family in ("INT", "FP8"):
            part = formats[[_family(a) == family and _family(b) == family for a, b in zip(formats.a, formats.b)]]
            if column:
                part = part[part[column] >= part[column].max() - USABLE]
            if len(part):
                families[family] = part.sort_values("energy_uj").iloc[0]
        if len(families) == 2:
            i, f = families["INT"], families["FP8"]
            quality = (lambda r: f", {_label(column).split(' (')[0]} {r[column]:.3f}") if column else (lambda r: "")
            line = (f"{workload}: per inference the best FP8 design ({f.design}{quality(f)}) costs "
                    f"{f.energy_uj / i.energy_uj - 1:+.1%} energy against the best INT one "
                    f"({i.design}{quality(i)}), with the same mapping search for both.")
            idle = _idle_share(i, f)
            if idle:
                line += " " + idle
            conclusions.append(line)
        roofline = _roofline(best)
        if roofline:
            conclusions.append(f"{workload}: {roofline}")
    lines += [_markdown(pd.DataFrame(rows), ".2f"), ""]
    return lines, conclusions


IDLE_SHARE = 0.25  # idle PEs above this share of a design's energy per inference are named in the verdict


def _idle_share(int_row, fp8_row) -> str | None:
    """Where idle PEs (clock and registers of the PEs a cycle leaves without work) are a large
    share of either design's energy, the FP8-against-INT difference is partly theirs: say so, and
    what the working energy alone gives (None when they are not, or not in the points)."""
    try:
        idle_i, idle_f = float(int_row["energy_idle_uj"]), float(fp8_row["energy_idle_uj"])
    except (KeyError, TypeError, ValueError):
        return None
    share_i, share_f = idle_i / int_row.energy_uj, idle_f / fp8_row.energy_uj
    if not max(share_i, share_f) >= IDLE_SHARE:
        return None
    working = (fp8_row.energy_uj - idle_f) / (int_row.energy_uj - idle_i) - 1
    return (f"Idle PEs — clock and registers of the PEs a cycle leaves without work — are {share_i:.0%} of the INT "
            f"design's energy and {share_f:.0%} of the FP8 one's, so the difference is partly theirs (utilization "
            f"{int_row.get('utilization', float('nan')):.1%}); the energy of the work alone differs by {working:+.1%}.")


SAMPLE_UNITS = {"efficientnet_lite0_top1_agreement": ("efficientnet_lite0", "crop"),
                "ppocr_line_accuracy": ("ppocr", "line"), "ppocr_cls_accuracy": ("ppocr", "line")}
"""Accuracy columns that count test samples (a fraction of them right), with the accuracy model
whose ``size`` is that count and what one sample is."""


def _samples(accuracy: pd.DataFrame | None, column: str) -> tuple[int, str] | None:
    """How many test samples ``column`` counts over in this run, and what one is (None where the
    column is not a count or the run measured it at more than one size)."""
    if column not in SAMPLE_UNITS or accuracy is None or "size" not in accuracy or "model" not in accuracy:
        return None
    model, noun = SAMPLE_UNITS[column]
    sizes = pd.to_numeric(accuracy.loc[accuracy.model == model, "size"], errors="coerce").dropna().unique()
    return (int(sizes[0]), noun) if len(sizes) == 1 and sizes[0] > 0 else None


def _format_verdict(data: pd.DataFrame, column: str, workload: str,
                    accuracy: pd.DataFrame | None = None) -> str | None:
    """Which 8-bit family keeps more of ``workload``'s own network's accuracy in this run: the best
    INT8 design against the best FP8 one (None when the column is a proxy or a family is absent).
    Where the metric counts test samples (``accuracy``'s size), the verdict says how many: one
    sample more or less is all a small run can tell."""
    if OWN_ACCURACY.get(workload) != column:
        return None
    data = plain(data)
    int8 = data[data.a.str.startswith("int8") & data.b.str.startswith("int8")]
    fp8 = data[data.a.str.startswith("float8") & data.b.str.startswith("float8")]
    if int8.empty or fp8.empty or int8[column].isna().all() or fp8[column].isna().all():
        return None
    i, f = int8.loc[int8[column].idxmax()], fp8.loc[fp8[column].idxmax()]
    n, noun = _samples(accuracy, column) or (None, None)
    if i[column] == f[column]:
        winner = "INT8 and FP8 tie"
    else:
        winner = "INT8 wins" if i[column] > f[column] else "FP8 wins"
        if n:
            apart = round(abs(i[column] - f[column]) * n)
            winner += f" by {apart} {noun}{'s' if apart != 1 else ''} of {n}"
    return (f"{workload}, on its own network's accuracy ({_label(column)}): {winner} — best INT8 {i.design} "
            f"{i[column]:.3f}, best FP8 {f.design} {f[column]:.3f}"
            + (f" (on {n} test {noun}s: one {noun} is {1 / n:.3f})." if n else "."))


WEIGHT_BITS_SHORT = 4  # a recipe with weights this narrow is compression by quantization


def _weight_bits(fmt: str) -> int:
    """Bits of a weight element (a block format's element, its shared scale aside)."""
    from rtl.numerics.formats import get_format

    return MX_FORMATS[fmt].element.bits if fmt in MX_FORMATS else get_format(fmt).bits


def compression_panel(points: pd.DataFrame) -> pd.DataFrame:
    """The rows of the compression comparison: weights pruned (N:M, unstructured), clustered, or
    quantized to at most :data:`WEIGHT_BITS_SHORT` bits, beside the plain INT8 and FP8 (E4M3)
    single MACs with exact fixed accumulators they are measured against; empty unless the points
    hold both. Adds ``design`` and ``how``."""
    if not len(points):
        return pd.DataFrame()
    points = fill_variants(points.copy())
    narrow = pd.Series([_weight_bits(b) <= WEIGHT_BITS_SHORT for b in points.b], index=points.index)
    squeezed = compressed(points) | (narrow & points.index.isin(plain(points).index))
    base = plain(points)
    base = base[(base.a == base.b) & base.a.isin(["int8_sym", "float8_e4m3fn", "float8_e4m3fnuz"])
                & (base.acc == "fixed") & (base.lanes == 1) & (base.bias == "none")]
    if not squeezed.any() or not (base.a == "int8_sym").any():
        return pd.DataFrame()
    panel = fill_variants(pd.concat([base, points[squeezed]]).copy())
    panel["design"] = [design_label(r) for r in panel.to_dict("records")]

    def how(r):
        if r.get("nm"):
            return f"{r['nm']} sparse weights"
        if r.get("density", 1.0) < 1:
            return f"{1 - r['density']:.0%} of weights pruned"
        if r.get("codebook_bits", 0):
            return f"{2 ** int(r['codebook_bits'])} centroids of {r['b']}"
        if _weight_bits(r["b"]) <= WEIGHT_BITS_SHORT:
            return f"{_weight_bits(r['b'])}-bit weights"
        return "reference"
    panel["how"] = [how(r) for r in panel.to_dict("records")]
    return panel


HOW_COLORS = {"reference": "#4c4c4c", "bit": "#dd8452", "sparse": "#4c72b0", "pruned": "#55a868",
              "centroids": "#8172b3"}


def _how_color(how: str) -> str:
    return next((c for key, c in HOW_COLORS.items() if key in how), "#c44e52")


LABEL_OFFSETS = ((4, 4, "left"), (4, -10, "left"), (-4, 4, "right"), (-4, -10, "right"), (0, 8, "center"),
                 (0, -15, "center"), (6, 13, "left"), (6, -19, "left"), (-6, 13, "right"), (-6, -19, "right"))
"""Where a point's label may go, in points from it (x, y, and the side the text hangs from), in
the order tried."""


def _area_shared(a, b) -> float:
    return max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0)) * max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))


def _label_points(fig, ax, labels: list[tuple[str, float, float]], *, others=(), fontsize: float = 6.5) -> None:
    """Each (text, x, y) labelled beside its point at the first of :data:`LABEL_OFFSETS` where it
    covers no label placed before it, no other point (of ``labels``, or ``others``: (x, y) of
    unlabelled ones) and nothing outside the axes — or, where every offset covers something, at
    the one that covers least. Call it once the axes have their final place in the figure (the
    labels are placed in display space)."""
    from matplotlib.transforms import Bbox
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    radius = 5 * fig.dpi / 72  # a marker's half width, in pixels
    centres = [ax.transData.transform((x, y)) for _, x, y in labels]
    centres += [c for c in (ax.transData.transform(p) for p in others)
                if not any(np.allclose(c, own) for own in centres[:len(labels)])]
    marks = [Bbox.from_extents(cx - radius, cy - radius, cx + radius, cy + radius) for cx, cy in centres]
    placed = []
    for k, (text, x, y) in enumerate(labels):
        best = None
        for dx, dy, side in LABEL_OFFSETS:
            note = ax.annotate(text, (x, y), fontsize=fontsize, xytext=(dx, dy), textcoords="offset points",
                               ha=side, zorder=4)
            box = note.get_window_extent(renderer)
            covered = (sum(_area_shared(box, b) for b in placed)
                       + sum(_area_shared(box, m) for j, m in enumerate(marks) if j != k)
                       + box.width * box.height - _area_shared(box, frame))
            if best is None or covered < best[0]:
                if best is not None:
                    best[1].remove()
                best = (covered, note, box)
            else:
                note.remove()
            if covered == 0:
                break
        placed.append(best[2])


def _compression_plots(points: pd.DataFrame, directory: Path) -> list[Path]:
    """``compression_WORKLOAD``: area, energy and latency per inference against the workload's own
    accuracy for the compression panel, every design labelled, coloured by how it compresses."""
    panel = compression_panel(points)
    written = []
    plt = pyplot()
    for workload in sorted(set(panel.workload)) if len(panel) else []:
        column = OWN_ACCURACY.get(workload)
        data = panel[panel.workload == workload]
        if not column or column not in data or data[column].isna().all():
            continue
        data = data.dropna(subset=[column])
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
        panels = (("area_mm2", "accelerator area (mm², PEs + SRAM)"), ("energy_uj", "energy per inference (µJ)"),
                  ("latency_ms", "latency per inference (ms)"))
        for ax, (x, xlabel) in zip(axes, panels):
            for _, r in data.sort_values(x).iterrows():
                ax.scatter(r[x], r[column], color=_how_color(r.how), s=40, zorder=3,
                           marker="o" if r.how == "reference" else "D")
            ax.set_xlabel(xlabel, fontsize=8)
            ax.set_ylabel(_label(column, workload), fontsize=8)
            ax.tick_params(labelsize=7)
            ax.margins(x=0.25, y=0.12)
        from matplotlib.lines import Line2D
        hows = dict.fromkeys(data.sort_values("how").how)
        fig.legend(handles=[Line2D([], [], ls="", marker="o" if h == "reference" else "D", color=_how_color(h), label=h)
                            for h in hows], loc="lower center", ncol=min(6, len(hows)), fontsize=7, frameon=False)
        fig.suptitle(f"{workload}: compression against INT8 and FP8 (its own network's accuracy)", fontsize=10)
        fig.tight_layout(rect=(0, 0.07, 1, 0.95))
        for ax, (x, _) in zip(axes, panels):  # once the axes have their place
            _label_points(fig, ax, [(r.design, r[x], r[column]) for _, r in data.sort_values(x).iterrows()])
        written += [save_figure(fig, directory / f"compression_{file_stem(workload)}{s}") for s in (".png", ".svg")]
        plt.close(fig)
    return written


def _compression_section(points: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Fewer bits, fewer weights or shared weights against INT8 and FP8: what each costs per MAC
    and per inference (ratios to INT8), what it keeps of each own network's accuracy, and which
    is cheapest in area, energy and latency among the designs within :data:`USABLE` of the better
    of the two 8-bit references — and what the cheapest of all gives up."""
    panel = compression_panel(points)
    if panel.empty:
        return [], []
    lines = ["## Compression: fewer bits, fewer weights, shared weights", "",
             "Weights quantized to 4 bits, pruned (2:4 structured on N:M units, or unstructured and stored as a "
             "bitmap) or clustered (indices into a codebook the MAC holds), each against INT8 and FP8 single MACs "
             f"with exact accumulators; a design keeps accuracy within {USABLE} of the better of those two. Per "
             "MAC = per product the unit computes (an N:M unit's kept weights; a 2:4 product stands for two dense "
             "MACs). Stored bits per weight count indices and metadata. Accuracy is "
             "each workload's own network, computed with the design's arithmetic (pruned weights exact zeros, "
             "clustered ones exact centroids). Ratios are to INT8 on the same workload.", ""]
    conclusions = []
    for workload in sorted(set(panel.workload)):
        data = panel[panel.workload == workload]
        column = OWN_ACCURACY.get(workload)
        if not column or column not in data or data[column].isna().all():
            continue
        ref = data[data.how.eq("reference") & (data.a == "int8_sym")].iloc[0]
        table = pd.DataFrame({
            "design": data.design, "how": data.how, "stored bits/weight": data.stored_weight_bits,
            "area µm²/MAC": data.mac_area_um2 / data.products, "pJ/MAC": data.mac_energy_pj,
            "energy ×INT8": data.energy_uj / ref.energy_uj, "latency ×INT8": data.latency_ms / ref.latency_ms,
            "area ×INT8": data.area_mm2 / ref.area_mm2, _label(column): data[column]}).sort_values("energy ×INT8")
        lines += [f"### {workload}", "", _markdown(table), ""]
        measured = data[data[column].notna()]
        refs = measured[measured.how == "reference"]
        refs = refs.sort_values("a", key=lambda a: a != "int8_sym", kind="stable")  # INT8 first: the ratios' base
        bar = float(refs[column].max())  # the best uncompressed 8-bit format's accuracy
        keeps = measured[measured[column] >= bar - USABLE]
        said = []
        for metric, name in (("area_mm2", "area"), ("energy_uj", "energy per inference"), ("latency_ms", "latency")):
            best = keeps.sort_values(metric).iloc[0]
            cheapest = measured.sort_values(metric).iloc[0]
            text = f"{name}: {best.design} ({best[metric] / ref[metric]:.2f}× INT8)"
            if cheapest.design != best.design:
                text += (f", while {cheapest.design} costs {cheapest[metric] / ref[metric]:.2f}× at "
                         f"{cheapest[column]:.3f}")
            said.append(text)
        lost = measured[measured[column] < bar - USABLE]
        line = (f"{workload} ({_label(column)}; " + ", ".join(f"{r.design} {r[column]:.3f}" for _, r in refs.iterrows())
                + f"): the cheapest design within {USABLE} of the best 8-bit reference's {bar:.3f} — "
                + "; ".join(said) + "."
                + (f" Losing more than {USABLE}: " + ", ".join(f"{r.design} {r[column]:.3f}" for _, r in
                                                             lost.sort_values(column).iterrows()) + "."
                   if len(lost) else "")
                + (" Not measured on this network (it does not run that arithmetic): "
                   + ", ".join(data[data[column].isna()].design) + "." if data[column].isna().any() else ""))
        lines += [line, ""]
        conclusions.append(line)
    if not conclusions:
        return [], []
    return lines, conclusions


def _clock_section(clocked: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The designs at one clock (:func:`hwmodel.study.clock.at_clock`): a table and what it says."""
    clock = float(clocked.clock_ns.iloc[0])
    table = clocked.assign(meets=np.where(clocked.meets, "yes", "no"))
    out = [f"## At a common clock: {clock:.3f} ns", "",
           f"Every design fitted to {clock:.3f} ns (the INT8 MAC's own critical path unless one was given): the "
           f"fewest pipeline stages (0–{MAX_STAGES}) that meet it, mapped for area and, where that misses, for the "
           "clock, with energy measured at it — beside its own unpipelined point. A design that cannot meet the clock "
           "shows its fastest pipelined point (its deepest pipeline mapped for the clock, and for area too where "
           f"that comes within {AREA_MARGIN - 1:.0%} of it) and how far it misses: what remains is its accumulation "
           "recurrence, which pipelining cannot cut. A float-accumulator design that misses gets a second row, *iN*: its loop "
           "cut into N cycles holding N interleaved partial sums (updated round-robin, folded at the end) — a "
           "different summation order, so its accuracy is not the one this study measured for the design (a sweep "
           "with `interleave = [N]` measures it). Per MAC = unit / lanes. The critical paths are hwmodel's NLDM "
           "timer's with the library's wire-load model, within 5 % of OpenSTA's on the standard set "
           "(`benchmarks/bench_sta.py`).", "",
           _markdown(table), ""]
    plain = clocked[clocked.interleave == 1]
    met, missed = plain[plain.meets], plain[~plain.meets]
    notes = []
    if len(met):
        notes.append(f"At {clock:.3f} ns, {len(met)} of {len(plain)} designs close timing: "
                     + ", ".join(f"{d} ({s} stage{'s' if s != 1 else ''})" for d, s in zip(met.design, met.stages))
                     + ".")
    if len(missed):
        worst = missed.sort_values("misses_by_ns").iloc[-1]
        notes.append(f"{len(missed)} designs cannot reach {clock:.3f} ns with pipelining alone; the farthest, "
                     f"{worst.design}, stops at {worst.critical_path_ns:.2f} ns (its accumulation recurrence).")
    cut = clocked[clocked.interleave > 1]
    if len(cut):
        made = cut[cut.meets]
        closest = cut.sort_values("misses_by_ns").iloc[0]
        notes.append(f"With interleaved accumulators, {len(made)} of those {len(cut)} close {clock:.3f} ns"
                     + (": " + ", ".join(f"{d} ({a:.0f} µm² per MAC)" for d, a in zip(made.design, made.area_um2_per_mac))
                        if len(made) else f"; the closest, {closest.design}, stops at {closest.critical_path_ns:.2f} ns "
                                          f"({closest.misses_by_ns:.2f} ns over)") + ".")
    return out, notes


def _inference_at_clock_section(own: pd.DataFrame, timed: pd.DataFrame, clock: float) -> tuple[list[str], list[str]]:
    """Per inference at the common clock (the study's grids re-run with ``stages = "auto"``):
    every design that meets it, its latency and energy beside its own-clock point's."""
    if timed is None or not len(timed):
        return [], []
    keys = ["workload", "a", "b", "acc", "lanes", "bias"] + [k for k in VARIANT_DEFAULTS if k in own and k in timed]
    own = own[own.stages == 0] if "stages" in own else own
    mine = timed.assign(design=[design_label(r) for r in timed.to_dict("records")])
    joined = mine.merge(own[keys + ["latency_ms", "energy_uj"]].drop_duplicates(keys), on=keys, how="left",
                        suffixes=("", "_own"))
    out = [f"### Per inference at {clock:.3f} ns", "",
           f"The study's grids again with every design fitted to {clock:.3f} ns (`stages = \"auto\"`, "
           f"`clock_ns = {clock:.3f}`: the fewest pipeline stages that meet it) and evaluated on the same arrays, "
           "buffers and DRAM. Designs that cannot meet the clock are not here (the table above says how far they "
           "miss). `latency_ms_own` and `energy_uj_own` are the same design at its own unpipelined clock.", ""]
    notes = []
    for workload in sorted(set(joined.workload)):
        data = joined[joined.workload == workload].sort_values("energy_uj")
        columns = ["design", "stages_used", "latency_ms", "latency_ms_own", "energy_uj", "energy_uj_own",
                   "inferences_per_s", "tops_per_w"]
        out += [f"**{workload}**", "", _markdown(data[[c for c in columns if c in data]]), ""]
        formats = plain(data)  # the formats' verdict; pruned and clustered designs have the compression panel's
        formats = formats if len(formats) else data
        fastest, cheapest = formats.sort_values("latency_ms").iloc[0], formats.iloc[0]
        many = len(formats) != 1
        notes.append(f"{workload} at {clock:.3f} ns: fastest {fastest.design} ({fastest.latency_ms:.3f} ms), least "
                     f"energy {cheapest.design} ({cheapest.energy_uj:.1f} µJ), of the {len(formats)} "
                     f"{'uncompressed ' if len(formats) < len(data) else ''}design{'s' if many else ''} that "
                     f"meet{'' if many else 's'} it.")
    return out, notes


def write_report(result, directory: Path, *, title: str, settings: str, sqnr_results=None,
                 seconds: float | None = None, clocked: pd.DataFrame | None = None,
                 clocked_points: pd.DataFrame | None = None) -> Path:
    """``report.md``: tables of ours beside the paper's, and the conclusions the data supports."""
    from rtl.files import atomic_write_text

    directory = Path(directory)
    points, macs = result.points, result.macs
    out = [f"# {title}", "", settings, ""]
    if seconds is not None:
        out += [f"Run time: {seconds:.0f} s.", ""]
    out += ["Reference: " + WHITEPAPER + ". Figures labelled *paper* are the paper's, quoted for "
            "comparison; everything else was measured by this run.", ""]
    conclusions = []
    table, notes = _mac_vs_paper(macs) if len(macs) else (pd.DataFrame(), [])
    if len(table):
        out += ["## MAC cost (single MAC, synthesized)", "",
                "Ratios are to INT8 (`int8_sym`) with an exact fixed-point (Kulisch, 27-bit) accumulator. "
                "The paper's column is its Figure 3 gate counts (read from the figure, ±2 %).", "",
                _markdown(table), "", *[f"- {n}" for n in notes], ""]
        conclusions += notes[:2]
    if clocked is not None and len(clocked):
        section, notes = _clock_section(clocked)
        out += section + [f"- {n}" for n in notes] + [""]
        conclusions += notes
        section, notes = _inference_at_clock_section(points, clocked_points, float(clocked.clock_ns.iloc[0]))
        out += section + [f"- {n}" for n in notes] + ([""] if notes else [])
    if sqnr_results:
        rows = [{"distribution": r.distribution, "format": r.format, "bits (ours)": r.bits,
                 "bits (paper Fig. 5)": r.paper_bits if r.paper_bits is not None else float("nan")}
                for r in sqnr_results if r.paper_bits is not None]
        out += ["## SQNR theory", "", "Bits of accuracy log2(σ/RMSE), MSE-optimal per-tensor scale, exact "
                "expectation over each distribution.", "", _markdown(pd.DataFrame(rows), ".2f"), ""]
        worst = largest_paper_difference(sqnr_results)
        conclusions.append(f"SQNR theory reproduces every cell of the paper's Figure 5 within {worst:.2f} bit.")
    bias_lines, bias_conclusions = _bias_section(result)
    out += bias_lines
    conclusions += bias_conclusions
    acc = result.accuracy
    if len(acc):
        value_columns = [c for c in acc.columns if c.startswith(("minilm_", "digits_"))]
        acc = fill_variants(acc.copy())  # a compressed recipe is a row of its own
        keys = [k for k in ("weights", "activations", "accumulator", "lanes", "bias") if k in acc]
        keys += [k for k in VARIANT_DEFAULTS if (acc[k] != VARIANT_DEFAULTS[k]).any()]
        merged = acc.groupby(keys, as_index=False)[value_columns].first() if value_columns else pd.DataFrame()
        if len(merged):
            out += ["## Accuracy with the hardware's arithmetic", "",
                    "Every matmul computed exactly as the recipe's MAC does: products of codes, one rounding per step of "
                    "`lanes` products for float registers, wrapping for fixed ones, the scales where `bias` puts them. "
                    "MiniLM-L6: mean/min cosine of sentence embeddings to float32, nearest-neighbour agreement, the worst "
                    "site's SQNR (whole model, and the site quantized alone), the largest fraction of a site's inputs "
                    "that saturated, and overflow counts; digits: top-1 over seeds (mean).", "",
                    _markdown(merged.sort_values(value_columns[0], ascending=False), ".4f"), ""]
            if merged.weights.isin(list(MX_FORMATS)).any():
                out += ["Block formats (" + ", ".join(f"`{f}`" for f in MX_FORMATS if f in set(merged.weights)) + ") "
                        "run on the block-scaled unit: each block's exact sum times its two scales, one rounding per "
                        "block into the register (NVFP4's per-tensor float32 scales after it). Blocks run along each "
                        "product's K: a convolution's K in (kh, kw, c) order, so a block holds one pixel's channels "
                        "where they fill it; a depthwise one's, an output pixel's window of one channel.", ""]
            if "minilm_cosine_mean" in merged:
                same = plain(merged[merged.weights == merged.activations])
                e4 = same[same.weights.isin(["float8_e4m3fn", "float8_e4m3fnuz"])].minilm_cosine_mean.max()
                i8 = same[same.weights == "int8_sym"].minilm_cosine_mean.max()
                if e4 == e4 and i8 == i8:  # both measured (not NaN)
                    line = outlier_verdict(e4, i8)
                    out += [line, ""]
                    conclusions.append(line)
                match = [k for k in ("weights", "lanes", "bias") if k in merged]
                finite = merged[merged.get("minilm_overflow_sites", 0) == 0] if "minilm_overflow_sites" in merged \
                    else merged
                finite = plain(finite)  # one row per weights, lanes and bias: the registers compared alone
                f16 = finite[finite.accumulator == "float16"].set_index(match)["minilm_cosine_mean"]
                f32 = finite[finite.accumulator == "float32"].set_index(match)["minilm_cosine_mean"]
                common = f16.index.intersection(f32.index)
                if len(common):
                    loss = (f32[common] - f16[common]).max()
                    conclusions.append(f"Where it does not overflow, a float16 accumulator (one rounding per step) costs at "
                                       f"most {loss:.4f} mean cosine on MiniLM-L6 against float32 accumulation of the "
                                       "same MAC in this run.")
    if len(points):
        out += ["## Per-inference cost", "", _mapping_note(points), ""]
        traffic_lines, traffic_conclusions = _traffic_section(points)
        out += traffic_lines
        conclusions += traffic_conclusions
        for workload in sorted(set(points.workload)):
            data = points[points.workload == workload].copy()
            data["design"] = [design_label(r) for _, r in data.iterrows()]
            column = accuracy_column(points, workload)
            keep = ["design", "array", "dataflow", "area_mm2", "energy_uj", "latency_ms", "tops_per_w", "tops_per_mm2"]
            keep += [c for c in ("dram_over_compulsory", "dram_busy") if c in data]
            if column:
                keep.append(column)
                front = pareto_front(data.area_mm2.to_numpy(), data[column].to_numpy())
                data["pareto"] = np.where(front, "yes", "")
                keep.append("pareto")
            table = data.sort_values("energy_uj")[keep]
            if column and OWN_ACCURACY.get(workload) != column:  # a stand-in says so in its header
                table = table.rename(columns={column: f"{column} (proxy)"})
            out += [f"### {workload}", "", _markdown(table), ""]
            if column:
                best = data[front].sort_values("area_mm2")
                names = ", ".join(best.design)
                line = f"{workload}: the area-versus-accuracy Pareto front ({_label(column, workload)}) is {names}."
                out += [line, ""]
                conclusions.append(line)
                verdict = _format_verdict(data, column, workload, acc)
                if verdict:
                    out += [verdict, ""]
                    conclusions.append(verdict)
                e5 = data[data.a.str.contains("e5m2")]
                if len(e5):
                    conclusions.append(f"{workload}: FP8-E5M2 designs are {'never' if not front[data.a.str.contains('e5m2').to_numpy()].any() else 'sometimes'} "
                                       "on the Pareto front (the paper: E5M2 is never the best format for inference).")
    section, notes = _compression_section(points)
    out += section
    conclusions += notes
    if len(result.failures):
        out += ["## Failed points", "", _markdown(result.failures), ""]
    out += ["## Conclusions this data supports", "", *[f"- {c}" for c in conclusions], ""]
    out += ["## Figures", "", *[f"![{p.stem}]({p.name})" for p in sorted(directory.glob("*.png"))], ""]
    return atomic_write_text(directory / "report.md", "\n".join(out))


def write_results(result, directory: Path, *, title: str, settings: str, sqnr_results=None,
                  seconds: float | None = None, clocked: pd.DataFrame | None = None,
                  clocked_points: pd.DataFrame | None = None) -> list[Path]:
    """Everything a sweep leaves in ``directory``: points, MAC and accuracy CSVs (failures and
    SQNR when there are any), the plots and ``report.md``. Returns the files written."""
    from rtl.files import atomic_write_text

    directory = Path(directory)
    tables = {"points": result.points, "macs": result.macs, "accuracy": result.accuracy}
    if len(result.failures):
        tables["failures"] = result.failures
    if sqnr_results:
        tables["sqnr"] = pd.DataFrame([r.row() for r in sqnr_results])
    if clocked is not None and len(clocked):
        tables["at_clock"] = clocked
    if clocked_points is not None and len(clocked_points):
        tables["points_at_clock"] = clocked_points
    written = [atomic_write_text(directory / f"{name}.csv", table.to_csv(index=False)) for name, table in tables.items()]
    written += write_plots(result, directory, sqnr_results)
    report = write_report(result, directory, title=title, settings=settings, sqnr_results=sqnr_results,
                          seconds=seconds, clocked=clocked, clocked_points=clocked_points)
    written.append(report)
    from hwmodel.study.html import write_html
    written.append(write_html(result, directory, title=title, settings=settings, report_md=report.read_text(),
                              clocked=clocked))
    return written
