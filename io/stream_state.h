/* The state of `gradcore stream` (README "gradcore stream"): everything the next batch needs, so
 * it may arrive in another job. One HDF5 file, written by rank 0 under a temporary name, fsync'ed
 * and renamed over the previous one after every batch: a job killed at any point leaves the state
 * of the last finished batch. Layout:
 *   attributes  format, fingerprint (of the options that decide the result and of the --model file's
 *               contents), mode, k, slots, d, D, C, batches, seen, gradient_error, reservoir_error
 *   /batches/rows int64 [t], /batches/paths uint8 (absolute paths, '\n'-terminated, in order)
 *   /batches/{size, mtime_ns int64, sampled, content uint64} [t]   what each batch's file held
 *               (io/fingerprint.h): a batch is recognised by its contents, not by its path
 *   /target       float64 [D]   running Σ of the embeddings of every row seen
 *   /members/{id int64, label int32, weight float64, gain float64, loss float32, slot int32 [n],
 *             embedding float32 [n, D]}   the coreset; id = global row = rows of earlier batches +
 *                                          row within its batch
 *   /slots/{beta, created} int64 [s]      merge-reduce only (slot of a member = /members/slot)
 *   /reservoir/{id int64, key float64, label int32 [r], embedding float32 [r, D]}
 *                                          the reservoir-sampling baseline (bottom-k random keys) */
#ifndef GC_STREAM_STATE_H
#define GC_STREAM_STATE_H

#include <stdint.h>

#include "fingerprint.h"
#include "lock.h"
#include "merge_reduce.h"

/* Weighted rows kept across batches (coreset members or the reservoir), replicated on every rank. */
typedef struct {
    int64_t n;
    int D;
    int64_t *id;
    int32_t *label;
    double *weight; /* the reservoir's: its random keys */
    double *gain;
    float *loss;
    int32_t *slot;
    float *e; /* [n × D] */
} gc_member_set;

typedef struct {
    uint64_t fingerprint;
    int continual; /* 1: continual GMC; 0: merge-reduce with `slots` slots */
    int64_t k;
    int slots;
    int d, D, classes;
    int64_t batches, seen;
    int64_t *batch_rows;           /* [batches] */
    char *batch_paths;             /* '\n'-terminated paths, in order */
    gc_file_fingerprint *batch_id; /* [batches] */
    double *target;                /* [D] */
    gc_member_set members, reservoir;
    int slot_count;
    gc_slot_info *slot; /* [slots + 1] (room for the slot that overflows the buffer) */
    double gradient_error, reservoir_error;
} gc_stream_state;

int gc_member_set_allocate(gc_member_set *s, int64_t n, int D);
void gc_member_set_destroy(gc_member_set *s);

/* Allocates the fresh state of a stream whose first batch has width d, embedding width D, C classes. */
int gc_stream_state_init(gc_stream_state *st, int d, int D, int classes);
void gc_stream_state_destroy(gc_stream_state *st);

/* Any rank (each reads the file itself). A file that is not a stream state is an input error
 * naming it; a different fingerprint is a usage error. st is zeroed first. */
int gc_stream_state_read(gc_stream_state *st, const char *path, uint64_t fingerprint);
/* Rank 0: atomic replace (temporary file, fsync, rename, fsync of the directory). */
int gc_stream_state_write(const gc_stream_state *st, const char *path);
/* gc_stream_state_write in two halves, so a command can replace the state and its coreset together:
 * stage leaves the finished file at `tmp` (nothing on failure), commit renames it into place. */
int gc_stream_state_stage(const gc_stream_state *st, const char *path, char *tmp, size_t size);
int gc_stream_state_commit(const char *tmp, const char *path);
/* Rank 0, before the state is read: the lock of the stream "<path>.lock" (io/lock.h). */
int gc_stream_state_lock(gc_lock *lock, const char *path);

/* The batch of the stream whose file held the contents fp describes, or -1: one with the same size,
 * mtime and sampled blocks (known without reading the file again), or, when fp->content is
 * computed, the same size and content. */
int64_t gc_stream_state_find_batch(const gc_stream_state *st, const gc_file_fingerprint *fp);
/* Appends a processed batch: its absolute path, rows and contents. */
int gc_stream_state_add_batch(gc_stream_state *st, const char *path, int64_t rows, const gc_file_fingerprint *fp);

#endif
