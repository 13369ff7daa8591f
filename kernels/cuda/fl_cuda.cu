/* Facility-location greedy on the GPU (see fl_cuda.h); kernels/cpu/greedy_fl_cpu.c is its oracle.
 *
 * Similarities: s_ij = c - sqrt(max(0, n_i + n_j - 2 e_i·e_j)), the dot products by cuBLAS (DSYRK for
 * a whole block, DGEMM for tiles of rows), kept in double: in float, the cancellation in
 * n_i + n_j - 2 e_i·e_j and the rounding of s near c make late gains (small differences of
 * similarities) wrong in the third digit and near-ties go the other way than on the CPU oracle.
 * Hopper's FP64 rate makes the product cheap; the greedy, which is bound by memory traffic, reads
 * 8-byte similarities.
 * "Rows" of the block are produced by one of two sources, chosen per problem:
 *   materialized  the whole m×m block lives in device memory (m²·8 bytes; one triangle computed,
 *                 the other mirrored), rows are read in place;
 *   recompute     rows are computed on demand by a GEMM tile [rows × m] (2·rows·m·D flops).
 * The block is symmetric, so row j doubles as column j and every access below is coalesced.
 *
 * Exact greedy maintains every gain g_j = Σ_i w_i max(0, s_ij - cur_i) incrementally: when j* is
 * selected, only rows i with s_ij* > cur_i change, and g_j drops by
 * Σ_{changed i} w_i (max(0, s_ij - cur_i) - max(0, s_ij - s_ij*)). A step therefore reads
 * changed × m similarities (bytes = 8·changed·m) instead of m². Partial sums are reduced in a fixed
 * order, so results are deterministic run to run.
 *
 * Device-side control. The whole step — argmax, coverage update, the list of raised rows, the gain
 * decrements, the stopping test (κ reached, or gc_cover_reached) — runs without the host: the chosen
 * element, the raised-row count, the objective and a `done` flag live in a `control` block in device
 * memory, and every kernel of a step reads them there. The decrement's grid is what the GPU holds
 * at once and its blocks take work items (a slice of raised rows and a block's width of columns)
 * from a device-side ticket, however many rows the count says; once `done` is set every later
 * kernel returns. The host enqueues all κ steps back to back (with a
 * cover target, chunks of kCoverChunk steps and a look at `done` between chunks). We chose this
 * over CUDA graphs or a persistent kernel because it keeps the kernels, their grids and so their
 * reduction orders exactly those of the host-driven loop (the bits do not move), needs no
 * grid-wide synchronisation, and lets several problems share the GPU on their own streams.
 * With the block materialized an exact step is three launches: the decrements, finish_step (the
 * decrements applied, coverage raised, each block's best) and choose_exact, whose blocks each take
 * the same argmax and list the rows of their 2,048-row chunk that the choice raises for the next
 * step's decrements (warp ballots and a scan of the warps' counts: runs in ascending order, as a
 * device-wide select would give them, in no launch of their own).
 * The recompute path keeps one host round trip a step in exact greedy: the GEMM that recomputes
 * the raised rows is sized by their count. Stochastic greedy needs none in either path (its sample
 * size is known to the host; the draw itself runs on the device).
 *
 * Many problems (fl_greedy_many): up to kMaxLanes lanes, each a stream with its own cuBLAS handle
 * and buffers, run problems concurrently; at m = 4,096 and κ = 9 a problem is ~35 small launches
 * and a 134 MB block, so what one lane leaves idle (launch gaps, one-block kernels, the upload) the
 * others fill. Each lane is driven by a host thread of its own (drive_lane): one thread launching
 * every lane's steps in turn set the rate of problems of many steps (merges of thousands of
 * candidates, CREST's subsets), though not of the partitions' nine (docs/design.md §4.1).
 * A problem runs the same kernels with the same shapes in any lane, so its results are the bits
 * fl_greedy gives it alone. */
#include <cub/cub.cuh>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <limits.h>
#include <math.h>
#include <mpi.h> /* before the extern "C" block: it brings C++ bindings of its own */
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "kernels/backend.h" /* first with C linkage: gc_run_tasks */
}
#include "cuda_check.h"
#include "fl_cuda.h"
#include "rows.cuh"

namespace
{

constexpr int kThreads = 256;
constexpr int kInitRows = kThreads / 32;   /* rows per block of init_block: a warp each */
constexpr int kListThreads = 1024;         /* list_raised and greedy_small: one block */
constexpr int kDecrementRowsPerSlice = 64; /* changed rows handled by one grid row of the decrement */
constexpr int kMaxSlices = 64;
constexpr int kDecrementLoads = 8;        /* similarities a decrement thread has in flight */
constexpr int kTile = 64;                 /* finish_tiles' tiles are kTile × kTile; a gain's chunks kTile columns */
constexpr int kChunkGroup = 32;           /* chunk sums a gain adds before adding the groups (chunks_of) */
constexpr int kDefaultMathRows = 8192;    /* larger blocks: DSYRK in cuBLAS's default math (start) */
constexpr int kSmallBlock = kListThreads; /* blocks of at most this many rows greedy in one kernel (greedy_small) */
constexpr int kListBallots = 8;           /* raised-row tests a choose_exact lane makes at once */
constexpr int kListChunk = kThreads * kListBallots; /* rows a choose_exact block lists */
constexpr int kMaxRuns = 256;                       /* chunks of a materialized block: m ≤ 524,288 */
constexpr int kMaxLanes = 8;                        /* problems in flight at once (fl_greedy_many) */
constexpr int64_t kCoverChunk = 32; /* steps enqueued between looks at `done` when a cover target is set */

/* One device buffer grown on demand (stream-ordered allocations come from the pool). */
struct buffer {
    void *ptr = nullptr;
    size_t bytes = 0;
};

/* What the steps of one greedy read and write on the device instead of asking the host. */
struct control {
    int j;            /* the element the latest step chose */
    int raised;       /* exact greedy: rows whose coverage that element raises */
    int steps;        /* steps taken */
    int done;         /* κ steps taken or the cover target reached: every later kernel returns */
    double objective; /* Σ gains, in step order (the host loop's sum) */
    double bytes;     /* similarity bytes the steps read (the roofline numerator) */
    int ticket;       /* gain_decrements' next work item (reset by choose_exact) */
};

/* The stopping test's constants (gc_cover_reached). */
struct stop_rule {
    int64_t kappa;
    double c, total_weight, cover_target;
};

/* An element and its gain in argmax order: larger gain, then lower position. slot: where it sits
 * in the scored list (stochastic greedy). */
struct candidate {
    double gain;
    int pos, slot;
};

struct better {
    __device__ candidate operator()(const candidate &a, const candidate &b) const
    {
        return (b.gain > a.gain || (b.gain == a.gain && b.pos < a.pos)) ? b : a;
    }
};

/* A row count known to the device (the raised rows of a step) or to the host (a recompute tile). */
struct row_count {
    const int *dev;
    int host;
    __device__ int get() const { return dev ? *dev : host; }
};

} // namespace

/* One lane: a stream, its cuBLAS handle, the buffers of the problem it runs, and pinned mirrors of
 * what comes back. */
struct fl_lane {
    cudaStream_t stream;
    cublasHandle_t blas;
    cudaEvent_t ready;
    buffer e32, e, n, S, tile, eg, ng, w, cur, g, taken, list, runs, partial, best, ctl, rows, out, rest, selected,
        gains, nearest_value, nearest_index, pick;
    control *host_ctl;
    int *host_selected, *host_assign;
    double *host_gains;
    int64_t host_kappa, host_m; /* capacity of the pinned mirrors */
};

struct gc_fl_device {
    int device_id;
    int lanes_made;
    fl_lane lanes[kMaxLanes];
    int force_recompute;
    int force_steps; /* no greedy_small (gc_cuda_fl_force_steps) */
    int last_materialized;
    int decrement_blocks; /* gain_decrements' grid when the count is the device's: what fits the GPU at once */
    int hold;             /* fl_hold: the lanes keep their buffers after a call */
    double last_bytes;    /* similarity bytes the last call wrote and read (its roofline numerator) */
};

namespace
{

int reserve(fl_lane *L, buffer &b, size_t bytes)
{
    if (b.bytes >= bytes) return GC_OK;
    if (b.ptr) GC_CHECK_CUDA(cudaFreeAsync(b.ptr, L->stream));
    b.ptr = nullptr;
    b.bytes = 0;
    GC_CHECK_CUDA(cudaMallocAsync(&b.ptr, bytes > 0 ? bytes : 1, L->stream));
    b.bytes = bytes;
    return GC_OK;
}

/* f(buffer) for every device buffer of a lane. */
template <typename Lane, typename F> void each_buffer(Lane *L, F f)
{
    for (auto *b : { &L->e32,
                     &L->e,
                     &L->n,
                     &L->S,
                     &L->tile,
                     &L->eg,
                     &L->ng,
                     &L->w,
                     &L->cur,
                     &L->g,
                     &L->taken,
                     &L->list,
                     &L->runs,
                     &L->partial,
                     &L->best,
                     &L->ctl,
                     &L->rows,
                     &L->out,
                     &L->rest,
                     &L->selected,
                     &L->gains,
                     &L->nearest_value,
                     &L->nearest_index,
                     &L->pick })
        f(*b);
}

/* Gives a lane's device buffers back (end of a call unless held: a 40k block is 12.8 GB). */
void lane_trim(fl_lane *L)
{
    each_buffer(L, [&](buffer &b) {
        if (b.ptr) (void)cudaFreeAsync(b.ptr, L->stream);
        b = buffer();
    });
}

/* Device bytes a lane holds (fl_hold keeps them between calls). */
size_t lane_bytes(const fl_lane *L)
{
    size_t bytes = 0;
    each_buffer(L, [&](const buffer &b) { bytes += b.bytes; });
    return bytes;
}

/* The pinned mirrors, grown to κ and m. */
int lane_host(fl_lane *L, int64_t kappa, int64_t m)
{
    if (L->host_ctl == nullptr) GC_CHECK_CUDA(cudaMallocHost((void **)&L->host_ctl, sizeof(control)));
    if (L->host_kappa < kappa) {
        cudaFreeHost(L->host_selected);
        cudaFreeHost(L->host_gains);
        L->host_selected = nullptr;
        L->host_gains = nullptr;
        L->host_kappa = 0;
        GC_CHECK_CUDA(cudaMallocHost((void **)&L->host_selected, (size_t)kappa * sizeof(int)));
        GC_CHECK_CUDA(cudaMallocHost((void **)&L->host_gains, (size_t)kappa * sizeof(double)));
        L->host_kappa = kappa;
    }
    if (L->host_m < m) {
        cudaFreeHost(L->host_assign);
        L->host_assign = nullptr;
        L->host_m = 0;
        GC_CHECK_CUDA(cudaMallocHost((void **)&L->host_assign, (size_t)m * sizeof(int)));
        L->host_m = m;
    }
    return GC_OK;
}

inline unsigned blocks(long n) { return (unsigned)((n + kThreads - 1) / kThreads); }

/* The decrement's slices for `count` raised rows: as many grid rows as 64-row slices, at most 64. */
__host__ __device__ int slices_for(int count)
{
    return min(kMaxSlices, (count + kDecrementRowsPerSlice - 1) / kDecrementRowsPerSlice);
}

/* The chosen element's similarity row: a recomputed GEMM row, or row ctl->j of the block. */
__device__ const double *chosen_row(const double *S, const double *fixed, const control *ctl, int m)
{
    return fixed ? fixed : S + (size_t)ctl->j * m;
}

/* Records step `step`'s choice and applies the stopping test (gc_cover_reached, each operation
 * rounded on its own as on the host). One thread. */
__device__ void record(control *ctl, int64_t step, int j, double gain, int *selected, double *gains,
                       const stop_rule &rule)
{
    ctl->j = j;
    selected[step] = j;
    gains[step] = gain;
    ctl->steps = (int)step + 1;
    ctl->objective = __dadd_rn(ctl->objective, gain);
    ctl->done = step + 1 == rule.kappa || (rule.cover_target > 0.0 && __dsub_rn(__dmul_rn(rule.c, rule.total_weight),
                                                                                ctl->objective) <= rule.cover_target);
}

/* ed = (double)e, n_i = ‖e_i‖², w = 1 when no weights were given, cur = 0, nothing taken, rest =
 * 0 … m−1, and a fresh control block. A warp a row: its lanes convert the row with coalesced loads
 * and stores, then lane 0 sums the norm in column order (the CPU twin's order) from the lines the
 * warp just brought into L1. A thread a row had 16 blocks at m = 4,096 and took 0.1 ms, as long as
 * the partition's GEMM. Grid: ceil(m/kInitRows) blocks of kThreads. */
__global__ void init_block(const float *e, int m, int D, double *ed, double *norms, double *w, int unit_weights,
                           double *cur, unsigned char *taken, int *rest, control *ctl)
{
    const int lane = threadIdx.x % 32, i = blockIdx.x * kInitRows + threadIdx.x / 32;
    if (blockIdx.x == 0 && threadIdx.x == 0) *ctl = control{ 0, 0, 0, 0, 0.0, 0.0, 0 };
    if (i >= m) return;
    const float *row = e + (size_t)i * D;
    for (int t = lane; t < D; t += 32) ed[(size_t)i * D + t] = row[t];
    if (lane != 0) return;
    double s = 0.0;
    for (int t = 0; t < D; ++t) {
        double v = row[t];
        s += v * v;
    }
    norms[i] = s;
    if (unit_weights) w[i] = 1.0;
    cur[i] = 0.0;
    taken[i] = 0;
    rest[i] = i;
}

/* eg[r] = e[rows[r]] and ng[r] = n[rows[r]]: the rows of a recompute tile. Grid: count blocks. */
__global__ void gather_rows(const double *e, const double *n, const int *rows, int count, int D, double *eg, double *ng)
{
    int r = blockIdx.x;
    if (r >= count) return;
    int i = rows[r];
    for (int t = threadIdx.x; t < D; t += blockDim.x) eg[(size_t)r * D + t] = e[(size_t)i * D + t];
    if (threadIdx.x == 0) ng[r] = n[i];
}

/* The formulas every kernel below shares, written once: each is the whole expression its callers
 * used inline (inlined back, the same operations in the same order and the same contractions), so
 * the materialized block, the recomputed rows and the gains keep their bits on every path. */

/* s = c − sqrt(max(0, (n_a + n_b) + x)), x = −2 e_a·e_b: a similarity from two squared norms and a
 * dot product (the sum is commutative to the bit, so either row's pass forms the same s). */
__device__ __forceinline__ double similarity(double c, double n_a, double n_b, double x)
{
    return c - sqrt(fmax(0.0, n_a + n_b + x));
}

/* w · max(0, s − cur), rounded on its own (never contracted into the add that follows): one row's
 * share of a candidate's gain, a term of chunk_sum. */
__device__ __forceinline__ double gain_term(double w, double s, double cur) { return __dmul_rn(w, fmax(0.0, s - cur)); }

/* dec += w · (max(0, s − cur) − max(0, s − chosen)): what a raised row takes off a column's gain. */
__device__ __forceinline__ void add_decrement(double &dec, double w, double s, double cur, double chosen)
{
    dec += w * (fmax(0.0, s - cur) - fmax(0.0, s - chosen));
}

/* tile[r][j] ← c - sqrt(max(0, ng_r + n_j + tile[r][j])) with tile holding -2 e_r·e_j.
 * Grid: (ceil(m/256), count). Bytes: 16·count·m. */
__global__ void finish_similarity(double *tile, const double *ng, const double *n, int count, int m, double c)
{
    int j = blockIdx.x * blockDim.x + threadIdx.x, r = blockIdx.y;
    if (j >= m || r >= count) return;
    size_t at = (size_t)r * m + j;
    tile[at] = similarity(c, ng[r], n[j], tile[at]);
}

/* The order every gain g_r = Σ_i w_i max(0, s_ri − cur_i) is summed in, on both paths (the block's
 * finish and row_gains), so a gain has the same bits however its row was produced: the columns in
 * chunks of kTile, chunk q holding columns q·kTile … q·kTile + kTile − 1; a chunk's sum is that of
 * its terms i and i + 32 (a warp's lane holding both) reduced by a fixed shuffle tree; the chunks'
 * sums are added in increasing q within groups of kChunkGroup, and the groups' sums in increasing
 * order. The chunks let the finish sum a tile of the block where it is, rows and columns alike. */
__host__ __device__ inline int chunks_of(int m) { return (m + kTile - 1) / kTile; }

/* Chunk sum of the terms a (column q·kTile + lane) and b (column q·kTile + 32 + lane), 0 past the
 * row's end. Called by all lanes of a warp; lane 0 gets the sum. */
__device__ __forceinline__ double chunk_sum(double a, double b)
{
    double v = __dadd_rn(a, b);
#pragma unroll
    for (int o = 16; o > 0; o /= 2) v = __dadd_rn(v, __shfl_down_sync(0xffffffffu, v, o));
    return v;
}

/* The materialized block from DSYRK's −2·e_r·e_i, which fills only the upper triangle (i ≥ r,
 * row-major; the same bits as a GEMM's, whose product is symmetric to the bit), finished in one
 * pass by tiles: kernel block (I, J), I ≤ J, reads tile I, J of the triangle into shared memory as
 * similarities (finish_similarity's formula: (n_r + n_i) + x, symmetric to the bit), mirrors a
 * diagonal tile's upper half into its lower, and writes the tile at I, J and its transpose at J, I
 * with coalesced stores, evict-first (__stcs: nothing re-reads a block of gigabytes from L2). Bytes:
 * 24·m²/2 (the triangle read, the block written); the two passes this replaces (one writing the
 * lower triangle from the upper, one finishing the upper in place) moved 32·m²/2 and read the upper
 * triangle down its columns: at m = 40,000 on an H200, 4.87 + 3.40 ms became 6.47 ms (6.21 with
 * the evict-first stores; ncu, bench/results/ab-h200x1/fl-tiles/). With partial != nullptr it also sums each
 * of the tile's rows over its kTile columns and each of its columns over its kTile rows (row i of
 * the block doubles as its column i), as chunk_sum sums them, into partial[q][r] = chunk q of row
 * r's gain: add_chunks finishes the gains. Grid: T·(T + 1)/2 blocks of kThreads, T = chunks_of(m),
 * block x being tile (x − J·(J + 1)/2, J) of the triangle's tiles taken column by column (row by
 * row was no faster). Four blocks a SM: 64 registers a thread and no spills (five or six spilled
 * and were no faster; the stores below are unrolled by 4, all 16 at once held 32 values and spilled). */
__global__ void __launch_bounds__(kThreads, 4)
    finish_tiles(double *S, const double *n, int m, double c, const double *w, const double *cur, double *partial)
{
    constexpr int kPerThread = kTile * kTile / kThreads;
    __shared__ double s[kTile][kTile + 1]; /* +1: a column's reads fall in different banks */
    __shared__ double norm[2][kTile], weight[2][kTile], covered[2][kTile], sums[2][kTile];
    const long long x = blockIdx.x;
    int J = (int)((sqrt(8.0 * (double)x + 1.0) - 1.0) / 2.0);
    while ((long long)J * (J + 1) / 2 > x) --J;
    while ((long long)(J + 1) * (J + 2) / 2 <= x) ++J;
    const int I = (int)(x - (long long)J * (J + 1) / 2), t = threadIdx.x;
    const int r0 = I * kTile, i0 = J * kTile, lane = t % 32, warp = t / 32;
    if (t < 2 * kTile) { /* side 0: the tile's rows (in I), side 1: its columns (in J) */
        const int side = t / kTile, k = t % kTile, at = (side ? i0 : r0) + k;
        const bool in = at < m;
        norm[side][k] = in ? n[at] : 0.0;
        weight[side][k] = in ? w[at] : 0.0;
        covered[side][k] = in ? cur[at] : 0.0;
    }
    __syncthreads();
    /* The tile's x into shared memory, every load in flight at once, then the similarities in place
     * one at a time (sqrt's slow path is a call: values held across it would spill). */
#pragma unroll
    for (int u = 0; u < kPerThread; ++u) {
        const int e = t + u * kThreads, a = e / kTile, b = e % kTile, r = r0 + a, i = i0 + b;
        s[a][b] = r < m && i < m && (I < J || b >= a) ? S[(size_t)r * m + i] : 0.0;
    }
    __syncthreads();
#pragma unroll 1
    for (int u = 0; u < kPerThread; ++u) {
        const int e = t + u * kThreads, a = e / kTile, b = e % kTile;
        s[a][b] = similarity(c, norm[0][a], norm[1][b], s[a][b]);
    }
    __syncthreads();
    if (I == J) { /* the diagonal tile's lower half from its upper one */
#pragma unroll
        for (int u = 0; u < kPerThread; ++u) {
            const int e = t + u * kThreads, a = e / kTile, b = e % kTile;
            if (b < a) s[a][b] = s[b][a];
        }
        __syncthreads();
    }
#pragma unroll 4
    for (int u = 0; u < kPerThread; ++u) {
        const int e = t + u * kThreads, a = e / kTile, b = e % kTile, r = r0 + a, i = i0 + b;
        if (r < m && i < m) __stcs(&S[(size_t)r * m + i], s[a][b]);
        if (I != J && r0 + b < m && i0 + a < m) __stcs(&S[(size_t)(i0 + a) * m + r0 + b], s[b][a]); /* transpose */
    }
    if (partial == nullptr) return;
    for (int task = warp; task < (I == J ? 1 : 2) * kTile; task += kThreads / 32) { /* warp-uniform */
        const int side = task / kTile, k = task % kTile;
        double lo, hi; /* row k (side 0, against the columns) or column k (side 1, against the rows) */
        if (side == 0) {
            lo = gain_term(weight[1][lane], s[k][lane], covered[1][lane]);
            hi = gain_term(weight[1][lane + 32], s[k][lane + 32], covered[1][lane + 32]);
        } else {
            lo = gain_term(weight[0][lane], s[lane][k], covered[0][lane]);
            hi = gain_term(weight[0][lane + 32], s[lane + 32][k], covered[0][lane + 32]);
        }
        const double sum = chunk_sum(lo, hi);
        if (lane == 0) sums[side][k] = sum;
    }
    __syncthreads();
    if (t < 2 * kTile && (t < kTile || I != J)) {
        const int side = t / kTile, k = t % kTile, row = (side ? i0 : r0) + k, chunk = side ? I : J;
        if (row < m) partial[(size_t)chunk * m + row] = sums[side][k];
    }
}

/* gains[r] = Σ_q partial[q][r], in the order chunks_of describes. Grid: ceil(m/256). */
__global__ void add_chunks(const double *partial, int m, double *gains)
{
    const int r = blockIdx.x * blockDim.x + threadIdx.x, chunks = chunks_of(m);
    if (r >= m) return;
    double total = 0.0;
    for (int q0 = 0; q0 < chunks; q0 += kChunkGroup) {
        double group = 0.0;
        for (int q = q0; q < min(chunks, q0 + kChunkGroup); ++q) group = __dadd_rn(group, partial[(size_t)q * m + r]);
        total = __dadd_rn(total, group);
    }
    gains[r] = total;
}

/* out[r] = Σ_i w_i max(0, s[row_r][i] - cur_i): the gain of element row_r, summed in the order
 * chunks_of describes. One block per row: warp w sums groups w, w + 8, … of kChunkGroup chunks,
 * its lanes loading a chunk's columns (kChunkLoads chunks in flight), and thread 0 adds the groups'
 * sums in order. Bytes: 8·count·m (+ 16·m from cache). Returns at once when done. */
__global__ void __launch_bounds__(kThreads) row_gains(const control *ctl, const double *base, const int *row_of,
                                                      int count, int m, const double *w, const double *cur, double *out)
{
    constexpr int kWarps = kThreads / 32, kChunkLoads = 4;
    __shared__ double group_sum[kWarps];
    const int r = blockIdx.x;
    if (r >= count || (ctl && ctl->done)) return;
    const double *row = base + (size_t)(row_of ? row_of[r] : r) * m;
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, chunks = chunks_of(m);
    const int groups = (chunks + kChunkGroup - 1) / kChunkGroup;
    double total = 0.0;
    for (int g0 = 0; g0 < groups; g0 += kWarps) {
        double group = 0.0;
        const int q_end = min(chunks, (g0 + warp + 1) * kChunkGroup);
        for (int q0 = (g0 + warp) * kChunkGroup; q0 < q_end; q0 += kChunkLoads) { /* warp-uniform */
            double lo[kChunkLoads], hi[kChunkLoads];
#pragma unroll
            for (int u = 0; u < kChunkLoads; ++u) {
                const int i = (q0 + u) * kTile + lane, k = i + 32;
                lo[u] = q0 + u < q_end && i < m ? gain_term(w[i], row[i], cur[i]) : 0.0;
                hi[u] = q0 + u < q_end && k < m ? gain_term(w[k], row[k], cur[k]) : 0.0;
            }
#pragma unroll
            for (int u = 0; u < kChunkLoads; ++u) {
                const double sum = chunk_sum(lo[u], hi[u]);
                if (q0 + u < q_end) group = __dadd_rn(group, sum);
            }
        }
        if (lane == 0) group_sum[warp] = group;
        __syncthreads();
        if (threadIdx.x == 0)
            for (int v = 0; v < kWarps && g0 + v < groups; ++v) total = __dadd_rn(total, group_sum[v]);
        __syncthreads(); /* group_sum is reused */
    }
    if (threadIdx.x == 0) out[r] = total;
}

/* The rows a step's choice raised, ascending, as consecutive runs of `list`: run t holds counts[t]
 * rows at list + t·kListChunk (choose_exact lists the rows of chunk t of the block in its block t),
 * or, when counts is null, one run of `host` rows the host knows (a recompute tile's). */
struct raised_rows {
    const int *list;
    const int *counts;
    int runs, host;

    /* The runs' first positions in raised order into start[0, runs] (start[runs] = the count), by
     * all threads of a block of kThreads; returns the count. */
    __device__ int place(int *start) const
    {
        if (counts == nullptr) {
            if (threadIdx.x == 0) start[0] = 0, start[1] = host;
            __syncthreads();
            return host;
        }
        typedef cub::BlockScan<int, kThreads> scan;
        __shared__ typename scan::TempStorage temp;
        int total = 0;
        for (int first = 0; first < runs; first += kThreads) { /* runs ≤ kMaxRuns: one or two rounds */
            const int t = first + threadIdx.x, mine = t < runs ? counts[t] : 0;
            int before, sum;
            scan(temp).ExclusiveSum(mine, before, sum);
            if (t < runs) start[t] = total + before;
            total += sum;
            __syncthreads(); /* temp is reused */
        }
        if (threadIdx.x == 0) start[runs] = total;
        __syncthreads();
        return total;
    }

    /* Raised row number r (0 ≤ r < count) given place()'s start. */
    __device__ int at(const int *start, int r) const
    {
        if (counts == nullptr) return list[r];
        int lo = 0, hi = runs; /* the run t with start[t] ≤ r < start[t + 1] */
        while (hi - lo > 1) {
            const int mid = (lo + hi) / 2;
            if (start[mid] <= r)
                lo = mid;
            else
                hi = mid;
        }
        return list[(size_t)lo * kListChunk + (r - start[lo])];
    }
};

/* partial[y][j] = Σ_{r in slice y} w_{i_r} (max(0, s_{i_r j} - cur_{i_r}) - max(0, s_{i_r j} - s_{j* i_r})),
 * the gain decrements caused by the raised rows i_r, r < count, cut into slices_for(count) slices
 * of equal length, each summed in r order by one thread a column. Row i_r of the similarities is
 * row i_r of `base` (in_block: the materialized block) or row r of it (a recompute tile). A work
 * item is a slice and a block's width of columns; the grid's blocks take the items in turn, so a
 * grid sized for the GPU serves any count the device holds (a grid of 64 slices, all launched, had
 * ten thousand blocks return at once in every light step at m = 40,000). An item first stages its
 * slice's row offsets, weights, coverage and chosen similarities in shared memory (one load each,
 * by all threads at once), then a thread issues kDecrementLoads similarity loads before it adds
 * any: loading a row's index, then its weight and coverage, then its similarity, four rows at a
 * time, left every step latency-bound (~50 µs at m = 4,096 however few rows were raised). With
 * the count on the device (device_count), the blocks take items from ctl->ticket as they free up
 * (a block that took every gridDim-th item left SMs idle at the end of the heaviest steps: 3.01
 * against 2.80 ms for 40,000 raised rows) and block 0 stores the count in ctl->raised for
 * finish_step; else the grid has one block an item. Reads 8·count·m. */
__global__ void __launch_bounds__(kThreads)
    gain_decrements(control *ctl, const double *__restrict__ base, bool in_block, raised_rows raised, int m,
                    const double *__restrict__ w, const double *__restrict__ cur, const double *S,
                    const double *fixed_row, double *partial, bool device_count)
{
    __shared__ size_t offset[kThreads];
    __shared__ double weight[kThreads], covered[kThreads], chosen_at[kThreads];
    __shared__ int start[kMaxRuns + 1], next;
    if (ctl->done) return;
    const int count = raised.place(start), slices = slices_for(count), columns = (m + kThreads - 1) / kThreads;
    if (device_count && blockIdx.x == 0 && threadIdx.x == 0) ctl->raised = count;
    const double *chosen = chosen_row(S, fixed_row, ctl, m);
    const int per = (count + slices - 1) / slices;
    for (;;) {
        __syncthreads(); /* `next` of the previous item is read */
        if (threadIdx.x == 0) next = device_count ? atomicAdd(&ctl->ticket, 1) : (int)blockIdx.x;
        __syncthreads();
        const int item = next;
        if (item >= columns * slices) break; /* block-uniform */
        const int y = item / columns, j = (item % columns) * kThreads + threadIdx.x;
        const int lo = y * per, hi = min(count, lo + per);
        double dec = 0.0;
        for (int first = lo; first < hi; first += kThreads) {
            const int staged = min(kThreads, hi - first);
            __syncthreads(); /* the previous stage is used up */
            if (threadIdx.x < staged) {
                const int r = first + threadIdx.x, i = raised.at(start, r);
                offset[threadIdx.x] = (size_t)(in_block ? i : r) * m;
                weight[threadIdx.x] = w[i];
                covered[threadIdx.x] = cur[i];
                chosen_at[threadIdx.x] = chosen[i];
            }
            __syncthreads();
            if (j >= m) continue;
            for (int t0 = 0; t0 < staged; t0 += kDecrementLoads) {
                double s[kDecrementLoads];
#pragma unroll
                for (int u = 0; u < kDecrementLoads; ++u) s[u] = t0 + u < staged ? base[offset[t0 + u] + j] : 0.0;
#pragma unroll
                for (int u = 0; u < kDecrementLoads; ++u) {
                    const int t = t0 + u;
                    if (t < staged) add_decrement(dec, weight[t], s[u], covered[t], chosen_at[t]);
                }
            }
        }
        if (j < m) partial[(size_t)y * m + j] = dec;
        if (!device_count) break;
    }
}

/* g_j -= Σ_y partial[y][j] in slice order (deterministic). */
__device__ void apply_one(const double *partial, int count, int m, int j, double *g)
{
    double dec = 0.0;
    for (int y = 0; y < slices_for(count); ++y) dec += partial[(size_t)y * m + j];
    g[j] -= dec;
}

/* A recompute tile's decrements, its count known to the host. Grid: ceil(m/256). */
__global__ void apply_decrements(const double *partial, int count, int m, double *g)
{
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j < m) apply_one(partial, count, m, j, g);
}

/* The end of an exact step and the start of the next: when the chosen element raised rows, the
 * decrements (partial != nullptr; a recompute step applied its tiles itself) and
 * cur_i = max(cur_i, s_{j* i}); then each block's best unselected element into best[block] for
 * choose_exact. With nothing raised (the first step) only the latter. Grid: ceil(m/256). */
__global__ void finish_step(control *ctl, const double *partial, const double *S, const double *fixed_row, int m,
                            double *g, double *cur, const unsigned char *taken, candidate *best)
{
    if (ctl->done) return;
    const int count = ctl->raised;
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    candidate mine{ -INFINITY, m, 0 };
    if (j < m) {
        if (count > 0) {
            if (partial) apply_one(partial, count, m, j, g);
            cur[j] = fmax(cur[j], chosen_row(S, fixed_row, ctl, m)[j]);
        }
        if (!taken[j]) mine = candidate{ g[j], j, 0 };
    }
    typedef cub::BlockReduce<candidate, kThreads> reduce;
    __shared__ typename reduce::TempStorage temp;
    candidate top = reduce(temp).Reduce(mine, better());
    if (threadIdx.x == 0) best[blockIdx.x] = top;
    if (blockIdx.x == 0 && threadIdx.x == 0 && count > 0) ctl->bytes += 8.0 * count * (double)m + 8.0 * m;
}

/* list[0, raised) ← exact greedy's raised rows, those whose coverage the chosen element's `row`
 * raises (s_{j* i} > cur_i), ascending, and ctl->raised their count (0 once done). Called by all
 * threads of one block of kListThreads. A pass covers up to 64 rows a thread: warp w tests its own
 * run of consecutive rows, 32 at a time with coalesced loads all in flight together, and keeps
 * each ballot in shared memory; one scan of the warps' counts places the runs, and each warp writes
 * its rows in order. (A scan a tile of the block's width had taken 0.15 ms a step at m = 40,000.) */
__device__ void list_raised_rows(control *ctl, const double *row, const double *cur, int m, int *list)
{
    constexpr int kWarpsPerList = kListThreads / 32, kBallots = 64;
    __shared__ unsigned ballots[kWarpsPerList][kBallots];
    __shared__ int offset[kWarpsPerList + 1];
    __shared__ int done;
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    if (threadIdx.x == 0) done = ctl->done;
    __syncthreads();
    int count = 0;
    for (int first = 0; first < m && !done; first += kListThreads * kBallots) {
        const int per_warp = 32 * min(kBallots, (m - first + kListThreads - 1) / kListThreads);
        const int lo = first + warp * per_warp, hi = min(lo + per_warp, m);
        int mine = 0;
#pragma unroll 8
        for (int u = 0; u < per_warp / 32; ++u) {
            const int i = lo + 32 * u + lane;
            const unsigned bits = __ballot_sync(0xffffffffu, i < hi && row[i] > cur[i]);
            if (lane == 0) ballots[warp][u] = bits;
            mine += __popc(bits);
        }
        if (lane == 0) offset[warp + 1] = mine;
        __syncthreads();
        if (threadIdx.x == 0) {
            offset[0] = count;
            for (int w = 0; w < kWarpsPerList; ++w) offset[w + 1] += offset[w];
        }
        __syncthreads();
        int at = offset[warp];
        for (int u = 0; u < per_warp / 32; ++u) {
            const unsigned bits = ballots[warp][u];
            if (bits & (1u << lane)) list[at + __popc(bits & ((1u << lane) - 1))] = lo + 32 * u + lane;
            at += __popc(bits);
        }
        count = offset[kWarpsPerList];
        __syncthreads(); /* ballots and offsets are reused by the next pass */
    }
    if (threadIdx.x == 0) ctl->raised = count;
}

/* Rows [lo, lo + kListChunk) ∩ [0, m) of those the chosen element's `row` raises (s_{j* i} > cur_i),
 * ascending, into list + lo, and their count into *count. Called by all threads of a block of
 * kThreads: warp w tests rows lo + 256·w + 32·u + lane, u < kListBallots, all its loads in flight
 * before the first ballot, and one scan of the warps' counts places them. */
__device__ void list_raised_chunk(const double *row, const double *cur, int m, int lo, int *list, int *count)
{
    constexpr int kWarps = kThreads / 32;
    __shared__ int before[kWarps + 1];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, first = lo + warp * 32 * kListBallots + lane;
    bool up[kListBallots];
#pragma unroll
    for (int u = 0; u < kListBallots; ++u) {
        const int i = first + 32 * u;
        up[u] = i < m && row[i] > cur[i];
    }
    unsigned bits[kListBallots];
    int mine = 0;
#pragma unroll
    for (int u = 0; u < kListBallots; ++u) mine += __popc(bits[u] = __ballot_sync(0xffffffffu, up[u]));
    if (lane == 0) before[warp + 1] = mine;
    __syncthreads();
    if (threadIdx.x == 0) {
        before[0] = 0;
        for (int v = 0; v < kWarps; ++v) before[v + 1] += before[v];
        *count = before[kWarps];
    }
    __syncthreads();
    int at = lo + before[warp];
#pragma unroll
    for (int u = 0; u < kListBallots; ++u) {
        if (up[u]) list[at + __popc(bits[u] & ((1u << lane) - 1))] = first + 32 * u;
        at += __popc(bits[u]);
    }
}

/* Step `step` of exact greedy: the best of the blocks' bests (an exact argmax, so the order of the
 * reduction cannot matter), taken and recorded by block 0; with the block S materialized, every
 * block takes the same argmax and lists the rows of its chunk that the choice raises for the next
 * step's decrements (raised_rows: run t in block t), so the list costs no launch and no single
 * block walks all m rows (one block of 1,024 threads took 21 µs a step at m = 40,000). With
 * recomputed rows, list_raised does that once the chosen row is computed. Grid: one block, or
 * ceil(m / kListChunk) with S; blocks of kThreads. Blocks that start after block 0 has set `done`
 * return without listing: nothing reads the list once done. A block reads `done` once, for all its
 * threads: block 0 sets it while the others run, and a block whose warps read it apart could see it
 * both ways; the warps that left would leave the argmax's reduction garbage in the others' shared
 * memory, and the list a row of S read from a garbage position (an illegal address, one craig job in
 * five at C = 100 and 16M rows, bench/results/ab-h200x1/fl-c100-fault/). */
__global__ void __launch_bounds__(kThreads)
    choose_exact(control *ctl, const candidate *best, int parts, int64_t step, unsigned char *taken, int *selected,
                 double *gains, stop_rule rule, const double *S, const double *cur, int m, int *list, int *counts)
{
    __shared__ int done;
    if (threadIdx.x == 0) done = ctl->done;
    __syncthreads();
    if (done) return; /* block-uniform */
    candidate mine{ -INFINITY, INT_MAX, 0 };
    for (int b = threadIdx.x; b < parts; b += blockDim.x) mine = better()(mine, best[b]);
    typedef cub::BlockReduce<candidate, kThreads> reduce;
    __shared__ typename reduce::TempStorage temp;
    __shared__ int chosen;
    candidate top = reduce(temp).Reduce(mine, better());
    if (threadIdx.x == 0) {
        chosen = top.pos;
        if (blockIdx.x == 0) {
            ctl->ticket = 0; /* the next decrements' first item */
            taken[top.pos] = 1;
            record(ctl, step, top.pos, top.gain, selected, gains, rule);
        }
    }
    if (S == nullptr) return;
    __syncthreads();
    list_raised_chunk(S + (size_t)chosen * m, cur, m, blockIdx.x * kListChunk, list, counts + blockIdx.x);
}

/* Exact greedy on a materialized block of m ≤ kSmallBlock rows, every step in one launch of one
 * block of kListThreads: steps 0 … κ − 1 (or until `done`) as exact_step enqueues them, thread j
 * standing for column j. A step's decrements are summed as gain_decrements and apply_one sum them
 * (the same slices, each in row order, then the slices in order), the coverage raised as
 * finish_step raises it, the argmax taken and recorded and the raised rows listed as choose_exact
 * does, so the bits are those of the three kernels a step. A merge's class (m of a few hundred,
 * κ of a few hundred) was three launches a step, one after another: the host's launches, not the
 * GPU, set its time. */
__global__ void __launch_bounds__(kListThreads)
    greedy_small(control *ctl, const double *S, int m, const double *w, double *cur, double *g, unsigned char *taken,
                 int *list, int64_t kappa, stop_rule rule, int *selected, double *gains)
{
    __shared__ int done, count, chosen, raised[kSmallBlock];
    __shared__ double weight[kSmallBlock], covered[kSmallBlock], chosen_at[kSmallBlock];
    typedef cub::BlockReduce<candidate, kListThreads> reduce;
    __shared__ typename reduce::TempStorage temp;
    const int j = threadIdx.x;
    for (int64_t s = 0; s < kappa; ++s) {
        if (j == 0) done = ctl->done, count = ctl->raised, chosen = ctl->j;
        __syncthreads();
        if (done) return; /* block-uniform */
        if (count > 0) {
            /* Every column reads the same raised rows: their index, weight, coverage and chosen
             * similarity staged once, so a column's loads are its similarities alone. */
            const double *row = S + (size_t)chosen * m;
            for (int r = j; r < count; r += kListThreads) {
                const int i = list[r];
                raised[r] = i, weight[r] = w[i], covered[r] = cur[i], chosen_at[r] = row[i];
            }
            __syncthreads();
            const int slices = slices_for(count), per = (count + slices - 1) / slices;
            double dec = 0.0;
            for (int y = 0; j < m && y < slices; ++y) {
                double part = 0.0;
#pragma unroll 8
                for (int r = y * per; r < min(count, (y + 1) * per); ++r) {
                    add_decrement(part, weight[r], S[(size_t)raised[r] * m + j], covered[r], chosen_at[r]);
                }
                dec += part;
            }
            if (j < m) {
                g[j] -= dec;
                cur[j] = fmax(cur[j], row[j]);
            }
            if (j == 0) ctl->bytes += 8.0 * count * (double)m + 8.0 * m;
        }
        const candidate mine = j < m && !taken[j] ? candidate{ g[j], j, 0 } : candidate{ -INFINITY, INT_MAX, 0 };
        const candidate top = reduce(temp).Reduce(mine, better());
        if (j == 0) {
            taken[top.pos] = 1;
            record(ctl, s, top.pos, top.gain, selected, gains, rule);
            chosen = top.pos;
        }
        __syncthreads();
        list_raised_rows(ctl, S + (size_t)chosen * m, cur, m, list);
        __syncthreads(); /* list and ctl->raised are read by the next step */
    }
}

/* The raised rows of the element whose row was recomputed into `row`. One block of kListThreads. */
__global__ void __launch_bounds__(kListThreads)
    list_raised(control *ctl, const double *row, const double *cur, int m, int *list)
{
    list_raised_rows(ctl, row, cur, m, list);
}

/* rest[0, s) ← stochastic greedy's sample of step `step`: gc_stochastic_draw (kernels/fl.h) on the
 * device, the same draws and swaps, so both twins score the same elements. The swap targets are
 * drawn by all threads; the swaps themselves are sequential (thread 0). One block. */
__global__ void draw_sample(const control *ctl, int *rest, int *target, int64_t size, int64_t s, int64_t step,
                            int64_t m, uint64_t seed)
{
    if (ctl->done) return;
    for (int64_t t = threadIdx.x; t < s; t += blockDim.x) {
        double u = gc_rng_uniform(seed, GC_STREAM_STOCHASTIC_GREEDY, (uint64_t)step * (uint64_t)m + (uint64_t)t);
        int64_t r = t + (int64_t)__dmul_rn(u, (double)(size - t));
        target[t] = (int)(r >= size ? size - 1 : r); /* u rounds to 1.0 once in 2^53 draws */
    }
    __syncthreads();
    if (threadIdx.x != 0) return;
    for (int64_t t = 0; t < s; ++t) {
        int r = target[t], tmp = rest[t];
        rest[t] = rest[r];
        rest[r] = tmp;
    }
}

/* Step `step` of stochastic greedy: the best of the s sampled elements rest[0, s) (gains g[0, s)),
 * recorded, and moved out of the unselected rest[0, size). One block. */
__global__ void choose_sample(control *ctl, const double *g, int *rest, int64_t s, int64_t size, int64_t step, int m,
                              int *selected, double *gains, stop_rule rule)
{
    if (ctl->done) return;
    candidate mine{ -INFINITY, INT_MAX, 0 };
    for (int t = threadIdx.x; t < s; t += blockDim.x) mine = better()(mine, candidate{ g[t], rest[t], t });
    typedef cub::BlockReduce<candidate, kThreads> reduce;
    __shared__ typename reduce::TempStorage temp;
    candidate top = reduce(temp).Reduce(mine, better());
    if (threadIdx.x != 0) return;
    rest[top.slot] = rest[size - 1];
    ctl->bytes += 8.0 * (double)s * m;
    record(ctl, step, top.pos, top.gain, selected, gains, rule);
}

/* cur_i = max(cur_i, s_{j* i}). Grid: ceil(m/256). */
__global__ void raise_cover(const control *ctl, const double *S, const double *fixed_row, int m, double *cur)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < m && !ctl->done) cur[i] = fmax(cur[i], chosen_row(S, fixed_row, ctl, m)[i]);
}

/* Each point's most similar selected element over rows [0, count) of a tile (or of the block,
 * through row_of), positions[r] being row r's position: larger similarity, then lower position
 * (the order the CPU twin's ascending scan with strict '>' gives). first == 0 starts afresh.
 * Grid: ceil(m/256). */
__global__ void nearest_selected(const double *base, const int *row_of, const int *positions, row_count count_of,
                                 int first, int m, double *best, int *assign)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= m) return;
    double bv = first == 0 ? -INFINITY : best[i];
    int bp = first == 0 ? INT_MAX : assign[i];
    const int count = count_of.get();
    for (int r = 0; r < count; ++r) {
        double s = base[(size_t)(row_of ? row_of[r] : r) * m + i];
        int p = positions[r];
        if (s > bv || (s == bv && p < bp)) bv = s, bp = p;
    }
    best[i] = bv;
    assign[i] = bp;
}

/* x[i] = first + i. Grid: ceil(n/256). */
__global__ void iota(int *x, int n, int first)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] = first + i;
}

enum phase { IDLE, STEPS, CHECK, FINISH, COLLECT };

/* One problem in one lane, from upload to results. */
struct job {
    gc_fl_device *dev = nullptr;
    fl_lane *L;
    gc_cuda_rows resident; /* what problems with no e read their rows from */
    phase at = IDLE;
    const gc_fl_problem *p;
    int m, D;
    double c;
    bool exact, materialized;
    int tile_rows; /* recompute: rows per GEMM tile */
    int64_t kappa, enqueued, sample;
    stop_rule rule;
    int64_t *selected;
    double *gains, *coverage;
    double bytes = 0.0;     /* similarity bytes of the problems this job ran (dev->last_bytes) */
    bool all_blocks = true; /* every one of them materialized (dev->last_materialized) */

    cudaStream_t stream() const { return L->stream; }
    control *ctl() const { return (control *)L->ctl.ptr; }
    const double *S() const { return materialized ? (const double *)L->S.ptr : nullptr; }
    const double *fixed_row() const { return materialized ? nullptr : (const double *)L->out.ptr; }
    int runs() const { return (m + kListChunk - 1) / kListChunk; } /* choose_exact's blocks with S */

    /* -2·E_rows·Eᵀ into `into` [count × m] row-major, then finished into similarities;
     * rows_dev == nullptr: rows 0 … count−1. */
    int compute_rows(const int *rows_dev, int count, double *into)
    {
        GC_TRY(reserve(L, L->eg, (size_t)count * D * sizeof(double)));
        GC_TRY(reserve(L, L->ng, (size_t)count * sizeof(double)));
        const double *a = (const double *)L->e.ptr, *b = (const double *)L->e.ptr, *nb = (const double *)L->n.ptr;
        if (rows_dev != nullptr) {
            gather_rows<<<count, 128, 0, stream()>>>((const double *)L->e.ptr, (const double *)L->n.ptr, rows_dev,
                                                     count, D, (double *)L->eg.ptr, (double *)L->ng.ptr);
            GC_CHECK_LAUNCH();
            b = (const double *)L->eg.ptr;
            nb = (const double *)L->ng.ptr;
        }
        const double alpha = -2.0, beta = 0.0;
        /* Column-major view: into^T [m × count] = E_cm^T [m × D] · B_cm [D × count]. */
        GC_CHECK_CUBLAS(
            cublasDgemm(L->blas, CUBLAS_OP_T, CUBLAS_OP_N, m, count, D, &alpha, a, D, b, D, &beta, into, m));
        finish_similarity<<<dim3(blocks(m), count), kThreads, 0, stream()>>>(into, nb, (const double *)L->n.ptr, count,
                                                                             m, c);
        GC_CHECK_LAUNCH();
        return GC_OK;
    }

    /* Calls use(base, row_of, count, first) for tiles covering rows_dev[0, count): in place when
     * materialized, else through GEMM tiles of at most tile_rows rows. rows_dev == nullptr: 0..count-1. */
    template <typename F> int for_rows(const int *rows_dev, int count, F use)
    {
        if (materialized) return use((const double *)L->S.ptr, rows_dev, count, 0);
        for (int first = 0; first < count; first += tile_rows) {
            int n_rows = min(tile_rows, count - first);
            const int *sub = rows_dev ? rows_dev + first : nullptr;
            if (sub == nullptr) { /* identity rows: build the index list for the gather */
                iota<<<blocks(n_rows), kThreads, 0, stream()>>>((int *)L->rows.ptr, n_rows, first);
                GC_CHECK_LAUNCH();
                sub = (const int *)L->rows.ptr;
            }
            GC_TRY(compute_rows(sub, n_rows, (double *)L->tile.ptr));
            GC_TRY(use((const double *)L->tile.ptr, nullptr, n_rows, first));
        }
        return GC_OK;
    }

    /* The chosen element's row into `out` (recompute; its index read on the device). */
    int chosen_into_out()
    {
        if (materialized) return GC_OK;
        return compute_rows(&ctl()->j, 1, (double *)L->out.ptr);
    }

    /* The device's control block, on the host (waits for the lane). */
    int read_control()
    {
        GC_CHECK_CUDA(cudaMemcpyAsync(L->host_ctl, ctl(), sizeof(control), cudaMemcpyDeviceToHost, stream()));
        GC_CHECK_CUDA(cudaStreamSynchronize(stream()));
        return GC_OK;
    }

    int reserve_all()
    {
        GC_TRY(lane_host(L, kappa, m));
        GC_TRY(reserve(L, L->e32, (size_t)m * D * sizeof(float)));
        GC_TRY(reserve(L, L->e, (size_t)m * D * sizeof(double)));
        GC_TRY(reserve(L, L->n, (size_t)m * sizeof(double)));
        GC_TRY(reserve(L, L->w, (size_t)m * sizeof(double)));
        GC_TRY(reserve(L, L->cur, (size_t)m * sizeof(double)));
        GC_TRY(reserve(L, L->g, (size_t)m * sizeof(double)));
        GC_TRY(reserve(L, L->taken, (size_t)m));
        GC_TRY(reserve(L, L->list, (size_t)m * sizeof(int)));
        GC_TRY(reserve(L, L->runs, (size_t)kMaxRuns * sizeof(int)));
        GC_TRY(reserve(L, L->rest, (size_t)m * sizeof(int)));
        /* The decrements' slices, and the block's finish: a gain's chunk sums (m²/kTile: 1/64 of the block). */
        const int partials = materialized && exact && chunks_of(m) > kMaxSlices ? chunks_of(m) : kMaxSlices;
        GC_TRY(reserve(L, L->partial, (size_t)partials * m * sizeof(double)));
        GC_TRY(reserve(L, L->best, (size_t)blocks(m) * sizeof(candidate)));
        GC_TRY(reserve(L, L->ctl, sizeof(control)));
        GC_TRY(reserve(L, L->out, (size_t)m * sizeof(double)));
        GC_TRY(reserve(L, L->selected, (size_t)kappa * sizeof(int)));
        GC_TRY(reserve(L, L->gains, (size_t)kappa * sizeof(double)));
        GC_TRY(reserve(L, L->nearest_value, (size_t)m * sizeof(double)));
        GC_TRY(reserve(L, L->nearest_index, (size_t)m * sizeof(int)));
        if (materialized) return reserve(L, L->S, (size_t)m * m * sizeof(double));
        GC_TRY(reserve(L, L->tile, (size_t)tile_rows * m * sizeof(double)));
        return reserve(L, L->rows, (size_t)tile_rows * sizeof(int));
    }

    /* Upload, the block (or nothing, when recomputed), the initial gains and step 0's choice. */
    int start()
    {
        GC_TRY(reserve_all());
        if (p->e != nullptr) {
            GC_CHECK_CUDA(
                cudaMemcpyAsync(L->e32.ptr, p->e, (size_t)m * D * sizeof(float), cudaMemcpyHostToDevice, stream()));
        } else { /* gathered from the embeddings kept on the device (kernels/fl.h) */
            if (resident.data == nullptr || p->rows == nullptr)
                return gc_fail(GC_ERR_DEVICE, "GPU %d holds no embeddings to gather a block's rows from",
                               dev->device_id);
            GC_TRY(reserve(L, L->pick, (size_t)m * sizeof(long long)));
            GC_CHECK_CUDA(
                cudaMemcpyAsync(L->pick.ptr, p->rows, (size_t)m * sizeof(long long), cudaMemcpyHostToDevice, stream()));
            GC_TRY(gc_cuda_rows_gather(resident, D, m, (const long long *)L->pick.ptr, (float *)L->e32.ptr, stream()));
        }
        if (p->w)
            GC_CHECK_CUDA(
                cudaMemcpyAsync(L->w.ptr, p->w, (size_t)m * sizeof(double), cudaMemcpyHostToDevice, stream()));
        init_block<<<(m + kInitRows - 1) / kInitRows, kThreads, 0, stream()>>>(
            (const float *)L->e32.ptr, m, D, (double *)L->e.ptr, (double *)L->n.ptr, (double *)L->w.ptr,
            p->w == nullptr, (double *)L->cur.ptr, (unsigned char *)L->taken.ptr, (int *)L->rest.ptr, ctl());
        GC_CHECK_LAUNCH();
        double *g = (double *)L->g.ptr;
        if (materialized) {
            const double alpha = -2.0, beta = 0.0;
            const double *e = (const double *)L->e.ptr, *n = (const double *)L->n.ptr, *w = (const double *)L->w.ptr,
                         *cur = (const double *)L->cur.ptr;
            double *S = (double *)L->S.ptr, *partial = exact ? (double *)L->partial.ptr : nullptr;
            /* Column-major lower = row-major upper triangle (finish_tiles). A large block's DSYRK
             * runs in cuBLAS's default math (m = 40,000, D = 128 on an H200: 4.94 against 5.64 ms,
             * every bit the same; at m = 4,096 it was slower, 0.068 against 0.064 ms): FP64 either
             * way, and cuBLAS's results are the same run to run in either mode. */
            const bool large = m > kDefaultMathRows;
            if (large) GC_CHECK_CUBLAS(cublasSetMathMode(L->blas, CUBLAS_DEFAULT_MATH));
            const cublasStatus_t syrk =
                cublasDsyrk(L->blas, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_T, m, D, &alpha, e, D, &beta, S, m);
            if (large) GC_CHECK_CUBLAS(cublasSetMathMode(L->blas, CUBLAS_PEDANTIC_MATH));
            GC_CHECK_CUBLAS(syrk);
            const long long tiles = (long long)chunks_of(m) * (chunks_of(m) + 1) / 2;
            finish_tiles<<<(unsigned)tiles, kThreads, 0, stream()>>>(S, n, m, c, w, cur, partial);
            GC_CHECK_LAUNCH();
            if (exact) {
                add_chunks<<<blocks(m), kThreads, 0, stream()>>>(partial, m, g);
                GC_CHECK_LAUNCH();
            }
        } else if (exact) {
            GC_TRY(for_rows(nullptr, m, [&](const double *base, const int *row_of, int count, int first) -> int {
                row_gains<<<count, kThreads, 0, stream()>>>(nullptr, base, row_of, count, m, (const double *)L->w.ptr,
                                                            (const double *)L->cur.ptr, g + first);
                GC_CHECK_LAUNCH();
                return GC_OK;
            }));
        }
        enqueued = 0;
        if (materialized && exact && m <= kSmallBlock && !dev->force_steps) { /* every step in one launch */
            greedy_small<<<1, kListThreads, 0, stream()>>>(
                ctl(), S(), m, (const double *)L->w.ptr, (double *)L->cur.ptr, g, (unsigned char *)L->taken.ptr,
                (int *)L->list.ptr, kappa, rule, (int *)L->selected.ptr, (double *)L->gains.ptr);
            GC_CHECK_LAUNCH();
            enqueued = kappa;
            return GC_OK;
        }
        return step(0);
    }

    /* Enqueues step s (exact: the update after step s−1's choice, then choice s). Recompute exact
     * steps wait for the raised count; *stopped then says the greedy has ended. */
    int step(int64_t s, bool *stopped = nullptr)
    {
        enqueued = s + 1;
        return exact ? exact_step(s, stopped) : stochastic_step(s);
    }

    int exact_step(int64_t s, bool *stopped)
    {
        control *k = ctl();
        double *g = (double *)L->g.ptr, *cur = (double *)L->cur.ptr;
        const double *w = (const double *)L->w.ptr;
        int *list = (int *)L->list.ptr;
        if (s > 0) {            /* the previous choice's raised rows: listed by choose_exact, or here */
            if (materialized) { /* the count is the device's: a grid that fills the GPU */
                gain_decrements<<<dev->decrement_blocks, kThreads, 0, stream()>>>(
                    k, S(), true, raised_rows{ list, (const int *)L->runs.ptr, runs(), 0 }, m, w, cur, S(), nullptr,
                    (double *)L->partial.ptr, true);
                GC_CHECK_LAUNCH();
            } else { /* the GEMM tiles are sized by the count: one round trip */
                GC_TRY(chosen_into_out());
                list_raised<<<1, kListThreads, 0, stream()>>>(k, fixed_row(), cur, m, list);
                GC_CHECK_LAUNCH();
                GC_TRY(read_control());
                if (L->host_ctl->done) {
                    if (stopped) *stopped = true;
                    return GC_OK;
                }
                GC_TRY(for_rows(list, L->host_ctl->raised,
                                [&](const double *base, const int *row_of, int count, int first) -> int {
                                    gain_decrements<<<blocks(m) * slices_for(count), kThreads, 0, stream()>>>(
                                        k, base, row_of != nullptr, raised_rows{ list + first, nullptr, 1, count }, m,
                                        w, cur, nullptr, fixed_row(), (double *)L->partial.ptr, false);
                                    GC_CHECK_LAUNCH();
                                    apply_decrements<<<blocks(m), kThreads, 0, stream()>>>(
                                        (const double *)L->partial.ptr, count, m, g);
                                    GC_CHECK_LAUNCH();
                                    return GC_OK;
                                }));
            }
        }
        finish_step<<<blocks(m), kThreads, 0, stream()>>>(
            k, materialized ? (const double *)L->partial.ptr : nullptr, S(), fixed_row(), m, g, cur,
            (const unsigned char *)L->taken.ptr, (candidate *)L->best.ptr);
        GC_CHECK_LAUNCH();
        choose_exact<<<materialized ? runs() : 1, kThreads, 0, stream()>>>(
            k, (const candidate *)L->best.ptr, (int)blocks(m), s, (unsigned char *)L->taken.ptr, (int *)L->selected.ptr,
            (double *)L->gains.ptr, rule, S(), cur, m, list, (int *)L->runs.ptr);
        GC_CHECK_LAUNCH();
        return GC_OK;
    }

    int stochastic_step(int64_t s)
    {
        control *k = ctl();
        const int64_t size = m - s, n = sample < size ? sample : size;
        int *rest = (int *)L->rest.ptr;
        /* list holds the swap targets: exact greedy's raised rows are not used here. */
        draw_sample<<<1, kThreads, 0, stream()>>>(k, rest, (int *)L->list.ptr, size, n, s, m, p->seed);
        GC_CHECK_LAUNCH();
        GC_TRY(for_rows(rest, (int)n, [&](const double *base, const int *row_of, int count, int first) -> int {
            row_gains<<<count, kThreads, 0, stream()>>>(k, base, row_of, count, m, (const double *)L->w.ptr,
                                                        (const double *)L->cur.ptr, (double *)L->g.ptr + first);
            GC_CHECK_LAUNCH();
            return GC_OK;
        }));
        choose_sample<<<1, kThreads, 0, stream()>>>(k, (const double *)L->g.ptr, rest, n, size, s, m,
                                                    (int *)L->selected.ptr, (double *)L->gains.ptr, rule);
        GC_CHECK_LAUNCH();
        GC_TRY(chosen_into_out());
        raise_cover<<<blocks(m), kThreads, 0, stream()>>>(k, S(), fixed_row(), m, (double *)L->cur.ptr);
        GC_CHECK_LAUNCH();
        return GC_OK;
    }

    /* Coverage (each point's nearest selected element) and the copies back, then `ready`. */
    int finish()
    {
        control *k = ctl();
        if (coverage != nullptr) {
            const int *sel = (const int *)L->selected.ptr;
            double *best = (double *)L->nearest_value.ptr;
            int *assign = (int *)L->nearest_index.ptr;
            if (materialized) {
                nearest_selected<<<blocks(m), kThreads, 0, stream()>>>(S(), sel, sel, row_count{ &k->steps, 0 }, 0, m,
                                                                       best, assign);
                GC_CHECK_LAUNCH();
            } else {
                GC_TRY(read_control());
                GC_TRY(for_rows(sel, L->host_ctl->steps,
                                [&](const double *base, const int *row_of, int count, int first) -> int {
                                    nearest_selected<<<blocks(m), kThreads, 0, stream()>>>(
                                        base, row_of, sel + first, row_count{ nullptr, count }, first, m, best, assign);
                                    GC_CHECK_LAUNCH();
                                    return GC_OK;
                                }));
            }
            GC_CHECK_CUDA(
                cudaMemcpyAsync(L->host_assign, assign, (size_t)m * sizeof(int), cudaMemcpyDeviceToHost, stream()));
        }
        GC_CHECK_CUDA(cudaMemcpyAsync(L->host_ctl, k, sizeof(control), cudaMemcpyDeviceToHost, stream()));
        GC_CHECK_CUDA(cudaMemcpyAsync(L->host_selected, L->selected.ptr, (size_t)kappa * sizeof(int),
                                      cudaMemcpyDeviceToHost, stream()));
        GC_CHECK_CUDA(cudaMemcpyAsync(L->host_gains, L->gains.ptr, (size_t)kappa * sizeof(double),
                                      cudaMemcpyDeviceToHost, stream()));
        GC_CHECK_CUDA(cudaEventRecord(L->ready, stream()));
        return GC_OK;
    }

    /* The results into the caller's arrays (after `ready`). */
    int collect()
    {
        GC_CHECK_CUDA(cudaEventSynchronize(L->ready));
        const control k = *L->host_ctl;
        for (int64_t t = 0; t < kappa; ++t) selected[t] = t < k.steps ? L->host_selected[t] : -1;
        for (int64_t t = 0; t < k.steps; ++t) gains[t] = L->host_gains[t];
        if (coverage != nullptr) {
            memset(coverage, 0, (size_t)m * sizeof *coverage);
            for (int i = 0; i < m; ++i) coverage[L->host_assign[i]] += p->w ? p->w[i] : 1.0;
        }
        const double block = 8.0 * m * (double)m;
        bytes += (materialized ? block : 0.0) + (exact ? block : 0.0) + k.bytes;
        all_blocks = all_blocks && materialized;
        return GC_OK;
    }

    /* Enqueues the next pieces of this lane's work and returns when the next one needs the device
     * to have caught up, or when no problem is left (then at == IDLE). Problems are claimed from
     * *next, which the lanes share. */
    int advance(int count, const gc_fl_problem *problems, const int64_t *kappas, int64_t *const *sel,
                double *const *gain, double *const *cov, int *next, size_t free_bytes)
    {
        for (;;) switch (at) {
            case IDLE: {
                const int q = __atomic_fetch_add(next, 1, __ATOMIC_RELAXED);
                if (q >= count) return GC_OK;
                p = &problems[q];
                kappa = kappas[q] < p->m ? kappas[q] : p->m;
                selected = sel[q];
                gains = gain[q];
                coverage = cov ? cov[q] : nullptr;
                if (kappa <= 0) continue; /* nothing to select */
                if (p->m > INT32_MAX / 2)
                    return gc_fail(GC_ERR_INPUT, "a facility-location block of %lld rows is too large",
                                   (long long)p->m);
                m = (int)p->m;
                D = p->D;
                c = p->c;
                exact = !(p->stochastic_epsilon > 0.0);
                sample = exact ? 0 : gc_stochastic_sample_size(m, kappa, p->stochastic_epsilon);
                rule = stop_rule{ kappa, p->c, gc_fl_total_weight(p), p->cover_target };
                /* Keep the block when it takes at most half of the free memory (the lanes were
                 * sized so that all of theirs fit together). */
                materialized = !dev->force_recompute && (size_t)m * m * sizeof(double) <= free_bytes / 2 &&
                               m <= kListChunk * kMaxRuns;
                size_t per_row = (size_t)m * sizeof(double) + (size_t)D * sizeof(double) + 12;
                tile_rows = (int)(free_bytes / 8 / per_row > 4096 ? 4096 : free_bytes / 8 / per_row);
                if (!materialized && tile_rows < 1)
                    return gc_fail(GC_ERR_MEMORY, "GPU %d has no room for a similarity tile", dev->device_id);
                GC_TRY(start());
                at = STEPS;
                continue;
            }
            case STEPS: {
                const int64_t end =
                    p->cover_target > 0.0 && enqueued + kCoverChunk < kappa ? enqueued + kCoverChunk : kappa;
                bool stopped = false;
                while (enqueued < end && !stopped) GC_TRY(step(enqueued, &stopped));
                if (stopped || enqueued == kappa) {
                    at = FINISH;
                    continue;
                }
                GC_CHECK_CUDA(cudaMemcpyAsync(L->host_ctl, ctl(), sizeof(control), cudaMemcpyDeviceToHost, stream()));
                GC_CHECK_CUDA(cudaEventRecord(L->ready, stream()));
                at = CHECK;
                return GC_OK;
            }
            case CHECK:
                GC_CHECK_CUDA(cudaEventSynchronize(L->ready));
                at = L->host_ctl->done ? FINISH : STEPS;
                continue;
            case FINISH:
                GC_TRY(finish());
                at = COLLECT;
                return GC_OK;
            case COLLECT:
                GC_TRY(collect());
                at = IDLE;
                continue;
            }
    }
};

int lane_make(gc_fl_device *dev, fl_lane *L)
{
    *L = fl_lane();
    if (cudaStreamCreateWithFlags(&L->stream, cudaStreamNonBlocking) != cudaSuccess ||
        cudaEventCreateWithFlags(&L->ready, cudaEventDisableTiming) != cudaSuccess ||
        cublasCreate(&L->blas) != CUBLAS_STATUS_SUCCESS || cublasSetStream(L->blas, L->stream) != CUBLAS_STATUS_SUCCESS)
        return gc_fail(GC_ERR_DEVICE, "cannot set up GPU %d for facility location", dev->device_id);
    /* Plain FP64 products: the similarities feed exact comparisons against the CPU oracle (a large
     * block's DSYRK runs in default math, start(): the same bits, measured). */
    cublasSetMathMode(L->blas, CUBLAS_PEDANTIC_MATH);
    return GC_OK;
}

void lane_end(fl_lane *L)
{
    lane_trim(L);
    gc_cuda_stream_end(L->stream, L->blas);
    if (L->ready) cudaEventDestroy(L->ready);
    cudaFreeHost(L->host_ctl);
    cudaFreeHost(L->host_selected);
    cudaFreeHost(L->host_gains);
    cudaFreeHost(L->host_assign);
    *L = fl_lane();
}

/* How many lanes a call runs: as many problems as there are, at most kMaxLanes, and only as many
 * blocks as fit together in half of the free memory (one lane when the largest is recomputed). */
int lanes_for(const gc_fl_device *dev, int count, const gc_fl_problem *problems, size_t free_bytes)
{
    size_t largest = 0;
    for (int q = 0; q < count; ++q) {
        size_t block = (size_t)problems[q].m * (size_t)problems[q].m * sizeof(double);
        largest = block > largest ? block : largest;
    }
    if (dev->force_recompute || largest == 0 || largest > free_bytes / 2) return 1;
    size_t fit = free_bytes / 2 / largest;
    int lanes = fit < (size_t)kMaxLanes ? (int)fit : kMaxLanes;
    return lanes < count ? lanes : count;
}

/* One fl_greedy_many call's lanes and what they share: the problems, claimed in order through
 * `next`, and the first failure's status (then every lane stops at its next return). */
struct lanes_run {
    job *jobs;
    int count;
    const gc_fl_problem *problems;
    const int64_t *kappa;
    int64_t *const *selected;
    double *const *gains, *const *coverage;
    size_t free_bytes;
    int device_id;
    int next = 0, status = GC_OK;
};

/* Lane l's work on a host thread of its own (gc_run_tasks): with one thread enqueueing every
 * lane's steps in turn, problems of many steps (three launches each) waited for its launches. */
void drive_lane(void *ctx, int l)
{
    lanes_run *run = (lanes_run *)ctx;
    job &J = run->jobs[l];
    int status = cudaSetDevice(run->device_id) == cudaSuccess
                     ? GC_OK
                     : gc_fail(GC_ERR_DEVICE, "cannot use GPU %d for facility location", run->device_id);
    while (status == GC_OK && __atomic_load_n(&run->status, __ATOMIC_RELAXED) == GC_OK) {
        status = J.advance(run->count, run->problems, run->kappa, run->selected, run->gains, run->coverage, &run->next,
                           run->free_bytes);
        if (J.at == IDLE) break; /* nothing left to claim */
    }
    if (status != GC_OK) {
        int ok = GC_OK;
        __atomic_compare_exchange_n(&run->status, &ok, status, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    }
}

int fl_device_many(gc_fl_device *dev, gc_cuda_rows resident, int count, const gc_fl_problem *problems,
                   const int64_t *kappa, int64_t *const *selected, double *const *gains, double *const *coverage)
{
    GC_CHECK_CUDA(cudaSetDevice(dev->device_id));
    size_t free_bytes = 0, total_bytes = 0;
    GC_CHECK_CUDA(cudaMemGetInfo(&free_bytes, &total_bytes));
    for (int l = 0; l < dev->lanes_made; ++l) free_bytes += lane_bytes(&dev->lanes[l]); /* held: reused */
    const int lanes = count > 0 ? lanes_for(dev, count, problems, free_bytes) : 0;
    for (; dev->lanes_made < lanes; ++dev->lanes_made) GC_TRY(lane_make(dev, &dev->lanes[dev->lanes_made]));
    job jobs[kMaxLanes];
    for (int l = 0; l < lanes; ++l) jobs[l].dev = dev, jobs[l].L = &dev->lanes[l], jobs[l].resident = resident;
    lanes_run run = { jobs, count, problems, kappa, selected, gains, coverage, free_bytes, dev->device_id };
    gc_run_tasks(lanes, drive_lane, &run);
    int status = run.status;
    dev->last_bytes = 0.0;
    dev->last_materialized = 1;
    for (int l = 0; l < lanes; ++l) {
        dev->last_bytes += jobs[l].bytes;
        dev->last_materialized = dev->last_materialized && jobs[l].all_blocks;
    }
    for (int l = 0; l < lanes; ++l) {
        if (!dev->hold || status != GC_OK) lane_trim(&dev->lanes[l]);
        cudaError_t rc = cudaStreamSynchronize(dev->lanes[l].stream);
        if (status == GC_OK && rc != cudaSuccess)
            status = gc_fail(GC_ERR_LIB, "CUDA error in facility location: %s", cudaGetErrorString(rc));
    }
    return status;
}

} // namespace

extern "C" void gc_cuda_fl_release(gc_backend *b, gc_fl_device *dev)
{
    if (dev == nullptr) return;
    (void)cudaSetDevice(b->device_id);
    for (int l = 0; l < dev->lanes_made; ++l) lane_end(&dev->lanes[l]);
    free(dev);
}

/* The backend's device state, made on first use (gc_cuda_fl_state lives in backend_cuda.cu). */
static int fl_state(gc_backend *b, gc_fl_device **dev)
{
    gc_fl_device **slot = gc_cuda_fl_slot(b);
    if (*slot == nullptr) {
        GC_CHECK_CUDA(cudaSetDevice(b->device_id));
        int sms = 0, per_sm = 0;
        GC_CHECK_CUDA(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, b->device_id));
        GC_CHECK_CUDA(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, gain_decrements, kThreads, 0));
        gc_fl_device *made = (gc_fl_device *)gc_calloc(1, sizeof *made);
        GC_CHECK_ALLOC(made);
        made->device_id = b->device_id;
        made->decrement_blocks = sms * (per_sm > 0 ? per_sm : 1);
        *slot = made;
    }
    *dev = *slot;
    return GC_OK;
}

extern "C" int gc_cuda_fl_greedy_many(gc_backend *b, int count, const gc_fl_problem *problems, const int64_t *kappa,
                                      int64_t *const *selected, double *const *gains, double *const *coverage)
{
    gc_fl_device *dev = nullptr;
    GC_TRY(fl_state(b, &dev));
    const gc_cuda_rows resident = gc_cuda_resident(b, nullptr, 0, count > 0 ? problems[0].D : 0);
    return fl_device_many(dev, resident, count, problems, kappa, selected, gains, coverage);
}

extern "C" int gc_cuda_fl_greedy(gc_backend *b, const gc_fl_problem *p, int64_t kappa, int64_t *selected, double *gains,
                                 double *coverage)
{
    return gc_cuda_fl_greedy_many(b, 1, p, &kappa, &selected, &gains, &coverage);
}

extern "C" int gc_cuda_fl_hold(gc_backend *b, int on)
{
    gc_fl_device *dev = nullptr;
    GC_TRY(fl_state(b, &dev));
    dev->hold = on;
    if (!on) {
        GC_CHECK_CUDA(cudaSetDevice(dev->device_id));
        for (int l = 0; l < dev->lanes_made; ++l) lane_trim(&dev->lanes[l]);
    }
    return GC_OK;
}

extern "C" int gc_cuda_fl_force_recompute(gc_backend *b, int on)
{
    gc_fl_device *dev = nullptr;
    GC_TRY(fl_state(b, &dev));
    dev->force_recompute = on;
    return GC_OK;
}

extern "C" int gc_cuda_fl_force_steps(gc_backend *b, int on)
{
    gc_fl_device *dev = nullptr;
    GC_TRY(fl_state(b, &dev));
    dev->force_steps = on;
    return GC_OK;
}

extern "C" int gc_cuda_fl_last_materialized(gc_backend *b)
{
    gc_fl_device *dev = *gc_cuda_fl_slot(b);
    return dev != nullptr && dev->last_materialized;
}

extern "C" double gc_cuda_fl_last_bytes(gc_backend *b)
{
    gc_fl_device *dev = *gc_cuda_fl_slot(b);
    return dev != nullptr ? dev->last_bytes : 0.0;
}
