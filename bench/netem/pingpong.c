/* The link constants of docs/scaling.md's model, measured on the machine the benchmark runs on:
 * one-way latency L (half the round trip of an 8-byte ping-pong, median of 200) and bandwidth B
 * (a 4 MiB message each way, best of 10), between ranks 0 and 1 (one node: shared memory) and
 * ranks 0 and P/2 (two nodes: the network), with 2 ranks a node. Rank 0 prints one JSON line.
 *   srun -N 2 --ntasks-per-node=2 pingpong */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

enum { SMALL_REPS = 200, LARGE_REPS = 10, LARGE = 4 << 20 };

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Rank 0 and `peer` ping-pong; returns on rank 0 {latency s, bandwidth B/s}, elsewhere zeros. */
static void measure(int rank, int peer, char *buffer, double out[2])
{
    double rtt[SMALL_REPS], best = 1e30;
    out[0] = out[1] = 0.0;
    for (int rep = 0; rep < SMALL_REPS + LARGE_REPS; ++rep) {
        int large = rep >= SMALL_REPS, bytes = large ? LARGE : 8;
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        if (rank == 0) {
            MPI_Send(buffer, bytes, MPI_CHAR, peer, 0, MPI_COMM_WORLD);
            MPI_Recv(buffer, bytes, MPI_CHAR, peer, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        } else if (rank == peer) {
            MPI_Recv(buffer, bytes, MPI_CHAR, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            MPI_Send(buffer, bytes, MPI_CHAR, 0, 0, MPI_COMM_WORLD);
        }
        double t = MPI_Wtime() - t0;
        if (large && t < best) best = t;
        if (!large) rtt[rep] = t;
    }
    qsort(rtt, SMALL_REPS, sizeof *rtt, by_value);
    out[0] = rtt[SMALL_REPS / 2] / 2.0;
    out[1] = 2.0 * LARGE / (best - 2.0 * out[0]);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    char *buffer = calloc(LARGE, 1);
    double shm[2], net[2];
    measure(rank, 1, buffer, shm);
    measure(rank, size / 2, buffer, net);
    if (rank == 0)
        printf("{\"L_shm_us\": %.2f, \"B_shm_GBps\": %.3f, \"L_net_us\": %.2f, \"B_net_GBps\": %.3f}\n", shm[0] * 1e6,
               shm[1] * 1e-9, net[0] * 1e6, net[1] * 1e-9);
    free(buffer);
    MPI_Finalize();
    return 0;
}
