/* bench_omp: distributed OMP (src/select_omp.c) against the memory roofline of its scoring pass.
 * Each case draws n rows of width D (N(0.1, 1), from a counter-based generator, so any rank count
 * sees the same data), selects k atoms with λ = 1e-3 (k may exceed D), one problem, or with
 * --classes C one per class (row i in class i mod C, all classes in the same passes), and
 * prints one JSON line:
 * seconds for the whole selection and for the k passes, the share spent scoring, and the
 * effective bandwidth of a pass = bytes of local embeddings it reads (n·D·4) / (pass time), next
 * to the 2.4 TB/s target. Its peer, plain PyTorch OMP (bench/omp/torch_omp.py), runs in the same
 * device call (scripts/gpu.sh bench-omp): a fixed figure from another day would not compare.
 * With --precision bf16|fp16 the rows are rounded to the format and the GPU stores and scores them
 * at 2 bytes a value (docs/design.md §3.1): a pass reads n·D·2 bytes. On the GPU the device's copy
 * ceiling is measured in the same run (copy_GBps) and each pass's bandwidth given against it.
 * Usage: [mpirun -np P] bench_omp [--device cpu|cuda] [--precision fp32|bf16|fp16] [--batch b] [--ridge λ]
 *                                 [--classes C] [n:D:k ...]
 * Defaults: cuda 4000000:128:200 1000000:256:200; cpu 200000:128:200 100000:256:200. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/error.h"
#include "core/log.h"
#include "core/phases.h"
#include "core/rng.h"
#include "kernels/backend.h"
#include "src/select/select_omp.h"
#ifdef GC_HAVE_CUDA
#include "kernels/cuda/ceilings_cuda.h"
#include "kernels/cuda/omp_cuda.h"

/* The OMP ops alone: this benchmark needs no embedding engine. */
static const gc_backend_ops cuda_omp_ops = { .name = "cuda",
                                             .omp_attach = gc_cuda_omp_attach,
                                             .omp_targets = gc_cuda_omp_targets,
                                             .omp_exclude = gc_cuda_omp_exclude,
                                             .omp_best = gc_cuda_omp_best,
                                             .omp_detach = gc_cuda_omp_detach,
                                             .ceilings = gc_cuda_ceilings };
#endif

#define TARGET_GBPS 2400.0

static int run_case(gc_backend *backend, int64_t n, int D, int64_t k, int batch, double ridge, int classes,
                    gc_precision precision, double copy_gbps)
{
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int64_t lo, hi;
    gc_comm_row_range(n, rank, size, &lo, &hi);
    gc_local_rows rows = { MPI_COMM_WORLD, rank, size, n, lo, hi - lo, D, classes, NULL, NULL, NULL };
    rows.e = malloc((size_t)rows.n_local * D * sizeof *rows.e);
    rows.y = calloc((size_t)rows.n_local, sizeof *rows.y);
    rows.loss = calloc((size_t)rows.n_local, sizeof *rows.loss);
    int status =
        rows.e && rows.y && rows.loss ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory for %lld rows", (long long)n);
    GC_TRY(gc_comm_agree(MPI_COMM_WORLD, status));
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < rows.n_local; ++i) {
        rows.y[i] = (int32_t)((lo + i) % classes);
        for (int j = 0; j < D; ++j)
            rows.e[i * D + j] = gc_round_to(
                precision, (float)(0.1 + gc_rng_normal(42, 0, (uint64_t)(lo + i) * (uint64_t)D + (uint64_t)j)));
    }
    gc_omp_options opt = { .per_class = classes > 1, .ridge = ridge, .batch = batch, .refit = GC_REFIT_AUTO };
    gc_phases phases;
    gc_phases_init(&phases);
    gc_run_context warmup = { .backend = backend }, run = { .backend = backend, .phases = &phases };
    gc_coreset cs;
    status = gc_select_omp(&warmup, &rows, &opt, 2, &cs); /* warm-up: device context, kernels, BLAS threads */
    gc_coreset_destroy(&cs);
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    if (status == GC_OK) status = gc_select_omp(&run, &rows, &opt, k, &cs);
    double seconds = MPI_Wtime() - t0;
    if (status == GC_OK) status = gc_phases_reduce(&phases, MPI_COMM_WORLD);
    if (status == GC_OK) {
        /* Max over ranks: the slowest rank sets the pace of every pass. */
        static const char *const names[5] = { NULL, "row-setup", "score", "merge", "refit" };
        double slowest[5] = { 0 };
        MPI_Reduce(&seconds, slowest, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
        for (int i = 1; i < 5; ++i) {
            const gc_phase *ph = gc_phases_find(&phases, names[i]);
            slowest[i] = ph ? ph->max_s : 0.0;
        }
        const gc_phase *score = gc_phases_find(&phases, "score");
        const int64_t passes = score ? (int64_t)score->max_calls : 0;
        double passes_s = slowest[2] + slowest[3] + slowest[4];
        double pass_bytes = (double)rows.n_local * D * gc_precision_bytes(precision);
        double gbps = pass_bytes * passes / passes_s * 1e-9, score_gbps = pass_bytes * passes / slowest[2] * 1e-9;
        if (rank == 0)
            printf(
                "{\"device\": \"%s\", \"precision\": \"%s\", \"ranks\": %d, \"n\": %lld, \"D\": %d, \"classes\": %d, "
                "\"k\": %lld, "
                "\"batch\": %d, \"ridge\": %g, \"passes\": %lld, "
                "\"seconds\": %.4f, \"attach_s\": %.4f, \"passes_s\": %.4f, \"score_s\": %.4f, \"merge_s\": %.4f, "
                "\"refit_s\": %.4f, \"ms_per_pass\": %.3f, \"GB_per_pass_per_rank\": %.3f, \"effective_GBps\": %.1f, "
                "\"scoring_GBps\": %.1f, \"of_target\": %.3f, \"relative_residual\": %.6g",
                backend ? backend->description : "cpu", gc_precision_name(precision), size, (long long)n, D, classes,
                (long long)cs.k, batch, ridge, (long long)passes, slowest[0], slowest[1], passes_s, slowest[2],
                slowest[3], slowest[4], passes_s / passes * 1e3, pass_bytes * 1e-9, gbps, score_gbps,
                gbps / TARGET_GBPS, cs.objective);
        if (rank == 0 && copy_gbps > 0)
            printf(", \"copy_GBps\": %.1f, \"scoring_of_copy\": %.3f", copy_gbps, score_gbps / copy_gbps);
        if (rank == 0) printf("}\n");
        fflush(stdout);
        gc_coreset_destroy(&cs);
    }
    free(rows.e);
    free(rows.y);
    free(rows.loss);
    return status;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, batch = 1, cuda = 0, classes = 1, first_case = argc, precision = GC_PRECISION_FP32;
    double ridge = 1e-3; /* k > D atoms need it to keep the Gram matrix nonsingular (‖e‖² ≈ D here) */
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    gc_log_init(rank, GC_LOG_QUIET);
    for (int a = 1; a < argc; ++a) {
        if (strcmp(argv[a], "--device") == 0 && a + 1 < argc)
            cuda = strcmp(argv[++a], "cuda") == 0;
        else if (strcmp(argv[a], "--batch") == 0 && a + 1 < argc)
            batch = atoi(argv[++a]);
        else if (strcmp(argv[a], "--ridge") == 0 && a + 1 < argc)
            ridge = atof(argv[++a]);
        else if (strcmp(argv[a], "--classes") == 0 && a + 1 < argc)
            classes = atoi(argv[++a]);
        else if (strcmp(argv[a], "--precision") == 0 && a + 1 < argc) {
            precision = gc_precision_named(argv[++a]); /* −1, unknown: refused below */
        } else {
            first_case = a;
            break;
        }
    }
    gc_backend *backend = NULL;
    int status = precision < 0 ? gc_fail(GC_ERR_USAGE, "--precision takes " GC_PRECISION_NAMES) : GC_OK;
#ifdef GC_HAVE_CUDA
    gc_backend device = { .device_id = -1 };
#endif
    if (cuda && status == GC_OK) {
#ifdef GC_HAVE_CUDA
        int count = gc_backend_cuda_device_count();
        if (count < 1) status = gc_fail(GC_ERR_DEVICE, "--device cuda: no GPU");
        device = (gc_backend){ .ops = &cuda_omp_ops, .device_id = count > 0 ? rank % count : -1 };
        snprintf(device.description, sizeof device.description, "cuda:%d", device.device_id);
        device.precision = (gc_precision)precision;
        backend = &device;
#else
        status = gc_fail(GC_ERR_DEVICE, "--device cuda: built without CUDA");
#endif
    }
    const char *gpu_cases[] = { "4000000:128:200", "1000000:256:200" },
               *cpu_cases[] = { "200000:128:200", "100000:256:200" };
    double copy_gbps = 0.0; /* the device's copy ceiling, measured here: the passes' yardstick */
    if (status == GC_OK && backend != NULL) {
        gc_ceilings c = { 0 };
        if (backend->ops->ceilings(backend, &c) == GC_OK) copy_gbps = c.bandwidth[GC_FLOOR_MEMORY];
    }
    int ncases = first_case < argc ? argc - first_case : 2;
    for (int c = 0; c < ncases && status == GC_OK; ++c) {
        long long n, D, k;
        const char *spec = first_case < argc ? argv[first_case + c] : cuda ? gpu_cases[c] : cpu_cases[c];
        if (sscanf(spec, "%lld:%lld:%lld", &n, &D, &k) != 3)
            status = gc_fail(GC_ERR_USAGE, "case '%s' is not n:D:k", spec);
        else
            status = classes < 1
                         ? gc_fail(GC_ERR_USAGE, "--classes %d is not positive", classes)
                         : run_case(backend, n, (int)D, k, batch, ridge, classes, (gc_precision)precision, copy_gbps);
    }
    if (status != GC_OK && rank == 0) fprintf(stderr, "bench_omp: %s\n", gc_error_message());
    MPI_Finalize();
    return status;
}
