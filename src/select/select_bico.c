#include "select_bico.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "candidates.h"
#include "core/comm.h"
#include "core/error.h"
#include "core/log.h"
#include "kernels/cpu/bico_cpu.h"
#include "src/linalg/refit.h"

/* Halvings of a weight step before it is given up. */
#define WEIGHT_STEP_HALVINGS 30

/* The replicated state of the bilevel problem: the data summary, the selected points, and the
 * inner solution for their weights. */
typedef struct {
    int qp, C;
    double n;             /* Σᵢ vᵢ (N without row weights), the constant term of G */
    double *class_weight; /* [C] Σ vᵢ over the rows of each class */
    double ridge;
    double *zz, *zy;    /* M = ZᵀZ [q' × q'], B = ZᵀY [q' × C] */
    int64_t m;          /* selected so far */
    double *sz;         /* [k × q'] their features */
    int32_t *sy;        /* [k] labels */
    double *w;          /* [k] inner weights */
    double *theta, *v;  /* θ and V = H⁻¹∇G [q' × C] */
    double objective;   /* G */
    double *a, *g, *wz; /* work: factor [q' × q'], Mθ − B [q' × C], √w·z rows [k × q'] */
    double *gram;       /* unweighted: Z_SᵀZ_S + λI (upper) for the first `gram_rows` points, grown
                          * by a rank-b update each round instead of rebuilt (O(b·q'²), not O(m·q'²)) */
    int64_t gram_rows;
    double *zy_sel; /* unweighted: Z_SᵀY_S [q' × C] for the first `zy_rows` points, grown each round in
                      * point order (the sum a fit from scratch makes, at O(b·q') a round, not O(m·q')) */
    int64_t zy_rows;
    double flops; /* FP64 flops of the fits so far on this rank, for the refit's floor */
} bico_problem;

typedef struct {
    const gc_local_rows *rows;
    const gc_bico_options *opt;
    const gc_run_context *run;
    int64_t k, rounds;
    bico_problem p;
    double *z;              /* [n_local × q'] this rank's features */
    gc_bico_device *device; /* the backend's copy of z when it scores there */
    char *taken;            /* [n_local] */
    int64_t *taken_now;     /* [b] local rows taken this round, for the device's copy of `taken` */
    double *winner_z;       /* [b × q'] their features, fetched at once when Z lives on the device alone */
    int taken_count;
    gc_candidate_merge merge;
    gc_omp_pair *local, *global;
    char *winner; /* broadcast record: header, q' doubles, D floats */
    size_t winner_bytes;
} bico_context;

typedef struct {
    float loss;
    int32_t label;
} winner_header;

static double score_point(const bico_problem *p, const double *z, int32_t y)
{
    return gc_cpu_bico_score(z, y, p->qp, p->C, p->theta, p->v);
}

/* A = Z_SᵀWZ_S + λI (upper triangle) into p->a: from the running Gram matrix when every weight is
 * 1 (unweighted), else rebuilt. */
static void inner_matrix(bico_problem *p, const double *w, int unit_weights)
{
    const int qp = p->qp;
    const int64_t m = p->m;
    if (unit_weights) {
        p->flops += (double)(m - p->gram_rows) * qp * (qp + 1.0); /* the new rows' rank-b update */
        if (m > p->gram_rows)
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, qp, (int)(m - p->gram_rows), 1.0,
                        p->sz + (size_t)p->gram_rows * qp, qp, 1.0, p->gram, qp);
        p->gram_rows = m;
        memcpy(p->a, p->gram, (size_t)qp * qp * sizeof *p->a);
        return;
    }
    for (int64_t j = 0; j < m; ++j) {
        double s = sqrt(w[j] > 0.0 ? w[j] : 0.0);
        for (int t = 0; t < qp; ++t) p->wz[(size_t)j * qp + t] = s * p->sz[(size_t)j * qp + t];
    }
    p->flops += (double)m * qp * (qp + 2.0); /* √w·z, then Z_SᵀWZ_S's triangle */
    memset(p->a, 0, (size_t)qp * qp * sizeof *p->a);
    for (int t = 0; t < qp; ++t) p->a[(size_t)t * qp + t] = p->ridge;
    if (m > 0) cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, qp, (int)m, 1.0, p->wz, qp, 1.0, p->a, qp);
}

/* θ, V and G for weights w of the m selected points (replicated algebra, no communication):
 * A = Z_SᵀWZ_S + λI, θ = A⁻¹Z_SᵀWY_S, Mθ − B = ∇G/2, V = A⁻¹(Mθ − B) (= H⁻¹∇G with H = 2A),
 * G = Σ_c θ_cᵀMθ_c − 2θ_cᵀB_c + N. unit_weights: every w_j is 1. */
static int fit(bico_problem *p, const double *w, int unit_weights, double *theta, double *v, double *objective)
{
    const int qp = p->qp, C = p->C;
    const int64_t m = p->m;
    inner_matrix(p, w, unit_weights);
    /* Z_SᵀWY_S (its new points' with unit weights), the factor (q'³/3), two solves and Mθ (2q'²C
     * each), G (2q'C) */
    const int64_t from = unit_weights ? p->zy_rows : 0;
    p->flops +=
        2.0 * (double)(m - from) * qp + (double)qp * qp * qp / 3.0 + 6.0 * (double)qp * qp * C + 2.0 * (double)qp * C;
    double *zy = unit_weights ? p->zy_sel : theta;
    if (!unit_weights) memset(theta, 0, (size_t)qp * C * sizeof *theta);
    for (int64_t j = from; j < m; ++j)
        for (int t = 0; t < qp; ++t) zy[(size_t)t * C + p->sy[j]] += w[j] * p->sz[(size_t)j * qp + t];
    if (unit_weights) {
        p->zy_rows = m;
        memcpy(theta, p->zy_sel, (size_t)qp * C * sizeof *theta);
    }
    GC_CHECK_BLAS(LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', qp, p->a, qp), "BiCo: Cholesky factor of Z_SᵀWZ_S + λI");
    GC_CHECK_BLAS(LAPACKE_dpotrs(LAPACK_ROW_MAJOR, 'U', qp, C, p->a, qp, theta, C), "BiCo: solving for θ");
    memcpy(p->g, p->zy, (size_t)qp * C * sizeof *p->g);
    cblas_dsymm(CblasRowMajor, CblasLeft, CblasUpper, qp, C, 1.0, p->zz, qp, theta, C, -1.0, p->g, C);
    memcpy(v, p->g, (size_t)qp * C * sizeof *v);
    GC_CHECK_BLAS(LAPACKE_dpotrs(LAPACK_ROW_MAJOR, 'U', qp, C, p->a, qp, v, C), "BiCo: solving for H⁻¹∇G");
    /* θ_cᵀMθ_c − 2θ_cᵀB_c = θ_cᵀ(Mθ_c − B_c) − θ_cᵀB_c */
    double g = p->n;
    for (size_t t = 0; t < (size_t)qp * C; ++t) g += theta[t] * (p->g[t] - p->zy[t]);
    *objective = g;
    return GC_OK;
}

/* Projected gradient on the selected weights (select_bico.h): each step moves along
 * −∂G/∂w = s_S, halving η until G decreases. */
static int weight_steps(bico_problem *p, double *trial_w, double *trial_theta, double *trial_v)
{
    for (int step = 0; step < GC_BICO_WEIGHT_STEPS && p->m > 0; ++step) {
        double top = 0.0, mean = 0.0;
        p->flops += 4.0 * (double)p->m * p->qp * p->C; /* the selected points' scores */
        for (int64_t j = 0; j < p->m; ++j) {
            trial_w[j] = score_point(p, p->sz + (size_t)j * p->qp, p->sy[j]); /* s_j, for now */
            top = fmax(top, fabs(trial_w[j]));
            mean += p->w[j] / (double)p->m;
        }
        if (!(top > 0.0) || !(mean > 0.0)) return GC_OK;
        double *s = gc_malloc((size_t)p->m * sizeof *s);
        GC_CHECK_ALLOC(s);
        memcpy(s, trial_w, (size_t)p->m * sizeof *s);
        int accepted = 0;
        double eta = mean / top, objective = 0.0;
        for (int h = 0; h < WEIGHT_STEP_HALVINGS && !accepted; ++h, eta *= 0.5) {
            for (int64_t j = 0; j < p->m; ++j) trial_w[j] = fmax(0.0, p->w[j] + eta * s[j]);
            int status = fit(p, trial_w, 0, trial_theta, trial_v, &objective);
            if (status != GC_OK) {
                free(s);
                return status;
            }
            accepted = objective < p->objective - GC_BICO_STEP_GAIN * fabs(p->objective);
        }
        free(s);
        if (!accepted) return GC_OK;
        memcpy(p->w, trial_w, (size_t)p->m * sizeof *p->w);
        memcpy(p->theta, trial_theta, (size_t)p->qp * p->C * sizeof *p->theta);
        memcpy(p->v, trial_v, (size_t)p->qp * p->C * sizeof *p->v);
        p->objective = objective;
    }
    return GC_OK;
}

/* Rank 0 refits (and steps the weights), everyone receives its θ, V, G and weights. */
static int refit_and_share(bico_context *ctx)
{
    bico_problem *p = &ctx->p;
    const size_t qc = (size_t)p->qp * p->C;
    gc_phase_begin(ctx->run->phases, "refit");
    gc_phase_bound(ctx->run->phases, GC_FLOOR_HOST);
    int status = GC_OK;
    const double flops_before = p->flops;
    if (ctx->rows->rank == 0) {
        const int serial = (int64_t)p->qp * p->qp <= GC_REFIT_SERIAL_VALUES; /* as OMP's refits */
        const int threads = serial ? openblas_get_num_threads() : 0;
        if (serial) openblas_set_num_threads(1);
        double *trial = gc_malloc((2 * qc + (size_t)(p->m > 0 ? p->m : 1)) * sizeof *trial);
        /* Weights are all 1 until the first weight step; after it, A is rebuilt every time. */
        status = trial ? fit(p, p->w, !ctx->opt->weighted, p->theta, p->v, &p->objective)
                       : gc_fail(GC_ERR_MEMORY, "out of memory for BiCo");
        if (status == GC_OK && ctx->opt->weighted) status = weight_steps(p, trial + 2 * qc, trial, trial + qc);
        free(trial);
        if (serial) openblas_set_num_threads(threads);
    }
    status = gc_comm_agree(ctx->rows->comm, status);
    if (status != GC_OK) {
        gc_phase_end(ctx->run->phases, 0, 0);
        return status;
    }
    GC_CHECK_MPI(MPI_Bcast(p->theta, (int)qc, MPI_DOUBLE, 0, ctx->rows->comm));
    GC_CHECK_MPI(MPI_Bcast(p->v, (int)qc, MPI_DOUBLE, 0, ctx->rows->comm));
    GC_CHECK_MPI(MPI_Bcast(&p->objective, 1, MPI_DOUBLE, 0, ctx->rows->comm));
    if (p->m > 0) GC_CHECK_MPI(MPI_Bcast(p->w, (int)p->m, MPI_DOUBLE, 0, ctx->rows->comm));
    gc_phase_count_host_flops(ctx->run->phases, p->flops - flops_before);
    gc_phase_end(ctx->run->phases, ((2.0 * qc + 1.0) + (double)p->m) * sizeof(double), 0); /* what is shared */
    return GC_OK;
}

/* Adds one feature block's ZᵀVZ (upper triangle, packed row by row), ZᵀVY and per-class Σ v to
 * the exact sum (V = diag(v), v = NULL: all 1). scaled: [rows × qp] work for √v·z. */
static void add_block(gc_exact_sum *sum, const double *z, const int32_t *y, const double *v, int64_t rows, int qp,
                      int C, double *scaled, double *mb, double *packed)
{
    const double *zs = z;
    if (v != NULL) {
        for (int64_t r = 0; r < rows; ++r)
            for (int j = 0; j < qp; ++j) scaled[r * qp + j] = sqrt(v[r]) * z[r * qp + j];
        zs = scaled;
    }
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, qp, (int)rows, 1.0, zs, qp, 0.0, mb, qp);
    size_t t = 0;
    for (int i = 0; i < qp; ++i)
        for (int j = i; j < qp; ++j) packed[t++] = mb[(size_t)i * qp + j];
    memset(packed + t, 0, ((size_t)qp * C + C) * sizeof *packed);
    for (int64_t r = 0; r < rows; ++r) {
        const double vr = v != NULL ? v[r] : 1.0;
        for (int j = 0; j < qp; ++j) packed[t + (size_t)j * C + y[r]] += vr * z[r * qp + j];
        packed[t + (size_t)qp * C + y[r]] += vr;
    }
    gc_exact_sum_add_double(sum, packed);
}

static int has_device_summary(const gc_backend *b) { return b != NULL && b->ops->bico_summary_attach != NULL; }

/* Whether Z lives on the device alone (backend.h, bico_features): a backend with the ops, and no
 * row weights (gradcore stream's merges keep the host Z). */
static int z_on_device(const gc_backend *b, const gc_bico_options *opt)
{
    return has_device_summary(b) && b->ops->bico_attach != NULL && b->ops->bico_features != NULL &&
           opt->row_weight == NULL;
}

/* One record of a row that moves to the owner of its summary block. */
typedef struct {
    int64_t global;
    int32_t label, pad;
    double weight;
    double z[];
} moved_row;

/* Rows of a data-summary block: as many as 16 MiB of features hold, a power of two of at least
 * GC_NYSTROM_BLOCK_ROWS (q′ is the same on every rank, so is this). A block is a few launches
 * whatever its height: 1,024-row blocks took 1.7 s at 16M rows and q′ = 134 on an H200, nearly all
 * of it launches (docs/design.md §4.5). At most a block's rows less one move at a rank boundary. */
static int64_t summary_block_rows(int qp)
{
    int64_t rows = GC_NYSTROM_BLOCK_ROWS;
    while (2 * rows * qp * (int64_t)sizeof(double) <= ((int64_t)16 << 20)) rows *= 2;
    return rows;
}

/* M = ZᵀVZ, B = ZᵀVY and the class weights over all rows, bitwise the same for any rank count: blocks
 * of summary_block_rows rows aligned to the global index are each summed by one rank (the owner of the block's first row;
 * the rows of a block that another rank holds move there first), always with the same dsyrk
 * shape, and the block sums are added exactly. A backend with summary ops sums the blocks on
 * its device (the same exact grid; its dsyrk rounds differently from the CPU's add_block). */
static int data_summary(bico_context *ctx)
{
    const gc_local_rows *rows = ctx->rows;
    bico_problem *p = &ctx->p;
    const int qp = p->qp, C = p->C, P = rows->size;
    const int64_t B = summary_block_rows(qp), lo = rows->lo, hi = lo + rows->n_local;
    const size_t record = sizeof(moved_row) + (size_t)qp * sizeof(double);
    const int64_t first_owned = (lo + B - 1) / B * B; /* rows before it belong to an earlier rank's block */
    const int64_t moving = (first_owned < hi ? first_owned : hi) - lo;
    /* The exact sum's grid follows the largest block entry: |M_b| ≤ B·max v‖z‖², |B_b| ≤ B·max v‖z‖,
     * class weights ≤ B·max v. */
    const double *v = ctx->opt->row_weight;
    gc_backend *backend = ctx->run->backend;
    double max_entry = 0.0;
    if (ctx->z == NULL) { /* Z on the device alone (without row weights) */
        GC_TRY(gc_comm_agree(rows->comm, backend->ops->bico_max_entry(backend, ctx->device, &max_entry)));
    } else {
#pragma omp parallel for reduction(max : max_entry) schedule(static)
        for (int64_t i = 0; i < rows->n_local; ++i) {
            double sq = 0.0;
            for (int j = 0; j < qp; ++j) sq += ctx->z[i * qp + j] * ctx->z[i * qp + j];
            max_entry = fmax(max_entry, (v != NULL ? v[i] : 1.0) * fmax(1.0, fmax(sq, sqrt(sq))));
        }
    }
    GC_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, &max_entry, 1, MPI_DOUBLE, MPI_MAX, rows->comm));
    const double bound = (double)B * max_entry;
    int *counts = gc_calloc((size_t)P, sizeof *counts), *displs = gc_calloc((size_t)P, sizeof *displs);
    char *send = gc_malloc((size_t)(moving > 0 ? moving : 1) * record), *recv = NULL;
    double *block = gc_malloc((size_t)B * qp * sizeof *block), *mb = gc_malloc((size_t)qp * qp * sizeof *mb);
    double *scaled = gc_malloc((size_t)B * qp * sizeof *scaled), *block_v = gc_malloc((size_t)B * sizeof *block_v);
    const int packed_n = qp * (qp + 1) / 2 + qp * C + C;
    double *packed = gc_malloc((size_t)packed_n * sizeof *packed);
    int32_t *labels = gc_malloc((size_t)B * sizeof *labels);
    gc_exact_sum sum = { 0 };
    int status = (counts && displs && send && block && mb && scaled && block_v && packed && labels)
                     ? gc_exact_sum_create(&sum, packed_n, bound)
                     : gc_fail(GC_ERR_MEMORY, "out of memory for the BiCo data summary");
    gc_bico_summary_device *device = NULL;
    if (status == GC_OK && has_device_summary(backend))
        status = backend->ops->bico_summary_attach(backend, qp, C, B, sum.scale, &device);
    /* Z on the device alone: the moving rows' features come up (they are fewer than a block), the
     * rank's own blocks are summed from the device's copy. */
    double *moving_z = ctx->z != NULL || moving == 0 ? NULL : gc_malloc((size_t)moving * qp * sizeof *moving_z);
    if (status == GC_OK && ctx->z == NULL && moving > 0)
        status = moving_z == NULL ? gc_fail(GC_ERR_MEMORY, "out of memory for the BiCo data summary")
                                  : backend->ops->bico_rows(backend, ctx->device, 0, moving, moving_z);
    const double *own_z = ctx->z != NULL ? ctx->z : backend->ops->bico_z(backend, ctx->device);
    if (status == GC_OK && moving > 0) {
        counts[gc_comm_row_owner(rows->n_global, P, lo / B * B)] = (int)moving;
        for (int64_t i = 0; i < moving; ++i) {
            moved_row *r = (moved_row *)(send + (size_t)i * record);
            r->global = lo + i;
            r->label = rows->y[i];
            r->pad = 0;
            r->weight = v != NULL ? v[i] : 1.0;
            memcpy(r->z, (ctx->z != NULL ? ctx->z : moving_z) + i * qp, (size_t)qp * sizeof(double));
        }
    }
    for (int r = 1; r < P; ++r) displs[r] = displs[r - 1] + counts[r - 1];
    status = gc_comm_agree(rows->comm, status);
    int64_t received = 0;
    if (status == GC_OK)
        status =
            gc_comm_exchange_records(rows->comm, record, send, counts, displs, &recv, &received, "BiCo summary rows");
    /* This rank's blocks start at first_owned; the last may continue into the received rows. With
     * Z on the device alone, the blocks before that one are summed there in one call. */
    int64_t start = first_owned;
    if (status == GC_OK && device != NULL && ctx->z == NULL && backend->ops->bico_summary_add_own != NULL &&
        first_owned < hi) {
        const int64_t last = first_owned + (hi - 1 - first_owned) / B * B, own_end = received > 0 ? last : hi;
        status = backend->ops->bico_summary_add_own(backend, device, ctx->device, start - lo, own_end - start);
        start = own_end;
    }
    for (; status == GC_OK && start < hi; start += B) {
        int64_t local_end = start + B < hi ? start + B : hi, extra = 0;
        const double *z = own_z + (start - lo) * qp, *w = v != NULL ? v + (start - lo) : NULL;
        const int32_t *y = rows->y + (start - lo);
        if (local_end == hi && received > 0) {
            extra = received < start + B - hi ? received : start + B - hi;
            if (ctx->z != NULL)
                memcpy(block, z, (size_t)(hi - start) * qp * sizeof *block);
            else
                status = backend->ops->bico_rows(backend, ctx->device, start - lo, hi - start, block);
            memcpy(labels, y, (size_t)(hi - start) * sizeof *labels);
            for (int64_t i = 0; i < hi - start; ++i) block_v[i] = v != NULL ? v[start - lo + i] : 1.0;
            for (int64_t i = 0; i < extra; ++i) {
                const moved_row *r = (const moved_row *)(recv + (size_t)i * record);
                memcpy(block + (hi - start + i) * qp, r->z, (size_t)qp * sizeof *block);
                labels[hi - start + i] = r->label;
                block_v[hi - start + i] = r->weight;
            }
            z = block;
            y = labels;
            w = v != NULL ? block_v : NULL;
        }
        if (device != NULL)
            status = backend->ops->bico_summary_add(backend, device, local_end - start + extra, z, y, w);
        else
            add_block(&sum, z, y, w, local_end - start + extra, qp, C, scaled, mb, packed);
    }
    if (status == GC_OK && device != NULL) status = backend->ops->bico_summary_collect(backend, device, sum.acc);
    if (device != NULL) backend->ops->bico_summary_detach(backend, device);
    status = gc_comm_agree(rows->comm, status);
    if (status == GC_OK) status = gc_exact_sum_allreduce(&sum, rows->comm, packed);
    if (status == GC_OK) {
        size_t t = 0;
        for (int i = 0; i < qp; ++i)
            for (int j = i; j < qp; ++j, ++t) p->zz[(size_t)i * qp + j] = p->zz[(size_t)j * qp + i] = packed[t];
        memcpy(p->zy, packed + t, (size_t)qp * C * sizeof *p->zy);
        memcpy(p->class_weight, packed + t + (size_t)qp * C, (size_t)C * sizeof *p->class_weight);
        p->n = 0.0;
        for (int c = 0; c < C; ++c) p->n += p->class_weight[c];
    }
    gc_exact_sum_destroy(&sum);
    free(counts);
    free(displs);
    free(send);
    free(recv);
    free(block);
    free(mb);
    free(scaled);
    free(block_v);
    free(packed);
    free(labels);
    free(moving_z);
    return status;
}

/* This rank's `want` best untaken rows by score, best first, as global rows (list padded to b). */
static int score_pass(bico_context *ctx, double *scores, int want)
{
    const gc_local_rows *rows = ctx->rows;
    const bico_problem *p = &ctx->p;
    gc_phase_begin(ctx->run->phases, "score");
    gc_backend *b = ctx->run->backend;
    const int on_device = ctx->device != NULL && b->ops->bico_best != NULL;
    int status = GC_OK;
    for (int t = 0; t < ctx->opt->batch; ++t) ctx->local[t] = GC_OMP_NONE;
    if (on_device) /* the scores and their best on the device: only `want` pairs come back */
        status = b->ops->bico_best(b, ctx->device, p->theta, p->v, want, ctx->local);
    else if (ctx->device != NULL)
        status = b->ops->bico_scores(b, ctx->device, p->theta, p->v, scores);
    else
        gc_cpu_bico_scores(ctx->z, rows->y, rows->n_local, p->qp, p->C, p->theta, p->v, scores);
    for (int64_t i = 0; i < rows->n_local && status == GC_OK && !on_device; ++i) {
        gc_omp_pair c = { scores[i], rows->lo + i };
        if (ctx->taken[i] || !gc_omp_pair_before(c, ctx->local[want - 1])) continue;
        int t = want - 1;
        for (; t > 0 && gc_omp_pair_before(c, ctx->local[t - 1]); --t) ctx->local[t] = ctx->local[t - 1];
        ctx->local[t] = c;
    }
    /* One read of the features; per row a q'×C product with V and one with θ. */
    gc_phase_end(ctx->run->phases, (double)rows->n_local * p->qp * sizeof(double),
                 4.0 * (double)rows->n_local * p->qp * p->C);
    return status;
}

/* The owner of global row g broadcasts its features, label and loss; everyone appends it (its x comes
 * at the end, gather_embeddings). On its owner g is this rank's *next winner of the round
 * (ctx->taken_now), its features in ctx->winner_z when Z lives on the device alone. */
static int share_winner(bico_context *ctx, int64_t g, double score, gc_coreset *cs, int *next)
{
    const gc_local_rows *rows = ctx->rows;
    bico_problem *p = &ctx->p;
    const int owner = gc_comm_row_owner(rows->n_global, rows->size, g);
    const size_t zbytes = (size_t)p->qp * sizeof(double);
    if (rows->rank == owner) {
        const int64_t i = g - rows->lo;
        winner_header h = { rows->loss[i], rows->y[i] };
        memcpy(ctx->winner, &h, sizeof h);
        memcpy(ctx->winner + sizeof h, ctx->z != NULL ? ctx->z + i * p->qp : ctx->winner_z + (size_t)*next * p->qp,
               zbytes);
        ctx->taken[i] = 1;
        ++*next;
    }
    GC_CHECK_MPI(MPI_Bcast(ctx->winner, (int)ctx->winner_bytes, MPI_BYTE, owner, rows->comm));
    winner_header h;
    memcpy(&h, ctx->winner, sizeof h);
    const int64_t m = p->m++;
    memcpy(p->sz + m * p->qp, ctx->winner + sizeof h, zbytes);
    p->sy[m] = h.label;
    p->w[m] = 1.0;
    cs->index[m] = g;
    cs->label[m] = h.label;
    cs->loss[m] = h.loss;
    cs->gain[m] = score;
    return GC_OK;
}

/* cs->embedding [m × D] ← x of every pick cs->index[t], each row from its owner's E (host or device,
 * gc_backend_rows_get) in one MPI_Allgatherv: read once at the end, not with a device round trip a
 * winner. Collective. */
static int gather_embeddings(gc_backend *backend, const gc_local_rows *rows, int64_t m, gc_coreset *cs)
{
    const int ranks = rows->size, D = rows->D;
    int *counts = gc_calloc((size_t)ranks, sizeof *counts), *at = gc_calloc((size_t)ranks, sizeof *at);
    int64_t *mine = gc_malloc((size_t)(m > 0 ? m : 1) * sizeof *mine), own = 0;
    float *all = gc_malloc((size_t)(m > 0 ? m : 1) * D * sizeof *all);
    int status =
        counts && at && mine && all ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory for %lld rows", (long long)m);
    for (int64_t t = 0; t < m && status == GC_OK; ++t) {
        const int owner = gc_comm_row_owner(rows->n_global, ranks, cs->index[t]);
        counts[owner] += D;
        if (owner == rows->rank) mine[own++] = cs->index[t] - rows->lo;
    }
    for (int r = 1; r < ranks && status == GC_OK; ++r) at[r] = at[r - 1] + counts[r - 1];
    if (status == GC_OK)
        status = gc_backend_rows_get(backend, rows->e, D, own, mine, all + at[rows->rank], (size_t)D * sizeof *all);
    status = gc_comm_agree(rows->comm, status);
    if (status == GC_OK)
        status = GC_MPI(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, all, counts, at, MPI_FLOAT, rows->comm));
    for (int64_t t = 0; t < m && status == GC_OK; ++t) { /* each owner's rows come in pick order */
        const int owner = gc_comm_row_owner(rows->n_global, ranks, cs->index[t]);
        memcpy(cs->embedding + t * D, all + at[owner], (size_t)D * sizeof *all);
        at[owner] += D;
    }
    free(counts);
    free(at);
    free(mine);
    free(all);
    return status;
}

/* One round: score, merge the candidate lists, append the winners, refit. Collective. */
static int run_round(bico_context *ctx, double *scores, gc_coreset *cs)
{
    const int64_t left = ctx->k - ctx->p.m;
    const int want = (int)(left < ctx->opt->batch ? left : ctx->opt->batch);
    const int scored = score_pass(ctx, scores, want);
    gc_phase_begin(ctx->run->phases, "merge");
    gc_phase_bound(ctx->run->phases, GC_FLOOR_HOST);
    for (int t = 0; t < ctx->opt->batch; ++t) *gc_candidate_pair(&ctx->merge, ctx->merge.local, t) = ctx->local[t];
    /* A device failure stops every rank: the reduction agrees on the status too. */
    int status = gc_candidate_merge_allreduce(&ctx->merge, scored, ctx->rows->comm);
    for (int t = 0; status == GC_OK && t < ctx->opt->batch; ++t)
        ctx->global[t] = *gc_candidate_pair(&ctx->merge, ctx->merge.global, t);
    if (status == GC_OK && ctx->global[0].index == INT64_MAX) /* only NaN scores: the features or data are broken */
        status = gc_fail(GC_ERR_INPUT, "BiCo: no point has a finite score after %lld selections", (long long)ctx->p.m);
    /* This rank's winners of the round, in round order; with Z on the device alone their features
     * come up in one gather (one copy a winner took 0.2 s of 200 rounds at 16M rows). */
    gc_backend *b = ctx->run->backend;
    int winners = 0, next = 0;
    ctx->taken_count = 0;
    for (; status == GC_OK && winners < want && ctx->global[winners].index != INT64_MAX; ++winners)
        if (gc_comm_row_owner(ctx->rows->n_global, ctx->rows->size, ctx->global[winners].index) == ctx->rows->rank)
            ctx->taken_now[ctx->taken_count++] = ctx->global[winners].index - ctx->rows->lo;
    int shared = GC_OK;
    if (status == GC_OK && ctx->z == NULL && ctx->taken_count > 0)
        shared = b->ops->bico_rows_at(b, ctx->device, ctx->taken_count, ctx->taken_now, ctx->winner_z);
    /* Every rank takes part in every winner's broadcast, also after its own copy failed. */
    for (int t = 0; status == GC_OK && t < winners; ++t) {
        const int one = share_winner(ctx, ctx->global[t].index, ctx->global[t].score, cs, &next);
        shared = shared == GC_OK ? one : shared;
    }
    if (status == GC_OK) status = shared;
    if (status == GC_OK && ctx->device != NULL && b->ops->bico_take != NULL)
        status = b->ops->bico_take(b, ctx->device, ctx->taken_count, ctx->taken_now);
    /* The reduced list and every winner's broadcast record. */
    gc_phase_end(ctx->run->phases,
                 gc_candidate_merge_bytes(&ctx->merge, 1) + (double)ctx->taken_count * ctx->winner_bytes, 0);
    ctx->rounds++;
    return status == GC_OK ? refit_and_share(ctx) : status;
}

static int problem_create(bico_problem *p, int qp, int C, int64_t k, double ridge)
{
    memset(p, 0, sizeof *p);
    p->qp = qp;
    p->C = C;
    p->ridge = ridge;
    p->class_weight = gc_calloc((size_t)C, sizeof *p->class_weight);
    const size_t qq = (size_t)qp * qp, qc = (size_t)qp * C;
    p->zz = gc_malloc(qq * sizeof *p->zz);
    p->zy = gc_malloc(qc * sizeof *p->zy);
    p->sz = gc_malloc((size_t)k * qp * sizeof *p->sz);
    p->sy = gc_malloc((size_t)k * sizeof *p->sy);
    p->w = gc_malloc((size_t)k * sizeof *p->w);
    p->theta = gc_calloc(qc, sizeof *p->theta);
    p->v = gc_calloc(qc, sizeof *p->v);
    p->a = gc_malloc(qq * sizeof *p->a);
    p->g = gc_malloc(qc * sizeof *p->g);
    p->wz = gc_malloc((size_t)k * qp * sizeof *p->wz);
    p->gram = gc_calloc(qq, sizeof *p->gram);
    p->zy_sel = gc_calloc(qc, sizeof *p->zy_sel);
    if (!p->class_weight || !p->zz || !p->zy || !p->sz || !p->sy || !p->w || !p->theta || !p->v || !p->a || !p->g ||
        !p->wz || !p->gram || !p->zy_sel)
        return gc_fail(GC_ERR_MEMORY, "out of memory for the BiCo problem (q' = %d, k = %lld)", qp, (long long)k);
    for (int t = 0; t < qp; ++t) p->gram[(size_t)t * qp + t] = ridge;
    return GC_OK;
}

static void problem_destroy(bico_problem *p)
{
    free(p->class_weight);
    free(p->zz);
    free(p->zy);
    free(p->sz);
    free(p->sy);
    free(p->w);
    free(p->theta);
    free(p->v);
    free(p->a);
    free(p->g);
    free(p->wz);
    free(p->gram);
    free(p->zy_sel);
}

static int context_create(bico_context *ctx, const gc_run_context *run, const gc_local_rows *rows,
                          const gc_bico_options *opt, int64_t k, int qp)
{
    ctx->rows = rows;
    ctx->opt = opt;
    ctx->run = run;
    ctx->k = k;
    ctx->winner_bytes = sizeof(winner_header) + (size_t)qp * sizeof(double);
    /* Z on the device alone: no host copy (bico_features) */
    ctx->z = z_on_device(run->backend, opt)
                 ? NULL
                 : gc_malloc_large((size_t)(rows->n_local > 0 ? rows->n_local : 1) * qp * sizeof *ctx->z);
    ctx->taken = gc_calloc((size_t)(rows->n_local > 0 ? rows->n_local : 1), 1);
    ctx->taken_now = gc_malloc((size_t)opt->batch * sizeof *ctx->taken_now);
    ctx->local = gc_malloc((size_t)opt->batch * sizeof *ctx->local);
    ctx->global = gc_malloc((size_t)opt->batch * sizeof *ctx->global);
    ctx->winner = gc_malloc(ctx->winner_bytes);
    ctx->winner_z = gc_malloc((size_t)opt->batch * qp * sizeof *ctx->winner_z);
    if ((!ctx->z && !z_on_device(run->backend, opt)) || !ctx->taken || !ctx->taken_now || !ctx->local || !ctx->global ||
        !ctx->winner || !ctx->winner_z)
        return gc_fail(GC_ERR_MEMORY, "out of memory for the features of %lld rows (q' = %d)", (long long)rows->n_local,
                       qp);
    /* z goes down from the feature map and up to the summary and the scorer block by block: pageable,
     * each 8 MB block would crawl through the driver's staging (most of the setup time on a GPU). */
    if (ctx->z != NULL && run->backend != NULL && run->backend->ops->pin != NULL)
        run->backend->ops->pin(run->backend, ctx->z, (size_t)rows->n_local * qp * sizeof *ctx->z);
    return gc_candidate_merge_create(&ctx->merge, opt->batch, 0);
}

static int has_device_scorer(const gc_backend *b) { return b != NULL && b->ops->bico_attach != NULL; }

static void context_destroy(bico_context *ctx)
{
    gc_backend *backend = ctx->run != NULL ? ctx->run->backend : NULL;
    if (ctx->device != NULL) backend->ops->bico_detach(backend, ctx->device);
    gc_candidate_merge_destroy(&ctx->merge);
    if (ctx->z != NULL && backend != NULL && backend->ops->unpin != NULL) backend->ops->unpin(backend, ctx->z);
    free(ctx->z);
    free(ctx->taken);
    free(ctx->taken_now);
    free(ctx->winner_z);
    free(ctx->local);
    free(ctx->global);
    free(ctx->winner);
    problem_destroy(&ctx->p);
}

/* The file's weights (select_bico.h): N_c/k_c per class (Σ v over class c with row weights), or the
 * inner weights scaled to sum to N (Σ v). */
static void output_weights(const bico_problem *p, gc_coreset *cs)
{
    double total = 0.0;
    for (int64_t j = 0; j < p->m; ++j) total += p->w[j];
    int64_t *picked = gc_calloc((size_t)p->C, sizeof *picked);
    for (int64_t j = 0; j < p->m && picked; ++j) picked[p->sy[j]]++;
    for (int64_t j = 0; j < p->m; ++j)
        cs->weight[j] = cs->bico.weighted ? (total > 0.0 ? p->w[j] * p->n / total : 0.0)
                                          : (picked ? p->class_weight[p->sy[j]] / (double)picked[p->sy[j]] : 1.0);
    free(picked);
}

int gc_bico_default_landmarks(int64_t n)
{
    int64_t q = GC_BICO_FEATURE_VALUES / (n > 0 ? n : 1);
    q = q < GC_BICO_MIN_LANDMARKS       ? GC_BICO_MIN_LANDMARKS
        : q > GC_BICO_DEFAULT_LANDMARKS ? GC_BICO_DEFAULT_LANDMARKS
                                        : q;
    return (int)(q < n ? q : n);
}

int gc_bico_default_batch(int64_t k)
{
    const int64_t b = (k + GC_BICO_DEFAULT_ROUNDS - 1) / GC_BICO_DEFAULT_ROUNDS;
    return (int)(b < 1 ? 1 : b > GC_BICO_MAX_BATCH ? GC_BICO_MAX_BATCH : b);
}

/* Resolves q and, where it is 0, opt->batch (select_bico.h), and checks them. */
static int check_options(const gc_local_rows *rows, int64_t k, gc_bico_options *opt, int *q)
{
    *q = opt->landmarks > 0 ? opt->landmarks : gc_bico_default_landmarks(rows->n_global);
    if (opt->batch == 0) opt->batch = gc_bico_default_batch(k);
    if (*q > rows->n_global)
        return gc_fail(GC_ERR_INPUT, "option --landmarks: q = %d exceeds the %lld rows of the data", *q,
                       (long long)rows->n_global);
    if (opt->batch < 1 || opt->batch > GC_BICO_MAX_BATCH)
        return gc_fail(GC_ERR_USAGE, "option --batch: %d is not in 1..%d", opt->batch, GC_BICO_MAX_BATCH);
    if (!(opt->ridge > 0.0)) return gc_fail(GC_ERR_USAGE, "option --bico-ridge: λ = %g must be positive", opt->ridge);
    return GC_OK;
}

/* Class sizes N_c (for the weights and the file). */
static int count_classes(const gc_local_rows *rows, int64_t *sizes)
{
    gc_count_classes(rows->y, rows->n_local, rows->classes, sizes);
    GC_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, sizes, rows->classes, MPI_INT64_T, MPI_SUM, rows->comm));
    return GC_OK;
}

int gc_select_bico(const gc_run_context *run, const gc_local_rows *rows, const gc_bico_options *given, int64_t k,
                   gc_coreset *cs)
{
    int q = 0;
    gc_bico_options resolved = *given;
    const gc_bico_options *opt = &resolved;
    GC_TRY(check_options(rows, k, &resolved, &q));
    bico_context ctx = { .merge = { .list_type = MPI_DATATYPE_NULL, .op = MPI_OP_NULL } };
    gc_nystrom ny = { 0 };
    gc_backend *backend = run->backend;
    gc_phase_begin(run->phases, "features");
    gc_phase_begin(run->phases, "landmarks"); /* the draw, K_QQ's eigendecomposition, γ */
    int status = gc_nystrom_create(backend, rows, q, opt->gamma, opt->eig, opt->seed, &ny);
    /* Its floor: the landmarks' rows gathered from E, K_QQ (2q²D) and the eigendecomposition's
     * reduction to tridiagonal form (4q³/3, the least a dense symmetric eigensolver does), shared
     * among the ranks by ScaLAPACK. */
    gc_phase_count_on(run->phases, rows->e != NULL ? GC_FLOOR_HOST : GC_FLOOR_LINK,
                      (double)q * rows->D * sizeof(float));
    gc_phase_count_host_flops(run->phases, (2.0 * q * q * rows->D + 4.0 * q * (double)q * q / 3.0) /
                                               (ny.scalapack ? rows->size : 1));
    gc_phase_end(run->phases, 0, 0);
    /* Every row's kernel row and projection: 2·q·(D + q') flops; with Z on the device, host X goes up. */
    gc_phase_begin(run->phases, "map");
    if (status == GC_OK) status = gc_comm_agree(rows->comm, context_create(&ctx, run, rows, opt, k, ny.map.rank));
    if (status == GC_OK && ctx.z == NULL) { /* Z on the device alone: computed there */
        status = gc_comm_agree(rows->comm, backend->ops->bico_attach(backend, rows->lo, rows->n_local, ny.map.rank,
                                                                     rows->classes, NULL, rows->y, &ctx.device));
        if (status == GC_OK)
            status = gc_comm_agree(rows->comm, backend->ops->bico_features(backend, ctx.device, &ny.map, rows->e));
    } else if (status == GC_OK) {
        status = gc_nystrom_features(&ny, backend, rows, ctx.z);
    }
    if (ctx.z == NULL && rows->e != NULL) /* host x goes up; E on the device alone is read in place */
        gc_phase_count_on(run->phases, GC_FLOOR_LINK, (double)rows->n_local * rows->D * sizeof(float));
    else if (ctx.z == NULL)
        gc_phase_count_on(run->phases, GC_FLOOR_MEMORY,
                          (double)rows->n_local * rows->D * gc_backend_value_bytes(backend, 1));
    gc_phase_end(run->phases, 0, 2.0 * (double)rows->n_local * ny.map.q * (rows->D + ny.map.rank));
    gc_phase_end(run->phases, 0, 0);
    if (status == GC_OK)
        gc_info(
            "select: BiCo, %d landmarks, γ = %.6g, q' = %d features (eigendecomposition by %s), λ = %g, %d point(s) "
            "per round, %s, features on %s, scoring on %s",
            q, ny.map.gamma, ny.map.rank, ny.scalapack ? "ScaLAPACK pdsyevd" : "LAPACK dsyevd", opt->ridge, opt->batch,
            opt->weighted ? "weighted (projected gradient)" : "unweighted", backend ? backend->description : "the CPU",
            has_device_scorer(backend) ? backend->description : "the CPU");
    gc_phase_begin(run->phases, "summary");
    if (status == GC_OK)
        status = gc_comm_agree(rows->comm, problem_create(&ctx.p, ny.map.rank, rows->classes, k, opt->ridge));
    if (status == GC_OK) status = gc_comm_agree(rows->comm, gc_coreset_allocate(cs, k, rows->D, rows->classes));
    if (status == GC_OK) status = gc_comm_agree(rows->comm, count_classes(rows, cs->class_sizes));
    /* One read of Z; per row ZᵀZ's q'² and ZᵀY's 2q'C flops. */
    gc_phase_begin(run->phases, "sums");
    if (status == GC_OK) status = data_summary(&ctx);
    gc_phase_end(run->phases, (double)rows->n_local * ny.map.rank * sizeof(double),
                 (double)rows->n_local * ny.map.rank * (ny.map.rank + 2.0 * rows->classes));
    if (status == GC_OK && has_device_scorer(backend) && ctx.device == NULL)
        status = gc_comm_agree(rows->comm, backend->ops->bico_attach(backend, rows->lo, rows->n_local, ny.map.rank,
                                                                     rows->classes, ctx.z, rows->y, &ctx.device));
    gc_phase_end(run->phases, 0, 0);
    double *scores = gc_malloc((size_t)(rows->n_local > 0 ? rows->n_local : 1) * sizeof *scores);
    if (status == GC_OK)
        status = gc_comm_agree(rows->comm, scores ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory for scores"));
    if (status == GC_OK) status = refit_and_share(&ctx); /* S = ∅: θ = 0 */
    while (status == GC_OK && ctx.p.m < k) status = gc_comm_agree(rows->comm, run_round(&ctx, scores, cs));
    if (status == GC_OK) status = gather_embeddings(backend, rows, ctx.p.m, cs);
    if (status == GC_OK) {
        cs->budgets[0] = k;
        cs->objective = ctx.p.objective;
        cs->bico = (gc_bico_info){ .landmarks = q,
                                   .landmark_index = ny.landmark_index,
                                   .gamma = ny.map.gamma,
                                   .feature_rank = ny.map.rank,
                                   .ridge = opt->ridge,
                                   .weighted = opt->weighted };
        ny.landmark_index = NULL; /* now the coreset's */
        output_weights(&ctx.p, cs);
        gc_info("select: %lld points in %lld rounds, G = %.6g (per unit of weight %.6g)", (long long)ctx.p.m,
                (long long)ctx.rounds, ctx.p.objective, ctx.p.objective / ctx.p.n);
    }
    free(scores);
    context_destroy(&ctx);
    gc_nystrom_destroy(&ny);
    return status;
}

int gc_bico_options_parse(const gc_options *o, gc_bico_options *opt)
{
    long landmarks = 0, batch = 0;
    int eig;
    if (gc_options_is_set(o, "landmarks")) GC_TRY(gc_options_get_long(o, "landmarks", 1, 1L << 20, &landmarks));
    opt->gamma = 0.0;
    if (gc_options_is_set(o, "gamma")) {
        GC_TRY(gc_options_get_double(o, "gamma", 0.0, 1e300, &opt->gamma));
        if (!(opt->gamma > 0.0))
            return gc_fail(GC_ERR_USAGE, "option --gamma: γ = %s must be positive", gc_options_get(o, "gamma"));
    }
    GC_TRY(gc_options_get_double(o, "bico-ridge", 0.0, 1e300, &opt->ridge));
    if (!(opt->ridge > 0.0))
        return gc_fail(GC_ERR_USAGE, "option --bico-ridge: λ = %s must be positive", gc_options_get(o, "bico-ridge"));
    GC_TRY(gc_options_get_bool(o, "bico-weights", &opt->weighted));
    /* batch 0: the default, sized by k (select_bico.h) */
    if (gc_options_is_set(o, "batch")) GC_TRY(gc_options_get_long(o, "batch", 1, GC_BICO_MAX_BATCH, &batch));
    GC_TRY(gc_options_get_choice(o, "eig", GC_EIG_NAMES, &eig));
    opt->landmarks = (int)landmarks;
    opt->batch = (int)batch;
    opt->eig = (gc_eig_kind)eig;
    return GC_OK;
}
