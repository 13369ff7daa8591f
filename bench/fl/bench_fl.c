/* bench_fl: facility-location greedy on one GPU against its roofline.
 * For each (m, k): the synthetic rows of width D (page-locked, as select's partitions are) are one
 * block; the exact greedy runs on the GPU
 * (device-resident block when it fits, else GEMM tiles) and its time, bytes of similarity read,
 * achieved GB/s, the device copy ceiling measured in the same run (the backend's `ceilings` op)
 * and the share of it reached, and objective F = Σ gains are printed, one line per case, as JSON:
 * `seconds` of a call whose buffers are held from the call before (fl_hold, as a phase of many
 * calls runs), and `cold_seconds` of a lone call, which maps its buffers and gives them back.
 * With `partitions`, the shape of `select` with craig's partitions: P problems of m synthetic rows
 * × D, κ each (c per problem as in the m:k cases; the rows of 64 distinct problems, reused
 * round-robin, page-locked as select_partitions pins its batch), timed (a) one by one through
 * fl_greedy (the path before fl_greedy_many) and (b) through fl_greedy_many in batches of B (as
 * select_partitions hands them over): partitions/s of each, the ratio, and whether every
 * selection, gain and coverage weight of (b) equals (a)'s bit for bit (they must).
 * With `assign`, facility location's pass over all rows instead (the fl_assign op): for each
 * n:D:C:k_c, n synthetic rows of C classes against k_c elements of each class, held on the device
 * alone as `select` holds E (the features embedding of the rows, kept there) and streamed up from
 * pageable memory, with one set a class (the exact assignment) and with three (the shape of
 * GreeDi's sampled comparison, where k_c ≤ 1,000), each through the direct kernel alone, the GEMM
 * path alone and the op's own choice; printed: where the rows were, the path, seconds, rows/s, the
 * direct kernel's FP64 operations a second (3 per row, element and column; its floor is the FP64
 * rate, so the GEMM path's figure is the work rate it replaces) and GB/s of rows, and whether the
 * first rows equal the CPU twin bit for bit. A case n:D:C:k_c:bf16 (or :fp16) keeps the rows at that
 * precision on the device (the elements are rows, so they hold its values too; the pageable runs
 * read the same rounded rows as FP32). A sixth field, n:D:C:k_c:precision:R, runs the GEMM path
 * alone in tiles of R rows (a sweep of the tile the op would choose).
 * Usage: bench_fl [D] [m:k ...]        (default D = 128; 20000:200 40000:400)
 *        bench_fl partitions [P [m [D [κ [B]]]]] (default 4000 4096 256 9, B as select batches them)
 *        bench_fl assign [n:D:C:k_c[:precision[:R]] ...] (default 10000000:10:10:1000 4000000:128:10:500) */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/synthetic.h"
#include "kernels/backend.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cuda/assign_cuda.h"
#include "kernels/cuda/fl_cuda.h"

/* The device copy ceiling (GB/s, bytes read + written) of this run, 0 when not measured. */
static double copy_ceiling(gc_backend *dev)
{
    gc_ceilings c;
    memset(&c, 0, sizeof c);
    if (dev->ops->ceilings == NULL || dev->ops->ceilings(dev, &c) != GC_OK) return 0.0;
    return c.bandwidth[GC_FLOOR_MEMORY];
}

static double objective(const double *gains, int64_t k)
{
    double f = 0.0;
    for (int64_t s = 0; s < k; ++s) f += gains[s];
    return f;
}

/* c: twice the largest distance to the mean bounds every pairwise distance. */
static double constant_of(const float *e, int64_t m, int D)
{
    double *mu = calloc((size_t)D, sizeof *mu), radius = 0.0;
    for (int64_t i = 0; i < m; ++i)
        for (int t = 0; t < D; ++t) mu[t] += e[i * D + t] / (double)m;
    for (int64_t i = 0; i < m; ++i) {
        double sq = 0.0;
        for (int t = 0; t < D; ++t) sq += (e[i * D + t] - mu[t]) * (e[i * D + t] - mu[t]);
        radius = sq > radius ? sq : radius;
    }
    free(mu);
    return 2.0 * sqrt(radius);
}

static int run_case(gc_backend *dev, double ceiling, int D, int64_t m, int64_t k, double epsilon, int recompute)
{
    gc_synthetic syn = { m, D, 10, 7, 1.0, 8, 0.05 };
    float *e = malloc((size_t)m * D * sizeof *e);
    int64_t *sel = malloc((size_t)k * sizeof *sel);
    double *gains = malloc((size_t)k * sizeof *gains);
    if (!e || !sel || !gains) return gc_fail(GC_ERR_MEMORY, "out of memory");
    gc_synthetic_rows(&syn, 0, m, e, NULL);
    if (dev->ops->pin) dev->ops->pin(dev, e, (size_t)m * D * sizeof *e); /* as select's partitions are */
    gc_fl_problem p = { .m = m, .D = D, .e = e, .c = constant_of(e, m, D), .stochastic_epsilon = epsilon, .seed = 11 };
    GC_TRY(gc_cuda_fl_force_recompute(dev, recompute));
    GC_TRY(dev->ops->fl_greedy(dev, &p, k, sel, gains, NULL)); /* warm-up: pool, handles, module load */
    /* Cold: the call maps its buffers (the block: m² · 8 bytes) and gives them back, as a lone
     * call does; warm: they are held from the call before (fl_hold, as in a phase of many calls). */
    double t0 = MPI_Wtime();
    GC_TRY(dev->ops->fl_greedy(dev, &p, k, sel, gains, NULL));
    const double cold = MPI_Wtime() - t0;
    GC_TRY(gc_backend_fl_hold(dev, 1));
    GC_TRY(dev->ops->fl_greedy(dev, &p, k, sel, gains, NULL));
    t0 = MPI_Wtime();
    GC_TRY(dev->ops->fl_greedy(dev, &p, k, sel, gains, NULL));
    const double seconds = MPI_Wtime() - t0;
    GC_TRY(gc_backend_fl_hold(dev, 0));
    /* Bytes the greedy actually moved: the block built once, the initial gains, then per step only
     * the rows whose coverage rose. Against the device copy ceiling of this run. */
    double bytes = gc_cuda_fl_last_bytes(dev), rate = bytes / seconds / 1e9, cold_rate = bytes / cold / 1e9;
    printf("{\"m\": %lld, \"k\": %lld, \"D\": %d, \"mode\": \"%s\", \"block\": \"%s\", \"seconds\": %.4f, "
           "\"objective\": %.10g, \"similarity_GB\": %.3f, \"GBps\": %.1f, \"copy_ceiling_GBps\": %.1f, "
           "\"pct_of_copy\": %.1f, \"cold_seconds\": %.4f, \"cold_pct_of_copy\": %.1f}\n",
           (long long)m, (long long)k, D, epsilon > 0 ? "stochastic" : "exact",
           gc_cuda_fl_last_materialized(dev) ? "device-resident" : "gemm-tiles", seconds, objective(gains, k),
           bytes / 1e9, rate, ceiling, ceiling > 0 ? 100.0 * rate / ceiling : 0.0, cold,
           ceiling > 0 ? 100.0 * cold_rate / ceiling : 0.0);
    fflush(stdout);
    if (dev->ops->unpin) dev->ops->unpin(dev, e);
    free(e);
    free(sel);
    free(gains);
    return GC_OK;
}

/* The `partitions` mode (see the file comment). */
static int run_partitions(gc_backend *dev, double ceiling, int P, int64_t m, int D, int64_t kappa, int batch)
{
    enum { DISTINCT = 64 };
    const int distinct = P < DISTINCT ? P : DISTINCT;
    if (kappa > m) kappa = m;
    float *e = malloc((size_t)distinct * m * D * sizeof *e);
    gc_fl_problem *p = malloc((size_t)P * sizeof *p);
    int64_t *sel = malloc((size_t)2 * P * kappa * sizeof *sel), *k = malloc((size_t)P * sizeof *k), **sel_of;
    double *gains = malloc((size_t)2 * P * kappa * sizeof *gains), *cov = malloc((size_t)2 * P * m * sizeof *cov);
    double **gains_of = malloc((size_t)2 * P * sizeof *gains_of), **cov_of = malloc((size_t)2 * P * sizeof *cov_of);
    sel_of = malloc((size_t)2 * P * sizeof *sel_of);
    if (!e || !p || !sel || !k || !gains || !cov || !gains_of || !cov_of || !sel_of)
        return gc_fail(GC_ERR_MEMORY, "out of memory for %d partitions", P);
    gc_synthetic syn = { (int64_t)distinct * m, D, 10, 7, 1.0, 8, 0.05 };
    gc_synthetic_rows(&syn, 0, (int64_t)distinct * m, e, NULL);
    for (int q = 0; q < P; ++q) {
        const float *rows = e + (size_t)(q % distinct) * m * D;
        p[q] = (gc_fl_problem){ .m = m, .D = D, .e = rows, .seed = 11 + (uint64_t)q };
        p[q].c = q < distinct ? constant_of(rows, m, D) : p[q % distinct].c;
        k[q] = kappa;
    }
    for (int r = 0; r < 2 * P; ++r) { /* (a)'s results, then (b)'s */
        sel_of[r] = sel + (size_t)r * kappa;
        gains_of[r] = gains + (size_t)r * kappa;
        cov_of[r] = cov + (size_t)r * m;
    }
    if (dev->ops->pin) dev->ops->pin(dev, e, (size_t)distinct * m * D * sizeof *e);
    /* Warm-up: pool, handles, module load, the lanes' streams. */
    GC_TRY(dev->ops->fl_greedy_many(dev, distinct < 8 ? distinct : 8, p, k, sel_of + P, gains_of + P, cov_of + P));
    double t0 = MPI_Wtime();
    for (int q = 0; q < P; ++q) GC_TRY(dev->ops->fl_greedy(dev, &p[q], kappa, sel_of[q], gains_of[q], cov_of[q]));
    double one_by_one = MPI_Wtime() - t0;
    t0 = MPI_Wtime();
    for (int q = 0; q < P; q += batch)
        GC_TRY(dev->ops->fl_greedy_many(dev, P - q < batch ? P - q : batch, p + q, k + q, sel_of + P + q,
                                        gains_of + P + q, cov_of + P + q));
    double many = MPI_Wtime() - t0;
    if (dev->ops->unpin) dev->ops->unpin(dev, e);
    const size_t half_sel = (size_t)P * kappa;
    int equal = memcmp(sel, sel + half_sel, half_sel * sizeof *sel) == 0 &&
                memcmp(gains, gains + half_sel, half_sel * sizeof *gains) == 0 &&
                memcmp(cov, cov + (size_t)P * m, (size_t)P * m * sizeof *cov) == 0;
    /* The floor of one partition: its FP64 GEMM (2·m²·D) and the block written and read once. */
    printf("{\"pass\": \"partitions\", \"partitions\": %d, \"m\": %lld, \"D\": %d, \"kappa\": %lld, \"batch\": %d, "
           "\"one_by_one_s\": %.4f, \"one_by_one_per_s\": %.1f, \"many_s\": %.4f, \"many_per_s\": %.1f, "
           "\"ratio\": %.2f, \"many_GFLOPps_fp64\": %.1f, \"many_block_GBps\": %.1f, \"copy_ceiling_GBps\": %.1f, "
           "\"all_equal\": %s}\n",
           P, (long long)m, D, (long long)kappa, batch, one_by_one, P / one_by_one, many, P / many, one_by_one / many,
           2.0 * m * (double)m * D * P / many / 1e9, 16.0 * m * (double)m * P / many / 1e9, ceiling,
           equal ? "true" : "false");
    fflush(stdout);
    free(e);
    free(p);
    free(sel);
    free(k);
    free(gains);
    free(cov);
    free(sel_of);
    free(gains_of);
    free(cov_of);
    return equal ? GC_OK : gc_fail(GC_ERR_LIB, "fl_greedy_many differs from fl_greedy one by one");
}

/* The op's ways through fl_assign (gc_cuda_fl_assign_force_gemm's modes). */
typedef enum { ASSIGN_DIRECT = -1, ASSIGN_AUTO = 0, ASSIGN_GEMM = 1 } assign_path;

/* One fl_assign case (see the file comment); W sets a class, all of them the class's elements;
 * resident: the rows are first kept on the device alone at `precision` (the features embedding). */
static int run_assign(gc_backend *dev, int64_t n, int D, int C, int64_t kc, int W, assign_path path, int resident,
                      gc_precision precision, int64_t tile_rows)
{
    GC_TRY(gc_cuda_fl_assign_force_gemm(dev, (int)path, tile_rows));
    gc_synthetic syn = { n, D, C, 7, 1.0, 8, 0.05 };
    const int64_t check = n < 20000 ? n : 20000, slots = n * W;
    float *e = malloc((size_t)n * D * sizeof *e), *elements = malloc((size_t)C * kc * D * sizeof *elements);
    int32_t *y = malloc((size_t)n * sizeof *y);
    int64_t *group_set = malloc((size_t)(C + 1) * sizeof *group_set), *first = malloc((size_t)C * W * sizeof *first);
    int64_t *size = malloc((size_t)C * W * sizeof *size), *nearest = malloc((size_t)slots * sizeof *nearest);
    int64_t *cpu_nearest = malloc((size_t)check * W * sizeof *cpu_nearest), *filled = calloc((size_t)C, sizeof *filled);
    double *distance = malloc((size_t)slots * sizeof *distance);
    double *cpu_distance = malloc((size_t)check * W * sizeof *cpu_distance);
    if (!e || !elements || !y || !group_set || !first || !size || !nearest || !cpu_nearest || !filled || !distance ||
        !cpu_distance)
        return gc_fail(GC_ERR_MEMORY, "out of memory");
    gc_synthetic_rows(&syn, 0, n, e, y);
    gc_round_array(precision, e, n * D); /* the values the device keeps */
    for (int64_t i = 0; i < n; ++i)      /* elements: the first k_c rows of each class */
        if (filled[y[i]] < kc) memcpy(elements + (y[i] * kc + filled[y[i]]++) * D, e + i * D, (size_t)D * sizeof *e);
    for (int g = 0; g <= C; ++g) group_set[g] = (int64_t)g * W;
    for (int64_t s = 0; s < (int64_t)C * W; ++s) first[s] = s / W * kc, size[s] = filled[s / W];
    gc_fl_sets sets = { C, group_set, first, size, (int64_t)C * kc, elements };
    const float *rows = e;
    if (resident) {
        if (dev->ops->rows_on_device == NULL || !dev->ops->rows_on_device(dev, n, D))
            return gc_fail(GC_ERR_MEMORY, "the GPU cannot hold %lld rows of %d", (long long)n, D);
        const gc_embed_config features = { .kind = GC_EMBED_FEATURES, .keep_on_device = 1 };
        float *loss = malloc((size_t)n * sizeof *loss);
        dev->precision = precision;
        const int kept = loss != NULL ? dev->ops->embed(dev, &features, n, D, e, y, NULL, loss)
                                      : gc_fail(GC_ERR_MEMORY, "out of memory");
        dev->precision = GC_PRECISION_FP32;
        free(loss);
        GC_TRY(kept);
        rows = NULL;
    }
    /* warm-up, on every row: the slots' arenas grow to the batch here, not in the timed call */
    GC_TRY(dev->ops->fl_assign(dev, rows, n, D, y, &sets, nearest, distance, NULL));
    double t0 = MPI_Wtime();
    GC_TRY(dev->ops->fl_assign(dev, rows, n, D, y, &sets, nearest, distance, NULL));
    double seconds = MPI_Wtime() - t0, operations = 0.0;
    for (int64_t i = 0; i < n; ++i) operations += 3.0 * (double)filled[y[i]] * D * W;
    gc_cpu_fl_assign(e, check, D, y, &sets, cpu_nearest, cpu_distance);
    int same = memcmp(cpu_nearest, nearest, (size_t)check * W * sizeof *nearest) == 0 &&
               memcmp(cpu_distance, distance, (size_t)check * W * sizeof *distance) == 0;
    static const char *path_name[] = { "direct", "auto", "gemm" };
    printf("{\"pass\": \"fl_assign\", \"where\": \"%s\", \"precision\": \"%s\", \"path\": \"%s\", \"rows\": %lld, "
           "\"D\": %d, \"classes\": %d, "
           "\"elements_per_class\": %lld, "
           "\"sets_per_class\": %d, \"tile_rows\": %lld, \"batches\": %lld, \"seconds\": %.4f, \"rows_per_s\": %.4g, "
           "\"GFLOPps\": %.1f, "
           "\"GBps\": %.1f, \"first_rows_equal_cpu\": %s}\n",
           resident ? "device" : "pageable", gc_precision_name(precision), path_name[path + 1], (long long)n, D, C,
           (long long)kc, W, (long long)tile_rows, (long long)gc_cuda_fl_assign_last_batches(dev), seconds,
           (double)n / seconds, operations / seconds / 1e9, 4.0 * n * D / seconds / 1e9, same ? "true" : "false");
    fflush(stdout);
    free(e);
    free(elements);
    free(y);
    free(group_set);
    free(first);
    free(size);
    free(nearest);
    free(cpu_nearest);
    free(filled);
    free(distance);
    free(cpu_distance);
    return same ? GC_OK : gc_fail(GC_ERR_LIB, "fl_assign on the GPU differs from the CPU twin");
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int D = argc > 1 ? atoi(argv[1]) : 128, status = GC_OK;
    if (gc_backend_cuda_device_count() < 1) {
        fprintf(stderr, "bench_fl: no GPU\n");
        MPI_Finalize();
        return 77;
    }
    gc_backend *dev = NULL;
    status = gc_backend_cuda_create(0, &dev);
    const double ceiling = status == GC_OK ? copy_ceiling(dev) : 0.0;
    if (status == GC_OK && argc > 1 && strcmp(argv[1], "partitions") == 0) {
        int P = argc > 2 ? atoi(argv[2]) : 4000, width = argc > 4 ? atoi(argv[4]) : 256;
        long long m = argc > 3 ? atoll(argv[3]) : 4096, kappa = argc > 5 ? atoll(argv[5]) : 9;
        /* select's batch (src/select/select_fl.c): 256 partitions, at most 512 MB of rows. */
        long long fit = m > 0 && width > 0 ? (1LL << 29) / (m * width * (long long)sizeof(float)) : 1;
        int batch = argc > 6 ? atoi(argv[6]) : (int)(fit < 1 ? 1 : fit > 256 ? 256 : fit);
        status = P > 0 && m > 0 && width > 0 && kappa > 0 && batch > 0
                     ? run_partitions(dev, ceiling, P, m, width, kappa, batch)
                     : gc_fail(GC_ERR_USAGE, "partitions [P [m [D [kappa [batch]]]]]: positive numbers");
        if (status != GC_OK) fprintf(stderr, "bench_fl: %s\n", gc_error_message());
        gc_backend_destroy(dev);
        MPI_Finalize();
        return status;
    }
    if (argc > 1 && strcmp(argv[1], "assign") == 0) {
        const char *assign_defaults[] = { "10000000:10:10:1000", "4000000:128:10:500" };
        for (int c = 0; c < (argc > 2 ? argc - 2 : 2) && status == GC_OK; ++c) {
            long long n, kc, tile_rows = 0;
            int width, classes;
            char name[8] = "fp32";
            const int fields = sscanf(argc > 2 ? argv[2 + c] : assign_defaults[c], "%lld:%d:%d:%lld:%7[^:]:%lld", &n,
                                      &width, &classes, &kc, name, &tile_rows);
            const int precision = gc_precision_named(name);
            if (fields < 4 || precision < 0 || tile_rows < 0) continue;
            for (int resident = 1; resident >= 0; --resident)
                for (int W = 1; W <= (kc <= 1000 ? 3 : 1); W += 2)
                    for (int path = tile_rows > 0 ? ASSIGN_GEMM : ASSIGN_DIRECT; path <= ASSIGN_GEMM && status == GC_OK;
                         ++path)
                        status = run_assign(dev, n, width, classes, kc, W, (assign_path)path, resident,
                                            (gc_precision)precision, tile_rows);
        }
        if (status != GC_OK) fprintf(stderr, "bench_fl: %s\n", gc_error_message());
        gc_backend_destroy(dev);
        MPI_Finalize();
        return status;
    }
    const char *defaults[] = { "20000:200", "40000:400" };
    int ncases = argc > 2 ? argc - 2 : 2;
    for (int c = 0; c < ncases && status == GC_OK; ++c) {
        long long m, k;
        if (sscanf(argc > 2 ? argv[2 + c] : defaults[c], "%lld:%lld", &m, &k) != 2) continue;
        status = run_case(dev, ceiling, D, m, k, 0.0, 0);
        if (status == GC_OK) status = run_case(dev, ceiling, D, m, k, 0.0, 1);
        if (status == GC_OK) status = run_case(dev, ceiling, D, m, k, 0.1, 0);
    }
    if (status != GC_OK) fprintf(stderr, "bench_fl: %s\n", gc_error_message());
    gc_backend_destroy(dev);
    MPI_Finalize();
    return status;
}
