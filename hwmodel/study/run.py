"""Running a sweep: MAC characterizations, accuracy and accelerator evaluations, each point stored
as it finishes, then joined into one table.

Stages, each stored point by point (:class:`hwmodel.study.store.Store`):

1. ``mac`` — every distinct MAC (a = activations, b = weights, accumulator, lanes, library,
   clock) is characterized once: synthesis, timing and energy, content-cached on disk too. They
   run on a local process pool, or on a Dask cluster given a scheduler address
   (:func:`rtl.parallel.executor`).
2. ``accuracy`` — every distinct (model, recipe) once, in this process, or on the Dask cluster
   when a scheduler is given (each worker loads a model once).
3. ``eval`` — every accelerator × workload, vectorized per (workload, dataflow).

A point is claimed before it is computed, so a second run on the same store waits for the first
instead of repeating its work. A point that fails on its own (Yosys rejects it, say) is stored
with its error and the sweep goes on; a point that failed because of the machine (a worker
killed, a pool broken) is tried again — twice in the same run, then by the next run.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import time
from concurrent.futures import Future, as_completed
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from rtl.files import check_writable
from rtl.parallel import executor, is_transient

from rtl.numerics.arith import FLOAT_ACCUMULATORS
from rtl.numerics.scaling import MX_FORMATS

from hwmodel.accuracy.recipes import Numerics
from hwmodel.study.progress import Progress
from hwmodel.study.spec import VARIANT_DEFAULTS, SweepSpec, fill_variants, variant_suffix
from hwmodel.study.store import Store

__all__ = ["run_sweep", "SweepResult", "point_id", "RETRIES"]

RETRIES = 2  # extra attempts, in one run, at points whose failure was transient
POLL_S = 2.0  # how often a run waiting on another run's claims looks at the store


def point_id(params: dict) -> str:
    """A point's identity: a stable hash of its parameters."""
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:20]


@dataclass(frozen=True, eq=False)
class SweepResult:
    points: pd.DataFrame  # one row per accelerator × workload, accuracy joined
    macs: pd.DataFrame  # one row per MAC design
    accuracy: pd.DataFrame  # one row per model × recipe
    failures: pd.DataFrame  # every failed point of this sweep with its stage and error
    counts: dict = dataclasses.field(default_factory=dict)  # stage → {"computed", "stored", "by_others"}


class _Inline:
    """An executor that runs each job where it is submitted (the accuracy models, which hold
    large models in memory once per process)."""

    def submit(self, function, *args):
        future = Future()
        try:
            future.set_result(function(*args))
        except Exception as error:  # noqa: BLE001 — handed to the caller through the future
            future.set_exception(error)
        return future


def _finishing(pool, task, points: dict, ids: list):
    """(id, future) for each point as it finishes: an executor's all submitted, then as they
    complete; the inline one's one at a time, so each is stored before the next one starts (an
    interrupted stage keeps what it finished)."""
    if isinstance(pool, _Inline):
        for i in ids:
            yield i, pool.submit(task, points[i])
        return
    futures = {pool.submit(task, points[i]): i for i in ids}
    for future in as_completed(futures):
        yield futures[future], future


def _run_points(store: Store, stage: str, points: dict, task, pool_factory, *, bar: Progress | None,
                note) -> dict:
    """Compute every point of ``points`` (id → params) not yet in the store with ``task``.

    Returns how many were computed here, found stored, and left to another run.
    """
    done = store.done(stage)
    todo = [i for i in points if i not in done]
    counts = {"computed": 0, "stored": len(points) - len(todo), "by_others": 0}
    if bar:
        bar.step(counts["stored"], "stored")
    attempts: dict[str, int] = {}
    while todo:
        mine = sorted(store.claim(stage, todo))
        if mine:
            retry = []
            with pool_factory(len(mine)) as pool:
                for i, future in _finishing(pool, task, points, mine):
                    try:
                        store.put(stage, i, points[i], future.result())
                        counts["computed"] += 1
                        text = note(points[i])
                    except Exception as error:  # noqa: BLE001 — a failed point is recorded, the sweep goes on
                        transient = is_transient(error) or bool(getattr(error, "transient", False))
                        attempts[i] = attempts.get(i, 0) + 1
                        if transient and attempts[i] <= RETRIES:
                            retry.append(i)
                            continue
                        store.put(stage, i, points[i], error=f"{type(error).__name__}: {error}", transient=transient)
                        text = f"FAILED {note(points[i])}"
                    store.heartbeat()
                    if bar:
                        bar.step(1, text)
            if retry:
                todo = retry
                continue
        done = store.done(stage)
        waiting = [i for i in todo if i not in done and i not in mine]
        if not waiting:
            break
        others = store.claimed_by_others(stage)
        if bar and others:
            bar.note(f"waiting for {len(others & set(waiting))} point(s) another run is computing")
        while waiting and set(waiting) & store.claimed_by_others(stage):
            time.sleep(POLL_S)
            store.heartbeat()
            done = store.done(stage)
            finished = [i for i in waiting if i in done]
            counts["by_others"] += len(finished)
            if bar and finished:
                bar.step(len(finished), "computed by another run")
            waiting = [i for i in waiting if i not in done]
        todo = waiting  # what is left had its claims abandoned: take them over
    return counts


# ----- stage 1: MACs -------------------------------------------------------------------------
def _mac_params(spec: SweepSpec) -> list[dict]:
    out = []
    for weights, activations, acc, bias in spec.designs():
        for lanes in spec.lanes:
            for b, extra in spec.variants(weights, acc, lanes):
                for library in spec.libraries:
                    for clock in spec.clock_ns:
                        for stages in spec.stages:
                            out.append({"a": activations, "b": b, "acc": acc, "lanes": lanes, "bias": bias,
                                        "library": library, "clock_ns": float(clock), "stages": stages,
                                        "stream": spec.stream} | extra)
    return list({point_id(p): p for p in out}.values())


def mac_spec(params: dict):
    """The :class:`rtl.hdl.spec.MacSpec` a MAC point names (``stages = "auto"`` as 0)."""
    from rtl.hdl.spec import MacSpec

    stages = params.get("stages", 0)
    return MacSpec.from_names(params["a"], params["b"], params["acc"], lanes=params["lanes"], bias=params["bias"],
                              stages=0 if stages == "auto" else stages, **{k: _variant(params, k) for k in
                                                                            ("interleave", "nm", "codebook_bits",
                                                                             "zero_gating")})


def _variant(params: dict, key: str):
    value = params.get(key, VARIANT_DEFAULTS[key])
    return VARIANT_DEFAULTS[key] if value is None or (isinstance(value, float) and value != value) else value


def stream_zeros(params: dict) -> dict:
    """The energy stream's zeros for a MAC point: its fraction of zero activations and, pruned to
    its ``density``, of zero weights (``characterize``'s ``sparsity`` and ``b_sparsity``)."""
    return {"sparsity": float(_variant(params, "sparsity")), "b_sparsity": 1.0 - float(_variant(params, "density"))}


def _mac_task(params: dict, cache_dir: str | None, tool: str) -> dict:
    """Characterize one MAC (runs in a worker process or on a Dask worker): the stream has the
    point's fraction of zero activations and, pruned to ``density``, of zero weights."""
    from rtl.flow.characterize import characterize

    spec = mac_spec(params)
    zeros = stream_zeros(params)
    if params.get("stages", 0) == "auto":
        from rtl.flow.clocking import meet_clock
        cost = meet_clock(spec, params["library"], params["clock_ns"], stream=params["stream"], tool=tool,
                          cache_dir=cache_dir, **zeros)
    else:
        cost = characterize(spec, params["library"], params["stream"], tool=tool,
                            clock_ns=params["clock_ns"] or None, cache_dir=cache_dir, **zeros)
    return dataclasses.asdict(cost)


def _run_macs(spec, store, *, scheduler, processes, cache_dir, tool, bar_factory) -> dict:
    from rtl.flow.synth import prepare_yosys

    params = {point_id(p): p for p in _mac_params(spec)}
    bar = bar_factory("synthesis", len(params))
    if set(params) - store.done("mac"):
        prepare_yosys(tool, bar.note if bar else None)
    prepare = functools.partial(prepare_yosys, tool)
    try:
        return _run_points(store, "mac", params, functools.partial(_mac_task, cache_dir=cache_dir, tool=tool),
                           lambda jobs: executor(scheduler=scheduler, processes=processes, jobs=jobs, prepare=prepare),
                           bar=bar, note=lambda p: f"{p['a']}×{p['b']}→{p['acc']} ×{p['lanes']}")
    finally:
        if bar:
            bar.close()


# ----- stage 2: accuracy ---------------------------------------------------------------------
def accuracy_lanes(acc: str, lanes: int) -> int:
    """The step the accuracy of a MAC depends on: a fixed register's integer sums are the same
    whatever the step, so its MACs share the 1-lane result; a float register rounds per step."""
    return lanes if acc in FLOAT_ACCUMULATORS else 1


def _size(spec, model):
    return {"minilm": spec.minilm_sentences, "efficientnet_lite0": spec.efficientnet_crops,
            "ppocr": spec.ppocr_lines}.get(model, spec.digits_seeds)


ACCURACY_VARIANT = ("interleave", "nm", "density", "codebook_bits")
"""The variant keys a design's accuracy depends on (zero gating changes only where a zero meets
Inf or NaN, and the energy stream's activation zeros are not the model's)."""


def _accuracy_params(spec: SweepSpec) -> list[dict]:
    out = []
    for model in spec.accuracy:
        for weights, activations, acc, bias in spec.designs():
            for lanes in spec.lanes:
                for b, extra in spec.variants(weights, acc, lanes):
                    extra = {k: v for k, v in extra.items() if k in ACCURACY_VARIANT}
                    n = Numerics(b, activations, acc, spec.granularity, lanes=accuracy_lanes(acc, lanes), bias=bias,
                                 codebook=spec.codebook, **extra)
                    out.append({"model": model, "recipe": n.label, "size": _size(spec, model), "weights": n.weights,
                                "activations": n.activations, "accumulator": n.accumulator, "lanes": n.lanes,
                                "bias": n.bias, "granularity": n.weight_granularity}
                               | extra | ({"codebook": n.codebook} if n.codebook_bits else {}))
    return list({point_id(_accuracy_key(p)): p for p in out}.values())


def _accuracy_key(params: dict) -> dict:
    return {k: params[k] for k in ("model", "recipe", "size")}


@functools.lru_cache(maxsize=2)
def _minilm_context(sentences: int):
    from hwmodel.accuracy.studies import MinilmStudy, _Minilm
    return _Minilm(MinilmStudy(test=sentences, sqnr_sentences=min(32, sentences), alone_sentences=min(8, sentences)))


@functools.lru_cache(maxsize=1)
def _imagenet_context(crops: int):
    from hwmodel.accuracy.studies import ImageStudy, _ImageNet
    return _ImageNet(ImageStudy(test=crops))


@functools.lru_cache(maxsize=1)
def _ocr_context(lines: int):
    from hwmodel.accuracy.studies import OcrStudy, _Ocr
    return _Ocr(OcrStudy(test=lines, calibration=min(32, lines), pages=max(1, lines // 8)))


def _accuracy_task(params: dict) -> dict:
    from hwmodel.accuracy.studies import digits_accuracy, efficientnet_accuracy, minilm_accuracy, ppocr_accuracy

    numerics = Numerics(params["weights"], params["activations"], params["accumulator"], params["granularity"],
                        lanes=params["lanes"], bias=params["bias"], codebook=params.get("codebook", "layer"),
                        **{k: _variant(params, k) for k in ACCURACY_VARIANT})
    if params["model"] == "minilm":
        context = _minilm_context(params["size"])
        table, _ = minilm_accuracy([numerics], context.study, context=context)
    elif params["model"] == "efficientnet_lite0":
        context = _imagenet_context(params["size"])
        table, _ = efficientnet_accuracy([numerics], context.study, context=context)
        table = table[table.weights != "float32"]
    elif params["model"] == "ppocr":
        context = _ocr_context(params["size"])
        table, _ = ppocr_accuracy([numerics], context.study, context=context)
        table = table[table.weights != "float32"]
    else:
        table = digits_accuracy([numerics], seeds=tuple(range(params["size"])))
        table = table[table.weights != "float32"]
    return {f"{r.model}_{r.metric}": r.value for r in table.itertuples()}


def _run_accuracy(spec, store, bar_factory, scheduler=None) -> dict:
    """Every (model, recipe) point: in this process (its models loaded once), or given a Dask
    ``scheduler``, on the cluster — each worker loads a model once and keeps it for every recipe
    it is sent (the contexts are cached per process)."""
    params = _accuracy_params(spec)
    bar = bar_factory("accuracy", len(params))
    pools = (lambda jobs: executor(scheduler=scheduler, jobs=jobs)) if scheduler is not None else (lambda jobs: _inline())
    try:
        by_id = {point_id(_accuracy_key(p)): p for p in params}
        return _run_points(store, "accuracy", by_id, _accuracy_task, pools, bar=bar,
                           note=lambda p: f"{p['model']} {p['recipe']}")
    finally:
        if bar:
            bar.close()


class _inline:
    def __enter__(self):
        return _Inline()

    def __exit__(self, *exc):
        return False


# ----- stage 3: the accelerator model --------------------------------------------------------
MAC_KEYS = ("a", "b", "acc", "lanes", "bias", "library", "clock_ns", "stages") + tuple(VARIANT_DEFAULTS)


def _mac_key(params: dict) -> tuple:
    return tuple(_variant(params, k) if k in VARIANT_DEFAULTS else params[k] for k in MAC_KEYS)


def _mac_fields(mac: dict) -> dict:
    """A MAC's keys in a point's parameters (variant keys only where they are not their defaults,
    so points of plain MACs keep the identities earlier runs stored)."""
    return {k: mac[k] for k in MAC_KEYS if k in mac and not (k in VARIANT_DEFAULTS and mac[k] == VARIANT_DEFAULTS[k])}


def _eval_params(spec: SweepSpec, workload: str, mac: dict) -> list[dict]:
    return [{"workload": workload, **_mac_fields(mac),
             "array": array, "dataflow": dataflow, "buffers_kb": list(buffers), "dram_bandwidth": bandwidth,
             "dram_gb_s": spec.dram_gb_s, "dram_type": spec.dram_type, "mapping": spec.mapping,
             "objective": spec.objective}
            for array in spec.arrays for dataflow in spec.dataflows for buffers in spec.buffers_kb
            for bandwidth in spec.dram_bandwidth]


def _run_eval(spec, store, mac_rows, bar_factory) -> dict:
    from workloads.zoo import load_trace

    from hwmodel.arch.accelerator import Accelerator, PeCost, parse_array, spread_products
    from hwmodel.arch.evaluate import evaluate_many
    from rtl.flow.characterize import MacCost
    from rtl.numerics.formats import get_format

    def storage_bits(name: str) -> float:  # a block format's elements carry their share of the block scale
        return MX_FORMATS[name].bits_per_element if name in MX_FORMATS else get_format(name).bits

    costs = {_mac_key(r["params"]): r["result"] for r in mac_rows if not r["error"]}
    pes = {key: PeCost.from_mac_cost(MacCost.from_dict(row)) for key, row in costs.items()}
    done = store.done("eval")
    counts = {"computed": 0, "stored": 0, "by_others": 0}
    bar = bar_factory("accelerator model", len(spec.workloads))
    for workload in spec.workloads:
        try:
            trace = load_trace(workload)
        except Exception as error:  # noqa: BLE001 — a workload that cannot be read fails alone
            store.put("eval", point_id({"workload": workload}), {"workload": workload},
                      error=f"{type(error).__name__}: {error}")
            if bar:
                bar.step(1, f"FAILED {workload}")
            continue
        points, accelerators = [], []
        for key, row in costs.items():
            pe = pes[key]
            for params in _eval_params(spec, workload, dict(zip(MAC_KEYS, key))):
                if point_id(params) in done:
                    counts["stored"] += 1
                    continue
                rows_, cols_ = parse_array(params["array"])
                buffers, density = params["buffers_kb"], _variant(params, "density")
                bits = _variant(params, "codebook_bits")  # a codebook design stores and moves indices
                stored = storage_bits(params["a"]), bits or storage_bits(params["b"])
                products = mac_spec(params).products
                rows_, unit = spread_products(rows_, pe, products)
                accelerators.append(Accelerator(
                    rows_, cols_, params["dataflow"], unit,
                    weight_bits=stored[1], activation_bits=stored[0], weight_sparsity=_variant(params, "nm"),
                    weight_density=density, weight_storage=spec.weight_storage if density < 1 else "dense",
                    weight_table=spec.codebook,
                    accumulator_bits=int(row["spec"]["acc"]["width"]), output_bits=stored[0],
                    ifmap_sram_kb=buffers[0], filter_sram_kb=buffers[1], ofmap_sram_kb=buffers[2],
                    dram_bandwidth_bytes_per_cycle=params["dram_bandwidth"] or None,
                    dram_bandwidth_gb_s=params["dram_gb_s"] or None, dram_type=params["dram_type"],
                    mapping=params["mapping"], objective=params["objective"],
                    clock_ns=params["clock_ns"] or None))
                points.append(params | {"products": products})
        if accelerators:
            summary = evaluate_many(accelerators, trace)
            for params, result, acc in zip(points, summary.to_dict("records"), accelerators):
                result["products"] = params.pop("products")  # per PE unit: an N:M unit's kept weights
                result["stored_weight_bits"] = acc.stored_weight_bits  # per weight, metadata and indices in
                cost = costs[_mac_key(params)]
                result.pop("array", None)  # the virtual-PE grid; the point's array is in its params
                result.update({"mac_area_um2": cost["area_um2"], "mac_energy_pj": cost["energy_pj_per_mac"],
                               "critical_path_ns": cost["critical_path_ns"], "clock_ns_used": acc.clock})
                store.put("eval", point_id(params), params, result)
                counts["computed"] += 1
        if bar:
            bar.step(1, workload)
    if bar:
        bar.close()
    return counts


# ----- the sweep ------------------------------------------------------------------------------
def run_sweep(spec: SweepSpec, output: str | Path, *, scheduler=None, processes: int | None = None,
              cache_dir: str | None = None, tool: str = "yowasp", progress: bool = True) -> SweepResult:
    """Run (or resume) the sweep into ``output/sweep.sqlite`` and return the joined tables."""
    from rtl.flow.characterize import DEFAULT_CACHE

    if not isinstance(spec, SweepSpec):
        raise TypeError(f"spec must be a SweepSpec, not {type(spec).__name__}")
    output = Path(output)
    check_writable(output, directory=True, needed_mb=50)
    cache_dir = str(cache_dir or DEFAULT_CACHE)
    check_writable(Path(cache_dir), directory=True)

    def bar_factory(label, total):
        return Progress(label, total) if progress else None

    store = Store(output / "sweep.sqlite")
    try:
        counts = {"mac": _run_macs(spec, store, scheduler=scheduler, processes=processes, cache_dir=cache_dir,
                                   tool=tool, bar_factory=bar_factory)}
        wanted = {point_id(p) for p in _mac_params(spec)}
        mac_rows = [r for r in store.rows("mac") if point_id(r["params"]) in wanted]
        counts["accuracy"] = _run_accuracy(spec, store, bar_factory, scheduler)
        counts["eval"] = _run_eval(spec, store, mac_rows, bar_factory)
        return _collect(spec, store, mac_rows, counts)
    finally:
        store.close()


def _collect(spec, store, mac_rows, counts) -> SweepResult:
    from rtl.hdl.mac import WHITEPAPER_STAGES  # the area columns in the datapath's order, cached or not

    accuracy_ids = {point_id(_accuracy_key(p)) for p in _accuracy_params(spec)}
    accuracy_rows = [r for r in store.rows("accuracy") if point_id(_accuracy_key(r["params"])) in accuracy_ids]
    eval_ids = {point_id(p) for w in spec.workloads for m in _mac_params(spec) for p in _eval_params(spec, w, m)}
    eval_ids |= {point_id({"workload": w}) for w in spec.workloads}
    eval_rows = [r for r in store.rows("eval") if point_id(r["params"]) in eval_ids]
    points = pd.DataFrame([{**r["result"], **r["params"]} for r in eval_rows if not r["error"]])
    metrics = {}
    for r in accuracy_rows:
        if not r["error"]:
            p = r["params"]
            metrics.setdefault((p["weights"], p["activations"], p["accumulator"], p["lanes"], p["bias"],
                                *(_variant(p, k) for k in ACCURACY_VARIANT)), {}).update(r["result"])
    if len(points):
        points["buffers_kb"] = points["buffers_kb"].map(lambda v: "/".join(str(x) for x in v))
        fill_variants(points)
        keys = [(b, a, acc, accuracy_lanes(acc, lanes), bias, *rest)
                for b, a, acc, lanes, bias, *rest in zip(points["b"], points["a"], points["acc"], points["lanes"],
                                                         points["bias"], *(points[k] for k in ACCURACY_VARIANT))]
        for column in sorted({c for m in metrics.values() for c in m}):
            points[column] = [metrics.get(k, {}).get(column) for k in keys]
    macs = pd.DataFrame([{**r["params"], **{k: v for k, v in r["result"].items()
                                             if k in ("area_um2", "nand2_equivalent", "critical_path_ns",
                                                      "energy_pj_per_mac", "leakage_nw")},
                          "glitch_pj_per_mac": r["result"]["energy_breakdown_pj_per_mac"].get("glitches", 0.0),
                          **{f"{k}_area_um2": r["result"]["whitepaper_stage_area_um2"][k] for k in WHITEPAPER_STAGES},
                          "acc_width": r["result"]["spec"]["acc"]["width"],
                          "stages_used": r["result"]["spec"]["stages"],
                          "products": mac_spec(r["params"]).products,
                          **{k: _variant(r["params"], k) for k in VARIANT_DEFAULTS},
                          **{f"{k}_load_energy_pj": v for k, v in r["result"].get("load_energy_pj", {}).items()}}
                         for r in mac_rows if not r["error"]])
    failures = pd.DataFrame([{"stage": stage, "params": json.dumps(r["params"]), "error": r["error"],
                              "transient": r["transient"]}
                             for stage, rows in (("mac", mac_rows), ("accuracy", accuracy_rows), ("eval", eval_rows))
                             for r in rows if r["error"]])
    accuracy = pd.DataFrame([{**r["params"], **(r["result"] or {}), "error": r["error"]} for r in accuracy_rows])
    return SweepResult(points, macs, accuracy, failures, counts)
