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

/* What bounds a phase's bytes (docs/design.md §7.1): the memory the rank computes in (HBM on
 * a GPU rank, host memory on a CPU rank), the host↔device link, host memory on a GPU rank (host-side
 * passes), or the storage the input is read from. A phase's flops are bounded by the GEMM ceiling of
 * the device it computes on, its host flops (the replicated refits' FP64 algebra, on the CPU of any
 * rank) by the host's FP64 GEMM. */
typedef enum { GC_FLOOR_MEMORY = 0, GC_FLOOR_LINK, GC_FLOOR_HOST, GC_FLOOR_STORAGE, GC_FLOOR_KINDS } gc_floor_kind;

/* The ceilings of one rank's hardware, measured at the start of a timed run (0 = not known, and
 * then no floor is claimed): GB/s of each gc_floor_kind, GFLOP/s of an FP32 GEMM on the device the
 * rank computes on and of an FP64 GEMM on its host CPU. */
typedef struct {
    double bandwidth[GC_FLOOR_KINDS];
    double gemm, host_fp64;
} gc_ceilings;

typedef struct {
    char path[GC_PHASE_PATH_BYTES]; /* "select/score" */
    int depth;                      /* 0 for a top-level phase */
    int64_t calls;
    double seconds, bytes, flops, host_flops;   /* this rank (host_flops: FP64 on the host CPU) */
    double min_s, mean_s, max_s;                /* over ranks, after gc_phases_reduce */
    double total_bytes, total_flops, max_calls; /* summed (calls: max) over ranks; flops include host flops */
    gc_floor_kind bound;                        /* what gc_phase_end's bytes move over (gc_phase_bound) */
    double moved[GC_FLOOR_KINDS];               /* this rank's bytes over each bound */
    double floor_s;                             /* this rank's floor, then its max over ranks */
    int floor_by; /* what sets it on this rank: a gc_floor_kind, GC_FLOOR_KINDS = the GEMM, GC_FLOOR_KINDS + 1
                     the host's FP64 GEMM, −1 the children */
} gc_phase;

typedef struct {
    int count;
    gc_phase phase[GC_PHASES_MAX];
    int open[GC_PHASES_DEPTH]; /* stack of entered phases (indices into phase[]) */
    double started[GC_PHASES_DEPTH];
    int depth;
    int reduced;
    gc_ceilings ceilings; /* this rank's (gc_phases_set_ceilings); all zero: no floors */
} gc_phases;

void gc_phases_init(gc_phases *p);
/* Enters phase `name` below the innermost open one. Beyond GC_PHASES_MAX paths or
 * GC_PHASES_DEPTH levels the phase is not recorded (its time still counts in its parents). */
void gc_phase_begin(gc_phases *p, const char *name);
/* Leaves the innermost open phase, adding the bytes and flops its work needed on this rank. */
void gc_phase_end(gc_phases *p, double bytes, double flops);
/* The innermost open phase's bytes move over `kind` (default GC_FLOOR_MEMORY). */
void gc_phase_bound(gc_phases *p, gc_floor_kind kind);
/* The ceilings this rank's floors are computed against. */
void gc_phases_set_ceilings(gc_phases *p, const gc_ceilings *c);
/* Adds bytes and flops to the innermost open phase (work counted where it is known); its bytes move
 * over the phase's bound. */
void gc_phase_count(gc_phases *p, double bytes, double flops);
/* Adds bytes that move over `kind` (a pipelined phase: storage, link and device memory at once). */
void gc_phase_count_on(gc_phases *p, gc_floor_kind kind, double bytes);
/* Adds FP64 flops computed on the host CPU (a refit), bounded by the host's FP64 GEMM. */
void gc_phase_count_host_flops(gc_phases *p, double flops);
/* This rank's phase of that path, or NULL. */
const gc_phase *gc_phases_find(const gc_phases *p, const char *path);

/* Collective over comm: the union of the ranks' paths (in order of first appearance on rank 0,
 * then on the other ranks), each reduced to min/mean/max seconds and summed bytes and flops.
 * A phase's floor on a rank is the roofline of its own work, the largest of bytes / ceiling over
 * the bounds its bytes moved over and flops / GEMM ceiling (stages of a pipeline overlap), or the
 * sum of its children's floors when that is larger (they run one after the other); the reduced
 * floor is the largest over ranks, next to the slowest rank's time. */
int gc_phases_reduce(gc_phases *p, MPI_Comm comm);
/* Rank 0: the reduced phases as a JSON file, `context` (a JSON object body such as "\"N\": 100")
 * merged in at the top level, then "ceilings" (rank 0's) and "phases": one object per phase with
 * its path, depth, calls, seconds (min/mean/max), bytes, flops, GB/s and GFLOP/s at the slowest
 * rank's time (null when not counted), its bound, floor_s and of_floor = floor_s / max_s (null
 * without a floor). `option` names the path's option in an error line. */
int gc_phases_write_json(const gc_phases *p, const char *path, const char *option, const char *context);
/* Reduced phases as an indented tree (--verbose): max seconds, max/min balance, GB/s, GFLOP/s,
 * and the floor with the share of it the phase reached. */
void gc_phases_print(const gc_phases *p, FILE *f);
/* "read=0.1,embed=0.2" of the top-level phases' max seconds (coreset file attribute). */
void gc_phases_summary(const gc_phases *p, char *buf, size_t size);

/* The process around the phases, as the command line's main marks it (a library caller marks
 * nothing): its start (main's entry) and the end of its start-up (MPI_Init, the GPU's start-up
 * running beside it on a thread). Seconds of the start-up, and since the start, on this rank's
 * monotonic clock; −1 where unmarked. --timings reports them with the coreset file's write, so the
 * phases' sum and the whole run can be told apart. */
void gc_process_mark_start(void);
void gc_process_mark_started(void);
double gc_process_startup_s(void);
double gc_process_elapsed_s(void);

#endif
