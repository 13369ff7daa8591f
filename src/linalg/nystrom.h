/* Nyström features of an RBF kernel for BiCo (docs/design.md §4): q landmarks drawn from the global index
 * by the seed, K_QQ eigendecomposed (LAPACK on rank 0, or ScaLAPACK pdsyevd over all ranks when q
 * is large), and z(x) = D^{-1/2} Uᵀ [κ(x, l_j)]_j computed by each rank for its rows on its backend.
 * Everything but the ScaLAPACK path is bitwise the same for any number of ranks. */
#ifndef GC_NYSTROM_H
#define GC_NYSTROM_H

#include "io/coreset.h"
#include "kernels/backend.h"

typedef enum { GC_EIG_AUTO = 0, GC_EIG_LAPACK, GC_EIG_SCALAPACK } gc_eig_kind;
#define GC_EIG_NAMES "auto|lapack|scalapack"

/* `auto` takes ScaLAPACK above this many landmarks: the q × q eigenproblem (O(q³), 8·q² bytes:
 * 134 MB at 4096) then runs over every rank instead of on rank 0 alone. */
#define GC_EIG_LAPACK_MAX 4096

/* Eigenvalues of K_QQ below this fraction of the largest are dropped: their directions carry
 * rounding noise amplified by D^{-1/2} (1e-10 keeps that amplification at 1e5 × ε in double). */
#define GC_NYSTROM_EIG_CUTOFF 1e-10

/* Rows per feature block: blocks are aligned to the global index and always this tall (padded
 * with zero rows), so a row's features do not depend on which rank computes them. */
#define GC_NYSTROM_BLOCK_ROWS  1024
/* Whole blocks a backend call takes at most: their rows cross the link in one copy each way (a call
 * a block spent 5 s on 16M rows, mostly in per-call copies and synchronisation). */
#define GC_NYSTROM_CALL_BLOCKS 64

typedef struct {
    gc_nystrom_map map;      /* views of the arrays below */
    int64_t *landmark_index; /* [q] global rows, in draw order */
    double *landmarks;       /* [q × d] */
    double *landmark_sq;     /* [q] */
    double *eigenvalues;     /* [q'] kept, descending */
    double *projection;      /* [q × q'] */
    int scalapack;           /* the eigendecomposition ran in ScaLAPACK */
} gc_nystrom;

/* Collective. rows->e holds x (the `features` embedding), or is NULL where x lives on backend's
 * device alone (the landmarks come from there). gamma ≤ 0: the median heuristic
 * γ = 1 / median of ‖l_i − l_j‖² over pairs of (the first 512) landmarks. */
int gc_nystrom_create(gc_backend *backend, const gc_local_rows *rows, int q, double gamma, gc_eig_kind eig,
                      uint64_t seed, gc_nystrom *ny);
/* Collective. z [n_local × q'] of this rank's rows, on the backend (host x, or x on its device
 * alone: rows->e NULL). */
int gc_nystrom_features(const gc_nystrom *ny, gc_backend *backend, const gc_local_rows *rows, double *z);
void gc_nystrom_destroy(gc_nystrom *ny);

/* The ScaLAPACK path (eig_scalapack.c): eigenvalues w [q] ascending and eigenvectors U [q × q]
 * row-major (column j for w_j) of K_QQ, on every rank; K_QQ's blocks are computed where they live. */
int gc_eig_scalapack(MPI_Comm comm, const gc_nystrom_map *map, double *w, double *U);

/* κ(l_i, l_j) from the exact differences (K_QQ's entries; the diagonal is exactly 1). */
double gc_nystrom_kernel(const gc_nystrom_map *map, int i, int j);

#endif
