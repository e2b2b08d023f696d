/* Eight streams in lockstep: the glitch-aware simulation of rtl/flow/timedsim.py with each
 * 64-bit word of AVX-512 holding one stream.
 *
 * Semantics are the kernel's in timedsim.py, stream for stream: inertial rise and fall delays,
 * a pending transition taking effect first where it falls due by the time an input changes,
 * every cycle run until all transitions have taken effect, flip-flops taking the settled values,
 * clock gates letting the edge through where their enable settled at 1. Only the gate loop runs
 * eight streams at a time; the inputs, flip-flop outputs, counts and edges run stream by stream.
 *
 * Layout, all arrays of uint64 with the stream innermost (W = 8 words per row):
 *   info[net][W]  value (bit 0), transitions this cycle (bits 1-31), where their times start
 *                 (bits 32-; 0 for none) — as in timedsim.py, per stream;
 *   ev[pos][W]    each stream's pool of transition times (fs), a net's times followed by BIG;
 *                 ev[0] and ev[1] are BIG: where a quiet net's times start;
 *   touched[q][W] the nets that moved this cycle.
 * Each gate's record is the numba kernel's (_RECORD words). A gate moves the streams it can
 * together: where every stream's inputs made at most two transitions, without a loop; else the
 * inputs' times are merged until every stream has passed its last, a stream that has finished
 * waiting with its state held.
 */
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t u64;
typedef int64_t i64;

#define W 8
#define MAXIN 6
#define REC (MAXIN + 5)
#define BIG (1ULL << 62)

typedef __m512i V;

#define SET1(x) _mm512_set1_epi64((long long)(x))

static inline V gather(const u64 *ev, V pos, V lane) {
    return _mm512_i64gather_epi64(_mm512_add_epi64(_mm512_slli_epi64(pos, 3), lane), (const void *)ev, 8);
}

static inline V gather_mask(V src, __mmask8 k, const u64 *ev, V pos, V lane) {
    return _mm512_mask_i64gather_epi64(src, k, _mm512_add_epi64(_mm512_slli_epi64(pos, 3), lane),
                                       (const void *)ev, 8);
}

static inline void scatter(u64 *ev, V pos, V lane, V value) {
    _mm512_i64scatter_epi64((void *)ev, _mm512_add_epi64(_mm512_slli_epi64(pos, 3), lane), value, 8);
}

/* One time step of a gate (timedsim._step), in the streams of `act`: the pending transition
 * takes effect first if it falls due by t; then the new value schedules one, or cancels it. */
static inline __attribute__((always_inline)) void step(u64 *ev, V lane, __mmask8 act, V *top, V t, V idx,
                                                       V table, V d_rise, V d_fall, V *r, V *current, V *due) {
    const V one = SET1(1), big = SET1(BIG);
    __mmask8 fire = _mm512_mask_cmple_epu64_mask(act, *due, t);
    scatter(ev, *top, lane, *due);
    *top = _mm512_mask_add_epi64(*top, fire, *top, one);
    *current = _mm512_mask_xor_epi64(*current, fire, *current, one);
    V due1 = _mm512_mask_mov_epi64(*due, fire, big);
    V v = _mm512_and_si512(_mm512_srlv_epi64(table, idx), one);
    __mmask8 vset = _mm512_test_epi64_mask(v, v);
    V delay = _mm512_mask_blend_epi64(vset, d_fall, d_rise);
    __mmask8 changes = _mm512_cmpneq_epi64_mask(v, *r);
    V due2 = _mm512_mask_mov_epi64(due1, changes, _mm512_add_epi64(t, delay));
    due2 = _mm512_mask_mov_epi64(due2, _mm512_cmpeq_epi64_mask(v, *current), big);
    *due = _mm512_mask_mov_epi64(*due, act, due2);
    *r = _mm512_mask_mov_epi64(*r, act, v);
}

/* One gate reading up to L nets (2, 4 or 6) in all W streams. Returns -1 where a stream's pool
 * would overflow, else 0; its evaluations are added to *evals per stream. */
static inline __attribute__((always_inline)) int gate(const u64 *rec, u64 *info, u64 *ev, u64 *touched, V lane,
                                                      V *top, V *n_touched, V *evals, u64 capacity, int settled,
                                                      const int L) {
    const V one = SET1(1), zero = _mm512_setzero_si512(), big = SET1(BIG);
    const V low31 = SET1(0x7FFFFFFF);
    V p[MAXIN], idx = zero, m = zero;
    for (int j = 0; j < L; j++) {
        V x = _mm512_load_si512((const void *)(info + rec[j] * W));
        V n = _mm512_and_si512(_mm512_srli_epi64(x, 1), low31);
        idx = _mm512_or_si512(idx, _mm512_slli_epi64(_mm512_and_si512(_mm512_xor_si512(x, n), one), j));
        m = _mm512_add_epi64(m, n);
        p[j] = _mm512_srli_epi64(x, 32);
    }
    u64 out = rec[MAXIN];
    if (settled && _mm512_test_epi64_mask(m, m) == 0)
        return 0;  /* nothing reaches it in any stream and its output already has its value */
    if (_mm512_cmpgt_epu64_mask(_mm512_add_epi64(_mm512_add_epi64(*top, m), SET1(2)), SET1(capacity)))
        return -1;
    V table = SET1(rec[MAXIN + 1]), d_rise = SET1(rec[MAXIN + 2]), d_fall = SET1(rec[MAXIN + 3]);
    V r = _mm512_and_si512(_mm512_srlv_epi64(table, idx), one);
    V current = _mm512_and_si512(_mm512_load_si512((const void *)(info + out * W)), one);
    V first = *top;
    V due = _mm512_mask_blend_epi64(_mm512_test_epi64_mask(r, r), d_fall, d_rise);
    due = _mm512_mask_mov_epi64(due, _mm512_cmpeq_epi64_mask(r, current), big);
    if (_mm512_cmpgt_epu64_mask(m, SET1(2)) == 0) {
        /* at most two input transitions in every stream: on one input (its first two times) or
         * on two (one each), taken in order without a loop */
        V mask = zero, psum = zero, pa = zero;
        for (int j = 0; j < L; j++) {
            __mmask8 moves = _mm512_test_epi64_mask(p[j], p[j]);
            mask = _mm512_mask_or_epi64(mask, moves, mask, SET1(1ULL << j));
            psum = _mm512_add_epi64(psum, p[j]);
            pa = _mm512_mask_mov_epi64(pa, moves, p[j]);  /* the highest moving input's */
        }
        V rest = _mm512_and_si512(mask, _mm512_sub_epi64(mask, one));
        __mmask8 single = _mm512_testn_epi64_mask(rest, rest);
        V bx = _mm512_mask_blend_epi64(single, rest, mask);
        V by = _mm512_mask_blend_epi64(single, _mm512_xor_si512(mask, rest), mask);
        V xi = _mm512_mask_blend_epi64(single, pa, psum);
        V yi = _mm512_mask_blend_epi64(single, _mm512_sub_epi64(psum, pa), _mm512_add_epi64(psum, one));
        V x = gather(ev, xi, lane), y = gather(ev, yi, lane);
        __mmask8 same = _mm512_cmpeq_epi64_mask(x, y);
        __mmask8 less = _mm512_cmplt_epu64_mask(x, y);
        V t1 = _mm512_min_epu64(x, y), t2 = _mm512_max_epu64(x, y);
        V b1 = _mm512_mask_blend_epi64(less, by, bx);
        b1 = _mm512_mask_mov_epi64(b1, same, _mm512_or_si512(bx, by));
        V b2 = _mm512_mask_blend_epi64(less, bx, by);
        t2 = _mm512_mask_mov_epi64(t2, same, big);
        __mmask8 e1 = _mm512_cmpneq_epi64_mask(t1, big), e2 = _mm512_cmpneq_epi64_mask(t2, big);
        *evals = _mm512_mask_add_epi64(*evals, e1, *evals, one);
        *evals = _mm512_mask_add_epi64(*evals, e2, *evals, one);
        /* a step at BIG - 1 changes no input: what falls due takes effect, as at the end */
        t1 = _mm512_min_epu64(t1, SET1(BIG - 1));
        t2 = _mm512_min_epu64(t2, SET1(BIG - 1));
        b1 = _mm512_maskz_mov_epi64(e1, b1);
        b2 = _mm512_maskz_mov_epi64(e2, b2);
        idx = _mm512_xor_si512(idx, b1);
        step(ev, lane, 0xFF, top, t1, idx, table, d_rise, d_fall, &r, &current, &due);
        idx = _mm512_xor_si512(idx, b2);
        step(ev, lane, 0xFF, top, t2, idx, table, d_rise, d_fall, &r, &current, &due);
    } else {
        /* every input's times merged: one merged time per pass, each stream until its last */
        V c[MAXIN];
        for (int j = 0; j < L; j++)
            c[j] = gather(ev, p[j], lane);
        for (;;) {
            V t = c[0];
            for (int j = 1; j < L; j++)
                t = _mm512_min_epu64(t, c[j]);
            __mmask8 act = _mm512_cmpneq_epi64_mask(t, big);
            if (!act)
                break;
            for (int j = 0; j < L; j++) {
                __mmask8 e = _mm512_mask_cmpeq_epi64_mask(act, c[j], t);
                if (e) {
                    p[j] = _mm512_mask_add_epi64(p[j], e, p[j], one);
                    c[j] = gather_mask(c[j], e, ev, p[j], lane);
                    idx = _mm512_mask_xor_epi64(idx, e, idx, SET1(1ULL << j));
                }
            }
            *evals = _mm512_mask_add_epi64(*evals, act, *evals, one);
            step(ev, lane, act, top, t, idx, table, d_rise, d_fall, &r, &current, &due);
        }
    }
    __mmask8 fire = _mm512_cmpneq_epi64_mask(due, big);
    scatter(ev, *top, lane, due);
    *top = _mm512_mask_add_epi64(*top, fire, *top, one);
    current = _mm512_mask_xor_epi64(current, fire, current, one);
    /* the output's word: value, transitions, where they start (0 where it did not move) */
    __mmask8 moved = _mm512_cmpneq_epi64_mask(*top, first);
    V n = _mm512_sub_epi64(*top, first);
    V word = _mm512_or_si512(_mm512_slli_epi64(_mm512_maskz_mov_epi64(moved, first), 32),
                             _mm512_or_si512(_mm512_slli_epi64(n, 1), current));
    _mm512_store_si512((void *)(info + out * W), word);
    scatter(ev, *top, lane, big);  /* the sentinel after its times */
    *top = _mm512_mask_add_epi64(*top, moved, *top, one);
    scatter(touched, *n_touched, lane, SET1(out));
    *n_touched = _mm512_mask_add_epi64(*n_touched, moved, *n_touched, one);
    return 0;
}

static int gate_loop(const u64 *rec, i64 n_gates, u64 *info, u64 *ev, u64 *touched, V lane, V *top, V *n_touched,
                     V *evals, u64 capacity, int settled) {
    for (i64 k = 0; k < n_gates; k++) {
        const u64 *g = rec + k * REC;
        int status;
        switch (g[MAXIN + 4]) {
        case 2: status = gate(g, info, ev, touched, lane, top, n_touched, evals, capacity, settled, 2); break;
        case 4: status = gate(g, info, ev, touched, lane, top, n_touched, evals, capacity, settled, 4); break;
        default: status = gate(g, info, ev, touched, lane, top, n_touched, evals, capacity, settled, 6); break;
        }
        if (status < 0)
            return -1;
    }
    return 0;
}

/* A net of stream l driven to v at time t from outside the gates (an input, a flip-flop
 * output): where that changes it, one transition at t, its list ended by BIG, and the net
 * counted as touched. */
static inline void drive(u64 *info, u64 *ev, u64 *touched, int l, i64 net, u64 v, u64 t, u64 *top, u64 *nt) {
    u64 *x = info + net * W + l;
    if (v == (*x & 1))
        return;
    ev[*top * W + l] = t;
    ev[(*top + 1) * W + l] = BIG;
    *x = (*top << 32) | 2 | v;
    *top += 2;
    touched[*nt * W + l] = (u64)net;
    *nt += 1;
}

/* The numba kernel's _run, W streams at a time. Arrays as it takes them; returns the
 * evaluations counted, or -1 where a cycle's transitions outgrew `capacity` per stream. */
i64 timed_run(const uint8_t *stimulus, i64 streams, i64 cycles, i64 n_inputs, const i64 *input_nets, i64 nets,
              const u64 *rec, i64 n_gates, const i64 *delay_rise, const i64 *delay_fall, const i64 *ff_out, i64 n_ff,
              const i64 *ff_in, const i64 *ff_const, const u64 *ff_table, const i64 *ff_arity, const i64 *ff_gate,
              const i64 *cg_in, const i64 *cg_const, i64 n_cg, i64 capacity, u64 *toggles, u64 *settled_toggles,
              i64 *gated, i64 skip) {
    u64 *ev = aligned_alloc(64, (size_t)capacity * W * sizeof(u64));
    u64 *info = aligned_alloc(64, (size_t)(nets + 1) * W * sizeof(u64));
    u64 *touched = aligned_alloc(64, (size_t)(nets + 1) * W * sizeof(u64));
    u64 *state = malloc((size_t)(n_ff > 0 ? n_ff : 1) * W * sizeof(u64));
    i64 *open_ = malloc((size_t)(n_cg > 0 ? n_cg : 1) * sizeof(i64));
    i64 total = 0;
    if (!ev || !info || !touched || !state || !open_) {
        total = -2;
        goto done;
    }
    const V lane = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
    for (int l = 0; l < W; l++)
        ev[0 * W + l] = ev[1 * W + l] = BIG;
    u64 tops[W] __attribute__((aligned(64)));
    u64 nts[W] __attribute__((aligned(64)));
    u64 evs[W] __attribute__((aligned(64)));
    for (i64 s0 = 0; s0 < streams; s0 += W) {
        int valid = streams - s0 < W ? (int)(streams - s0) : W;
        memset(info, 0, (size_t)(nets + 1) * W * sizeof(u64));
        memset(state, 0, (size_t)(n_ff > 0 ? n_ff : 1) * W * sizeof(u64));
        for (i64 c = 0; c < cycles; c++) {
            for (int l = 0; l < W; l++) {
                u64 top = 2, nt = 0;
                const uint8_t *stim = l < valid ? stimulus + ((s0 + l) * cycles + c) * n_inputs : NULL;
                for (i64 i = 0; i < n_inputs; i++) {  /* primary inputs change at t = 0 */
                    i64 net = input_nets[i];
                    drive(info, ev, touched, l, net, stim ? stim[i] : 0, 0, &top, &nt);
                }
                for (i64 i = 0; i < n_ff; i++) {  /* flip-flop outputs: the state, clock-to-Q after the edge */
                    for (int side = 0; side < 2; side++) {
                        i64 net = ff_out[i * 2 + side];
                        if (net < 0)
                            continue;
                        u64 v = state[i * W + l] ^ (u64)side;
                        drive(info, ev, touched, l, net, v, (u64)(v ? delay_rise[net] : delay_fall[net]), &top, &nt);
                    }
                }
                tops[l] = top;
                nts[l] = nt;
                evs[l] = 0;
            }
            V top = _mm512_load_si512((const void *)tops), n_touched = _mm512_load_si512((const void *)nts);
            V evals = _mm512_setzero_si512();
            if (gate_loop(rec, n_gates, info, ev, touched, lane, &top, &n_touched, &evals, (u64)capacity, c > 0) < 0) {
                total = -1;
                goto done;
            }
            _mm512_store_si512((void *)nts, n_touched);
            _mm512_store_si512((void *)evs, evals);
            u64 counted = c >= skip;
            for (int l = 0; l < W; l++) {
                u64 count = counted && l < valid;
                total += (i64)(evs[l] * count);
                for (u64 q = 0; q < nts[l]; q++) {  /* what each net did; then no transitions are left */
                    u64 net = touched[q * W + l];
                    u64 *x = info + net * W + l;
                    u64 n = (*x >> 1) & 0x7FFFFFFF;
                    toggles[net] += n * count;
                    settled_toggles[net] += n & count;
                    *x &= 1;
                }
                for (i64 g = 0; g < n_cg; g++) {  /* a clock gate's latch holds its enable's settled value */
                    i64 v = 0;
                    for (int j = 0; j < 2; j++) {
                        i64 src = cg_in[g * 2 + j];
                        v |= src >= 0 ? (i64)(info[src * W + l] & 1) : cg_const[g * 2 + j];
                    }
                    open_[g] = v;
                    gated[g] += (i64)count * v;
                }
                for (i64 i = 0; i < n_ff; i++) {  /* the edge: next state from the settled values */
                    if (ff_gate[i] >= 0 && open_[ff_gate[i]] == 0)
                        continue;
                    u64 idx = 0;
                    for (i64 j = 0; j < ff_arity[i]; j++) {
                        i64 src = ff_in[i * MAXIN + j];
                        idx |= (src >= 0 ? info[src * W + l] & 1 : (u64)ff_const[i * MAXIN + j]) << j;
                    }
                    idx |= state[i * W + l] << ff_arity[i];
                    state[i * W + l] = (ff_table[i] >> idx) & 1;
                }
            }
        }
    }
done:
    free(ev);
    free(info);
    free(touched);
    free(state);
    free(open_);
    return total;
}

/* Whether this CPU (and its operating system) runs AVX-512F: the caller runs the numba kernel
 * where it does not. */
int lanes_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
}
