"""``report.html``: the study in the browser, self-contained and offline.

One file: Plotly's JavaScript embedded whole (no CDN), the report's text, sortable and filterable
tables of the designs and the points, and per workload interactive area-, energy-versus-accuracy
and TOPS/W-versus-TOPS/mm² plots whose hover shows the design, its MAC area by stage, its cost and
its accuracy; the paper's Figure 3 gate-count ratios beside ours. A script records any JavaScript
error into ``#errors`` and, once every plot has drawn, sets ``data-rendered`` on ``<body>`` to the
number drawn — what the headless-browser test reads.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from hwmodel.study.spec import VARIANT_DEFAULTS
from hwmodel.study.report import (ACC_MARKERS, _color_family, _label, _mac_vs_paper, accuracy_column, design_label,
                                  format_colors)

__all__ = ["write_html", "markdown_to_html"]

_SYMBOLS = {"fixed": "circle", "float16": "square", "bfloat16": "diamond", "float32": "triangle-up"}
assert set(_SYMBOLS) == set(ACC_MARKERS)

_SCRIPT = r"""
(function () {
  function cellValue(row, i) { var t = row.cells[i].getAttribute('data-v'); return t === null ? row.cells[i].textContent : t; }
  document.querySelectorAll('table.data').forEach(function (table) {
    var body = table.tBodies[0];
    table.querySelectorAll('th').forEach(function (th, i) {
      th.addEventListener('click', function () {
        var asc = th.getAttribute('data-asc') !== '1';
        table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('data-asc'); h.classList.remove('sorted'); });
        th.setAttribute('data-asc', asc ? '1' : '0'); th.classList.add('sorted');
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = cellValue(a, i), y = cellValue(b, i), nx = parseFloat(x), ny = parseFloat(y);
          var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : String(x).localeCompare(String(y));
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
    var filter = document.getElementById(table.id + '-filter');
    if (filter) filter.addEventListener('input', function () {
      var words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
      Array.prototype.forEach.call(body.rows, function (r) {
        var text = r.textContent.toLowerCase();
        r.style.display = words.every(function (w) { return text.indexOf(w) >= 0; }) ? '' : 'none';
      });
    });
  });
  var figures = JSON.parse(document.getElementById('figures').textContent), drawn = 0;
  Promise.all(figures.map(function (f) {
    return Plotly.newPlot(f.id, f.data, f.layout, {responsive: true, displaylogo: false, displayModeBar: 'hover'}).then(function () { drawn++; });
  })).then(function () { document.body.setAttribute('data-rendered', String(drawn)); },
           function (e) { window.__report_error(String(e)); });
})();
"""

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em 2.5em; color: #222; max-width: 1500px; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.05em; }
table { border-collapse: collapse; font-size: 12px; margin: 0.6em 0; }
th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: right; }
th { background: #f3f3f3; cursor: pointer; position: sticky; top: 0; }
th.sorted[data-asc='1']::after { content: ' ▲'; } th.sorted[data-asc='0']::after { content: ' ▼'; }
td:first-child, th:first-child { text-align: left; }
.scroll { max-height: 480px; overflow: auto; border: 1px solid #eee; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 12px; }
.plot { height: 420px; border: 1px solid #eee; }
input.filter { width: 420px; margin: 4px 0; }
#errors { color: #b00; white-space: pre; }
"""


def markdown_to_html(text: str) -> str:
    """The report's Markdown (headings, paragraphs, lists, pipe tables, **bold**, `code`)."""
    def inline(s: str) -> str:
        s = html.escape(s)
        s = re.sub(r"`([^`]+)`", r"<code>\1</code>", s)
        s = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", s)
        return re.sub(r"(?<!\*)\*([^*\s][^*]*)\*(?!\*)", r"<i>\1</i>", s)

    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{inline(line[level:].strip())}</h{level}>")
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                if not re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", lines[i].strip()):
                    rows.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
                i += 1
            head = "".join(f"<th>{inline(c)}</th>" for c in rows[0])
            body = "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
            out.append(f"<div class='scroll'><table class='md'><thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
                       "</table></div>")
            continue
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{inline(lines[i][2:])}</li>")
                i += 1
            out.append("<ul>" + "".join(items) + "</ul>")
            continue
        elif line.strip():
            paragraph = [line]
            while i + 1 < len(lines) and lines[i + 1].strip() and not lines[i + 1].startswith(("#", "|", "- ")):
                i += 1
                paragraph.append(lines[i])
            out.append(f"<p>{inline(' '.join(paragraph))}</p>")
        i += 1
    return "\n".join(out)


def _table(frame: pd.DataFrame, table_id: str, caption: str) -> str:
    def cell(v):
        if isinstance(v, (float, np.floating)):
            if v != v:
                return "<td data-v=''>—</td>"
            return f"<td data-v='{float(v)!r}'>{float(v):.4g}</td>"
        return f"<td>{html.escape(str(v))}</td>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in frame.itertuples(index=False))
    return (f"<h3>{html.escape(caption)}</h3><input class='filter' id='{table_id}-filter' "
            f"placeholder='filter rows: words that must all appear'><div class='scroll'><table class='data' "
            f"id='{table_id}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")


def _stage_areas(points: pd.DataFrame, macs: pd.DataFrame) -> pd.DataFrame:
    keys = [k for k in ("a", "b", "acc", "lanes", "bias", "library", "clock_ns", "stages", *VARIANT_DEFAULTS)
            if k in points and k in macs]
    stages = [c for c in ("mpy_area_um2", "alignadd_area_um2", "normacc_area_um2") if c in macs]
    if not stages or not keys:
        return points.assign(**{c: np.nan for c in ("mpy_area_um2", "alignadd_area_um2", "normacc_area_um2")})
    return points.merge(macs[keys + stages].drop_duplicates(keys), on=keys, how="left")


def _figure(fig_id: str, data: pd.DataFrame, x: str, y: str, title: str, xlabel: str, ylabel: str, *,
            loss: bool, log_x: bool, colors: dict) -> dict:
    values = data[x].to_numpy(float)
    log_x = log_x and len(values) > 0 and values.min() > 0 and values.max() / values.min() > 5  # else linear
    traces = []
    for (fmt, acc, wide, bias), part in data.groupby([data.b, data.acc, data.lanes > 1, data.bias != "none"]):
        color = "rgba({:.0f},{:.0f},{:.0f},0.9)".format(*[255 * c for c in colors[fmt][:3]])
        yv = np.maximum(1 - part[y].to_numpy(float), 1e-4) if loss else part[y].to_numpy(float)
        custom = np.stack([[design_label(r) for r in part.to_dict("records")],
                           *[part[c].map(lambda v: f"{v:.0f}" if v == v else "—") for c in
                             ("mpy_area_um2", "alignadd_area_um2", "normacc_area_um2")],
                           part["mac_area_um2"].map(lambda v: f"{v:.0f}"),
                           part[y].map(lambda v: f"{v:.4f}")], axis=-1)
        traces.append({"type": "scatter", "mode": "markers", "x": part[x].tolist(), "y": yv.tolist(),
                       "name": f"{fmt} → {acc}" + (" ×lanes" if wide else "") + (" +bias" if bias else ""),
                       "legendgroup": _color_family(fmt),
                       "marker": {"color": color, "size": 10, "symbol": _SYMBOLS.get(acc, "x") + ("-open" if wide else ""),
                                  "line": {"width": 2 if (wide or bias) else 0.5, "color": "black" if bias else color}},
                       "customdata": custom.tolist(),
                       "hovertemplate": ("<b>%{customdata[0]}</b><br>" + f"{xlabel}: %{{x:.4g}}<br>"
                                         + f"{ylabel}: %{{customdata[5]}}<br>MAC area %{{customdata[4]}} µm² "
                                         "(mpy %{customdata[1]}, align/add %{customdata[2]}, normalize/acc "
                                         "%{customdata[3]})<extra></extra>")})
    layout = {"title": {"text": title + (f"<br><sup>{html.escape(ylabel)}</sup>" if loss else ""), "font": {"size": 13}},
              "margin": {"l": 70, "r": 10, "t": 60, "b": 50},
              "xaxis": {"title": {"text": xlabel}, "type": "log" if log_x else "linear", "exponentformat": "power"},
              "yaxis": {"title": {"text": "accuracy loss, 1 − metric (log, better up)" if loss else ylabel},
                        "type": "log" if loss else "linear", "autorange": "reversed" if loss else True,
                        "exponentformat": "power"},
              "legend": {"font": {"size": 9}}, "hovermode": "closest"}
    return {"id": fig_id, "data": traces, "layout": layout}


def _clean(value):
    """JSON for JSON.parse: NaN and ±Inf (which it rejects) as null."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def write_html(result, directory: Path, *, title: str, settings: str, report_md: str,
               clocked: pd.DataFrame | None = None) -> Path:
    """``directory / report.html`` (see the module docstring)."""
    from plotly.offline import get_plotlyjs

    from rtl.files import atomic_write_text

    points, macs = result.points, result.macs
    figures, sections = [], []
    if len(points):
        points = _stage_areas(points, macs)
        colors = format_colors(points.b)
        for w, workload in enumerate(sorted(set(points.workload))):
            data = points[points.workload == workload]
            column = accuracy_column(points, workload)
            ids = []
            if column:
                label = _label(column, workload)
                clean = data.dropna(subset=[column])
                for k, (x, xlabel, log_x) in enumerate((("area_mm2", "area (mm², PEs + SRAM)", False),
                                                       ("energy_uj", "energy per inference (µJ)", True))):
                    fid = f"plot-{w}-{k}"
                    figures.append(_figure(fid, clean, x, column, f"{workload}: {xlabel.split(' (')[0]} vs accuracy loss",
                                           xlabel, label, loss=True, log_x=log_x, colors=colors))
                    ids.append(fid)
            fid = f"plot-{w}-2"
            figures.append(_figure(fid, data.assign(_eff=data.tops_per_w), "tops_per_mm2", "_eff",
                                   f"{workload}: efficiency", "achieved TOPS/mm² (2 ops/MAC)", "TOPS/W (2 ops/MAC)", loss=False, log_x=False,
                                   colors=colors))
            ids.append(fid)
            sections.append(f"<h3>{html.escape(workload)}</h3><div class='plots'>"
                            + "".join(f"<div class='plot' id='{i}'></div>" for i in ids) + "</div>")
    paper, _ = _mac_vs_paper(macs) if len(macs) else (pd.DataFrame(), [])
    if len(paper):
        shown = paper.dropna(subset=["area ratio (paper, gates)"])
        figures.append({"id": "plot-paper", "layout": {
            "title": {"text": "Area ratio to INT8 → fixed: ours (synthesized) beside the paper's gate counts",
                      "font": {"size": 13}}, "barmode": "group", "margin": {"l": 60, "r": 10, "t": 40, "b": 160},
            "yaxis": {"title": {"text": "area / INT8's"}}},
            "data": [{"type": "bar", "name": "ours (synthesized)", "x": shown.iloc[:, 0].tolist(),
                      "y": shown["area ratio (ours)"].tolist()},
                     {"type": "bar", "name": "paper (Figure 3 gates)", "x": shown.iloc[:, 0].tolist(),
                      "y": shown["area ratio (paper, gates)"].tolist()}]})
    blocks = [f"<h1>{html.escape(title)}</h1><p>{html.escape(settings)}</p>",
              "<p>Hover a point for the design, its MAC area by stage, and its accuracy; click a column to sort a "
              "table, type in its box to filter it. Everything here is in this one file.</p>"]
    if len(paper):
        blocks.append("<h2>MAC cost beside the paper</h2><div class='plot' id='plot-paper' style='height:460px'></div>")
    if sections:
        blocks.append("<h2>Per workload</h2>" + "".join(sections))
    if len(macs):
        shown = macs.assign(design=[design_label(r) for r in macs.to_dict("records")])
        columns = [c for c in ("design", "library", "clock_ns", "stages", "area_um2", "energy_pj_per_mac",
                               "critical_path_ns", "mpy_area_um2", "alignadd_area_um2", "normacc_area_um2")
                   if c in shown]
        blocks.append("<h2>Designs</h2>" + _table(shown[columns], "designs", "Every synthesized design"))
    if clocked is not None and len(clocked):
        blocks.append(_table(clocked, "clocked", "At a common clock"))
    if len(points):
        shown = points.assign(design=[design_label(r) for r in points.to_dict("records")])
        keep = ["workload", "design"] + [c for c in shown.columns if c in (
            "latency_ms", "energy_uj", "tops_per_w", "tops_per_mm2", "area_mm2", "dram_mb", "utilization")
            or c.startswith(("minilm_", "efficientnet_", "ppocr_", "digits_"))]
        blocks.append("<h2>Points</h2>" + _table(shown[keep], "points", "Every design × workload"))
    blocks.append("<h2>The report</h2>" + markdown_to_html(report_md))
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>" + html.escape(title) + "</title>"
            f"<style>{_STYLE}</style><script>window.__report_error = function (m) {{"
            "var e = document.getElementById('errors'); if (e) e.textContent += m + '\\n'; };"
            "window.addEventListener('error', function (e) { window.__report_error(String(e.message)); });"
            f"</script><script>{get_plotlyjs()}</script></head><body><div id='errors'></div>"
            + "\n".join(blocks)
            + "<script type='application/json' id='figures'>"
            + json.dumps(_clean(figures), allow_nan=False).replace("</", "<\\/") + f"</script><script>{_SCRIPT}</script>"
            "</body></html>")
    return atomic_write_text(Path(directory) / "report.html", page)
