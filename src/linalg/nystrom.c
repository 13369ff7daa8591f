#include "nystrom.h"

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/error.h"
#include "core/log.h"
#include "core/rng.h"

/* Pairs of landmarks the median heuristic looks at: the first this many landmarks. */
#define MEDIAN_LANDMARKS 512

double gc_nystrom_kernel(const gc_nystrom_map *map, int i, int j)
{
    double sq = 0.0;
    for (int t = 0; t < map->d; ++t) {
        double diff = map->landmarks[(size_t)i * map->d + t] - map->landmarks[(size_t)j * map->d + t];
        sq += diff * diff;
    }
    return exp(-map->gamma * sq);
}

/* Landmark t is row π(t) of a seeded permutation of the global index: q distinct rows, the same
 * for any rank count. Each owner contributes its rows (from host E or the device,
 * gc_backend_rows_get); the sum of one value and zeros is exact. */
static int gather_landmarks(gc_backend *backend, const gc_local_rows *rows, int q, uint64_t seed, gc_nystrom *ny)
{
    const int d = rows->D;
    float *buf = gc_calloc((size_t)q * d, sizeof *buf);
    int64_t *local = gc_malloc((size_t)q * sizeof *local);
    int *slot = gc_malloc((size_t)q * sizeof *slot), mine = 0;
    int status = buf && local && slot ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory for %d BiCo landmarks", q);
    for (int t = 0; t < q && status == GC_OK; ++t) {
        int64_t g = (int64_t)gc_permute((uint64_t)t, (uint64_t)rows->n_global, seed, GC_STREAM_BICO_LANDMARK);
        ny->landmark_index[t] = g;
        if (g >= rows->lo && g < rows->lo + rows->n_local) {
            local[mine] = g - rows->lo;
            slot[mine++] = t;
        }
    }
    /* the owned rows packed at the front of buf, then each moved to its landmark's place (last first) */
    if (status == GC_OK) status = gc_backend_rows_get(backend, rows->e, d, mine, local, buf, (size_t)d * sizeof *buf);
    for (int r = mine - 1; r >= 0 && status == GC_OK; --r)
        if (slot[r] != r) {
            memcpy(buf + (size_t)slot[r] * d, buf + (size_t)r * d, (size_t)d * sizeof *buf);
            memset(buf + (size_t)r * d, 0, (size_t)d * sizeof *buf);
        }
    free(local);
    free(slot);
    status = gc_comm_agree(rows->comm, status);
    if (status != GC_OK) {
        free(buf);
        return status;
    }
    int rc = GC_MPI(MPI_Allreduce(MPI_IN_PLACE, buf, q * d, MPI_FLOAT, MPI_SUM, rows->comm));
    for (int64_t t = 0; t < (int64_t)q * d; ++t) ny->landmarks[t] = buf[t];
    free(buf);
    if (rc != MPI_SUCCESS) return gc_fail(GC_ERR_LIB, "MPI error gathering the BiCo landmarks");
    for (int j = 0; j < q; ++j) {
        double sq = 0.0;
        for (int t = 0; t < d; ++t) sq += ny->landmarks[(size_t)j * d + t] * ny->landmarks[(size_t)j * d + t];
        ny->landmark_sq[j] = sq;
    }
    return GC_OK;
}

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* γ = 1 / median ‖l_i − l_j‖² (i < j among the first MEDIAN_LANDMARKS): κ is then about e^{-1}
 * for a typical pair, neither all ones nor the identity. Identical landmarks only: γ = 1/d. */
static int median_gamma(gc_nystrom *ny, double *gamma)
{
    const int m = ny->map.q < MEDIAN_LANDMARKS ? ny->map.q : MEDIAN_LANDMARKS, d = ny->map.d;
    int64_t pairs = (int64_t)m * (m - 1) / 2, t = 0;
    *gamma = 1.0 / d;
    if (pairs == 0) return GC_OK;
    double *sq = gc_malloc((size_t)pairs * sizeof *sq);
    GC_CHECK_ALLOC(sq);
    for (int i = 0; i < m; ++i)
        for (int j = i + 1; j < m; ++j) {
            double s = 0.0;
            for (int c = 0; c < d; ++c) {
                double diff = ny->landmarks[(size_t)i * d + c] - ny->landmarks[(size_t)j * d + c];
                s += diff * diff;
            }
            sq[t++] = s;
        }
    qsort(sq, (size_t)pairs, sizeof *sq, by_double);
    double median = pairs % 2 ? sq[pairs / 2] : 0.5 * (sq[pairs / 2 - 1] + sq[pairs / 2]);
    if (median > 0.0) *gamma = 1.0 / median;
    free(sq);
    return GC_OK;
}

/* Rank 0 alone: LAPACK's result then cannot differ between ranks (threaded LAPACK on different
 * hosts), and the others receive its bits. */
static int eig_lapack(const gc_nystrom_map *map, MPI_Comm comm, double *w, double *U)
{
    int rank, status = GC_OK;
    const int q = map->q;
    MPI_Comm_rank(comm, &rank);
    if (rank == 0) {
        for (int i = 0; i < q; ++i)
            for (int j = 0; j <= i; ++j) U[(size_t)i * q + j] = U[(size_t)j * q + i] = gc_nystrom_kernel(map, i, j);
        int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', q, U, q, w);
        if (info != 0)
            status = gc_fail(GC_ERR_LIB, "LAPACK dsyevd: the eigendecomposition of K_QQ failed (info %d)", info);
    }
    GC_TRY(gc_comm_agree(comm, status));
    GC_CHECK_MPI(MPI_Bcast(w, q, MPI_DOUBLE, 0, comm));
    GC_CHECK_MPI(MPI_Bcast(U, q * q, MPI_DOUBLE, 0, comm));
    return GC_OK;
}

/* P = U D^{-1/2} over the eigenvalues above the cutoff, largest first; each eigenvector's sign is
 * fixed (its largest-magnitude entry, first of equals, is positive) so LAPACK and ScaLAPACK give
 * the same features, not a reflection of them. */
static int keep_eigenvectors(gc_nystrom *ny, const double *w, const double *U)
{
    const int q = ny->map.q;
    double top = w[q - 1];
    if (!(top > 0.0)) return gc_fail(GC_ERR_INPUT, "BiCo: the landmark kernel matrix K_QQ has no positive eigenvalue");
    int kept = 0;
    while (kept < q && w[q - 1 - kept] > GC_NYSTROM_EIG_CUTOFF * top) ++kept;
    ny->eigenvalues = gc_malloc((size_t)kept * sizeof *ny->eigenvalues);
    ny->projection = gc_malloc((size_t)q * kept * sizeof *ny->projection);
    GC_CHECK_ALLOC(ny->eigenvalues);
    GC_CHECK_ALLOC(ny->projection);
    for (int t = 0; t < kept; ++t) {
        const int j = q - 1 - t;
        int big = 0;
        for (int i = 1; i < q; ++i)
            if (fabs(U[(size_t)i * q + j]) > fabs(U[(size_t)big * q + j])) big = i;
        double scale = (U[(size_t)big * q + j] < 0.0 ? -1.0 : 1.0) / sqrt(w[j]);
        ny->eigenvalues[t] = w[j];
        for (int i = 0; i < q; ++i) ny->projection[(size_t)i * kept + t] = U[(size_t)i * q + j] * scale;
    }
    ny->map.rank = kept;
    ny->map.projection = ny->projection;
    return GC_OK;
}

int gc_nystrom_create(gc_backend *backend, const gc_local_rows *rows, int q, double gamma, gc_eig_kind eig,
                      uint64_t seed, gc_nystrom *ny)
{
    memset(ny, 0, sizeof *ny);
    const int d = rows->D;
    ny->landmark_index = gc_malloc((size_t)q * sizeof *ny->landmark_index);
    ny->landmarks = gc_malloc((size_t)q * d * sizeof *ny->landmarks);
    ny->landmark_sq = gc_malloc((size_t)q * sizeof *ny->landmark_sq);
    double *w = gc_malloc((size_t)q * sizeof *w), *U = gc_malloc((size_t)q * q * sizeof *U);
    int status = (ny->landmark_index && ny->landmarks && ny->landmark_sq && w && U)
                     ? GC_OK
                     : gc_fail(GC_ERR_MEMORY, "out of memory for %d BiCo landmarks", q);
    status = gc_comm_agree(rows->comm, status);
    ny->map = (gc_nystrom_map){
        .q = q, .d = d, .block = GC_NYSTROM_BLOCK_ROWS, .landmarks = ny->landmarks, .landmark_sq = ny->landmark_sq
    };
    if (status == GC_OK) status = gc_comm_agree(rows->comm, gather_landmarks(backend, rows, q, seed, ny));
    if (status == GC_OK && gamma <= 0.0) status = gc_comm_agree(rows->comm, median_gamma(ny, &gamma));
    ny->map.gamma = gamma;
    ny->scalapack = eig == GC_EIG_SCALAPACK || (eig == GC_EIG_AUTO && q > GC_EIG_LAPACK_MAX);
    if (status == GC_OK)
        status = ny->scalapack ? gc_comm_agree(rows->comm, gc_eig_scalapack(rows->comm, &ny->map, w, U))
                               : eig_lapack(&ny->map, rows->comm, w, U);
    if (status == GC_OK) status = gc_comm_agree(rows->comm, keep_eigenvectors(ny, w, U));
    free(w);
    free(U);
    return status;
}

/* The global block [b·B, (b+1)·B) of this rank's rows, padded to B rows with zeros at their
 * global offsets (see GC_NYSTROM_BLOCK_ROWS); blocks the rank holds whole in host E are read and
 * written in place, up to GC_NYSTROM_CALL_BLOCKS a call. With E on the device alone (rows->e NULL)
 * each block's rows come up through gc_backend_rows_get. */
int gc_nystrom_features(const gc_nystrom *ny, gc_backend *backend, const gc_local_rows *rows, double *z)
{
    const int64_t B = GC_NYSTROM_BLOCK_ROWS, hi = rows->lo + rows->n_local;
    const int d = rows->D, qp = ny->map.rank;
    gc_nystrom_device *dev = NULL;
    float *xb = gc_malloc((size_t)B * d * sizeof *xb);
    double *zb = gc_malloc((size_t)B * qp * sizeof *zb);
    int64_t *index = gc_malloc((size_t)B * sizeof *index);
    int status = (xb && zb && index) ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory for a Nyström feature block");
    if (status == GC_OK) status = backend->ops->nystrom_attach(backend, &ny->map, &dev);
    for (int64_t start = rows->lo / B * B, step = B; status == GC_OK && start < hi; start += step) {
        int64_t first = start > rows->lo ? start : rows->lo, last = start + B < hi ? start + B : hi;
        step = B;
        if (first == start && last == start + B && rows->e != NULL) { /* whole blocks: in place, many a call */
            const int64_t whole = (hi - start) / B,
                          count = whole < GC_NYSTROM_CALL_BLOCKS ? whole : GC_NYSTROM_CALL_BLOCKS;
            step = count * B;
            status = backend->ops->nystrom_features(backend, dev, step, rows->e + (first - rows->lo) * d,
                                                    z + (first - rows->lo) * qp);
            continue;
        }
        memset(xb, 0, (size_t)B * d * sizeof *xb);
        for (int64_t i = first; i < last; ++i) index[i - first] = i - rows->lo;
        status = gc_backend_rows_get(backend, rows->e, d, last - first, index, xb + (first - start) * d,
                                     (size_t)d * sizeof *xb);
        if (status == GC_OK) status = backend->ops->nystrom_features(backend, dev, B, xb, zb);
        if (status == GC_OK)
            memcpy(z + (first - rows->lo) * qp, zb + (first - start) * qp, (size_t)(last - first) * qp * sizeof *z);
    }
    if (dev != NULL) backend->ops->nystrom_detach(backend, dev);
    free(xb);
    free(zb);
    free(index);
    return gc_comm_agree(rows->comm, status);
}

void gc_nystrom_destroy(gc_nystrom *ny)
{
    free(ny->landmark_index);
    free(ny->landmarks);
    free(ny->landmark_sq);
    free(ny->eigenvalues);
    free(ny->projection);
    memset(ny, 0, sizeof *ny);
}
