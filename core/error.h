/* One error convention for the whole program: functions return int status, 0 = ok.
 * The GC_CHECK_* macros turn a library failure into a status and record where it happened, so a
 * failure deep in a phase surfaces as one line naming file:line and the library's own words. HDF5's
 * check (io/h5util.h) names the data file and the cause instead: its failures are the user's files. */
#ifndef GC_ERROR_H
#define GC_ERROR_H

#include <stdarg.h>

#include "fault.h"

enum gc_status {
    GC_OK = 0,
    GC_ERR_USAGE = 2,  /* bad command line or job file */
    GC_ERR_INPUT = 3,  /* bad input data: missing file/dataset, wrong shape, NaN, labels, k */
    GC_ERR_IO = 4,     /* cannot write output */
    GC_ERR_DEVICE = 5, /* GPU asked for but unusable */
    GC_ERR_MEMORY = 6, /* allocation failed */
    GC_ERR_LIB = 7,    /* MPI / HDF5 / BLAS / CUDA failure */
    GC_ERR_PEER = 8    /* another rank failed (its message is printed by that rank) */
};

/* Records the first error message of this process (later ones are ignored: the first is the cause).
 * Safe from OpenMP threads: one of the threads failing at once records its message. */
int gc_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int gc_failv(int status, const char *fmt, va_list ap);
/* The recorded message, or "" when none. */
const char *gc_error_message(void);
/* Forget the recorded message (used by tests that provoke several errors in one process). */
void gc_error_clear(void);

#define GC_TRY(call)                                                                                                   \
    do {                                                                                                               \
        int gc_try_status_ = (call);                                                                                   \
        if (gc_try_status_ != GC_OK) return gc_try_status_;                                                            \
    } while (0)

/* status = call; on failure jump to `label`, the function's one exit where everything it owns is
 * released (NCCL's NCCLCHECKGOTO). */
#define GC_TRY_GOTO(status, call, label)                                                                               \
    do {                                                                                                               \
        if (((status) = (call)) != GC_OK) goto label;                                                                  \
    } while (0)

/* Allocation failures: allocate with gc_malloc/gc_calloc/gc_realloc/gc_strdup (core/fault.h), so
 * that fault injection reaches every allocation, and check with this. */
#define GC_CHECK_ALLOC(ptr)                                                                                            \
    do {                                                                                                               \
        if ((ptr) == NULL) return gc_fail(GC_ERR_MEMORY, "out of memory at %s:%d", __FILE__, __LINE__);                \
    } while (0)

/* MPI calls (MPI_ERRORS_RETURN is set on every communicator, core/comm.h): gc_check_mpi reports a
 * failed call and ends the job (see there); the status is returned for the compiler's sake. */
#define GC_CHECK_MPI(call)                                                                                             \
    do {                                                                                                               \
        int gc_mpi_status_ = gc_check_mpi((call), #call, __FILE__, __LINE__);                                          \
        if (gc_mpi_status_ != GC_OK) return gc_mpi_status_;                                                            \
    } while (0)

/* The same as an expression, for calls whose status joins a larger condition; it yields GC_OK
 * (== MPI_SUCCESS) or does not return. */
#define GC_MPI(call) gc_check_mpi((call), #call, __FILE__, __LINE__)

int gc_check_mpi(int rc, const char *call, const char *file, int line);

/* LAPACKE calls return info: < 0 bad argument, > 0 numerical failure. */
#define GC_CHECK_BLAS(call, what)                                                                                      \
    do {                                                                                                               \
        int gc_blas_info_ = (int)gc_fault_status((call), -1, GC_FAULT_LAPACK, __FILE__, __LINE__);                     \
        if (gc_blas_info_ != 0)                                                                                        \
            return gc_fail(GC_ERR_LIB, "LAPACK error at %s:%d: %s (info %d)", __FILE__, __LINE__, (what),              \
                           gc_blas_info_);                                                                             \
    } while (0)

#endif
