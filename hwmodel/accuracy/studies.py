"""Accuracy of each number format, computed with the MAC hardware's own arithmetic.

Every model here runs its matmuls through :func:`hwmodel.accuracy.qmatmul.qmatmul`, so the
accumulator is part of the result, exactly as the synthesized MAC computes it: an int32 register
is exact, a float16 one rounds once per step of the design's own ``lanes`` products (and
overflows where the hardware would — that is counted per site and reaches the metrics). No
approximation is made for speed: every row says its step (``lanes``) and ``arithmetic =
exact``. Results are rows in one shape — ``model, weights, activations, accumulator,
weight_granularity, lanes, bias, density, nm, codebook_bits, codebook, metric, value`` plus
model-specific columns — which the sweeps
join onto cost.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rtl.errors import FieldError

from hwmodel.accuracy.calibration import activation_scale, collector
from hwmodel.accuracy.recipes import Numerics

__all__ = ["MinilmStudy", "minilm_accuracy", "digits_accuracy", "RESULT_COLUMNS", "DIGITS_SEEDS",
           "outlier_verdict", "outlier_effect", "ImageStudy", "efficientnet_accuracy", "classifier_agreement", "OcrStudy", "ppocr_accuracy"]

DIGITS_SEEDS = (0, 1, 2, 3, 4)

RESULT_COLUMNS = ["model", "weights", "activations", "accumulator", "weight_granularity", "lanes", "bias",
                  "density", "nm", "codebook_bits", "codebook", "arithmetic", "metric", "value"]


def _row(model, numerics: Numerics, metric, value, **extra) -> dict:
    return {"model": model, "weights": numerics.weights, "activations": numerics.activations,
            "accumulator": numerics.accumulator, "weight_granularity": numerics.weight_granularity,
            "lanes": numerics.lanes, "bias": numerics.bias, "density": numerics.density, "nm": numerics.nm,
            "codebook_bits": numerics.codebook_bits, "codebook": numerics.codebook, "arithmetic": "exact",
            "metric": metric, "value": value, **extra}


def _check_sizes(study, zero_ok=()) -> None:
    """Every field of a study is a whole number: positive, or non-negative where ``zero_ok``."""
    for f in dataclasses.fields(study):
        value = getattr(study, f.name)
        low = 0 if f.name in zero_ok else 1
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            wanted = "a non-negative integer" if low == 0 else "a positive integer"
            raise FieldError(f.name, f"{f.name} must be {wanted}, not {value!r}", value)


@dataclass(frozen=True)
class MinilmStudy:
    """Which sentences: ``test`` evaluation and ``calibration`` sentences, disjoint, both from
    :func:`hwmodel.accuracy.models.minilm.sentences` (every 8th sentence calibrates, the rest
    test). Per-site SQNR is measured on the first ``sqnr_sentences`` test sentences: the error
    of the whole quantized model seen at each site (``sqnr_db``, accumulated drift) and of that
    site quantized alone (``sqnr_alone_db``, on the first ``alone_sentences`` of them)."""

    test: int = 500
    calibration: int = 64
    batch_size: int = 32
    sqnr_sentences: int = 64
    alone_sentences: int = 16

    def __post_init__(self):
        _check_sizes(self)


class _Context:
    """What every format of a study shares: ``model`` and its calibration ``samples``, with the
    activation scales and quantized weights each recipe needs, made once per key."""

    model: object  # set by the subclass: has quantize_weights(numerics)
    samples: dict  # site → CalibrationSample

    def scales(self, numerics: Numerics) -> dict:
        cache = self.__dict__.setdefault("_scale_cache", {})
        key = (numerics.activations, numerics.scale_method)
        if key not in cache:
            cache[key] = {k: activation_scale(v, numerics.activations, numerics.scale_method)
                          for k, v in self.samples.items()}
        return cache[key]

    def quantized_weights(self, numerics: Numerics) -> dict:
        cache = self.__dict__.setdefault("_weight_cache", {})
        key = numerics.weight_key
        if key not in cache:
            cache[key] = self.model.quantize_weights(numerics)
        return cache[key]


def _merged_stats(stats: list[dict]) -> tuple[dict, dict]:
    """Per site, from each batch's counts: (fraction of inputs saturated, fraction of outputs not finite)."""
    merged = {}
    for batch_stats in stats:
        for site, entry in batch_stats.items():
            total = merged.setdefault(site, dict.fromkeys(entry, 0))
            for key, value in entry.items():
                total[key] += value
    saturated = {s: e["saturated"] / e["inputs"] if e["inputs"] else 0.0 for s, e in merged.items()}
    non_finite = {s: e["non_finite"] / e["outputs"] if e["outputs"] else 0.0 for s, e in merged.items()}
    return saturated, non_finite


class _Minilm(_Context):
    """The model, the sentences, float32 references and calibration samples, computed once and
    shared by every format of a study."""

    def __init__(self, study: MinilmStudy):
        from hwmodel.accuracy.models.minilm import calibrate, load_minilm, sentences

        self.study = study
        self.model = load_minilm()
        texts = sentences()
        calibration = texts[::8][: study.calibration]
        test = [t for i, t in enumerate(texts) if i % 8][: study.test]
        if len(test) < study.test:
            raise FieldError("test", f"only {len(test)} test sentences are available, not {study.test}", study.test)
        order = np.argsort([len(t) for t in test], kind="stable")  # batches of similar length pad less
        self.test = [test[i] for i in order]
        self.batches = [self.model.tokenize(self.test[i:i + study.batch_size])
                        for i in range(0, len(self.test), study.batch_size)]
        self.reference = np.concatenate(_parallel(lambda b: self.model.forward(*b), self.batches))
        self.samples = calibrate(self.model, calibration, batch_size=study.batch_size)


def _parallel(function, items: list) -> list:
    """``[function(i) for i in items]`` on one thread per core, BLAS single-threaded meanwhile:
    numpy releases the GIL in matmuls and ufuncs, and the MAC kernels release it too."""
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    workers = min(len(items), os.cpu_count() or 1)
    if workers <= 1:
        return [function(i) for i in items]
    with threadpool_limits(1), ThreadPoolExecutor(workers) as pool:
        return list(pool.map(function, items))


def _sqnr(signal: float, noise: float) -> float:
    if noise != noise or noise == math.inf:
        return -math.inf
    return math.inf if noise == 0 else 10 * math.log10(signal / noise)


class _SiteError:
    """Signal and noise energy of each site's output, over real tokens (a non-finite output
    counts as infinite noise)."""

    def __init__(self):
        import threading
        self.signal: dict[str, float] = {}
        self.noise: dict[str, float] = {}
        self._lock = threading.Lock()  # batches report from threads

    def add(self, site, reference, values):
        with self._lock:
            self._add(site, reference, values)

    def _add(self, site, reference, values):
        ref = reference.astype(np.float64)
        diff = values.astype(np.float64) - ref
        self.signal[site] = self.signal.get(site, 0.0) + float(np.sum(ref * ref))
        with np.errstate(invalid="ignore", over="ignore"):
            noise = float(np.sum(diff * diff)) if np.isfinite(diff).all() else math.inf
        self.noise[site] = self.noise.get(site, 0.0) + noise

    def db(self) -> dict:
        return {site: _sqnr(self.signal[site], self.noise[site]) for site in self.signal}


def minilm_accuracy(recipes: list[Numerics], study: MinilmStudy = MinilmStudy(), *, progress=None,
                    context: _Minilm | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary rows, per-site rows) of all-MiniLM-L6-v2 under each recipe.

    Metrics against the float32 model on the test sentences: mean and minimum cosine of the
    embeddings (a sentence whose embedding is not finite — its accumulators overflowed — counts
    as cosine 0, and ``non_finite_sentences`` says how many did), nearest-neighbour agreement
    (the fraction of sentences whose most similar other sentence is the same as in float32), the
    worst per-site SQNR both ways (see :class:`MinilmStudy`), the largest fraction of a site's
    test inputs that saturated, and how many sites had non-finite outputs. Per-site rows give
    each site's ``sqnr_db``, ``sqnr_alone_db``, ``saturated_fraction`` and
    ``non_finite_fraction``.
    """
    ctx = context or _Minilm(study)
    model, reference = ctx.model, ctx.reference
    ref_sim = reference @ reference.T
    np.fill_diagonal(ref_sim, -np.inf)
    ref_nn = ref_sim.argmax(1)
    rows, site_rows = [], []
    for number, numerics in enumerate(recipes):
        started = time.perf_counter()
        scales, qweights = ctx.scales(numerics), ctx.quantized_weights(numerics)
        drift, stats = _SiteError(), [{} for _ in ctx.batches]
        covered = np.cumsum([len(ids) for ids, _ in ctx.batches]) - np.array([len(ids) for ids, _ in ctx.batches])

        def run(index):
            ids, mask = ctx.batches[index]
            if covered[index] >= ctx.study.sqnr_sentences:
                return model.forward(ids, mask, numerics, scales, qweights, stats=stats[index])
            outputs = {}
            model.forward(ids, mask, observe=lambda site, op, v, valid: outputs.__setitem__(site, v[valid])
                          if op == "out" else None)
            seen = []
            out = model.forward(ids, mask, numerics, scales, qweights, stats=stats[index],
                                observe=lambda site, op, v, valid: seen.append((site, outputs[site], v[valid]))
                                if op == "out" else None)
            for site, ref, values in seen:
                drift.add(site, ref, values)
            return out

        embeddings = np.concatenate(_parallel(run, list(range(len(ctx.batches)))))
        finite = np.isfinite(embeddings).all(axis=1)
        cosine = np.where(finite, np.sum(np.where(finite[:, None], embeddings, 0.0) * reference, axis=1), 0.0)
        sim = np.where(finite[:, None], embeddings, 0.0) @ np.where(finite[:, None], embeddings, 0.0).T
        np.fill_diagonal(sim, -np.inf)
        agreement = float(np.mean((sim.argmax(1) == ref_nn) & finite))
        alone = _alone_sqnr(ctx, numerics, scales, qweights)
        accumulated = drift.db()
        saturated, non_finite = _merged_stats(stats)
        elapsed = time.perf_counter() - started
        metrics = {"cosine_mean": float(cosine.mean()), "cosine_min": float(cosine.min()),
                   "nn_agreement": agreement, "layer_sqnr_db_min": min(accumulated.values()),
                   "site_sqnr_alone_db_min": min(alone.values()),
                   "saturated_fraction_max": max(saturated.values(), default=0.0),
                   "overflow_sites": sum(1 for v in non_finite.values() if v > 0),
                   "non_finite_sentences": int((~finite).sum())}
        for metric, value in metrics.items():
            rows.append(_row("minilm", numerics, metric, value, sentences=len(ctx.test), seconds=elapsed))
        for site in accumulated:
            for metric, value in (("sqnr_db", accumulated[site]), ("sqnr_alone_db", alone.get(site, math.nan)),
                                  ("saturated_fraction", saturated.get(site, 0.0)),
                                  ("non_finite_fraction", non_finite.get(site, 0.0))):
                site_rows.append(_row("minilm", numerics, metric, value, layer=site))
        if progress:
            progress(number + 1, len(recipes), numerics.label, elapsed)
    return pd.DataFrame(rows), pd.DataFrame(site_rows)


def _alone_sqnr(ctx: _Minilm, numerics: Numerics, scales: dict, qweights: dict) -> dict:
    """Each site quantized by itself, the rest of the model float32: the error that site alone
    makes, on the first ``alone_sentences`` test sentences."""
    ids, mask = ctx.model.tokenize(ctx.test[:ctx.study.alone_sentences])
    reference = {}
    ctx.model.forward(ids, mask, observe=lambda site, op, v, valid: reference.__setitem__(site, v[valid])
                      if op == "out" else None)
    error = _SiteError()

    def one(site):
        got = {}
        ctx.model.forward(ids, mask, numerics, scales, qweights, only=site,
                          observe=lambda s, op, v, valid: got.__setitem__(s, v[valid]) if op == "out" and s == site
                          else None)
        return site, got[site]

    for site, values in _parallel(one, list(reference)):
        error.add(site, reference[site], values)
    return error.db()


def outlier_verdict(e4m3_cosine: float, int8_cosine: float) -> str:
    """The whitepaper's BERT finding — FP8-E4M3 beats INT8 with per-tensor scales — as this
    run's numbers say it."""
    verdict = "appears" if e4m3_cosine > int8_cosine else "does not appear"
    return (f"The whitepaper's outlier effect (FP8-E4M3 beating INT8 with per-tensor scales on BERT) {verdict} on "
            f"MiniLM-L6: mean cosine {e4m3_cosine:.4f} (E4M3) vs {int8_cosine:.4f} (INT8).")


def outlier_effect(table: pd.DataFrame) -> str:
    """:func:`outlier_verdict` from accuracy rows (the best per-tensor E4M3 and INT8 recipes)."""
    pick = table[(table.metric == "cosine_mean") & (table.weights == table.activations)
                 & (table.weight_granularity == "tensor")]
    e4 = pick[pick.weights.isin(["float8_e4m3fn", "float8_e4m3fnuz"])].value
    i8 = pick[pick.weights.isin(["int8_sym", "int8"])].value
    if e4.empty or i8.empty:
        return "outlier effect: needs int8_sym and float8_e4m3fn with per-tensor weights in the formats"
    return outlier_verdict(float(e4.max()), float(i8.max()))


def digits_accuracy(recipes: list[Numerics], kinds=("mlp", "cnn"), seeds=DIGITS_SEEDS, *,
                    calibration: int = 256) -> pd.DataFrame:
    """Top-1 test accuracy of the digits networks per recipe: the mean over ``seeds`` (each seed
    its own split and initialisation) in ``value``, with ``std``, ``min`` and ``max``; a float32
    row per network for reference. Calibration uses the first ``calibration`` training images."""
    from hwmodel.accuracy.models.digits import calibrate_digits, digits_logits, train_digits

    if not seeds:
        raise ValueError("digits_accuracy needs at least one seed")
    rows = []
    float32 = Numerics("float32", "float32", "exact", "tensor")
    for kind in kinds:
        nets = [train_digits(kind, seed) for seed in seeds]
        for numerics in [float32, *recipes]:
            top1 = []
            for net, (x_train, _, x_test, y_test) in nets:
                scales = None if numerics is float32 else calibrate_digits(net, x_train[:calibration], numerics)
                logits = digits_logits(net, x_test, None if numerics is float32 else numerics, scales)
                top1.append(float(np.mean(logits.argmax(1) == y_test)))
            rows.append(_row(f"digits_{kind}", numerics, "top1", float(np.mean(top1)),
                             std=float(np.std(top1)), min=float(np.min(top1)), max=float(np.max(top1)),
                             seeds=len(top1)))
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class ImageStudy:
    """Which crops: ``test`` crops of the test photographs and ``calibration`` crops of the
    calibration photographs (disjoint photographs: see
    :mod:`hwmodel.accuracy.models.efficientnet`), run ``batch_size`` at a time."""

    test: int = 64
    calibration: int = 16
    batch_size: int = 8
    seed: int = 0

    def __post_init__(self):
        _check_sizes(self, zero_ok=("seed",))


class _ImageNet(_Context):
    """EfficientNet-Lite0, its crops, float32 logits and calibration samples, made once."""

    def __init__(self, study: ImageStudy):
        from hwmodel.accuracy.models.efficientnet import (CALIBRATION_PHOTOS, TEST_PHOTOS, crops,
                                                          load_efficientnet_lite0, photographs)

        self.study = study
        self.model = load_efficientnet_lite0()
        images = photographs()
        test = crops({k: images[k] for k in TEST_PHOTOS}, study.test, seed=study.seed)
        self.batches = [test[i:i + study.batch_size] for i in range(0, len(test), study.batch_size)]
        self.reference = np.concatenate(_parallel(self.model.forward, self.batches)).astype(np.float64)
        calibration = crops({k: images[k] for k in CALIBRATION_PHOTOS}, study.calibration, seed=study.seed + 1)
        self.samples: dict = {}
        for i in range(0, len(calibration), study.batch_size):
            self.model.forward(calibration[i:i + study.batch_size], observe=collector(self.samples))


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def classifier_agreement(reference: np.ndarray, logits: np.ndarray) -> dict:
    """How far a quantized classifier's ``logits`` are from the float32 ``reference`` (n × classes):
    top-1 agreement, mean top-5 overlap, mean KL(reference ‖ quantized) in nats, logit SQNR in
    dB and the samples whose logits are not finite (an overflowed accumulator), which count as
    disagreeing, with no top-5 overlap and excluded from the KL mean."""
    finite = np.isfinite(logits).all(axis=1)
    safe = np.where(finite[:, None], logits, 0.0)
    top1 = (safe.argmax(1) == reference.argmax(1)) & finite
    ref5, q5 = np.argsort(-reference, axis=1)[:, :5], np.argsort(-safe, axis=1)[:, :5]
    overlap = np.array([len(set(a) & set(b)) / 5 for a, b in zip(ref5, q5)]) * finite
    p, q = _softmax(reference), _softmax(safe)
    kl = np.sum(p * (np.log(np.maximum(p, 1e-300)) - np.log(np.maximum(q, 1e-300))), axis=1)
    noise = float(np.sum((safe - reference) ** 2)) if finite.all() else math.inf
    return {"top1_agreement": float(top1.mean()), "top5_overlap": float(overlap.mean()),
            "kl_divergence": float(kl[finite].mean()) if finite.any() else math.inf,
            "logit_sqnr_db": _sqnr(float(np.sum(reference ** 2)), noise),
            "non_finite_samples": int((~finite).sum())}


def efficientnet_accuracy(recipes: list[Numerics], study: ImageStudy = ImageStudy(), *, progress=None,
                          context: _ImageNet | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary rows, per-site rows) of EfficientNet-Lite0 (ImageNet weights) under each recipe,
    against its float32 self on crops of real photographs (:func:`classifier_agreement`), with
    the largest fraction of a site's inputs that saturated and the sites whose outputs
    overflowed; per-site rows give each site's ``saturated_fraction`` and ``non_finite_fraction``.
    A float32 row says how confident the float32 network itself is (its mean top-1 probability)."""
    ctx = context or _ImageNet(study)
    rows = [_row("efficientnet_lite0", Numerics("float32", "float32", "exact", "tensor"), "top1_probability",
                 float(_softmax(ctx.reference).max(1).mean()), crops=len(ctx.reference))]
    site_rows = []
    for number, numerics in enumerate(recipes):
        started = time.perf_counter()
        scales, qweights = ctx.scales(numerics), ctx.quantized_weights(numerics)
        stats = [{} for _ in ctx.batches]
        logits = np.concatenate(_parallel(lambda i: ctx.model.forward(ctx.batches[i], numerics, scales, qweights,
                                                                      stats=stats[i]),
                                          list(range(len(ctx.batches))))).astype(np.float64)
        saturated, non_finite = _merged_stats(stats)
        elapsed = time.perf_counter() - started
        metrics = {**classifier_agreement(ctx.reference, logits),
                   "saturated_fraction_max": max(saturated.values(), default=0.0),
                   "overflow_sites": sum(1 for v in non_finite.values() if v > 0)}
        for metric, value in metrics.items():
            rows.append(_row("efficientnet_lite0", numerics, metric, value, crops=len(logits), seconds=elapsed))
        for site in ctx.model.sites:
            for metric, value in (("saturated_fraction", saturated.get(site, 0.0)),
                                  ("non_finite_fraction", non_finite.get(site, 0.0))):
                site_rows.append(_row("efficientnet_lite0", numerics, metric, value, layer=site))
        if progress:
            progress(number + 1, len(recipes), numerics.label, elapsed)
    return pd.DataFrame(rows), pd.DataFrame(site_rows)


@dataclass(frozen=True)
class OcrStudy:
    """Which text: ``test`` rendered lines for recognition (and, rotated 180° for every other
    one, for the direction classifier) and ``calibration`` lines disjoint from them, from seeds
    ``seed`` and ``seed + 1``; ``pages`` pages of four lines each for the detector; run
    ``batch_size`` at a time (see :mod:`hwmodel.accuracy.models.ppocr`)."""

    test: int = 200
    calibration: int = 32
    pages: int = 4
    batch_size: int = 8
    seed: int = 0

    def __post_init__(self):
        _check_sizes(self, zero_ok=("seed", "pages"))


class _OnnxPart(_Context):
    """One network of a study: its batches, float32 outputs and calibration samples."""

    def __init__(self, network, batches: list, calibration: list):
        self.model, self.batches = network, batches
        self.reference = _parallel(lambda b: network.run(b)[0].astype(np.float64), batches)
        self.samples: dict = {}
        for batch in calibration:
            network.run(batch, observe=collector(self.samples))

    def outputs(self, numerics: Numerics) -> tuple[list, dict, dict]:
        """(outputs per batch, saturated fraction per site, non-finite fraction per site)."""
        scales, stats = self.scales(numerics), [{} for _ in self.batches]
        outs = _parallel(lambda i: self.model.run(self.batches[i], numerics, scales, stats=stats[i])[0].astype(np.float64),
                         list(range(len(self.batches))))
        return (outs, *_merged_stats(stats))


class _Ocr:
    """PP-OCRv4's three networks, the rendered lines and pages, float32 outputs and calibration."""

    def __init__(self, study: OcrStudy):
        from hwmodel.accuracy.models.ppocr import (charset, load_ppocr, recognition_batches, render_line,
                                                   text_lines)

        self.study = study
        rec, proto = load_ppocr("ppocr_rec")
        self.classes = charset(proto)
        self.lines = text_lines(study.test, study.seed)
        calibration = text_lines(study.calibration, study.seed + 1, exclude=self.lines)
        rng = np.random.default_rng(study.seed)
        images = [render_line(t, rng) for t in self.lines]
        calibration_images = [render_line(t, rng) for t in calibration]
        batches, self.order = recognition_batches(images, study.batch_size)
        self.rec = _OnnxPart(rec, batches, recognition_batches(calibration_images, study.batch_size)[0])
        self.truth = [self.lines[i] for i in self.order]
        cls_batches, self.cls_labels = _direction_batches(images, study.batch_size)
        self.cls = _OnnxPart(load_ppocr("ppocr_cls")[0], cls_batches,
                             _direction_batches(calibration_images, study.batch_size)[0])
        self.det = None
        if study.pages:
            pages = _pages(self.lines, study.pages, rng)
            self.det = _OnnxPart(load_ppocr("ppocr_det")[0], [p[None] for p in pages],
                                 [p[None] for p in _pages(calibration, max(4, study.pages), rng)])

    def decoded(self, outputs: list) -> list[str]:
        from hwmodel.accuracy.models.ppocr import ctc_greedy

        return [text for out in outputs for text in ctc_greedy(out, self.classes)]


def _direction_batches(images: list, batch_size: int) -> tuple[list, np.ndarray]:
    """The direction classifier's input and labels: every other line turned upside down (class
    1, "180"), each at 48 × 192 (PaddleOCR's cls shape)."""
    from hwmodel.accuracy.models.ppocr import _resized

    labels = np.arange(len(images)) % 2
    rows = [_resized(im[::-1, ::-1] if turned else im, 192) for im, turned in zip(images, labels)]
    return [np.stack(rows[i:i + batch_size]) for i in range(0, len(rows), batch_size)], labels


def _pages(lines: list[str], count: int, rng) -> list[np.ndarray]:
    """``count`` 320 × 320 pages of four rendered lines each, normalized as DBNet's input
    (ImageNet mean and standard deviation, RGB from the grey page)."""
    from hwmodel.accuracy.models.ppocr import render_line

    size, out = 320, []
    for p in range(count):
        page = np.full((size, size), 235, np.uint8)
        y = 8
        for j in range(4):
            line = render_line(lines[(4 * p + j) % len(lines)], rng)[:, :size - 16]
            h, w = line.shape
            if y + h > size - 8:
                break
            x = int(rng.integers(8, size - w - 7)) if size - w - 8 > 8 else 8
            page[y:y + h, x:x + w] = line
            y += h + int(rng.integers(8, 30))
        grey = page.astype(np.float32) / 255
        mean, std = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)
        out.append(((grey[None] - mean[:, None, None]) / std[:, None, None]).astype(np.float32))
    return out


def _boxes(probability: np.ndarray, threshold: float) -> list[tuple[int, int, int, int]]:
    """Bounding boxes (top, left, bottom, right) of the connected regions of a text-probability
    map above ``threshold`` (DBNet's binarization), regions under 10 pixels dropped."""
    from scipy import ndimage

    labels, _ = ndimage.label(probability > threshold)
    return [(s[0].start, s[1].start, s[0].stop, s[1].stop) for i, s in enumerate(ndimage.find_objects(labels), 1)
            if s is not None and np.count_nonzero(labels[s] == i) >= 10]


def _box_iou(a, b) -> float:
    h = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    w = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = h * w
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area if area else 0.0


def _map_fidelity(reference: list, outputs: list, threshold: float = 0.3) -> dict:
    """The detector's text-probability maps against float32's: the F1 of their text boxes
    (regions of the maps binarized at DBNet's threshold, a box matching when its IoU with the
    other's is at least 0.5), and the IoU of the binarized maps' pixels."""
    matched = found = expected = 0
    inter = union = 0
    for ref, out in zip(reference, outputs):
        ref, out = ref.reshape(-1, *ref.shape[-2:]), np.where(np.isfinite(out), out, 0).reshape(-1, *out.shape[-2:])
        for r, o in zip(ref, out):
            a, b = r > threshold, o > threshold
            inter += np.count_nonzero(a & b)
            union += np.count_nonzero(a | b)
            want, got = _boxes(r, threshold), _boxes(o, threshold)
            expected += len(want)
            found += len(got)
            matched += sum(1 for w in want if any(_box_iou(w, g) >= 0.5 for g in got))
    f1 = 2 * matched / (expected + found) if expected + found else 1.0
    return {"det_box_f1": f1, "det_map_iou": inter / union if union else 1.0}


def ppocr_accuracy(recipes: list[Numerics], study: OcrStudy = OcrStudy(), *, progress=None,
                   context: _Ocr | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary rows, per-site rows) of PP-OCRv4 under each recipe: recognition line and
    character accuracy against the rendered text (and the float32 model's own, in a float32
    row), agreement of the decoded lines with float32's, the direction classifier's accuracy on
    lines half of which are upside down, and the detector's map fidelity (:func:`_map_fidelity`);
    with the largest fraction of a site's inputs that saturated and the sites whose outputs
    overflowed, over all three networks. Per-site rows are the recognizer's."""
    from hwmodel.accuracy.models.ppocr import normalized, recognition_scores

    ctx = context or _Ocr(study)
    reference_text = ctx.decoded(ctx.rec.reference)
    float32 = Numerics("float32", "float32", "exact", "tensor")
    cls_ref = np.concatenate(ctx.cls.reference).argmax(1)
    rows = [_row("ppocr", float32, metric, value, lines=len(ctx.truth))
            for metric, value in {**recognition_scores(reference_text, ctx.truth),
                                  "cls_accuracy": float(np.mean(cls_ref == ctx.cls_labels))}.items()]
    site_rows = []
    for number, numerics in enumerate(recipes):
        started = time.perf_counter()
        outputs, saturated, non_finite = ctx.rec.outputs(numerics)
        text = ctx.decoded(outputs)
        cls_out, cls_saturated, cls_non_finite = ctx.cls.outputs(numerics)
        cls_out = np.concatenate(cls_out)
        metrics = {**recognition_scores(text, ctx.truth),
                   "line_agreement": float(np.mean([normalized(a) == normalized(b)
                                                    for a, b in zip(text, reference_text)])),
                   "cls_accuracy": float(np.mean(np.isfinite(cls_out).all(1) & (cls_out.argmax(1) == ctx.cls_labels)))}
        every_saturated, every_non_finite = [saturated, cls_saturated], [non_finite, cls_non_finite]
        if ctx.det is not None:
            det_out, det_saturated, det_non_finite = ctx.det.outputs(numerics)
            metrics.update(_map_fidelity(ctx.det.reference, det_out))
            every_saturated.append(det_saturated)
            every_non_finite.append(det_non_finite)
        metrics["saturated_fraction_max"] = max((v for d in every_saturated for v in d.values()), default=0.0)
        metrics["overflow_sites"] = sum(1 for d in every_non_finite for v in d.values() if v > 0)
        elapsed = time.perf_counter() - started
        for metric, value in metrics.items():
            rows.append(_row("ppocr", numerics, metric, value, lines=len(text), seconds=elapsed))
        for site in ctx.rec.model.sites:
            for metric, value in (("saturated_fraction", saturated.get(site, 0.0)),
                                  ("non_finite_fraction", non_finite.get(site, 0.0))):
                site_rows.append(_row("ppocr", numerics, metric, value, layer=site))
        if progress:
            progress(number + 1, len(recipes), numerics.label, elapsed)
    return pd.DataFrame(rows), pd.DataFrame(site_rows)
