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

#include "core/error.h"
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

/* gc_select_embeddings (same contract: collective over comm, the global coreset in *out on every
 * rank, an exit status and gc_error_message() on failure) with the communicator as a Fortran handle.
 * The message of an earlier call is forgotten first, so the one returned is this call's. */
int gc_python_select(int64_t comm, int64_t n_global, int64_t lo, int64_t n_local, int D, int classes, const float *e,
                     const int32_t *y, const float *loss, int argc, char **argv, gc_select_result *out)
{
    gc_error_clear();
    return gc_select_embeddings(MPI_Comm_f2c((MPI_Fint)comm), n_global, lo, n_local, D, classes, e, y, loss, argc, argv,
                                out);
}
