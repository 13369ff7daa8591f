/* What a rank's GPU start-up costs, step by step, when the ranks of one node start together: the
 * driver's initialisation (cuInit, through cudaGetDeviceCount), the context of the rank's GPU
 * (cudaSetDevice + cudaFree(0)), cuBLAS handles (one for each of the backend's streams), the streams,
 * and a first 1 GiB allocation touched once. gradcore's `setup` phase (src/commands/cmd_select.c)
 * is these steps; docs/scaling.md models how they add up over a node's ranks.
 *
 *   mpirun -np P bench_startup [--narrow] [--handles H] [--early] [--touch MB [--huge]]
 *
 * --narrow: each rank makes only its own GPU visible (CUDA_VISIBLE_DEVICES = its node-local rank,
 * set before the driver starts), as backend.c does.
 * --early: the driver and the context start on a thread of their own before MPI_Init (the node-local
 * rank from the launcher's environment), while MPI starts; the steps after the context follow.
 * --touch MB: before CUDA, each rank writes MB of fresh host memory (first touch), twice, timed
 * (the host memory the driver's steps touch comes from the same place); --huge: with MADV_HUGEPAGE.
 * Prints one JSON line a rank (seconds a step, its resident memory after each step in MB, and when its
 * context was ready after main began), rank 0 first. */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <mpi.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

enum { STEPS = 5, MAX_HANDLES = 16, FIELDS = 2 * STEPS + 5 };
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
    exit(1);
}

/* Resident set in MB (/proc/self/status VmRSS). */
static double rss_mb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = 0.0;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmRSS:", 6) == 0) kb = atof(line + 6);
    if (f != NULL) fclose(f);
    return kb / 1024.0;
}

/* Seconds to write mb MB of freshly mapped memory. */
static int huge = 0;

static double touch(size_t mb)
{
    const size_t bytes = mb << 20;
    const double t0 = now();
    char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check(p != MAP_FAILED, "mmap");
    if (huge) (void)madvise(p, bytes, MADV_HUGEPAGE);
    memset(p, 1, bytes);
    const double t = now() - t0;
    munmap(p, bytes);
    return t;
}

typedef struct {
    int device;
    double t[3], rss[2];
} driver_start;

/* cuInit (through cudaGetDeviceCount), then the context of `device`. */
static void *start_driver(void *arg)
{
    driver_start *s = arg;
    int count = 0;
    s->t[0] = now();
    check(cudaGetDeviceCount(&count) == cudaSuccess && count > 0, "cudaGetDeviceCount");
    s->t[1] = now();
    s->rss[0] = rss_mb();
    check(cudaSetDevice(s->device % count) == cudaSuccess && cudaFree(0) == cudaSuccess, "the context");
    s->t[2] = now();
    s->rss[1] = rss_mb();
    return NULL;
}

static int env_int(const char *const *names, int fallback)
{
    for (; *names != NULL; ++names)
        if (getenv(*names) != NULL) return atoi(getenv(*names));
    return fallback;
}

int main(int argc, char **argv)
{
    const double t_main = now();
    int narrow = 0, handles = 3, early = 0;
    size_t touch_mb = 0;
    for (int a = 1; a < argc; ++a) {
        if (strcmp(argv[a], "--narrow") == 0)
            narrow = 1;
        else if (strcmp(argv[a], "--huge") == 0)
            huge = 1;
        else if (strcmp(argv[a], "--early") == 0)
            early = 1;
        else if (strcmp(argv[a], "--handles") == 0 && a + 1 < argc)
            handles = atoi(argv[++a]);
        else if (strcmp(argv[a], "--touch") == 0 && a + 1 < argc)
            touch_mb = (size_t)atol(argv[++a]);
    }
    if (handles < 0 || handles > MAX_HANDLES) handles = 3;
    static const char *const local_names[] = { "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID", NULL };
    driver_start ds = { 0 };
    pthread_t thread;
    if (early) {
        const int local = env_int(local_names, 0);
        if (narrow) {
            char id[16];
            snprintf(id, sizeof id, "%d", local);
            setenv("CUDA_VISIBLE_DEVICES", id, 1);
        }
        ds.device = narrow ? 0 : local;
        check(pthread_create(&thread, NULL, start_driver, &ds) == 0, "pthread_create");
    }
    MPI_Init(&argc, &argv);
    const double t_mpi = now();
    int rank = 0, size = 1, local = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &local);
    double touch_s[2] = { 0.0, 0.0 };
    if (touch_mb > 0 && !early) {
        MPI_Barrier(MPI_COMM_WORLD);
        touch_s[0] = touch(touch_mb);
        MPI_Barrier(MPI_COMM_WORLD);
        touch_s[1] = touch(touch_mb);
    }
    if (narrow && !early) {
        char id[16];
        snprintf(id, sizeof id, "%d", local);
        setenv("CUDA_VISIBLE_DEVICES", id, 1);
    }
    double t[STEPS + 1], rss[STEPS];
    if (early) {
        check(pthread_join(thread, NULL) == 0, "pthread_join");
        t[0] = ds.t[0], t[1] = ds.t[1], t[2] = ds.t[2];
        rss[0] = ds.rss[0], rss[1] = ds.rss[1];
    } else {
        MPI_Barrier(MPI_COMM_WORLD);
        ds.device = narrow ? 0 : local;
        start_driver(&ds);
        t[0] = ds.t[0], t[1] = ds.t[1], t[2] = ds.t[2];
        rss[0] = ds.rss[0], rss[1] = ds.rss[1];
    }
    const double t_ready = now();
    cublasHandle_t blas[MAX_HANDLES];
    for (int h = 0; h < handles; ++h) check(cublasCreate(&blas[h]) == CUBLAS_STATUS_SUCCESS, "cublasCreate");
    t[3] = now();
    rss[2] = rss_mb();
    cudaStream_t streams[MAX_HANDLES];
    for (int h = 0; h < handles; ++h)
        check(cudaStreamCreateWithFlags(&streams[h], cudaStreamNonBlocking) == cudaSuccess, "cudaStreamCreate");
    t[4] = now();
    rss[3] = rss_mb();
    void *p = NULL;
    check(cudaMalloc(&p, (size_t)1 << 30) == cudaSuccess && cudaMemset(p, 1, (size_t)1 << 30) == cudaSuccess &&
              cudaDeviceSynchronize() == cudaSuccess,
          "the first allocation");
    t[5] = now();
    rss[4] = rss_mb();
    /* per rank: the steps' seconds, their RSS, MPI_Init's seconds, main → context ready, main → all
     * steps done, the two touches */
    double mine[FIELDS], *all = malloc((size_t)size * FIELDS * sizeof *all);
    for (int s = 0; s < STEPS; ++s) mine[s] = t[s + 1] - t[s], mine[STEPS + s] = rss[s];
    mine[2 * STEPS] = t_mpi - t_main;
    mine[2 * STEPS + 1] = t_ready - t_main;
    mine[2 * STEPS + 2] = t[STEPS] - t_main;
    mine[2 * STEPS + 3] = touch_s[0];
    mine[2 * STEPS + 4] = touch_s[1];
    MPI_Gather(mine, FIELDS, MPI_DOUBLE, all, FIELDS, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    if (rank == 0)
        for (int r = 0; r < size; ++r) {
            const double *m = all + (size_t)r * FIELDS;
            printf("{\"ranks\": %d, \"rank\": %d, \"narrow\": %d, \"early\": %d, \"handles\": %d", size, r, narrow,
                   early, handles);
            for (int s = 0; s < STEPS; ++s) printf(", \"%s_s\": %.4f", step_names[s], m[s]);
            for (int s = 0; s < STEPS; ++s) printf(", \"%s_rss_mb\": %.0f", step_names[s], m[STEPS + s]);
            printf(", \"mpi_init_s\": %.4f, \"main_to_context_s\": %.4f, \"main_to_done_s\": %.4f", m[2 * STEPS],
                   m[2 * STEPS + 1], m[2 * STEPS + 2]);
            if (touch_mb > 0 && !early)
                printf(", \"touch_mb\": %zu, \"touch1_s\": %.4f, \"touch2_s\": %.4f", touch_mb, m[2 * STEPS + 3],
                       m[2 * STEPS + 4]);
            printf("}\n");
        }
    free(all);
    cudaFree(p);
    for (int h = 0; h < handles; ++h) cublasDestroy(blas[h]), cudaStreamDestroy(streams[h]);
    MPI_Comm_free(&node);
    MPI_Finalize();
    return 0;
}
