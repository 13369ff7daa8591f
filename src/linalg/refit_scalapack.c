/* The refit's Cholesky factor block-cyclic over a BLACS process grid (docs/design.md §4, coresets of more
 * than about 20,000 atoms). Appending atoms m … m+b−1 is the blocked update
 *   L₂₁ = G₂₁ L₁₁⁻ᵀ (pdtrsm),  L₂₂ L₂₂ᵀ = G₂₂ − L₂₁L₂₁ᵀ (pdsyrk, then a replicated Cholesky of that b × b block),
 * and the weights come from pdpotrs. Each rank computes the Gram entries of the blocks it owns
 * from the replicated atom embeddings, so the k × k matrices never exist on one rank. A pass's
 * atoms go in as one block, which is what makes coresets of 50,000 atoms affordable: appended one
 * at a time, every atom costs a latency-bound distributed triangular solve. */
#include "refit.h"

#include "core/error.h"

#ifdef GC_HAVE_SCALAPACK

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "scalapack.h"

/* Atoms per ScaLAPACK block: 64 for big factors, smaller for small ones so that even a test-sized coreset is
 * spread over every process of the grid. */
#define BLOCK_MAX 256

struct gc_refit_scalapack {
    MPI_Comm comm;
    int handle, context;
    int nprow, npcol, myrow, mycol;
    int n, nb; /* global order (capacity) and block size */
    int local_rows, local_cols;
    int desc_a[9], desc_b[9];
    double ridge;
    double *a;        /* local part of the factor, [local_rows × local_cols] column-major */
    double *b;        /* local part of the right-hand side / solution, [local_rows] */
    double *gathered; /* [n] */
};

/* The process coordinate owning global index i (0-based) and its local index. */
static int owner(int i, int nb, int procs) { return (i / nb) % procs; }
static int local_index(int i, int nb, int procs) { return (i / (nb * procs)) * nb + i % nb; }

int gc_refit_scalapack_create(int64_t capacity, double ridge, MPI_Comm comm, gc_refit_scalapack **out)
{
    *out = NULL;
    if (capacity > 0x7fffffff)
        return gc_fail(GC_ERR_USAGE, "--refit scalapack: %lld atoms exceed ScaLAPACK's int indices",
                       (long long)capacity);
    int size;
    MPI_Comm_size(comm, &size);
    gc_refit_scalapack *s = gc_calloc(1, sizeof *s);
    GC_CHECK_ALLOC(s);
    s->comm = comm;
    s->ridge = ridge;
    s->n = (int)capacity;
    /* The squarest grid: nprow the largest divisor of P not above √P (2 × 2 at 4 ranks). */
    s->nprow = 1;
    for (int p = 1; p * p <= size; ++p)
        if (size % p == 0) s->nprow = p;
    s->npcol = size / s->nprow;
    int spread = s->n / (2 * s->npcol);
    s->nb = spread < 1 ? 1 : spread > BLOCK_MAX ? BLOCK_MAX : spread;
    s->handle = Csys2blacs_handle(comm);
    s->context = s->handle;
    Cblacs_gridinit(&s->context, "Row", s->nprow, s->npcol);
    Cblacs_gridinfo(s->context, &s->nprow, &s->npcol, &s->myrow, &s->mycol);
    *out = s;
    const int zero = 0;
    s->local_rows = numroc_(&s->n, &s->nb, &s->myrow, &zero, &s->nprow);
    s->local_cols = numroc_(&s->n, &s->nb, &s->mycol, &zero, &s->npcol);
    int lld = s->local_rows > 1 ? s->local_rows : 1, one = 1, info_a = 0, info_b = 0;
    descinit_(s->desc_a, &s->n, &s->n, &s->nb, &s->nb, &zero, &zero, &s->context, &lld, &info_a);
    descinit_(s->desc_b, &s->n, &one, &s->nb, &one, &zero, &zero, &s->context, &lld, &info_b);
    GC_CHECK_BLAS(info_a, "ScaLAPACK descriptor of the factor");
    GC_CHECK_BLAS(info_b, "ScaLAPACK descriptor of the right-hand side");
    s->a = gc_calloc((size_t)lld * (s->local_cols > 0 ? s->local_cols : 1), sizeof *s->a);
    s->b = gc_calloc((size_t)lld, sizeof *s->b);
    s->gathered = gc_malloc((size_t)(s->n > 0 ? s->n : 1) * sizeof *s->gathered);
    if (s->a == NULL || s->b == NULL || s->gathered == NULL)
        return gc_fail(GC_ERR_MEMORY, "out of memory for this rank's %d × %d block of the distributed factor",
                       s->local_rows, s->local_cols);
    return GC_OK;
}

/* Entry (i, j) of the factor's local array, on the process that owns it. */
static double *entry(gc_refit_scalapack *s, int i, int j)
{
    return s->a + local_index(i, s->nb, s->nprow) + (size_t)local_index(j, s->nb, s->npcol) * s->desc_a[8];
}

static int owns(const gc_refit_scalapack *s, int i, int j)
{
    return owner(i, s->nb, s->nprow) == s->myrow && owner(j, s->nb, s->npcol) == s->mycol;
}

/* Cholesky factor of the b × b Schur complement S (lower, column-major) as far as its atoms are
 * independent by the replicated refit's test: pivot² > GC_REFIT_DEPENDENT·(aᵀa + λ). Returns how
 * many leading atoms pass; S's leading block of that order is their factor (a Cholesky factor's
 * leading block is the factor of the leading minor, so a failed column only shortens it). */
static int factor_schur(double *S, int b, int m, int D, const double *atoms, double ridge)
{
    lapack_int info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', b, S, b);
    int order = info > 0    ? (int)info - 1
                : info == 0 ? b
                            : 0; /* info > 0: the minor of order info is not positive definite */
    for (int j = 0; j < order; ++j) {
        const double *a = atoms + (size_t)(m + j) * D, pivot = S[j + (size_t)j * b];
        if (!(pivot * pivot > GC_REFIT_DEPENDENT * (cblas_ddot(D, a, 1, a, 1) + ridge))) order = j;
    }
    return order;
}

int gc_refit_scalapack_append(gc_refit_scalapack *s, int64_t m64, int64_t count64, int D, const double *atoms,
                              int64_t *taken)
{
    const int m = (int)m64, b = (int)count64, row = m + 1, one = 1;
    *taken = 0;
    /* Rows m … m+b−1 of the Gram matrix, columns 0 … m+b−1, on the processes owning them: one GEMM
     * per pair of owned row and column runs (a run: the part of one ScaLAPACK block in range, whose
     * local entries are contiguous). The upper triangle of the new diagonal block is filled too and
     * never read. */
    for (int i0 = m; i0 < m + b; i0 = (i0 / s->nb + 1) * s->nb) {
        if (owner(i0, s->nb, s->nprow) != s->myrow) continue;
        const int i1 = (i0 / s->nb + 1) * s->nb < m + b ? (i0 / s->nb + 1) * s->nb : m + b;
        for (int j0 = s->mycol * s->nb; j0 < i1; j0 += s->nb * s->npcol) {
            const int j1 = j0 + s->nb < i1 ? j0 + s->nb : i1;
            /* Column-major C[i, j] = ⟨a_i, a_j⟩ is row-major Cᵀ = A_j A_iᵀ with the same leading dimension. */
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j1 - j0, i1 - i0, D, 1.0, atoms + (size_t)j0 * D, D,
                        atoms + (size_t)i0 * D, D, 0.0, entry(s, i0, j0), s->desc_a[8]);
        }
    }
    for (int i = m; i < m + b; ++i)
        if (owns(s, i, i)) *entry(s, i, i) += s->ridge;
    if (m > 0) { /* L₂₁ = G₂₁ L₁₁⁻ᵀ, then the Schur complement G₂₂ − L₂₁L₂₁ᵀ */
        const double plus = 1.0, minus = -1.0;
        pdtrsm_("R", "L", "T", "N", &b, &m, &plus, s->a, &one, &one, s->desc_a, s->a, &row, &one, s->desc_a);
        pdsyrk_("L", "N", &b, &m, &minus, s->a, &row, &one, s->desc_a, &plus, s->a, &row, &row, s->desc_a);
    }
    /* The b × b Schur complement, replicated (every entry has one owner, zeros elsewhere: the sum
     * is exact), is factored on every rank alike with the replicated refit's dependence test.
     * pdpotrf cannot take it: it wants blocks that start on a block boundary (IA − 1 ≡ 0 mod MB). */
    double *S = gc_calloc((size_t)b * b, sizeof *S);
    GC_CHECK_ALLOC(S);
    for (int i = 0; i < b; ++i)
        for (int j = 0; j <= i; ++j)
            if (owns(s, m + i, m + j)) S[i + (size_t)j * b] = *entry(s, m + i, m + j);
    int status = GC_MPI(MPI_Allreduce(MPI_IN_PLACE, S, b * b, MPI_DOUBLE, MPI_SUM, s->comm)) == MPI_SUCCESS
                     ? GC_OK
                     : gc_fail(GC_ERR_LIB, "MPI error gathering the refit's Schur complement");
    int accepted = status == GC_OK ? factor_schur(S, b, m, D, atoms, s->ridge) : 0;
    /* The accepted atoms' block of L; rows past them are overwritten by the next append. */
    for (int i = 0; i < accepted && status == GC_OK; ++i)
        for (int j = 0; j <= i; ++j)
            if (owns(s, m + i, m + j)) *entry(s, m + i, m + j) = S[i + (size_t)j * b];
    free(S);
    *taken = accepted;
    return status;
}

int gc_refit_scalapack_solve(gc_refit_scalapack *s, int64_t m64, const double *rhs, double *gamma)
{
    const int m = (int)m64, one = 1;
    /* The right-hand side lives in process column 0. */
    if (s->mycol == 0)
        for (int i = s->myrow * s->nb; i < m; i += s->nb * s->nprow)
            for (int t = i; t < i + s->nb && t < m; ++t) s->b[local_index(t, s->nb, s->nprow)] = rhs[t];
    int info = 0;
    pdpotrs_("L", &m, &one, s->a, &one, &one, s->desc_a, s->b, &one, &one, s->desc_b, &info);
    GC_CHECK_BLAS(info, "ScaLAPACK pdpotrs: solving for the weights");
    /* Every entry has exactly one owner and zeros elsewhere, so the sum is exact. */
    memset(s->gathered, 0, (size_t)m * sizeof *s->gathered);
    if (s->mycol == 0)
        for (int i = s->myrow * s->nb; i < m; i += s->nb * s->nprow)
            for (int t = i; t < i + s->nb && t < m; ++t) s->gathered[t] = s->b[local_index(t, s->nb, s->nprow)];
    GC_CHECK_MPI(MPI_Allreduce(s->gathered, gamma, m, MPI_DOUBLE, MPI_SUM, s->comm));
    return GC_OK;
}

void gc_refit_scalapack_destroy(gc_refit_scalapack *s)
{
    if (s == NULL) return;
    Cblacs_gridexit(s->context);
    Cfree_blacs_system_handle(s->handle);
    free(s->a);
    free(s->b);
    free(s->gathered);
    free(s);
}

#else /* built without ScaLAPACK (-DGRADCORE_SCALAPACK=OFF) */

int gc_refit_scalapack_create(int64_t capacity, double ridge, MPI_Comm comm, gc_refit_scalapack **out)
{
    (void)capacity, (void)ridge, (void)comm;
    *out = NULL;
    return gc_fail(GC_ERR_USAGE, "--refit scalapack: this gradcore was built without ScaLAPACK");
}

int gc_refit_scalapack_append(gc_refit_scalapack *s, int64_t m, int64_t count, int D, const double *atoms,
                              int64_t *taken)
{
    (void)s, (void)m, (void)count, (void)D, (void)atoms, (void)taken;
    return gc_fail(GC_ERR_USAGE, "--refit scalapack: this gradcore was built without ScaLAPACK");
}

int gc_refit_scalapack_solve(gc_refit_scalapack *s, int64_t m, const double *rhs, double *gamma)
{
    (void)s, (void)m, (void)rhs, (void)gamma;
    return gc_fail(GC_ERR_USAGE, "--refit scalapack: this gradcore was built without ScaLAPACK");
}

void gc_refit_scalapack_destroy(gc_refit_scalapack *s) { (void)s; }

#endif
