"""Static activation scales from calibration data that keeps its extremes.

A model's rare outliers are what makes a format win or lose (FFN2 inputs of a transformer reach
25 where 99.99 % of values stay under 6), so calibration must see every one of them. A
:class:`CalibrationSample` watches every calibration value of one quantization site: it keeps
the exact count and largest magnitude, the ``top`` largest magnitudes exactly, and a uniform
reservoir of the rest weighted by how many values each stands for. Absmax and the upper
percentiles are exact; the MSE scale search runs on the extremes exactly and on the bulk through
the weighted reservoir — so no extreme is ever dropped, and memory stays bounded.
"""

from __future__ import annotations

import numpy as np

from rtl.numerics.formats import Format, get_format
from rtl.numerics.scaling import MX_FORMATS, mse_scales

from hwmodel.accuracy.recipes import UNQUANTIZED

__all__ = ["CalibrationSample", "collector", "scale_of", "activation_scale"]


class CalibrationSample:
    """Streaming summary of one site's calibration values (see the module docstring)."""

    def __init__(self, *, top: int = 16384, reservoir: int = 65536, seed: int = 0):
        self.top_size, self.reservoir_size = top, reservoir
        self.count = 0
        self.absmax = 0.0
        self.top = np.zeros(0)            # the largest magnitudes seen, with their signs
        self.reservoir = np.zeros(0)      # a uniform sample of everything else
        self.rest = 0                     # how many values the reservoir stands for
        self._rng = np.random.default_rng(seed)

    def add(self, values: np.ndarray) -> None:
        x = np.asarray(values, dtype=np.float64).reshape(-1)
        if not x.size:
            return
        if not np.isfinite(x).all():
            raise ValueError(f"calibration value {x[~np.isfinite(x)][0]!r} is not finite")
        self.count += x.size
        self.absmax = max(self.absmax, float(np.abs(x).max()))
        pool = np.concatenate((self.top, x))
        if pool.size > self.top_size:
            cut = np.argpartition(-np.abs(pool), self.top_size - 1)
            self.top, spilled = pool[cut[:self.top_size]], pool[cut[self.top_size:]]
        else:
            self.top, spilled = pool, np.zeros(0)
        self._keep(spilled)

    def _keep(self, values: np.ndarray) -> None:
        """Reservoir sampling (each value kept with probability size / seen), in bulk."""
        if not values.size:
            return
        seen = self.rest + values.size
        room = self.reservoir_size - self.reservoir.size
        take = values[:room]
        self.reservoir = np.concatenate((self.reservoir, take))
        values = values[take.size:]
        start = self.rest + take.size
        if values.size:
            keep = self._rng.random(values.size) < self.reservoir_size / (start + np.arange(1, values.size + 1))
            chosen = values[keep]
            slots = self._rng.integers(0, self.reservoir_size, chosen.size)
            self.reservoir[slots] = chosen  # later arrivals overwrite earlier ones, as sequential sampling would
        self.rest = seen

    def values_and_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """Every extreme exactly (weight 1) and the bulk through the reservoir."""
        weight = self.rest / self.reservoir.size if self.reservoir.size else 0.0
        return (np.concatenate((self.top, self.reservoir)),
                np.concatenate((np.ones(self.top.size), np.full(self.reservoir.size, weight))))

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile of the magnitudes: exact wherever it falls among the kept
        extremes (q ≥ 100·(1 − top/count)), else from the reservoir."""
        rank = q / 100 * (self.count - 1)
        above = self.count - 1 - rank  # how many magnitudes lie above it
        top = np.sort(np.abs(self.top))[::-1]
        if above < top.size - 1 or self.reservoir.size == 0:
            i = int(np.floor(above))
            frac = above - i
            return float(top[i] * (1 - frac) + top[min(i + 1, top.size - 1)] * frac)
        values, weights = self.values_and_weights()
        order = np.argsort(np.abs(values))
        cumulative = np.cumsum(weights[order])
        return float(np.abs(values)[order][np.searchsorted(cumulative, q / 100 * cumulative[-1])])


def collector(samples: dict):
    """An ``observe(site, values)`` callback that adds each site's calibration values to its
    :class:`CalibrationSample` in ``samples``, made when the site is first seen (seeded by how
    many came before it)."""
    def observe(site, values):
        if site not in samples:
            samples[site] = CalibrationSample(seed=len(samples))
        samples[site].add(values)
    return observe


def scale_of(x, fmt: Format, method: str) -> float:
    """The per-tensor scale of the values ``x`` (every one of them)."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    absmax = float(np.abs(x).max()) if x.size else 0.0
    if absmax == 0:
        return 1.0
    if method == "absmax":
        return absmax / fmt.max_value
    return float(mse_scales(x[None, :], fmt, octaves=16.0, points=129, refine=40)[0])


def activation_scale(sample, fmt: str, method: str) -> float:
    """The static per-tensor scale of an activation from its calibration sample (or from an
    array of every calibration value)."""
    if fmt == UNQUANTIZED or fmt in MX_FORMATS:
        return 1.0
    if not isinstance(sample, CalibrationSample):
        values, sample = sample, CalibrationSample()
        sample.add(values)
    f = get_format(fmt)
    if sample.absmax == 0:
        return 1.0
    if method == "absmax":
        return sample.absmax / f.max_value
    values, weights = sample.values_and_weights()
    return float(mse_scales(values[None, :], f, octaves=16.0, points=129, refine=40, weights=weights[None, :])[0])
