/* MPI helpers shared by all phases: collective agreement on failure, the row range a rank owns,
 * and sums that do not depend on the number of ranks. */
#ifndef GC_COMM_H
#define GC_COMM_H

#include <mpi.h>
#include <stdint.h>

/* Collective: every rank passes its own status; all return the status of the lowest failing rank
 * and adopt its message, so all ranks exit alike and rank 0 prints the one line. A rank never waits
 * on a peer that already left: every phase ends in this call. */
int gc_comm_agree(MPI_Comm comm, int status);

/* Rows [lo, hi) of n owned by `rank` of `size`: contiguous, sizes differ by at most one. */
void gc_comm_row_range(int64_t n, int rank, int size, int64_t *lo, int64_t *hi);
/* The rank whose range (above) holds global row i. */
int gc_comm_row_owner(int64_t n, int size, int64_t i);

/* Collective: every rank sends send_counts[r] records of record_bytes bytes to rank r (packed in
 * rank order in send, at send_displs) and receives what the others send it into a new buffer
 * *recv of *recv_count records, in rank order. `what` names the records in an out-of-memory line. */
int gc_comm_exchange_records(MPI_Comm comm, size_t record_bytes, const char *send, const int *send_counts,
                             const int *send_displs, char **recv, int64_t *recv_count, const char *what);

/* Rank-count-independent sum of n components over all rows of all ranks. Each value is cut into
 * two integers on a grid fixed by the global maximum magnitude (2^-62 of it), so integer addition,
 * which is associative, makes the result bitwise identical for any split of the rows. */
typedef struct {
    int n;
    double scale; /* 2^s with max_abs * 2^s <= 2^32 */
    int64_t *acc; /* [2n]: whole parts, then fractional parts in units of 2^-30 */
} gc_exact_sum;

int gc_exact_sum_create(gc_exact_sum *sum, int n, double global_max_abs);
void gc_exact_sum_add(gc_exact_sum *sum, const float *values);
void gc_exact_sum_add_double(gc_exact_sum *sum, const double *values);
/* Adds one value to component j. */
void gc_exact_sum_add_at(gc_exact_sum *sum, int j, double value);
/* dst += src (same n and grid): per-thread partial sums merge exactly, in any order. */
void gc_exact_sum_merge(gc_exact_sum *dst, const gc_exact_sum *src);
/* Collective; writes the global sums to out[n]. */
int gc_exact_sum_allreduce(gc_exact_sum *sum, MPI_Comm comm, double *out);
void gc_exact_sum_destroy(gc_exact_sum *sum);

#endif
