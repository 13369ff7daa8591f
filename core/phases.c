#include "phases.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* The innermost open phase, or NULL when none is open or it is not recorded. */
static gc_phase *innermost(gc_phases *p)
{
    if (p == NULL || p->depth == 0 || p->depth > GC_PHASES_DEPTH) return NULL;
    const int i = p->open[p->depth - 1];
    return i >= 0 ? &p->phase[i] : NULL;
}

void gc_phase_bound(gc_phases *p, gc_floor_kind kind)
{
    gc_phase *ph = innermost(p);
    if (ph != NULL) ph->bound = kind;
}

void gc_phases_set_ceilings(gc_phases *p, const gc_ceilings *c)
{
    if (p != NULL) p->ceilings = *c;
}

void gc_phase_count_on(gc_phases *p, gc_floor_kind kind, double bytes)
{
    gc_phase *ph = innermost(p);
    if (ph == NULL) return;
    ph->bytes += bytes;
    ph->moved[kind] += bytes;
}

void gc_phase_count(gc_phases *p, double bytes, double flops)
{
    gc_phase *ph = innermost(p);
    if (ph == NULL) return;
    gc_phase_count_on(p, ph->bound, bytes);
    ph->flops += flops;
}

void gc_phase_count_host_flops(gc_phases *p, double flops)
{
    gc_phase *ph = innermost(p);
    if (ph != NULL) ph->host_flops += flops;
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

static const char *const bound_names[GC_FLOOR_KINDS] = { "memory", "link", "host", "storage" };

/* What sets a phase's floor (rank 0's view, which is the one written). */
static const char *floor_label(const gc_phase *ph)
{
    return ph->floor_by < 0                     ? "children"
           : ph->floor_by == GC_FLOOR_KINDS     ? "gemm"
           : ph->floor_by == GC_FLOOR_KINDS + 1 ? "host-fp64"
                                                : bound_names[ph->floor_by];
}

/* The roofline of the phase's own work on this rank, and what sets it; 0 when nothing is counted
 * or a ceiling it needs is unknown (no floor is claimed then). */
static double own_floor(const gc_phases *p, const gc_phase *ph, int *by)
{
    double worst = 0.0;
    *by = -1;
    for (int k = 0; k <= GC_FLOOR_KINDS + 1; ++k) {
        const double amount = k < GC_FLOOR_KINDS ? ph->moved[k] : k == GC_FLOOR_KINDS ? ph->flops : ph->host_flops;
        const double ceiling = k < GC_FLOOR_KINDS    ? p->ceilings.bandwidth[k]
                               : k == GC_FLOOR_KINDS ? p->ceilings.gemm
                                                     : p->ceilings.host_fp64;
        if (amount <= 0) continue;
        if (ceiling <= 0) return 0.0;
        if (amount / (ceiling * 1e9) > worst) worst = amount / (ceiling * 1e9), *by = k;
    }
    return worst;
}

/* This rank's floors, deepest phases first so that each parent sums its finished children. */
static void compute_floors(gc_phases *p)
{
    for (int depth = GC_PHASES_DEPTH - 1; depth >= 0; --depth)
        for (int i = 0; i < p->count; ++i) {
            gc_phase *ph = &p->phase[i];
            if (ph->depth != depth) continue;
            double children = 0.0;
            const size_t len = strlen(ph->path);
            for (int j = 0; j < p->count; ++j)
                if (p->phase[j].depth == depth + 1 && strncmp(p->phase[j].path, ph->path, len) == 0 &&
                    p->phase[j].path[len] == '/')
                    children += p->phase[j].floor_s;
            int by;
            const double own = own_floor(p, ph, &by);
            ph->floor_s = own > children ? own : children;
            ph->floor_by = own > children ? by : -1;
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
    compute_floors(p); /* after the merge: a path this rank never entered has floor 0 */
    const int n = p->count;
    for (int i = 0; i < n; ++i) v[i] = p->phase[i].seconds;
    GC_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_MIN, comm));
    for (int i = 0; i < n; ++i)
        p->phase[i].min_s = v[i], v[i] = p->phase[i].seconds, v[n + i] = (double)p->phase[i].calls,
        v[2 * n + i] = p->phase[i].floor_s;
    GC_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, v, 3 * n, MPI_DOUBLE, MPI_MAX, comm));
    for (int i = 0; i < n; ++i) {
        p->phase[i].max_s = v[i];
        p->phase[i].max_calls = v[n + i];
        p->phase[i].floor_s = v[2 * n + i];
        v[i] = p->phase[i].seconds, v[n + i] = p->phase[i].bytes,
        v[2 * n + i] = p->phase[i].flops + p->phase[i].host_flops;
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
        fprintf(f, ", \"%s\": %.6g", key, amount / seconds / unit);
    else
        fprintf(f, ", \"%s\": null", key);
}

int gc_phases_write_json(const gc_phases *p, const char *path, const char *option, const char *context)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) return gc_fail(GC_ERR_IO, "--%s %s: cannot write: %s", option, path, strerror(errno));
    const gc_ceilings *c = &p->ceilings;
    fprintf(f,
            "{%s%s\"ceilings\": {\"memory_GBps\": %.1f, \"link_GBps\": %.1f, \"host_GBps\": %.1f, "
            "\"storage_GBps\": %.2f, \"gemm_GFLOPps\": %.0f, \"host_fp64_GFLOPps\": %.0f}, \"phases\": [",
            context, context[0] ? ", " : "", c->bandwidth[GC_FLOOR_MEMORY], c->bandwidth[GC_FLOOR_LINK],
            c->bandwidth[GC_FLOOR_HOST], c->bandwidth[GC_FLOOR_STORAGE], c->gemm, c->host_fp64);
    for (int i = 0; i < p->count; ++i) {
        const gc_phase *ph = &p->phase[i];
        fprintf(f,
                "%s\n  {\"name\": \"%s\", \"depth\": %d, \"calls\": %.0f, \"min_s\": %.9g, \"mean_s\": %.9g, "
                "\"max_s\": %.9g, \"bytes\": %.0f, \"flops\": %.0f",
                i ? "," : "", ph->path, ph->depth, ph->max_calls, ph->min_s, ph->mean_s, ph->max_s, ph->total_bytes,
                ph->total_flops);
        write_rate(f, "GBps", ph->total_bytes, ph->max_s, 1e9);
        write_rate(f, "GFLOPps", ph->total_flops, ph->max_s, 1e9);
        fprintf(f, ", \"bound\": \"%s\"", floor_label(ph));
        if (ph->floor_s > 0 && ph->max_s > 0)
            fprintf(f, ", \"floor_s\": %.9g, \"of_floor\": %.6g}", ph->floor_s, ph->floor_s / ph->max_s);
        else
            fprintf(f, ", \"floor_s\": null, \"of_floor\": null}");
    }
    fprintf(f, "\n]}\n");
    if (fclose(f) != 0) return gc_fail(GC_ERR_IO, "--%s %s: cannot write: %s", option, path, strerror(errno));
    return GC_OK;
}

void gc_phases_print(const gc_phases *p, FILE *f)
{
    fprintf(f, "phases (max over ranks; balance = max/min; rates at the max; floor = the work at the ceilings):\n");
    for (int i = 0; i < p->count; ++i) {
        const gc_phase *ph = &p->phase[i];
        const char *leaf = strrchr(ph->path, '/');
        fprintf(f, "  %*s%-*s %10.4f s  x%-6.0f", 2 * ph->depth, "", 24 - 2 * ph->depth, leaf ? leaf + 1 : ph->path,
                ph->max_s, ph->max_calls);
        if (ph->min_s > 0) fprintf(f, "  balance %.2f", ph->max_s / ph->min_s);
        if (ph->total_bytes > 0 && ph->max_s > 0) fprintf(f, "  %.2f GB/s", ph->total_bytes / ph->max_s / 1e9);
        if (ph->total_flops > 0 && ph->max_s > 0) fprintf(f, "  %.2f GFLOP/s", ph->total_flops / ph->max_s / 1e9);
        if (ph->floor_s > 0 && ph->max_s > 0)
            fprintf(f, "  floor %.4f s (%s) = %.0f%%", ph->floor_s, floor_label(ph), 100.0 * ph->floor_s / ph->max_s);
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

static double process_start = -1.0, process_started = -1.0;

static double monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void gc_process_mark_start(void) { process_start = monotonic_s(); }

void gc_process_mark_started(void) { process_started = monotonic_s(); }

double gc_process_startup_s(void)
{
    return process_start >= 0.0 && process_started >= 0.0 ? process_started - process_start : -1.0;
}

double gc_process_elapsed_s(void) { return process_start >= 0.0 ? monotonic_s() - process_start : -1.0; }
