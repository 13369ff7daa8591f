#include "timings.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

void gc_timings_start(gc_timings *t)
{
    t->count = 0;
    t->started = MPI_Wtime();
}

void gc_timings_stop(gc_timings *t, const char *name, double bytes)
{
    double now = MPI_Wtime();
    if (t->count < GC_MAX_PHASES) {
        t->name[t->count] = name;
        t->seconds[t->count] = now - t->started;
        t->bytes[t->count] = bytes;
        t->count++;
    }
    t->started = now;
}

int gc_timings_reduce(gc_timings *t, MPI_Comm comm)
{
    int size;
    MPI_Comm_size(comm, &size);
    GC_CHECK_MPI(MPI_Allreduce(t->seconds, t->min_s, t->count, MPI_DOUBLE, MPI_MIN, comm));
    GC_CHECK_MPI(MPI_Allreduce(t->seconds, t->max_s, t->count, MPI_DOUBLE, MPI_MAX, comm));
    GC_CHECK_MPI(MPI_Allreduce(t->seconds, t->mean_s, t->count, MPI_DOUBLE, MPI_SUM, comm));
    GC_CHECK_MPI(MPI_Allreduce(t->bytes, t->total_bytes, t->count, MPI_DOUBLE, MPI_SUM, comm));
    for (int i = 0; i < t->count; ++i) t->mean_s[i] /= size;
    return GC_OK;
}

int gc_timings_write_json(const gc_timings *t, const char *path, const char *context)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) return gc_fail(GC_ERR_IO, "--timings %s: cannot write: %s", path, strerror(errno));
    fprintf(f, "{%s%s\"phases\": [", context, context[0] ? ", " : "");
    for (int i = 0; i < t->count; ++i) {
        fprintf(f, "%s\n  {\"name\": \"%s\", \"min_s\": %.6f, \"mean_s\": %.6f, \"max_s\": %.6f, \"bytes\": %.0f, ",
                i ? "," : "", t->name[i], t->min_s[i], t->mean_s[i], t->max_s[i], t->total_bytes[i]);
        if (t->total_bytes[i] > 0 && t->max_s[i] > 0)
            fprintf(f, "\"GBps\": %.3f}", t->total_bytes[i] / t->max_s[i] / 1e9);
        else
            fprintf(f, "\"GBps\": null}");
    }
    fprintf(f, "\n]}\n");
    if (fclose(f) != 0) return gc_fail(GC_ERR_IO, "--timings %s: cannot write: %s", path, strerror(errno));
    return GC_OK;
}
