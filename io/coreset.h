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
    int D;       /* embedding width */
    int classes; /* C */
    float *e;    /* [n_local × D] */
    int32_t *y;  /* [n_local] */
    float *loss; /* [n_local] */
} gc_local_rows;

/* CREST's mini-batches (docs/design.md §4), filled on rank 0 only (the one that writes them); every pointer
 * is NULL for other methods, which is how the writer knows to leave /crest out. */
typedef struct {
    int64_t subsets;                   /* P */
    int64_t subset_size;               /* r, capped at the number of kept rows */
    int64_t batch_size;                /* m, capped at r */
    int64_t *batch_index;              /* [P × m] global rows, each batch in greedy order */
    double *batch_weight;              /* [P × m] cluster sizes within the subset (each batch sums to r) */
    int64_t *subset_index;             /* [P × r] each subset's rows ascending; NULL unless asked for */
    int64_t excluded;                  /* rows never drawn because their loss is below --exclude-loss */
    double gradient_bias;              /* mean over subsets of ‖Σ_batch w e − Σ_subset e‖ / ‖Σ_subset e‖ */
    double random_batch_gradient_bias; /* the same for uniform random batches of m, weight r/m */
} gc_crest_batches;

/* BiCo's kernel proxy (docs/design.md §4), for the file; landmark_index is NULL for other methods. */
typedef struct {
    int64_t landmarks;       /* q */
    int64_t *landmark_index; /* [q] global rows in draw order */
    double gamma;            /* RBF width, κ(x, l) = exp(−γ‖x − l‖²) */
    int feature_rank;        /* q', eigenvectors of K_QQ kept */
    double ridge;            /* λ of the inner problem */
    int weighted;            /* --bico-weights */
} gc_bico_info;

typedef struct {
    int64_t k;
    int D;
    int64_t *index; /* global row, selection order */
    int32_t *label;
    double *gain; /* marginal gain when selected */
    double *weight;
    float *loss;
    float *embedding; /* [k × D] */
    int classes;
    int64_t *budgets;      /* [classes] per-class k (all of k in class 0's slot when per-class is off) */
    int64_t *class_sizes;  /* [classes] N_c */
    double objective;      /* F(S) for facility location */
    double total_distance; /* L(S) = Σᵢ minⱼ ‖eᵢ - eⱼ‖ */
    double c;              /* similarity constant */
    gc_crest_batches crest;
    gc_bico_info bico;
} gc_coreset;

int gc_coreset_allocate(gc_coreset *cs, int64_t k, int D, int classes);
void gc_coreset_destroy(gc_coreset *cs);

#endif
