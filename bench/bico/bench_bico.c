/* bench_bico: time per BiCo selection round (src/select_bico.c) against N and the number of
 * landmarks q, on the CPU or one GPU. Each case generates N rows of the synthetic mixture
 * (io/synthetic.h: d = 32, 10 classes, 4 modes, seed 1; any rank count sees the same rows), selects
 * k = --rounds × --batch points and prints one JSON line (a first, unprinted case of 20,000 rows and
 * 256 landmarks warms up the device context and the BLAS threads):
 *   features_s  landmarks + K_QQ eigendecomposition + the feature map of all rows,
 *   summary_s   M = ZᵀZ, B = ZᵀY (exact sums) and, on a GPU, uploading Z,
 *   round_ms    (scoring + merge + refit) per round, split into score_ms, merge_ms, refit_ms,
 *   score_GBps  feature bytes a scoring pass reads (8·N·q') / scoring time,
 *   score_GFLOPs 4·N·q'·C per pass / scoring time.
 * One command, CPU:   build/bench_bico --device cpu > bench/results/bico-cpu.jsonl
 *             GPU:    build-cuda/bench_bico --device cuda > bench/results/bico-h200.jsonl
 * Usage: [mpirun -np P] bench_bico [--device cpu|cuda] [--rounds R] [--batch b] [N:q ...]
 * Defaults: cuda 1000000:256 1000000:1024 4000000:256 4000000:1024 250000:4096;
 *           cpu 20000:256 20000:1024 100000:256 100000:1024. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/error.h"
#include "core/log.h"
#include "core/phases.h"
#include "io/synthetic.h"
#include "kernels/backend.h"
#include "src/select/select_bico.h"

static int run_case(gc_backend *backend, int64_t n, int q, int rounds, int batch, int print)
{
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const gc_synthetic syn = {
        .n = n, .d = 32, .classes = 10, .seed = 1, .imbalance = 1.0, .modes = 4, .duplicates = 0.0
    };
    int64_t lo, hi;
    gc_comm_row_range(n, rank, size, &lo, &hi);
    gc_local_rows rows = { .comm = MPI_COMM_WORLD,
                           .rank = rank,
                           .size = size,
                           .n_global = n,
                           .lo = lo,
                           .n_local = hi - lo,
                           .D = syn.d,
                           .classes = syn.classes };
    rows.e = malloc((size_t)rows.n_local * syn.d * sizeof *rows.e);
    rows.y = malloc((size_t)rows.n_local * sizeof *rows.y);
    rows.loss = calloc((size_t)rows.n_local, sizeof *rows.loss);
    int status =
        rows.e && rows.y && rows.loss ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory for %lld rows", (long long)n);
    if (status == GC_OK) gc_synthetic_rows(&syn, lo, hi, rows.e, rows.y);
    status = gc_comm_agree(MPI_COMM_WORLD, status);
    gc_bico_options opt = { .landmarks = q, .ridge = 1.0, .batch = batch, .eig = GC_EIG_AUTO, .seed = 0 };
    gc_phases phases;
    gc_phases_init(&phases);
    gc_run_context run = { .backend = backend, .phases = &phases };
    gc_coreset cs = { 0 };
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    if (status == GC_OK) status = gc_select_bico(&run, &rows, &opt, (int64_t)rounds * batch, &cs);
    double total_s = MPI_Wtime() - t0;
    if (status == GC_OK) status = gc_phases_reduce(&phases, MPI_COMM_WORLD);
    if (status == GC_OK && rank == 0 && print) {
        /* This benchmark's phases (max over ranks), by their names in select_bico.c. */
        struct {
            double features_s, summary_s, score_s, merge_s, refit_s, score_bytes;
        } stats = { 0 };
        const gc_phase *ph;
        if ((ph = gc_phases_find(&phases, "features"))) stats.features_s = ph->max_s;
        if ((ph = gc_phases_find(&phases, "summary"))) stats.summary_s = ph->max_s;
        if ((ph = gc_phases_find(&phases, "merge"))) stats.merge_s = ph->max_s;
        if ((ph = gc_phases_find(&phases, "refit"))) stats.refit_s = ph->max_s;
        if ((ph = gc_phases_find(&phases, "score"))) stats.score_s = ph->max_s, stats.score_bytes = ph->total_bytes;
        const double rounds_done = ph ? ph->max_calls : 0.0, r = rounds_done, qp = cs.bico.feature_rank;
        const double round_s = (stats.score_s + stats.merge_s + stats.refit_s) / r;
        printf("{\"device\": \"%s\", \"ranks\": %d, \"N\": %lld, \"d\": %d, \"C\": %d, \"q\": %d, \"q_kept\": %d, "
               "\"k\": %lld, \"batch\": %d, \"rounds\": %lld, \"total_s\": %.4f, \"features_s\": %.4f, "
               "\"summary_s\": %.4f, \"round_ms\": %.3f, \"score_ms\": %.3f, \"merge_ms\": %.3f, \"refit_ms\": %.3f, "
               "\"score_GBps\": %.2f, \"score_GFLOPs\": %.2f}\n",
               backend->description, size, (long long)n, syn.d, syn.classes, q, cs.bico.feature_rank, (long long)cs.k,
               batch, (long long)rounds_done, total_s, stats.features_s, stats.summary_s, 1e3 * round_s,
               1e3 * stats.score_s / r, 1e3 * stats.merge_s / r, 1e3 * stats.refit_s / r,
               stats.score_bytes / stats.score_s * 1e-9, 4.0 * (double)n * qp * syn.classes * r / stats.score_s * 1e-9);
        fflush(stdout);
    }
    gc_coreset_destroy(&cs);
    free(rows.e);
    free(rows.y);
    free(rows.loss);
    return status;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    gc_log_init(rank, GC_LOG_QUIET);
    const char *device = "cpu";
    int rounds = 20, batch = 1, first_case = argc;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc)
            device = argv[++i];
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
            batch = atoi(argv[++i]);
        else {
            first_case = i;
            break;
        }
    }
    const int cuda = strcmp(device, "cuda") == 0;
    static const char *cpu_cases[] = { "20000:256", "20000:1024", "100000:256", "100000:1024" };
    static const char *cuda_cases[] = { "1000000:256", "1000000:1024", "4000000:256", "4000000:1024", "250000:4096" };
    const char **cases = cuda ? cuda_cases : cpu_cases;
    int count = cuda ? 5 : 4;
    if (first_case < argc) {
        cases = (const char **)(argv + first_case);
        count = argc - first_case;
    }
    gc_backend *backend = NULL;
    int status = gc_backend_create(cuda ? GC_DEVICE_CUDA : GC_DEVICE_CPU, MPI_COMM_WORLD, &backend);
    if (status == GC_OK) status = run_case(backend, 20000, 256, 2, 1, 0);
    for (int c = 0; c < count && status == GC_OK; ++c) {
        long long n = 0;
        int q = 0;
        if (sscanf(cases[c], "%lld:%d", &n, &q) != 2 || n < 1 || q < 1 || q > n) {
            status = gc_fail(GC_ERR_USAGE, "case '%s' is not N:q with 1 <= q <= N", cases[c]);
            break;
        }
        status = run_case(backend, n, q, rounds, batch, 1);
    }
    if (status != GC_OK && rank == 0) fprintf(stderr, "bench_bico: %s\n", gc_error_message());
    gc_backend_destroy(backend);
    MPI_Finalize();
    return status == GC_OK ? 0 : 1;
}
