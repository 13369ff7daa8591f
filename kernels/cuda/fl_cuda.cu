/* Facility-location greedy on the GPU (see fl_cuda.h); kernels/cpu/greedy_fl_cpu.c is its oracle.
 *
 * Similarities: s_ij = c - sqrt(max(0, n_i + n_j - 2 e_i·e_j)), the dot products by cuBLAS DGEMM, kept
 * in double: in float, the cancellation in n_i + n_j - 2 e_i·e_j and the rounding of s near c make
 * late gains (small differences of similarities) wrong in the third digit and near-ties go the
 * other way than on the CPU oracle. Hopper's FP64 rate makes the GEMM cheap; the greedy, which is
 * bound by memory traffic, reads 8-byte similarities.
 * "Rows" of the block are produced by one of two sources, chosen per call:
 *   materialized  the whole m×m block lives in device memory (m²·8 bytes), rows are read in place;
 *   recompute     rows are computed on demand by a GEMM tile [rows × m] (2·rows·m·D flops).
 * The block is symmetric, so row j doubles as column j and every access below is coalesced.
 *
 * Exact greedy maintains every gain g_j = Σ_i w_i max(0, s_ij - cur_i) incrementally: when j* is
 * selected, only rows i with s_ij* > cur_i change, and g_j drops by
 * Σ_{changed i} w_i (max(0, s_ij - cur_i) - max(0, s_ij - s_ij*)). A step therefore reads
 * changed × m similarities (bytes = 8·changed·m) instead of m². Partial sums are reduced in a fixed
 * order, so results are deterministic run to run. */
#include <cub/cub.cuh>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_check.h"
#include "fl_cuda.h"

namespace
{

constexpr int kThreads = 256;
constexpr int kDecrementRowsPerSlice = 64; /* changed rows handled by one grid row of the decrement */
constexpr int kMaxSlices = 64;

/* One device buffer grown on demand (stream-ordered allocations come from the pool). */
struct buffer {
    void *ptr = nullptr;
    size_t bytes = 0;
};

} // namespace

struct gc_fl_device {
    int device_id;
    cudaStream_t stream;
    cublasHandle_t blas;
    int force_recompute;
    int last_materialized;
    double last_bytes; /* similarity bytes the last call wrote and read (its roofline numerator) */
};

namespace
{

int reserve(gc_fl_device *dev, buffer &b, size_t bytes)
{
    if (b.bytes >= bytes) return GC_OK;
    if (b.ptr) GC_CHECK_CUDA(cudaFreeAsync(b.ptr, dev->stream));
    b.ptr = nullptr;
    b.bytes = 0;
    GC_CHECK_CUDA(cudaMallocAsync(&b.ptr, bytes > 0 ? bytes : 1, dev->stream));
    b.bytes = bytes;
    return GC_OK;
}

/* ed = (double)e and n_i = ‖e_i‖². Grid: ceil(m/256). */
__global__ void widen_and_norms(const float *e, int m, int D, double *ed, double *norms)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= m) return;
    double s = 0.0;
    for (int t = 0; t < D; ++t) {
        double v = e[(size_t)i * D + t];
        ed[(size_t)i * D + t] = v;
        s += v * v;
    }
    norms[i] = s;
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

/* tile[r][j] ← c - sqrt(max(0, ng_r + n_j + tile[r][j])) with tile holding -2 e_r·e_j.
 * Grid: (ceil(m/256), count). Bytes: 16·count·m. */
__global__ void finish_similarity(double *tile, const double *ng, const double *n, int count, int m, double c)
{
    int j = blockIdx.x * blockDim.x + threadIdx.x, r = blockIdx.y;
    if (j >= m || r >= count) return;
    size_t at = (size_t)r * m + j;
    tile[at] = c - sqrt(fmax(0.0, ng[r] + n[j] + tile[at]));
}

/* out[r] = Σ_i w_i max(0, s[row_r][i] - cur_i): the gain of element row_r. One block per row,
 * a block reduction. Bytes: 8·count·m (+ 16·m from cache). */
__global__ void row_gains(const double *base, const int *row_of, int count, int m, const double *w, const double *cur,
                          double *out)
{
    int r = blockIdx.x;
    if (r >= count) return;
    const double *row = base + (size_t)(row_of ? row_of[r] : r) * m;
    double g = 0.0;
    for (int i = threadIdx.x; i < m; i += blockDim.x) {
        double d = row[i] - cur[i];
        if (d > 0.0) g += w[i] * d;
    }
    typedef cub::BlockReduce<double, kThreads> reduce;
    __shared__ typename reduce::TempStorage temp;
    double total = reduce(temp).Sum(g);
    if (threadIdx.x == 0) out[r] = total;
}

/* partial[y][j] = Σ_{r in slice y} w_{i_r} (max(0, s_{i_r j} - old_r) - max(0, s_{i_r j} - new_r)), the
 * gain decrements caused by rows whose coverage rose. Grid: (ceil(m/256), slices). Reads 8·count·m. */
__global__ void gain_decrements(const double *base, const int *row_of, const int *rows, int count, int m,
                                const double *w, const double *old_cover, const double *new_cover, int slices,
                                double *partial)
{
    int j = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y;
    if (j >= m) return;
    int per = (count + slices - 1) / slices, lo = y * per, hi = min(count, lo + per);
    double dec = 0.0;
    for (int r = lo; r < hi; ++r) {
        double s = base[(size_t)(row_of ? row_of[r] : r) * m + j];
        dec += w[rows[r]] * (fmax(0.0, s - old_cover[r]) - fmax(0.0, s - new_cover[r]));
    }
    partial[(size_t)y * m + j] = dec;
}

/* g_j -= Σ_y partial[y][j] in slice order (deterministic). Grid: ceil(m/256). */
__global__ void apply_decrements(const double *partial, int slices, int m, double *g)
{
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= m) return;
    double dec = 0.0;
    for (int y = 0; y < slices; ++y) dec += partial[(size_t)y * m + j];
    g[j] -= dec;
}

/* The unselected element of largest gain, ties to the lowest position. One block of 1024. */
__global__ void argmax_gain(const double *g, const unsigned char *taken, int m, int *best_index, double *best_gain)
{
    double bv = -INFINITY;
    int bi = m;
    for (int j = threadIdx.x; j < m; j += blockDim.x)
        if (!taken[j] && (g[j] > bv || (g[j] == bv && j < bi))) bv = g[j], bi = j;
    __shared__ double sv[1024];
    __shared__ int si[1024];
    sv[threadIdx.x] = bv;
    si[threadIdx.x] = bi;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half /= 2) {
        if (threadIdx.x < half) {
            double ov = sv[threadIdx.x + half];
            int oi = si[threadIdx.x + half];
            if (ov > sv[threadIdx.x] || (ov == sv[threadIdx.x] && oi < si[threadIdx.x]))
                sv[threadIdx.x] = ov, si[threadIdx.x] = oi;
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) *best_index = si[0], *best_gain = sv[0];
}

/* flags_i = s_{j* i} > cur_i: the rows whose coverage the new element raises. Grid: ceil(m/256). */
__global__ void raised_rows(const double *row, const double *cur, int m, unsigned char *flags)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < m) flags[i] = row[i] > cur[i];
}

/* old_r = cur[rows_r], new_r = s_{j* rows_r}. Grid: ceil(count/256). */
__global__ void gather_cover(const int *rows, int count, const double *row, const double *cur, double *old_cover,
                             double *new_cover)
{
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= count) return;
    old_cover[r] = cur[rows[r]];
    new_cover[r] = row[rows[r]];
}

/* cur_i = max(cur_i, s_{j* i}). Grid: ceil(m/256). */
__global__ void raise_cover(const double *row, int m, double *cur)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < m) cur[i] = fmax(cur[i], row[i]);
}

/* Running nearest selected element per point over tiles of selected rows taken in ascending
 * position (strict '>' keeps the lowest on ties). Grid: ceil(m/256). */
__global__ void nearest_selected(const double *base, const int *row_of, int count, int first, int m, double *best,
                                 int *assign)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= m) return;
    for (int r = 0; r < count; ++r) {
        double s = base[(size_t)(row_of ? row_of[r] : r) * m + i];
        if (first + r == 0 || s > best[i]) best[i] = s, assign[i] = first + r;
    }
}

__global__ void fill_double(double *x, int m, double v)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < m) x[i] = v;
}

/* x[i] = first + i. Grid: ceil(n/256). */
__global__ void iota(int *x, int n, int first)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] = first + i;
}

inline unsigned blocks(long n) { return (unsigned)((n + kThreads - 1) / kThreads); }

/* Everything one greedy call holds on the device. */
struct block_state {
    gc_fl_device *dev;
    int m, D;
    double c;
    bool materialized;
    int tile_rows; /* recompute: rows per GEMM tile */
    buffer e32, e, n, S, tile, eg, ng, w, cur, g, taken, list, flags, index, old_cover, new_cover, partial, scratch,
        best_index, best_gain, count, rows, out, nearest_value, nearest_index;

    ~block_state()
    {
        buffer *all[] = { &e32,          &e,       &n,          &S,         &tile,  &eg,    &ng,        &w,
                          &cur,          &g,       &taken,      &list,      &flags, &index, &old_cover, &new_cover,
                          &partial,      &scratch, &best_index, &best_gain, &count, &rows,  &out,       &nearest_value,
                          &nearest_index };
        for (buffer *b : all)
            if (b->ptr) cudaFreeAsync(b->ptr, dev->stream);
    }

    /* -2·E_rows·Eᵀ into `into` [count × m] row-major, then finished into similarities. */
    int compute_rows(const int *rows_dev, int count, double *into)
    {
        GC_TRY(reserve(dev, eg, (size_t)count * D * sizeof(double)));
        GC_TRY(reserve(dev, ng, (size_t)count * sizeof(double)));
        const double *a = (const double *)e.ptr, *b = (const double *)e.ptr, *nb = (const double *)n.ptr;
        if (rows_dev != nullptr) {
            gather_rows<<<count, 128, 0, dev->stream>>>((const double *)e.ptr, (const double *)n.ptr, rows_dev, count,
                                                        D, (double *)eg.ptr, (double *)ng.ptr);
            GC_CHECK_LAUNCH();
            b = (const double *)eg.ptr;
            nb = (const double *)ng.ptr;
        }
        const double alpha = -2.0, beta = 0.0;
        /* Column-major view: into^T [m × count] = E_cm^T [m × D] · B_cm [D × count]. */
        GC_CHECK_CUBLAS(
            cublasDgemm(dev->blas, CUBLAS_OP_T, CUBLAS_OP_N, m, count, D, &alpha, a, D, b, D, &beta, into, m));
        finish_similarity<<<dim3(blocks(m), count), kThreads, 0, dev->stream>>>(into, nb, (const double *)n.ptr, count,
                                                                                m, c);
        GC_CHECK_LAUNCH();
        return GC_OK;
    }

    /* Calls use(base, row_of, count, first) for tiles covering rows_dev[0, count): in place when
     * materialized, else through GEMM tiles of at most tile_rows rows. rows_dev == nullptr: 0..count-1. */
    template <typename F> int for_rows(const int *rows_dev, int count, F use)
    {
        if (materialized) return use((const double *)S.ptr, rows_dev, count, 0);
        for (int first = 0; first < count; first += tile_rows) {
            int n_rows = min(tile_rows, count - first);
            const int *sub = rows_dev ? rows_dev + first : nullptr;
            if (sub == nullptr) { /* identity rows: build the index list for the gather */
                GC_TRY(reserve(dev, rows, (size_t)n_rows * sizeof(int)));
                iota<<<blocks(n_rows), kThreads, 0, dev->stream>>>((int *)rows.ptr, n_rows, first);
                GC_CHECK_LAUNCH();
                sub = (const int *)rows.ptr;
            }
            GC_TRY(compute_rows(sub, n_rows, (double *)tile.ptr));
            GC_TRY(use((const double *)tile.ptr, nullptr, n_rows, first));
        }
        return GC_OK;
    }
};

} // namespace

static int fl_device_create(int device_id, gc_fl_device **out)
{
    *out = nullptr;
    GC_CHECK_CUDA(cudaSetDevice(device_id));
    gc_fl_device *dev = (gc_fl_device *)gc_calloc(1, sizeof *dev);
    GC_CHECK_ALLOC(dev);
    dev->device_id = device_id;
    if (cudaStreamCreateWithFlags(&dev->stream, cudaStreamNonBlocking) != cudaSuccess ||
        cublasCreate(&dev->blas) != CUBLAS_STATUS_SUCCESS ||
        cublasSetStream(dev->blas, dev->stream) != CUBLAS_STATUS_SUCCESS) {
        free(dev);
        return gc_fail(GC_ERR_DEVICE, "cannot set up GPU %d for facility location", device_id);
    }
    /* Plain FP32 products: the similarities feed exact comparisons against the CPU oracle. */
    cublasSetMathMode(dev->blas, CUBLAS_PEDANTIC_MATH);
    *out = dev;
    return GC_OK;
}

extern "C" void gc_cuda_fl_release(gc_backend *b, gc_fl_device *dev)
{
    if (dev == nullptr) return;
    (void)cudaSetDevice(b->device_id);
    gc_cuda_stream_end(dev->stream, dev->blas);
    free(dev);
}

namespace
{

int exact_greedy(block_state &st, const gc_fl_problem *p, int64_t kappa, int64_t *selected, double *gains,
                 int64_t *count)
{
    const double total_weight = gc_fl_total_weight(p);
    double objective = 0.0;
    *count = 0;
    gc_fl_device *dev = st.dev;
    const int m = st.m;
    double *g = (double *)st.g.ptr, *cur = (double *)st.cur.ptr, *w = (double *)st.w.ptr;
    GC_TRY(st.for_rows(nullptr, m, [&](const double *base, const int *row_of, int count, int first) -> int {
        row_gains<<<count, kThreads, 0, dev->stream>>>(base, row_of, count, m, w, cur, g + first);
        GC_CHECK_LAUNCH();
        return GC_OK;
    }));
    dev->last_bytes += 8.0 * m * (double)m;
    size_t scan_bytes = 0;
    GC_CHECK_CUDA(cub::DeviceSelect::Flagged(nullptr, scan_bytes, (const int *)st.index.ptr,
                                             (const unsigned char *)st.flags.ptr, (int *)st.list.ptr,
                                             (int *)st.count.ptr, m, dev->stream));
    GC_TRY(reserve(dev, st.scratch, scan_bytes));
    for (int64_t step = 0; step < kappa; ++step) {
        argmax_gain<<<1, 1024, 0, dev->stream>>>(g, (const unsigned char *)st.taken.ptr, m, (int *)st.best_index.ptr,
                                                 (double *)st.best_gain.ptr);
        GC_CHECK_LAUNCH();
        int j;
        GC_CHECK_CUDA(cudaMemcpyAsync(&j, st.best_index.ptr, sizeof j, cudaMemcpyDeviceToHost, dev->stream));
        GC_CHECK_CUDA(
            cudaMemcpyAsync(&gains[step], st.best_gain.ptr, sizeof(double), cudaMemcpyDeviceToHost, dev->stream));
        GC_CHECK_CUDA(cudaStreamSynchronize(dev->stream));
        selected[step] = j;
        *count = step + 1;
        objective += gains[step];
        GC_CHECK_CUDA(cudaMemsetAsync((unsigned char *)st.taken.ptr + j, 1, 1, dev->stream));
        if (step + 1 == kappa || gc_cover_reached(p, total_weight, objective)) break; /* no more updates needed */
        /* The new element's similarity row: in place, or one GEMM row into `out`. */
        const double *row = (const double *)st.S.ptr + (size_t)j * m;
        if (!st.materialized) {
            GC_CHECK_CUDA(cudaMemcpyAsync(st.rows.ptr, &j, sizeof j, cudaMemcpyHostToDevice, dev->stream));
            GC_TRY(st.compute_rows((const int *)st.rows.ptr, 1, (double *)st.out.ptr));
            row = (const double *)st.out.ptr;
        }
        raised_rows<<<blocks(m), kThreads, 0, dev->stream>>>(row, cur, m, (unsigned char *)st.flags.ptr);
        GC_CHECK_LAUNCH();
        GC_CHECK_CUDA(cub::DeviceSelect::Flagged(st.scratch.ptr, scan_bytes, (const int *)st.index.ptr,
                                                 (const unsigned char *)st.flags.ptr, (int *)st.list.ptr,
                                                 (int *)st.count.ptr, m, dev->stream));
        int changed;
        GC_CHECK_CUDA(cudaMemcpyAsync(&changed, st.count.ptr, sizeof changed, cudaMemcpyDeviceToHost, dev->stream));
        GC_CHECK_CUDA(cudaStreamSynchronize(dev->stream));
        if (changed == 0) continue;
        dev->last_bytes += 8.0 * changed * (double)m + 8.0 * m; /* the raised rows, and j*'s row */
        const int *list = (const int *)st.list.ptr;
        gather_cover<<<blocks(changed), kThreads, 0, dev->stream>>>(list, changed, row, cur, (double *)st.old_cover.ptr,
                                                                    (double *)st.new_cover.ptr);
        GC_CHECK_LAUNCH();
        GC_TRY(st.for_rows(list, changed, [&](const double *base, const int *row_of, int count, int first) -> int {
            int slices = min(kMaxSlices, (count + kDecrementRowsPerSlice - 1) / kDecrementRowsPerSlice);
            gain_decrements<<<dim3(blocks(m), slices), kThreads, 0, dev->stream>>>(
                base, row_of, list + first, count, m, w, (const double *)st.old_cover.ptr + first,
                (const double *)st.new_cover.ptr + first, slices, (double *)st.partial.ptr);
            GC_CHECK_LAUNCH();
            apply_decrements<<<blocks(m), kThreads, 0, dev->stream>>>((const double *)st.partial.ptr, slices, m, g);
            GC_CHECK_LAUNCH();
            return GC_OK;
        }));
        raise_cover<<<blocks(m), kThreads, 0, dev->stream>>>(row, m, cur);
        GC_CHECK_LAUNCH();
    }
    return GC_OK;
}

int stochastic_greedy(block_state &st, const gc_fl_problem *p, int64_t kappa, int64_t *selected, double *gains,
                      int64_t *count)
{
    const double total_weight = gc_fl_total_weight(p);
    double objective = 0.0;
    *count = 0;
    gc_fl_device *dev = st.dev;
    const int m = st.m;
    const int64_t sample = gc_stochastic_sample_size(m, kappa, p->stochastic_epsilon);
    int64_t *rest = (int64_t *)gc_malloc((size_t)m * sizeof *rest);
    int *picked = (int *)gc_malloc((size_t)(sample < m ? sample : m) * sizeof *picked);
    double *g = (double *)gc_malloc((size_t)(sample < m ? sample : m) * sizeof *g);
    int status = (rest && picked && g) ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory for stochastic greedy");
    for (int64_t j = 0; status == GC_OK && j < m; ++j) rest[j] = j;
    int64_t size = m;
    for (int64_t step = 0; step < kappa && status == GC_OK; ++step) {
        int64_t s = sample < size ? sample : size;
        gc_stochastic_draw(rest, size, s, step, m, p->seed);
        for (int64_t t = 0; t < s; ++t) picked[t] = (int)rest[t];
        auto run = [&]() -> int {
            GC_CHECK_CUDA(
                cudaMemcpyAsync(st.list.ptr, picked, (size_t)s * sizeof(int), cudaMemcpyHostToDevice, dev->stream));
            GC_TRY(st.for_rows((const int *)st.list.ptr, (int)s,
                               [&](const double *base, const int *row_of, int count, int first) -> int {
                                   row_gains<<<count, kThreads, 0, dev->stream>>>(
                                       base, row_of, count, m, (const double *)st.w.ptr, (const double *)st.cur.ptr,
                                       (double *)st.g.ptr + first);
                                   GC_CHECK_LAUNCH();
                                   return GC_OK;
                               }));
            dev->last_bytes += 8.0 * (double)s * m;
            GC_CHECK_CUDA(
                cudaMemcpyAsync(g, st.g.ptr, (size_t)s * sizeof(double), cudaMemcpyDeviceToHost, dev->stream));
            GC_CHECK_CUDA(cudaStreamSynchronize(dev->stream));
            int64_t best = 0;
            for (int64_t t = 1; t < s; ++t)
                if (g[t] > g[best] || (g[t] == g[best] && rest[t] < rest[best])) best = t;
            int j = (int)rest[best];
            selected[step] = j;
            gains[step] = g[best];
            rest[best] = rest[--size];
            *count = step + 1;
            objective += gains[step];
            const double *row = (const double *)st.S.ptr + (size_t)j * m;
            if (!st.materialized) {
                GC_CHECK_CUDA(cudaMemcpyAsync(st.rows.ptr, &j, sizeof j, cudaMemcpyHostToDevice, dev->stream));
                GC_TRY(st.compute_rows((const int *)st.rows.ptr, 1, (double *)st.out.ptr));
                row = (const double *)st.out.ptr;
            }
            raise_cover<<<blocks(m), kThreads, 0, dev->stream>>>(row, m, (double *)st.cur.ptr);
            GC_CHECK_LAUNCH();
            return GC_OK;
        };
        status = run();
        if (gc_cover_reached(p, total_weight, objective)) break;
    }
    free(rest);
    free(picked);
    free(g);
    return status;
}

int compare_int64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* coverage[position] += w_i for each point's most similar selected element. */
int assign_coverage(block_state &st, const gc_fl_problem *p, int64_t kappa, const int64_t *selected, double *coverage)
{
    gc_fl_device *dev = st.dev;
    const int m = st.m;
    int64_t *order = (int64_t *)gc_malloc((size_t)kappa * sizeof *order);
    int *order32 = (int *)gc_malloc((size_t)kappa * sizeof *order32),
        *assign = (int *)gc_malloc((size_t)m * sizeof *assign);
    int status = (order && order32 && assign) ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory for coverage");
    if (status == GC_OK) {
        memcpy(order, selected, (size_t)kappa * sizeof *order);
        qsort(order, (size_t)kappa, sizeof *order, compare_int64);
        for (int64_t a = 0; a < kappa; ++a) order32[a] = (int)order[a];
        auto run = [&]() -> int {
            GC_TRY(reserve(dev, st.nearest_value, (size_t)m * sizeof(double)));
            GC_TRY(reserve(dev, st.nearest_index, (size_t)m * sizeof(int)));
            GC_TRY(reserve(dev, st.list, (size_t)(kappa > m ? kappa : m) * sizeof(int)));
            GC_CHECK_CUDA(cudaMemcpyAsync(st.list.ptr, order32, (size_t)kappa * sizeof(int), cudaMemcpyHostToDevice,
                                          dev->stream));
            GC_TRY(st.for_rows((const int *)st.list.ptr, (int)kappa,
                               [&](const double *base, const int *row_of, int count, int first) -> int {
                                   nearest_selected<<<blocks(m), kThreads, 0, dev->stream>>>(
                                       base, row_of, count, first, m, (double *)st.nearest_value.ptr,
                                       (int *)st.nearest_index.ptr);
                                   GC_CHECK_LAUNCH();
                                   return GC_OK;
                               }));
            GC_CHECK_CUDA(cudaMemcpyAsync(assign, st.nearest_index.ptr, (size_t)m * sizeof(int), cudaMemcpyDeviceToHost,
                                          dev->stream));
            GC_CHECK_CUDA(cudaStreamSynchronize(dev->stream));
            return GC_OK;
        };
        status = run();
    }
    if (status == GC_OK) {
        memset(coverage, 0, (size_t)m * sizeof *coverage);
        for (int i = 0; i < m; ++i) coverage[order[assign[i]]] += p->w ? p->w[i] : 1.0;
    }
    free(order);
    free(order32);
    free(assign);
    return status;
}

int prepare(block_state &st, const gc_fl_problem *p)
{
    gc_fl_device *dev = st.dev;
    const int m = st.m, D = st.D;
    GC_TRY(reserve(dev, st.e32, (size_t)m * D * sizeof(float)));
    GC_TRY(reserve(dev, st.e, (size_t)m * D * sizeof(double)));
    GC_TRY(reserve(dev, st.n, (size_t)m * sizeof(double)));
    GC_TRY(reserve(dev, st.w, (size_t)m * sizeof(double)));
    GC_TRY(reserve(dev, st.cur, (size_t)m * sizeof(double)));
    GC_TRY(reserve(dev, st.g, (size_t)m * sizeof(double)));
    GC_TRY(reserve(dev, st.taken, (size_t)m));
    GC_TRY(reserve(dev, st.flags, (size_t)m));
    GC_TRY(reserve(dev, st.index, (size_t)m * sizeof(int)));
    GC_TRY(reserve(dev, st.list, (size_t)m * sizeof(int)));
    GC_TRY(reserve(dev, st.old_cover, (size_t)m * sizeof(double)));
    GC_TRY(reserve(dev, st.new_cover, (size_t)m * sizeof(double)));
    GC_TRY(reserve(dev, st.partial, (size_t)kMaxSlices * m * sizeof(double)));
    GC_TRY(reserve(dev, st.best_index, sizeof(int)));
    GC_TRY(reserve(dev, st.best_gain, sizeof(double)));
    GC_TRY(reserve(dev, st.count, sizeof(int)));
    GC_TRY(reserve(dev, st.rows, sizeof(int)));
    GC_TRY(reserve(dev, st.out, (size_t)m * sizeof(double)));
    GC_CHECK_CUDA(
        cudaMemcpyAsync(st.e32.ptr, p->e, (size_t)m * D * sizeof(float), cudaMemcpyHostToDevice, dev->stream));
    if (p->w)
        GC_CHECK_CUDA(cudaMemcpyAsync(st.w.ptr, p->w, (size_t)m * sizeof(double), cudaMemcpyHostToDevice, dev->stream));
    else
        fill_double<<<blocks(m), kThreads, 0, dev->stream>>>((double *)st.w.ptr, m, 1.0);
    fill_double<<<blocks(m), kThreads, 0, dev->stream>>>((double *)st.cur.ptr, m, 0.0);
    iota<<<blocks(m), kThreads, 0, dev->stream>>>((int *)st.index.ptr, m, 0);
    widen_and_norms<<<blocks(m), kThreads, 0, dev->stream>>>((const float *)st.e32.ptr, m, D, (double *)st.e.ptr,
                                                             (double *)st.n.ptr);
    GC_CHECK_LAUNCH();
    GC_CHECK_CUDA(cudaMemsetAsync(st.taken.ptr, 0, (size_t)m, dev->stream));
    /* Keep the block when it takes at most half of the free memory. */
    size_t free_bytes = 0, total_bytes = 0;
    GC_CHECK_CUDA(cudaMemGetInfo(&free_bytes, &total_bytes));
    size_t block_bytes = (size_t)m * m * sizeof(double);
    st.materialized = !dev->force_recompute && block_bytes <= free_bytes / 2;
    dev->last_bytes = st.materialized ? (double)block_bytes : 0.0; /* building the block writes it once */
    if (st.materialized) {
        GC_TRY(reserve(dev, st.S, block_bytes));
        GC_TRY(st.compute_rows(nullptr, m, (double *)st.S.ptr));
    } else {
        size_t budget = free_bytes / 8, per_row = (size_t)m * sizeof(double) + (size_t)D * sizeof(double) + 12;
        st.tile_rows = (int)(budget / per_row > 4096 ? 4096 : budget / per_row);
        if (st.tile_rows < 1) return gc_fail(GC_ERR_MEMORY, "GPU %d has no room for a similarity tile", dev->device_id);
        GC_TRY(reserve(dev, st.tile, (size_t)st.tile_rows * m * sizeof(double)));
        GC_TRY(reserve(dev, st.rows, (size_t)st.tile_rows * sizeof(int)));
    }
    dev->last_materialized = st.materialized;
    return GC_OK;
}

} // namespace

static int fl_device_greedy(gc_fl_device *dev, const gc_fl_problem *p, int64_t kappa, int64_t *selected, double *gains,
                            double *coverage)
{
    if (kappa > p->m) kappa = p->m;
    if (p->m > INT32_MAX / 2)
        return gc_fail(GC_ERR_INPUT, "a facility-location block of %lld rows is too large", (long long)p->m);
    GC_CHECK_CUDA(cudaSetDevice(dev->device_id));
    block_state st;
    st.dev = dev;
    st.m = (int)p->m;
    st.D = p->D;
    st.c = p->c;
    st.materialized = false;
    st.tile_rows = 0;
    int status = prepare(st, p);
    int64_t count = 0;
    if (status == GC_OK && kappa > 0)
        status = p->stochastic_epsilon > 0.0 ? stochastic_greedy(st, p, kappa, selected, gains, &count)
                                             : exact_greedy(st, p, kappa, selected, gains, &count);
    for (int64_t t = count; t < kappa; ++t) selected[t] = -1; /* a cover target was reached early */
    if (status == GC_OK && coverage != nullptr && count > 0) status = assign_coverage(st, p, count, selected, coverage);
    cudaError_t rc = cudaStreamSynchronize(dev->stream);
    if (status == GC_OK && rc != cudaSuccess)
        status = gc_fail(GC_ERR_LIB, "CUDA error in facility location: %s", cudaGetErrorString(rc));
    return status;
}

/* The backend's device state, made on first use (gc_cuda_fl_state lives in backend_cuda.cu). */
static int fl_state(gc_backend *b, gc_fl_device **dev)
{
    gc_fl_device **slot = gc_cuda_fl_slot(b);
    if (*slot == nullptr) GC_TRY(fl_device_create(b->device_id, slot));
    *dev = *slot;
    return GC_OK;
}

extern "C" int gc_cuda_fl_greedy(gc_backend *b, const gc_fl_problem *p, int64_t kappa, int64_t *selected, double *gains,
                                 double *coverage)
{
    gc_fl_device *dev;
    GC_TRY(fl_state(b, &dev));
    return fl_device_greedy(dev, p, kappa, selected, gains, coverage);
}

extern "C" int gc_cuda_fl_force_recompute(gc_backend *b, int on)
{
    gc_fl_device *dev;
    GC_TRY(fl_state(b, &dev));
    dev->force_recompute = on;
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
