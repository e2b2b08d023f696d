"""Figures: matplotlib on the Agg back end, written atomically as PNG (and SVG on request)."""

from __future__ import annotations

from pathlib import Path

from rtl.files import atomic_write

__all__ = ["pyplot", "save_figure", "plot_sqnr", "sqnr_label"]


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg back end (no display needed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path, *, dpi: int = 130) -> Path:
    """Save ``fig`` to ``path`` (format from its suffix) so readers never see a partial file."""
    path = Path(path)
    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png"))


def sqnr_label(results) -> str:
    """The legend of our bars: exact expectations, and samples where block formats (no per-tensor
    scale) are among them."""
    return "hwmodel (exact expectation" + ("; MX sampled)" if any(r.scale is None for r in results) else ")")


def plot_sqnr(results, paths) -> list[Path]:
    """Grouped bars of bits of accuracy per distribution and format, the paper's Figure 5 values
    marked beside ours."""
    plt = pyplot()
    distributions = list(dict.fromkeys(r.distribution for r in results))
    formats = list(dict.fromkeys(r.format for r in results))
    by_key = {(r.distribution, r.format): r for r in results}
    label = sqnr_label(results)
    fig, axes = plt.subplots(len(distributions), 1, figsize=(max(8, 0.55 * len(formats)), 3.2 * len(distributions)),
                             sharex=True, squeeze=False)
    for ax, d in zip(axes[:, 0], distributions):
        xs = range(len(formats))
        ours = [by_key[(d, f)].bits if (d, f) in by_key else float("nan") for f in formats]
        ax.bar(xs, ours, 0.7, color="#4c72b0", label=label)
        paper = [(i, by_key[(d, f)].paper_bits) for i, f in enumerate(formats)
                 if (d, f) in by_key and by_key[(d, f)].paper_bits is not None]
        if paper:
            ax.scatter([i for i, _ in paper], [b for _, b in paper], color="#c44e52", marker="_", s=400,
                       linewidths=3, zorder=3, label="van Baalen et al. Fig. 5")
        ax.set_ylabel("bits of accuracy\nlog2(σ / RMSE)")
        ax.set_title(d)
        ax.grid(axis="y", alpha=0.3)
        ax.set_ylim(0, 1.3 * max([b for b in ours if b == b and b < float("inf")] + [1.0]))
        ax.legend(fontsize=7, loc="upper right", ncol=2)
    axes[-1, 0].set_xticks(list(range(len(formats))))
    axes[-1, 0].set_xticklabels(formats, rotation=55, ha="right", fontsize=8)
    fig.suptitle("Quantization SQNR with an MSE-optimal per-tensor scale")
    fig.tight_layout()
    written = [save_figure(fig, p) for p in paths]
    plt.close(fig)
    return written
