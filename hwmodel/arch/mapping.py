"""The mapper: per layer, the tile sizes and loop order that fit the buffers and cost least.

A MAC layer is a GEMM (M output rows, N output columns, K reduction, repeated ``count`` times)
on a ``rows × cols`` array whose dataflow fixes the spatial dimensions (ws: K on rows, N on
columns, M streams; os: M × N, K streams; is: K × M, N streams). Between DRAM and the buffers
it is cut into tiles (Tm, Tn, Tk), visited in a loop order. An operand's tile stays in its
buffer while the loops it does not depend on change *inside* every loop it does depend on, and
is fetched again whenever such a loop runs *outside* one of its own that has more than one
trip. Of the six loop orders three patterns remain (outer → inner):

* ``m>n>k`` (K innermost): outputs stay until finished; inputs are fetched once per N tile
  (if K is cut), weights once per M tile (if N or K is cut);
* ``m>k>n`` (N innermost): inputs are fetched once; weights once per M tile; partial sums
  leave for DRAM between K tiles and come back, unless N is not cut;
* ``n>k>m`` (M innermost): weights once; inputs once per N tile; partial sums as above unless
  M is not cut.

Inside a tile the array streams as SCALE-Sim's fixed mapping does (its fold counts, and its
stall-free cycles per tile, summed over the full tiles and the short last ones). Partial sums
are kept at accumulator width in the buffer that holds the outputs; a mapping that sends them to
DRAM is taken only when no other fits (or, with ``psum_to_dram``, whenever it costs less), and
says so.

A buffer may also hold more than its operand's tile: what the outer loops would otherwise fetch
again (weights: the whole K × N; inputs: the rows of K of the M tile, or all of them; partial
sums: a whole row or column of output tiles), when that fits. Each pattern is searched with
every such choice.

The search is exhaustive over a fixed candidate set and deterministic: per dimension, the tiles
that cut it into 1, 2, 4 … 128 pieces, rounded up to whole array folds where the dimension is
spatial, and the single fold (the smallest legal tile) — for each, the three patterns. A
candidate fits when every buffer holds the tiles of the operands it keeps (twice, when double
buffered). Its cost: buffer accesses (array reads and writes, fills from and drains to DRAM) at
each buffer's energy per word, DRAM traffic at its energy per bit, and the cycles — compute,
DRAM transfers and buffer ports overlap; the slowest sets the pace — at the idle and leakage
power of the array and buffers. The objective is energy, latency or their product.

An input tile is its share of the layer's input tensor (``input_elems`` · Tm/M · Tk/K, so a
convolution's window overlap is credited and its halo ignored).
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["PATTERNS", "ORDERS", "OBJECTIVES", "PIECES", "RESULT", "search"]

PATTERNS = ("k", "n", "m")
ORDERS = ("m>n>k", "m>k>n", "n>k>m")  # per pattern, outer → inner
OBJECTIVES = ("energy", "latency", "edp")
DATAFLOW_CODES = {"ws": 0, "os": 1, "is": 2}
PIECES = np.array([1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128])  # pieces per dimension (and the single fold)

# result columns of the kernel, in order
RESULT = ("pattern", "tile_m", "tile_n", "tile_k", "compute_cycles", "cycles", "dram_inputs_bytes",
          "dram_weights_bytes", "dram_outputs_bytes", "psum_spill", "inputs_reads", "weights_reads",
          "psum_writes", "psum_reads", "energy_sram_pj", "energy_dram_pj", "energy_time_pj", "fits",
          "inputs_sram_bits", "weights_sram_bits", "outputs_sram_bits", "kept")


@numba.njit(cache=True)
def _cycles_one(df, rows, cols, m, n, k):
    """SCALE-Sim's stall-free cycles of one (m × k)·(k × n) tile, before its final − 1."""
    if df == 1:  # os
        sr, sc, per = m, n, k + rows + cols - 2
    elif df == 0:  # ws
        sr, sc, per = k, n, m + 2 * rows + cols - 2
    else:
        sr, sc, per = k, m, n + 2 * rows + cols - 2
    return ((sr + rows - 1) // rows) * ((sc + cols - 1) // cols) * per


@numba.njit(cache=True)
def _tiled_cycles(df, rows, cols, m, n, k, tm, tn, tk):
    total = 0
    for a in range(2):
        sm = tm if a == 0 else m % tm
        cm = m // tm if a == 0 else (1 if m % tm else 0)
        if cm == 0:
            continue
        for b in range(2):
            sn = tn if b == 0 else n % tn
            cn = n // tn if b == 0 else (1 if n % tn else 0)
            if cn == 0:
                continue
            for c in range(2):
                sk = tk if c == 0 else k % tk
                ck = k // tk if c == 0 else (1 if k % tk else 0)
                if ck == 0:
                    continue
                total += cm * cn * ck * _cycles_one(df, rows, cols, sm, sn, sk)
    return total - 1  # SCALE-Sim's count ends one cycle early, once per product


@numba.njit(cache=True)
def _folds(extent, tile, unit):
    return (extent // tile) * ((tile + unit - 1) // unit) + ((extent % tile) + unit - 1) // unit


@numba.njit(cache=True)
def _candidates(extent, unit, pieces):
    out = np.empty(len(pieces) + 1, np.int64)
    count = 0
    for j in range(len(pieces) + 1):
        if j < len(pieces):
            tile = (extent + pieces[j] - 1) // pieces[j]
            tile = min(((tile + unit - 1) // unit) * unit, extent)
        else:
            tile = min(unit, extent)
        tile = max(tile, 1)
        seen = False
        for i in range(count):
            if out[i] == tile:
                seen = True
        if not seen:
            out[count] = tile
            count += 1
    return np.sort(out[:count])[::-1]  # largest first: good mappings early make the bound cut more


@numba.njit(cache=True)
def _fits(capacity, holds, foot_i, foot_w, foot_o):
    for b in range(capacity.shape[0]):
        if holds[b, 0] * foot_i + holds[b, 1] * foot_w + holds[b, 2] * foot_o > capacity[b]:
            return False
    return True


@numba.njit(cache=True)
def _search_kernel(df, rows, cols, m_all, n_all, k_all, g_all, in_all, w_all, out_all, wbits_all,
                   ib, pb, ob, capacity, holds, op_buffer, read_pj, write_pj, word, port_words,
                   dram_pj_bit, dram_bw, shared_channel, time_pj, objective, factor, pieces, spill_ok, fixed_all,
                   read_all):
    layers = len(m_all)
    result = np.zeros((layers, 22), np.float64)
    unit_m = 1 if df == 0 else (rows if df == 1 else cols)
    unit_n = cols if df == 0 else (cols if df == 1 else 1)
    unit_k = rows if df == 0 else (1 if df == 1 else rows)
    buffers = capacity.shape[0]
    for layer in range(layers):
        m, n, k, g = m_all[layer], n_all[layer], k_all[layer], g_all[layer]
        wb = wbits_all[layer]
        inputs, weights, outputs = in_all[layer], w_all[layer], out_all[layer]
        cand_m = _candidates(m, unit_m, pieces)
        cand_n = _candidates(n, unit_n, pieces)
        cand_k = _candidates(k, unit_k, pieces)
        best = np.inf
        best_spill = np.inf
        chosen = np.zeros(22)
        chosen_spill = np.zeros(22)
        fallback = np.inf
        chosen_fallback = np.zeros(22)
        row = np.zeros(22)
        base_i, base_w = inputs * ib / 8.0, weights * wb / 8.0
        final_o, psum_o = outputs * ob / 8.0, outputs * pb / 8.0
        share = inputs / g / (m * k)  # input elements per (m, k) point: < 1 for a conv window
        # does any tile fit as it is? then tiles that do not are never needed
        # (footprints grow with every tile size: the smallest tile fits if any does)
        some_fit = _fits(capacity, holds, factor * share * cand_m[-1] * cand_k[-1] * ib,
                         factor * cand_k[-1] * cand_n[-1] * wb, factor * cand_m[-1] * cand_n[-1] * pb)
        floor_dram = (base_i + base_w + final_o) * 8.0 * dram_pj_bit  # every operand moved once
        untiled = g * (_cycles_one(df, rows, cols, m, n, k) - 1)
        fixed = fixed_all[layer]  # what every mapping of the layer spends: its MACs
        reads = read_all[layer]  # activations read per (m, k) point: M/N for an N:M layer's condensed K
        for tm in cand_m:
            nm = (m + tm - 1) // tm
            for tn in cand_n:
                nn = (n + tn - 1) // tn
                for tk in cand_k:
                    nk = (k + tk - 1) // tk
                    if some_fit and not _fits(capacity, holds, factor * share * tm * tk * ib,
                                              factor * tk * tn * wb, factor * tm * tn * pb):
                        continue
                    if df == 0:
                        i_reads = reads * g * m * k * _folds(n, tn, cols)
                        w_reads = g * k * n * nm
                        p_writes = g * m * n * _folds(k, tk, rows)
                    elif df == 1:
                        i_reads = reads * g * m * k * _folds(n, tn, cols)
                        w_reads = g * k * n * _folds(m, tm, rows)
                        p_writes = g * m * n * nk
                    else:
                        i_reads = reads * g * m * k * nn
                        w_reads = g * k * n * _folds(m, tm, cols)
                        p_writes = g * m * n * _folds(k, tk, rows)
                    p_reads = p_writes - g * m * n
                    # a bound no pattern of this tile beats: the array's own buffer reads and writes,
                    # every operand moved once, the compute time
                    # partial sums are written and read back at accumulator width; each output's last
                    # write is the finished value, requantized at the array's edge (output width)
                    finished = g * m * n
                    partial_writes = p_writes - finished
                    array_pj = ((i_reads * ib / word[0]) * read_pj[0] + (w_reads * wb / word[1]) * read_pj[1]
                                + (partial_writes * pb / word[2]) * write_pj[2] + (finished * ob / word[2]) * write_pj[2]
                                + (p_reads * pb / word[2]) * read_pj[2])
                    if objective != 1 and best < np.inf:  # cut the tiles into pieces: never faster
                        floor = fixed + array_pj + floor_dram + untiled * time_pj
                        if (floor if objective == 0 else floor * untiled) >= best:
                            continue
                    compute = g * _tiled_cycles(df, rows, cols, m, n, k, tm, tn, tk)
                    if objective != 1 and best < np.inf:
                        floor = fixed + array_pj + floor_dram + compute * time_pj
                        if (floor if objective == 0 else floor * compute) >= best:
                            continue
                    for option in range(24):
                        pattern, keep = option // 8, option % 8
                        if pattern > 0 and nm * nn * nk == 1:
                            break  # one tile: every order is the same
                        keep_i, keep_w, keep_o = keep & 1, keep & 2, keep & 4
                        # which operands an outer loop would fetch again; `keep` holds them instead
                        if pattern == 0:
                            again_i, again_w, again_o = nk > 1 and nn > 1, nm > 1 and (nn > 1 or nk > 1), False
                        elif pattern == 1:
                            again_i, again_w, again_o = False, nm > 1 and (nn > 1 or nk > 1), nk > 1 and nn > 1
                        else:
                            again_i, again_w, again_o = nn > 1 and (nk > 1 or nm > 1), False, nk > 1 and nm > 1
                        if (keep_i and not again_i) or (keep_w and not again_w) or (keep_o and not again_o):
                            continue  # holding what is never fetched again changes nothing
                        # footprints (bits): the tile, or what the outer loops would revisit
                        span_m = m if (keep_i and pattern == 2) else tm
                        span_k = k if keep_i else tk
                        foot_i = factor * share * span_m * span_k * ib
                        foot_w = factor * (k * n if keep_w else tk * tn) * wb
                        foot_o = factor * (tm * n if (keep_o and pattern == 1) else (m * tn if keep_o else tm * tn)) * pb
                        fits = True
                        excess = 0.0
                        for b in range(buffers):
                            used = holds[b, 0] * foot_i + holds[b, 1] * foot_w + holds[b, 2] * foot_o
                            if used > capacity[b]:
                                fits = False
                                excess += used / capacity[b]
                        if some_fit and not fits:
                            continue  # something fits: what does not is never chosen
                        if some_fit and not spill_ok and again_o and not keep_o:
                            continue  # a mapping without spills fits (pattern k, nothing held)
                        d_i = base_i * (nn if (again_i and not keep_i) else 1)
                        d_w = base_w * (nm if (again_w and not keep_w) else 1)
                        spill_trips = nk if (again_o and not keep_o) else 1
                        spill_out = psum_o * (spill_trips - 1)
                        d_o = final_o + 2.0 * spill_out
                        spill = spill_trips > 1
                        # buffer accesses in words: array traffic, fills, drains, spills
                        words_i = (i_reads * ib + d_i * 8.0) / word[0]
                        words_w = (w_reads * wb + d_w * 8.0) / word[1]
                        words_o = ((partial_writes + p_reads) * pb + 2.0 * finished * ob + 2.0 * spill_out * 8.0) / word[2]
                        e_sram = (array_pj + (d_i * 8.0 / word[0]) * write_pj[0] + (d_w * 8.0 / word[1]) * write_pj[1]
                                  + (finished * ob / word[2]) * read_pj[2]
                                  + (spill_out * 8.0 / word[2]) * (read_pj[2] + write_pj[2]))
                        d_all = d_i + d_w + d_o
                        e_dram = d_all * 8.0 * dram_pj_bit
                        cycles = float(compute)
                        if dram_bw > 0:
                            if shared_channel:
                                transfer = math.ceil(d_all / dram_bw)
                            else:
                                transfer = math.ceil(max(d_i, max(d_w, d_o)) / dram_bw)
                            cycles = max(cycles, transfer)
                        for b in range(buffers):
                            if port_words[b] > 0:
                                words = ((words_i if op_buffer[0] == b else 0.0) + (words_w if op_buffer[1] == b else 0.0)
                                         + (words_o if op_buffer[2] == b else 0.0))
                                cycles = max(cycles, math.ceil(words / port_words[b]))
                        e_time = cycles * time_pj
                        energy = fixed + e_sram + e_dram + e_time
                        if objective == 0:
                            score = energy
                        elif objective == 1:
                            score = cycles * (1.0 + 1e-12) + energy * 1e-15
                        else:
                            score = energy * cycles
                        row[0] = pattern
                        row[1], row[2], row[3] = tm, tn, tk
                        row[4], row[5] = compute, cycles
                        row[6], row[7], row[8] = d_i, d_w, d_o
                        row[9] = 1.0 if spill else 0.0
                        row[10], row[11], row[12], row[13] = i_reads, w_reads, p_writes, p_reads
                        row[14], row[15], row[16] = e_sram, e_dram, e_time
                        row[17] = 1.0 if fits else 0.0
                        row[18], row[19], row[20] = words_i * word[0], words_w * word[1], words_o * word[2]
                        row[21] = keep
                        if fits and (spill_ok or not spill):
                            if score < best:
                                best = score
                                chosen[:] = row
                        elif fits:
                            if score < best_spill:
                                best_spill = score
                                chosen_spill[:] = row
                        elif best == np.inf and best_spill == np.inf:
                            # nothing fits (yet): remember the one that overflows least
                            over = excess * 1e30 + score
                            if over < fallback:
                                fallback = over
                                chosen_fallback[:] = row
        if best < np.inf:
            result[layer] = chosen
        elif best_spill < np.inf:
            result[layer] = chosen_spill
        else:
            result[layer] = chosen_fallback
    return result


def search(dataflow: str, rows: int, cols: int, layers: dict, costs: dict) -> dict:
    """The best mapping of every layer in ``layers`` (arrays over the MAC layers) and its cost.

    ``layers``: ``m, n, k, count`` and the element counts ``inputs, weights, outputs``, with the
    bits of each layer's k × n operand in ``weight_bits``, ``fixed_pj``, the energy every mapping
    of a layer spends (its MACs, less the idle energy their cycles are counted with), and
    optionally ``input_reads``, the activations the array reads per (m, k) point (default 1; an
    N:M layer, whose ``k`` counts kept weights, reads every activation of a group: M/N). ``costs``: ``input_bits, psum_bits,
    output_bits``; ``capacity_bits`` and ``holds`` (buffers × operands) of each buffer;
    ``op_buffer`` (the buffer each operand is read from); per operand ``read_pj, write_pj``
    (per word of its buffer) and ``word_bits``; per buffer ``port_words`` (words per cycle, 0:
    unlimited);
    ``dram_pj_per_bit``, ``dram_bytes_per_cycle`` (0: unlimited), ``shared_channel``;
    ``time_pj_per_cycle`` (idle and leakage while the layer runs); ``objective``;
    ``double_buffered``; ``psum_to_dram`` (partial sums may go to DRAM whenever that costs less,
    not only when nothing else fits).
    """
    if dataflow not in DATAFLOW_CODES:
        raise ValueError(f"dataflow must be one of {tuple(DATAFLOW_CODES)}, not {dataflow!r}")
    if costs["objective"] not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, not {costs['objective']!r}")
    as_int = lambda key: np.ascontiguousarray(layers[key], dtype=np.int64)  # noqa: E731
    as_float = lambda value: np.ascontiguousarray(value, dtype=np.float64)  # noqa: E731
    raw = _search_kernel(
        DATAFLOW_CODES[dataflow], int(rows), int(cols), as_int("m"), as_int("n"), as_int("k"), as_int("count"),
        as_float(layers["inputs"]), as_float(layers["weights"]), as_float(layers["outputs"]),
        as_float(layers["weight_bits"]), float(costs["input_bits"]), float(costs["psum_bits"]),
        float(costs["output_bits"]), as_float(costs["capacity_bits"]),
        np.ascontiguousarray(costs["holds"], dtype=np.float64), np.asarray(costs["op_buffer"], np.int64),
        as_float(costs["read_pj"]), as_float(costs["write_pj"]), as_float(costs["word_bits"]),
        as_float(costs["port_words"]), float(costs["dram_pj_per_bit"]), float(costs["dram_bytes_per_cycle"]),
        bool(costs["shared_channel"]), float(costs["time_pj_per_cycle"]), OBJECTIVES.index(costs["objective"]),
        2.0 if costs["double_buffered"] else 1.0, PIECES.astype(np.int64), bool(costs.get("psum_to_dram", False)),
        as_float(layers.get("fixed_pj", np.zeros(len(layers["m"])))),
        as_float(layers.get("input_reads", np.ones(len(layers["m"])))))
    out = {name: raw[:, i] for i, name in enumerate(RESULT)}
    for name in ("pattern", "tile_m", "tile_n", "tile_k", "compute_cycles", "cycles", "kept"):
        out[name] = out[name].astype(np.int64)
    for name in ("psum_spill", "fits"):
        out[name] = out[name].astype(bool)
    return out
