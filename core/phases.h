/* Nested, named phases of a run (PETSc's log events): every rank enters and leaves phases such as
 * "select" and, inside it, "select/score"; a phase may be entered many times (once per pass) and
 * accumulates its wall seconds, calls, and the bytes and flops its work needed. The reduction over
 * ranks gives min, mean and max seconds (the slowest rank is what a user waits for) and the bytes
 * and flops summed over ranks, so achieved GB/s and GFLOP/s sit next to every time.
 *
 * A phase is identified by its path ("select/refit"); ranks may enter different phases (only some
 * ranks own partitions): the reduction runs over the union of the paths, a rank that never entered
 * one counting zero for it. All functions accept phases == NULL and then do nothing, so kernels of
 * a run that is not timed pay nothing. */
#ifndef GC_PHASES_H
#define GC_PHASES_H

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>

#define GC_PHASES_MAX       64
#define GC_PHASES_DEPTH     8
#define GC_PHASE_PATH_BYTES 96

typedef struct {
    char path[GC_PHASE_PATH_BYTES]; /* "select/score" */
    int depth;                      /* 0 for a top-level phase */
    int64_t calls;
    double seconds, bytes, flops;               /* this rank */
    double min_s, mean_s, max_s;                /* over ranks, after gc_phases_reduce */
    double total_bytes, total_flops, max_calls; /* summed (calls: max) over ranks */
} gc_phase;

typedef struct {
    int count;
    gc_phase phase[GC_PHASES_MAX];
    int open[GC_PHASES_DEPTH]; /* stack of entered phases (indices into phase[]) */
    double started[GC_PHASES_DEPTH];
    int depth;
    int reduced;
} gc_phases;

void gc_phases_init(gc_phases *p);
/* Enters phase `name` below the innermost open one. Beyond GC_PHASES_MAX paths or
 * GC_PHASES_DEPTH levels the phase is not recorded (its time still counts in its parents). */
void gc_phase_begin(gc_phases *p, const char *name);
/* Leaves the innermost open phase, adding the bytes and flops its work needed on this rank. */
void gc_phase_end(gc_phases *p, double bytes, double flops);
/* Adds bytes and flops to the innermost open phase (work counted where it is known). */
void gc_phase_count(gc_phases *p, double bytes, double flops);
/* This rank's phase of that path, or NULL. */
const gc_phase *gc_phases_find(const gc_phases *p, const char *path);

/* Collective over comm: the union of the ranks' paths (in order of first appearance on rank 0,
 * then on the other ranks), each reduced to min/mean/max seconds and summed bytes and flops. */
int gc_phases_reduce(gc_phases *p, MPI_Comm comm);
/* Rank 0: the reduced phases as a JSON file, `context` (a JSON object body such as "\"N\": 100")
 * merged in at the top level, then "phases": one object per phase with its path, depth, calls,
 * seconds (min/mean/max), bytes, flops, GB/s and GFLOP/s at the slowest rank's time (null when not
 * counted). `option` names the path's option in an error line. */
int gc_phases_write_json(const gc_phases *p, const char *path, const char *option, const char *context);
/* Reduced phases as an indented tree (--verbose): max seconds, max/min balance, GB/s, GFLOP/s. */
void gc_phases_print(const gc_phases *p, FILE *f);
/* "read=0.1,embed=0.2" of the top-level phases' max seconds (coreset file attribute). */
void gc_phases_summary(const gc_phases *p, char *buf, size_t size);

#endif
