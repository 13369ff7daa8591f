#include "select_omp.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
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

/* The rows of one problem (a class, or all rows) on this rank, as the scorer sees them. */
typedef struct {
    gc_backend *backend; /* has the OMP ops; NULL scores on the CPU */
    gc_omp_device *device;
    int64_t n;
    int D;
    const float *e; /* [n × D]: rows->e itself, or `copy` */
    float *copy;    /* this class's rows, gathered (per class) */
    int64_t *row;   /* [n] ascending positions in rows; NULL: position t is row t */
    double *w;      /* [n] 1/‖e‖ while eligible, else 0 */
    float *work;    /* [n] CPU scoring */
} omp_scorer;

typedef struct {
    float loss;
    int32_t label;
} atom_header;

/* What one selection carries from problem to problem. */
typedef struct {
    const gc_local_rows *rows;
    const gc_omp_options *opt;
    const gc_run_context *run;
    int64_t passes;
    gc_candidate_merge merge;    /* a candidate's payload: atom_header, then its D floats */
    gc_omp_pair *local, *global; /* [batch] candidate lists: this rank's, then everyone's */
    atom_header *headers;        /* [batch] the label and loss of each of a pass's winners */
    double *rhs;                 /* [batch] ⟨a, g⟩ of each winner, for the refit */
} omp_context;

static int context_create(omp_context *ctx, const gc_run_context *run, const gc_local_rows *rows,
                          const gc_omp_options *opt)
{
    memset(ctx, 0, sizeof *ctx);
    /* The MPI handles' "none" values are not zero bits: set them before any return. */
    ctx->merge = (gc_candidate_merge){ .list_type = MPI_DATATYPE_NULL, .op = MPI_OP_NULL };
    ctx->rows = rows;
    ctx->opt = opt;
    ctx->run = run;
    ctx->local = gc_malloc((size_t)opt->batch * sizeof *ctx->local);
    ctx->global = gc_malloc((size_t)opt->batch * sizeof *ctx->global);
    ctx->headers = gc_malloc((size_t)opt->batch * sizeof *ctx->headers);
    ctx->rhs = gc_malloc((size_t)opt->batch * sizeof *ctx->rhs);
    if (!ctx->local || !ctx->global || !ctx->headers || !ctx->rhs)
        return gc_fail(GC_ERR_MEMORY, "out of memory for OMP");
    return gc_candidate_merge_create(&ctx->merge, opt->batch, sizeof(atom_header) + (size_t)rows->D * sizeof(float));
}

static void context_destroy(omp_context *ctx)
{
    gc_candidate_merge_destroy(&ctx->merge);
    free(ctx->local);
    free(ctx->global);
    free(ctx->headers);
    free(ctx->rhs);
}

/* targets[g·D + j] = Σ over rows of problem g of e_ij, bitwise the same for any split of the rows
 * over ranks and threads: every thread keeps one gc_exact_sum per problem (integer sums on one
 * grid, comm.h), and their integers add up exactly. */
static int problem_targets(const gc_local_rows *rows, int per_class, int problems, double *targets)
{
    const int D = rows->D, T = omp_get_max_threads();
    const int64_t values = rows->n_local * D;
    float max_abs = 0.0f;
#pragma omp parallel for reduction(max : max_abs) schedule(static)
    for (int64_t i = 0; i < values; ++i) max_abs = fmaxf(max_abs, fabsf(rows->e[i]));
    double global_max = max_abs;
    GC_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, &global_max, 1, MPI_DOUBLE, MPI_MAX, rows->comm));
    gc_exact_sum total = { 0 }, *parts = gc_calloc((size_t)T * problems, sizeof *parts); /* [thread][problem] */
    int status =
        parts ? gc_exact_sum_create(&total, problems * D, global_max) : gc_fail(GC_ERR_MEMORY, "out of memory");
    for (int p = 0; p < T * problems && status == GC_OK; ++p) status = gc_exact_sum_create(&parts[p], D, global_max);
    if (status == GC_OK) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < rows->n_local; ++i)
            gc_exact_sum_add(&parts[omp_get_thread_num() * problems + (per_class ? rows->y[i] : 0)], rows->e + i * D);
        /* total's layout is [whole parts of every component | fractional parts], problem by problem. */
        for (int p = 0; p < T * problems; ++p) {
            int first = p % problems * D;
            for (int j = 0; j < D; ++j) {
                total.acc[first + j] += parts[p].acc[j];
                total.acc[problems * D + first + j] += parts[p].acc[D + j];
            }
        }
    }
    status = gc_comm_agree(rows->comm, status);
    if (status == GC_OK) status = gc_exact_sum_allreduce(&total, rows->comm, targets);
    for (int p = 0; p < T * problems && parts; ++p) gc_exact_sum_destroy(&parts[p]);
    gc_exact_sum_destroy(&total);
    free(parts);
    return status;
}

static int has_device_ops(const gc_backend *b) { return b != NULL && b->ops->omp_attach != NULL; }

/* Gathers this rank's rows of problem g (all rows unless per class), their weights 1/‖e‖ (0 for
 * zero rows: never selected), and puts them on the device when the backend scores there. */
static int scorer_open(omp_scorer *s, const omp_context *ctx, int g)
{
    const gc_local_rows *rows = ctx->rows;
    const int D = rows->D;
    memset(s, 0, sizeof *s);
    s->D = D;
    s->e = rows->e;
    s->n = rows->n_local;
    if (ctx->opt->per_class) {
        s->n = 0;
        for (int64_t i = 0; i < rows->n_local; ++i) s->n += rows->y[i] == g;
        s->copy = gc_malloc((size_t)(s->n ? s->n : 1) * D * sizeof *s->copy);
        s->row = gc_malloc((size_t)(s->n ? s->n : 1) * sizeof *s->row);
        if (s->copy == NULL || s->row == NULL)
            return gc_fail(GC_ERR_MEMORY, "out of memory gathering the %lld rows of class %d", (long long)s->n, g);
        int64_t t = 0;
        for (int64_t i = 0; i < rows->n_local; ++i)
            if (rows->y[i] == g) {
                s->row[t] = i;
                memcpy(s->copy + t++ * D, rows->e + i * D, (size_t)D * sizeof *s->copy);
            }
        s->e = s->copy;
    }
    s->w = gc_malloc((size_t)(s->n ? s->n : 1) * sizeof *s->w);
    GC_CHECK_ALLOC(s->w);
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < s->n; ++t) {
        double sq = 0.0;
        for (int j = 0; j < D; ++j) sq += (double)s->e[t * D + j] * s->e[t * D + j];
        s->w[t] = sq > 0.0 ? 1.0 / sqrt(sq) : 0.0;
    }
    if (!has_device_ops(ctx->run->backend)) {
        s->work = gc_malloc((size_t)(s->n ? s->n : 1) * sizeof *s->work);
        GC_CHECK_ALLOC(s->work);
        return GC_OK;
    }
    s->backend = ctx->run->backend;
    GC_TRY(s->backend->ops->omp_attach(s->backend, s->n, D, s->e, rows->e, s->row, &s->device));
    return s->backend->ops->omp_set_weights(s->backend, s->device, 0, s->n, s->w);
}

static void scorer_close(omp_scorer *s)
{
    if (s->device != NULL) s->backend->ops->omp_detach(s->backend, s->device);
    free(s->copy);
    free(s->row);
    free(s->w);
    free(s->work);
}

/* This rank's best `want` candidates for the residual r, as global rows; the list is padded to
 * the batch size so every rank reduces lists of one length. */
static int score_pass(omp_context *ctx, omp_scorer *s, const double *r, int want)
{
    const gc_omp_options *opt = ctx->opt;
    for (int t = 0; t < opt->batch; ++t) ctx->local[t] = GC_OMP_NONE;
    gc_phases *phases = ctx->run->phases;
    gc_phase_begin(phases, "score");
    int status = s->device != NULL ? s->backend->ops->omp_best(s->backend, s->device, r, opt->nonneg, want, ctx->local)
                                   : gc_cpu_omp_best(s->e, s->n, s->D, r, s->w, opt->nonneg, want, s->work, ctx->local);
    for (int t = 0; t < want && status == GC_OK; ++t)
        if (ctx->local[t].index != INT64_MAX)
            ctx->local[t].index = ctx->rows->lo + (s->row ? s->row[ctx->local[t].index] : ctx->local[t].index);
    ctx->passes++;
    /* One read of the rows at their stored width and a multiply-add per element. */
    gc_phase_end(phases, (double)s->n * s->D * sizeof(float), 2.0 * (double)s->n * s->D);
    return status;
}

static int by_value(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Fills the merge's local list: this rank's candidates, each with its atom (label, loss, row) as
 * payload, so the winners reach every rank with the reduction itself. `pairs` is best first; a
 * GC_OMP_NONE entry carries no payload. */
static void offer(omp_context *ctx, const gc_omp_pair *pairs)
{
    const gc_local_rows *rows = ctx->rows;
    gc_candidate_merge *m = &ctx->merge;
    for (int t = 0; t < m->count; ++t) {
        *gc_candidate_pair(m, m->local, t) = pairs[t];
        if (pairs[t].index == INT64_MAX) continue;
        const int64_t i = pairs[t].index - rows->lo;
        char *payload = gc_candidate_payload(m, m->local, t);
        const atom_header h = { rows->loss[i], rows->y[i] };
        memcpy(payload, &h, sizeof h);
        memcpy(payload + sizeof h, rows->e + i * rows->D, (size_t)rows->D * sizeof(float));
    }
}

/* Restart: the logged atoms stand in for a pass's winners. Each owner offers its logged atoms with
 * scores that fall in log order (want − t for the t-th), so the merge returns them in that order,
 * rows attached, as a scored pass would. */
static void offer_logged(omp_context *ctx, const int64_t *logged, int want)
{
    const gc_local_rows *rows = ctx->rows;
    int u = 0;
    for (int t = 0; t < ctx->opt->batch; ++t) ctx->local[t] = GC_OMP_NONE;
    for (int t = 0; t < want; ++t)
        if (gc_comm_row_owner(rows->n_global, rows->size, logged[t]) == rows->rank)
            ctx->local[u++] = (gc_omp_pair){ (double)(want - t), logged[t] };
    offer(ctx, ctx->local);
}

/* The pass's winners from the merged list, best first: their rows into `embedding` (float) and
 * `atoms` (double), [want × D] each, their label and loss into ctx->headers; returns how many
 * there are. The owner of each stops scoring it; a failure there is local and lands in
 * *local_status, for the next pass's reduction. */
static int take_winners(omp_context *ctx, omp_scorer *s, int want, float *embedding, double *atoms, int *local_status)
{
    const gc_local_rows *rows = ctx->rows;
    gc_candidate_merge *m = &ctx->merge;
    const int D = rows->D;
    int n = 0;
    for (; n < want && gc_candidate_pair(m, m->global, n)->index != INT64_MAX; ++n) {
        const int64_t index = gc_candidate_pair(m, m->global, n)->index;
        const char *payload = gc_candidate_payload(m, m->global, n);
        ctx->global[n] = *gc_candidate_pair(m, m->global, n);
        memcpy(&ctx->headers[n], payload, sizeof(atom_header));
        memcpy(embedding + (size_t)n * D, payload + sizeof(atom_header), (size_t)D * sizeof(float));
        for (int j = 0; j < D; ++j) atoms[(size_t)n * D + j] = embedding[(size_t)n * D + j];
        if (gc_comm_row_owner(rows->n_global, rows->size, index) != rows->rank) continue;
        int64_t i = index - rows->lo, t = i;
        if (s->row != NULL) t = (const int64_t *)bsearch(&i, s->row, (size_t)s->n, sizeof i, by_value) - s->row;
        s->w[t] = 0.0;
        if (s->device != NULL && *local_status == GC_OK)
            *local_status = s->backend->ops->omp_set_weights(s->backend, s->device, t, 1, s->w + t);
    }
    for (int t = n; t < want; ++t) ctx->global[t] = GC_OMP_NONE;
    return n;
}

/* γ for the first m atoms: the Cholesky solve, or NNLS warm-started from the previous γ (the new
 * atom's entry starts at 0). Then r = g − E_I γ. Identical on every rank. */
static int refit(const gc_omp_options *opt, gc_refit *f, const double *atoms, const double *target, int D,
                 double *gamma, double *r)
{
    const int m = (int)gc_refit_count(f);
    if (opt->nonneg) {
        int ld;
        const double *G = gc_refit_gram(f, &ld);
        GC_TRY(gc_nnls(m, G, ld, gc_refit_rhs(f), gamma));
    } else {
        GC_TRY(gc_refit_solve(f, gamma));
    }
    memcpy(r, target, (size_t)D * sizeof *r);
    cblas_dgemv(CblasRowMajor, CblasTrans, m, D, -1.0, atoms, D, gamma, 1, 1.0, r, 1);
    return GC_OK;
}

/* Restart: after each pass every rank logs the global indices of the atoms the pass added (record
 * id = problem; a problem's records concatenate in order). Replaying them (the owners broadcast, every rank appends and refits, no
 * scoring) rebuilds the factor, γ and r exactly: the same operations in the same order. */
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

/* One OMP problem: target g, at most `budget` atoms written from coreset slot *slot on. On return
 * r holds its final residual and *slot is past its atoms. Collective. */
static int run_problem(omp_context *ctx, int g, int64_t budget, const double *target, const omp_log *log,
                       gc_coreset *cs, int64_t *slot, double *r)
{
    const gc_local_rows *rows = ctx->rows;
    const gc_omp_options *opt = ctx->opt;
    const int D = rows->D;
    const int64_t start = *slot;
    double g_norm = cblas_dnrm2(D, target, 1), scale = g_norm > 0.0 ? g_norm : 1.0; /* g = 0: absolute */
    memcpy(r, target, (size_t)D * sizeof *r);
    omp_scorer s;
    gc_refit *f = NULL;
    gc_phases *phases = ctx->run->phases;
    gc_phase_begin(phases, "row-setup");
    int status = scorer_open(&s, ctx, g);
    gc_phase_end(phases, 0, 0);
    status = gc_comm_agree(rows->comm, status);
    if (status == GC_OK) status = gc_refit_create(opt->refit, budget, D, opt->ridge, opt->nonneg, rows->comm, &f);
    double *atoms = gc_malloc((size_t)budget * D * sizeof *atoms), *gamma = gc_calloc((size_t)budget, sizeof *gamma);
    if (status == GC_OK && (atoms == NULL || gamma == NULL))
        status = gc_fail(GC_ERR_MEMORY, "out of memory for %lld atoms", (long long)budget);
    status = gc_comm_agree(rows->comm, status);

    int64_t m = 0, replay = log->count[g] < budget ? log->count[g] : budget;
    int local_status = GC_OK, dependent = 0, exhausted = 0;
    double rel = g_norm / scale;
    /* A rank whose own work failed (local_status) keeps going to the next reduction, which carries
     * its status to every rank, instead of deciding on its own to leave the loop; ranks that leave
     * it normally meet such a rank in the closing reduction below. So every rank enters the same
     * collectives, and a pass costs one. */
    int broke = 0;
    while (status == GC_OK && (local_status != GC_OK || (m < budget && rel > opt->tol && !dependent && !exhausted))) {
        int want = (int)(budget - m < opt->batch ? budget - m : opt->batch);
        if (local_status != GC_OK) { /* nothing to offer: the reduction stops every rank */
            want = want > 0 ? want : 0;
            for (int t = 0; t < opt->batch; ++t) ctx->local[t] = GC_OMP_NONE;
            offer(ctx, ctx->local);
        } else if (m < replay) { /* restart: the logged atoms stand in for this pass's winners */
            want = (int)(replay - m < want ? replay - m : want);
            offer_logged(ctx, log->atoms[g] + m, want);
        } else {
            if (local_status == GC_OK) local_status = score_pass(ctx, &s, r, want); /* keeps an earlier failure */
            offer(ctx, ctx->local);
        }
        /* One reduction per pass: the ranks' status, the best candidates and their rows. Every rank
         * then appends the winners to the factor: one at a time with a refit after each
         * (replicated), or as one block and one refit (ScaLAPACK). The candidates not yet in sit
         * at atoms[m …), global[first …), headers[first …). */
        gc_phase_begin(phases, "merge");
        status = gc_candidate_merge_allreduce(&ctx->merge, local_status, rows->comm);
        int first = 0, left = 0, added = 0;
        if (status == GC_OK)
            left = take_winners(ctx, &s, want, cs->embedding + (start + m) * D, atoms + m * D, &local_status);
        gc_phase_end(phases, 0, 0);
        if (status != GC_OK) {
            broke = 1;
            break;
        }
        exhausted = m >= replay && left == 0;
        const int block = gc_refit_is_distributed(f) ? want : 1;
        while (left > 0 && status == GC_OK && rel > opt->tol) {
            const int64_t count = left < block ? left : block;
            int64_t taken = 0;
            gc_phase_begin(phases, "refit");
            for (int64_t t = 0; t < count; ++t) ctx->rhs[t] = cblas_ddot(D, atoms + (m + t) * D, 1, target, 1);
            status = gc_refit_append(f, atoms, count, ctx->rhs, &taken);
            if (status == GC_OK && taken > 0) status = refit(opt, f, atoms, target, D, gamma, r);
            gc_phase_end(phases, 0, 0);
            if (status != GC_OK && !gc_refit_is_distributed(f)) { /* local: agreed at the end of the pass */
                local_status = status;
                status = GC_OK;
                break;
            }
            if (status == GC_OK && taken > 0) rel = cblas_dnrm2(D, r, 1) / scale;
            for (int64_t t = 0; t < taken && status == GC_OK; ++t, ++first, ++m, ++added, --left) {
                cs->index[start + m] = ctx->global[first].index;
                cs->label[start + m] = ctx->headers[first].label;
                cs->loss[start + m] = ctx->headers[first].loss;
                cs->gain[start + m] = rel; /* with a block: the residual after the whole block */
            }
            if (status == GC_OK && taken < count) { /* the next candidate depends on the atoms in: drop it */
                --left;
                memmove(atoms + m * D, atoms + (m + 1) * D, (size_t)left * D * sizeof *atoms);
                memmove(cs->embedding + (start + m) * D, cs->embedding + (start + m + 1) * D,
                        (size_t)left * D * sizeof *cs->embedding);
                memmove(ctx->global + first, ctx->global + first + 1, (size_t)left * sizeof *ctx->global);
                memmove(ctx->headers + first, ctx->headers + first + 1, (size_t)left * sizeof *ctx->headers);
            }
        }
        dependent = status == GC_OK && !exhausted && added == 0;
        if (status == GC_OK && local_status == GC_OK && ctx->run->checkpoint != NULL && m > replay && added > 0)
            local_status = gc_checkpoint_append(ctx->run->checkpoint, g, cs->index + start + m - added,
                                                (size_t)added * sizeof(int64_t));
    }
    /* The closing reduction (once per problem): ranks that left the loop normally learn of a peer's
     * failure in its last pass, and meet a failed peer that is waiting in a pass's reduction. */
    if (!broke) {
        for (int t = 0; t < opt->batch; ++t) ctx->local[t] = GC_OMP_NONE;
        offer(ctx, ctx->local);
        status = gc_candidate_merge_allreduce(&ctx->merge, status != GC_OK ? status : local_status, rows->comm);
    }
    for (int64_t j = 0; j < m; ++j) cs->weight[start + j] = gamma[j];
    *slot = start + m;
    if (status == GC_OK && m < budget) {
        const char *why =
            rel <= opt->tol ? "the tolerance is met"
            : exhausted
                ? "no rows with a nonzero embedding are left"
                : "the best candidates lie in the span of the atoms already in (--ridge > 0 reaches the budget)";
        char problem[32] = "select";
        if (opt->per_class) snprintf(problem, sizeof problem, "select: class %d", g);
        gc_info("%s stops at %lld of %lld atoms (‖r‖/‖g‖ = %.3g): %s", problem, (long long)m, (long long)budget, rel,
                why);
    }
    gc_refit_destroy(f);
    free(atoms);
    free(gamma);
    scorer_close(&s);
    return status;
}

int gc_select_omp(const gc_run_context *run, const gc_local_rows *rows, const gc_omp_options *opt, int64_t k,
                  gc_coreset *cs)
{
    const int D = rows->D, problems = opt->per_class ? rows->classes : 1;
    if (opt->batch < 1 || opt->batch > GC_OMP_MAX_BATCH)
        return gc_fail(GC_ERR_USAGE, "option --batch: %d is not in 1..%d", opt->batch, GC_OMP_MAX_BATCH);
    omp_context ctx;
    int64_t *sizes = gc_calloc((size_t)problems, sizeof *sizes),
            *budgets = gc_calloc((size_t)problems, sizeof *budgets);
    double *targets = gc_calloc((size_t)problems * D, sizeof *targets);
    double *r = gc_calloc((size_t)D, sizeof *r), *r_total = gc_calloc((size_t)D, sizeof *r_total);
    double *g_total = gc_calloc((size_t)D, sizeof *g_total);
    int status = context_create(&ctx, run, rows, opt);
    if (status == GC_OK && (!sizes || !budgets || !targets || !r || !r_total || !g_total))
        status = gc_fail(GC_ERR_MEMORY, "out of memory for OMP");
    if (status == GC_OK) status = gc_coreset_allocate(cs, k, D, rows->classes);
    for (int64_t i = 0; i < rows->n_local && status == GC_OK; ++i) sizes[opt->per_class ? rows->y[i] : 0]++;
    status = gc_comm_agree(rows->comm, status);
    if (status == GC_OK &&
        GC_MPI(MPI_Allreduce(MPI_IN_PLACE, sizes, problems, MPI_INT64_T, MPI_SUM, rows->comm)) != MPI_SUCCESS)
        status = gc_fail(GC_ERR_LIB, "MPI error counting the rows of each class");
    if (status == GC_OK) {
        if (opt->per_class)
            gc_class_budgets(sizes, problems, k, budgets);
        else
            budgets[0] = k;
        memcpy(cs->budgets, budgets, (size_t)problems * sizeof *budgets);
        memcpy(cs->class_sizes, sizes, (size_t)problems * sizeof *sizes);
        if (opt->targets != NULL)
            memcpy(targets, opt->targets, (size_t)problems * D * sizeof *targets);
        else
            status = problem_targets(rows, opt->per_class, problems, targets);
    }
    if (status == GC_OK)
        gc_info("select: orthogonal matching pursuit, %d problem(s), λ = %g, %s, %d atom(s) per pass, scoring on %s",
                problems, opt->ridge, opt->nonneg ? "nonnegative (NNLS)" : "least squares", opt->batch,
                has_device_ops(run->backend) ? run->backend->description : "the CPU");
    omp_log log = { 0, NULL, NULL };
    if (status == GC_OK) status = load_omp_log(run->checkpoint, rows->comm, problems, &log);
    int64_t resumed = 0;
    for (int g = 0; status == GC_OK && g < problems; ++g) resumed += log.count[g];
    if (resumed > 0)
        gc_info("select: resuming OMP from the checkpoint: %lld logged atoms replayed without scoring",
                (long long)resumed);
    int64_t slot = 0;
    for (int g = 0; g < problems && status == GC_OK; ++g) {
        const double *target = targets + (size_t)g * D;
        memcpy(r, target, (size_t)D * sizeof *r);
        if (budgets[g] > 0) status = run_problem(&ctx, g, budgets[g], target, &log, cs, &slot, r);
        for (int j = 0; j < D; ++j) {
            r_total[j] += r[j];
            g_total[j] += target[j];
        }
    }
    if (status == GC_OK) {
        cs->k = slot;
        double g_norm = cblas_dnrm2(D, g_total, 1);
        cs->objective = cblas_dnrm2(D, r_total, 1) / (g_norm > 0.0 ? g_norm : 1.0);
        gc_info("select: %lld atoms in %lld passes, ‖r‖/‖g‖ = %.6g", (long long)slot, (long long)ctx.passes,
                cs->objective);
    }
    free_omp_log(&log);
    context_destroy(&ctx);
    free(sizes);
    free(budgets);
    free(targets);
    free(r);
    free(r_total);
    free(g_total);
    return status;
}
