"""report.html: self-contained, and in headless Chromium its plots draw, with no errors."""

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hwmodel.study.html import markdown_to_html
from hwmodel.study.report import _markdown, write_results
from hwmodel.study.run import run_sweep
from hwmodel.study.spec import SweepSpec

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A real two-design sweep (INT8 and FP8 MACs, one workload, digits accuracy), its results."""
    out = tmp_path_factory.mktemp("html")
    spec = SweepSpec(formats=("int8_sym", "float8_e4m3fn"), accumulators=("fixed",), workloads=("squeezenet",),
                     accuracy=("digits",), digits_seeds=1)
    result = run_sweep(spec, out / "results", processes=1, progress=False, cache_dir=out / "cache")
    write_results(result, out / "results", title="two MACs", settings="a test sweep")
    return out / "results" / "report.html"


def test_the_page_is_one_offline_file(written):
    text = written.read_text()
    markup = re.sub(r"<script([^>]*)>.*?</script>", r"<script\1></script>", text, flags=re.S)  # the tags, not the code
    assert not re.search(r"<script[^>]*\bsrc=", markup) and not re.search(r"<link[^>]*\bhref=", markup)
    assert not re.search(r"\b(src|href)=['\"]?https?:", markup)  # nothing fetched from the network
    assert "Plotly" in text and "id='figures'" in text and "Every synthesized design" in text
    assert "float8_e4m3fn→fixed" in text and "int8_sym→fixed" in text
    assert "<h2>The report</h2>" in text and "<table class='md'>" in text  # report.md rendered, tables too


def test_markdown_tables_lists_and_code():
    html = markdown_to_html("# T\n\nsome `code` and **bold**\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- one\n- two\n")
    assert "<h1>T</h1>" in html and "<code>code</code>" in html and "<b>bold</b>" in html
    assert "<td>1</td><td>2</td>" in html and html.count("<li>") == 2


def _chromium(*args, page: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--virtual-time-budget=20000", *args, page.as_uri()], capture_output=True, text=True,
                          timeout=180)


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (Debian: apt-get install chromium)")
def test_headless_chromium_draws_every_plot_without_errors(written, tmp_path):
    dom = _chromium("--dump-dom", page=written).stdout
    figures = len(set(re.findall(r'id="(plot-[^"]+)"', dom)))
    rendered = re.search(r'data-rendered="(\d+)"', dom)
    assert figures >= 4 and rendered and int(rendered.group(1)) == figures  # every plot drew
    assert re.search(r'<div id="errors"></div>', dom), "JavaScript errors on the page"
    assert dom.count("js-plotly-plot") >= figures and dom.count('class="main-svg"') >= figures  # Plotly drew SVG
    shot = tmp_path / "shot.png"
    _chromium("--window-size=1400,1600", f"--screenshot={shot}", page=written)
    from matplotlib.image import imread
    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (1600, 1400)
    band = pixels[400:1500, 40:1360]  # where the plots sit: coloured markers and bars, not a blank page
    coloured = (band.max(axis=-1) - band.min(axis=-1)) > 0.25
    assert coloured.mean() > 0.002 and np.std(band) > 0.05


def test_markdown_tables_show_small_figures_instead_of_zero():
    """A batch-1 accelerator's TOPS/mm² is a few 1e-4: three decimals would print 0.000."""
    table = _markdown(pd.DataFrame({"design": ["x", "y"], "tops_per_mm2": [0.000312, 0.0]}))
    assert "| x | 0.000312 |" in table and "| y | 0.000 |" in table
    assert "| 1.500 |" in _markdown(pd.DataFrame({"v": [1.5]}))


def test_counts_print_whole_and_loss_axes_label_what_their_points_sit_at():
    import numpy as np

    from hwmodel.study.plots import pyplot
    from hwmodel.study.report import LOSS_FLOOR, _loss_axis

    table = pd.DataFrame({"minilm_overflow_sites": [48.0, float("nan")], "minilm_cosine_mean": [0.5, 1.0]})
    text = _markdown(table, ".4f")
    assert "| 48 | 0.5000 |" in text and "48.0" not in text and "| — | 1.0000 |" in text

    plt = pyplot()

    def labels(losses):
        fig, ax = plt.subplots()
        ax.scatter(np.arange(len(losses)), losses)
        _loss_axis(ax, np.asarray(losses))
        fig.canvas.draw()
        low, high = sorted(ax.get_ylim())
        shown = [(t.get_position()[1], t.get_text()) for t in ax.yaxis.get_ticklabels()
                 if t.get_text() and low <= t.get_position()[1] <= high]
        plt.close(fig)
        return shown

    narrow = labels([0.25, 0.4, 1.0])  # a span under a decade: more than 0.5 and 1 labelled
    assert len([v for v, _ in narrow if 0.25 <= v <= 1.0]) >= 5
    floor = labels([LOSS_FLOOR, 0.01, 0.5])  # a loss of 0 sits at the floor, and its label says so
    assert (LOSS_FLOOR, f"≤ {LOSS_FLOOR:g} (0)") in [(pytest.approx(v), t) for v, t in floor]
    for losses in ([0.25, 0.4, 1.0], [0.26, 0.31], [LOSS_FLOOR, 0.01, 0.5], [0.003, 0.7], [0.013]):
        shown = [v for v, _ in labels(losses)]  # no point beyond the last label on either side
        assert min(shown) <= min(losses) * (1 + 1e-9) and max(shown) >= max(losses) * (1 - 1e-9), (losses, shown)


def test_a_verdict_on_counted_samples_says_how_many_one_sample_is():
    from hwmodel.study.report import _format_verdict

    column = "efficientnet_lite0_top1_agreement"
    data = pd.DataFrame({"a": ["int8_sym", "float8_e4m3fn", "float8_e5m2"], "b": ["int8_sym", "float8_e4m3fn", "float8_e5m2"],
                         "acc": ["fixed", "float32", "float32"], "lanes": 1, "bias": "none",
                         "design": ["int8_sym→fixed", "float8_e4m3fn→float32", "float8_e5m2→float32"],
                         column: [0.75, 0.8125, 0.5]})
    accuracy = pd.DataFrame({"model": ["efficientnet_lite0", "minilm"], "size": [16, 32]})
    verdict = _format_verdict(data, column, "efficientnet_lite0", accuracy)
    assert "FP8 wins by 1 crop of 16" in verdict and "(on 16 test crops: one crop is 0.062)" in verdict
    tie = _format_verdict(data.assign(**{column: [0.75, 0.75, 0.5]}), column, "efficientnet_lite0", accuracy)
    assert "INT8 and FP8 tie" in tie and "one crop is 0.062" in tie
    # a continuous metric, or no sample count in the run: no count is claimed
    assert "crop" not in _format_verdict(data, column, "efficientnet_lite0")
    cosine = data.rename(columns={column: "minilm_cosine_mean"})
    assert "test" not in _format_verdict(cosine, "minilm_cosine_mean", "minilm_l6", accuracy)


def test_point_labels_are_placed_where_they_cover_no_other_label_or_point():
    from hwmodel.study.plots import pyplot
    from hwmodel.study.report import _area_shared, _label_points

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    # the MiniLM compression panel's latency axis: three designs within a label's height of each other
    labels = [("int8_sym→fixed", 18.0, 0.980), ("int8_sym→fixed cb4", 21.5, 0.943),
              ("float8_e4m3fnuz→fixed", 28.0, 0.997), ("mxfp4_e2m1→float32 ×32", 100.0, 0.91),
              ("int8_sym→fixed ×8 2:4", 12.0, 0.585)]
    ax.scatter([x for _, x, _ in labels], [y for _, _, y in labels])
    ax.margins(x=0.25, y=0.12)
    fig.tight_layout()
    _label_points(fig, ax, labels)
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    assert [t.get_text() for t in ax.texts] == [text for text, _, _ in labels]
    assert all(_area_shared(a, b) == 0 for i, a in enumerate(boxes) for b in boxes[i + 1:])
    frame = ax.get_window_extent(renderer)
    assert all(_area_shared(b, frame) == b.width * b.height for b in boxes)  # inside the axes
    plt.close(fig)


def test_point_labels_also_keep_clear_of_unlabelled_points():
    """A Pareto front labels only its own points; a design off the front drawn where a label's
    first offset would go (PP-OCRv4's float16 INT8 square beside the int8_sym→fixed label) is
    kept clear of all the same, and the label stays beside its own point."""
    from matplotlib.transforms import Bbox

    from hwmodel.study.plots import pyplot
    from hwmodel.study.report import _area_shared, _label_points

    plt = pyplot()
    placed = []
    for others in ([], [(5.4, 5.1)]):
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.scatter([5.0, 5.4, 1.0], [5.0, 5.1, 1.0])
        ax.set_xlim(0, 10)
        ax.set_ylim(0, 10)
        fig.tight_layout()
        _label_points(fig, ax, [("int8_sym→fixed", 5.0, 5.0), ("float8_e4m3fnuz→fixed", 1.0, 1.0)], others=others)
        renderer = fig.canvas.get_renderer()
        radius = 5 * fig.dpi / 72
        cx, cy = ax.transData.transform((5.4, 5.1))
        mark = Bbox.from_extents(cx - radius, cy - radius, cx + radius, cy + radius)
        box = ax.texts[0].get_window_extent(renderer)
        own = ax.transData.transform((5.0, 5.0))
        placed.append((_area_shared(box, mark), np.hypot(*(np.array(box.get_points()).mean(0) - own))))
        plt.close(fig)
    assert placed[0][0] > 0  # the case is there: unaware of the point, the label covers it
    assert placed[1][0] == 0  # aware of it, it does not
    assert placed[1][1] < 60  # and the label is still beside its own point (pixels)
