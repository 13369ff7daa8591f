/* The library entry point of `gradcore select` (docs/design.md §2): selection on embeddings that
 * are already in memory, for the Python package and any other caller. It parses the same option
 * table as the CLI (same defaults, same errors), dispatches through the same selector table, and
 * measures the same quality, so its coreset equals `gradcore select --embeddings` on the same rows
 * at the same rank count, index for index and weight for weight. */
#ifndef GC_SELECT_API_H
#define GC_SELECT_API_H

#include <mpi.h>
#include <stdint.h>

typedef struct {
    int64_t k;
    int64_t *index; /* [k] global rows, in selection order */
    double *weight; /* [k] */
    int32_t *label; /* [k] */
    double *gain;   /* [k] */
    float *loss;    /* [k] */
    double objective, gradient_error, random_gradient_error;
    char *attributes_json; /* method, selector, N, D, C, k, ranks, seed, resolved options, phases */
} gc_select_result;

/* Collective over comm. This rank's rows [lo, lo + n_local) of n_global, which must be the even
 * contiguous split of gc_comm_row_range (core/comm.h; the Python package moves rows there first): embeddings e [n_local × D]
 * float32 row-major, in host memory (e_device < 0) or in the memory of CUDA device e_device (a
 * tensor of the calling process, complete: the caller has synchronized its streams), which must
 * be the GPU this rank selects on; labels y [n_local] int32 in [0, classes) (classes = 0: 1 + the
 * largest label over all ranks), loss [n_local] float32 or NULL (zeros), both in host memory. argv holds `gradcore select`'s long
 * options as the CLI takes them ("--k", "10", "--method", "gmc", …) without --data and --out.
 * On success *out holds the global coreset, the same on every rank; free it with
 * gc_select_result_free. On failure returns the exit status the CLI would exit with, and
 * gc_error_message() gives the one-line reason; *out is then empty. */
int gc_select_embeddings(MPI_Comm comm, int64_t n_global, int64_t lo, int64_t n_local, int D, int classes,
                         const float *e, int e_device, const int32_t *y, const float *loss, int argc, char **argv,
                         gc_select_result *out);
void gc_select_result_free(gc_select_result *r);

#endif
