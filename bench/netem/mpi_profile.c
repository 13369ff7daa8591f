/* A PMPI profiler for the collective families of docs/scaling.md, loaded into gradcore with
 * LD_PRELOAD (bench/netem/netem.sh builds it with mpicc -shared):
 *
 *   row exchange   MPI_Alltoall + MPI_Alltoallv             (FL: rows to their partition's owner)
 *   gather         MPI_Gather + MPI_Gatherv                 (FL: candidates to rank 0)
 *   pass reduce    MPI_Allreduce with a user-defined op     (OMP, BiCo: the best candidates of a pass)
 *   pass bcast     MPI_Bcast right after a pass reduce      (OMP: the winning atoms from their owners)
 *   agreement      MPI_Allreduce of one MPI_INT, MPI_MIN    (gc_comm_agree)
 *   bcast          other MPI_Bcast                          (FL: the coreset and candidates to all)
 *   allreduce      other MPI_Allreduce                      (exact sums, counts, timings)
 *   allgather      MPI_Allgather(v)
 *   nonblocking    MPI_Iallreduce, MPI_Ibcast: time in the MPI_Wait(all) that completes them
 *
 * Only collectives on communicators of the world's size are recorded, so call i is the same
 * collective on every rank. A call's cost is max over ranks of its end minus max over ranks of its
 * start (CLOCK_MONOTONIC, one clock for all ranks of one machine): the time from the last rank's
 * arrival to the last rank's departure, which is what the model's L + n/B terms predict; waiting
 * for a slower rank to arrive is not counted. Bytes are the largest payload any rank passed.
 * At MPI_Finalize rank 0 writes one JSON object per family to $GC_PROFILE_OUT (appending), with
 * $GC_PROFILE_TAG as "run": calls, total and median cost, bytes. */
#define _POSIX_C_SOURCE 200809L
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { ROW_EXCHANGE, GATHER, PASS_REDUCE, PASS_BCAST, AGREEMENT, BCAST, ALLREDUCE, ALLGATHER, NONBLOCKING, FAMILIES };
static const char *family_name[FAMILIES] = { "row exchange", "gather",    "pass reduce", "pass bcast", "agreement",
                                             "bcast",        "allreduce", "allgather",   "nonblocking" };

typedef struct {
    int64_t start_ns, end_ns;
    int64_t bytes;
    int family;
} call;

static call *calls;
static int64_t count, capacity;
static int last_family = -1;

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int recorded(MPI_Comm comm)
{
    int size, world;
    PMPI_Comm_size(comm, &size);
    PMPI_Comm_size(MPI_COMM_WORLD, &world);
    return size == world;
}

static int64_t type_bytes(MPI_Datatype type, int64_t n)
{
    int size;
    PMPI_Type_size(type, &size);
    return n * size;
}

static void record(int family, int64_t start_ns, int64_t bytes)
{
    if (count == capacity) {
        capacity = capacity ? 2 * capacity : 4096;
        call *grown = realloc(calls, (size_t)capacity * sizeof *calls);
        if (grown == NULL) abort(); /* a profiler that lost calls would report wrong totals */
        calls = grown;
    }
    calls[count++] = (call){ start_ns, now_ns(), bytes, family };
    last_family = family;
}

static int predefined(MPI_Op op)
{
    const MPI_Op ops[] = { MPI_MAX, MPI_MIN,  MPI_SUM,  MPI_PROD,   MPI_LAND,   MPI_BAND,    MPI_LOR,
                           MPI_BOR, MPI_LXOR, MPI_BXOR, MPI_MAXLOC, MPI_MINLOC, MPI_REPLACE, MPI_NO_OP };
    for (size_t i = 0; i < sizeof ops / sizeof *ops; ++i)
        if (op == ops[i]) return 1;
    return 0;
}

int MPI_Allreduce(const void *send, void *recv, int n, MPI_Datatype type, MPI_Op op, MPI_Comm comm)
{
    int64_t t0 = now_ns();
    int rc = PMPI_Allreduce(send, recv, n, type, op, comm);
    if (recorded(comm)) {
        int family = !predefined(op)                                ? PASS_REDUCE
                     : (n == 1 && type == MPI_INT && op == MPI_MIN) ? AGREEMENT
                                                                    : ALLREDUCE;
        record(family, t0, type_bytes(type, n));
    }
    return rc;
}

int MPI_Bcast(void *buffer, int n, MPI_Datatype type, int root, MPI_Comm comm)
{
    int64_t t0 = now_ns();
    int rc = PMPI_Bcast(buffer, n, type, root, comm);
    if (recorded(comm))
        record(last_family == PASS_REDUCE || last_family == PASS_BCAST ? PASS_BCAST : BCAST, t0, type_bytes(type, n));
    return rc;
}

int MPI_Alltoall(const void *send, int send_n, MPI_Datatype send_type, void *recv, int recv_n, MPI_Datatype recv_type,
                 MPI_Comm comm)
{
    int64_t t0 = now_ns();
    int rc = PMPI_Alltoall(send, send_n, send_type, recv, recv_n, recv_type, comm);
    int size;
    PMPI_Comm_size(comm, &size);
    if (recorded(comm)) record(ROW_EXCHANGE, t0, type_bytes(send_type, (int64_t)send_n * size));
    return rc;
}

int MPI_Alltoallv(const void *send, const int send_n[], const int send_displs[], MPI_Datatype send_type, void *recv,
                  const int recv_n[], const int recv_displs[], MPI_Datatype recv_type, MPI_Comm comm)
{
    int64_t t0 = now_ns();
    int rc = PMPI_Alltoallv(send, send_n, send_displs, send_type, recv, recv_n, recv_displs, recv_type, comm);
    if (recorded(comm)) {
        int size;
        PMPI_Comm_size(comm, &size);
        int64_t sent = 0, got = 0;
        for (int r = 0; r < size; ++r) sent += send_n[r], got += recv_n[r];
        int64_t a = type_bytes(send_type, sent), b = type_bytes(recv_type, got);
        record(ROW_EXCHANGE, t0, a > b ? a : b);
    }
    return rc;
}

int MPI_Gather(const void *send, int send_n, MPI_Datatype send_type, void *recv, int recv_n, MPI_Datatype recv_type,
               int root, MPI_Comm comm)
{
    int64_t t0 = now_ns();
    int rc = PMPI_Gather(send, send_n, send_type, recv, recv_n, recv_type, root, comm);
    int size;
    PMPI_Comm_size(comm, &size);
    if (recorded(comm)) record(GATHER, t0, type_bytes(send_type, (int64_t)send_n * size));
    return rc;
}

int MPI_Gatherv(const void *send, int send_n, MPI_Datatype send_type, void *recv, const int recv_n[],
                const int displs[], MPI_Datatype recv_type, int root, MPI_Comm comm)
{
    int64_t t0 = now_ns();
    int rc = PMPI_Gatherv(send, send_n, send_type, recv, recv_n, displs, recv_type, root, comm);
    if (recorded(comm)) {
        int rank, size;
        PMPI_Comm_rank(comm, &rank);
        PMPI_Comm_size(comm, &size);
        int64_t got = 0;
        for (int r = 0; rank == root && r < size; ++r) got += recv_n[r];
        int64_t a = type_bytes(send_type, send_n), b = rank == root ? type_bytes(recv_type, got) : 0;
        record(GATHER, t0, a > b ? a : b);
    }
    return rc;
}

int MPI_Allgather(const void *send, int send_n, MPI_Datatype send_type, void *recv, int recv_n, MPI_Datatype recv_type,
                  MPI_Comm comm)
{
    int64_t t0 = now_ns();
    int rc = PMPI_Allgather(send, send_n, send_type, recv, recv_n, recv_type, comm);
    int size;
    PMPI_Comm_size(comm, &size);
    if (recorded(comm)) record(ALLGATHER, t0, type_bytes(recv_type, (int64_t)recv_n * size));
    return rc;
}

int MPI_Allgatherv(const void *send, int send_n, MPI_Datatype send_type, void *recv, const int recv_n[],
                   const int displs[], MPI_Datatype recv_type, MPI_Comm comm)
{
    int64_t t0 = now_ns();
    int rc = PMPI_Allgatherv(send, send_n, send_type, recv, recv_n, displs, recv_type, comm);
    if (recorded(comm)) {
        int size;
        PMPI_Comm_size(comm, &size);
        int64_t got = 0;
        for (int r = 0; r < size; ++r) got += recv_n[r];
        record(ALLGATHER, t0, type_bytes(recv_type, got));
    }
    return rc;
}

/* Nonblocking collectives are recorded where they complete: the MPI_Wait(all) time, which is what
 * the caller did not hide behind its own work. */
int MPI_Wait(MPI_Request *request, MPI_Status *status)
{
    int64_t t0 = now_ns();
    int rc = PMPI_Wait(request, status);
    record(NONBLOCKING, t0, 0);
    return rc;
}

int MPI_Waitall(int n, MPI_Request requests[], MPI_Status statuses[])
{
    int64_t t0 = now_ns();
    int rc = PMPI_Waitall(n, requests, statuses);
    record(NONBLOCKING, t0, 0);
    return rc;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int MPI_Finalize(void)
{
    int rank, size;
    PMPI_Comm_rank(MPI_COMM_WORLD, &rank);
    PMPI_Comm_size(MPI_COMM_WORLD, &size);
    int64_t n_min;
    PMPI_Allreduce(&count, &n_min, 1, MPI_INT64_T, MPI_MIN, MPI_COMM_WORLD);
    int64_t *mine = malloc((size_t)(3 * n_min + 1) * sizeof *mine), *all = NULL;
    for (int64_t i = 0; i < n_min; ++i) {
        mine[3 * i] = calls[i].start_ns;
        mine[3 * i + 1] = calls[i].end_ns;
        mine[3 * i + 2] = calls[i].bytes;
    }
    if (rank == 0) all = malloc((size_t)(3 * n_min * size + 1) * sizeof *all);
    PMPI_Gather(mine, (int)(3 * n_min), MPI_INT64_T, all, (int)(3 * n_min), MPI_INT64_T, 0, MPI_COMM_WORLD);
    const char *path = getenv("GC_PROFILE_OUT"), *tag = getenv("GC_PROFILE_TAG");
    if (rank == 0 && path != NULL) {
        double *cost = malloc((size_t)(n_min + 1) * sizeof *cost), bytes[FAMILIES] = { 0 };
        FILE *out = fopen(path, "a");
        for (int f = 0; f < FAMILIES && cost != NULL && out != NULL; ++f) {
            int64_t m = 0;
            double sum = 0.0;
            for (int64_t i = 0; i < n_min; ++i) {
                if (calls[i].family != f) continue;
                int64_t start = 0, end = 0, b = 0;
                for (int r = 0; r < size; ++r) {
                    const int64_t *c = all + 3 * (r * n_min + i);
                    if (c[0] > start) start = c[0];
                    if (c[1] > end) end = c[1];
                    if (c[2] > b) b = c[2];
                }
                cost[m++] = (double)(end - start) * 1e-9;
                sum += cost[m - 1];
                bytes[f] += (double)b;
            }
            if (m == 0) continue;
            qsort(cost, (size_t)m, sizeof *cost, by_value);
            fprintf(out,
                    "{\"run\": \"%s\", \"ranks\": %d, \"family\": \"%s\", \"calls\": %lld, \"seconds\": %.9f, "
                    "\"median_s\": %.9f, \"bytes\": %.0f}\n",
                    tag ? tag : "", size, family_name[f], (long long)m, sum, cost[m / 2], bytes[f]);
        }
        if (out != NULL) fclose(out);
        free(cost);
    }
    free(mine);
    free(all);
    free(calls);
    return PMPI_Finalize();
}
