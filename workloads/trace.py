"""Layer traces: one validated row per layer of a real network, plus its layer graph.

Every MAC layer is described twice: in its own shape (conv: batch N, C, K, H, W, R, S, strides,
padding, dilation, groups, output P × Q) and as the GEMM an accelerator runs (``gemm_m`` output
rows, ``gemm_n`` output columns, ``gemm_k`` reduction, repeated ``gemm_count`` times: the groups
of a grouped conv, the heads of attention). Non-MAC layers carry their element count so a
vector unit can be costed. A conv's GEMM is the SCALE-Sim one: M = N·P·Q output pixels,
K = R·S·C/groups window, N = K/groups filters.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import pandas as pd

__all__ = ["Trace", "COLUMNS", "MAC_KINDS", "KINDS", "conv_row", "gemm_row", "vector_row", "TraceError"]

MAC_KINDS = ("conv", "depthwise", "linear", "matmul")
KINDS = MAC_KINDS + ("pool", "softmax", "layernorm", "norm", "elementwise", "activation", "embedding")

INT_COLUMNS = ["batch", "C", "K", "H", "W", "R", "S", "P", "Q", "stride_h", "stride_w", "pad_top",
               "pad_left", "pad_bottom", "pad_right", "dilation_h", "dilation_w", "groups",
               "gemm_m", "gemm_n", "gemm_k", "gemm_count", "macs", "weight_elems", "input_elems",
               "output_elems", "elements"]
COLUMNS = ["name", "kind", "op"] + INT_COLUMNS + ["weight_operand", "kv_cache"]
OPTIONAL_COLUMNS = {"kv_cache": False}  # traces written before the column existed read as without it


MAX_MACS = 2 ** 62  # per layer; every count here stays exact in int64


class TraceError(ValueError):
    """A trace (or a file it came from) is malformed; names the file, row and column."""


def _base(name: str, kind: str, op: str) -> dict:
    row = {c: 0 for c in INT_COLUMNS}
    row.update(name=name, kind=kind, op=op, weight_operand=False, kv_cache=False, groups=1, gemm_count=1,
               stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, batch=1)
    return row


def conv_row(name: str, *, batch: int, C: int, K: int, H: int, W: int, R: int, S: int,
             stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups: int = 1,
             P: int | None = None, Q: int | None = None, op: str = "Conv") -> dict:
    """A convolution row; ``padding`` is (top, left, bottom, right). P and Q default to the usual
    floor((I + pads − dilation·(F − 1) − 1) / stride) + 1."""
    top, left, bottom, right = padding
    if P is None:
        P = (H + top + bottom - dilation[0] * (R - 1) - 1) // stride[0] + 1
    if Q is None:
        Q = (W + left + right - dilation[1] * (S - 1) - 1) // stride[1] + 1
    kind = "depthwise" if groups == C and groups > 1 and K % groups == 0 else "conv"
    row = _base(name, kind, op)
    row.update(batch=batch, C=C, K=K, H=H, W=W, R=R, S=S, P=P, Q=Q, stride_h=stride[0], stride_w=stride[1],
               pad_top=top, pad_left=left, pad_bottom=bottom, pad_right=right, dilation_h=dilation[0],
               dilation_w=dilation[1], groups=groups, gemm_m=batch * P * Q, gemm_n=K // groups,
               gemm_k=R * S * (C // groups), gemm_count=groups, weight_operand=True,
               weight_elems=K * (C // groups) * R * S, input_elems=batch * C * H * W,
               output_elems=batch * K * P * Q)
    row["macs"] = row["gemm_m"] * row["gemm_n"] * row["gemm_k"] * groups
    return row


def gemm_row(name: str, *, m: int, n: int, k: int, count: int = 1, weight: bool = True,
             kind: str | None = None, op: str = "Gemm", kv_cache: bool = False) -> dict:
    """``count`` independent (m × k) · (k × n) products; ``weight``: the k × n operand is a
    weight (a linear layer) rather than an activation (attention's QKᵀ and AV); ``kv_cache``:
    that activation is read from a KV cache (decode), in the cache's own format."""
    if kv_cache and weight:
        raise ValueError(f"{name}: a KV-cache operand is an activation, not a weight")
    row = _base(name, kind or ("linear" if weight else "matmul"), op)
    row.update(gemm_m=m, gemm_n=n, gemm_k=k, gemm_count=count, batch=count, weight_operand=weight, kv_cache=kv_cache,
               macs=m * n * k * count, input_elems=m * k * count,
               weight_elems=k * n * (1 if weight else count), output_elems=m * n * count)
    return row


def vector_row(name: str, kind: str, elements: int, *, op: str = "", inputs: int | None = None) -> dict:
    """A non-MAC layer (pooling, softmax, layernorm, elementwise, activation) over ``elements``."""
    row = _base(name, kind, op or kind)
    row.update(elements=elements, input_elems=inputs if inputs is not None else elements,
               output_elems=elements)
    return row


@dataclass(frozen=True, eq=False)
class Trace:
    """Layers of one network (a validated DataFrame) with metadata and the layer graph."""

    layers: pd.DataFrame
    network: str
    source: str
    input_shape: tuple = ()
    batch: int = 1
    graph: nx.DiGraph = field(default_factory=nx.DiGraph)
    notes: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "layers", validate(self.layers, self.source))
        if not self.graph.number_of_nodes():
            chain = nx.DiGraph()
            names = list(self.layers["name"])
            chain.add_nodes_from(names)
            chain.add_edges_from(zip(names, names[1:]))
            object.__setattr__(self, "graph", chain)

    @classmethod
    def from_rows(cls, rows: list[dict], **meta) -> "Trace":
        return cls(pd.DataFrame(rows, columns=COLUMNS), **meta)

    @property
    def mac_layers(self) -> pd.DataFrame:
        return self.layers[self.layers["kind"].isin(MAC_KINDS)]

    def totals(self) -> dict:
        mac = self.mac_layers
        return {"network": self.network, "layers": len(self.layers), "mac_layers": len(mac),
                "gmacs": float(self.layers["macs"].sum()) / 1e9,
                "weights_m": float(mac.loc[mac["weight_operand"], "weight_elems"].sum()) / 1e6,
                "activations_m": float(self.layers["output_elems"].sum()) / 1e6,
                "vector_elements_m": float(self.layers["elements"].sum()) / 1e6}

    def to_csv(self) -> str:
        meta = {"network": self.network, "source": self.source, "input_shape": list(self.input_shape),
                "batch": self.batch, "edges": [list(e) for e in self.graph.edges]}
        return "# hwmodel-trace " + json.dumps(meta) + "\n" + self.layers.to_csv(index=False)

    @classmethod
    def from_csv(cls, text: str, source: str = "<csv>") -> "Trace":
        first, _, body = text.partition("\n")
        if not first.startswith("# hwmodel-trace "):
            raise TraceError(f"{source}: not an hwmodel trace (no '# hwmodel-trace' header line)")
        meta = json.loads(first[len("# hwmodel-trace "):])
        frame = pd.read_csv(io.StringIO(body), keep_default_na=False)
        graph = nx.DiGraph()
        graph.add_nodes_from(frame["name"] if "name" in frame else [])
        graph.add_edges_from(meta.get("edges", []))
        return cls(frame, meta["network"], meta.get("source", source), tuple(meta.get("input_shape", ())),
                   meta.get("batch", 1), graph)


def validate(frame: pd.DataFrame, source: str = "<trace>") -> pd.DataFrame:
    """Check columns, kinds, sizes and MAC counts; errors name the row and column."""
    frame = frame.assign(**{c: v for c, v in OPTIONAL_COLUMNS.items() if c not in frame.columns})
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise TraceError(f"{source}: missing column(s) {', '.join(missing)}")
    frame = frame[COLUMNS].copy()
    for column in INT_COLUMNS:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() | (values < 0) | (values != np.floor(values)) | (values.astype(float) > MAX_MACS)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            value = frame[column].iloc[row]
            value = value.item() if hasattr(value, "item") else value
            number = values.iloc[row]
            reason = ("is beyond what a trace holds (2^62)" if number == number and number > MAX_MACS
                      else "is not a non-negative integer")
            raise TraceError(f"{source}: row {row + 1} ({frame['name'].iloc[row]}), column {column}: {value!r} {reason}")
        frame[column] = values.astype(np.int64)
    for column in ("weight_operand", "kv_cache"):
        text = frame[column].astype(str).str.strip().str.lower()
        bad = ~text.isin(["true", "false", "1", "0"])
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise TraceError(f"{source}: row {row + 1} ({frame['name'].iloc[row]}), column {column}: "
                             f"{frame[column].iloc[row]!r} is not true or false")
        frame[column] = text.isin(["true", "1"])
    both = (frame["weight_operand"] & frame["kv_cache"]).to_numpy()
    if both.any():
        row = int(np.flatnonzero(both)[0])
        raise TraceError(f"{source}: row {row + 1} ({frame['name'].iloc[row]}): weight_operand and kv_cache are "
                         "both true; a KV cache is an activation")
    bad_kind = ~frame["kind"].isin(KINDS)
    if bad_kind.any():
        row = int(np.flatnonzero(bad_kind.to_numpy())[0])
        raise TraceError(f"{source}: row {row + 1}, column kind: {frame['kind'].iloc[row]!r} is not one of {KINDS}")
    if frame["name"].duplicated().any():
        name = frame.loc[frame["name"].duplicated(), "name"].iloc[0]
        raise TraceError(f"{source}: layer name {name!r} appears twice")
    mac = frame["kind"].isin(MAC_KINDS).to_numpy()
    for column in ("gemm_m", "gemm_n", "gemm_k", "gemm_count"):
        bad = mac & (frame[column].to_numpy() <= 0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise TraceError(f"{source}: row {row + 1} ({frame['name'].iloc[row]}), column {column}: "
                             f"a MAC layer needs a positive size, not {frame[column].iloc[row]}")
    # exact products (Python integers): int64 would wrap silently on a huge layer
    sizes = frame[["gemm_m", "gemm_n", "gemm_k", "gemm_count"]].to_numpy().tolist()
    expected = [m * n * k * c for m, n, k, c in ((int(v) for v in row) for row in sizes)]
    for row in np.flatnonzero(mac):
        if expected[row] > MAX_MACS or int(frame["macs"].iloc[row]) > MAX_MACS:
            raise TraceError(f"{source}: row {row + 1} ({frame['name'].iloc[row]}): gemm_m·gemm_n·gemm_k·gemm_count "
                             f"= {expected[row]} MACs is beyond what a trace holds (2^62)")
        if expected[row] != int(frame["macs"].iloc[row]):
            raise TraceError(f"{source}: row {row + 1} ({frame['name'].iloc[row]}), column macs: "
                             f"{frame['macs'].iloc[row]} != gemm_m·gemm_n·gemm_k·gemm_count = {expected[row]}")
    return frame.reset_index(drop=True)
