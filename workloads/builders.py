"""Networks built in code from their published configurations: transformers and MobileNetV2.

Transformers: per block, the Q, K and V projections, attention scores QKᵀ and the weighted sum
AV (activation × activation, one product per head), softmax, the output projection, residual
adds, layer norms and the two FFN linears with their activation. GPT-2 has a prefill (the whole
prompt) and a per-token decode step (one query against ``seq`` cached keys and values); ViTs
start with their patch-embedding convolution. MobileNetV2 follows Sandler et al. (2018), Table 2,
as no ONNX file of it ships with the packages hwmodel uses. EfficientNet-Lite0 follows Tan & Le
(2019) with the Lite changes (no squeeze-excitation, ReLU6, fixed stem and head), as a plan of
convolutions that both its trace and its numpy executor (with real weights) walk.
"""

from __future__ import annotations

from dataclasses import dataclass

from workloads.trace import Trace, conv_row, gemm_row, vector_row

__all__ = ["TransformerConfig", "TRANSFORMERS", "transformer_trace", "mobilenet_v2_trace", "LlamaConfig", "LLAMAS",
           "llama_trace", "ConvStep", "EFFICIENTNET_LITE0", "efficientnet_lite0_plan", "efficientnet_lite0_trace",
           "same_padding"]


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
        rows.append(gemm_row(p + "qk", m=queries, n=seq, k=d, count=batch * heads, weight=False, op="MatMul",
                             kv_cache=decode))
        rows.append(vector_row(p + "softmax", "softmax", batch * heads * queries * seq, op="Softmax"))
        rows.append(gemm_row(p + "av", m=queries, n=d, k=seq, count=batch * heads, weight=False, op="MatMul",
                             kv_cache=decode))
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


@dataclass(frozen=True)
class LlamaConfig:
    """A Llama-style decoder: RMSNorm, grouped-query attention (``kv_heads`` key/value heads
    shared by ``heads / kv_heads`` query heads each), a SwiGLU FFN (gate and up projections, SiLU,
    their product, the down projection)."""

    name: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int
    seq: int = 1024  # prefill: the prompt; decode: the tokens in the KV cache

    def __post_init__(self):
        for field in ("layers", "hidden", "heads", "kv_heads", "ffn", "vocab", "seq"):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{self.name}: {field} must be a positive integer, not {value!r}")
        if self.hidden % self.heads or self.heads % self.kv_heads:
            raise ValueError(f"{self.name}: hidden {self.hidden} must divide into heads {self.heads}, and heads "
                             f"into kv_heads {self.kv_heads}")


LLAMAS = {c.name: c for c in [  # the models' published config.json values
    LlamaConfig("llama3_8b", 32, 4096, 32, 8, 14336, 128256),     # Meta-Llama-3-8B
    LlamaConfig("llama3_2_1b", 16, 2048, 32, 8, 8192, 128256),    # Llama-3.2-1B
]}


def llama_trace(config: LlamaConfig | str, *, mode: str = "prefill", batch: int = 1, seq: int | None = None) -> Trace:
    """One forward pass of a Llama-style decoder: ``prefill`` runs a ``seq``-token prompt (causal
    attention computed densely, as an array without block skipping does), ``decode`` one new token
    per sequence attending to ``seq`` cached keys and values. In decode, QKᵀ and AV read the KV
    cache (the trace marks that operand, so it can have its own format); the query heads of a
    group share their KV head's operand (one product per KV head, the group's queries as rows).
    Logits are computed for the last token of each sequence only."""
    if isinstance(config, str):
        if config not in LLAMAS:
            raise ValueError(f"unknown Llama-style model {config!r}; known: {', '.join(LLAMAS)}")
        config = LLAMAS[config]
    if mode not in ("prefill", "decode"):
        raise ValueError(f"mode must be prefill or decode, not {mode!r}")
    seq = seq or config.seq
    if not isinstance(seq, int) or seq <= 0 or not isinstance(batch, int) or batch <= 0:
        raise ValueError(f"seq and batch must be positive integers, not {seq!r} and {batch!r}")
    decode = mode == "decode"
    queries = 1 if decode else seq
    tokens = batch * queries
    h, d = config.hidden, config.hidden // config.heads
    group, kv = config.heads // config.kv_heads, config.kv_heads * (config.hidden // config.heads)
    rows = [vector_row("embed", "embedding", tokens * h, op="Gather")]
    for layer in range(config.layers):
        p = f"l{layer}."
        rows.append(vector_row(p + "attn_norm", "norm", tokens * h, op="RMSNorm"))
        rows.append(gemm_row(p + "q", m=tokens, n=h, k=h, op="MatMul"))
        rows.append(gemm_row(p + "k", m=tokens, n=kv, k=h, op="MatMul"))
        rows.append(gemm_row(p + "v", m=tokens, n=kv, k=h, op="MatMul"))
        rows.append(vector_row(p + "rope", "elementwise", tokens * (h + kv), op="RotaryEmbedding"))
        rows.append(gemm_row(p + "qk", m=queries * group, n=seq, k=d, count=batch * config.kv_heads, weight=False,
                             op="MatMul", kv_cache=decode))
        rows.append(vector_row(p + "softmax", "softmax", batch * config.heads * queries * seq, op="Softmax"))
        rows.append(gemm_row(p + "av", m=queries * group, n=d, k=seq, count=batch * config.kv_heads, weight=False,
                             op="MatMul", kv_cache=decode))
        rows.append(gemm_row(p + "o", m=tokens, n=h, k=h, op="MatMul"))
        rows.append(vector_row(p + "residual1", "elementwise", tokens * h, op="Add"))
        rows.append(vector_row(p + "ffn_norm", "norm", tokens * h, op="RMSNorm"))
        rows.append(gemm_row(p + "gate", m=tokens, n=config.ffn, k=h, op="MatMul"))
        rows.append(gemm_row(p + "up", m=tokens, n=config.ffn, k=h, op="MatMul"))
        rows.append(vector_row(p + "silu", "activation", tokens * config.ffn, op="Sigmoid"))
        rows.append(vector_row(p + "gate_mul", "elementwise", tokens * config.ffn, op="Mul"))
        rows.append(gemm_row(p + "down", m=tokens, n=h, k=config.ffn, op="MatMul"))
        rows.append(vector_row(p + "residual2", "elementwise", tokens * h, op="Add"))
    rows.append(vector_row("final_norm", "norm", tokens * h, op="RMSNorm"))
    rows.append(gemm_row("lm_head", m=batch, n=config.vocab, k=h, op="MatMul"))
    return Trace.from_rows(rows, network=f"{config.name}_{mode}", source=f"builder:{config.name}",
                           input_shape=(batch, queries), batch=batch,
                           notes=(f"{mode}: batch {batch}, {'KV cache of ' if decode else 'prompt of '}{seq} tokens",))


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


# ----- EfficientNet-Lite0 ------------------------------------------------------------------------
# MBConv stages: (expansion, kernel, stride of the first block, output channels, blocks).
EFFICIENTNET_LITE0 = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
                      (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """TensorFlow's "SAME" padding: (output size, pad before, pad after) — the extra pixel of an
    odd total goes after, as in the TF-trained weights."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


@dataclass(frozen=True)
class ConvStep:
    """One convolution of a plan, BatchNorm folded into it. ``relu6``: followed by ReLU6;
    ``skip_from``: the index of the step whose *input* is added to this step's output (the
    MBConv residual), or -1."""

    name: str
    c_in: int
    c_out: int
    kernel: int
    stride: int
    groups: int
    size_in: int
    size_out: int
    padding: tuple  # (top, left, bottom, right)
    relu6: bool
    skip_from: int = -1


def efficientnet_lite0_plan(resolution: int = 224) -> tuple[ConvStep, ...]:
    """Every convolution of EfficientNet-Lite0 in execution order (the classifier, a 1280 →
    1000 linear layer after global average pooling, follows)."""
    steps, size = [], resolution

    def conv(name, c_in, c_out, kernel, stride, groups=1, relu6=True, skip_from=-1):
        nonlocal size
        out, before, after = same_padding(size, kernel, stride)
        steps.append(ConvStep(name, c_in, c_out, kernel, stride, groups, size, out, (before, before, after, after),
                              relu6, skip_from))
        size = out

    conv("stem", 3, 32, 3, 2)
    channels, block = 32, 0
    for expansion, kernel, stride, c_out, repeats in EFFICIENTNET_LITE0:
        for i in range(repeats):
            s = stride if i == 0 else 1
            hidden = channels * expansion
            first = len(steps)
            if expansion != 1:
                conv(f"block{block}.expand", channels, hidden, 1, 1)
            conv(f"block{block}.depthwise", hidden, hidden, kernel, s, groups=hidden)
            conv(f"block{block}.project", hidden, c_out, 1, 1, relu6=False,
                 skip_from=first if s == 1 and channels == c_out else -1)
            channels, block = c_out, block + 1
    conv("head", channels, 1280, 1, 1)
    return tuple(steps)


def efficientnet_lite0_trace(*, batch: int = 1, resolution: int = 224) -> Trace:
    """EfficientNet-Lite0's layers (BatchNorm folded), from :func:`efficientnet_lite0_plan`."""
    rows = []
    for step in efficientnet_lite0_plan(resolution):
        rows.append(conv_row(step.name, batch=batch, C=step.c_in, K=step.c_out, H=step.size_in, W=step.size_in,
                             R=step.kernel, S=step.kernel, stride=(step.stride, step.stride), padding=step.padding,
                             groups=step.groups))
        elements = batch * step.c_out * step.size_out ** 2
        if step.skip_from >= 0:
            rows.append(vector_row(step.name + "_residual", "elementwise", elements, op="Add"))
        if step.relu6:
            rows.append(vector_row(step.name + "_relu6", "activation", elements, op="Clip"))
    size = rows[-2]["P"]
    rows.append(vector_row("avgpool", "pool", batch * 1280, op="GlobalAveragePool", inputs=batch * 1280 * size * size))
    rows.append(gemm_row("classifier", m=batch, n=1000, k=1280))
    return Trace.from_rows(rows, network="efficientnet_lite0",
                           source="builder:efficientnet_lite0 (Tan & Le 2019, Lite variant)",
                           input_shape=(batch, 3, resolution, resolution), batch=batch)
