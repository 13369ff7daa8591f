#include "nnls.h"

#include <cblas.h>
#include <float.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

typedef struct {
    int m, ldg;
    const double *G, *b;
    int *passive; /* [m] list of passive indices, first `count` entries */
    int count;
    double *block, *s; /* [m × m] G_PP, [m] solution on P */
} nnls_work;

static double lower_entry(const nnls_work *w, int i, int j)
{
    return i >= j ? w->G[i + (size_t)j * w->ldg] : w->G[j + (size_t)i * w->ldg];
}

/* s[P] = G_PP⁻¹ b_P (Cholesky). */
static int solve_passive(nnls_work *w)
{
    const int p = w->count;
    for (int c = 0; c < p; ++c) {
        w->s[c] = w->b[w->passive[c]];
        for (int r = c; r < p; ++r) w->block[r + (size_t)c * p] = lower_entry(w, w->passive[r], w->passive[c]);
    }
    if (p == 0) return GC_OK;
    GC_CHECK_BLAS(LAPACKE_dposv(LAPACK_COL_MAJOR, 'L', p, 1, w->block, p, w->s, p),
                  "NNLS: the Gram matrix of the passive atoms is not positive definite");
    return GC_OK;
}

/* Inner loop: γ ← the solution on P, stepping back towards the old γ (and shrinking P) while that
 * solution has a nonpositive entry. γ stays feasible throughout. `solved`: s already holds it. */
static int solve_feasible(nnls_work *w, double *gamma, int solved)
{
    for (;; solved = 0) {
        if (!solved) GC_TRY(solve_passive(w));
        double alpha = INFINITY;
        int blocking = -1;
        for (int c = 0; c < w->count; ++c) {
            int j = w->passive[c];
            if (w->s[c] <= 0.0) {
                double a = gamma[j] / (gamma[j] - w->s[c]);
                if (a < alpha) alpha = a, blocking = j;
            }
        }
        if (blocking < 0) {
            for (int c = 0; c < w->count; ++c) gamma[w->passive[c]] = w->s[c];
            return GC_OK;
        }
        int kept = 0;
        for (int c = 0; c < w->count; ++c) {
            int j = w->passive[c];
            gamma[j] += alpha * (w->s[c] - gamma[j]);
            if (j == blocking || gamma[j] <= 0.0)
                gamma[j] = 0.0;
            else
                w->passive[kept++] = j;
        }
        w->count = kept;
    }
}

int gc_nnls(int m, const double *G, int ldg, const double *b, double *gamma)
{
    if (m == 0) return GC_OK;
    nnls_work w = { m,
                    ldg,
                    G,
                    b,
                    gc_malloc((size_t)m * sizeof(int)),
                    0,
                    gc_malloc((size_t)m * m * sizeof(double)),
                    gc_malloc((size_t)m * sizeof(double)) };
    double *grad = gc_malloc((size_t)m * sizeof *grad);
    char *blocked = gc_calloc((size_t)m, 1);
    int status = (w.passive && w.block && w.s && grad && blocked)
                     ? GC_OK
                     : gc_fail(GC_ERR_MEMORY, "out of memory for NNLS on %d atoms", m);
    double b_max = 0.0, g_max = 0.0;
    for (int j = 0; j < m && status == GC_OK; ++j) {
        if (gamma[j] > 0.0)
            w.passive[w.count++] = j;
        else
            gamma[j] = 0.0;
        b_max = fmax(b_max, fabs(b[j]));
        for (int i = j; i < m; ++i) g_max = fmax(g_max, fabs(G[i + (size_t)j * ldg]));
    }
    if (status == GC_OK) status = solve_feasible(&w, gamma, 0);
    /* Outer loop: move the atom whose gradient b − Gγ is largest into P until none is positive
     * beyond the rounding of b − Gγ. Lawson–Hanson terminate in finitely many steps; 3m is the
     * usual guard (as in scipy), reached only when rounding makes it cycle. */
    for (int iter = 0; status == GC_OK; ++iter) {
        if (iter > 3 * m) {
            status = gc_fail(GC_ERR_LIB, "NNLS did not converge in %d iterations on %d atoms", 3 * m, m);
            break;
        }
        memcpy(grad, b, (size_t)m * sizeof *grad);
        cblas_dsymv(CblasColMajor, CblasLower, m, -1.0, G, ldg, gamma, 1, 1.0, grad, 1);
        double gamma_sum = cblas_dasum(m, gamma, 1);
        double tol = 10.0 * m * DBL_EPSILON * (b_max + g_max * gamma_sum);
        int enter = -1;
        for (int j = 0; j < m; ++j)
            if (gamma[j] == 0.0 && !blocked[j] && grad[j] > tol && (enter < 0 || grad[j] > grad[enter])) enter = j;
        if (enter < 0) break;
        w.passive[w.count++] = enter;
        status = solve_passive(&w);
        /* Rounding can give the entering atom a nonpositive value even though its gradient is
         * positive; taking it would undo this step forever, so it sits out until γ changes. */
        if (status == GC_OK && w.s[w.count - 1] <= 0.0) {
            w.count--;
            blocked[enter] = 1;
            continue;
        }
        memset(blocked, 0, (size_t)m);
        if (status == GC_OK) status = solve_feasible(&w, gamma, 1);
    }
    free(w.passive);
    free(w.block);
    free(w.s);
    free(grad);
    free(blocked);
    return status;
}
