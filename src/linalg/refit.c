#include "refit.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/error.h"

struct gc_refit {
    gc_refit_kind kind;
    int64_t capacity, m;
    int D;
    double ridge;
    double *rhs;    /* [capacity] ⟨a_j, g⟩ */
    double *column; /* replicated: [capacity] E_Iᵀa, then L⁻¹E_Iᵀa */
    double *L, *G;  /* replicated: [capacity × capacity] column-major, lower; G only with keep_gram */
    gc_refit_scalapack *dist;
};

/* This rank's own buffers; the ScaLAPACK grid comes after every rank has them. */
static int allocate(gc_refit *f, int keep_gram)
{
    const int64_t capacity = f->capacity;
    f->rhs = gc_malloc((size_t)capacity * sizeof *f->rhs);
    GC_CHECK_ALLOC(f->rhs);
    if (f->kind == GC_REFIT_SCALAPACK) return GC_OK;
    f->column = gc_malloc((size_t)capacity * sizeof *f->column);
    f->L = gc_malloc((size_t)capacity * capacity * sizeof *f->L);
    if (f->column == NULL || f->L == NULL)
        return gc_fail(GC_ERR_MEMORY,
                       "out of memory for the %lld × %lld Cholesky factor of the refit (--refit scalapack "
                       "distributes it)",
                       (long long)capacity, (long long)capacity);
    if (keep_gram) {
        f->G = gc_malloc((size_t)capacity * capacity * sizeof *f->G);
        GC_CHECK_ALLOC(f->G);
    }
    return GC_OK;
}

int gc_refit_create(gc_refit_kind kind, int64_t capacity, int D, double ridge, int keep_gram, MPI_Comm comm,
                    gc_refit **out)
{
    *out = NULL;
    int size;
    MPI_Comm_size(comm, &size);
    if (kind == GC_REFIT_AUTO)
        kind = capacity > GC_REFIT_REPLICATED_MAX_ATOMS && size > 1 && !keep_gram ? GC_REFIT_SCALAPACK
                                                                                  : GC_REFIT_REPLICATED;
    if (kind == GC_REFIT_SCALAPACK && keep_gram)
        return gc_fail(GC_ERR_USAGE,
                       "--refit scalapack: the NNLS refit (--nonneg on) needs the replicated Gram matrix");
    gc_refit *f = gc_calloc(1, sizeof *f);
    int status = f ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory for the refit");
    if (f != NULL) {
        *f = (gc_refit){ .kind = kind, .capacity = capacity, .D = D, .ridge = ridge };
        status = allocate(f, keep_gram);
    }
    if (kind == GC_REFIT_SCALAPACK) {
        /* Setting up the process grid is collective: no rank may be missing from it. */
        status = gc_comm_agree(comm, status);
        if (status == GC_OK) status = gc_refit_scalapack_create(capacity, ridge, comm, &f->dist);
    }
    if (status != GC_OK)
        gc_refit_destroy(f);
    else
        *out = f;
    return status;
}

static int append_replicated(gc_refit *f, const double *atoms, int *accepted)
{
    const int64_t m = f->m, ld = f->capacity;
    const int D = f->D;
    const double *a = atoms + m * D;
    double aa = cblas_ddot(D, a, 1, a, 1) + f->ridge;
    if (m > 0) cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)m, D, 1.0, atoms, D, a, 1, 0.0, f->column, 1);
    if (f->G != NULL) {
        for (int64_t j = 0; j < m; ++j) f->G[m + j * ld] = f->column[j];
        f->G[m + m * ld] = aa;
    }
    if (m > 0) cblas_dtrsv(CblasColMajor, CblasLower, CblasNoTrans, CblasNonUnit, (int)m, f->L, (int)ld, f->column, 1);
    double pivot = aa - (m > 0 ? cblas_ddot((int)m, f->column, 1, f->column, 1) : 0.0);
    *accepted = pivot > GC_REFIT_DEPENDENT * aa;
    if (!*accepted) return GC_OK;
    for (int64_t j = 0; j < m; ++j) f->L[m + j * ld] = f->column[j];
    f->L[m + m * ld] = sqrt(pivot);
    return GC_OK;
}

int gc_refit_append(gc_refit *f, const double *atoms, int64_t count, const double *rhs, int64_t *taken)
{
    *taken = 0;
    if (f->m + count > f->capacity) return gc_fail(GC_ERR_LIB, "refit: more than %lld atoms", (long long)f->capacity);
    if (f->dist != NULL) {
        GC_TRY(gc_refit_scalapack_append(f->dist, f->m, count, f->D, atoms, taken));
    } else {
        int accepted = 1;
        while (*taken < count && accepted) {
            GC_TRY(append_replicated(f, atoms, &accepted));
            if (accepted) f->rhs[f->m++] = rhs[(*taken)++];
        }
        return GC_OK;
    }
    memcpy(f->rhs + f->m, rhs, (size_t)*taken * sizeof *rhs);
    f->m += *taken;
    return GC_OK;
}

int gc_refit_is_distributed(const gc_refit *f) { return f->dist != NULL; }

int gc_refit_solve(gc_refit *f, double *gamma)
{
    if (f->dist != NULL) return gc_refit_scalapack_solve(f->dist, f->m, f->rhs, gamma);
    memcpy(gamma, f->rhs, (size_t)f->m * sizeof *gamma);
    GC_CHECK_BLAS(LAPACKE_dpotrs(LAPACK_COL_MAJOR, 'L', (int)f->m, 1, f->L, (int)f->capacity, gamma, (int)f->m),
                  "refit: solving with the Cholesky factor");
    return GC_OK;
}

int64_t gc_refit_count(const gc_refit *f) { return f->m; }

const double *gc_refit_gram(const gc_refit *f, int *ld)
{
    *ld = (int)f->capacity;
    return f->G;
}

const double *gc_refit_rhs(const gc_refit *f) { return f->rhs; }

void gc_refit_destroy(gc_refit *f)
{
    if (f == NULL) return;
    if (f->dist != NULL) gc_refit_scalapack_destroy(f->dist);
    free(f->rhs);
    free(f->column);
    free(f->L);
    free(f->G);
    free(f);
}
