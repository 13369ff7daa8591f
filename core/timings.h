/* Named phase timings: each rank records wall seconds per phase; reports give min/mean/max over
 * ranks (HPCG style), so the slowest rank's time is what a user sees. */
#ifndef GC_TIMINGS_H
#define GC_TIMINGS_H

#include <mpi.h>

#define GC_MAX_PHASES 16

typedef struct {
    int count;
    const char *name[GC_MAX_PHASES];
    double seconds[GC_MAX_PHASES];
    double bytes[GC_MAX_PHASES];       /* bytes this rank moved or read in the phase (0 = not counted) */
    double total_bytes[GC_MAX_PHASES]; /* summed over ranks by gc_timings_reduce */
    double min_s[GC_MAX_PHASES], mean_s[GC_MAX_PHASES], max_s[GC_MAX_PHASES];
    double started;
} gc_timings;

void gc_timings_start(gc_timings *t);
/* Closes the phase begun at the last start/stop and names it. */
void gc_timings_stop(gc_timings *t, const char *name, double bytes);
/* Collective: fills min/mean/max over ranks and sums the bytes over ranks. */
int gc_timings_reduce(gc_timings *t, MPI_Comm comm);
/* Rank 0: the reduced timings as JSON (one object per phase: min/mean/max seconds, bytes moved by
 * all ranks, and GB/s = bytes / max seconds where bytes were counted), with `context` (a JSON
 * object body such as "\"N\": 100, \"k\": 5") merged in at the top level. */
int gc_timings_write_json(const gc_timings *t, const char *path, const char *context);

#endif
