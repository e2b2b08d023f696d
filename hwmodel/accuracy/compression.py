"""Pruning and weight clustering, applied to a layer's weights before the MAC sees them.

A recipe (:class:`hwmodel.accuracy.recipes.Numerics`) may compress its weights three ways, each
post-training and deterministic:

* **unstructured magnitude pruning** (``density`` d in (0, 1]): per layer, the ``round(d · n)``
  weights of largest magnitude are kept and the rest become exact zeros (ties: the earlier
  position is kept);
* **N:M structured sparsity** (``nm = "2:4"``): along the reduction axis K, in the array's own K
  order (``(c, kh, kw)`` for a convolution), every group of M consecutive weights keeps its N of
  largest magnitude. A K that M does not divide ends in a shorter group, read as padded with
  zeros: it keeps min(N, its length) weights, so the padding is never counted as kept;
* **k-means clustering** (``codebook_bits`` k = 2…6): each layer (``codebook = "layer"``) or
  each output channel (``"channel"``) keeps a codebook of 2^k centroids in the weight format,
  and every weight becomes one of them exactly. One entry is always exactly 0 (without it, a
  layer's many small weights are all pushed off zero: MiniLM's per-layer int8 codebook of 16
  falls from 0.91 to 0.17 cosine similarity); Lloyd's algorithm runs on the other 2^k − 1 in the
  format's code space (the weight divided by its scale), from centroids spaced linearly over the
  group's range (the initialization Han et al., *Deep Compression*, 2016, found best), the zero
  taking part in every assignment, until no centroid moves or 300 iterations; the centroids are
  then rounded to the format and each weight takes the nearest rounded one (ties: the smaller).
  With pruning, the zero is the pruned weights' and kept weights take the other 2^k − 1 — so the
  density is exactly the pruning's.

Weights arrive as (N, K): one row per output channel, K the reduction axis — the shape every
model here quantizes. The result is what :func:`hwmodel.accuracy.qmatmul.quantize_values`
returns: code values and their scale, so :func:`qmatmul` computes with the compressed weights
through the MAC's exact arithmetic.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from rtl.numerics.formats import decode, get_format, quantize
from rtl.numerics.sparsity import nm_mask

__all__ = ["prune_mask", "nm_mask", "cluster_codes", "compress_weight", "KMEANS_ITERATIONS"]

KMEANS_ITERATIONS = 300


def prune_mask(weight: np.ndarray, density: float) -> np.ndarray:
    """The kept positions (bool, the shape of ``weight``) of magnitude pruning to ``density``."""
    weight = np.asarray(weight)
    keep = np.zeros(weight.size, dtype=bool)
    count = int(round(density * weight.size))
    order = np.argsort(-np.abs(weight.reshape(-1)), kind="stable")
    keep[order[:count]] = True
    return keep.reshape(weight.shape)


def _lloyd(u: np.ndarray, count: int, *, zero: bool = False) -> np.ndarray:
    """Sorted centroids of the 1-D values ``u`` by Lloyd's algorithm from ``count`` centroids
    spaced linearly over their range; with ``zero``, one more centroid fixed at exactly 0 takes
    part in every assignment and never moves. Empty clusters keep their place. A value on a
    midpoint joins the lower cluster. On sorted values each cluster is a run, so a step costs
    O(count · log n); the steps are compiled (a layer's channels each run their own)."""
    ordered = np.sort(u.astype(np.float64))
    prefix = np.concatenate(([0.0], np.cumsum(ordered)))
    free = _lloyd_steps(ordered, prefix, np.linspace(ordered[0], ordered[-1], count), zero, KMEANS_ITERATIONS)
    return np.sort(np.concatenate((free, [0.0]))) if zero else free


@njit(cache=True)
def _lloyd_steps(ordered, prefix, free, zero, iterations):
    for _ in range(iterations):
        table = np.sort(np.append(free, 0.0)) if zero else free
        pinned = np.zeros(table.size, np.bool_)
        if zero:  # exactly one pinned entry, even when a free centroid also sits at 0
            pinned[np.flatnonzero(table == 0)[0]] = True
        cuts = np.empty(table.size + 1, np.int64)
        cuts[0], cuts[-1] = 0, ordered.size
        cuts[1:-1] = np.searchsorted(ordered, (table[1:] + table[:-1]) / 2, side="right")
        moved = np.empty(table.size - int(zero))
        j = 0
        for i in range(table.size):
            if pinned[i]:
                continue
            size = cuts[i + 1] - cuts[i]
            moved[j] = (prefix[cuts[i + 1]] - prefix[cuts[i]]) / size if size > 0 else table[i]
            j += 1
        moved = np.sort(moved)
        if np.array_equal(moved, free):
            break
        free = moved
    return free


def _nearest(u: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Each of ``u`` replaced by the nearest entry of the sorted, distinct ``table`` (ties: the
    smaller)."""
    index = np.searchsorted(table, u, side="left").clip(1, len(table) - 1) if len(table) > 1 else None
    if index is None:
        return np.full_like(u, table[0])
    low, high = table[index - 1], table[index]
    return np.where(u - low <= high - u, low, high)


def cluster_codes(u: np.ndarray, keep: np.ndarray | None, bits: int, fmt) -> np.ndarray:
    """The clustered code values of one group ``u`` (1-D, in code space): 2^bits centroids
    rounded to ``fmt`` (one of them the exact zero of the pruned positions when ``keep`` is
    given), every value replaced by its nearest."""
    fmt = get_format(fmt)
    kept = u if keep is None else u[keep]
    out = np.zeros_like(u)
    if kept.size == 0:
        return out
    # one entry is always exactly 0: the pruned weights' (who take it), or the nearest for weights
    # near zero — without it every small weight would be pushed to a centroid off zero
    centroids = _lloyd(kept, 2 ** bits - 1, zero=keep is None)
    table = np.unique(decode(quantize(centroids, fmt, 1.0), fmt))
    if keep is not None and np.any(table != 0):  # kept weights take the free centroids; the zero is the pruned ones'
        table = table[table != 0]
    values = _nearest(kept, table)
    if keep is None:
        return values
    out[keep] = values
    return out


def compress_weight(weight: np.ndarray, numerics, quantize_values) -> tuple[np.ndarray, np.ndarray | float]:
    """(code values, scale) of the (N, K) ``weight`` under ``numerics``' pruning, clustering and
    weight format; ``quantize_values`` is the quantizer (passed in so this module stays below
    :mod:`hwmodel.accuracy.qmatmul`)."""
    weight = np.asarray(weight)
    axis = 0 if numerics.weight_granularity == "channel" else None
    keep = None
    if numerics.density < 1.0:
        keep = prune_mask(weight, numerics.density)
    elif numerics.nm_pattern is not None:
        keep = nm_mask(weight, *numerics.nm_pattern)
    pruned = weight if keep is None else np.where(keep, weight, 0.0).astype(weight.dtype)
    values, scale = quantize_values(pruned, numerics.weights, axis=axis, method=numerics.scale_method,
                                    block_axis=-1)
    if not numerics.codebook_bits:
        return values, scale
    fmt = numerics.weight_format
    u = np.asarray(pruned, dtype=np.float64) / np.asarray(scale, dtype=np.float64)  # code space
    clustered = np.empty_like(u)
    rows = [slice(None)] if numerics.codebook == "layer" else range(u.shape[0])
    for row in rows:
        part = u[row]
        clustered[row] = cluster_codes(part.reshape(-1), None if keep is None else keep[row].reshape(-1),
                                       numerics.codebook_bits, fmt).reshape(part.shape)
    return clustered, scale
