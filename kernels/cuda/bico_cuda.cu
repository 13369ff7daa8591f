/* BiCo's scoring pass on the GPU (see bico_cuda.h): s_i = 2 Σ_c (θ_cᵀz_i − [c = y_i]) V_cᵀz_i.
 *   The dots θ_cᵀz_i and V_cᵀz_i of every class are one cublasDgemm a block of rows, Z_b [B × q']
 *   times [θ V] [q' × 2C]; finish_scores then sums each row's classes, a warp a row (lanes over
 *   classes, coalesced; a thread a row read 2C values 2C·8 bytes apart and took 68 ms a round at
 *   16M rows, C = 100). An earlier kernel that read θ and V from cache for every row's q' (2·q'·C
 *   doubles a row) ran at 10% of HBM at C = 10.
 *   Where 2C > q' (C = 100), a block's scores come instead from M = θVᵀ [q' × q'] (one DGEMM a
 *   round): s_i = 2 z_iᵀ (M z_i − V_{y_i}), one product M z_i [q'] a row instead of 2C dots,
 *   fewer flops and a narrower product to write and read (finish_quadratic).
 *   Blocks are aligned to the global row index and always B rows high (score_block_rows: the same
 *   on every rank), the features kept in device memory at their global offset in B-row blocks
 *   with zeros around the rank's own rows: every GEMM has the same shape, and a row sits at the
 *   same place of the same shape of block whichever rank holds it, so its score is the same bits.
 * A pass uploads θ and V (2·q'·C doubles) and returns the scores (8 bytes a row), or, in a round
 *   (bico_best), keeps them: one stable descending radix sort of (score, global row) (CUB) puts the
 *   best first and, at equal scores, the lower row first, the order of gc_omp_pair_before; taken
 *   rows and NaN scores get a key that sorts after −∞ and are never returned, −0 becomes +0 (the
 *   sort compares bits, the host scan values). Only the `want` best pairs come back: the host scan
 *   of 16M scores and their copy took 50 ms a round at q' = 134.
 * The data summary (select_bico.c's data_summary, its CPU twin and oracle): per block of rows, in
 *   sub-blocks of kSummaryRows rows (one batched GEMM each),
 *   ZᵀVZ   on √v·z (the upper triangle of the row-major matrix is kept),
 *   ZᵀVY   against W = V·onehot(y), and Σ v per class by class_weights,
 * then every value, summed over the sub-blocks in order, is cut on gc_exact_sum's grid
 * (exact_split.h) and added to int64 accumulators by the thread that owns it: integer sums, so the
 * blocks may come in any order. */
#include <cub/cub.cuh>
#include <math.h>
#include <mpi.h> /* before the extern "C" block: it brings C++ bindings of its own */
#include <string.h>

#include "bico_cuda.h"
#include "core/exact_split.h"
#include "cuda_check.h"

struct gc_bico_summary_device {
    cudaStream_t stream;
    cublasHandle_t blas;
    int qp, C;
    int64_t max_rows, n; /* n = q'(q'+1)/2 + q'C + C values */
    double scale;
    double *z, *zs, *w, *v, *gram, *tail; /* tail: ZᵀVY [q' × C] row-major, then Σ v per class [C] */
    int32_t *y;
    int64_t *acc; /* [2n] */
};

struct gc_bico_device {
    cudaStream_t stream;
    cublasHandle_t blas;
    int64_t first_row; /* the global index of the rank's first row */
    int64_t rows;      /* the rank's rows */
    int64_t offset;    /* where the first of them sits in the first block (its global index mod B) */
    int64_t blocks;    /* B-row blocks that hold them */
    int B, qp, C;
    double *z;      /* [blocks·B × q'], the rank's rows at [offset, offset + rows), zeros around */
    double *tv;     /* [q' × 2C]: θ_j, then V_j, for each feature j */
    double *uw;     /* [B × 2C]: a block's θᵀz, then Vᵀz, for each row; [B × q'] of M z (quadratic_form) */
    double *m;      /* [q' × q'] M = θVᵀ (quadratic_form) */
    double *scores; /* [rows] */
    int32_t *y;
    unsigned char *taken;  /* [rows] 1: selected */
    long long *row, *rank; /* [rows] global rows in order, and as the sort leaves them */
    double *sorted;        /* [rows] the scores as the sort leaves them */
    void *sort_temp;
    size_t sort_bytes;
    long long *picked; /* [GC_BICO_MAX_TAKE] local rows of bico_take */
};

namespace
{

constexpr int kThreads = 256;
#ifndef GC_BICO_SCORE_BLOCK_MAX
#define GC_BICO_SCORE_BLOCK_MAX 262144
#endif
/* Rows bico_take marks at once: a round's batch at most. */
constexpr int kMaxTake = 1024;

/* The key of a row no round may return: all bits set, a NaN that the descending sort puts after −∞. */
__device__ double never_key() { return __longlong_as_double(-1LL); }

/* The sort key of score s: a taken row or a NaN score gets never_key(), −0 becomes +0. */
__device__ double score_key(double s, unsigned char taken)
{
    return taken || isnan(s) ? never_key() : s == 0.0 ? 0.0 : s;
}

/* Warp sum in a fixed tree (xor butterfly): the same bits for the same lane values. */
__device__ double warp_sum(double v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* scores[first + r] = 2 Σ_c (uw[p][c] − [c = y_{first+r}]) uw[p][C + c], p = at + r, for r < count:
 * the block's rows that are the rank's. A warp a row, lane l summing classes l, l + 32, … in order
 * (coalesced: a row's 2C values are contiguous), then warp_sum; as sort keys. */
__global__ void finish_scores(const double *__restrict__ uw, const int32_t *__restrict__ y,
                              const unsigned char *__restrict__ taken, long long at, long long first, long long count,
                              int C, double *__restrict__ scores)
{
    const long long r = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / 32;
    const int lane = threadIdx.x % 32;
    if (r >= count) return;
    const double *u = uw + (at + r) * 2 * C;
    const int label = y[first + r];
    double s = 0.0;
    for (int c = lane; c < C; c += 32) s += (u[c] - (c == label ? 1.0 : 0.0)) * u[C + c];
    s = warp_sum(s);
    if (lane == 0) scores[first + r] = score_key(2.0 * s, taken[first + r]);
}

/* The quadratic form of wide C: scores[first + r] = 2 (z_pᵀ m_p − V_{y}ᵀz_p), m_p = M z_p the
 * block's product, p = at + r; V_j = tv[j·2C + C …]. A warp a row as above, lanes over features. */
__global__ void finish_quadratic(const double *__restrict__ z, const double *__restrict__ m,
                                 const double *__restrict__ tv, const int32_t *__restrict__ y,
                                 const unsigned char *__restrict__ taken, long long at, long long first,
                                 long long count, int qp, int C, double *__restrict__ scores)
{
    const long long r = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / 32;
    const int lane = threadIdx.x % 32;
    if (r >= count) return;
    const double *zr = z + (at + r) * qp, *mr = m + (at + r) * qp;
    const int label = y[first + r];
    double s = 0.0;
    for (int j = lane; j < qp; j += 32) s += zr[j] * (mr[j] - tv[(size_t)j * 2 * C + C + label]);
    s = warp_sum(s);
    if (lane == 0) scores[first + r] = score_key(2.0 * s, taken[first + r]);
}

/* Whether a block's scores come from M = θVᵀ [q' × q'] (one q' × q' product a row) rather than
 * from θᵀz and Vᵀz (2C dots a row): when 2C > q', it is fewer flops and a narrower product. */
bool quadratic_form(int qp, int C) { return 2 * C > qp; }

/* row[i] = first_row + i. */
__global__ void global_rows(long long first_row, long long rows, long long *__restrict__ row)
{
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < rows) row[i] = first_row + i;
}

/* *bits ← max over rows of max(1, ‖z_r‖², ‖z_r‖) as the bits of a non-negative double (their order
 * is the values'), the squares summed in feature order with no fused multiply-add (the host's). */
__global__ void max_entry(const double *__restrict__ z, long long rows, int qp, unsigned long long *bits)
{
    const long long r = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) return;
    double sq = 0.0;
    for (int j = 0; j < qp; ++j) sq = __dadd_rn(sq, __dmul_rn(z[r * qp + j], z[r * qp + j]));
    const double e = fmax(1.0, fmax(sq, sqrt(sq)));
    atomicMax(bits, (unsigned long long)__double_as_longlong(e));
}

__global__ void mark_taken(const long long *__restrict__ local, int count, unsigned char *__restrict__ taken)
{
    const int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t < count) taken[local[t]] = 1;
}

/* out[t] ← z's local row local[t] (rows at `offset` of the blocks), t < count: a round's winners. */
__global__ void gather_z(const double *__restrict__ z, long long offset, const long long *__restrict__ local, int count,
                         int qp, double *__restrict__ out)
{
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (long long)count * qp; i += stride)
        out[i] = z[(size_t)(offset + local[i / qp]) * qp + i % qp];
}

/* B, the rows of a scoring block: a power of two from 1,024 to 262,144, as large as keeps a block's
 * features and its products under 512 MB each (fewer, larger GEMMs: at q' = 134 and 32,768 rows a
 * block, 16M rows took 489 GEMMs and 30 ms a round). Depends on q' and C only, so it is the same on
 * every rank. */
int score_block_rows(int qp, int C)
{
    const long long widest = qp > 2 * C ? qp : 2 * C;
    int B = GC_BICO_SCORE_BLOCK_MAX;
    while (B > 1024 && (long long)B * widest * (long long)sizeof(double) > (512LL << 20)) B /= 2;
    return B;
}

/* Rows of a summary sub-block: a block's products are one batched GEMM of such sub-blocks, the last
 * padded with zero rows, and their partial sums are added in sub-block order. */
constexpr int kSummaryRows = 1024;

/* Over the block's sub-blocks padded to `padded` rows (rows ≤ padded): zs = √v·z (v: zeros past
 * rows), and W [padded × C] = v·onehot(y) (row-major, the column-major C × rows of the GEMM; zeros
 * past rows). */
__global__ void weigh_rows(const double *__restrict__ z, const int32_t *__restrict__ y, const double *__restrict__ v,
                           long long rows, long long padded, int qp, int C, double *__restrict__ zs,
                           double *__restrict__ w)
{
    const long long stride = (long long)gridDim.x * blockDim.x;
    if (v != nullptr)
        for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < padded * qp; i += stride)
            zs[i] = i / qp < rows ? sqrt(v[i / qp]) * z[i] : 0.0;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < padded * C; i += stride) {
        const long long r = i / C;
        w[i] = r < rows && y[r] == i % C ? (v != nullptr ? v[r] : 1.0) : 0.0;
    }
}

/* out[s·C + c] = Σ v over sub-block s's rows of class c, one thread a (sub-block, class), rows in order. */
__global__ void class_weights(const int32_t *__restrict__ y, const double *__restrict__ v, long long rows, int C,
                              int subs, double *__restrict__ out)
{
    const long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= (long long)subs * C) return;
    const int c = (int)(t % C);
    const long long first = t / C * kSummaryRows, last = first + kSummaryRows < rows ? first + kSummaryRows : rows;
    double s = 0.0;
    for (long long r = first; r < last; ++r)
        if (y[r] == c) s += v != nullptr ? v[r] : 1.0;
    out[t] = s;
}

__device__ void accumulate(int64_t *acc, long long n, long long t, double value, double scale)
{
    int64_t whole, fraction;
    gc_exact_split(value, scale, &whole, &fraction);
    acc[t] += whole;
    acc[n + t] += fraction;
}

/* Σ over the sub-blocks, in their order, of part[s·stride + i]. */
__device__ double over_subs(const double *part, long long stride, int subs, long long i)
{
    double v = 0.0;
    for (int s = 0; s < subs; ++s) v += part[s * stride + i];
    return v;
}

/* The block's values, each summed over its sub-blocks, onto the exact grid. Entry (a, b ≥ a) of the
 * row-major upper triangle is gram[a·q' + b] (a symmetric q' × q' a sub-block) and summary value
 * t = a·q' − a(a−1)/2 + (b − a); then ZᵀVY (tail: C × q' column-major a sub-block) and the class
 * weights (classes: C a sub-block) from q'(q'+1)/2 on. */
__global__ void accumulate_summary(const double *__restrict__ gram, const double *__restrict__ tail,
                                   const double *__restrict__ classes, int qp, int C, int subs, long long n,
                                   double scale, int64_t *__restrict__ acc)
{
    const long long stride = (long long)gridDim.x * blockDim.x, square = (long long)qp * qp;
    const long long packed = (long long)qp * (qp + 1) / 2, tail_n = (long long)qp * C;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < square + tail_n + C; i += stride) {
        if (i >= square + tail_n) {
            accumulate(acc, n, packed + (i - square), over_subs(classes, C, subs, i - square - tail_n), scale);
        } else if (i >= square) {
            accumulate(acc, n, packed + (i - square), over_subs(tail, tail_n, subs, i - square), scale);
        } else {
            const long long a = i / qp, b = i % qp;
            if (b >= a) accumulate(acc, n, a * qp - a * (a - 1) / 2 + (b - a), over_subs(gram, square, subs, i), scale);
        }
    }
}

unsigned grid_for(long long work)
{
    const long long blocks = (work + kThreads - 1) / kThreads;
    return (unsigned)(blocks < 1 ? 1 : blocks > 4096 ? 4096 : blocks);
}

int summary_buffers(gc_bico_summary_device *dev)
{
    const size_t rows = (size_t)(dev->max_rows > 0 ? dev->max_rows : 1), qp = (size_t)dev->qp, C = (size_t)dev->C;
    GC_CHECK_CUDA(cudaStreamCreateWithFlags(&dev->stream, cudaStreamNonBlocking));
    GC_CHECK_CUBLAS(cublasCreate(&dev->blas));
    GC_CHECK_CUBLAS(cublasSetStream(dev->blas, dev->stream));
    GC_CHECK_CUDA(cudaMalloc(&dev->z, rows * qp * sizeof(double)));
    GC_CHECK_CUDA(cudaMalloc(&dev->zs, rows * qp * sizeof(double)));
    GC_CHECK_CUDA(cudaMalloc(&dev->w, rows * C * sizeof(double)));
    GC_CHECK_CUDA(cudaMalloc(&dev->v, rows * sizeof(double)));
    GC_CHECK_CUDA(cudaMalloc(&dev->y, rows * sizeof(int32_t)));
    const size_t subs = (rows + kSummaryRows - 1) / kSummaryRows;
    GC_CHECK_CUDA(cudaMalloc(&dev->gram, subs * qp * qp * sizeof(double)));
    GC_CHECK_CUDA(cudaMalloc(&dev->tail, subs * (qp * C + C) * sizeof(double)));
    GC_CHECK_CUDA(cudaMalloc(&dev->acc, 2 * (size_t)dev->n * sizeof(int64_t)));
    GC_CHECK_CUDA(cudaMemsetAsync(dev->acc, 0, 2 * (size_t)dev->n * sizeof(int64_t), dev->stream));
    return GC_OK;
}

int upload(gc_bico_device *dev, const double *z, const int32_t *y)
{
    const size_t n = (size_t)(dev->rows > 0 ? dev->rows : 1), qp = (size_t)dev->qp, C = (size_t)dev->C;
    const size_t padded = (size_t)dev->blocks * dev->B * qp * sizeof(double);
    GC_CHECK_CUDA(cudaStreamCreateWithFlags(&dev->stream, cudaStreamNonBlocking));
    GC_CHECK_CUBLAS(cublasCreate(&dev->blas));
    /* cuBLAS's default math (FP64 either way; cuBLAS gives the same bits run to run in any mode,
     * and every rank runs the same shapes): the scoring GEMMs over 16M rows at q' = 134 took 23.6
     * against 34.5 ms a pass in pedantic math (w = q', the quadratic form) and 5.9 against 7.8 ms
     * (w = 2C = 20) on an H200, a block's products the same bits; the 16M-row jobs chose the same
     * rows and weights, at C = 100 with scores that differ in their last bits
     * (bench/results/ab-h200x1/bico-score/). */
    GC_CHECK_CUBLAS(cublasSetStream(dev->blas, dev->stream));
    GC_CHECK_CUDA(cudaMalloc(&dev->z, padded > 0 ? padded : sizeof(double)));
    GC_CHECK_CUDA(cudaMalloc(&dev->y, n * sizeof(int32_t)));
    GC_CHECK_CUDA(cudaMalloc(&dev->scores, n * sizeof(double)));
    GC_CHECK_CUDA(cudaMalloc(&dev->tv, qp * 2 * C * sizeof(double)));
    GC_CHECK_CUDA(
        cudaMalloc(&dev->uw, (size_t)dev->B * (quadratic_form(dev->qp, dev->C) ? qp : 2 * C) * sizeof(double)));
    if (quadratic_form(dev->qp, dev->C)) GC_CHECK_CUDA(cudaMalloc(&dev->m, qp * qp * sizeof(double)));
    GC_CHECK_CUDA(cudaMemset(dev->z, 0, padded));
    if (z != NULL)
        GC_CHECK_CUDA(cudaMemcpy(dev->z + (size_t)dev->offset * qp, z, (size_t)dev->rows * qp * sizeof(double),
                                 cudaMemcpyHostToDevice));
    GC_CHECK_CUDA(cudaMemcpy(dev->y, y, (size_t)dev->rows * sizeof(int32_t), cudaMemcpyHostToDevice));
    GC_CHECK_CUDA(cudaMalloc(&dev->taken, n));
    GC_CHECK_CUDA(cudaMemset(dev->taken, 0, n));
    return GC_OK;
}

/* The round's sort: the rows' global indices, the sorted copies and CUB's scratch. */
int prepare_sort(gc_bico_device *dev, int64_t first_row)
{
    const size_t n = (size_t)(dev->rows > 0 ? dev->rows : 1);
    GC_CHECK_CUDA(cudaMalloc(&dev->row, n * sizeof(long long)));
    GC_CHECK_CUDA(cudaMalloc(&dev->rank, n * sizeof(long long)));
    GC_CHECK_CUDA(cudaMalloc(&dev->sorted, n * sizeof(double)));
    GC_CHECK_CUDA(cudaMalloc(&dev->picked, kMaxTake * sizeof(long long)));
    global_rows<<<(unsigned)((n + kThreads - 1) / kThreads), kThreads, 0, dev->stream>>>(
        first_row, (long long)dev->rows, dev->row);
    GC_CHECK_LAUNCH();
    GC_CHECK_CUDA(cub::DeviceRadixSort::SortPairsDescending(nullptr, dev->sort_bytes, dev->scores, dev->sorted,
                                                            dev->row, dev->rank, (long long)n, 0, 64, dev->stream));
    GC_CHECK_CUDA(cudaMalloc(&dev->sort_temp, dev->sort_bytes > 0 ? dev->sort_bytes : 1));
    return GC_OK;
}

/* dev->scores ← the sort keys of every row (finish_scores) for θ and V (host, row-major [q' × C]). */
int score_rows(gc_bico_device *dev, const double *theta, const double *v)
{
    const int C = dev->C, qp = dev->qp, B = dev->B;
    const size_t row_bytes = (size_t)C * sizeof(double), tv_pitch = 2 * row_bytes;
    GC_CHECK_CUDA(cudaMemcpy2DAsync(dev->tv, tv_pitch, theta, row_bytes, row_bytes, (size_t)qp, cudaMemcpyHostToDevice,
                                    dev->stream));
    GC_CHECK_CUDA(cudaMemcpy2DAsync(dev->tv + C, tv_pitch, v, row_bytes, row_bytes, (size_t)qp, cudaMemcpyHostToDevice,
                                    dev->stream));
    const double one = 1.0, zero = 0.0;
    const bool quadratic = quadratic_form(qp, C);
    /* Column-major: tv is [2C × q'], θᵀ in its first C rows and Vᵀ in the next; M = θVᵀ. */
    if (quadratic)
        GC_CHECK_CUBLAS(cublasDgemm(dev->blas, CUBLAS_OP_T, CUBLAS_OP_N, qp, qp, C, &one, dev->tv, 2 * C, dev->tv + C,
                                    2 * C, &zero, dev->m, qp));
    for (int64_t blk = 0; blk < dev->blocks; ++blk) {
        const double *z = dev->z + (size_t)blk * B * qp;
        if (quadratic) /* uw [q' × B] = M z_blk [q' × B] */
            GC_CHECK_CUBLAS(cublasDgemm(dev->blas, CUBLAS_OP_N, CUBLAS_OP_N, qp, B, qp, &one, dev->m, qp, z, qp, &zero,
                                        dev->uw, qp));
        else /* uw [2C × B] = tv [2C × q'] · z_blk [q' × B] */
            GC_CHECK_CUBLAS(cublasDgemm(dev->blas, CUBLAS_OP_N, CUBLAS_OP_N, 2 * C, B, qp, &one, dev->tv, 2 * C, z, qp,
                                        &zero, dev->uw, 2 * C));
        const int64_t lo = blk == 0 ? dev->offset : 0, start = blk * B + lo - dev->offset;
        const int64_t count = (dev->rows - start < B - lo) ? dev->rows - start : B - lo;
        const unsigned grid = (unsigned)((32 * count + kThreads - 1) / kThreads); /* a warp a row */
        if (quadratic)
            finish_quadratic<<<grid, kThreads, 0, dev->stream>>>(z, dev->uw, dev->tv, dev->y, dev->taken, lo, start,
                                                                 count, qp, C, dev->scores);
        else
            finish_scores<<<grid, kThreads, 0, dev->stream>>>(dev->uw, dev->y, dev->taken, lo, start, count, C,
                                                              dev->scores);
        GC_CHECK_LAUNCH();
    }
    return GC_OK;
}

} // namespace

extern "C" int gc_cuda_bico_attach(gc_backend *b, int64_t first_row, int64_t rows, int qp, int C, const double *z,
                                   const int32_t *y, gc_bico_device **out)
{
    *out = NULL;
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    gc_bico_device *dev = (gc_bico_device *)gc_calloc(1, sizeof *dev);
    GC_CHECK_ALLOC(dev);
    dev->first_row = first_row;
    dev->rows = rows;
    dev->qp = qp;
    dev->C = C;
    dev->B = score_block_rows(qp, C);
    dev->offset = first_row % dev->B;
    dev->blocks = (dev->offset + rows + dev->B - 1) / dev->B;
    int status = upload(dev, z, y);
    if (status == GC_OK) status = prepare_sort(dev, first_row);
    if (status != GC_OK) {
        gc_cuda_bico_detach(b, dev);
        return status;
    }
    *out = dev;
    return GC_OK;
}

extern "C" int gc_cuda_bico_scores(gc_backend *b, gc_bico_device *dev, const double *theta, const double *v,
                                   double *scores)
{
    if (dev->rows == 0) return GC_OK;
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    GC_TRY(score_rows(dev, theta, v));
    GC_CHECK_CUDA(
        cudaMemcpyAsync(scores, dev->scores, (size_t)dev->rows * sizeof(double), cudaMemcpyDeviceToHost, dev->stream));
    GC_CHECK_CUDA(cudaStreamSynchronize(dev->stream));
    return GC_OK;
}

/* Whole Nyström blocks a features call takes (the host path's GC_NYSTROM_CALL_BLOCKS). */
constexpr int64_t kFeatureBlocks = 64;

extern "C" int gc_cuda_bico_features(gc_backend *b, gc_bico_device *dev, const gc_nystrom_map *map, const float *x)
{
    if (dev->rows == 0) return GC_OK;
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    const gc_cuda_rows kept = x == NULL ? gc_cuda_resident(b, NULL, dev->rows, map->d) : gc_cuda_rows{};
    if (x == NULL && kept.data == NULL)
        return gc_fail(GC_ERR_DEVICE, "GPU %d holds no embeddings of its own to map", b->device_id);
    gc_nystrom_device *ny = NULL;
    int status = gc_cuda_nystrom_attach(b, map, &ny);
    const int64_t B = map->block, first = dev->first_row, hi = first + dev->rows;
    for (int64_t start = first / B * B, step = 0; status == GC_OK && start < hi; start += step) {
        const int64_t blocks = (hi - start + B - 1) / B;
        step = (blocks < kFeatureBlocks ? blocks : kFeatureBlocks) * B;
        const int64_t a = start > first ? start : first, e = start + step < hi ? start + step : hi;
        status = gc_cuda_nystrom_features_to_device(b, ny, step, x != NULL ? x + (a - first) * map->d : NULL, kept,
                                                    a - first, a - start, e - a,
                                                    dev->z + (size_t)(dev->offset + a - first) * dev->qp);
    }
    gc_cuda_nystrom_detach(b, ny);
    return status;
}

extern "C" int gc_cuda_bico_rows(gc_backend *b, gc_bico_device *dev, int64_t first, int64_t count, double *out)
{
    if (count <= 0) return GC_OK;
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    GC_CHECK_CUDA(cudaMemcpy(out, dev->z + (size_t)(dev->offset + first) * dev->qp,
                             (size_t)count * dev->qp * sizeof(double), cudaMemcpyDeviceToHost));
    return GC_OK;
}

extern "C" int gc_cuda_bico_rows_at(gc_backend *b, gc_bico_device *dev, int count, const int64_t *local, double *out)
{
    if (count <= 0) return GC_OK;
    if (count > kMaxTake) return gc_fail(GC_ERR_USAGE, "BiCo: %d rows fetched at once, more than %d", count, kMaxTake);
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    const size_t bytes = (size_t)count * dev->qp * sizeof(double);
    double *rows = nullptr;
    GC_CHECK_CUDA(cudaMallocAsync(&rows, bytes, dev->stream));
    /* The indices through `picked`, as bico_take's (stream order keeps them apart). */
    cudaError_t rc =
        cudaMemcpyAsync(dev->picked, local, (size_t)count * sizeof *local, cudaMemcpyHostToDevice, dev->stream);
    if (rc == cudaSuccess) {
        gather_z<<<grid_for((long long)count * dev->qp), kThreads, 0, dev->stream>>>(dev->z, dev->offset, dev->picked,
                                                                                     count, dev->qp, rows);
        rc = cudaGetLastError();
    }
    if (rc == cudaSuccess) rc = cudaMemcpyAsync(out, rows, bytes, cudaMemcpyDeviceToHost, dev->stream);
    const cudaError_t freed = cudaFreeAsync(rows, dev->stream);
    if (rc == cudaSuccess) rc = freed;
    if (rc == cudaSuccess) rc = cudaStreamSynchronize(dev->stream);
    GC_CHECK_CUDA(rc);
    return GC_OK;
}

extern "C" const double *gc_cuda_bico_z(gc_backend *b, gc_bico_device *dev)
{
    (void)b;
    return dev->z + (size_t)dev->offset * dev->qp;
}

extern "C" int gc_cuda_bico_max_entry(gc_backend *b, gc_bico_device *dev, double *out)
{
    *out = 0.0; /* no rows: the host loop's start */
    if (dev->rows == 0) return GC_OK;
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    unsigned long long *bits = NULL, host = 0;
    GC_CHECK_CUDA(cudaMalloc(&bits, sizeof *bits));
    cudaError_t rc = cudaMemsetAsync(bits, 0, sizeof *bits, dev->stream);
    if (rc == cudaSuccess) {
        max_entry<<<(unsigned)((dev->rows + kThreads - 1) / kThreads), kThreads, 0, dev->stream>>>(
            dev->z + (size_t)dev->offset * dev->qp, (long long)dev->rows, dev->qp, bits);
        rc = cudaGetLastError();
    }
    if (rc == cudaSuccess) rc = cudaMemcpyAsync(&host, bits, sizeof host, cudaMemcpyDeviceToHost, dev->stream);
    if (rc == cudaSuccess) rc = cudaStreamSynchronize(dev->stream);
    (void)cudaFree(bits);
    GC_CHECK_CUDA(rc);
    memcpy(out, &host, sizeof *out);
    return GC_OK;
}

extern "C" int gc_cuda_bico_take(gc_backend *b, gc_bico_device *dev, int count, const int64_t *local)
{
    if (count <= 0) return GC_OK;
    if (count > kMaxTake) return gc_fail(GC_ERR_USAGE, "BiCo: %d rows taken at once, more than %d", count, kMaxTake);
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    /* From pageable memory: the copy returns once staged, so the caller may reuse `local`. */
    GC_CHECK_CUDA(
        cudaMemcpyAsync(dev->picked, local, (size_t)count * sizeof *local, cudaMemcpyHostToDevice, dev->stream));
    mark_taken<<<(unsigned)((count + kThreads - 1) / kThreads), kThreads, 0, dev->stream>>>(dev->picked, count,
                                                                                            dev->taken);
    GC_CHECK_LAUNCH();
    return GC_OK;
}

extern "C" int gc_cuda_bico_best(gc_backend *b, gc_bico_device *dev, const double *theta, const double *v, int want,
                                 gc_omp_pair *best)
{
    for (int t = 0; t < want; ++t) best[t] = GC_OMP_NONE;
    const int got = (int)(dev->rows < want ? dev->rows : want);
    if (got == 0) return GC_OK;
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    GC_TRY(score_rows(dev, theta, v));
    GC_CHECK_CUDA(cub::DeviceRadixSort::SortPairsDescending(dev->sort_temp, dev->sort_bytes, dev->scores, dev->sorted,
                                                            dev->row, dev->rank, (long long)dev->rows, 0, 64,
                                                            dev->stream));
    double keys[kMaxTake];
    long long rows[kMaxTake];
    if (got > kMaxTake) return gc_fail(GC_ERR_USAGE, "BiCo: %d points a round, more than %d", got, kMaxTake);
    GC_CHECK_CUDA(cudaMemcpyAsync(keys, dev->sorted, (size_t)got * sizeof *keys, cudaMemcpyDeviceToHost, dev->stream));
    GC_CHECK_CUDA(cudaMemcpyAsync(rows, dev->rank, (size_t)got * sizeof *rows, cudaMemcpyDeviceToHost, dev->stream));
    GC_CHECK_CUDA(cudaStreamSynchronize(dev->stream));
    for (int t = 0; t < got && !isnan(keys[t]); ++t) best[t] = gc_omp_pair{ keys[t], (int64_t)rows[t] };
    return GC_OK;
}

extern "C" void gc_cuda_bico_detach(gc_backend *b, gc_bico_device *dev)
{
    if (dev == NULL) return;
    (void)cudaSetDevice(b->device_id);
    gc_cuda_stream_end(dev->stream, dev->blas);
    (void)cudaFree(dev->z);
    (void)cudaFree(dev->y);
    (void)cudaFree(dev->scores);
    (void)cudaFree(dev->tv);
    (void)cudaFree(dev->uw);
    (void)cudaFree(dev->m);
    (void)cudaFree(dev->taken);
    (void)cudaFree(dev->row);
    (void)cudaFree(dev->rank);
    (void)cudaFree(dev->sorted);
    (void)cudaFree(dev->sort_temp);
    (void)cudaFree(dev->picked);
    free(dev);
}

extern "C" int gc_cuda_bico_summary_attach(gc_backend *b, int qp, int C, int64_t max_rows, double scale,
                                           gc_bico_summary_device **out)
{
    *out = NULL;
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    gc_bico_summary_device *dev = (gc_bico_summary_device *)gc_calloc(1, sizeof *dev);
    GC_CHECK_ALLOC(dev);
    dev->qp = qp;
    dev->C = C;
    dev->max_rows = max_rows;
    dev->n = (int64_t)qp * (qp + 1) / 2 + (int64_t)qp * C + C;
    dev->scale = scale;
    int status = summary_buffers(dev);
    if (status != GC_OK) {
        gc_cuda_bico_summary_detach(b, dev);
        return status;
    }
    *out = dev;
    return GC_OK;
}

namespace
{

/* One block's sums into the accumulators, its z [rows × q'], y and v (nullptr: all 1) in device
 * memory: its sub-blocks of kSummaryRows rows (the last padded with zero rows, through dev->z) in
 * one batched GEMM each for ZᵀVZ (on √v·z) and ZᵀVY (against W = V·onehot(y)), Σ v per class, then
 * each value summed over the sub-blocks in order and put on the exact grid. A block of 8,192 rows
 * in one DSYRK and one GEMM kept a few of the GPU's SMs busy (their q' × q' and C × q' outputs are
 * a handful of tiles): 0.72 s for 16M rows at q' = 134 on an H200. A block always has the same
 * rows wherever it is summed (select_bico.c), so the same shapes and the same bits. Queued on
 * dev->stream, not waited for; the scratch it writes (zs, w, gram, tail) is the next block's only
 * after this block's kernels, in stream order. */
int summary_block(gc_bico_summary_device *dev, int64_t rows, const double *z, const int32_t *y, const double *v)
{
    const int qp = dev->qp, C = dev->C, subs = (int)((rows + kSummaryRows - 1) / kSummaryRows);
    const long long padded = (long long)subs * kSummaryRows;
    if (padded > rows) { /* the last sub-block's padding: zeros after the rows, in dev->z */
        if (z != dev->z)
            GC_CHECK_CUDA(
                cudaMemcpyAsync(dev->z, z, (size_t)rows * qp * sizeof(double), cudaMemcpyDeviceToDevice, dev->stream));
        GC_CHECK_CUDA(
            cudaMemsetAsync(dev->z + (size_t)rows * qp, 0, (size_t)(padded - rows) * qp * sizeof(double), dev->stream));
        z = dev->z;
    }
    weigh_rows<<<grid_for(padded * (qp > C ? qp : C)), kThreads, 0, dev->stream>>>(z, y, v, rows, padded, qp, C,
                                                                                   dev->zs, dev->w);
    GC_CHECK_LAUNCH();
    double *tail = dev->tail, *classes = dev->tail + (size_t)subs * qp * C;
    class_weights<<<grid_for((long long)subs * C), kThreads, 0, dev->stream>>>(y, v, rows, C, subs, classes);
    GC_CHECK_LAUNCH();
    const double one = 1.0, zero = 0.0;
    const double *zg = v != nullptr ? dev->zs : z;
    const long long zstride = (long long)kSummaryRows * qp;
    /* gram_s = Z_sᵀZ_s: column-major (q' × rows)·(rows × q'), symmetric. */
    GC_CHECK_CUBLAS(cublasDgemmStridedBatched(dev->blas, CUBLAS_OP_N, CUBLAS_OP_T, qp, qp, kSummaryRows, &one, zg, qp,
                                              zstride, zg, qp, zstride, &zero, dev->gram, qp, (long long)qp * qp,
                                              subs));
    /* tail_s[j·C + c] = Σ_r w[r·C + c] z[r·q' + j]: column-major (C × rows)·(rows × q'). */
    GC_CHECK_CUBLAS(cublasDgemmStridedBatched(dev->blas, CUBLAS_OP_N, CUBLAS_OP_T, C, qp, kSummaryRows, &one, dev->w, C,
                                              (long long)kSummaryRows * C, z, qp, zstride, &zero, tail, C,
                                              (long long)qp * C, subs));
    accumulate_summary<<<grid_for((long long)qp * qp + (long long)qp * C + C), kThreads, 0, dev->stream>>>(
        dev->gram, tail, classes, qp, C, subs, dev->n, dev->scale, dev->acc);
    GC_CHECK_LAUNCH();
    return GC_OK;
}

} // namespace

extern "C" int gc_cuda_bico_summary_add(gc_backend *b, gc_bico_summary_device *dev, int64_t rows, const double *z,
                                        const int32_t *y, const double *v)
{
    if (rows <= 0) return GC_OK;
    if (rows > dev->max_rows)
        return gc_fail(GC_ERR_LIB, "BiCo summary: a block of %lld rows, set up for at most %lld", (long long)rows,
                       (long long)dev->max_rows);
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    /* z from the host or from the device's copy of Z (cudaMemcpyDefault: unified addressing) */
    GC_CHECK_CUDA(cudaMemcpyAsync(dev->z, z, (size_t)rows * dev->qp * sizeof(double), cudaMemcpyDefault, dev->stream));
    GC_CHECK_CUDA(cudaMemcpyAsync(dev->y, y, (size_t)rows * sizeof(int32_t), cudaMemcpyHostToDevice, dev->stream));
    if (v != NULL)
        GC_CHECK_CUDA(cudaMemcpyAsync(dev->v, v, (size_t)rows * sizeof(double), cudaMemcpyHostToDevice, dev->stream));
    GC_TRY(summary_block(dev, rows, dev->z, dev->y, v != NULL ? dev->v : nullptr));
    /* The caller may reuse z, y and v as soon as this returns. */
    GC_CHECK_CUDA(cudaStreamSynchronize(dev->stream));
    return GC_OK;
}

extern "C" int gc_cuda_bico_summary_add_own(gc_backend *b, gc_bico_summary_device *dev, gc_bico_device *own,
                                            int64_t first, int64_t count)
{
    if (count <= 0) return GC_OK;
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    /* After everything queued on the scorer's stream (its features). */
    cudaEvent_t written;
    GC_CHECK_CUDA(cudaEventCreateWithFlags(&written, cudaEventDisableTiming));
    cudaError_t rc = cudaEventRecord(written, own->stream);
    if (rc == cudaSuccess) rc = cudaStreamWaitEvent(dev->stream, written, 0);
    (void)cudaEventDestroy(written);
    GC_CHECK_CUDA(rc);
    for (int64_t at = first; at < first + count; at += dev->max_rows) {
        const int64_t rows = first + count - at < dev->max_rows ? first + count - at : dev->max_rows;
        GC_TRY(summary_block(dev, rows, own->z + (size_t)(own->offset + at) * own->qp, own->y + at, nullptr));
    }
    return GC_OK;
}

extern "C" int gc_cuda_bico_summary_collect(gc_backend *b, gc_bico_summary_device *dev, int64_t *acc)
{
    GC_CHECK_CUDA(cudaSetDevice(b->device_id));
    GC_CHECK_CUDA(cudaStreamSynchronize(dev->stream)); /* bico_summary_add_own's blocks */
    const size_t count = 2 * (size_t)dev->n;
    int64_t *host = (int64_t *)gc_malloc(count * sizeof *host);
    GC_CHECK_ALLOC(host);
    const cudaError_t rc = cudaMemcpy(host, dev->acc, count * sizeof *host, cudaMemcpyDeviceToHost);
    if (rc == cudaSuccess)
        for (size_t j = 0; j < count; ++j) acc[j] += host[j];
    free(host);
    GC_CHECK_CUDA(rc);
    return GC_OK;
}

extern "C" void gc_cuda_bico_summary_detach(gc_backend *b, gc_bico_summary_device *dev)
{
    if (dev == NULL) return;
    (void)cudaSetDevice(b->device_id);
    gc_cuda_stream_end(dev->stream, dev->blas);
    double *buffers[] = { dev->z, dev->zs, dev->w, dev->v, dev->gram, dev->tail };
    for (double *p : buffers) (void)cudaFree(p);
    (void)cudaFree(dev->y);
    (void)cudaFree(dev->acc);
    free(dev);
}
