#include "comm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "exact_split.h"
#include "log.h"

int gc_comm_agree(MPI_Comm comm, int status)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    int mine = status == GC_OK ? size : rank, first;
    if (GC_MPI(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm)) != MPI_SUCCESS) return GC_ERR_LIB;
    if (first == size) return GC_OK;
    char message[1024];
    int code = status;
    if (rank == first) snprintf(message, sizeof message, "%s", gc_error_message());
    GC_MPI(MPI_Bcast(&code, 1, MPI_INT, first, comm));
    GC_MPI(MPI_Bcast(message, sizeof message, MPI_CHAR, first, comm));
    gc_error_clear();
    gc_fail(code, "%s", message);
    return code == GC_OK ? GC_ERR_PEER : code;
}

void gc_comm_row_range(int64_t n, int rank, int size, int64_t *lo, int64_t *hi)
{
    int64_t base = n / size, extra = n % size;
    *lo = rank * base + (rank < extra ? rank : extra);
    *hi = *lo + base + (rank < extra ? 1 : 0);
}

int gc_comm_row_owner(int64_t n, int size, int64_t i)
{
    int64_t base = n / size, extra = n % size, big = extra * (base + 1);
    return (int)(i < big ? i / (base + 1) : extra + (i - big) / base);
}

int gc_comm_exchange_records(MPI_Comm comm, size_t record_bytes, const char *send, const int *send_counts,
                             const int *send_displs, char **recv, int64_t *recv_count, const char *what)
{
    int P, me;
    MPI_Comm_size(comm, &P);
    MPI_Comm_rank(comm, &me);
    *recv = NULL;
    *recv_count = 0;
    int *recv_counts = gc_calloc((size_t)P, sizeof *recv_counts),
        *recv_displs = gc_calloc((size_t)P, sizeof *recv_displs), *others = gc_malloc((size_t)P * sizeof *others);
    int status =
        (recv_counts && recv_displs && others) ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory exchanging %s", what);
    status = gc_comm_agree(comm, status);
    if (status == GC_OK) {
        GC_MPI(MPI_Alltoall(send_counts, 1, MPI_INT, recv_counts, 1, MPI_INT, comm));
        for (int r = 1; r < P; ++r) recv_displs[r] = recv_displs[r - 1] + recv_counts[r - 1];
        *recv_count = (int64_t)recv_displs[P - 1] + recv_counts[P - 1];
        *recv = gc_malloc_large((size_t)(*recv_count ? *recv_count : 1) * record_bytes); /* first touch: §3 */
        status = gc_comm_agree(comm, *recv ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory receiving %s", what));
    }
    if (status == GC_OK) {
        /* The rank's own records are copied here with every thread (at one rank: all of them), the
         * others travel through MPI as one contiguous type, so counts stay in records, not bytes. */
        const char *from = send + (size_t)send_displs[me] * record_bytes;
        char *to = *recv + (size_t)recv_displs[me] * record_bytes;
        const int64_t own = (int64_t)send_counts[me] * (int64_t)record_bytes, chunk = (int64_t)1 << 24;
#pragma omp parallel for schedule(static)
        for (int64_t at = 0; at < own; at += chunk)
            memcpy(to + at, from + at, (size_t)(own - at < chunk ? own - at : chunk));
        memcpy(others, send_counts, (size_t)P * sizeof *others);
        others[me] = 0;
        recv_counts[me] = 0;
        MPI_Datatype record;
        GC_MPI(MPI_Type_contiguous((int)record_bytes, MPI_BYTE, &record));
        GC_MPI(MPI_Type_commit(&record));
        GC_MPI(MPI_Alltoallv(send, others, send_displs, record, *recv, recv_counts, recv_displs, record, comm));
        GC_MPI(MPI_Type_free(&record));
    }
    free(recv_counts);
    free(recv_displs);
    free(others);
    return status;
}

int gc_exact_sum_create(gc_exact_sum *sum, int n, double global_max_abs)
{
    sum->n = n;
    int e = 0;
    frexp(global_max_abs > 0 ? global_max_abs : 1.0, &e); /* max_abs < 2^e */
    sum->scale = ldexp(1.0, 32 - e);
    sum->acc = gc_calloc((size_t)2 * n, sizeof *sum->acc);
    GC_CHECK_ALLOC(sum->acc);
    return GC_OK;
}

static inline void add_one(gc_exact_sum *sum, int j, double v)
{
    int64_t whole, fraction;
    gc_exact_split(v, sum->scale, &whole, &fraction);
    sum->acc[j] += whole;
    sum->acc[sum->n + j] += fraction;
}

void gc_exact_sum_add(gc_exact_sum *sum, const float *values)
{
    for (int j = 0; j < sum->n; ++j) add_one(sum, j, values[j]);
}

void gc_exact_sum_add_double(gc_exact_sum *sum, const double *values)
{
    for (int j = 0; j < sum->n; ++j) add_one(sum, j, values[j]);
}

void gc_exact_sum_add_at(gc_exact_sum *sum, int j, double value) { add_one(sum, j, value); }

void gc_exact_sum_merge(gc_exact_sum *dst, const gc_exact_sum *src)
{
    for (int j = 0; j < 2 * dst->n; ++j) dst->acc[j] += src->acc[j];
}

int gc_exact_sum_allreduce(gc_exact_sum *sum, MPI_Comm comm, double *out)
{
    GC_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, sum->acc, 2 * sum->n, MPI_INT64_T, MPI_SUM, comm));
    for (int j = 0; j < sum->n; ++j)
        out[j] = ((double)sum->acc[j] + (double)sum->acc[sum->n + j] / 1073741824.0) / sum->scale;
    return GC_OK;
}

void gc_exact_sum_destroy(gc_exact_sum *sum)
{
    free(sum->acc);
    sum->acc = NULL;
}

int gc_check_mpi(int rc, const char *call, const char *file, int line)
{
    if (rc == MPI_SUCCESS && gc_fault_hit(GC_FAULT_MPI, file, line)) rc = MPI_ERR_OTHER; /* after the call */
    if (rc == MPI_SUCCESS) return GC_OK;
    /* After a failed MPI call the state of its communicator is undefined (MPI 4.0 §9.3): the
     * other ranks may already be inside the next collective, which this rank can no longer reach
     * safely. So the failure is reported here, on the rank that saw it, with the library's words,
     * and the job ends with exit code GC_ERR_LIB instead of hanging (docs/design.md §6). */
    char message[MPI_MAX_ERROR_STRING];
    int length = 0;
    if (MPI_Error_string(rc, message, &length) != MPI_SUCCESS) snprintf(message, sizeof message, "code %d", rc);
    const char *name = strrchr(file, '/');
    char call_name[64];
    snprintf(call_name, sizeof call_name, "%s", call);
    char *paren = strchr(call_name, '(');
    if (paren != NULL) *paren = '\0';
    fprintf(stderr, "gradcore: error: [rank %d] %s failed (%s:%d): %s\n", gc_log_rank(), call_name,
            name ? name + 1 : file, line, message);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, GC_ERR_LIB);
    return GC_ERR_LIB;
}
