#define _GNU_SOURCE /* O_DIRECT */
#include "ceilings.h"

#include <cblas.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"

/* Best of a few repetitions: the ceiling is what the hardware can do, not an average with noise. */
enum { REPEATS = 4 };

double gc_host_copy_ceiling(void)
{
    const size_t bytes = (size_t)256 << 20;
    /* huge pages where the kernel has them: first touching 512 MB of small pages can take longer
     * than the copies (0.5 s a GB in a VM) */
    char *src = gc_malloc_large(bytes), *dst = gc_malloc_large(bytes);
    double best = 0.0;
    if (src != NULL && dst != NULL) {
        memset(src, 1, bytes); /* touch every page before timing */
        memset(dst, 0, bytes);
        for (int r = 0; r < REPEATS; ++r) {
            const double t0 = MPI_Wtime();
            gc_copy_parallel(dst, src, bytes);
            const double t = MPI_Wtime() - t0;
            if (t > 0 && 2.0 * bytes / t / 1e9 > best) best = 2.0 * bytes / t / 1e9;
        }
    }
    free(src);
    free(dst);
    return best;
}

/* GFLOP/s of an n × n × n GEMM through OpenBLAS (every thread), single or double precision. */
static double host_gemm(int fp64)
{
    const int n = fp64 ? 768 : 1024;
    const size_t values = (size_t)n * n, width = fp64 ? sizeof(double) : sizeof(float);
    char *a = gc_calloc(values, width), *c = gc_calloc(values, width);
    double best = 0.0;
    if (a != NULL && c != NULL) {
        for (size_t i = 0; i < values; ++i) {
            if (fp64)
                ((double *)a)[i] = (double)(i % 7) * 0.25;
            else
                ((float *)a)[i] = (float)(i % 7) * 0.25f;
        }
        for (int r = 0; r < REPEATS; ++r) {
            const double t0 = MPI_Wtime();
            if (fp64)
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0, (double *)a, n, (double *)a, n, 0.0,
                            (double *)c, n);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, (float *)a, n, (float *)a, n, 0.0f,
                            (float *)c, n);
            const double t = MPI_Wtime() - t0;
            if (t > 0 && 2.0 * n * n * (double)n / t / 1e9 > best) best = 2.0 * n * n * (double)n / t / 1e9;
        }
    }
    free(a);
    free(c);
    return best;
}

double gc_host_gemm_ceiling(void) { return host_gemm(0); }

double gc_host_fp64_ceiling(void) { return host_gemm(1); }

/* Reads up to 256 MiB of the file from its start, bypassing the page cache where the file system
 * allows it (a cached file would claim memory speed for storage), in 16 MiB pieces by all threads at
 * once, as the rows' reads go (io/h5util.c, read_direct); 0 when the file cannot be read. */
static double storage_ceiling(const char *path)
{
    const size_t chunk = (size_t)16 << 20, limit = (size_t)256 << 20;
    int fd = open(path, O_RDONLY | O_DIRECT);
    if (fd < 0) fd = open(path, O_RDONLY);
    if (fd < 0) return 0.0;
    const int pieces = (int)(limit / chunk);
    size_t total = 0;
    const double t0 = MPI_Wtime();
#pragma omp parallel reduction(+ : total)
    {
        void *buf = NULL;
        if (posix_memalign(&buf, 4096, chunk) != 0) buf = NULL; /* this thread's pieces then count nothing */
#pragma omp for schedule(static)
        for (int p = 0; p < pieces; ++p) {
            const ssize_t got = buf != NULL ? pread(fd, buf, chunk, (off_t)p * (off_t)chunk) : 0;
            total += got > 0 ? (size_t)got : 0;
        }
        free(buf);
    }
    const double t = MPI_Wtime() - t0;
    close(fd);
    return total >= ((size_t)1 << 20) && t > 0 ? total / t / 1e9 : 0.0; /* a tiny file says nothing */
}

void gc_measure_ceilings(gc_backend *b, const char *input, gc_ceilings *out)
{
    memset(out, 0, sizeof *out);
    out->bandwidth[GC_FLOOR_HOST] = gc_host_copy_ceiling();
    out->bandwidth[GC_FLOOR_STORAGE] = input != NULL ? storage_ceiling(input) : 0.0;
    out->host_fp64 = gc_host_fp64_ceiling();
    if (b != NULL && b->ops->ceilings != NULL && b->ops->ceilings(b, out) == GC_OK) return;
    gc_error_clear(); /* a device that cannot be measured only leaves its floors out */
    out->bandwidth[GC_FLOOR_MEMORY] = out->bandwidth[GC_FLOOR_HOST];
    out->bandwidth[GC_FLOOR_LINK] = 0.0;
    out->gemm = gc_host_gemm_ceiling();
}
