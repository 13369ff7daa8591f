/* Dataset input: one or more HDF5 shards (/X float [N, d], /y integer [N], optional /ids, optional
 * attribute num_classes) concatenated in the order given, or the synthetic generator. The global
 * row index is the position in that concatenation. */
#ifndef GC_DATASET_H
#define GC_DATASET_H

#include <mpi.h>
#include <stdint.h>

#include "synthetic.h"

typedef struct {
    char *path;
    int64_t rows;
    int64_t first_row; /* global index of its row 0 */
} gc_shard;

typedef struct {
    int is_synthetic;
    gc_synthetic synthetic;
    int shard_count;
    gc_shard *shards;
    int64_t n;
    int d;
    int num_classes; /* from the attribute (or the generator); 0 = infer from labels */
    int has_ids;
} gc_dataset;

/* Not collective: the files of a spec, comma-separated items in order, an item with glob characters
 * replaced by its sorted matches (one that matches nothing is an input error naming `option`);
 * "synthetic:…" names none. Free with gc_dataset_paths_free. */
int gc_dataset_paths(const char *option, const char *spec, char ***paths, int *count);
void gc_dataset_paths_free(char **paths, int count);

/* Collective. Rank 0 inspects every shard's metadata (existence, ranks, dtypes, agreeing widths)
 * and broadcasts it. spec: "a.h5,b.h5", a glob such as shards/part-?.h5 (sorted), or "synthetic:…". */
int gc_dataset_open(gc_dataset *ds, const char *spec, MPI_Comm comm);
void gc_dataset_close(gc_dataset *ds);

/* Collective (every rank calls it the same number of times, possibly with lo == hi): reads
 * global rows [lo, hi) by hyperslab, through MPI-IO when HDF5 is parallel. Checks that X is finite
 * and labels are in [0, num_classes) (when known), naming the file and row otherwise. x may be NULL
 * (labels only) and ids too; without /ids the global index is stored. */
int gc_dataset_read(const gc_dataset *ds, MPI_Comm comm, int64_t lo, int64_t hi, float *x, int32_t *y, int64_t *ids);

/* Not collective: /X of global rows [lo, hi) alone, checked finite, read by this rank on its own
 * (no MPI-IO), so a rank can pull its shard batch by batch while the GPU works on earlier ones. */
int gc_dataset_read_x(const gc_dataset *ds, int64_t lo, int64_t hi, float *x);

/* A source of X for the embedding engine (gc_embed_config.read_x with read_ctx = a range): rows
 * first + lo … first + lo + n − 1 of ds. */
typedef struct {
    const gc_dataset *ds;
    int64_t first;
} gc_dataset_range;
int gc_dataset_range_read(void *range, int64_t lo, int64_t n, float *x);

#endif
