/* Embeddings files (docs/design.md §2): /E float32 [N, D], /y integer [N], /loss float32 [N] (optional on
 * input: a framework may have no loss to give; zeros then). Row i is global row i of the data.
 * `--embeddings e.h5` brings embeddings from any framework; `--save-embeddings e.h5` checkpoints
 * them so a long job can restart without recomputing. */
#ifndef GC_EMBEDDINGS_IO_H
#define GC_EMBEDDINGS_IO_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

#include "kernels/precision.h"

/* Collective. Rank 0 checks the datasets' ranks, dtypes and row counts; all ranks get N and D. */
int gc_embeddings_open(const char *path, MPI_Comm comm, int64_t *n, int *D, int *has_loss);

/* Collective (every rank calls it, possibly with lo == hi): global rows [lo, hi) by hyperslab,
 * through MPI-IO when HDF5 is parallel. A non-finite value in /E or a negative label is an error
 * naming the file and the global row. loss is zero-filled when the file has none. e NULL: /y and
 * /loss alone (E goes to the engine through gc_embeddings_range). */
int gc_embeddings_read(const char *path, MPI_Comm comm, int64_t lo, int64_t hi, int D, int has_loss, float *e,
                       int32_t *y, float *loss);

/* Rows of /E a batch at a time, for the embedding engine's read_x: `select --embeddings` hands E to
 * the backend as the features embedding of the file's rows, so on a GPU E goes up batch by batch
 * through pinned memory and lives there alone, never whole on the host (docs/design.md §3.2).
 * Reads are independent (no other rank takes part); the file stays open between batches. */
typedef struct {
    const char *path;
    int64_t first; /* the global row of position 0 */
    int D;
    hid_t file;
} gc_embeddings_range;

/* Opens path for rows of width D from global row `first` on. */
int gc_embeddings_range_open(gc_embeddings_range *r, const char *path, int64_t first, int D);
/* read_x: positions [lo, lo + n) into e [n × D]; a non-finite value is an error naming the file,
 * the global row and the column. */
int gc_embeddings_range_read(void *range, int64_t lo, int64_t n, float *e);
void gc_embeddings_range_close(gc_embeddings_range *r);

/* E as it is kept: values of gc_precision_bytes(precision) bytes (floats at fp32; the 2-byte copy
 * `select` keeps of a narrow E only to write it, docs/design.md §3.2), written to /E as the floats
 * they widen to (exact). */
typedef struct {
    const void *values;
    gc_precision precision;
} gc_stored_e;

/* Collective. Writes a new file of n_global rows, each rank its rows [lo, lo + n_local): with
 * parallel HDF5 all ranks at once (collective MPI-IO), else one rank after another. The file is
 * written under a temporary name and renamed by rank 0 when every rank succeeded, so a failed or
 * killed run never leaves a partial file and never touches an existing one. */
int gc_embeddings_write(const char *path, MPI_Comm comm, int64_t n_global, int64_t lo, int64_t n_local, int D,
                        gc_stored_e e, const int32_t *y, const float *loss);

#endif
