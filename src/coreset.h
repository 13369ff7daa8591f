/* What every selector produces and the writer stores: the rows of the global coreset in selection
 * order, replicated on every rank after selection. */
#ifndef GC_CORESET_H
#define GC_CORESET_H

#include <mpi.h>
#include <stdint.h>

/* A rank's share of the embedded dataset: rows [lo, lo + n_local) of the global index. */
typedef struct {
    MPI_Comm comm;
    int rank, size;
    int64_t n_global, lo, n_local;
    int D;         /* embedding width */
    int classes;   /* C */
    float *e;      /* [n_local × D] */
    int32_t *y;    /* [n_local] */
    float *loss;   /* [n_local] */
} gc_local_rows;

typedef struct {
    int64_t k;
    int D;
    int64_t *index;    /* global row, selection order */
    int32_t *label;
    double *gain;      /* marginal gain when selected */
    double *weight;
    float *loss;
    float *embedding;  /* [k × D] */
    int classes;
    int64_t *budgets;  /* [classes] per-class k (all of k in class 0's slot when per-class is off) */
    int64_t *class_sizes; /* [classes] N_c */
    double objective;  /* F(S) for facility location */
    double total_distance; /* L(S) = Σᵢ minⱼ ‖eᵢ - eⱼ‖ */
    double c;          /* similarity constant */
} gc_coreset;

int gc_coreset_allocate(gc_coreset *cs, int64_t k, int D, int classes);
void gc_coreset_destroy(gc_coreset *cs);

#endif
