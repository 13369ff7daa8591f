#include "timings.h"

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
    for (int i = 0; i < t->count; ++i) t->mean_s[i] /= size;
    return GC_OK;
}
