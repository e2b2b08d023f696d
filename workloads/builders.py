"""Networks built in code from their published configurations: transformers and MobileNetV2.

Transformers: per block, the Q, K and V projections, attention scores QKᵀ and the weighted sum
AV (activation × activation, one product per head), softmax, the output projection, residual
adds, layer norms and the two FFN linears with their activation. GPT-2 has a prefill (the whole
prompt) and a per-token decode step (one query against ``seq`` cached keys and values); ViTs
start with their patch-embedding convolution. MobileNetV2 follows Sandler et al. (2018), Table 2,
as no ONNX file of it ships with the packages hwmodel uses.
"""

from __future__ import annotations

from dataclasses import dataclass

from workloads.trace import Trace, conv_row, gemm_row, vector_row

__all__ = ["TransformerConfig", "TRANSFORMERS", "transformer_trace", "mobilenet_v2_trace"]


@dataclass(frozen=True)
class TransformerConfig:
    name: str
    layers: int
    hidden: int
    heads: int
    ffn: int
    seq: int
    causal: bool = False
    vocab: int = 0
    patch: int = 0          # ViT: patch size; seq is then (image / patch)² + 1
    image: int = 224

    def __post_init__(self):
        for field in ("layers", "hidden", "heads", "ffn", "seq"):
            value = getattr(self, field)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{self.name}: {field} must be a positive integer, not {value!r}")
        if self.hidden % self.heads:
            raise ValueError(f"{self.name}: hidden {self.hidden} is not divisible by heads {self.heads}")


TRANSFORMERS = {c.name: c for c in [
    TransformerConfig("bert_base", 12, 768, 12, 3072, 128, vocab=30522),
    TransformerConfig("minilm_l6", 6, 384, 12, 1536, 128, vocab=30522),  # all-MiniLM-L6-v2
    TransformerConfig("gpt2_small", 12, 768, 12, 3072, 1024, causal=True, vocab=50257),
    TransformerConfig("vit_s16", 12, 384, 6, 1536, 197, patch=16),
    TransformerConfig("vit_b16", 12, 768, 12, 3072, 197, patch=16),
]}


def transformer_trace(config: TransformerConfig | str, *, batch: int = 1, seq: int | None = None,
                      decode: bool = False) -> Trace:
    """Layers of one forward pass (``decode``: one new token attending to ``seq`` cached ones)."""
    cfg = TRANSFORMERS[config] if isinstance(config, str) else config
    if isinstance(config, str) and config not in TRANSFORMERS:
        raise ValueError(f"unknown transformer {config!r}; known: {', '.join(TRANSFORMERS)}")
    seq = seq or cfg.seq
    if seq <= 0 or batch <= 0:
        raise ValueError(f"seq and batch must be positive, not {seq} and {batch}")
    if decode and not cfg.causal:
        raise ValueError(f"{cfg.name} is not a decoder; decode applies to causal models")
    queries = 1 if decode else seq
    tokens = batch * queries
    h, d, heads = cfg.hidden, cfg.hidden // cfg.heads, cfg.heads
    rows = []
    if cfg.patch:
        side = cfg.image // cfg.patch
        rows.append(conv_row("patch_embed", batch=batch, C=3, K=h, H=cfg.image, W=cfg.image, R=cfg.patch,
                             S=cfg.patch, stride=(cfg.patch, cfg.patch)))
        seq = queries = side * side + 1
        tokens = batch * seq
    else:
        rows.append(vector_row("embed", "embedding", tokens * h, op="Gather"))
    for layer in range(cfg.layers):
        p = f"l{layer}."
        for proj in ("q", "k", "v"):
            rows.append(gemm_row(p + proj, m=tokens, n=h, k=h, op="MatMul"))
        rows.append(gemm_row(p + "qk", m=queries, n=seq, k=d, count=batch * heads, weight=False, op="MatMul"))
        rows.append(vector_row(p + "softmax", "softmax", batch * heads * queries * seq, op="Softmax"))
        rows.append(gemm_row(p + "av", m=queries, n=d, k=seq, count=batch * heads, weight=False, op="MatMul"))
        rows.append(gemm_row(p + "o", m=tokens, n=h, k=h, op="MatMul"))
        rows.append(vector_row(p + "residual1", "elementwise", tokens * h, op="Add"))
        rows.append(vector_row(p + "ln1", "layernorm", tokens * h, op="LayerNormalization"))
        rows.append(gemm_row(p + "ffn1", m=tokens, n=cfg.ffn, k=h, op="MatMul"))
        rows.append(vector_row(p + "gelu", "activation", tokens * cfg.ffn, op="Gelu"))
        rows.append(gemm_row(p + "ffn2", m=tokens, n=h, k=cfg.ffn, op="MatMul"))
        rows.append(vector_row(p + "residual2", "elementwise", tokens * h, op="Add"))
        rows.append(vector_row(p + "ln2", "layernorm", tokens * h, op="LayerNormalization"))
    mode = "decode" if decode else ("prefill" if cfg.causal else "")
    name = cfg.name + (f"_{mode}" if mode else "")
    shape = (batch, 3, cfg.image, cfg.image) if cfg.patch else (batch, seq)
    return Trace.from_rows(rows, network=name, source=f"builder:{cfg.name}", input_shape=shape, batch=batch)


# (expansion t, output channels c, repeats n, first stride s) — Sandler et al. 2018, Table 2
_MOBILENET_V2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                 (6, 160, 3, 2), (6, 320, 1, 1)]


def mobilenet_v2_trace(*, batch: int = 1, resolution: int = 224) -> Trace:
    """MobileNetV2 (width 1.0) with BatchNorm folded, ReLU6 as activations."""
    rows = []
    size = resolution

    def conv(name, c, k, r, stride, groups=1):
        nonlocal size
        pad = r // 2
        row = conv_row(name, batch=batch, C=c, K=k, H=size, W=size, R=r, S=r, stride=(stride, stride),
                       padding=(pad, pad, pad, pad), groups=groups)
        rows.append(row)
        size = row["P"]
        return row

    conv("conv1", 3, 32, 3, 2)
    rows.append(vector_row("conv1_relu6", "activation", batch * 32 * size * size, op="Clip"))
    channels = 32
    block = 0
    for t, c, n, s in _MOBILENET_V2:
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = channels * t
            prefix = f"block{block}."
            if t != 1:
                conv(prefix + "expand", channels, hidden, 1, 1)
                rows.append(vector_row(prefix + "expand_relu6", "activation", batch * hidden * size * size, op="Clip"))
            conv(prefix + "depthwise", hidden, hidden, 3, stride, groups=hidden)
            rows.append(vector_row(prefix + "dw_relu6", "activation", batch * hidden * size * size, op="Clip"))
            conv(prefix + "project", hidden, c, 1, 1)
            if stride == 1 and channels == c:
                rows.append(vector_row(prefix + "residual", "elementwise", batch * c * size * size, op="Add"))
            channels = c
            block += 1
    conv("conv_last", channels, 1280, 1, 1)
    rows.append(vector_row("conv_last_relu6", "activation", batch * 1280 * size * size, op="Clip"))
    rows.append(vector_row("avgpool", "pool", batch * 1280, op="GlobalAveragePool", inputs=batch * 1280 * size * size))
    rows.append(gemm_row("classifier", m=batch, n=1000, k=1280))
    return Trace.from_rows(rows, network="mobilenet_v2", source="builder:mobilenet_v2 (Sandler et al. 2018)",
                           input_shape=(batch, 3, resolution, resolution), batch=batch)
