"""Design-space sweeps: a spec file → MAC characterizations, accelerator evaluations, accuracy —
joined into one table, stored point by point so an interrupted run resumes.

A sweep spec (TOML) lists, each as an array: ``formats`` (``WEIGHTS/ACTIVATIONS`` recipes or one
format for both), ``accumulators`` (``fixed``, ``intN``, ``float16``, ``bfloat16``,
``float32``), ``lanes``, ``arrays`` (``"32x32"``), ``dataflows``, ``buffers_kb`` (``[ifmap,
filter, ofmap]`` triples), ``libraries``, ``clock_ns`` (0 = the MAC's critical path),
``dram_bandwidth`` (bytes/cycle, 0 = stall-free), ``workloads`` (zoo names or .onnx/.csv
files), ``accuracy`` (``minilm``, ``digits``), and scalars ``name``, ``stream``,
``minilm_sentences``, ``digits_seeds``, ``granularity``.

Stages, each stored as it finishes (:class:`hwmodel.study.store.Store`):

1. ``mac`` — every distinct MAC (a = activations, b = weights, accumulator, lanes, library) is
   characterized once: synthesis, timing and energy, content-cached on disk too. They run on a
   local process pool, or on a Dask cluster given a scheduler address.
2. ``accuracy`` — every distinct (model, recipe) once, in this process.
3. ``eval`` — every accelerator × workload, vectorized per (workload, dataflow).

A point that fails (say, Yosys errors out) is stored with its error and the sweep goes on.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import os
import shutil
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hwmodel.accuracy.qmatmul import Numerics
from hwmodel.study.store import Store

__all__ = ["SweepSpec", "load_sweep", "run_sweep", "Progress", "SweepResult"]

ACCURACY_MODELS = ("minilm", "digits")


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep (see the module docstring for the keys)."""

    name: str = "sweep"
    formats: tuple = ("int8_sym", "float8_e4m3fn")
    accumulators: tuple = ("fixed", "float16", "float32")
    lanes: tuple = (1,)
    arrays: tuple = ("32x32",)
    dataflows: tuple = ("ws",)
    buffers_kb: tuple = ((256, 256, 128),)
    libraries: tuple = ("sky130hd_tt",)
    clock_ns: tuple = (0.0,)
    dram_bandwidth: tuple = (0.0,)
    workloads: tuple = ("resnet50",)
    accuracy: tuple = ("digits",)
    stream: str = "uniform"
    minilm_sentences: int = 200
    digits_seeds: int = 3
    granularity: str = "tensor"

    def __post_init__(self):
        from rtl.numerics.formats import get_format
        from rtl.numerics.scaling import MX_FORMATS

        from hwmodel.arch.accelerator import DATAFLOWS, parse_array

        for name in ("formats", "accumulators", "lanes", "arrays", "dataflows", "buffers_kb", "libraries",
                     "clock_ns", "dram_bandwidth", "workloads", "accuracy"):
            value = getattr(self, name)
            if isinstance(value, (str, int, float)) or not len(value):
                raise ValueError(f"{name} must be a non-empty list, not {value!r}")
            object.__setattr__(self, name, tuple(tuple(v) if isinstance(v, list) else v for v in value))
        for recipe in self.formats:
            for fmt in str(recipe).split("/"):
                if fmt in MX_FORMATS:
                    raise ValueError(f"formats: {fmt} is an MX block format; sweeps cover scalar-format MACs")
                get_format(fmt)
        for acc in self.accumulators:
            if acc not in ("fixed", "float16", "bfloat16", "float32") and not (acc.startswith("int") and acc[3:].isdigit()):
                raise ValueError(f"accumulators: {acc!r} is not fixed, intN, float16, bfloat16 or float32")
        for lanes in self.lanes:
            if not isinstance(lanes, int) or lanes < 1:
                raise ValueError(f"lanes must be positive integers, not {lanes!r}")
        for array in self.arrays:
            parse_array(array)
        for dataflow in self.dataflows:
            if dataflow not in DATAFLOWS:
                raise ValueError(f"dataflows: {dataflow!r} is not one of {DATAFLOWS}")
        for triple in self.buffers_kb:
            if len(triple) != 3 or not all(isinstance(v, (int, float)) and v > 0 for v in triple):
                raise ValueError(f"buffers_kb entries must be [ifmap, filter, ofmap] positive sizes, not {list(triple)!r}")
        for name in ("clock_ns", "dram_bandwidth"):
            for v in getattr(self, name):
                if not isinstance(v, (int, float)) or v < 0:
                    raise ValueError(f"{name} entries must be ≥ 0 (0 = automatic), not {v!r}")
        for model in self.accuracy:
            if model not in ACCURACY_MODELS:
                hint = difflib.get_close_matches(str(model), ACCURACY_MODELS, 1)
                raise ValueError(f"accuracy: unknown model {model!r}" + (f"; did you mean {hint[0]!r}?" if hint else ""))
        if self.granularity not in ("tensor", "channel"):
            raise ValueError(f"granularity must be tensor or channel, not {self.granularity!r}")
        for name in ("minilm_sentences", "digits_seeds"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, not {getattr(self, name)!r}")

    def recipes(self) -> list[tuple[str, str, str]]:
        """(weights, activations, accumulator) combinations."""
        out = []
        for recipe in self.formats:
            weights, _, activations = str(recipe).partition("/")
            for acc in self.accumulators:
                out.append((weights, activations or weights, acc))
        return out


_FIELDS = {f.name for f in dataclasses.fields(SweepSpec)}


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate a TOML sweep spec; errors name the file, the line or the key."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as error:
        raise ValueError(f"{path}: cannot read ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: malformed TOML: {error}") from None
    for key in data:
        if key not in _FIELDS:
            hint = difflib.get_close_matches(key, sorted(_FIELDS), 1)
            raise ValueError(f"{path}: unknown key {key!r}" + (f"; did you mean {hint[0]!r}?" if hint else ""))
    try:
        return SweepSpec(**data)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


class Progress:
    """``label  done/total  elapsed  ETA`` on stderr, at most every half second."""

    def __init__(self, label: str, total: int, stream=None):
        self.label, self.total, self.done = label, total, 0
        self.stream = stream or sys.stderr
        self.start = self.last = time.monotonic()
        self._show(force=True)

    def step(self, count: int = 1, note: str = "") -> None:
        self.done += count
        self._show(force=self.done >= self.total, note=note)

    def _show(self, force=False, note=""):
        now = time.monotonic()
        if not force and now - self.last < 0.5:
            return
        self.last = now
        elapsed = now - self.start
        eta = elapsed / self.done * (self.total - self.done) if self.done else float("nan")
        eta_text = "?" if eta != eta else f"{eta:.0f} s"
        print(f"{self.label}: {self.done}/{self.total}  {elapsed:.0f} s elapsed, ETA {eta_text}"
              + (f"  {note}" if note else ""), file=self.stream, flush=True)


def _point_id(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _check_output(directory: Path, needed_mb: float = 50.0) -> None:
    """Fail before any work if the output directory cannot be written or the disk is full."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        raise ValueError(f"output directory {directory} is not writable ({error.strerror})") from None
    free_mb = shutil.disk_usage(directory).free / 2 ** 20
    if free_mb < needed_mb:
        raise ValueError(f"output directory {directory} has {free_mb:.0f} MB free; the sweep needs about {needed_mb:.0f} MB")


def _mac_task(params: dict, cache_dir: str | None, tool: str):
    """Characterize one MAC (runs in a worker process or on a Dask worker)."""
    from rtl.flow.characterize import characterize
    from rtl.numerics.formats import get_format
    from rtl.hdl.spec import MacSpec

    spec = MacSpec.from_names(params["a"], params["b"], params["acc"], lanes=params["lanes"])
    cost = characterize(spec, params["library"], params["stream"], tool=tool,
                        clock_ns=params["clock_ns"] or None, cache_dir=cache_dir)
    return dataclasses.asdict(cost)


@dataclass(frozen=True, eq=False)
class SweepResult:
    points: pd.DataFrame  # one row per accelerator × workload, accuracy joined
    macs: pd.DataFrame  # one row per MAC design
    accuracy: pd.DataFrame  # one row per model × recipe × metric
    failures: pd.DataFrame  # every failed point with its stage and error


def _mac_params(spec: SweepSpec) -> list[dict]:
    out = []
    for weights, activations, acc in spec.recipes():
        for lanes in spec.lanes:
            for library in spec.libraries:
                for clock in spec.clock_ns:
                    out.append({"a": activations, "b": weights, "acc": acc, "lanes": lanes, "library": library,
                                "clock_ns": float(clock), "stream": spec.stream})
    return out


def _run_macs(spec, store, params_list, *, scheduler, processes, cache_dir, tool, progress):
    done = store.done("mac")
    todo = [p for p in params_list if _point_id(p) not in done]
    bar = Progress("synthesis", len(params_list)) if progress else None
    if bar:
        bar.step(len(params_list) - len(todo), "cached in the store")
    if not todo:
        return
    if scheduler:
        try:
            from distributed import Client, as_completed
        except ImportError:
            raise ImportError("Dask sweeps need distributed: pip install 'dask[distributed]'") from None
        client = Client(scheduler) if isinstance(scheduler, str) else scheduler
        futures = {client.submit(_mac_task, p, cache_dir, tool, pure=False): p for p in todo}
        completed = as_completed(futures)
    else:
        from concurrent.futures import ProcessPoolExecutor, as_completed
        pool = ProcessPoolExecutor(max_workers=processes or min(len(todo), os.cpu_count() or 1))
        futures = {pool.submit(_mac_task, p, cache_dir, tool): p for p in todo}
        completed = as_completed(futures)
    try:
        for future in completed:
            params = futures[future]
            try:
                store.put("mac", _point_id(params), params, future.result())
                note = f"{params['a']}×{params['b']}→{params['acc']}"
            except Exception as error:  # noqa: BLE001 — a failed point is recorded, the sweep goes on
                store.put("mac", _point_id(params), params, error=f"{type(error).__name__}: {error}")
                note = f"FAILED {params['a']}×{params['b']}→{params['acc']}"
            if bar:
                bar.step(1, note)
    finally:
        if not scheduler:
            pool.shutdown(cancel_futures=True)


def _run_accuracy(spec, store, progress):
    from hwmodel.accuracy.studies import MinilmStudy, digits_accuracy, minilm_accuracy

    recipes = []
    for weights, activations, acc in spec.recipes():
        recipes.append(Numerics(weights, activations, _accuracy_accumulator(acc), spec.granularity))
    recipes = list(dict.fromkeys(recipes))
    done = store.done("accuracy")
    jobs = [(model, n) for model in spec.accuracy for n in recipes
            if _point_id({"model": model, "recipe": n.label, "size": _size(spec, model)}) not in done]
    bar = Progress("accuracy", len(spec.accuracy) * len(recipes)) if progress else None
    if bar:
        bar.step(len(spec.accuracy) * len(recipes) - len(jobs), "cached in the store")
    context = None
    for model, numerics in jobs:
        params = {"model": model, "recipe": numerics.label, "size": _size(spec, model),
                  "weights": numerics.weights, "activations": numerics.activations, "accumulator": numerics.accumulator}
        try:
            if model == "minilm":
                from hwmodel.accuracy.studies import _Minilm
                context = context or _Minilm(MinilmStudy(test=spec.minilm_sentences,
                                                         sqnr_sentences=min(32, spec.minilm_sentences)))
                table, _ = minilm_accuracy([numerics], context.study, context=context)
            else:
                table = digits_accuracy([numerics], seeds=tuple(range(spec.digits_seeds)))
                table = table[table.weights != "float32"]
            result = {f"{r.model}_{r.metric}": r.value for r in table.itertuples()}
            store.put("accuracy", _point_id({k: params[k] for k in ("model", "recipe", "size")}), params, result)
        except Exception as error:  # noqa: BLE001
            store.put("accuracy", _point_id({k: params[k] for k in ("model", "recipe", "size")}), params,
                      error=f"{type(error).__name__}: {error}")
        if bar:
            bar.step(1, f"{model} {numerics.label}")


def _size(spec, model):
    return spec.minilm_sentences if model == "minilm" else spec.digits_seeds


def _run_eval(spec, store, mac_rows, progress):
    from workloads.zoo import load_trace

    from hwmodel.arch.accelerator import Accelerator, PeCost, parse_array
    from hwmodel.arch.evaluate import evaluate_many
    from rtl.flow.characterize import MacCost

    costs = {(r["params"]["a"], r["params"]["b"], r["params"]["acc"], r["params"]["lanes"], r["params"]["library"],
              r["params"]["clock_ns"]): r["result"] for r in mac_rows if not r["error"]}
    pes = {key: PeCost.from_mac_cost(MacCost(**{f.name: row[f.name] for f in dataclasses.fields(MacCost)
                                                if f.name in row})) for key, row in costs.items()}
    done = store.done("eval")
    bar = Progress("accelerator model", len(spec.workloads)) if progress else None
    for workload in spec.workloads:
        try:
            trace = load_trace(workload)
        except Exception as error:  # noqa: BLE001
            store.put("eval", _point_id({"workload": workload}), {"workload": workload},
                      error=f"{type(error).__name__}: {error}")
            if bar:
                bar.step(1, f"FAILED {workload}")
            continue
        points, accelerators = [], []
        for key, row in costs.items():
            a, b, acc, lanes, library, clock = key
            pe = pes[key]
            for array in spec.arrays:
                rows_, cols_ = parse_array(array)
                for dataflow in spec.dataflows:
                    for buffers in spec.buffers_kb:
                        for bandwidth in spec.dram_bandwidth:
                            params = {"workload": workload, "a": a, "b": b, "acc": acc, "lanes": lanes,
                                      "library": library, "clock_ns": clock, "array": array, "dataflow": dataflow,
                                      "buffers_kb": list(buffers), "dram_bandwidth": bandwidth}
                            if _point_id(params) in done:
                                continue
                            # an N-lane PE: N virtual PEs along the reduction (rows), each 1/N of its area
                            accelerators.append(Accelerator(
                                rows_ * lanes, cols_, dataflow, dataclasses.replace(pe, area_um2=pe.area_um2 / lanes),
                                weight_bits=_bits(b), activation_bits=_bits(a),
                                accumulator_bits=int(row["spec"]["acc"]["width"]), output_bits=_bits(a),
                                ifmap_sram_kb=buffers[0], filter_sram_kb=buffers[1], ofmap_sram_kb=buffers[2],
                                dram_bandwidth_bytes_per_cycle=bandwidth or None, clock_ns=clock or None))
                            points.append(params)
        if accelerators:
            summary = evaluate_many(accelerators, trace)
            for params, row, acc in zip(points, summary.to_dict("records"), accelerators):
                cost = _cost_of(costs, params)
                row.update({"mac_area_um2": cost["area_um2"], "mac_energy_pj": cost["energy_pj_per_mac"],
                            "critical_path_ns": cost["critical_path_ns"], "clock_ns_used": acc.clock})
                store.put("eval", _point_id(params), params, row)
        if bar:
            bar.step(1, workload)


def _cost_of(costs, params):
    return costs[(params["a"], params["b"], params["acc"], params["lanes"], params["library"], params["clock_ns"])]


def _bits(fmt: str) -> int:
    from rtl.numerics.formats import get_format
    return get_format(fmt).bits


def run_sweep(spec: SweepSpec, output: str | Path, *, scheduler=None, processes: int | None = None,
              cache_dir: str | None = None, tool: str = "yowasp", progress: bool = True) -> SweepResult:
    """Run (or resume) the sweep into ``output/sweep.sqlite`` and return the joined tables."""
    from rtl.tech.cells import load_library
    from rtl.flow.characterize import DEFAULT_CACHE
    from workloads.zoo import NETWORKS

    output = Path(output)
    _check_output(output)
    for library in spec.libraries:
        load_library(library)  # an unknown library fails here, before any work
    for workload in spec.workloads:
        if workload not in NETWORKS and not Path(workload).exists():
            hint = difflib.get_close_matches(workload, NETWORKS, 1)
            raise ValueError(f"workloads: {workload!r} is neither a known network nor a file"
                             + (f"; did you mean {hint[0]!r}?" if hint else ""))
    store = Store(output / "sweep.sqlite")
    try:
        mac_params = _mac_params(spec)
        _run_macs(spec, store, mac_params, scheduler=scheduler, processes=processes,
                  cache_dir=str(cache_dir or DEFAULT_CACHE), tool=tool, progress=progress)
        wanted = {_point_id(p) for p in mac_params}
        mac_rows = [r for r in store.rows("mac") if _point_id(r["params"]) in wanted]
        _run_accuracy(spec, store, progress)
        _run_eval(spec, store, mac_rows, progress)
        return _collect(spec, store, mac_rows)
    finally:
        store.close()


def _collect(spec, store, mac_rows) -> SweepResult:
    sizes = {m: _size(spec, m) for m in spec.accuracy}
    accuracy_rows = [r for r in store.rows("accuracy")
                     if r["params"]["model"] in sizes and r["params"]["size"] == sizes[r["params"]["model"]]]
    eval_rows = [{**r["params"], **r["result"]} for r in store.rows("eval")
                 if r["params"].get("workload") in spec.workloads and not r["error"] and "a" in r["params"]]
    wanted = {(p["a"], p["b"], p["acc"], p["lanes"], p["library"], p["clock_ns"]) for p in _mac_params(spec)}
    eval_rows = [r for r in eval_rows if (r["a"], r["b"], r["acc"], r["lanes"], r["library"], r["clock_ns"]) in wanted
                 and r["array"] in spec.arrays and r["dataflow"] in spec.dataflows
                 and tuple(r["buffers_kb"]) in spec.buffers_kb and r["dram_bandwidth"] in spec.dram_bandwidth]
    points = pd.DataFrame(eval_rows)
    metrics = {}
    for r in accuracy_rows:
        if not r["error"]:
            p = r["params"]
            metrics.setdefault((p["weights"], p["activations"], p["accumulator"]), {}).update(r["result"])
    if len(points):
        points["buffers_kb"] = points["buffers_kb"].map(lambda v: "/".join(str(x) for x in v))
        keys = list(zip(points["b"], points["a"], points["acc"].map(_accuracy_accumulator)))
        for column in sorted({c for m in metrics.values() for c in m}):
            points[column] = [metrics.get(k, {}).get(column) for k in keys]
    macs = pd.DataFrame([{**r["params"], **{k: v for k, v in r["result"].items()
                                             if k in ("area_um2", "nand2_equivalent", "critical_path_ns",
                                                      "energy_pj_per_mac", "leakage_nw")},
                          **{f"{k}_area_um2": v for k, v in r["result"]["whitepaper_stage_area_um2"].items()},
                          "acc_width": r["result"]["spec"]["acc"]["width"]}
                         for r in mac_rows if not r["error"]])
    failures = pd.DataFrame([{"stage": stage, "params": json.dumps(r["params"]), "error": r["error"]}
                             for stage in ("mac", "accuracy", "eval") for r in store.rows(stage) if r["error"]])
    accuracy = pd.DataFrame([{**r["params"], **(r["result"] or {}), "error": r["error"]} for r in accuracy_rows])
    return SweepResult(points, macs, accuracy, failures)


def _accuracy_accumulator(acc: str) -> str:
    """The accuracy recipe's accumulator for a MAC's: integer and fixed registers are exact."""
    return "fixed" if acc.startswith("int") or acc == "fixed" else acc
