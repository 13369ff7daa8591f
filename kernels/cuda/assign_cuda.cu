/* Facility location's passes over all rows on the GPU (see assign_cuda.h); gc_cpu_fl_assign
 * (kernels/cpu/similarity_cpu.c) is its oracle, bit for bit.
 *
 * A batch of n rows (resident on the device, or copied up into the slot) goes through:
 *   count_groups    a histogram of the rows' groups (atomics; groups without sets are left out);
 *   plan_groups     one block scans it: where each group's rows start in perm, and where its tiles
 *                   of kRows rows start in the grid (Σ_g ⌈n_g/kRows⌉ ≤ ⌈n/kRows⌉ + groups tiles);
 *   scatter_rows    perm ← the rows grouped by group (the order inside a group is free: rows are
 *                   independent);
 *   nearest_in_sets a block per tile: its kRows rows (one a thread) against every set of their
 *                   group, kElems elements at a time in registers, kCols columns at a time through
 *                   shared memory (rows as float, elements widened to double once per chunk).
 * Each (row, element) squared distance is Σ_t (a_t − b_t)², t in column order, with every rounding
 * spelled out (__dsub_rn, __dmul_rn, __dadd_rn) so nvcc contracts nothing into an FMA: the CPU twin
 * computes the same sum in the same order, and sqrt is correctly rounded on both. Elements are
 * visited in set order and only a strictly smaller sum replaces the best: the first of equals wins.
 * Cost: 3 FP64 operations per (row, element, column); bytes: the rows once (4·D a row) plus 16·W
 * a row back, the sets once per call.
 *
 * Large sets (≥ kGemmMinSet elements, D ≥ kGemmMinD, where the filter's operands fit: run_batches)
 * go another way with the same bits: a filter on the tensor cores rules elements out, and the
 * survivors are recomputed as above. Distances do not change when rows and elements move
 * together, so both are centred on the set's mean c (a bound relative to ‖x − c‖‖y − c‖ is as
 * narrow as the set is tight, where one relative to ‖x‖‖y‖ let thousands of elements of a billion
 * close embeddings through); every centred value v is split into two bfloat16s, h = bf16(v) and
 * l = bf16(v − h), and one cuBLAS GEMM a tile of rows (FP32 sums) gives x_h·y_h + x_l·y_h +
 * x_h·y_l ≈ (x − c)·(y − c) within |err| ≤ rel·‖x − c‖·max‖y − c‖ + tiny (filter_bound).
 * nearest_from_dots, a warp a row, bounds every squared distance by a = ‖x − c‖² + ‖y − c‖² −
 * 2·dot ± b, b = 1.01·(2|err| + 4(D + 8)·2⁻⁵²(‖x − c‖² + max‖y − c‖²) + 2⁻²³max‖y − c‖²) (the
 * double sums' rounding, and ‖y − c‖² kept as float). Only elements whose a
 * is within 2b of the smallest can be nearest, ties included; the scan gathers them in a list a
 * warp and recomputes their exact sums, and the first of equals wins, so the result is the direct
 * kernel's. Cost: 2·K bfloat16 tensor flops
 * (K = 3D padded to 8) and 8 bytes of dots per (row, element: written once, read once), against
 * 3·D FP64 operations (docs/design.md §4.1). */
#include <cub/cub.cuh>
#include <cublas_v2.h>
#include <limits.h>
#include <math.h>
#include <mpi.h> /* before the extern "C" blocks: it brings C++ bindings of its own */
#include <stdlib.h>
#include <string.h>

#include "assign_cuda.h"
#include "buffer.cuh"
#include "cuda_check.h"
#include "rows.cuh"

extern "C" {
#include "kernels/cpu/cpu_kernels.h" /* gc_cpu_fl_radius: rows the device does not hold */
}

namespace
{

constexpr int kRows = 128;         /* rows of a tile, one a thread */
constexpr int kElems = 32;         /* elements a thread compares its row with at once (registers) */
constexpr int kCols = 32;          /* columns of a shared-memory chunk */
constexpr int kScanThreads = 1024; /* plan_groups' one block */
constexpr int kThreads = 256;      /* the grid-stride kernels */
constexpr int kMaxBlocks = 4096;
constexpr int kSlots = 2;                             /* one staged by the host while the other runs */
constexpr size_t kSlotTargetBytes = (size_t)64 << 20; /* device buffers a slot aims at */
constexpr size_t kAlignBytes = 256;
constexpr int64_t kGemmMinSet = 256;             /* sets this large go through the GEMM (above) … */
constexpr int kGemmMinD = 32;                    /* … at this width or more */
constexpr size_t kTileBytes = (size_t)512 << 20; /* dots of one GEMM tile (fewer, fuller GEMMs than 256) */
constexpr int kScanWarps = 8;                    /* nearest_from_dots: rows a block, a warp a row, … */
constexpr int kWarpCandidates = 256;             /* … the elements a warp keeps for the exact pass … */
constexpr int kFilterLoads = 4;                  /* … and the 4-dot vectors a lane has in flight */
constexpr int kDotsAlign = 4;                    /* a set's dots and norms pad to 16 bytes */
constexpr int kOperandAlign = 8;                 /* the filter's operand rows pad to 16 bytes */

/* A set's rows of operands and norms, and a row's of dots: its elements padded to kDotsAlign. */
__host__ __device__ constexpr long long operand_rows(long long elements)
{
    return (elements + kDotsAlign - 1) / kDotsAlign * kDotsAlign;
}

__device__ __forceinline__ bool has_sets(int g, int groups, const long long *group_set)
{
    return g >= 0 && g < groups && group_set[g + 1] > group_set[g];
}

/* counts[g] ← rows of group g among labels [n]. Launch: grid-stride, kThreads. */
__global__ void count_groups(const int *__restrict__ labels, int n, int groups, const long long *__restrict__ group_set,
                             int *__restrict__ counts)
{
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        if (has_sets(labels[i], groups, group_set)) atomicAdd(&counts[labels[i]], 1);
}

/* row_start and tile_start [groups + 1]: exclusive sums of the counts and of ⌈count/kRows⌉; cursor
 * [groups] starts at row_start. Launch: one block of kScanThreads. */
__global__ void plan_groups(const int *__restrict__ counts, int groups, int *__restrict__ row_start,
                            int *__restrict__ tile_start, int *__restrict__ cursor)
{
    typedef cub::BlockScan<int, kScanThreads> scan;
    __shared__ typename scan::TempStorage temp;
    __shared__ int carry_rows, carry_tiles;
    if (threadIdx.x == 0) carry_rows = carry_tiles = 0;
    __syncthreads();
    for (int base = 0; base < groups; base += kScanThreads) {
        const int g = base + threadIdx.x;
        const int c = g < groups ? counts[g] : 0, tiles = (c + kRows - 1) / kRows;
        int rows_before, tiles_before, rows_total, tiles_total;
        scan(temp).ExclusiveSum(c, rows_before, rows_total);
        __syncthreads(); /* temp is reused */
        scan(temp).ExclusiveSum(tiles, tiles_before, tiles_total);
        if (g < groups) {
            row_start[g] = cursor[g] = carry_rows + rows_before;
            tile_start[g] = carry_tiles + tiles_before;
        }
        __syncthreads(); /* every thread has read the carries */
        if (threadIdx.x == 0) carry_rows += rows_total, carry_tiles += tiles_total;
        __syncthreads();
    }
    if (threadIdx.x == 0) row_start[groups] = carry_rows, tile_start[groups] = carry_tiles;
}

/* perm ← the rows with sets, grouped by group. Launch: grid-stride, kThreads. */
__global__ void scatter_rows(const int *__restrict__ labels, int n, int groups, const long long *__restrict__ group_set,
                             int *__restrict__ cursor, int *__restrict__ perm)
{
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        if (has_sets(labels[i], groups, group_set)) perm[atomicAdd(&cursor[labels[i]], 1)] = i;
}

/* Every slot starts as "no element": −1 and +∞. Launch: grid-stride, kThreads. */
__global__ void fill_empty(long long *__restrict__ nearest, double *__restrict__ distance, long long slots)
{
    for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < slots;
         k += (long long)gridDim.x * blockDim.x)
        nearest[k] = -1, distance[k] = INFINITY;
}

/* Launch: ⌈n/kRows⌉ + groups blocks (at least the tiles plan_groups counted; the others return) of
 * kRows threads. Block b is tile b − tile_start[g] of the group g whose tiles hold b. T: the rows'
 * stored type (rows.cuh), widened exactly into the float tile. */
template <typename T>
__global__ void __launch_bounds__(kRows)
    nearest_in_sets(const T *__restrict__ rows, int D, const int *__restrict__ perm, const int *__restrict__ row_start,
                    const int *__restrict__ tile_start, int groups, const long long *__restrict__ group_set,
                    const long long *__restrict__ set_first, const long long *__restrict__ set_size,
                    const float *__restrict__ set_e, int W, long long gemm_from, long long *__restrict__ nearest,
                    double *__restrict__ distance)
{
    __shared__ float row_tile[kRows][kCols + 1]; /* +1: a thread's row in its own bank */
    __shared__ double elem_tile[kElems][kCols];  /* read by all threads at once: a broadcast */
    const int block = blockIdx.x;
    if (block >= tile_start[groups]) return;
    int g = 0, hi = groups; /* the last group whose tiles start at or before this block */
    while (hi - g > 1) {
        const int mid = (g + hi) / 2;
        if (tile_start[mid] <= block)
            g = mid;
        else
            hi = mid;
    }
    const int first = row_start[g] + (block - tile_start[g]) * kRows;
    const int count = min(kRows, row_start[g + 1] - first), r = threadIdx.x;
    const bool active = r < count, one_chunk = D <= kCols;
    bool rows_loaded = false;
    for (long long s = group_set[g]; s < group_set[g + 1]; ++s) {
        const long long base = set_first[s], n = set_size[s];
        if (n >= gemm_from) continue; /* issue_batch's GEMM path takes it (the same for the whole block) */
        double best_sq = INFINITY;
        long long best = -1;
        for (long long j0 = 0; j0 < n; j0 += kElems) {
            const int nj = (int)min((long long)kElems, n - j0);
            double sq[kElems];
#pragma unroll
            for (int jj = 0; jj < kElems; ++jj) sq[jj] = 0.0;
            for (int t0 = 0; t0 < D; t0 += kCols) {
                const int dc = min(kCols, D - t0);
                __syncthreads(); /* the previous chunk's readers are done */
                if (!(one_chunk && rows_loaded)) {
                    for (int k = threadIdx.x; k < count * dc; k += kRows)
                        row_tile[k / dc][k % dc] = gc_widen(rows[(size_t)perm[first + k / dc] * D + t0 + k % dc]);
                    rows_loaded = true;
                }
                for (int k = threadIdx.x; k < nj * dc; k += kRows)
                    elem_tile[k / dc][k % dc] = (double)set_e[(size_t)(base + j0 + k / dc) * D + t0 + k % dc];
                __syncthreads();
                if (active)
                    for (int t = 0; t < dc; ++t) {
                        const double a = (double)row_tile[r][t];
#pragma unroll
                        for (int jj = 0; jj < kElems; ++jj) {
                            const double d = __dsub_rn(a, elem_tile[jj][t]);
                            sq[jj] = __dadd_rn(sq[jj], __dmul_rn(d, d));
                        }
                    }
            }
#pragma unroll
            for (int jj = 0; jj < kElems; ++jj)
                if (jj < nj && sq[jj] < best_sq) best_sq = sq[jj], best = j0 + jj;
        }
        if (active) {
            const size_t at = (size_t)perm[first + r] * W + (size_t)(s - group_set[g]);
            nearest[at] = best;
            distance[at] = sqrt(best_sq);
        }
    }
}

struct larger {
    __device__ double operator()(double a, double b) const { return b > a ? b : a; }
};

/* block_max[block] ← the largest Σ_j (row_j − center_j)² of the rows the block visited (0 without
 * any), in double, column order, never contracted: gc_cpu_fl_radius's sums. Tiles of kRows rows
 * are staged kCols columns at a time so the loads are coalesced; one row a thread. Launch:
 * grid-stride over tiles, kRows threads. */
template <typename T>
__global__ void __launch_bounds__(kRows)
    farthest_from(const T *__restrict__ rows, long long n, int D, const double *__restrict__ center,
                  double *__restrict__ block_max)
{
    __shared__ float tile[kRows][kCols + 1];
    typedef cub::BlockReduce<double, kRows> reduce;
    __shared__ typename reduce::TempStorage temp;
    double best = 0.0;
    for (long long first = (long long)blockIdx.x * kRows; first < n; first += (long long)gridDim.x * kRows) {
        const int count = (int)min((long long)kRows, n - first);
        double sq = 0.0;
        for (int t0 = 0; t0 < D; t0 += kCols) {
            const int dc = min(kCols, D - t0);
            __syncthreads(); /* the previous chunk's readers are done */
            for (int k = threadIdx.x; k < count * dc; k += kRows)
                tile[k / dc][k % dc] = gc_widen(rows[(size_t)(first + k / dc) * D + t0 + k % dc]);
            __syncthreads();
            if ((int)threadIdx.x < count)
                for (int t = 0; t < dc; ++t) {
                    const double d = __dsub_rn((double)tile[threadIdx.x][t], center[t0 + t]);
                    sq = __dadd_rn(sq, __dmul_rn(d, d));
                }
        }
        if ((int)threadIdx.x < count && sq > best) best = sq;
    }
    const double most = reduce(temp).Reduce(best, larger());
    if (threadIdx.x == 0) block_max[blockIdx.x] = most;
}

/* The filter's operands of one row (file comment) into out [K]: v = x − c in double, rounded to
 * float, split into h = bf16(v) and l = bf16(v − h) (exact), laid out h | l | h for rows (lo_part 1)
 * and h | h | l for set elements (lo_part 2), so a row's operands times an element's are
 * x_h·y_h + x_l·y_h + x_h·y_l; columns past 3D are zero. Returns Σ v² in double (the threads' own
 * columns; the caller reduces). A block's threads share the row. */
template <typename T>
__device__ __forceinline__ double split_row(const T *__restrict__ x, const float *__restrict__ c, int D, int lo_part,
                                            int K, __nv_bfloat16 *__restrict__ out)
{
    double sq = 0.0;
    for (int k = threadIdx.x; k < K; k += blockDim.x) {
        const int part = k / D;
        __nv_bfloat16 o = __float2bfloat16_rn(0.0f);
        if (part < 3) {
            const double v = (double)gc_widen(x[k - part * D]) - (double)c[k - part * D];
            const float vf = (float)v;
            const __nv_bfloat16 hi = __float2bfloat16_rn(vf);
            o = part == lo_part ? __float2bfloat16_rn(vf - __bfloat162float(hi)) : hi;
            if (part == 0) sq += v * v;
        }
        out[k] = o;
    }
    return sq;
}

/* A tile's rows rows[perm[first + r]], r < count, as operands against a set centred at c, into out
 * [count × K]. Launch: a block a row (grid-stride), kThreads. */
template <typename T>
__global__ void __launch_bounds__(kThreads)
    row_operands(const T *__restrict__ rows, int D, const int *__restrict__ perm, int first, int count,
                 const float *__restrict__ c, int K, __nv_bfloat16 *__restrict__ out)
{
    for (int r = blockIdx.x; r < count; r += gridDim.x)
        (void)split_row(rows + (size_t)perm[first + r] * D, c, D, 1, K, out + (size_t)r * K);
}

/* Where each set's operands and norms start: set_at[t] = Σ_{u<t} operand_rows(set_size[u]) (sets may
 * overlap, and each has its own centre). */
__device__ __forceinline__ int set_of(long long q, const long long *__restrict__ set_at, int S)
{
    int t = 0, hi = S; /* the last set starting at or before q */
    while (hi - t > 1) {
        const int mid = (t + hi) / 2;
        if (set_at[mid] <= q)
            t = mid;
        else
            hi = mid;
    }
    return t;
}

/* Every set's centre c_t (the mean of its elements in double, rounded to float; 0 for an empty
 * set): any centre gives the same results, a near one a narrow bound. Launch: a block a set. */
__global__ void set_centers(const float *__restrict__ e, int D, const long long *__restrict__ set_first,
                            const long long *__restrict__ set_size, float *__restrict__ centers)
{
    const long long first = set_first[blockIdx.x], n = set_size[blockIdx.x];
    for (int t = threadIdx.x; t < D; t += blockDim.x) {
        double sum = 0.0;
        for (long long j = first; j < first + n; ++j) sum += (double)e[j * D + t];
        centers[(size_t)blockIdx.x * D + t] = n > 0 ? (float)(sum / (double)n) : 0.0f;
    }
}

/* Operand row q of the sets (set t = set_of(q), element set_first[t] + q − set_at[t]) against its
 * set's centre, and ny[q] ← its squared centred norm (double, any order, rounded to float); a row of
 * the padding after a set's elements keeps its operands and gets norm 0 (the scan reads it, never
 * uses it). Launch: a block a row (grid-stride), kThreads. */
__global__ void __launch_bounds__(kThreads)
    set_operands(const float *__restrict__ e, int D, const long long *__restrict__ set_first,
                 const long long *__restrict__ set_size, const long long *__restrict__ set_at, int S, long long Q,
                 const float *__restrict__ centers, int K, __nv_bfloat16 *__restrict__ out, float *__restrict__ ny)
{
    typedef cub::BlockReduce<double, kThreads> reduce;
    __shared__ typename reduce::TempStorage temp;
    for (long long q = blockIdx.x; q < Q; q += gridDim.x) {
        const int t = set_of(q, set_at, S);
        if (q - set_at[t] >= set_size[t]) { /* the same for the whole block */
            if (threadIdx.x == 0) ny[q] = 0.0f;
            continue;
        }
        const long long j = set_first[t] + q - set_at[t];
        const double sq = reduce(temp).Sum(split_row(e + j * D, centers + (size_t)t * D, D, 2, K, out + q * K));
        if (threadIdx.x == 0) ny[q] = (float)sq;
        __syncthreads(); /* temp is reused */
    }
}

/* set_max[t] ← the largest squared centred norm of set t's elements, from their float squares
 * scaled by 1 + 2⁻²² (each is within 2⁻²⁴ of its double): an upper bound. Launch: a block a set. */
__global__ void set_norm_max(const float *__restrict__ ny, const long long *__restrict__ set_at,
                             const long long *__restrict__ set_size, double *__restrict__ set_max)
{
    typedef cub::BlockReduce<double, kThreads> reduce;
    __shared__ typename reduce::TempStorage temp;
    double most = 0.0;
    for (long long q = set_at[blockIdx.x] + threadIdx.x; q < set_at[blockIdx.x] + set_size[blockIdx.x]; q += kThreads)
        most = fmax(most, (double)ny[q]);
    most = reduce(temp).Reduce(most, larger());
    if (threadIdx.x == 0) set_max[blockIdx.x] = most * (1.0 + 0x1p-22);
}

/* (sq, j) pairs: the smaller sq, then the lower j (j = −1: none, with sq = +∞). An element whose sum
 * is +∞ (or NaN) never replaces none, as in nearest_in_sets' strict test: a row with no finite
 * distance keeps −1. */
__device__ __forceinline__ void take_better(double &sq, long long &j, double other_sq, long long other)
{
    if (other_sq < sq || (other_sq == sq && other >= 0 && j >= 0 && other < j)) sq = other_sq, j = other;
}

/* The least of the warp's v (none NaN): floats ordered as unsigned keys, one reduction. */
__device__ __forceinline__ float warp_min(float v)
{
    const unsigned b = __float_as_uint(v), key = b & 0x80000000u ? ~b : b | 0x80000000u;
    const unsigned least = __reduce_min_sync(0xffffffffu, key);
    return __uint_as_float(least & 0x80000000u ? least & 0x7fffffffu : ~least);
}

/* The least of the warp's v, in every lane. */
__device__ __forceinline__ double warp_min(double v)
{
    for (int o = 16; o > 0; o >>= 1) v = fmin(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Keeps, in order, the warp's candidates (a, j) [*count, at most kWarpCandidates] whose a is at most
 * bound (the least running minimum + 2b: the others cannot be nearest). Every lane calls it. */
__device__ void keep_candidates(double *cand_a, int *cand_j, int *count, double bound, int lane)
{
    const int total = min(*count, kWarpCandidates);
    int kept = 0;
    for (int base = 0; base < total; base += 32) {
        const int k = base + lane;
        const bool keep = k < total && cand_a[k] <= bound;
        const double a = keep ? cand_a[k] : 0.0;
        const int j = keep ? cand_j[k] : 0;
        const unsigned mask = __ballot_sync(0xffffffffu, keep);
        __syncwarp(); /* every lane has read this chunk: the writes land at or before it */
        if (keep) {
            const int at = kept + __popc(mask & ((1u << lane) - 1));
            cand_a[at] = a, cand_j[at] = j;
        }
        kept += __popc(mask);
        __syncwarp();
    }
    if (lane == 0) *count = kept;
    __syncwarp();
}

/* The direct kernel's squared distance, to the bit: Σ_t (x_t − y_t)², column order, no FMA. */
template <typename T>
__device__ __forceinline__ double exact_sq(const T *__restrict__ x, const float *__restrict__ y, int D)
{
    double sq = 0.0;
    for (int t = 0; t < D; ++t) {
        const double d = __dsub_rn((double)gc_widen(x[t]), (double)y[t]);
        sq = __dadd_rn(sq, __dmul_rn(d, d));
    }
    return sq;
}

/* a = ‖x − c‖² + ‖y − c‖² − 2·dot for one element (nearest_from_dots): its first minimum and its
 * scan must compute the same bits (the minimum is one of the a the scan compares). */
__device__ __forceinline__ double centred_sq(double nx, float ny, float dot)
{
    return nx + (double)ny - 2.0 * (double)dot;
}

/* What bounds the filter's dot products (file comment): |dot − (x − c)·(y − c)| ≤ rel·‖x − c‖·
 * max‖y − c‖ + tiny·(K + √D(‖x − c‖ + max‖y − c‖)) for every element y of a set centred at c. */
struct filter_error {
    double rel, tiny;
    int K;
};

/* A warp a row r < count of the group's rows (rows[perm[first + r]], stored as T) against set y
 * [n × D] centred at c (squared centred norms ny [n], rounded to float; *set_max a bound of them),
 * from dots [count × ld] ≈ (x − c)·(y − c)ᵀ within err (ld ≥ n and ny's start 16-byte aligned,
 * both padded to kDotsAlign: a lane reads 4 dots and 4 norms at once): the nearest element of the
 * set and its distance into slot t of the row, exactly as nearest_in_sets writes them (file
 * comment). With a = ‖x − c‖² + ny_j − 2·dot_j and b the bound of |a − d_j²| (the same for every
 * element of the set), only elements with a_j ≤ min a + 2b can be nearest. The dots are read once.
 * Each lane keeps a running minimum of a (starting at the warp's least a of its first 128
 * elements, never below the row's minimum) and appends the elements within 2b of it to the warp's
 * candidates in shared memory; after every step of 4·kFilterLoads dots a lane, the lanes share the
 * least minimum, and the warp drops the candidates it has passed by more than 2b when they fill
 * half the room (a candidate finding no room is recomputed exactly at once by its lane). Most
 * elements are ruled out before a is formed in double: f = ny_j − 2·dot_j in float (one rounding)
 * exceeds the limit, m + 2b − ‖x − c‖² plus 2⁻²² of the terms' magnitudes (more than both
 * roundings), rounded up, only where a_j > m + 2b, m the least minimum shared so far. At the end the
 * candidates within 2b of the row's minimum are recomputed exactly, one a lane (near duplicates
 * among the elements leave dozens within 2b). A dot that is not finite (overflow) sends the whole
 * row through the exact sums. Launch: kScanWarps warps a block. */
template <typename T>
__global__ void __launch_bounds__(kScanWarps * 32)
    nearest_from_dots(const float *__restrict__ dots, int count, long long n, long long ld, const T *__restrict__ rows,
                      const float *__restrict__ y, const float *__restrict__ c, const float *__restrict__ ny,
                      const double *__restrict__ set_max, filter_error err, int D, const int *__restrict__ perm,
                      int first, int W, int t_slot, long long *__restrict__ nearest, double *__restrict__ distance)
{
    __shared__ double candidate_a[kScanWarps][kWarpCandidates];
    __shared__ int candidate_j[kScanWarps][kWarpCandidates], candidates[kScanWarps];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    double *cand_a = candidate_a[warp];
    int *cand_j = candidate_j[warp];
    const double tail = 4.0 * (D + 8) * 0x1p-52, nmax = *set_max, smax = sqrt(nmax), root_d = sqrt((double)D);
    for (long long r = (long long)blockIdx.x * kScanWarps + warp; r < count; r += (long long)gridDim.x * kScanWarps) {
        const T *xr = rows + (size_t)perm[first + r] * D;
        const float *dr = dots + (size_t)r * ld;
        double nx = 0.0;
        for (int t = lane; t < D; t += 32) {
            const double v = (double)gc_widen(xr[t]) - (double)c[t];
            nx += v * v;
        }
        for (int o = 16; o > 0; o >>= 1) nx += __shfl_xor_sync(0xffffffffu, nx, o);
        const double sx = sqrt(nx);
        const double dot_err = err.rel * sx * smax + err.tiny * (err.K + root_d * (sx + smax));
        const double band = 2.0 * 1.01 * (2.0 * dot_err + tail * (nx + nmax) + 0x1p-23 * nmax); /* 2b */
        const double slack = 0x1p-22 * (nx + nmax + 2.0 * (sx * smax + dot_err));
        double amin = INFINITY;
        for (int v = 0; v < kDotsAlign; ++v) { /* a first minimum: the warp's first 128 elements */
            const long long j = kDotsAlign * lane + v;
            if (j < n && isfinite(dr[j])) amin = fmin(amin, centred_sq(nx, ny[j], dr[j]));
        }
        amin = warp_min(amin);
        float limit = __double2float_ru(amin + band - nx + slack);
        double best_sq = INFINITY; /* the lane's candidates that found no room */
        long long best = -1;
        bool unsafe = !(band < INFINITY);
        if (lane == 0) candidates[warp] = 0;
        __syncwarp();
        const long long steps = (n + kDotsAlign * 32 * kFilterLoads - 1) / (kDotsAlign * 32 * kFilterLoads);
        for (long long i = 0; i < steps; ++i) { /* the same steps for every lane: they share the limit */
            const long long j0 = kDotsAlign * (lane + 32 * kFilterLoads * i);
            float4 d4[kFilterLoads], q4[kFilterLoads];
#pragma unroll
            for (int u = 0; u < kFilterLoads; ++u) { /* every load first: kFilterLoads in flight */
                const long long j = j0 + kDotsAlign * 32 * u;
                const bool in = j < n; /* j + 1, …, j + 3 are in the padding at worst */
                d4[u] = in ? *(const float4 *)(dr + j) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
                q4[u] = in ? *(const float4 *)(ny + j) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            }
#pragma unroll
            for (int v = 0; v < kDotsAlign * kFilterLoads; ++v) { /* the lane's elements in order */
                const float4 &dv = d4[v / 4], &qv = q4[v / 4];
                const float dot = v % 4 == 0 ? dv.x : v % 4 == 1 ? dv.y : v % 4 == 2 ? dv.z : dv.w;
                const float q = v % 4 == 0 ? qv.x : v % 4 == 1 ? qv.y : v % 4 == 2 ? qv.z : qv.w;
                const float f = __fmaf_rn(-2.0f, dot, q);
                if (f > limit && f < INFINITY) continue; /* a > m + 2b: the common case */
                const long long j = j0 + kDotsAlign * 32 * (v / 4) + v % 4;
                if (j >= n) continue;
                if (!isfinite(dot)) {
                    unsafe = true;
                    continue;
                }
                const double a = centred_sq(nx, q, dot);
                if (a < amin) amin = a, limit = fminf(limit, __double2float_ru(amin + band - nx + slack));
                if (!(a <= amin + band)) continue;
                const int at = atomicAdd(&candidates[warp], 1);
                if (at < kWarpCandidates) {
                    cand_a[at] = a, cand_j[at] = (int)j;
                } else {
                    const double sq = exact_sq(xr, y + (size_t)j * D, D);
                    take_better(best_sq, best, sq, j);
                }
            }
            limit = warp_min(limit); /* one lane's new minimum rules elements out for all */
            __syncwarp();
            if (__shfl_sync(0xffffffffu, candidates[warp], 0) > kWarpCandidates / 2) /* lane 0's read for all */
                keep_candidates(cand_a, cand_j, &candidates[warp], warp_min(amin) + band, lane);
        }
        unsafe = __any_sync(0xffffffffu, unsafe);
        amin = warp_min(amin);
        if (!unsafe) {
            const int total = min(candidates[warp], kWarpCandidates);
            for (int k = lane; k < total; k += 32) /* one candidate a lane */
                if (cand_a[k] <= amin + band)
                    take_better(best_sq, best, exact_sq(xr, y + (size_t)cand_j[k] * D, D), cand_j[k]);
        } else {
            for (long long j = lane; j < n; j += 32) take_better(best_sq, best, exact_sq(xr, y + (size_t)j * D, D), j);
        }
        for (int o = 16; o > 0; o >>= 1)
            take_better(best_sq, best, __shfl_xor_sync(0xffffffffu, best_sq, o), __shfl_xor_sync(0xffffffffu, best, o));
        if (lane == 0) {
            const size_t at = (size_t)perm[first + r] * W + (size_t)t_slot;
            nearest[at] = best;
            distance[at] = sqrt(best_sq);
        }
        __syncwarp(); /* the candidates are read before the next row resets them */
    }
}

int grid_for(long long work)
{
    const long long blocks = (work + kThreads - 1) / kThreads;
    return (int)(blocks < 1 ? 1 : blocks > kMaxBlocks ? kMaxBlocks : blocks);
}

/* The operand kernels' grid: a block a row, up to 8·kMaxBlocks. */
int operand_grid(long long rows) { return (int)(rows < 1 ? 1 : rows < 8 * kMaxBlocks ? rows : 8 * kMaxBlocks); }

size_t aligned(size_t bytes) { return (bytes + kAlignBytes - 1) / kAlignBytes * kAlignBytes; }

/* Carves consecutive aligned pieces out of an arena; with base == NULL it only counts. */
void *carve(char *base, size_t *offset, size_t bytes)
{
    void *p = base == nullptr ? nullptr : base + *offset;
    *offset += aligned(bytes);
    return p;
}

bool is_pinned(const void *p)
{
    cudaPointerAttributes attr;
    if (cudaPointerGetAttributes(&attr, p) != cudaSuccess) {
        (void)cudaGetLastError(); /* a plain pageable pointer on old runtimes: not an error */
        return false;
    }
    return attr.type == cudaMemoryTypeHost;
}

/* What one call's batches look like: every slot is laid out for it. */
struct batch_plan {
    int64_t rows; /* per batch */
    int D, groups;
    int64_t W;
    bool copy_rows;  /* rows go up into the slot (not resident) */
    bool stage_rows; /* ... through its pinned arena (the caller's rows are pageable) */
};

/* Zero-initialised (gc_calloc) means empty. */
struct slot {
    cudaStream_t stream;
    cudaEvent_t done;
    cublasHandle_t blas;             /* the GEMM path's, on this stream */
    gc_cuda_buffer gathered, dots;   /* the GEMM path's rows of a tile and their dots */
    void *device_arena, *host_arena; /* grow-only; host_arena is pinned */
    size_t device_bytes, host_bytes;
    float *rows, *rows_host;
    int *labels, *labels_host, *perm, *counts, *row_start, *tile_start, *cursor;
    long long *nearest, *nearest_host;
    double *distance, *distance_host;
    bool busy;
    int64_t lo, n;
};

} // namespace

struct gc_fl_assign_device {
    int device_id;
    slot slots[kSlots];
    void *sets; /* group_set, set_first, set_size, e of the call's sets, their squared norms and norms */
    size_t sets_bytes;
    int force_gemm;          /* tests and benchmarks: 1 every set through the GEMM path …, −1 none */
    int64_t force_tile_rows; /* … in tiles of this many rows (0: kTileBytes of dots) */
    int last_resident;
    int64_t last_batches;
};

namespace
{

void layout_slot(slot &s, const batch_plan &p, char *dev, char *host, size_t *device_bytes, size_t *host_bytes)
{
    const size_t n = (size_t)p.rows, g = (size_t)p.groups + 1, slots = n * (size_t)p.W;
    size_t dv = 0, hv = 0;
    s.rows = (float *)carve(dev, &dv, p.copy_rows ? n * p.D * sizeof(float) : 0);
    s.labels = (int *)carve(dev, &dv, n * sizeof(int));
    s.perm = (int *)carve(dev, &dv, n * sizeof(int));
    s.counts = (int *)carve(dev, &dv, g * sizeof(int));
    s.row_start = (int *)carve(dev, &dv, g * sizeof(int));
    s.tile_start = (int *)carve(dev, &dv, g * sizeof(int));
    s.cursor = (int *)carve(dev, &dv, g * sizeof(int));
    s.nearest = (long long *)carve(dev, &dv, slots * sizeof(long long));
    s.distance = (double *)carve(dev, &dv, slots * sizeof(double));
    s.rows_host = (float *)carve(host, &hv, p.stage_rows ? n * p.D * sizeof(float) : 0);
    s.labels_host = (int *)carve(host, &hv, n * sizeof(int));
    s.nearest_host = (long long *)carve(host, &hv, slots * sizeof(long long));
    s.distance_host = (double *)carve(host, &hv, slots * sizeof(double));
    *device_bytes = dv;
    *host_bytes = hv;
}

int prepare_slot(slot &s, const batch_plan &p)
{
    size_t dv = 0, hv = 0;
    layout_slot(s, p, nullptr, nullptr, &dv, &hv);
    if (dv > s.device_bytes) {
        GC_CHECK_CUDA(cudaFree(s.device_arena));
        s.device_arena = nullptr;
        s.device_bytes = 0;
        GC_CHECK_CUDA(cudaMalloc(&s.device_arena, dv));
        s.device_bytes = dv;
    }
    if (hv > s.host_bytes) {
        GC_CHECK_CUDA(cudaFreeHost(s.host_arena));
        s.host_arena = nullptr;
        s.host_bytes = 0;
        GC_CHECK_CUDA(cudaHostAlloc(&s.host_arena, hv, cudaHostAllocDefault));
        s.host_bytes = hv;
    }
    layout_slot(s, p, (char *)s.device_arena, (char *)s.host_arena, &dv, &hv);
    return GC_OK;
}

/* Rows per batch: the backend's choice (tests), else kSlotTargetBytes a slot, halved while the
 * slots would take more than half the free memory. Any height gives the same results. */
int choose_batch(const gc_backend *b, batch_plan &p, int64_t rows)
{
    size_t free_bytes = 0, total_bytes = 0;
    GC_CHECK_CUDA(cudaMemGetInfo(&free_bytes, &total_bytes));
    const size_t per_row = (p.copy_rows ? (size_t)p.D * sizeof(float) : 0) + 2 * sizeof(int) + 16 * (size_t)p.W;
    int64_t batch = b->batch_rows > 0 ? b->batch_rows : (int64_t)(kSlotTargetBytes / per_row);
    batch = batch < 1 ? 1 : batch > rows ? rows : batch;
    batch = batch > (1 << 30) ? (1 << 30) : batch; /* int row numbers inside a batch */
    while (batch > 1 && (size_t)batch * per_row * kSlots > free_bytes / 2) batch /= 2;
    if ((size_t)batch * per_row * kSlots > free_bytes)
        return gc_fail(GC_ERR_MEMORY, "GPU %d: %zu MiB free, too little for the assignment pass", b->device_id,
                       free_bytes >> 20);
    p.rows = batch;
    return GC_OK;
}

/* The bound of the filter's dot products at width D (file comment): the 16-bit products are
 * exact in FP32; the tensor cores' FP32 sums of K terms are taken as off by u = 2⁻²¹ each (eight
 * times FP32's unit roundoff: they align and truncate, and cuBLAS may split K), γ_K = K·u/(1 − K·u)
 * of Σ|terms| ≤ 1.02·Σ|v_t||w_t|; the split leaves out x_l·y_l and the remainders of both roundings,
 * ≤ 3.2·2⁻¹⁶|v_t||w_t| a column (v, w: the centred values); tiny covers values, products and sums
 * flushed below FP32's normal range. */
filter_error filter_bound(int D)
{
    const int K = (3 * D + kOperandAlign - 1) / kOperandAlign * kOperandAlign;
    const double u = 0x1p-21, gamma = K * u / (1.0 - K * u);
    return filter_error{ 3.2 * 0x1p-16 + 1.02 * gamma, 0x1p-120, K };
}

/* The sets in device memory: [group_set | set_first | set_size | set_at] as long long, then e; the
 * filter's per set: centres [S × D], operands [Q × K] and squared centred norms [Q] of its elements
 * from set_at[t] (Q = Σ operand_rows(set sizes)), and their bound [S]. */
struct device_sets {
    const long long *group_set, *set_first, *set_size;
    const float *e, *centers;
    const __nv_bfloat16 *operands;
    const float *ny;
    const double *set_max;
    filter_error err;
};

/* Copies the sets up on `stream`, makes the filter's centres, operands and norms (with_filter: for the
 * GEMM path), and waits: every slot's stream reads them. */
int upload_sets(gc_fl_assign_device *dev, const gc_fl_sets *sets, int D, bool with_filter, cudaStream_t stream,
                device_sets *out)
{
    const size_t G = (size_t)sets->groups, S = (size_t)sets->group_set[sets->groups], R = (size_t)sets->rows;
    const filter_error err = filter_bound(D);
    long long *set_at = (long long *)gc_malloc((S + 1) * sizeof *set_at);
    GC_CHECK_ALLOC(set_at);
    set_at[0] = 0;
    for (size_t t = 0; t < S; ++t) set_at[t + 1] = set_at[t] + operand_rows(sets->set_size[t]);
    const size_t Q = with_filter ? (size_t)set_at[S] : 0;
    const size_t index_bytes = (G + 1 + 3 * S) * sizeof(long long), e_bytes = R * D * sizeof(float);
    size_t bytes = 0;
    for (size_t piece : { index_bytes, e_bytes, S * D * sizeof(float), Q * err.K * sizeof(__nv_bfloat16),
                          Q * sizeof(float), S * sizeof(double) })
        carve(nullptr, &bytes, piece);
    int status = GC_OK;
    if (bytes > dev->sets_bytes) {
        (void)cudaFree(dev->sets);
        dev->sets = nullptr;
        dev->sets_bytes = 0;
        if (cudaMalloc(&dev->sets, bytes) == cudaSuccess)
            dev->sets_bytes = bytes;
        else
            status = gc_fail(GC_ERR_DEVICE, "GPU %d: no room for the %zu MiB of the assignment's sets", dev->device_id,
                             bytes >> 20);
    }
    device_sets ds = {};
    long long *index = nullptr;
    if (status == GC_OK) {
        size_t at = 0;
        char *base = (char *)dev->sets;
        index = (long long *)carve(base, &at, index_bytes);
        float *e = (float *)carve(base, &at, e_bytes), *centers = (float *)carve(base, &at, S * D * sizeof(float));
        __nv_bfloat16 *ops = (__nv_bfloat16 *)carve(base, &at, Q * err.K * sizeof(__nv_bfloat16));
        float *ny = (float *)carve(base, &at, Q * sizeof(float));
        double *set_max = (double *)carve(base, &at, S * sizeof(double));
        ds = device_sets{ index, index + G + 1, index + G + 1 + S, e, centers, ops, ny, set_max, err };
    }
    static_assert(sizeof(long long) == sizeof(int64_t), "set tables are copied as they are");
    const struct {
        const void *from;
        size_t bytes;
        void *to;
    } copies[] = { { sets->group_set, (G + 1) * sizeof(long long), index },
                   { sets->set_first, S * sizeof(long long), (void *)ds.set_first },
                   { sets->set_size, S * sizeof(long long), (void *)ds.set_size },
                   { set_at, S * sizeof(long long), index + G + 1 + 2 * S },
                   { sets->e, e_bytes, (void *)ds.e } };
    for (const auto &c : copies)
        if (status == GC_OK && c.bytes > 0 &&
            cudaMemcpyAsync(c.to, c.from, c.bytes, cudaMemcpyHostToDevice, stream) != cudaSuccess)
            status = gc_fail(GC_ERR_DEVICE, "cannot copy the assignment's sets to GPU %d", dev->device_id);
    if (status == GC_OK && S > 0) {
        const long long *device_at = index + G + 1 + 2 * S;
        set_centers<<<(unsigned)S, kThreads, 0, stream>>>(ds.e, D, ds.set_first, ds.set_size, (float *)ds.centers);
        if (Q > 0) {
            set_operands<<<operand_grid((long long)Q), kThreads, 0, stream>>>(
                ds.e, D, ds.set_first, ds.set_size, device_at, (int)S, (long long)Q, ds.centers, err.K,
                (__nv_bfloat16 *)ds.operands, (float *)ds.ny);
            set_norm_max<<<(unsigned)S, kThreads, 0, stream>>>(ds.ny, device_at, ds.set_size, (double *)ds.set_max);
        }
        if (cudaGetLastError() != cudaSuccess)
            status = gc_fail(GC_ERR_DEVICE, "cannot prepare the assignment's sets on GPU %d", dev->device_id);
    }
    /* set_at is read by the copy above: wait before it goes */
    if (cudaStreamSynchronize(stream) != cudaSuccess && status == GC_OK)
        status = gc_fail(GC_ERR_DEVICE, "GPU %d failed preparing the assignment's sets", dev->device_id);
    free(set_at);
    *out = ds;
    return status;
}

/* The GEMM path (file comment) for the sets of at least gemm_from elements, queued on the slot's
 * stream after the batch's rows were grouped into s.perm: rows [n × D] of `rows` (batch-local),
 * groups counted here on the host the way count_groups does, so a group's rows are known to be
 * perm[start[g], start[g + 1]). */
int issue_gemm_sets(slot &s, const batch_plan &p, const device_sets &ds, const gc_fl_sets *sets, gc_cuda_rows rows,
                    const int32_t *group, int64_t lo, int64_t n, long long gemm_from, int64_t tile_rows)
{
    const int D = p.D, G = p.groups;
    int64_t *start = (int64_t *)gc_calloc((size_t)G + 1, sizeof *start);
    GC_CHECK_ALLOC(start);
    for (int64_t i = 0; i < n; ++i) {
        const int g = group != nullptr ? group[lo + i] : 0;
        if (g >= 0 && g < G && sets->group_set[g + 1] > sets->group_set[g]) start[g + 1]++;
    }
    for (int g = 0; g < G; ++g) start[g + 1] += start[g];
    const filter_error &err = ds.err;
    const size_t operand_row = (size_t)err.K * sizeof(__nv_bfloat16);
    const float one = 1.0f, zero = 0.0f;
    int status = GC_OK;
    long long set_at = 0; /* where set t's operands start (upload_sets' set_at) */
    for (int g = 0, t = 0; g < G && status == GC_OK; ++g) {
        const int64_t count = start[g + 1] - start[g];
        for (; t < sets->group_set[g + 1] && status == GC_OK; set_at += operand_rows(sets->set_size[t++])) {
            const int64_t ns = sets->set_size[t];
            if (ns < gemm_from || ns == 0 || count == 0) continue;
            const int64_t ld = operand_rows(ns); /* a row's dots */
            const int64_t fit = tile_rows > 0 ? tile_rows : (int64_t)(kTileBytes / ((size_t)ld * sizeof(float)));
            const int64_t tile = fit < 1 ? 1 : fit < count ? fit : count;
            const float *c = ds.centers + (size_t)t * D;
            status = gc_cuda_reserve(s.stream, &s.gathered, (size_t)tile * operand_row);
            if (status == GC_OK) status = gc_cuda_reserve(s.stream, &s.dots, (size_t)tile * ld * sizeof(float));
            for (int64_t r0 = 0; r0 < count && status == GC_OK; r0 += tile) {
                const int rows_now = (int)(count - r0 < tile ? count - r0 : tile), first = (int)(start[g] + r0);
                float *dots = (float *)s.dots.ptr;
                status = gc_with_precision(rows.precision, [&](auto stored) -> int {
                    using T = decltype(stored);
                    row_operands<T><<<operand_grid(rows_now), kThreads, 0, s.stream>>>(
                        (const T *)rows.data, D, s.perm, first, rows_now, c, err.K, (__nv_bfloat16 *)s.gathered.ptr);
                    GC_CHECK_LAUNCH();
                    /* Column-major: dots [ns × rows_now] = set operandsᵀ-as-stored · row operands, a
                     * row's dots contiguous. */
                    GC_CHECK_CUBLAS(cublasGemmEx(s.blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)ns, rows_now, err.K, &one,
                                                 ds.operands + (size_t)set_at * err.K, CUDA_R_16BF, err.K,
                                                 s.gathered.ptr, CUDA_R_16BF, err.K, &zero, dots, CUDA_R_32F, (int)ld,
                                                 CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
                    const int warps = (rows_now + kScanWarps - 1) / kScanWarps;
                    const int grid = warps < kMaxBlocks * 8 ? warps : kMaxBlocks * 8;
                    nearest_from_dots<T><<<grid, kScanWarps * 32, 0, s.stream>>>(
                        dots, rows_now, ns, ld, (const T *)rows.data, ds.e + (size_t)sets->set_first[t] * D, c,
                        ds.ny + set_at, ds.set_max + t, err, D, s.perm, first, (int)p.W, (int)(t - sets->group_set[g]),
                        s.nearest, s.distance);
                    GC_CHECK_LAUNCH();
                    return GC_OK;
                });
            }
        }
    }
    free(start);
    return status;
}

/* Issues batch [lo, lo + n) on the slot's stream (see the file comment). */
int issue_batch(slot &s, const batch_plan &p, const device_sets &ds, const gc_fl_sets *sets, const float *e,
                gc_cuda_rows resident, const int32_t *group, int64_t lo, int64_t n, long long gemm_from,
                int64_t tile_rows)
{
    const int D = p.D, G = p.groups;
    const size_t row_bytes = (size_t)n * D * sizeof(float);
    if (group != nullptr) {
        memcpy(s.labels_host, group + lo, (size_t)n * sizeof(int));
        GC_CHECK_CUDA(
            cudaMemcpyAsync(s.labels, s.labels_host, (size_t)n * sizeof(int), cudaMemcpyHostToDevice, s.stream));
    } else {
        GC_CHECK_CUDA(cudaMemsetAsync(s.labels, 0, (size_t)n * sizeof(int), s.stream));
    }
    if (resident.data == nullptr) {
        const float *src = e + lo * D;
        if (p.stage_rows) {
            gc_copy_parallel(s.rows_host, src, row_bytes);
            src = s.rows_host;
        }
        GC_CHECK_CUDA(cudaMemcpyAsync(s.rows, src, row_bytes, cudaMemcpyHostToDevice, s.stream));
    }
    GC_CHECK_CUDA(cudaMemsetAsync(s.counts, 0, ((size_t)G + 1) * sizeof(int), s.stream));
    count_groups<<<grid_for(n), kThreads, 0, s.stream>>>(s.labels, (int)n, G, ds.group_set, s.counts);
    GC_CHECK_LAUNCH();
    plan_groups<<<1, kScanThreads, 0, s.stream>>>(s.counts, G, s.row_start, s.tile_start, s.cursor);
    GC_CHECK_LAUNCH();
    scatter_rows<<<grid_for(n), kThreads, 0, s.stream>>>(s.labels, (int)n, G, ds.group_set, s.cursor, s.perm);
    GC_CHECK_LAUNCH();
    const long long slots = (long long)n * p.W;
    fill_empty<<<grid_for(slots), kThreads, 0, s.stream>>>(s.nearest, s.distance, slots);
    GC_CHECK_LAUNCH();
    const long long blocks = (n + kRows - 1) / kRows + (G < n ? G : n);
    const gc_cuda_rows rows = resident.data != nullptr ? resident : gc_cuda_rows{ s.rows, GC_PRECISION_FP32, nullptr };
    GC_TRY(gc_with_precision(rows.precision, [&](auto stored) -> int {
        using T = decltype(stored);
        nearest_in_sets<<<(unsigned)blocks, kRows, 0, s.stream>>>(
            (const T *)rows.data + lo * (resident.data != nullptr ? D : 0), D, s.perm, s.row_start, s.tile_start, G,
            ds.group_set, ds.set_first, ds.set_size, ds.e, (int)p.W, gemm_from, s.nearest, s.distance);
        GC_CHECK_LAUNCH();
        return GC_OK;
    }));
    if (gemm_from < LLONG_MAX) {
        const gc_cuda_rows batch = { (const char *)rows.data +
                                         (resident.data != nullptr ? (size_t)lo * D * gc_precision_bytes(rows.precision)
                                                                   : 0),
                                     rows.precision, nullptr };
        GC_TRY(issue_gemm_sets(s, p, ds, sets, batch, group, lo, n, gemm_from, tile_rows));
    }
    GC_CHECK_CUDA(cudaMemcpyAsync(s.nearest_host, s.nearest, (size_t)slots * sizeof(long long), cudaMemcpyDeviceToHost,
                                  s.stream));
    GC_CHECK_CUDA(
        cudaMemcpyAsync(s.distance_host, s.distance, (size_t)slots * sizeof(double), cudaMemcpyDeviceToHost, s.stream));
    GC_CHECK_CUDA(cudaEventRecord(s.done, s.stream));
    s.busy = true;
    s.lo = lo;
    s.n = n;
    return GC_OK;
}

/* Waits for the slot's batch and moves its results to the caller's arrays. */
int collect_batch(slot &s, const batch_plan &p, int64_t *nearest, double *distance, gc_progress *progress)
{
    if (!s.busy) return GC_OK;
    s.busy = false;
    GC_CHECK_CUDA(cudaEventSynchronize(s.done));
    const size_t slots = (size_t)s.n * p.W;
    gc_copy_parallel(nearest + s.lo * p.W, s.nearest_host, slots * sizeof *nearest);
    gc_copy_parallel(distance + s.lo * p.W, s.distance_host, slots * sizeof *distance);
    if (progress != nullptr) gc_progress_update(progress, s.lo + s.n); /* batches come back in order */
    return GC_OK;
}

int device_create(int device_id, gc_fl_assign_device **out)
{
    gc_fl_assign_device *dev = (gc_fl_assign_device *)gc_calloc(1, sizeof *dev);
    GC_CHECK_ALLOC(dev);
    dev->device_id = device_id;
    *out = dev; /* released by the backend, also when a step below fails */
    for (slot &s : dev->slots) {
        GC_CHECK_CUDA(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
        GC_CHECK_CUDA(cudaEventCreateWithFlags(&s.done, cudaEventDisableTiming));
        GC_CHECK_CUBLAS(cublasCreate(&s.blas));
        GC_CHECK_CUBLAS(cublasSetStream(s.blas, s.stream));
        /* FP32 sums throughout, split-K's included: the filter's bound assumes them. */
        GC_CHECK_CUBLAS(cublasSetMathMode(
            s.blas, (cublasMath_t)(CUBLAS_DEFAULT_MATH | CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)));
    }
    return GC_OK;
}

int run_batches(gc_backend *b, gc_fl_assign_device *dev, const float *e, int64_t rows, int D, const int32_t *group,
                const gc_fl_sets *sets, int64_t W, int64_t *nearest, double *distance, gc_progress *progress)
{
    const gc_cuda_rows resident = gc_cuda_resident(b, e, rows, D);
    /* Sets from this size on take the GEMM path (every set when a test forces it) … */
    long long gemm_from = dev->force_gemm > 0   ? 1
                          : dev->force_gemm < 0 ? LLONG_MAX
                          : D >= kGemmMinD      ? kGemmMinSet
                                                : LLONG_MAX;
    /* … unless the filter's operands (6 bytes a column of every set element, 1.5 times the sets'
     * floats) would take more than a quarter of the free memory: then the direct kernel takes every
     * set, with the same bits. */
    if (gemm_from != LLONG_MAX && dev->force_gemm <= 0) {
        size_t free_bytes = 0, total_bytes = 0;
        GC_CHECK_CUDA(cudaMemGetInfo(&free_bytes, &total_bytes));
        double elements = 0.0;
        for (int64_t t = 0; t < sets->group_set[sets->groups]; ++t) elements += (double)operand_rows(sets->set_size[t]);
        if (elements * filter_bound(D).K * sizeof(__nv_bfloat16) > 0.25 * (double)free_bytes) gemm_from = LLONG_MAX;
    }
    device_sets ds;
    GC_TRY(upload_sets(dev, sets, D, gemm_from != LLONG_MAX, dev->slots[0].stream, &ds));
    batch_plan p = { 0, D, sets->groups, W, resident.data == nullptr, resident.data == nullptr && !is_pinned(e) };
    GC_TRY(choose_batch(b, p, rows));
    for (slot &s : dev->slots) GC_TRY(prepare_slot(s, p));
    dev->last_resident = resident.data != nullptr;
    dev->last_batches = 0;
    for (int64_t lo = 0; lo < rows; lo += p.rows) {
        slot &s = dev->slots[dev->last_batches++ % kSlots];
        GC_TRY(collect_batch(s, p, nearest, distance, progress));
        GC_TRY(issue_batch(s, p, ds, sets, e, resident, group, lo, rows - lo < p.rows ? rows - lo : p.rows, gemm_from,
                           dev->force_gemm > 0 ? dev->force_tile_rows : 0));
    }
    for (int t = 0; t < kSlots; ++t) /* the older batch first */
        GC_TRY(collect_batch(dev->slots[(dev->last_batches + t) % kSlots], p, nearest, distance, progress));
    return GC_OK;
}

} // namespace

extern "C" int gc_cuda_fl_assign(gc_backend *b, const float *e, int64_t rows, int D, const int32_t *group,
                                 const gc_fl_sets *sets, int64_t *nearest, double *distance, gc_progress *progress)
{
    const int64_t W = gc_fl_sets_width(sets);
    if (rows == 0 || W == 0) return GC_OK;
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    gc_fl_assign_device **state = gc_cuda_fl_assign_slot(b);
    if (*state == nullptr) GC_TRY(device_create(b->device_id, state));
    gc_fl_assign_device *dev = *state;
    const int status = run_batches(b, dev, e, rows, D, group, sets, W, nearest, distance, progress);
    /* On failure batches may still be in flight: let them finish before their buffers are reused. */
    for (slot &s : dev->slots) {
        (void)cudaStreamSynchronize(s.stream);
        s.busy = false;
    }
    return status;
}

extern "C" void gc_cuda_fl_assign_release(gc_backend *b, gc_fl_assign_device *dev)
{
    if (dev == nullptr) return;
    (void)cudaSetDevice(b->device_id);
    for (slot &s : dev->slots) {
        gc_cuda_release(s.stream, &s.gathered);
        gc_cuda_release(s.stream, &s.dots);
        gc_cuda_stream_end(s.stream, s.blas);
        if (s.done) (void)cudaEventDestroy(s.done);
        (void)cudaFree(s.device_arena);
        (void)cudaFreeHost(s.host_arena);
    }
    (void)cudaFree(dev->sets);
    free(dev);
}

extern "C" int gc_cuda_fl_assign_last_resident(gc_backend *b)
{
    const gc_fl_assign_device *dev = *gc_cuda_fl_assign_slot(b);
    return dev != nullptr && dev->last_resident;
}

extern "C" int64_t gc_cuda_fl_assign_last_batches(gc_backend *b)
{
    const gc_fl_assign_device *dev = *gc_cuda_fl_assign_slot(b);
    return dev != nullptr ? dev->last_batches : 0;
}

extern "C" int gc_cuda_fl_radius(gc_backend *b, const float *e, int64_t rows, int D, const double *center,
                                 double *radius)
{
    const gc_cuda_rows kept = gc_cuda_resident(b, e, rows, D);
    if (kept.data == nullptr) { /* rows the device does not hold: measured where they are */
        if (e == nullptr && rows > 0)
            return gc_fail(GC_ERR_DEVICE, "GPU %d holds no embeddings to measure", b->device_id);
        *radius = gc_cpu_fl_radius(e, rows, D, center);
        return GC_OK;
    }
    *radius = 0.0;
    if (rows == 0) return GC_OK;
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    gc_fl_assign_device **state = gc_cuda_fl_assign_slot(b);
    if (*state == nullptr) GC_TRY(device_create(b->device_id, state));
    const cudaStream_t stream = (*state)->slots[0].stream;
    const long long tiles = (rows + kRows - 1) / kRows;
    const int blocks = (int)(tiles < 8 * kMaxBlocks ? tiles : 8 * kMaxBlocks);
    const size_t center_bytes = (size_t)D * sizeof(double), max_bytes = (size_t)blocks * sizeof(double);
    double *block_max = (double *)gc_malloc(max_bytes);
    gc_cuda_buffer buffer = {};
    int status = block_max != nullptr ? gc_cuda_reserve(stream, &buffer, center_bytes + max_bytes)
                                      : gc_fail(GC_ERR_MEMORY, "out of memory for the similarity constant");
    double *device_center = (double *)buffer.ptr, *device_max = (double *)((char *)buffer.ptr + center_bytes);
    if (status == GC_OK &&
        cudaMemcpyAsync(device_center, center, center_bytes, cudaMemcpyHostToDevice, stream) != cudaSuccess)
        status = gc_fail(GC_ERR_DEVICE, "cannot copy the mean embedding to GPU %d", b->device_id);
    if (status == GC_OK)
        status = gc_with_precision(kept.precision, [&](auto stored) -> int {
            using T = decltype(stored);
            farthest_from<T><<<blocks, kRows, 0, stream>>>((const T *)kept.data, rows, D, device_center, device_max);
            GC_CHECK_LAUNCH();
            return GC_OK;
        });
    if (status == GC_OK &&
        (cudaMemcpyAsync(block_max, device_max, max_bytes, cudaMemcpyDeviceToHost, stream) != cudaSuccess ||
         cudaStreamSynchronize(stream) != cudaSuccess))
        status = gc_fail(GC_ERR_DEVICE, "cannot read the similarity constant back from GPU %d", b->device_id);
    for (int t = 0; t < blocks && status == GC_OK; ++t)
        if (block_max[t] > *radius) *radius = block_max[t];
    gc_cuda_release(stream, &buffer);
    free(block_max);
    return status;
}

extern "C" int gc_cuda_fl_assign_force_gemm(gc_backend *b, int mode, int64_t tile_rows)
{
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    gc_fl_assign_device **state = gc_cuda_fl_assign_slot(b);
    if (*state == nullptr) GC_TRY(device_create(b->device_id, state));
    (*state)->force_gemm = mode;
    (*state)->force_tile_rows = tile_rows;
    return GC_OK;
}
