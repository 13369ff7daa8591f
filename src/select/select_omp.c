#include "select_omp.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "candidates.h"
#include "core/comm.h"
#include "core/error.h"
#include "core/log.h"
#include "kernels/cpu/omp_cpu.h"
#include "src/linalg/nnls.h"

/* This rank's rows as every problem scores them: on the device through the OMP ops (the rows and
 * their weights live there), or on the CPU twins. */
typedef struct {
    gc_backend *backend; /* has the OMP ops; NULL scores on the CPU */
    gc_omp_device *device;
    const int32_t *problem;     /* [n] each row's problem (its class), NULL: one problem */
    double *w;                  /* CPU: [n] 1/‖e‖ while eligible, else 0 */
    float *work;                /* CPU: [n] */
    int *want;                  /* [G] candidates each problem wants from this pass's scoring */
    gc_omp_pair *found;         /* [G × count] each problem's best candidates here, global rows */
    int64_t *excluded;          /* [G × count] this pass's winners owned here, local rows */
    int32_t *excluded_problems; /* and their problems */
    int excluded_count;
    /* The rows of this pass's offered candidates, fetched at once (fetch_offered): one gather a pass
     * from the device when E lives there alone (docs/design.md §3.2). */
    int64_t *offered;       /* [G × count] local rows */
    char **offered_payload; /* where each one's D floats go */
    float *offered_rows;    /* [G × count × D] rows gathered on the device */
    int offered_count;
} omp_scorer;

typedef struct {
    float loss;
    int32_t label;
} atom_header;

/* One OMP problem (a class, or all rows): its target, its fit and its share of the coreset. */
typedef struct {
    int id;
    int64_t budget, start; /* its atoms go to coreset slots [start, start + budget) until the end */
    int64_t m, replay;     /* atoms in; logged atoms to replay on a restart */
    int64_t local_rows;    /* this rank's rows of it */
    const double *target;
    double *r; /* [D] its residual r = g − E_I γ, in the selection's [G × D] residuals */
    double g_norm, scale, rel;
    int dependent, exhausted;
    int active; /* takes part in this pass */
    int listed; /* was active at the start of the previous pass: has a list in this pass's reduction */
    gc_refit *f;
    double *atoms, *gamma; /* [budget × D], [budget] */
    int want;              /* candidates this pass */
    int pending, added;    /* this pass's winners waiting for the fit; those it took */
    int status;            /* a local failure of this pass's replicated refit */
    double flops;          /* this pass's refit flops on this rank (refit_flops) */
} omp_problem;

/* What one selection carries from pass to pass. */
typedef struct {
    const gc_local_rows *rows;
    const gc_omp_options *opt;
    const gc_run_context *run;
    int problems;
    omp_problem *p;    /* [problems] */
    double *residuals; /* [problems × D] */
    omp_scorer scorer;
    int64_t passes;
    gc_candidate_merge merge; /* one list per listed problem; a candidate's payload: atom_header, its D floats */
    gc_omp_pair *winners;     /* [problems × count] each problem's winners, best first; the first
                                 problem's slice is also the restart's scratch list */
    atom_header *headers;     /* [problems × count] their label and loss */
    double *rhs;              /* [problems × count] ⟨a, g⟩ of each winner, for the refit */
    int *taken;               /* [problems] the problems whose winners a pass took, in order */
} omp_context;

static int has_device_ops(const gc_backend *b) { return b != NULL && b->ops->omp_attach != NULL; }

/* Bytes of one value of E as the scorer reads it. */
static double value_bytes(const omp_context *ctx)
{
    return gc_backend_value_bytes(ctx->run->backend, has_device_ops(ctx->run->backend));
}

/* ---- the scorer -------------------------------------------------------------------------------- */

/* Row setup, once for every problem: the rows' weights 1/‖e‖ (0 for zero rows: never selected) and
 * *max_abs = the largest |e_ij|, on the device when the backend scores there (its resident copy of
 * the rows: neither gathered nor copied here), else on the CPU. */
static int scorer_open(omp_context *ctx, double *max_abs)
{
    omp_scorer *s = &ctx->scorer;
    const gc_local_rows *rows = ctx->rows;
    const size_t G = (size_t)ctx->problems, slots = G * (size_t)ctx->merge.count;
    *max_abs = 0.0;
    s->problem = ctx->opt->per_class ? rows->y : NULL;
    s->want = gc_calloc(G, sizeof *s->want);
    s->found = gc_malloc(slots * sizeof *s->found);
    s->excluded = gc_malloc(slots * sizeof *s->excluded);
    s->excluded_problems = gc_malloc(slots * sizeof *s->excluded_problems);
    s->offered = gc_malloc(slots * sizeof *s->offered);
    s->offered_payload = gc_malloc(slots * sizeof *s->offered_payload);
    if (!s->want || !s->found || !s->excluded || !s->excluded_problems || !s->offered || !s->offered_payload)
        return gc_fail(GC_ERR_MEMORY, "out of memory for OMP's %zu problems", G);
    if (rows->e == NULL) { /* E lives on the device alone: the winners' rows come from there */
        const gc_backend *b = ctx->run->backend;
        if (!has_device_ops(b) || b->ops->rows_get == NULL)
            return gc_fail(GC_ERR_DEVICE, "OMP: the embeddings are on a device this backend cannot score on");
        s->offered_rows = gc_malloc(slots * (size_t)rows->D * sizeof *s->offered_rows);
        if (s->offered_rows == NULL) return gc_fail(GC_ERR_MEMORY, "out of memory for OMP's %zu candidates", slots);
    }
    if (has_device_ops(ctx->run->backend)) {
        s->backend = ctx->run->backend;
        return s->backend->ops->omp_attach(s->backend, rows->n_local, rows->D, rows->e, s->problem, ctx->problems,
                                           max_abs, &s->device);
    }
    const size_t n = (size_t)(rows->n_local > 0 ? rows->n_local : 1);
    s->w = gc_malloc(n * sizeof *s->w);
    s->work = gc_malloc(n * sizeof *s->work);
    if (s->w == NULL || s->work == NULL)
        return gc_fail(GC_ERR_MEMORY, "out of memory for the weights of %lld rows", (long long)rows->n_local);
    *max_abs = gc_cpu_omp_weights(rows->e, rows->n_local, rows->D, s->w);
    return GC_OK;
}

static void scorer_close(omp_scorer *s)
{
    if (s->device != NULL) s->backend->ops->omp_detach(s->backend, s->device);
    free(s->w);
    free(s->work);
    free(s->want);
    free(s->found);
    free(s->excluded);
    free(s->excluded_problems);
    free(s->offered);
    free(s->offered_payload);
    free(s->offered_rows);
}

/* One pass over the rows of every problem with s->want[g] > 0: their best candidates for their
 * residuals into s->found, as global rows. */
static int score_pass(omp_context *ctx)
{
    omp_scorer *s = &ctx->scorer;
    const gc_local_rows *rows = ctx->rows;
    const int count = ctx->merge.count, signed_scores = ctx->opt->nonneg;
    double bytes = 0.0;
    for (int g = 0; g < ctx->problems; ++g)
        if (s->want[g] > 0) bytes += (double)ctx->p[g].local_rows * rows->D * value_bytes(ctx);
    gc_phases *phases = ctx->run->phases;
    gc_phase_begin(phases, "score");
    int status =
        s->device != NULL
            ? s->backend->ops->omp_best(s->backend, s->device, ctx->residuals, signed_scores, s->want, count, s->found)
            : gc_cpu_omp_best(rows->e, rows->n_local, rows->D, s->problem, ctx->problems, ctx->residuals, s->w,
                              signed_scores, s->want, count, s->work, s->found);
    for (size_t t = 0; t < (size_t)ctx->problems * count && status == GC_OK; ++t)
        if (s->found[t].index != INT64_MAX) s->found[t].index += rows->lo;
    ctx->passes++;
    /* One read of the active rows at their stored width and a multiply-add per element. */
    gc_phase_end(phases, bytes, bytes / value_bytes(ctx) * 2.0);
    return status;
}

/* The pass's winners owned here are never candidates again. */
static int exclude_winners(omp_scorer *s)
{
    int status = GC_OK;
    if (s->device != NULL)
        status = s->backend->ops->omp_exclude(s->backend, s->device, s->excluded_count, s->excluded,
                                              s->problem != NULL ? s->excluded_problems : NULL);
    else
        for (int t = 0; t < s->excluded_count; ++t) s->w[s->excluded[t]] = 0.0;
    s->excluded_count = 0;
    return status;
}

/* ---- targets ----------------------------------------------------------------------------------- */

/* targets [G × D]: targets[g·D + j] = Σ over rows of problem g of e_ij, bitwise the same for any split
 * of the rows over ranks, threads or devices: integer sums on one grid fixed by the global max_abs
 * (gc_exact_sum, core/comm.h), made where the scorer keeps the rows. Collective. */
static int problem_targets(omp_context *ctx, double max_abs, double *targets)
{
    const gc_local_rows *rows = ctx->rows;
    const omp_scorer *s = &ctx->scorer;
    double global_max = max_abs;
    GC_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, &global_max, 1, MPI_DOUBLE, MPI_MAX, rows->comm));
    gc_exact_sum total = { 0 };
    int status = gc_exact_sum_create(&total, ctx->problems * rows->D, global_max);
    if (status == GC_OK)
        status = s->device != NULL ? s->backend->ops->omp_targets(s->backend, s->device, total.scale, total.acc)
                                   : gc_cpu_omp_targets(rows->e, rows->n_local, rows->D, s->problem, ctx->problems,
                                                        total.scale, total.acc);
    status = gc_comm_agree(rows->comm, status);
    if (status == GC_OK) status = gc_exact_sum_allreduce(&total, rows->comm, targets);
    gc_exact_sum_destroy(&total);
    return status;
}

/* ---- the merge of a pass ---------------------------------------------------------------------- */

/* List `list` of the merge's local lists ← pairs (best first, global rows; NULL: an empty list),
 * each with its atom (label, loss, row) as payload, so the winners reach every rank with the
 * reduction itself. A GC_OMP_NONE entry carries no payload. The rows follow in fetch_offered. */
static void offer(omp_context *ctx, int list, const gc_omp_pair *pairs)
{
    const gc_local_rows *rows = ctx->rows;
    gc_candidate_merge *m = &ctx->merge;
    omp_scorer *s = &ctx->scorer;
    char *mine = gc_candidate_list(m, m->local, list);
    for (int t = 0; t < m->count; ++t) {
        const gc_omp_pair pair = pairs != NULL ? pairs[t] : GC_OMP_NONE;
        *gc_candidate_pair(m, mine, t) = pair;
        if (pair.index == INT64_MAX) continue;
        const int64_t i = pair.index - rows->lo;
        char *payload = gc_candidate_payload(m, mine, t);
        const atom_header h = { rows->loss[i], rows->y[i] };
        memcpy(payload, &h, sizeof h);
        s->offered[s->offered_count] = i;
        s->offered_payload[s->offered_count++] = payload + sizeof h;
    }
}

/* The offered candidates' rows into their payloads: copied from host E, or gathered on the device
 * when E lives there alone (rows->e NULL). */
static int fetch_offered(omp_context *ctx)
{
    omp_scorer *s = &ctx->scorer;
    const size_t D = (size_t)ctx->rows->D;
    const int count = s->offered_count;
    s->offered_count = 0;
    if (ctx->rows->e == NULL) {
        GC_TRY(s->backend->ops->rows_get(s->backend, count, s->offered, s->offered_rows));
        for (int t = 0; t < count; ++t) memcpy(s->offered_payload[t], s->offered_rows + t * D, D * sizeof(float));
        return GC_OK;
    }
    for (int t = 0; t < count; ++t) memcpy(s->offered_payload[t], ctx->rows->e + s->offered[t] * D, D * sizeof(float));
    return GC_OK;
}

/* Restart: the logged atoms stand in for a pass's winners. Each owner offers its logged atoms with
 * scores that fall in log order (want − t for the t-th), so the merge returns them in that order,
 * rows attached, as a scored pass would. */
static void offer_logged(omp_context *ctx, int list, const int64_t *logged, int want)
{
    const gc_local_rows *rows = ctx->rows;
    int u = 0;
    for (int t = 0; t < ctx->merge.count; ++t) ctx->winners[t] = GC_OMP_NONE;
    for (int t = 0; t < want; ++t)
        if (gc_comm_row_owner(rows->n_global, rows->size, logged[t]) == rows->rank)
            ctx->winners[u++] = (gc_omp_pair){ (double)(want - t), logged[t] };
    offer(ctx, list, ctx->winners);
}

/* Problem p's slices of the winners' scratch. */
static gc_omp_pair *problem_winners(const omp_context *ctx, const omp_problem *p)
{
    return ctx->winners + (size_t)p->id * ctx->merge.count;
}

static atom_header *problem_headers(const omp_context *ctx, const omp_problem *p)
{
    return ctx->headers + (size_t)p->id * ctx->merge.count;
}

/* Problem p's winners from merged list `list`, best first: their rows into `embedding` (float) and
 * `atoms` (double), [p->want × D] each, their pairs, labels and losses into p's slices of
 * ctx->winners and ctx->headers; the ones owned here join the scorer's exclusions. Returns how many
 * there are. */
static int take_winners(omp_context *ctx, const omp_problem *p, int list, float *embedding, double *atoms)
{
    const gc_local_rows *rows = ctx->rows;
    gc_candidate_merge *m = &ctx->merge;
    omp_scorer *s = &ctx->scorer;
    char *merged = gc_candidate_list(m, m->global, list);
    gc_omp_pair *winners = problem_winners(ctx, p);
    atom_header *headers = problem_headers(ctx, p);
    const int D = rows->D;
    int n = 0;
    for (; n < p->want && gc_candidate_pair(m, merged, n)->index != INT64_MAX; ++n) {
        const int64_t index = gc_candidate_pair(m, merged, n)->index;
        const char *payload = gc_candidate_payload(m, merged, n);
        winners[n] = *gc_candidate_pair(m, merged, n);
        memcpy(&headers[n], payload, sizeof(atom_header));
        memcpy(embedding + (size_t)n * D, payload + sizeof(atom_header), (size_t)D * sizeof(float));
        for (int j = 0; j < D; ++j) atoms[(size_t)n * D + j] = embedding[(size_t)n * D + j];
        if (gc_comm_row_owner(rows->n_global, rows->size, index) != rows->rank) continue;
        s->excluded[s->excluded_count] = index - rows->lo;
        s->excluded_problems[s->excluded_count++] = p->id;
    }
    for (int t = n; t < p->want; ++t) winners[t] = GC_OMP_NONE;
    return n;
}

/* ---- the fit of one problem ------------------------------------------------------------------- */

/* γ for the problem's atoms: the Cholesky solve, or NNLS warm-started from the previous γ (the new
 * atom's entry starts at 0). Then r = g − E_I γ. Identical on every rank. */
static int refit(const gc_omp_options *opt, omp_problem *p, int D)
{
    const int m = (int)gc_refit_count(p->f);
    if (opt->nonneg) {
        int ld;
        const double *G = gc_refit_gram(p->f, &ld);
        GC_TRY(gc_nnls(m, G, ld, gc_refit_rhs(p->f), p->gamma));
    } else {
        GC_TRY(gc_refit_solve(p->f, p->gamma));
    }
    memcpy(p->r, p->target, (size_t)D * sizeof *p->r);
    cblas_dgemv(CblasRowMajor, CblasTrans, m, D, -1.0, p->atoms, D, p->gamma, 1, 1.0, p->r, 1);
    return GC_OK;
}

/* Problem p's winners of this pass (merged list `list`) wait in its slices for fit_winners: their
 * rows at p->atoms[m …), their pairs and headers in its slices of ctx->winners and ctx->headers. */
static void take_pass_winners(omp_context *ctx, omp_problem *p, int list, gc_coreset *cs)
{
    const int D = ctx->rows->D;
    p->pending = take_winners(ctx, p, list, cs->embedding + (p->start + p->m) * D, p->atoms + p->m * D);
    p->exhausted = p->m >= p->replay && p->pending == 0;
    p->added = 0;
    p->status = GC_OK;
    p->flops = 0.0;
}

/* The least FP64 work of appending one atom to a fit of m atoms of width D and refitting: its
 * ⟨a, g⟩ and Gram column (2D + 2mD), the factor's new row (m²: one triangular solve), the solve for
 * γ (2(m + 1)²: two, the least NNLS does too) and the residual r = g − E_I γ (2(m + 1)D). A
 * distributed refit shares it among the ranks. */
static double refit_flops(int64_t m, int D, int ranks)
{
    const double a = (double)m, b = a + 1.0;
    return (2.0 * D + 2.0 * a * D + a * a + 2.0 * b * b + 2.0 * b * D) / ranks;
}

/* Whether p's refit, grown by `count` atoms, runs its BLAS calls on one thread: a replicated one of
 * at most GC_REFIT_SERIAL_VALUES values. */
static int serial_refit(const omp_problem *p, int64_t count, int D)
{
    return !gc_refit_is_distributed(p->f) && (p->m + count) * D <= GC_REFIT_SERIAL_VALUES;
}

/* Problem p's waiting winners join its fit: one at a time with a refit after each (replicated), or as
 * one block and one refit (ScaLAPACK). `own_threads`: set OpenBLAS to one thread around each small
 * refit (serial_refit), as a problem fitted alone does; a caller that fits problems side by side has
 * set one thread for all of them. Touches only p's state, slices and coreset slots, so problems fit
 * at once on different threads. A replicated refit's failure is local: it lands in p->status, for
 * the next reduction, and GC_OK is returned; a distributed refit's is returned (every rank saw it). */
static int fit_winners(omp_context *ctx, omp_problem *p, gc_coreset *cs, int own_threads)
{
    const gc_omp_options *opt = ctx->opt;
    const int D = ctx->rows->D;
    gc_omp_pair *winners = problem_winners(ctx, p);
    atom_header *headers = problem_headers(ctx, p);
    double *rhs = ctx->rhs + (size_t)p->id * ctx->merge.count;
    const int block = gc_refit_is_distributed(p->f) ? p->want : 1;
    int first = 0, status = GC_OK;
    while (p->pending > 0 && status == GC_OK && p->rel > opt->tol) {
        const int64_t count = p->pending < block ? p->pending : block;
        int64_t taken = 0;
        const int serial = own_threads && serial_refit(p, count, D);
        const int threads = serial ? openblas_get_num_threads() : 0;
        if (serial) openblas_set_num_threads(1);
        for (int64_t t = 0; t < count; ++t) rhs[t] = cblas_ddot(D, p->atoms + (p->m + t) * D, 1, p->target, 1);
        status = gc_refit_append(p->f, p->atoms, count, rhs, &taken);
        if (status == GC_OK && taken > 0) status = refit(opt, p, D);
        if (serial) openblas_set_num_threads(threads);
        if (status != GC_OK && !gc_refit_is_distributed(p->f)) { /* local: agreed at the next reduction */
            p->status = status;
            return GC_OK;
        }
        if (status == GC_OK && taken > 0) p->rel = cblas_dnrm2(D, p->r, 1) / p->scale;
        const int ranks = gc_refit_is_distributed(p->f) ? ctx->rows->size : 1;
        for (int64_t t = 0; t < taken && status == GC_OK; ++t, ++first, ++p->added, --p->pending) {
            p->flops += refit_flops(p->m, D, ranks);
            const int64_t slot = p->start + p->m++;
            cs->index[slot] = winners[first].index;
            cs->label[slot] = headers[first].label;
            cs->loss[slot] = headers[first].loss;
            cs->gain[slot] = p->rel; /* with a block: the residual after the whole block */
        }
        if (status == GC_OK && taken < count) { /* the next candidate depends on the atoms in: drop it */
            const int left = --p->pending;
            const int64_t slot = p->start + p->m;
            memmove(p->atoms + p->m * D, p->atoms + (p->m + 1) * D, (size_t)left * D * sizeof *p->atoms);
            memmove(cs->embedding + slot * D, cs->embedding + (slot + 1) * D, (size_t)left * D * sizeof *cs->embedding);
            memmove(winners + first, winners + first + 1, (size_t)left * sizeof *winners);
            memmove(headers + first, headers + first + 1, (size_t)left * sizeof *headers);
        }
    }
    p->dependent = status == GC_OK && !p->exhausted && p->added == 0;
    return status;
}

/* Every taken problem's fit (`taken`: their ids, in problem order), booked to "refit": the
 * distributed refits in turn (collective), then the small replicated ones side by side, one problem
 * a thread and one BLAS thread each (gmc at C = 100: a hundred NNLS refits a pass, docs/design.md
 * §4.2), then the large ones in turn with threaded BLAS. Which refits run on one BLAS thread is the
 * same as fitting every problem alone, so the bits are too. Then the local failures in problem order
 * (the first into *local_status) and, while there is none, each problem's new atoms into the
 * checkpoint's log. */
static int fit_pass(omp_context *ctx, const int *taken, int count, gc_coreset *cs, int *local_status)
{
    const int D = ctx->rows->D;
    int status = GC_OK, small = 0;
    gc_phase_begin(ctx->run->phases, "refit");
    for (int t = 0; t < count && status == GC_OK; ++t) {
        omp_problem *p = &ctx->p[taken[t]];
        if (gc_refit_is_distributed(p->f)) status = fit_winners(ctx, p, cs, 1);
        small += serial_refit(p, p->pending, D);
    }
    if (status == GC_OK && small > 0) {
        const int threads = openblas_get_num_threads();
        openblas_set_num_threads(1);
#pragma omp parallel for schedule(dynamic, 1)
        for (int t = 0; t < count; ++t) {
            omp_problem *p = &ctx->p[taken[t]];
            if (serial_refit(p, p->pending, D)) (void)fit_winners(ctx, p, cs, 0); /* replicated: into p->status */
        }
        openblas_set_num_threads(threads);
    }
    for (int t = 0; t < count && status == GC_OK; ++t) {
        omp_problem *p = &ctx->p[taken[t]];
        if (!gc_refit_is_distributed(p->f) && !serial_refit(p, p->pending, D)) status = fit_winners(ctx, p, cs, 1);
    }
    double flops = 0.0;
    for (int t = 0; t < count; ++t) flops += ctx->p[taken[t]].flops;
    gc_phase_count_host_flops(ctx->run->phases, flops);
    gc_phase_end(ctx->run->phases, 0, 0);
    for (int t = 0; t < count && status == GC_OK; ++t) {
        omp_problem *p = &ctx->p[taken[t]];
        if (*local_status == GC_OK) *local_status = p->status;
        if (*local_status == GC_OK && ctx->run->checkpoint != NULL && p->m > p->replay && p->added > 0)
            *local_status = gc_checkpoint_append(ctx->run->checkpoint, p->id, cs->index + p->start + p->m - p->added,
                                                 (size_t)p->added * sizeof(int64_t));
    }
    return status;
}

/* ---- restart log ------------------------------------------------------------------------------ */

/* Restart: after each pass every rank logs the global indices of the atoms the pass added to each
 * problem (record id = problem; a problem's records concatenate in order). Replaying them (the owners
 * offer them, every rank appends and refits, no scoring) rebuilds the factor, γ and r exactly: the
 * same operations in the same order. */
typedef struct {
    int problems;
    int64_t *count;  /* [problems] atoms in the newest intact record */
    int64_t **atoms; /* [problems] their global indices */
} omp_log;

static void remember_atoms(void *ctx, int64_t id, const void *payload, size_t bytes)
{
    omp_log *log = ctx;
    if (id < 0 || id >= log->problems || bytes % sizeof(int64_t) != 0 || log->count[id] < 0) return;
    int64_t n = (int64_t)(bytes / sizeof(int64_t));
    int64_t *grown = gc_realloc(log->atoms[id], (size_t)(log->count[id] + n) * sizeof *grown);
    if (grown == NULL) { /* keep what came before: a shorter replay only costs recomputing */
        return;
    }
    memcpy(grown + log->count[id], payload, bytes);
    log->atoms[id] = grown;
    log->count[id] += n;
}

/* Collective: this rank's log, then per problem the shortest count over ranks (a job killed
 * mid-write may have left ranks one record apart; their lists agree on every common prefix). */
static int load_omp_log(gc_checkpoint *checkpoint, MPI_Comm comm, int problems, omp_log *log)
{
    log->problems = problems;
    log->count = gc_calloc((size_t)problems, sizeof *log->count);
    log->atoms = gc_calloc((size_t)problems, sizeof *log->atoms);
    int status = (log->count && log->atoms) ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory for the OMP log");
    if (status == GC_OK && checkpoint != NULL)
        status = gc_checkpoint_load(checkpoint, "omp-atoms", remember_atoms, log);
    status = gc_comm_agree(comm, status);
    if (status == GC_OK &&
        GC_MPI(MPI_Allreduce(MPI_IN_PLACE, log->count, problems, MPI_INT64_T, MPI_MIN, comm)) != MPI_SUCCESS)
        status = gc_fail(GC_ERR_LIB, "MPI error agreeing on the OMP checkpoint");
    return status;
}

static void free_omp_log(omp_log *log)
{
    for (int g = 0; log->atoms && g < log->problems; ++g) free(log->atoms[g]);
    free(log->atoms);
    free(log->count);
}

/* ---- passes ----------------------------------------------------------------------------------- */

/* Marks the problems that take part in the next pass (a problem that stops never resumes) and
 * returns how many. Every rank holds the same state, so all mark alike. */
static int mark_active(omp_context *ctx)
{
    int active = 0;
    for (int g = 0; g < ctx->problems; ++g) {
        omp_problem *p = &ctx->p[g];
        p->active = p->active && p->m < p->budget && p->rel > ctx->opt->tol && !p->dependent && !p->exhausted;
        active += p->active;
    }
    return active;
}

/* One pass of every active problem: the scoring of those that are not replaying their log, then
 * one reduction of every listed problem's candidates (with the ranks' status), then every active
 * problem's winners taken in problem order and fitted (fit_pass). On a failed reduction, *broke is
 * set. */
static int run_pass(omp_context *ctx, const omp_log *log, int lists, gc_coreset *cs, int *local_status, int *broke)
{
    const gc_omp_options *opt = ctx->opt;
    omp_scorer *s = &ctx->scorer;
    int scoring = 0;
    for (int g = 0; g < ctx->problems; ++g) {
        omp_problem *p = &ctx->p[g];
        p->want = !p->active ? 0 : (int)(p->budget - p->m < opt->batch ? p->budget - p->m : opt->batch);
        if (p->m < p->replay && p->replay - p->m < p->want) p->want = (int)(p->replay - p->m);
        s->want[g] = p->m < p->replay ? 0 : p->want;
        scoring += s->want[g] > 0;
    }
    if (*local_status == GC_OK && scoring > 0) *local_status = score_pass(ctx); /* keeps an earlier failure */
    /* A rank whose own work failed offers nothing: the reduction stops every rank. */
    for (int g = 0, list = 0; g < ctx->problems; ++g) {
        const omp_problem *p = &ctx->p[g];
        if (!p->listed) continue;
        if (*local_status != GC_OK || !p->active)
            offer(ctx, list, NULL);
        else if (p->m < p->replay) /* restart: the logged atoms stand in for this pass's winners */
            offer_logged(ctx, list, log->atoms[g] + p->m, p->want);
        else
            offer(ctx, list, s->found + (size_t)g * ctx->merge.count);
        ++list;
    }
    const int fetched = fetch_offered(ctx);
    if (*local_status == GC_OK) *local_status = fetched;
    gc_phases *phases = ctx->run->phases;
    gc_phase_begin(phases, "merge");
    gc_phase_bound(phases, GC_FLOOR_HOST);
    int status = gc_candidate_merge_allreduce_lists(&ctx->merge, lists, *local_status, ctx->rows->comm);
    gc_phase_end(phases, gc_candidate_merge_bytes(&ctx->merge, lists), 0);
    if (status != GC_OK) {
        *broke = 1;
        return status;
    }
    int taken = 0;
    for (int g = 0, list = 0; g < ctx->problems; ++g) {
        omp_problem *p = &ctx->p[g];
        if (p->listed && p->active) {
            take_pass_winners(ctx, p, list, cs);
            ctx->taken[taken++] = g;
        }
        list += p->listed;
    }
    status = fit_pass(ctx, ctx->taken, taken, cs, local_status);
    const int excluded = exclude_winners(s);
    if (*local_status == GC_OK) *local_status = excluded;
    return status;
}

/* Passes until every problem has stopped. One collective a pass: a reduction whose lists are the
 * problems active at the start of the previous pass. A rank whose own work failed (local_status)
 * keeps going to the next reduction, which carries its status to every rank, instead of deciding on
 * its own to leave the loop; ranks that leave it normally meet such a rank in the closing
 * reduction. A failure can have left only this pass's state unsettled on its rank, so every rank
 * knows how many problems the previous pass began with: every rank enters the same collectives,
 * with lists of the same shape. */
static int run_passes(omp_context *ctx, const omp_log *log, gc_coreset *cs)
{
    int status = GC_OK, local_status = GC_OK, broke = 0;
    for (int g = 0; g < ctx->problems; ++g) ctx->p[g].active = ctx->p[g].budget > 0;
    int lists = mark_active(ctx); /* the first pass's reduction: its own problems */
    for (int g = 0; g < ctx->problems; ++g) ctx->p[g].listed = ctx->p[g].active;
    for (;;) {
        const int active = mark_active(ctx);
        if (status != GC_OK || (local_status == GC_OK && active == 0)) break;
        status = run_pass(ctx, log, lists > 0 ? lists : 1, cs, &local_status, &broke);
        if (broke) break;
        lists = active; /* the next reduction's lists: this pass's problems */
        for (int g = 0; g < ctx->problems; ++g) ctx->p[g].listed = ctx->p[g].active;
    }
    if (!broke) {
        for (int l = 0; l < (lists > 0 ? lists : 1); ++l) offer(ctx, l, NULL);
        status = gc_candidate_merge_allreduce_lists(&ctx->merge, lists > 0 ? lists : 1,
                                                    status != GC_OK ? status : local_status, ctx->rows->comm);
    }
    return status;
}

/* ---- the selection ---------------------------------------------------------------------------- */

/* The shared parts of a selection of G problems with these budgets; ctx->p[g] starts at its budget's
 * slots, target and residual. Not collective. */
static int context_create(omp_context *ctx, const gc_run_context *run, const gc_local_rows *rows,
                          const gc_omp_options *opt, int problems, const int64_t *local_sizes, const int64_t *budgets,
                          const double *targets)
{
    memset(ctx, 0, sizeof *ctx);
    /* The MPI handles' "none" values are not zero bits: set them before any return. */
    ctx->merge = (gc_candidate_merge){ .list_type = MPI_DATATYPE_NULL, .op = MPI_OP_NULL };
    ctx->rows = rows;
    ctx->opt = opt;
    ctx->run = run;
    ctx->problems = problems;
    int64_t largest = 1;
    int lists = 0;
    for (int g = 0; g < problems; ++g) {
        largest = budgets[g] > largest ? budgets[g] : largest;
        lists += budgets[g] > 0;
    }
    /* A list holds what one pass may add to a problem: the batch, or the largest budget if less. */
    const int count = (int)(largest < opt->batch ? largest : opt->batch);
    ctx->p = gc_calloc((size_t)problems, sizeof *ctx->p);
    ctx->residuals = gc_calloc((size_t)problems * rows->D, sizeof *ctx->residuals);
    const size_t slots = (size_t)problems * count;
    ctx->winners = gc_malloc(slots * sizeof *ctx->winners);
    ctx->headers = gc_malloc(slots * sizeof *ctx->headers);
    ctx->rhs = gc_malloc(slots * sizeof *ctx->rhs);
    ctx->taken = gc_malloc((size_t)problems * sizeof *ctx->taken);
    if (!ctx->p || !ctx->residuals || !ctx->winners || !ctx->headers || !ctx->rhs || !ctx->taken)
        return gc_fail(GC_ERR_MEMORY, "out of memory for OMP");
    for (int64_t g = 0, start = 0; g < problems; start += budgets[g++]) {
        omp_problem *p = &ctx->p[g];
        p->id = g;
        p->budget = budgets[g];
        p->start = start;
        p->target = targets + (size_t)g * rows->D;
        p->r = ctx->residuals + (size_t)g * rows->D;
    }
    for (int g = 0; g < problems; ++g) ctx->p[g].local_rows = local_sizes[g];
    return gc_candidate_merge_create_lists(&ctx->merge, lists, count,
                                           sizeof(atom_header) + (size_t)rows->D * sizeof(float));
}

static void context_destroy(omp_context *ctx)
{
    for (int g = 0; ctx->p != NULL && g < ctx->problems; ++g) {
        gc_refit_destroy(ctx->p[g].f);
        free(ctx->p[g].atoms);
        free(ctx->p[g].gamma);
    }
    scorer_close(&ctx->scorer);
    gc_candidate_merge_destroy(&ctx->merge);
    free(ctx->p);
    free(ctx->residuals);
    free(ctx->winners);
    free(ctx->headers);
    free(ctx->rhs);
    free(ctx->taken);
}

/* Each problem's starting point (r = g) and its refit, problem by problem (the ScaLAPACK refit sets up
 * its grid collectively). Collective. */
static int open_problems(omp_context *ctx, const omp_log *log)
{
    const gc_local_rows *rows = ctx->rows;
    const gc_omp_options *opt = ctx->opt;
    const int D = rows->D;
    int status = GC_OK;
    for (int g = 0; g < ctx->problems && status == GC_OK; ++g) {
        omp_problem *p = &ctx->p[g];
        memcpy(p->r, p->target, (size_t)D * sizeof *p->r);
        p->g_norm = cblas_dnrm2(D, p->target, 1);
        p->scale = p->g_norm > 0.0 ? p->g_norm : 1.0; /* g = 0: absolute */
        p->rel = p->g_norm / p->scale;
        p->replay = log->count[g] < p->budget ? log->count[g] : p->budget;
        if (p->budget == 0) continue;
        status = gc_refit_create(opt->refit, p->budget, D, opt->ridge, opt->nonneg, rows->comm, &p->f);
        p->atoms = gc_malloc((size_t)p->budget * D * sizeof *p->atoms);
        p->gamma = gc_calloc((size_t)p->budget, sizeof *p->gamma);
        if (status == GC_OK && (p->atoms == NULL || p->gamma == NULL))
            status = gc_fail(GC_ERR_MEMORY, "out of memory for %lld atoms", (long long)p->budget);
        status = gc_comm_agree(rows->comm, status);
    }
    return status;
}

/* Why problem p stopped short of its budget, on stderr (rank 0). */
static void report_stop(const gc_omp_options *opt, const omp_problem *p)
{
    const char *why = p->rel <= opt->tol ? "the tolerance is met"
                      : p->exhausted     ? "no rows with a nonzero embedding are left"
                                         : "the best candidates lie in the span of the atoms already in "
                                           "(--ridge > 0 reaches the budget)";
    char problem[32] = "select";
    if (opt->per_class) snprintf(problem, sizeof problem, "select: class %d", p->id);
    gc_info("%s stops at %lld of %lld atoms (‖r‖/‖g‖ = %.3g): %s", problem, (long long)p->m, (long long)p->budget,
            p->rel, why);
}

/* The coreset from the problems' slots: γ as weights, then every problem's atoms moved up behind the
 * previous problem's (classes in order), as if the problems had run one after another. */
static void finish_coreset(const omp_context *ctx, gc_coreset *cs)
{
    const int D = ctx->rows->D;
    int64_t slot = 0;
    for (int g = 0; g < ctx->problems; ++g) {
        const omp_problem *p = &ctx->p[g];
        for (int64_t j = 0; j < p->m; ++j) cs->weight[p->start + j] = p->gamma[j];
        memmove(cs->index + slot, cs->index + p->start, (size_t)p->m * sizeof *cs->index);
        memmove(cs->label + slot, cs->label + p->start, (size_t)p->m * sizeof *cs->label);
        memmove(cs->loss + slot, cs->loss + p->start, (size_t)p->m * sizeof *cs->loss);
        memmove(cs->gain + slot, cs->gain + p->start, (size_t)p->m * sizeof *cs->gain);
        memmove(cs->weight + slot, cs->weight + p->start, (size_t)p->m * sizeof *cs->weight);
        memmove(cs->embedding + slot * D, cs->embedding + p->start * D, (size_t)p->m * D * sizeof *cs->embedding);
        slot += p->m;
        if (p->m < p->budget) report_stop(ctx->opt, p);
    }
    cs->k = slot;
}

/* The problems' sizes on this rank (local_sizes) and in all, their budgets (per class by budget.h, or
 * all of k), into cs. Collective. */
static int problem_budgets(const gc_local_rows *rows, const gc_omp_options *opt, int problems, int64_t k,
                           int64_t *local_sizes, int64_t *sizes, int64_t *budgets, gc_coreset *cs)
{
    gc_count_classes(opt->per_class ? rows->y : NULL, rows->n_local, problems, local_sizes);
    GC_CHECK_MPI(MPI_Allreduce(local_sizes, sizes, problems, MPI_INT64_T, MPI_SUM, rows->comm));
    int status = GC_OK;
    if (opt->per_class)
        status = gc_class_budgets(sizes, problems, k, budgets);
    else
        budgets[0] = k;
    memcpy(cs->budgets, budgets, (size_t)problems * sizeof *budgets);
    memcpy(cs->class_sizes, sizes, (size_t)problems * sizeof *sizes);
    return gc_comm_agree(rows->comm, status);
}

/* Row setup, once for all problems: the scorer (weights on the device or the CPU) and, unless given,
 * the targets. Collective. */
static int set_up_rows(omp_context *ctx, double *targets)
{
    const gc_local_rows *rows = ctx->rows;
    const int computed = ctx->opt->targets == NULL;
    gc_phases *phases = ctx->run->phases;
    double max_abs = 0.0, bytes = (double)rows->n_local * rows->D * value_bytes(ctx);
    gc_phase_begin(phases, "row-setup");
    int status = gc_comm_agree(rows->comm, scorer_open(ctx, &max_abs));
    if (status == GC_OK && computed) status = problem_targets(ctx, max_abs, targets);
    /* One read of the rows for their weights, one more for the targets. */
    gc_phase_end(phases, computed ? 2.0 * bytes : bytes, 0);
    return status;
}

int gc_select_omp(const gc_run_context *run, const gc_local_rows *rows, const gc_omp_options *opt, int64_t k,
                  gc_coreset *cs)
{
    const int D = rows->D, problems = opt->per_class ? rows->classes : 1;
    if (opt->batch < 1 || opt->batch > GC_OMP_MAX_BATCH)
        return gc_fail(GC_ERR_USAGE, "option --batch: %d is not in 1..%d", opt->batch, GC_OMP_MAX_BATCH);
    omp_context ctx = { .merge = { .list_type = MPI_DATATYPE_NULL, .op = MPI_OP_NULL } };
    omp_log log = { 0, NULL, NULL };
    int64_t *local_sizes = gc_calloc((size_t)problems, sizeof *local_sizes),
            *sizes = gc_calloc((size_t)problems, sizeof *sizes),
            *budgets = gc_calloc((size_t)problems, sizeof *budgets);
    double *targets = gc_calloc((size_t)problems * D, sizeof *targets);
    double *r_total = gc_calloc((size_t)D, sizeof *r_total), *g_total = gc_calloc((size_t)D, sizeof *g_total);
    int status = (local_sizes && sizes && budgets && targets && r_total && g_total)
                     ? GC_OK
                     : gc_fail(GC_ERR_MEMORY, "out of memory for OMP");
    if (status == GC_OK) status = gc_coreset_allocate(cs, k, D, rows->classes);
    status = gc_comm_agree(rows->comm, status);
    if (status == GC_OK) status = problem_budgets(rows, opt, problems, k, local_sizes, sizes, budgets, cs);
    if (status == GC_OK && opt->targets != NULL) memcpy(targets, opt->targets, (size_t)problems * D * sizeof *targets);
    if (status == GC_OK)
        status =
            gc_comm_agree(rows->comm, context_create(&ctx, run, rows, opt, problems, local_sizes, budgets, targets));
    if (status == GC_OK) status = set_up_rows(&ctx, targets);
    if (status == GC_OK)
        gc_info("select: orthogonal matching pursuit, %d problem(s), λ = %g, %s, %d atom(s) per pass, scoring on %s",
                problems, opt->ridge, opt->nonneg ? "nonnegative (NNLS)" : "least squares", opt->batch,
                has_device_ops(run->backend) ? run->backend->description : "the CPU");
    if (status == GC_OK) status = load_omp_log(run->checkpoint, rows->comm, problems, &log);
    int64_t resumed = 0;
    for (int g = 0; status == GC_OK && g < problems; ++g) resumed += log.count[g];
    if (resumed > 0)
        gc_info("select: resuming OMP from the checkpoint: %lld logged atoms replayed without scoring",
                (long long)resumed);
    if (status == GC_OK) status = open_problems(&ctx, &log);
    if (status == GC_OK) status = run_passes(&ctx, &log, cs);
    if (status == GC_OK) {
        finish_coreset(&ctx, cs);
        for (int g = 0; g < problems; ++g)
            for (int j = 0; j < D; ++j) {
                r_total[j] += ctx.p[g].r[j];
                g_total[j] += ctx.p[g].target[j];
            }
        double g_norm = cblas_dnrm2(D, g_total, 1);
        cs->objective = cblas_dnrm2(D, r_total, 1) / (g_norm > 0.0 ? g_norm : 1.0);
        gc_info("select: %lld atoms in %lld passes, ‖r‖/‖g‖ = %.6g", (long long)cs->k, (long long)ctx.passes,
                cs->objective);
    }
    free_omp_log(&log);
    context_destroy(&ctx);
    free(local_sizes);
    free(sizes);
    free(budgets);
    free(targets);
    free(r_total);
    free(g_total);
    return status;
}
