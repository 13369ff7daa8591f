#include "phases.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "error.h"

void gc_phases_init(gc_phases *p)
{
    if (p != NULL) memset(p, 0, sizeof *p);
}

static int find(const gc_phases *p, const char *path)
{
    for (int i = 0; i < p->count; ++i)
        if (strcmp(p->phase[i].path, path) == 0) return i;
    return -1;
}

void gc_phase_begin(gc_phases *p, const char *name)
{
    if (p == NULL) return;
    const double now = MPI_Wtime();
    if (p->depth >= GC_PHASES_DEPTH) { /* too deep: counted in its parents only */
        ++p->depth;
        return;
    }
    char path[2 * GC_PHASE_PATH_BYTES + 2];
    const int parent = p->depth > 0 ? p->open[p->depth - 1] : -1;
    if (parent == -2)
        path[0] = '\0';
    else if (parent >= 0)
        snprintf(path, sizeof path, "%s/%s", p->phase[parent].path, name);
    else
        snprintf(path, sizeof path, "%s", name);
    path[GC_PHASE_PATH_BYTES - 1] = '\0';      /* longer paths are cut to the table's width */
    int i = parent == -2 ? -2 : find(p, path); /* -2: an unrecorded parent has unrecorded children */
    if (i == -1 && p->count < GC_PHASES_MAX) {
        i = p->count++;
        gc_phase *ph = &p->phase[i];
        memset(ph, 0, sizeof *ph);
        memcpy(ph->path, path, sizeof ph->path);
        ph->depth = p->depth;
    }
    p->open[p->depth] = i < 0 ? -2 : i; /* -2: not recorded, and neither are its children */
    p->started[p->depth] = now;
    ++p->depth;
}

void gc_phase_count(gc_phases *p, double bytes, double flops)
{
    if (p == NULL || p->depth == 0 || p->depth > GC_PHASES_DEPTH) return;
    const int i = p->open[p->depth - 1];
    if (i < 0) return;
    p->phase[i].bytes += bytes;
    p->phase[i].flops += flops;
}

void gc_phase_end(gc_phases *p, double bytes, double flops)
{
    if (p == NULL || p->depth == 0) return;
    if (p->depth > GC_PHASES_DEPTH) {
        --p->depth;
        return;
    }
    gc_phase_count(p, bytes, flops);
    --p->depth;
    const int i = p->open[p->depth];
    if (i < 0) return;
    p->phase[i].seconds += MPI_Wtime() - p->started[p->depth];
    p->phase[i].calls++;
}

const gc_phase *gc_phases_find(const gc_phases *p, const char *path)
{
    const int i = find(p, path);
    return i < 0 ? NULL : &p->phase[i];
}

/* Merges the gathered path lists (rank order) into p's table: every rank merges the same lists,
 * so all end with the same union in the same order. */
static void merge_paths(gc_phases *p, const char *all, int total_bytes)
{
    for (int t = 0; t < total_bytes / GC_PHASE_PATH_BYTES; ++t) {
        const char *path = all + (size_t)t * GC_PHASE_PATH_BYTES;
        if (find(p, path) >= 0 || p->count >= GC_PHASES_MAX) continue;
        gc_phase *ph = &p->phase[p->count++];
        memset(ph, 0, sizeof *ph);
        snprintf(ph->path, sizeof ph->path, "%s", path);
        for (const char *c = path; *c; ++c) ph->depth += *c == '/';
    }
}

int gc_phases_reduce(gc_phases *p, MPI_Comm comm)
{
    int size, mine_bytes = p->count * GC_PHASE_PATH_BYTES, total = 0;
    GC_CHECK_MPI(MPI_Comm_size(comm, &size));
    int *counts = gc_malloc((size_t)size * sizeof *counts), *displs = gc_malloc((size_t)size * sizeof *displs);
    char *mine = gc_malloc((size_t)(p->count > 0 ? p->count : 1) * GC_PHASE_PATH_BYTES), *all = NULL;
    double *v = gc_malloc((size_t)GC_PHASES_MAX * 3 * sizeof *v);
    int status = counts && displs && mine && v ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory reducing phases");
    GC_TRY_GOTO(status, gc_comm_agree(comm, status), done);
    for (int i = 0; i < p->count; ++i) memcpy(mine + i * GC_PHASE_PATH_BYTES, p->phase[i].path, GC_PHASE_PATH_BYTES);
    GC_CHECK_MPI(MPI_Allgather(&mine_bytes, 1, MPI_INT, counts, 1, MPI_INT, comm));
    for (int r = 0; r < size; ++r) displs[r] = total, total += counts[r];
    all = gc_malloc((size_t)(total > 0 ? total : 1));
    GC_TRY_GOTO(status, gc_comm_agree(comm, all ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory reducing phases")),
                done);
    GC_CHECK_MPI(MPI_Allgatherv(mine, mine_bytes, MPI_CHAR, all, counts, displs, MPI_CHAR, comm));
    merge_paths(p, all, total);
    const int n = p->count;
    for (int i = 0; i < n; ++i) v[i] = p->phase[i].seconds;
    GC_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_MIN, comm));
    for (int i = 0; i < n; ++i)
        p->phase[i].min_s = v[i], v[i] = p->phase[i].seconds, v[n + i] = (double)p->phase[i].calls;
    GC_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, v, 2 * n, MPI_DOUBLE, MPI_MAX, comm));
    for (int i = 0; i < n; ++i) {
        p->phase[i].max_s = v[i];
        p->phase[i].max_calls = v[n + i];
        v[i] = p->phase[i].seconds, v[n + i] = p->phase[i].bytes, v[2 * n + i] = p->phase[i].flops;
    }
    GC_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, v, 3 * n, MPI_DOUBLE, MPI_SUM, comm));
    for (int i = 0; i < n; ++i) {
        p->phase[i].mean_s = v[i] / size;
        p->phase[i].total_bytes = v[n + i];
        p->phase[i].total_flops = v[2 * n + i];
    }
    p->reduced = 1;
done:
    free(counts);
    free(displs);
    free(mine);
    free(all);
    free(v);
    return status;
}

static void write_rate(FILE *f, const char *key, double amount, double seconds, double unit)
{
    if (amount > 0 && seconds > 0)
        fprintf(f, ", \"%s\": %.3f", key, amount / seconds / unit);
    else
        fprintf(f, ", \"%s\": null", key);
}

int gc_phases_write_json(const gc_phases *p, const char *path, const char *option, const char *context)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) return gc_fail(GC_ERR_IO, "--%s %s: cannot write: %s", option, path, strerror(errno));
    fprintf(f, "{%s%s\"phases\": [", context, context[0] ? ", " : "");
    for (int i = 0; i < p->count; ++i) {
        const gc_phase *ph = &p->phase[i];
        fprintf(f,
                "%s\n  {\"name\": \"%s\", \"depth\": %d, \"calls\": %.0f, \"min_s\": %.6f, \"mean_s\": %.6f, "
                "\"max_s\": %.6f, \"bytes\": %.0f, \"flops\": %.0f",
                i ? "," : "", ph->path, ph->depth, ph->max_calls, ph->min_s, ph->mean_s, ph->max_s, ph->total_bytes,
                ph->total_flops);
        write_rate(f, "GBps", ph->total_bytes, ph->max_s, 1e9);
        write_rate(f, "GFLOPps", ph->total_flops, ph->max_s, 1e9);
        fputc('}', f);
    }
    fprintf(f, "\n]}\n");
    if (fclose(f) != 0) return gc_fail(GC_ERR_IO, "--%s %s: cannot write: %s", option, path, strerror(errno));
    return GC_OK;
}

void gc_phases_print(const gc_phases *p, FILE *f)
{
    fprintf(f, "phases (max over ranks; balance = max/min; rates at the max):\n");
    for (int i = 0; i < p->count; ++i) {
        const gc_phase *ph = &p->phase[i];
        const char *leaf = strrchr(ph->path, '/');
        fprintf(f, "  %*s%-*s %10.4f s  x%-6.0f", 2 * ph->depth, "", 24 - 2 * ph->depth, leaf ? leaf + 1 : ph->path,
                ph->max_s, ph->max_calls);
        if (ph->min_s > 0) fprintf(f, "  balance %.2f", ph->max_s / ph->min_s);
        if (ph->total_bytes > 0 && ph->max_s > 0) fprintf(f, "  %.2f GB/s", ph->total_bytes / ph->max_s / 1e9);
        if (ph->total_flops > 0 && ph->max_s > 0) fprintf(f, "  %.2f GFLOP/s", ph->total_flops / ph->max_s / 1e9);
        fputc('\n', f);
    }
}

void gc_phases_summary(const gc_phases *p, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < p->count && used < size; ++i)
        if (p->phase[i].depth == 0)
            used += (size_t)snprintf(buf + used, size - used, "%s%s=%.6f", used ? "," : "", p->phase[i].path,
                                     p->phase[i].max_s);
}
