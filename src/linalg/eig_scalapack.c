/* K_QQ's eigendecomposition in ScaLAPACK (pdsyevd) for BiCo with many landmarks (docs/design.md §4): the
 * matrix is block-cyclic over a BLACS grid of all ranks, each rank computes the kernel entries of
 * the blocks it owns from the replicated landmarks, and the eigenvectors come back to every rank
 * (every entry has one owner and zeros elsewhere, so the MPI sum is exact). */
#include "nystrom.h"

#include "core/error.h"

#ifdef GC_HAVE_SCALAPACK

#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "scalapack.h"

/* Block size: 64 for large matrices, smaller so that a test-sized q still spreads over the grid. */
#define BLOCK_MAX 64

typedef struct {
    int handle, context, nprow, npcol, myrow, mycol, nb, local_rows, local_cols, lld, lwork, liwork;
    int desc[9];
    double *a, *z, *work;
    int *iwork;
} eig_grid;

/* Global index of local index l on process coordinate p of `procs` (block-cyclic, source 0). */
static int global_index(int l, int nb, int p, int procs) { return (l / nb) * nb * procs + p * nb + l % nb; }

static int grid_create(eig_grid *g, MPI_Comm comm, int q)
{
    int size;
    MPI_Comm_size(comm, &size);
    g->nprow = 1; /* the squarest grid, as refit_scalapack.c */
    for (int p = 1; p * p <= size; ++p)
        if (size % p == 0) g->nprow = p;
    g->npcol = size / g->nprow;
    int spread = q / (2 * g->npcol);
    g->nb = spread < 1 ? 1 : spread > BLOCK_MAX ? BLOCK_MAX : spread;
    g->handle = Csys2blacs_handle(comm);
    g->context = g->handle;
    Cblacs_gridinit(&g->context, "Row", g->nprow, g->npcol);
    Cblacs_gridinfo(g->context, &g->nprow, &g->npcol, &g->myrow, &g->mycol);
    const int zero = 0;
    g->local_rows = numroc_(&q, &g->nb, &g->myrow, &zero, &g->nprow);
    g->local_cols = numroc_(&q, &g->nb, &g->mycol, &zero, &g->npcol);
    g->lld = g->local_rows > 1 ? g->local_rows : 1;
    int info = 0;
    descinit_(g->desc, &q, &q, &g->nb, &g->nb, &zero, &zero, &g->context, &g->lld, &info);
    GC_CHECK_BLAS(info, "ScaLAPACK descriptor of K_QQ");
    size_t local = (size_t)g->lld * (g->local_cols > 0 ? g->local_cols : 1);
    g->a = gc_malloc(local * sizeof *g->a);
    g->z = gc_malloc(local * sizeof *g->z);
    GC_CHECK_ALLOC(g->a);
    GC_CHECK_ALLOC(g->z);
    return GC_OK;
}

static void grid_destroy(eig_grid *g)
{
    if (g->handle >= 0) {
        Cblacs_gridexit(g->context);
        Cfree_blacs_system_handle(g->handle);
    }
    free(g->a);
    free(g->z);
    free(g->work);
    free(g->iwork);
}

/* Fills this rank's blocks of K_QQ and allocates pdsyevd's workspace (a collective query). */
static int prepare(eig_grid *g, const gc_nystrom_map *map, double *w)
{
    const int q = map->q, one = 1, query = -1;
    for (int lj = 0; lj < g->local_cols; ++lj)
        for (int li = 0; li < g->local_rows; ++li)
            g->a[li + (size_t)lj * g->lld] = gc_nystrom_kernel(map, global_index(li, g->nb, g->myrow, g->nprow),
                                                               global_index(lj, g->nb, g->mycol, g->npcol));
    double lwork_query = 0.0;
    int liwork = 0, info = 0;
    pdsyevd_("V", "U", &q, g->a, &one, &one, g->desc, w, g->z, &one, &one, g->desc, &lwork_query, &query, &liwork,
             &query, &info);
    GC_CHECK_BLAS(info, "ScaLAPACK pdsyevd workspace query");
    /* Some ScaLAPACK releases under-report pdsyevd's workspace for small grids: add slack. */
    g->lwork = (int)(1.5 * lwork_query) + 4 * q + 1024;
    g->liwork = liwork + 7 * q + 8 * g->npcol + 2 + 64;
    g->work = gc_malloc((size_t)g->lwork * sizeof *g->work);
    g->iwork = gc_malloc((size_t)g->liwork * sizeof *g->iwork);
    GC_CHECK_ALLOC(g->work);
    GC_CHECK_ALLOC(g->iwork);
    return GC_OK;
}

static int solve(eig_grid *g, int q, double *w)
{
    const int one = 1;
    int info = 0;
    pdsyevd_("V", "U", &q, g->a, &one, &one, g->desc, w, g->z, &one, &one, g->desc, g->work, &g->lwork, g->iwork,
             &g->liwork, &info);
    GC_CHECK_BLAS(info, "ScaLAPACK pdsyevd: the eigendecomposition of K_QQ");
    return GC_OK;
}

int gc_eig_scalapack(MPI_Comm comm, const gc_nystrom_map *map, double *w, double *U)
{
    const int q = map->q;
    eig_grid g = { .handle = -1 };
    int status = gc_comm_agree(comm, grid_create(&g, comm, q));
    if (status == GC_OK) status = gc_comm_agree(comm, prepare(&g, map, w));
    if (status == GC_OK) status = solve(&g, q, w); /* info is the same on every process */
    if (status == GC_OK) {
        memset(U, 0, (size_t)q * q * sizeof *U);
        for (int lj = 0; lj < g.local_cols; ++lj)
            for (int li = 0; li < g.local_rows; ++li)
                U[(size_t)global_index(li, g.nb, g.myrow, g.nprow) * q + global_index(lj, g.nb, g.mycol, g.npcol)] =
                    g.z[li + (size_t)lj * g.lld];
    }
    grid_destroy(&g);
    if (status == GC_OK && GC_MPI(MPI_Allreduce(MPI_IN_PLACE, U, q * q, MPI_DOUBLE, MPI_SUM, comm)) != MPI_SUCCESS)
        status = gc_fail(GC_ERR_LIB, "MPI error gathering K_QQ's eigenvectors");
    return status;
}

#else /* built without ScaLAPACK (-DGRADCORE_SCALAPACK=OFF) */

int gc_eig_scalapack(MPI_Comm comm, const gc_nystrom_map *map, double *w, double *U)
{
    (void)comm, (void)map, (void)w, (void)U;
    return gc_fail(GC_ERR_USAGE, "--eig scalapack: this gradcore was built without ScaLAPACK");
}

#endif
