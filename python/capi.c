/* libgradcore's entry points for the Python package (python/gradcore/_lib.py loads them through
 * ctypes). Selection itself is gc_select_embeddings (src/commands/select_api.h), the CLI's own
 * select on in-memory rows; this file adds only what a Python process needs around it:
 *   - MPI start-up for a process that may be a plain `python` (a singleton rank), a rank of
 *     `mpirun python`, or one where mpi4py already started MPI;
 *   - communicators passed as Fortran handles (MPI_Comm_c2f / MPI_Comm_f2c, what mpi4py's
 *     Comm.py2f() returns): the one form of an MPI_Comm that every MPI library lets a foreign caller
 *     hold as a plain integer, whatever the C type of MPI_Comm is. */
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/error.h"
#include "core/fault.h"
#include "src/commands/select_api.h"

/* Not collective beyond MPI_Init_thread itself. Starts MPI unless it is running (started by mpi4py,
 * or by an earlier call): MPI_THREAD_FUNNELED, since only the calling thread makes MPI calls (PyTorch
 * may run threads of its own). *started_here = 1 when this call started MPI: the caller then owes
 * one gc_python_finalize at exit, and must not finalize an MPI that someone else started. */
int gc_python_init(int *started_here)
{
    int initialized = 0, finalized = 0, provided = 0;
    *started_here = 0;
    GC_CHECK_MPI(MPI_Finalized(&finalized));
    if (finalized) return gc_fail(GC_ERR_LIB, "MPI was already finalized in this process: it cannot start again");
    GC_CHECK_MPI(MPI_Initialized(&initialized));
    if (initialized) return GC_OK;
    GC_CHECK_MPI(MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided));
    *started_here = 1;
    /* As the CLI's main: MPI failures come back as codes (mpi4py sets the same when it starts MPI). */
    GC_CHECK_MPI(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
    GC_CHECK_MPI(MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN));
    return GC_OK;
}

/* Collective over MPI_COMM_WORLD. Finalizes MPI once, for the process that gc_python_init started. */
int gc_python_finalize(void)
{
    int finalized = 0;
    GC_CHECK_MPI(MPI_Finalized(&finalized));
    if (!finalized) GC_CHECK_MPI(MPI_Finalize());
    return GC_OK;
}

/* MPI_COMM_SELF as a Fortran handle (MPI must be running): the communicator of a call that names
 * none, whose arrays are then the whole data even in a process started by mpirun. */
int64_t gc_python_comm_self(void) { return (int64_t)MPI_Comm_c2f(MPI_COMM_SELF); }

/* Rank and size of a communicator given as a Fortran handle. */
int gc_python_comm_shape(int64_t comm, int *rank, int *size)
{
    MPI_Comm c = MPI_Comm_f2c((MPI_Fint)comm);
    GC_CHECK_MPI(MPI_Comm_rank(c, rank));
    GC_CHECK_MPI(MPI_Comm_size(c, size));
    return GC_OK;
}

/* Rows [lo, hi) of n that `rank` of the communicator owns in the selectors' own split
 * (gc_comm_row_range): shards laid out this way reach gc_select_embeddings without being moved. */
int gc_python_row_range(int64_t comm, int64_t n, int64_t *lo, int64_t *hi)
{
    int rank, size;
    GC_TRY(gc_python_comm_shape(comm, &rank, &size));
    gc_comm_row_range(n, rank, size, lo, hi);
    return GC_OK;
}

/* One row in transit: its embedding, then label and loss (record_bytes = 4·D + 8). */
static void pack_row(char *dst, int D, const float *e, int32_t y, float loss)
{
    memcpy(dst, e, (size_t)D * sizeof *e);
    memcpy(dst + (size_t)D * sizeof *e, &y, sizeof y);
    memcpy(dst + (size_t)D * sizeof *e + sizeof y, &loss, sizeof loss);
}

/* Collective. Moves shards that tile the global index in rank order (rank r's rows follow rank
 * r−1's) to gc_comm_row_range's split, which the selectors assume when they look up the rank that
 * owns a global row. *e, *y, *loss are new arrays of the new n_local rows (free them). */
static int redistribute(MPI_Comm comm, int64_t n_global, int64_t lo, int64_t n_local, int D, const float *e,
                        const int32_t *y, const float *loss, float **e_out, int32_t **y_out, float **loss_out)
{
    int rank, size;
    GC_CHECK_MPI(MPI_Comm_rank(comm, &rank));
    GC_CHECK_MPI(MPI_Comm_size(comm, &size));
    const size_t record_bytes = (size_t)D * sizeof(float) + sizeof(int32_t) + sizeof(float);
    int64_t *shards = gc_malloc(2 * (size_t)size * sizeof *shards), mine[2] = { lo, n_local };
    int *counts = gc_calloc((size_t)size, sizeof *counts), *displs = gc_calloc((size_t)size, sizeof *displs);
    char *send = gc_malloc((size_t)(n_local > 0 ? n_local : 1) * record_bytes), *recv = NULL;
    int64_t received = 0;
    int status = (shards && counts && displs && send)
                     ? GC_OK
                     : gc_fail(GC_ERR_MEMORY, "out of memory moving %lld rows", (long long)n_local);
    status = gc_comm_agree(comm, status);
    if (status == GC_OK) {
        status = GC_MPI(MPI_Allgather(mine, 2, MPI_INT64_T, shards, 2, MPI_INT64_T, comm));
        for (int r = 0, next = 0; r < size && status == GC_OK; next += (int)shards[2 * r + 1], ++r)
            if (shards[2 * r] != next)
                status = gc_fail(GC_ERR_INPUT,
                                 "embeddings: rank %d's rows start at global row %lld, not at %d where rank %d's end "
                                 "(the ranks' rows must follow each other in rank order)",
                                 r, (long long)shards[2 * r], next, r - 1);
        /* Rows [lo, lo + n_local) meet rank r's target range in one contiguous piece, in order. */
        for (int r = 0; r < size && status == GC_OK; ++r) {
            int64_t r_lo, r_hi;
            gc_comm_row_range(n_global, r, size, &r_lo, &r_hi);
            const int64_t a = lo > r_lo ? lo : r_lo, b = lo + n_local < r_hi ? lo + n_local : r_hi;
            counts[r] = b > a ? (int)(b - a) : 0;
            displs[r] = b > a ? (int)(a - lo) : (r > 0 ? displs[r - 1] + counts[r - 1] : 0);
        }
        for (int64_t i = 0; i < n_local; ++i)
            pack_row(send + (size_t)i * record_bytes, D, e + (size_t)i * D, y[i], loss ? loss[i] : 0.0f);
    }
    status = gc_comm_agree(comm, status);
    if (status == GC_OK)
        status = gc_comm_exchange_records(comm, record_bytes, send, counts, displs, &recv, &received, "rows");
    if (status == GC_OK) {
        *e_out = gc_malloc((size_t)(received > 0 ? received : 1) * (size_t)D * sizeof **e_out);
        *y_out = gc_malloc((size_t)(received > 0 ? received : 1) * sizeof **y_out);
        *loss_out = gc_malloc((size_t)(received > 0 ? received : 1) * sizeof **loss_out);
        status = (*e_out && *y_out && *loss_out)
                     ? GC_OK
                     : gc_fail(GC_ERR_MEMORY, "out of memory for %lld rows", (long long)received);
        for (int64_t i = 0; i < received && status == GC_OK; ++i) {
            const char *src = recv + (size_t)i * record_bytes;
            memcpy(*e_out + (size_t)i * D, src, (size_t)D * sizeof(float));
            memcpy(*y_out + i, src + (size_t)D * sizeof(float), sizeof(int32_t));
            memcpy(*loss_out + i, src + (size_t)D * sizeof(float) + sizeof(int32_t), sizeof(float));
        }
    }
    free(shards);
    free(counts);
    free(displs);
    free(send);
    free(recv);
    return gc_comm_agree(comm, status);
}

/* gc_select_embeddings (same contract: collective over comm, the global coreset in *out on every
 * rank, an exit status and gc_error_message() on failure) with the communicator as a Fortran handle,
 * for shards of any sizes that follow each other in rank order: shards in another split than
 * gc_comm_row_range's are moved to it first (which the coreset does not depend on: it is the same
 * at every rank count and split). Rows on a GPU (e_device ≥ 0) must already be in that split: the
 * package brings a tensor home before it is moved. */
int gc_python_select(int64_t comm, int64_t n_global, int64_t lo, int64_t n_local, int D, int classes, const float *e,
                     int e_device, const int32_t *y, const float *loss, int argc, char **argv, gc_select_result *out)
{
    MPI_Comm c = MPI_Comm_f2c((MPI_Fint)comm);
    int rank, size, moved = 0;
    int64_t want_lo, want_hi;
    GC_CHECK_MPI(MPI_Comm_rank(c, &rank));
    GC_CHECK_MPI(MPI_Comm_size(c, &size));
    gc_comm_row_range(n_global, rank, size, &want_lo, &want_hi);
    moved = !(lo == want_lo && n_local == want_hi - want_lo);
    GC_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, &moved, 1, MPI_INT, MPI_MAX, c));
    if (!moved)
        return gc_select_embeddings(c, n_global, lo, n_local, D, classes, e, e_device, y, loss, argc, argv, out);
    memset(out, 0, sizeof *out);
    if (e_device >= 0)
        return gc_comm_agree(c, gc_fail(GC_ERR_USAGE, "embeddings on a GPU must be in gradcore.shard's split"));
    float *e_moved = NULL, *loss_moved = NULL;
    int32_t *y_moved = NULL;
    int status = redistribute(c, n_global, lo, n_local, D, e, y, loss, &e_moved, &y_moved, &loss_moved);
    if (status == GC_OK)
        status = gc_select_embeddings(c, n_global, want_lo, want_hi - want_lo, D, classes, e_moved, -1, y_moved,
                                      loss_moved, argc, argv, out);
    free(e_moved);
    free(y_moved);
    free(loss_moved);
    return status;
}
