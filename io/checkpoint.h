/* Restart of interrupted jobs (--checkpoint DIR). The directory holds a manifest naming the run it
 * belongs to (a fingerprint of every option that changes the result, the rank count, and the
 * fingerprint of the input files' contents, io/fingerprint.h), a lock file held by the job that uses
 * it (io/lock.h: a second job on the same directory fails at once), the
 * embeddings (written at the end of the embed phase, atomically), and per-rank logs of finished
 * selection work (one record per facility-location partition, appended and fsync'ed as each one
 * finishes, each with a checksum so a record torn by SIGKILL is dropped on load). Running the same
 * command again resumes from what is there and writes the identical coreset. */
#ifndef GC_CHECKPOINT_H
#define GC_CHECKPOINT_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "core/options.h"
#include "fingerprint.h"
#include "lock.h"

typedef struct {
    char dir[4096];
    uint64_t fingerprint, inputs;
    gc_lock lock; /* rank 0's, on DIR/lock */
    int rank, size;
    int every;   /* fsync the work log every this many records */
    int pending; /* records appended since the last fsync */
    int log_fd;  /* this rank's work log, -1 until opened */
} gc_checkpoint;

/* Collective. Creates DIR and its manifest and takes its lock, or checks that an existing one is this
 * run's: a different option fingerprint, rank count or input contents (`inputs`, rank 0's value
 * counts) is a usage error naming DIR, and so is a directory locked by another job. */
int gc_checkpoint_open(gc_checkpoint *ck, const char *dir, uint64_t fingerprint, uint64_t inputs, int every,
                       MPI_Comm comm);
void gc_checkpoint_close(gc_checkpoint *ck);
/* DIR/name in buf. */
void gc_checkpoint_path(const gc_checkpoint *ck, const char *name, char *buf, size_t size);

/* This rank's work log: records (id, payload). load calls use() for every intact record in order
 * and truncates a torn tail; append adds one record. */
int gc_checkpoint_load(gc_checkpoint *ck, const char *log,
                       void (*use)(void *ctx, int64_t id, const void *payload, size_t bytes), void *ctx);
int gc_checkpoint_append(gc_checkpoint *ck, int64_t id, const void *payload, size_t bytes);

/* Fingerprint of a run's resolved options (names and values, in table order) except the `ignored`
 * ones (where outputs go, verbosity): the run a checkpoint or stream state belongs to. */
uint64_t gc_options_fingerprint(const gc_options *opts, const char *const *ignored, size_t n_ignored);

#endif
