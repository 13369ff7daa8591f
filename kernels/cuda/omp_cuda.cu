/* OMP kernels (see omp_cuda.h).
 *
 * Layout. Rows are visited by position: position p holds row order[p], the rows grouped by problem
 * (a stable radix sort of the problem ids, so rows ascend within a problem), and problem g owns
 * positions [start[g], start[g + 1]); with one problem there is no permutation (position = row).
 * Weights and scores are kept by position, so they are read coalesced. Each warp of a launch owns
 * one contiguous chunk of positions and meets the problems whose positions overlap it; the
 * (warp, problem) pairs that meet form a staircase (a warp's problems end where the next warp's
 * begin), so slot warp + g of the partials belongs to one pair only: W + G slots, no atomics.
 *
 * One pass:
 *   score_rows:    score_p = w_p·⟨e_{order[p]}, r_g⟩ (or |·|), each dot accumulated in double by a
 *                  group of 8, 16 or 32 lanes reading the row in 16-byte packs, over the columns and
 *                  a fixed shuffle tree (so a row's score never depends on the rank holding it; a
 *                  warp's groups read rows side by side); problems with nothing wanted are skipped
 *                  unread; every warp leaves its best (score, position) pair per problem it meets;
 *   pick_best:     one block per problem reduces its warps' pairs to the winner, stores it with its
 *                  row, and sets the winner's score to −∞ so that rescan_scores finds the next one
 *                  when a problem wants several.
 * Candidates are ordered as everywhere else (gc_omp_pair_before): higher score, then the lower row,
 * which within a problem is the lower position. A pass reads each active row once: 4·D bytes, its
 * weight (8) and its permutation entry (8, G > 1 only); D values of the stored type (rows.cuh: 4
 * bytes, or 2 at half precision, widened exactly), so a half-width pass reads about half the bytes.
 *
 * Row setup, once: row_weights (w and max |e|, each row summed in column order as on the CPU, so
 * the weights agree bit for bit) and class_sums (the exact per-problem targets). */
#include <cub/cub.cuh>

#include <type_traits>

#include <math.h>
#include <mpi.h> /* before the extern "C" block: it brings C++ bindings of its own */
#include <string.h>

#include "buffer.cuh"
#include "core/exact_split.h"
#include "cuda_check.h"
#include "lanes.cuh"
#include "omp_cuda.h"
#include "rows.cuh"

namespace
{

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32; /* per block */
constexpr int kRowsPerWarp = 4;       /* positions per warp at least (plan_launch) */
constexpr long long kNoRow = 0x7fffffffffffffffLL;
constexpr unsigned kAll = 0xffffffffu;

struct pair {
    double score;
    long long index;
};

__device__ __forceinline__ bool before(pair a, pair b)
{
    return a.score > b.score || (a.score == b.score && a.index < b.index);
}

__device__ __forceinline__ pair better(pair a, pair b) { return before(b, a) ? b : a; }

/* Lane 0 gets the warp's best pair. */
__device__ __forceinline__ pair warp_best(pair p)
{
    for (int offset = 16; offset > 0; offset >>= 1) {
        pair q = { __shfl_down_sync(kAll, p.score, offset), __shfl_down_sync(kAll, p.index, offset) };
        p = better(p, q);
    }
    return p;
}

/* Block-wide best of each thread's pair; thread 0 gets the result. */
__device__ pair block_best(pair p)
{
    __shared__ pair warps[32];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    p = warp_best(p);
    if (lane == 0) warps[warp] = p;
    __syncthreads();
    if (warp == 0) {
        p = lane < (int)(blockDim.x / 32) ? warps[lane] : pair{ -INFINITY, kNoRow };
        p = warp_best(p);
    }
    return p;
}

__device__ __forceinline__ long long row_at(const long long *order, long long p) { return order ? order[p] : p; }

__device__ __forceinline__ long long global_warp() { return ((long long)blockIdx.x * blockDim.x + threadIdx.x) / 32; }

/* fn(g, first, stop) for every problem g whose positions meet warp `warp`'s chunk, [first, stop)
 * being the positions they share, in order. Warp-uniform. */
template <typename F>
__device__ void for_each_problem(const long long *start, int G, long long n, long long chunk, long long warp, F fn)
{
    long long p = warp * chunk;
    const long long end = p + chunk < n ? p + chunk : n;
    if (p >= end) return;
    int lo = 0, hi = G - 1; /* the problem holding p: the last g with start[g] ≤ p */
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (start[mid] <= p)
            lo = mid;
        else
            hi = mid - 1;
    }
    for (int g = lo; p < end; ++g) {
        const long long stop = start[g + 1] < end ? start[g + 1] : end;
        if (stop > p) fn(g, p, stop);
        p = stop > p ? stop : p;
    }
}

/* Rows a lane has in flight, 16 bytes each, and blocks an SM. The pass is bound by the bytes in
 * flight: 8 rows (128 bytes a lane, 4 KB a warp) take 117–128 registers, so two blocks an SM. On an
 * H200 that reads at 99–101% of the copy ceiling in fp32 and 86–88% in bf16, where 4 rows a lane
 * and 4 blocks (fp32) or 3 (bf16) reached 86% and 60–67% (bench/results/ab-h200x1/omp-wide/). */
constexpr int kRowsPerLane = 8, kBlocksPerSm = 2;

/* The dots of RL rows held by a group of L lanes (L a power of two, RL ≤ L; acc[i]: this lane's
 * partial sum of row i), summed over the group by a transposing butterfly: at offset L/2 a lane
 * keeps half of the rows and trades the other half with lane ^ L/2, at offset L/4 half of those,
 * and so on until one row is left, then a plain xor tree finishes it. That is RL − 1 + log2 L −
 * log2 RL shuffles instead of RL·log2 L, and every row is still summed as the xor tree sums it
 * (lane pairs at offset L/2, then L/4, … 1; a + b is commutative), so a row's dot is the same bits
 * in whatever slot it sits. member: the lane's place in its group; returns the dot of row
 * row_of_lane<RL, L>(member). Shuffles at offsets below L never leave the group. */
template <int RL, int L> __device__ __forceinline__ int row_of_lane(int member)
{
    int i = 0;
#pragma unroll
    for (int k = 0; (RL >> k) > 1; ++k)
        if (member & ((L / 2) >> k)) i += RL >> (k + 1);
    return i;
}

/* The first member holding row i's dot: its bits below the butterfly's are zero. */
template <int RL, int L> __device__ __forceinline__ int lane_of_row(int i)
{
    int member = 0;
#pragma unroll
    for (int k = 0; (RL >> k) > 1; ++k)
        if (i & (RL >> (k + 1))) member |= (L / 2) >> k;
    return member;
}

/* One level of the butterfly: rows [0, HALF) keep a sum of two lanes' partials, then the next level
 * (a recursion, not a loop: with a loop the compiler kept the accumulators in local memory). */
template <int HALF> __device__ __forceinline__ void transpose_level(double *acc, int member, int offset)
{
    if constexpr (HALF >= 1) {
        const bool upper = (member & offset) != 0;
#pragma unroll
        for (int i = 0; i < HALF; ++i) {
            const double send = upper ? acc[i] : acc[i + HALF], keep = upper ? acc[i + HALF] : acc[i];
            acc[i] = keep + __shfl_xor_sync(kAll, send, offset);
        }
        transpose_level<HALF / 2>(acc, member, offset >> 1);
    }
}

template <int RL, int L> __device__ __forceinline__ double transpose_sum(double (&acc)[RL], int member)
{
    static_assert(RL <= L, "a group holds at most one row a lane once transposed");
    transpose_level<RL / 2>(acc, member, L / 2);
    double sum = acc[0];
#pragma unroll
    for (int offset = L / (2 * RL); offset > 0; offset >>= 1) sum += __shfl_xor_sync(kAll, sum, offset);
    return sum;
}

/* Launch: blocks of kThreads, warp w owning positions [w·chunk, (w + 1)·chunk). T: the stored type
 * (rows.cuh), every value widened to float and multiplied in double. Layout: a row is read by a
 * group of L lanes, V values a lane at once (V = a 16-byte pack when D is a multiple of it, else
 * 1), L·V columns a step; the warp's 32 / L groups read as many rows side by side, each lane
 * kRowsPerLane rows of a batch. A row's dot is the same sum wherever it sits: each lane's V
 * products in column order, added to its partial, then transpose_sum over the group. scores may
 * be null (no problem wants more than one candidate). */
template <typename T, int V, int L>
__global__ void __launch_bounds__(kThreads, kBlocksPerSm)
    score_rows(const T *__restrict__ e, const long long *__restrict__ order, const long long *__restrict__ start, int G,
               long long n, int D, long long chunk, const double *__restrict__ r, const double *__restrict__ w,
               const int *__restrict__ want, int signed_scores, double *__restrict__ scores,
               pair *__restrict__ partials)
{
    constexpr int S = 32 / L, RL = kRowsPerLane, R = S * RL; /* groups a warp; rows a lane, a batch */
    const int lane = threadIdx.x % 32, slot = lane / L, member = lane % L, col = member * V;
    /* This lane finishes batch row slot + S·row_of_lane (transpose_sum leaves it there). */
    const int mine_i = row_of_lane<RL, L>(member), mine_t = slot + S * mine_i;
    const bool finisher = member == lane_of_row<RL, L>(mine_i);
    int offset[RL]; /* this lane's first value of row slot + S·i of a batch of contiguous rows */
#pragma unroll
    for (int i = 0; i < RL; ++i) offset[i] = (slot + S * i) * D + col;
    const long long warp = global_warp();
    for_each_problem(start, G, n, chunk, warp, [&](int g, long long first, long long stop) {
        if (want[g] <= 0) return;
        const double *rg = r + (long long)g * D;
        /* r's values for this lane's columns of a step; loaded once when one step covers D. */
        double rv[V];
        auto load_r = [&](int c0) {
            const int j = c0 + col;
            if constexpr (V % 2 == 0) { /* j and g·D even: 16-byte aligned pairs */
#pragma unroll
                for (int k = 0; k < V; k += 2) {
                    const double2 two = j < D ? *reinterpret_cast<const double2 *>(rg + j + k) : double2{};
                    rv[k] = two.x;
                    rv[k + 1] = two.y;
                }
            } else {
                rv[0] = j < D ? rg[j] : 0.0;
            }
        };
        load_r(0);
        pair mine = { -INFINITY, kNoRow };
        /* One batch of R rows from position p; TAIL: the chunk may end inside it. */
        auto batch = [&](long long p, auto tail) {
            constexpr bool TAIL = decltype(tail)::value;
            /* The finisher's weight is loaded with the rows, not after the reduction, so no second
             * memory latency sits on the loop's critical path. */
            const long long pos = p + mine_t;
            const bool finishes = finisher && (!TAIL || pos < stop);
            const double w_row = finishes ? __ldg(w + pos) : 0.0;
            const T *src[RL]; /* this lane's first value of each of its rows, or null past the chunk */
            const T *contiguous = e + p * D;
#pragma unroll
            for (int i = 0; i < RL; ++i) {
                const long long q = p + slot + S * i;
                src[i] = TAIL && q >= stop ? nullptr : order ? e + order[q] * D + col : contiguous + offset[i];
            }
            double acc[RL] = {};
            for (int c0 = 0; c0 < D; c0 += L * V) { /* warp-uniform */
                if (c0 > 0) load_r(c0);
                const bool in = c0 + col < D;
                typename gc_pack<T, V>::type raw[RL];
#pragma unroll
                for (int i = 0; i < RL; ++i) /* every load issued before any is used */
                    raw[i] = in && (!TAIL || src[i]) ? gc_load_pack<T, V>(src[i] + c0) : typename gc_pack<T, V>::type{};
#pragma unroll
                for (int i = 0; i < RL; ++i) {
                    if constexpr (V == 1) {
                        acc[i] += (double)gc_unpack<T>(raw[i], 0) * rv[0];
                    } else {
                        double part = (double)gc_unpack<T>(raw[i], 0) * rv[0];
#pragma unroll
                        for (int k = 1; k < V; ++k) part += (double)gc_unpack<T>(raw[i], k) * rv[k];
                        acc[i] += part;
                    }
                }
            }
            if (D > L * V) load_r(0); /* the next batch starts at the first step again */
            const double dot = transpose_sum<RL, L>(acc, member);
            if (finishes) {
                const double s = w_row > 0.0 ? w_row * (signed_scores ? dot : fabs(dot)) : -INFINITY;
                if (scores) scores[pos] = s;
                mine = better(mine, pair{ s, pos });
            }
        };
        long long p = first;
        for (; p + R <= stop; p += R) batch(p, std::false_type());
        if (p < stop) batch(p, std::true_type());
        mine = warp_best(mine);
        if (lane == 0) partials[warp + g] = mine;
    });
}

/* Calls f(kernel) with the scoring kernel for rows of D values stored as T: 16-byte packs when D
 * is a multiple of one, the fewest lanes a row (8, 16 or 32) that cover its packs in one step. */
template <typename T, typename F> int with_score_kernel(int D, F f)
{
    constexpr int V = 16 / (int)sizeof(T);
    if (D % V != 0) {
        if constexpr (V == 8) /* 2-byte values, D a multiple of 4: 8-byte packs */
            if (D % 4 == 0)
                return D / 4 <= 8    ? f(score_rows<T, 4, 8>)
                       : D / 4 <= 16 ? f(score_rows<T, 4, 16>)
                                     : f(score_rows<T, 4, 32>);
        return f(score_rows<T, 1, 32>);
    }
    if (D / V <= 8) return f(score_rows<T, V, 8>);
    if (D / V <= 16) return f(score_rows<T, V, 16>);
    return f(score_rows<T, V, 32>);
}

/* Launch: as score_rows. Each warp's best remaining score per problem that wants more than `round`
 * candidates. */
__global__ void rescan_scores(const double *__restrict__ scores, const long long *__restrict__ start, int G,
                              long long n, long long chunk, const int *__restrict__ want, int round,
                              pair *__restrict__ partials)
{
    const int lane = threadIdx.x % 32;
    const long long warp = global_warp();
    for_each_problem(start, G, n, chunk, warp, [&](int g, long long first, long long stop) {
        if (want[g] <= round) return;
        pair mine = { -INFINITY, kNoRow };
        for (long long p = first + lane; p < stop; p += 32) mine = better(mine, pair{ scores[p], p });
        mine = warp_best(mine);
        if (lane == 0) partials[warp + g] = mine;
    });
}

/* Launch: one block of kThreads per problem. best[g·stride + round] ← the best pair of the warps
 * that met problem g (no row when its score is −∞: nothing eligible is left), as a row; that
 * position's score becomes −∞ for the next round. */
__global__ void pick_best(const pair *__restrict__ partials, const long long *__restrict__ start,
                          const long long *__restrict__ order, long long chunk, const int *__restrict__ want, int round,
                          double *__restrict__ scores, pair *__restrict__ best, int stride)
{
    const int g = blockIdx.x;
    if (want[g] <= round) return; /* block-uniform */
    pair mine = { -INFINITY, kNoRow };
    if (start[g + 1] > start[g]) {
        const long long first = start[g] / chunk, last = (start[g + 1] - 1) / chunk;
        for (long long w = first + threadIdx.x; w <= last; w += blockDim.x) mine = better(mine, partials[w + g]);
    }
    pair top = block_best(mine);
    if (threadIdx.x == 0) {
        if (top.score == -INFINITY) {
            top = pair{ -INFINITY, kNoRow };
        } else {
            if (scores) scores[top.index] = -INFINITY;
            top.index = row_at(order, top.index);
        }
        best[(long long)g * stride + round] = top;
    }
}

/* Launch: blocks of kThreads, grid-stride over tiles of 32 positions, a warp per tile. The warp
 * reads its 32 rows 32 columns at a time into shared memory, coalesced, then lane t sums row t's
 * squares in column order (each square of a float is exact in double, so fused or not, every step
 * rounds as the CPU twin's does). w_p = 1/‖e‖ or 0; *max_bits = the bits of the largest |e_ij|
 * (non-negative floats order as their bits). */
template <typename T>
__global__ void row_weights(const T *__restrict__ e, const long long *__restrict__ order, long long n, int D,
                            double *__restrict__ w, unsigned *__restrict__ max_bits)
{
    __shared__ float tile[kWarps][32][33];
    const int lane = threadIdx.x % 32, slot = threadIdx.x / 32;
    const long long warps = (long long)gridDim.x * blockDim.x / 32;
    float largest = 0.0f;
    for (long long base = global_warp() * 32; base < n; base += warps * 32) {
        const long long my_row = base + lane < n ? row_at(order, base + lane) : -1;
        double sq = 0.0;
        for (int c0 = 0; c0 < D; c0 += 32) {
            for (int t = 0; t < 32; ++t) {
                const long long row = __shfl_sync(kAll, my_row, t);
                tile[slot][t][lane] = row >= 0 && c0 + lane < D ? gc_widen(__ldg(e + row * D + c0 + lane)) : 0.0f;
            }
            __syncwarp();
            const int width = D - c0 < 32 ? D - c0 : 32;
            for (int j = 0; j < width; ++j) {
                const float v = tile[slot][lane][j];
                sq += (double)v * v;
                largest = fmaxf(largest, fabsf(v));
            }
            __syncwarp();
        }
        if (my_row >= 0) w[base + lane] = sq > 0.0 ? 1.0 / sqrt(sq) : 0.0;
    }
    for (int offset = 16; offset > 0; offset >>= 1) largest = fmaxf(largest, __shfl_xor_sync(kAll, largest, offset));
    if (lane == 0) atomicMax(max_bits, __float_as_uint(largest));
}

/* Launch: as score_rows. acc [2·G·D] += every problem's rows on the exact grid: a lane owns one
 * column of a block of `width` columns and sums its values as integers in registers; one atomic
 * add per column, problem and warp. */
template <typename T>
__global__ void class_sums(const T *__restrict__ e, const long long *__restrict__ order,
                           const long long *__restrict__ start, int G, long long n, int D, long long chunk,
                           double scale, unsigned long long *__restrict__ acc)
{
    const int lane = threadIdx.x % 32, width = gc_lanes_per_row(D), column = lane % width, group = lane / width;
    const int groups = 32 / width;
    const long long components = (long long)G * D;
    for_each_problem(start, G, n, chunk, global_warp(), [&](int g, long long first, long long stop) {
        for (int c0 = 0; c0 < D; c0 += width) {
            const int j = c0 + column;
            if (j >= D) continue;
            long long whole = 0, fraction = 0;
            for (long long p = first + group; p < stop; p += groups) {
                int64_t wv, fv;
                gc_exact_split(gc_widen(__ldg(e + row_at(order, p) * D + j)), scale, &wv, &fv);
                whole += wv;
                fraction += fv;
            }
            /* Two's complement: an unsigned add is the signed add. */
            if (whole != 0) atomicAdd(acc + (long long)g * D + j, (unsigned long long)whole);
            if (fraction != 0) atomicAdd(acc + components + (long long)g * D + j, (unsigned long long)fraction);
        }
    });
}

/* Launch: ceil(count / kThreads) blocks. w ← 0 at the position of rows[t] (problem problems[t]):
 * a binary search of the problem's positions, whose rows ascend. */
__global__ void exclude_rows(const long long *__restrict__ order, const long long *__restrict__ start, int count,
                             const long long *__restrict__ rows, const int *__restrict__ problems,
                             double *__restrict__ w)
{
    const int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= count) return;
    long long p = rows[t];
    if (order) {
        const int g = problems ? problems[t] : 0;
        long long lo = start[g], hi = start[g + 1];
        while (lo < hi) {
            const long long mid = lo + (hi - lo) / 2;
            if (order[mid] < p)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == start[g + 1] || order[lo] != p) return; /* not a row of that problem */
        p = lo;
    }
    w[p] = 0.0;
}

/* Launch: grid-stride over n. */
__global__ void iota(long long n, long long *out)
{
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        out[i] = i;
}

/* Launch: ceil((G + 1) / kThreads) blocks. start[g] = the first position whose sorted id is ≥ g. */
__global__ void problem_starts(const unsigned *__restrict__ sorted, long long n, int G, long long *__restrict__ start)
{
    const int g = blockIdx.x * blockDim.x + threadIdx.x;
    if (g > G) return;
    long long lo = 0, hi = n;
    while (lo < hi) {
        const long long mid = lo + (hi - lo) / 2;
        if (sorted[mid] < (unsigned)g)
            lo = mid + 1;
        else
            hi = mid;
    }
    start[g] = lo;
}

unsigned grid_for(long long work, long long cap)
{
    const long long blocks = (work + kThreads - 1) / kThreads;
    return (unsigned)(blocks < 1 ? 1 : blocks > cap ? cap : blocks);
}

} // namespace

struct gc_omp_device {
    cudaStream_t stream;
    long long n, chunk;
    int D, G, blocks;       /* blocks × kWarps warps, each owning `chunk` positions */
    const void *e;          /* [n × D] of `precision`: the backend's resident embeddings, or own_e */
    gc_precision precision; /* the stored type (rows.cuh) */
    void *own_e;
    long long *order;       /* [n] row at each position; null with one problem */
    long long *start;       /* [G + 1] */
    double *w;              /* [n] by position */
    double *r;              /* [G × D] */
    int *want;              /* [G] */
    pair *partials;         /* [blocks·kWarps + G] */
    gc_cuda_buffer scores;  /* [n] by position, once some problem wants several candidates */
    gc_cuda_buffer best;    /* [G × stride] */
    gc_cuda_buffer exclude; /* [count] rows, then [count] problems */
    /* Page-locked staging of what crosses PCIe every pass. */
    double *r_host;
    int *want_host;
    pair *best_host;
    size_t best_host_bytes;
};

static_assert(sizeof(pair) == sizeof(gc_omp_pair), "device pairs are copied into gc_omp_pair");

/* Host rows copied up in blocks of this many bytes and narrowed on the device (place_rows). */
constexpr size_t kUploadBytes = 64u << 20;

/* d->e ← the rows at the backend's precision: the resident embeddings themselves, or a copy (host
 * floats copied up block by block through a staging buffer and narrowed there, which is exact for
 * the values the backend's embed wrote, kernels/precision.h). Both come from cudaMalloc, so rows
 * start 256-byte aligned, as score_rows's 16-byte packs need. */
static int place_rows(gc_backend *b, gc_omp_device *d, const float *e)
{
    const gc_cuda_rows kept = gc_cuda_resident(b, e, d->n, d->D);
    d->e = kept.data;
    d->precision = kept.precision;
    if (d->e != NULL) return GC_OK;
    if (e == NULL && d->n > 0) /* the rows were to live on the device alone (backend.h): a caller's error */
        return gc_fail(GC_ERR_DEVICE, "OMP: GPU %d holds no embeddings to score", b->device_id);
    d->precision = b->precision;
    const size_t values = (size_t)d->n * d->D, bytes = values * gc_precision_bytes(d->precision);
    GC_CHECK_CUDA(cudaMalloc(&d->own_e, bytes > 0 ? bytes : 1));
    d->e = d->own_e;
    if (values == 0) return GC_OK;
    if (d->precision == GC_PRECISION_FP32) {
        GC_CHECK_CUDA(cudaMemcpyAsync(d->own_e, e, bytes, cudaMemcpyHostToDevice, d->stream));
        return GC_OK;
    }
    gc_cuda_buffer staging = {};
    const size_t block = values < kUploadBytes / sizeof(float) ? values : kUploadBytes / sizeof(float);
    int status = gc_cuda_reserve(d->stream, &staging, block * sizeof(float));
    for (size_t lo = 0; lo < values && status == GC_OK; lo += block) {
        const size_t count = values - lo < block ? values - lo : block;
        /* Stream-ordered after the previous block's narrowing, which read the same buffer. */
        if (cudaMemcpyAsync(staging.ptr, e + lo, count * sizeof(float), cudaMemcpyHostToDevice, d->stream) !=
            cudaSuccess)
            status = gc_fail(GC_ERR_DEVICE, "OMP: cannot copy rows to GPU %d", b->device_id);
        if (status == GC_OK)
            status = gc_with_precision(d->precision, [&](auto stored) -> int {
                using T = decltype(stored);
                gc_narrow_kernel<T><<<grid_for((long long)count, 4096), kThreads, 0, d->stream>>>(
                    (const float *)staging.ptr, (long long)count, (T *)d->own_e + lo);
                GC_CHECK_LAUNCH();
                return GC_OK;
            });
    }
    gc_cuda_release(d->stream, &staging);
    return status;
}

/* Scratch of the sort in group_rows. */
typedef struct {
    gc_cuda_buffer ids, sorted, rows, temp;
} sort_scratch;

/* d->order: the rows sorted by problem id, stably (CUB's radix sort), so rows ascend within a
 * problem; d->start from the sorted ids. */
static int sort_rows(gc_omp_device *d, const int32_t *problem, sort_scratch *s)
{
    const long long n = d->n;
    int bits = 1;
    while (bits < 31 && (1LL << bits) < d->G) ++bits;
    size_t temp_bytes = 0;
    GC_CHECK_CUDA(cudaMalloc(&d->order, (size_t)n * sizeof *d->order));
    GC_TRY(gc_cuda_reserve(d->stream, &s->ids, (size_t)n * sizeof(unsigned)));
    GC_TRY(gc_cuda_reserve(d->stream, &s->sorted, (size_t)n * sizeof(unsigned)));
    GC_TRY(gc_cuda_reserve(d->stream, &s->rows, (size_t)n * sizeof(long long)));
    const unsigned *ids = (const unsigned *)s->ids.ptr; /* ids are in [0, G): unsigned sorts them alike */
    unsigned *sorted = (unsigned *)s->sorted.ptr;
    long long *rows = (long long *)s->rows.ptr;
    GC_CHECK_CUDA(
        cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, ids, sorted, rows, d->order, n, 0, bits, d->stream));
    GC_TRY(gc_cuda_reserve(d->stream, &s->temp, temp_bytes));
    GC_CHECK_CUDA(cudaMemcpyAsync(s->ids.ptr, problem, (size_t)n * sizeof *problem, cudaMemcpyHostToDevice, d->stream));
    iota<<<grid_for(n, 4096), kThreads, 0, d->stream>>>(n, rows);
    GC_CHECK_LAUNCH();
    GC_CHECK_CUDA(
        cub::DeviceRadixSort::SortPairs(s->temp.ptr, temp_bytes, ids, sorted, rows, d->order, n, 0, bits, d->stream));
    problem_starts<<<grid_for(d->G + 1, 1 << 16), kThreads, 0, d->stream>>>(sorted, n, d->G, d->start);
    GC_CHECK_LAUNCH();
    return GC_OK;
}

/* d->order and d->start: the positions of each problem's rows. */
static int group_rows(gc_omp_device *d, const int32_t *problem)
{
    const int G = d->G;
    GC_CHECK_CUDA(cudaMalloc(&d->start, (size_t)(G + 1) * sizeof *d->start));
    if (problem != NULL && G > 1 && d->n > 0) {
        sort_scratch scratch = {};
        const int status = sort_rows(d, problem, &scratch);
        gc_cuda_buffer *pieces[] = { &scratch.ids, &scratch.sorted, &scratch.rows, &scratch.temp };
        for (gc_cuda_buffer *p : pieces) gc_cuda_release(d->stream, p);
        return status;
    }
    /* One problem holds every row: no permutation. */
    long long *host = (long long *)gc_malloc((size_t)(G + 1) * sizeof *host);
    GC_CHECK_ALLOC(host);
    host[0] = 0;
    for (int g = 1; g <= G; ++g) host[g] = d->n;
    const cudaError_t rc = cudaMemcpy(d->start, host, (size_t)(G + 1) * sizeof *host, cudaMemcpyHostToDevice);
    free(host);
    GC_CHECK_CUDA(rc);
    return GC_OK;
}

/* One wave of resident blocks at most, each warp owning a chunk of at least kRowsPerWarp positions. */
static int plan_launch(gc_backend *b, gc_omp_device *d)
{
    int sms = 0, per_sm = 0;
    GC_CHECK_CUDA(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, b->device_id));
    GC_TRY(gc_with_precision(d->precision, [&](auto stored) -> int {
        using T = decltype(stored);
        return with_score_kernel<T>(d->D, [&](auto kernel) -> int {
            GC_CHECK_CUDA(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, 0));
            return GC_OK;
        });
    }));
    const long long wave = (long long)sms * per_sm, groups = (d->n + kRowsPerWarp - 1) / kRowsPerWarp;
    if (wave < 1) return gc_fail(GC_ERR_DEVICE, "OMP scoring kernel cannot run on GPU %d", b->device_id);
    const long long wanted = (groups + kWarps - 1) / kWarps;
    d->blocks = (int)(wanted < 1 ? 1 : wanted > wave ? wave : wanted);
    const long long warps = (long long)d->blocks * kWarps;
    d->chunk = d->n > 0 ? (d->n + warps - 1) / warps : 1;
    return GC_OK;
}

/* d->w and the largest |e_ij| (its float bits) through the device word max_bits. */
static int weigh_rows(gc_omp_device *d, unsigned *max_bits, float *largest)
{
    unsigned bits = 0;
    GC_CHECK_CUDA(cudaMemsetAsync(max_bits, 0, sizeof *max_bits, d->stream));
    if (d->n > 0) {
        GC_TRY(gc_with_precision(d->precision, [&](auto stored) -> int {
            using T = decltype(stored);
            row_weights<<<grid_for(d->n, 4096), kThreads, 0, d->stream>>>((const T *)d->e, d->order, d->n, d->D, d->w,
                                                                          max_bits);
            GC_CHECK_LAUNCH();
            return GC_OK;
        }));
    }
    GC_CHECK_CUDA(cudaMemcpyAsync(&bits, max_bits, sizeof bits, cudaMemcpyDeviceToHost, d->stream));
    GC_CHECK_CUDA(cudaStreamSynchronize(d->stream));
    memcpy(largest, &bits, sizeof *largest);
    return GC_OK;
}

static int setup(gc_backend *b, gc_omp_device *d, const float *e, const int32_t *problem, double *max_abs)
{
    const size_t n = (size_t)(d->n > 0 ? d->n : 1), G = (size_t)d->G;
    GC_CHECK_CUDA(cudaStreamCreateWithFlags(&d->stream, cudaStreamNonBlocking));
    GC_TRY(place_rows(b, d, e)); /* first: the launch plan depends on the stored type */
    GC_TRY(plan_launch(b, d));
    GC_TRY(group_rows(d, problem));
    GC_CHECK_CUDA(cudaMalloc(&d->w, n * sizeof(double)));
    GC_CHECK_CUDA(cudaMalloc(&d->r, G * d->D * sizeof(double)));
    GC_CHECK_CUDA(cudaMalloc(&d->want, G * sizeof(int)));
    GC_CHECK_CUDA(cudaMalloc(&d->partials, ((size_t)d->blocks * kWarps + G) * sizeof(pair)));
    GC_CHECK_CUDA(cudaHostAlloc(&d->r_host, G * d->D * sizeof(double), cudaHostAllocDefault));
    GC_CHECK_CUDA(cudaHostAlloc(&d->want_host, G * sizeof(int), cudaHostAllocDefault));
    gc_cuda_buffer max_bits = {};
    float largest = 0.0f;
    int status = gc_cuda_reserve(d->stream, &max_bits, sizeof(unsigned));
    if (status == GC_OK) status = weigh_rows(d, (unsigned *)max_bits.ptr, &largest);
    gc_cuda_release(d->stream, &max_bits);
    *max_abs = largest;
    return status;
}

extern "C" int gc_cuda_omp_attach(gc_backend *b, int64_t rows, int D, const float *e, const int32_t *problem,
                                  int problems, double *max_abs, gc_omp_device **out)
{
    *out = NULL;
    *max_abs = 0.0;
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    gc_omp_device *d = (gc_omp_device *)gc_calloc(1, sizeof *d);
    if (d == NULL) return gc_fail(GC_ERR_MEMORY, "out of memory for the OMP device state");
    *out = d; /* the caller detaches it, on failure too */
    d->n = rows;
    d->D = D;
    d->G = problems;
    return setup(b, d, e, problem, max_abs);
}

/* host [2·G·D] ← the exact per-problem sums, through the device accumulators sums. */
static int sum_classes(gc_omp_device *d, double scale, unsigned long long *sums, int64_t *host)
{
    const size_t values = 2 * (size_t)d->G * d->D;
    GC_CHECK_CUDA(cudaMemsetAsync(sums, 0, values * sizeof *sums, d->stream));
    if (d->n > 0) {
        GC_TRY(gc_with_precision(d->precision, [&](auto stored) -> int {
            using T = decltype(stored);
            class_sums<<<d->blocks, kThreads, 0, d->stream>>>((const T *)d->e, d->order, d->start, d->G, d->n, d->D,
                                                              d->chunk, scale, sums);
            GC_CHECK_LAUNCH();
            return GC_OK;
        }));
    }
    GC_CHECK_CUDA(cudaMemcpyAsync(host, sums, values * sizeof *sums, cudaMemcpyDeviceToHost, d->stream));
    GC_CHECK_CUDA(cudaStreamSynchronize(d->stream));
    return GC_OK;
}

extern "C" int gc_cuda_omp_targets(gc_backend *b, gc_omp_device *d, double scale, int64_t *acc)
{
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    const size_t values = 2 * (size_t)d->G * d->D;
    int64_t *host = (int64_t *)gc_malloc(values * sizeof *host);
    GC_CHECK_ALLOC(host);
    gc_cuda_buffer sums = {};
    int status = gc_cuda_reserve(d->stream, &sums, values * sizeof(unsigned long long));
    if (status == GC_OK) status = sum_classes(d, scale, (unsigned long long *)sums.ptr, host);
    gc_cuda_release(d->stream, &sums);
    for (size_t c = 0; c < values && status == GC_OK; ++c) acc[c] += host[c];
    free(host);
    return status;
}

extern "C" int gc_cuda_omp_exclude(gc_backend *b, gc_omp_device *d, int count, const int64_t *rows,
                                   const int32_t *problems)
{
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    if (count <= 0) return GC_OK;
    const size_t row_bytes = (size_t)count * sizeof *rows;
    GC_TRY(gc_cuda_reserve(d->stream, &d->exclude, row_bytes + (size_t)count * sizeof *problems));
    long long *device_rows = (long long *)d->exclude.ptr;
    int *device_problems = problems ? (int *)((char *)d->exclude.ptr + row_bytes) : NULL;
    /* From pageable memory: each copy returns once staged, so the caller may reuse its arrays. */
    GC_CHECK_CUDA(cudaMemcpyAsync(device_rows, rows, row_bytes, cudaMemcpyHostToDevice, d->stream));
    if (problems)
        GC_CHECK_CUDA(cudaMemcpyAsync(device_problems, problems, (size_t)count * sizeof *problems,
                                      cudaMemcpyHostToDevice, d->stream));
    exclude_rows<<<grid_for(count, 1 << 16), kThreads, 0, d->stream>>>(d->order, d->start, count, device_rows,
                                                                       device_problems, d->w);
    GC_CHECK_LAUNCH();
    return GC_OK;
}

/* d->best and d->best_host hold G × stride pairs. */
static int reserve_best(gc_omp_device *d, int stride)
{
    const size_t bytes = (size_t)d->G * stride * sizeof(pair);
    GC_TRY(gc_cuda_reserve(d->stream, &d->best, bytes));
    if (d->best_host_bytes >= bytes) return GC_OK;
    GC_CHECK_CUDA(cudaStreamSynchronize(d->stream)); /* the old staging may still be a copy's target */
    GC_CHECK_CUDA(cudaFreeHost(d->best_host));
    d->best_host = NULL;
    d->best_host_bytes = 0;
    GC_CHECK_CUDA(cudaHostAlloc(&d->best_host, bytes, cudaHostAllocDefault));
    d->best_host_bytes = bytes;
    return GC_OK;
}

extern "C" int gc_cuda_omp_best(gc_backend *b, gc_omp_device *d, const double *r, int signed_scores, const int *want,
                                int stride, gc_omp_pair *best)
{
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    const int G = d->G;
    int rounds = 0;
    for (int g = 0; g < G; ++g) {
        for (int t = 0; t < stride; ++t) best[(size_t)g * stride + t] = gc_omp_pair{ -INFINITY, INT64_MAX };
        d->want_host[g] = want[g] < stride ? want[g] : stride;
        rounds = d->want_host[g] > rounds ? d->want_host[g] : rounds;
    }
    if (d->n == 0 || rounds == 0) return GC_OK;
    if (rounds > 1) GC_TRY(gc_cuda_reserve(d->stream, &d->scores, (size_t)d->n * sizeof(double)));
    GC_TRY(reserve_best(d, stride));
    double *scores = rounds > 1 ? (double *)d->scores.ptr : NULL;
    pair *device_best = (pair *)d->best.ptr;
    memcpy(d->r_host, r, (size_t)G * d->D * sizeof *r);
    GC_CHECK_CUDA(cudaMemcpyAsync(d->r, d->r_host, (size_t)G * d->D * sizeof *r, cudaMemcpyHostToDevice, d->stream));
    GC_CHECK_CUDA(cudaMemcpyAsync(d->want, d->want_host, (size_t)G * sizeof *want, cudaMemcpyHostToDevice, d->stream));
    GC_TRY(gc_with_precision(d->precision, [&](auto stored) -> int {
        using T = decltype(stored);
        const T *e = (const T *)d->e;
        return with_score_kernel<T>(d->D, [&](auto kernel) -> int {
            kernel<<<d->blocks, kThreads, 0, d->stream>>>(e, d->order, d->start, G, d->n, d->D, d->chunk, d->r, d->w,
                                                          d->want, signed_scores, scores, d->partials);
            GC_CHECK_LAUNCH();
            return GC_OK;
        });
    }));
    for (int t = 0; t < rounds; ++t) {
        if (t > 0) {
            rescan_scores<<<d->blocks, kThreads, 0, d->stream>>>(scores, d->start, G, d->n, d->chunk, d->want, t,
                                                                 d->partials);
            GC_CHECK_LAUNCH();
        }
        pick_best<<<G, kThreads, 0, d->stream>>>(d->partials, d->start, d->order, d->chunk, d->want, t, scores,
                                                 device_best, stride);
        GC_CHECK_LAUNCH();
    }
    GC_CHECK_CUDA(cudaMemcpyAsync(d->best_host, device_best, (size_t)G * stride * sizeof(pair), cudaMemcpyDeviceToHost,
                                  d->stream));
    GC_CHECK_CUDA(cudaStreamSynchronize(d->stream));
    for (int g = 0; g < G; ++g)
        for (int t = 0; t < d->want_host[g]; ++t) {
            const pair p = d->best_host[(size_t)g * stride + t];
            best[(size_t)g * stride + t] = gc_omp_pair{ p.score, p.index == kNoRow ? INT64_MAX : (int64_t)p.index };
        }
    return GC_OK;
}

extern "C" void gc_cuda_omp_detach(gc_backend *b, gc_omp_device *d)
{
    if (d == NULL) return;
    (void)cudaSetDevice(b->device_id);
    gc_cuda_buffer *pooled[] = { &d->scores, &d->best, &d->exclude };
    for (gc_cuda_buffer *p : pooled) gc_cuda_release(d->stream, p);
    gc_cuda_stream_end(d->stream, nullptr);
    (void)cudaFree(d->own_e);
    (void)cudaFree(d->order);
    (void)cudaFree(d->start);
    (void)cudaFree(d->w);
    (void)cudaFree(d->r);
    (void)cudaFree(d->want);
    (void)cudaFree(d->partials);
    (void)cudaFreeHost(d->r_host);
    (void)cudaFreeHost(d->want_host);
    (void)cudaFreeHost(d->best_host);
    free(d);
}
