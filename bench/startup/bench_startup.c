/* What a rank's GPU start-up costs, step by step, when the ranks of one node start together: the
 * driver's initialisation (cuInit, through cudaGetDeviceCount), the context of the rank's GPU
 * (cudaSetDevice + cudaFree(0)), cuBLAS handles (one for each of the backend's streams), the streams,
 * and a first 1 GiB allocation touched once. gradcore's `setup` phase (src/commands/cmd_select.c)
 * is these steps; docs/scaling.md models how they add up over a node's ranks.
 *
 *   mpirun -np P bench_startup [--narrow] [--handles H]
 *
 * --narrow: each rank makes only its own GPU visible (CUDA_VISIBLE_DEVICES = its node-local rank,
 * set before the driver starts), as backend.c does. Prints one JSON line a rank (seconds a step,
 * and when its context was ready after the common start), rank 0 first. */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { STEPS = 5, MAX_HANDLES = 16 };
static const char *const step_names[STEPS] = { "init", "context", "cublas", "streams", "alloc_1GiB" };

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void check(int ok, const char *what)
{
    if (ok) return;
    fprintf(stderr, "bench_startup: %s failed\n", what);
    MPI_Abort(MPI_COMM_WORLD, 1);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank = 0, size = 1, local = 0, narrow = 0, handles = 3;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    for (int a = 1; a < argc; ++a) {
        if (strcmp(argv[a], "--narrow") == 0)
            narrow = 1;
        else if (strcmp(argv[a], "--handles") == 0 && a + 1 < argc)
            handles = atoi(argv[++a]);
    }
    if (handles < 0 || handles > MAX_HANDLES) handles = 3;
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &local);
    if (narrow) {
        char id[16];
        snprintf(id, sizeof id, "%d", local);
        setenv("CUDA_VISIBLE_DEVICES", id, 1);
    }
    double t[STEPS + 1];
    MPI_Barrier(MPI_COMM_WORLD);
    t[0] = now();
    int count = 0;
    check(cudaGetDeviceCount(&count) == cudaSuccess && count > 0, "cudaGetDeviceCount");
    t[1] = now();
    check(cudaSetDevice(narrow ? 0 : local % count) == cudaSuccess && cudaFree(0) == cudaSuccess, "the context");
    t[2] = now();
    cublasHandle_t blas[MAX_HANDLES];
    for (int h = 0; h < handles; ++h) check(cublasCreate(&blas[h]) == CUBLAS_STATUS_SUCCESS, "cublasCreate");
    t[3] = now();
    cudaStream_t streams[MAX_HANDLES];
    for (int h = 0; h < handles; ++h)
        check(cudaStreamCreateWithFlags(&streams[h], cudaStreamNonBlocking) == cudaSuccess, "cudaStreamCreate");
    t[4] = now();
    void *p = NULL;
    check(cudaMalloc(&p, (size_t)1 << 30) == cudaSuccess && cudaMemset(p, 1, (size_t)1 << 30) == cudaSuccess &&
              cudaDeviceSynchronize() == cudaSuccess,
          "the first allocation");
    t[5] = now();
    double mine[STEPS + 1], *all = malloc((size_t)size * (STEPS + 1) * sizeof *all);
    for (int s = 0; s < STEPS; ++s) mine[s] = t[s + 1] - t[s];
    mine[STEPS] = t[STEPS] - t[0];
    MPI_Gather(mine, STEPS + 1, MPI_DOUBLE, all, STEPS + 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    if (rank == 0)
        for (int r = 0; r < size; ++r) {
            printf("{\"ranks\": %d, \"rank\": %d, \"narrow\": %d, \"handles\": %d", size, r, narrow, handles);
            for (int s = 0; s < STEPS; ++s) printf(", \"%s_s\": %.4f", step_names[s], all[r * (STEPS + 1) + s]);
            printf(", \"total_s\": %.4f}\n", all[r * (STEPS + 1) + STEPS]);
        }
    free(all);
    cudaFree(p);
    for (int h = 0; h < handles; ++h) cublasDestroy(blas[h]), cudaStreamDestroy(streams[h]);
    MPI_Comm_free(&node);
    MPI_Finalize();
    return 0;
}
