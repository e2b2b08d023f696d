"""N:M structured sparsity: the pattern's spelling and what it does to a reduction.

An N:M sparse weight operand keeps N of every M consecutive weights along the reduction axis K
(``"2:4"``: two of every four), each kept weight stored with the index of its position in the
group — ``ceil(log2 M)`` bits of metadata — so the hardware can select the matching activation.
A K that M does not divide ends in a shorter group, read as padded with zeros: it keeps
min(N, its length) weights, the padding never stored (SCALE-Sim 3.0 condenses its filter
matrix the same way).
"""

from __future__ import annotations

import math

import numpy as np

from rtl.errors import FieldError

__all__ = ["parse_nm", "condensed_length", "metadata_bits", "select_activations", "compress_nm", "nm_mask"]


def parse_nm(text: str, field: str = "nm") -> tuple[int, int] | None:
    """``"2:4"`` → (2, 4); ``""`` → None (dense). 1 ≤ N < M ≤ 32."""
    if not isinstance(text, str):
        raise FieldError(field, f"{field} must be a pattern such as '2:4', not {text!r}", text)
    if not text:
        return None
    n, colon, m = text.partition(":")
    try:
        n, m = int(n), int(m)
    except ValueError:
        n = m = None
    if not colon or n is None:
        raise FieldError(field, f"{field} must be N:M with whole numbers, such as '2:4', not {text!r}", text)
    if not 1 <= n < m <= 32:
        raise FieldError(field, f"{field} {text!r}: N:M sparsity keeps N of every M weights, so 1 ≤ N < M ≤ 32 "
                                f"(N = M is dense: leave {field} empty)", text)
    return n, m


def condensed_length(k, n: int, m: int):
    """The kept weights of a K-long reduction (vectorized over ``k``): N per whole group of M and
    min(N, remainder) for a shorter last one."""
    k = np.asarray(k, dtype=np.int64)
    return (k // m) * n + np.minimum(k % m, n)


def metadata_bits(m: int) -> int:
    """Bits of the index stored with each kept weight: its position in a group of M."""
    return max(1, math.ceil(math.log2(m)))


def select_activations(a, index, n: int, m: int) -> np.ndarray:
    """The activations an N:M unit multiplies: ``a`` (…, G·M) dense, ``index`` (…, G·N) each kept
    weight's position in its group of M → (…, G·N), kept weight j of group g meeting
    ``a[g·M + index[j]]``."""
    a, index = np.asarray(a), np.asarray(index)
    groups = a.shape[-1] // m
    if a.shape[-1] != groups * m or index.shape[-1] != groups * n or a.shape[:-1] != index.shape[:-1]:
        raise ValueError(f"an {n}:{m} unit takes activations (…, G·{m}) and indices (…, G·{n}), not "
                         f"{a.shape} and {index.shape}")
    if index.size and (index.min() < 0 or index.max() >= m):
        raise ValueError(f"indices of an {n}:{m} unit must be in 0..{m - 1}")
    base = (np.arange(groups * n) // n) * m
    return np.take_along_axis(a, base + index, axis=-1)


def compress_nm(b, n: int, m: int, keep=None) -> tuple[np.ndarray, np.ndarray]:
    """(kept values (…, G·N), their positions) of a dense operand ``b`` (…, G·M) whose ``keep``
    mask (default: its nonzero codes) marks at most N per group: the kept positions in order,
    padded with the group's first unkept ones (a kept zero multiplies nothing)."""
    b = np.asarray(b)
    groups = b.shape[-1] // m
    grouped = b.reshape(b.shape[:-1] + (groups, m))
    kept = grouped != 0 if keep is None else np.asarray(keep, bool).reshape(grouped.shape)
    if (kept.sum(-1) > n).any():
        raise ValueError(f"an operand with more than {n} nonzeros in a group of {m} is not {n}:{m} sparse")
    order = np.argsort(~kept, axis=-1, kind="stable")[..., :n]  # kept first, each in position order
    order = np.sort(order, axis=-1)
    values = np.take_along_axis(grouped, order, axis=-1)
    return values.reshape(b.shape[:-1] + (groups * n,)), order.reshape(b.shape[:-1] + (groups * n,))


def nm_mask(weight: np.ndarray, n: int, m: int) -> np.ndarray:
    """The kept positions of N:M sparsity along the last axis (a shorter last group keeps
    min(n, its length))."""
    weight = np.asarray(weight)
    k = weight.shape[-1]
    groups = -(-k // m)
    padded = np.zeros(weight.shape[:-1] + (groups * m,))
    padded[..., :k] = np.abs(weight)
    valid = np.zeros(groups * m, dtype=bool)
    valid[:k] = True
    grouped = padded.reshape(weight.shape[:-1] + (groups, m))
    # rank within each group by magnitude, padding last and ties to the earlier position
    score = np.where(valid.reshape(groups, m), grouped, -1.0)
    order = np.argsort(-score, axis=-1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(m), axis=-1)
    keep = (ranks < n) & valid.reshape(groups, m)
    return keep.reshape(weight.shape[:-1] + (groups * m,))[..., :k]
