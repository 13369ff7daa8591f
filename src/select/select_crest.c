#include "select_crest.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/error.h"
#include "core/log.h"
#include "core/rng.h"
#include "kernels/backend.h"
#include "kernels/cpu/greedy_fl_cpu.h"
#include "select_fl.h"

/* Member records one rank receives per round, at most (one subset per rank always goes): subsets
 * are processed in rounds so memory does not grow with P·r. */
#define GC_CREST_ROUND_BYTES ((size_t)256 << 20)

/* One row of one subset on its way to the subset's owner, followed by its D-float embedding. */
typedef struct {
    int64_t index;
    int32_t subset;
    int32_t label;
    float loss;
} member_header;

/* One element of one mini-batch on its way to rank 0, followed by its embedding. */
typedef struct {
    int64_t index;
    double weight; /* cluster size within the subset */
    double gain;   /* marginal gain in the subset's greedy */
    int32_t subset;
    int32_t slot; /* position in the batch's greedy order */
    int32_t label;
    float loss;
} batch_header;

typedef struct {
    int64_t subset;
    int64_t members;  /* rows in the subset */
    double objective; /* F of the batch over the subset = Σ of its gains */
    double bias, random_bias;
} subset_result;

/* What a rank accumulates over the rounds for the subsets it owns. */
typedef struct {
    char *batches; /* batch records */
    int64_t batch_count;
    subset_result *subsets;
    int64_t subset_count;
} owner_results;

typedef struct {
    int64_t n;       /* N */
    int64_t members; /* rows per subset: min(r, kept rows) */
    uint64_t seed;
    const uint8_t *kept; /* bit i: row i has loss >= α; NULL: every row is kept */
} subset_walk;

static int is_kept(const subset_walk *w, uint64_t i) { return w->kept == NULL || ((w->kept[i >> 3] >> (i & 7)) & 1); }

/* Subset s: the first w->members kept rows at positions 0, 1, … of a permutation of [0, N) seeded
 * by (seed, s). Writes the members inside [lo, hi) to local (walk order) when local is non-NULL and
 * every member to all when all is non-NULL; returns how many lie inside [lo, hi). Every rank walks
 * every subset, which costs O(r·N/kept) permutation evaluations per subset and needs no messages. */
static int64_t walk_subset(const subset_walk *w, int64_t s, int64_t lo, int64_t hi, int64_t *local, int64_t *all)
{
    const uint64_t seed = gc_rng_u64(w->seed, GC_STREAM_SUBSET, (uint64_t)s);
    int64_t found = 0, mine = 0;
    for (uint64_t t = 0; t < (uint64_t)w->n && found < w->members; ++t) {
        uint64_t i = gc_permute(t, (uint64_t)w->n, seed, GC_STREAM_SUBSET);
        if (!is_kept(w, i)) continue;
        if (all != NULL) all[found] = (int64_t)i;
        ++found;
        if ((int64_t)i >= lo && (int64_t)i < hi) {
            if (local != NULL) local[mine] = (int64_t)i;
            ++mine;
        }
    }
    return mine;
}

/* Rows with loss >= α as a bit mask replicated on every rank (N/8 bytes, one Allreduce), so each
 * rank can walk every subset without asking its peers; no mask (all kept) when α <= 0, since a
 * loss is never negative. Collective. */
static int keep_rows(const gc_local_rows *rows, double alpha, uint8_t **mask, int64_t *kept)
{
    *mask = NULL;
    *kept = rows->n_global;
    if (alpha <= 0.0) return GC_OK;
    const int64_t bytes = (rows->n_global + 7) / 8;
    if (bytes > INT_MAX)
        return gc_fail(GC_ERR_INPUT,
                       "option --exclude-loss: %lld rows are too many for the replicated mask of kept "
                       "rows",
                       (long long)rows->n_global);
    uint8_t *bits = gc_calloc((size_t)bytes, 1);
    int status = bits ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory for the mask of kept rows");
    status = gc_comm_agree(rows->comm, status);
    if (status != GC_OK) {
        free(bits);
        return status;
    }
    int64_t mine = 0;
    for (int64_t i = 0; i < rows->n_local; ++i)
        if (rows->loss[i] >= alpha) {
            uint64_t g = (uint64_t)(rows->lo + i);
            bits[g >> 3] |= (uint8_t)(1u << (g & 7));
            ++mine;
        }
    /* Ranks' row ranges may share a byte at their boundary: OR merges them. */
    int rc = GC_MPI(MPI_Allreduce(MPI_IN_PLACE, bits, (int)bytes, MPI_UINT8_T, MPI_BOR, rows->comm));
    if (rc == MPI_SUCCESS) rc = GC_MPI(MPI_Allreduce(&mine, kept, 1, MPI_INT64_T, MPI_SUM, rows->comm));
    if (rc != MPI_SUCCESS) free(bits);
    GC_CHECK_MPI(rc);
    *mask = bits;
    return GC_OK;
}

static int compare_int64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Sends this rank's members of subsets [first, last) to their owners (subset s → rank s mod ranks),
 * one record per (row, subset). With subset_index (rank 0, --save-subsets) also writes each
 * subset's rows there, ascending. Collective; on return recv holds the packed records. */
static int exchange_members(const gc_run_context *run, const gc_local_rows *rows, const subset_walk *walk,
                            int64_t first, int64_t last, int64_t *subset_index, char **recv, int64_t *recv_count)
{
    const int ranks = rows->size, D = rows->D;
    const int64_t B = last - first, lo = rows->lo, hi = rows->lo + rows->n_local;
    const size_t rec = sizeof(member_header) + (size_t)D * sizeof(float);
    int *send_counts = gc_calloc((size_t)ranks, sizeof(int)), *send_displs = gc_calloc((size_t)ranks, sizeof(int));
    int *fill = gc_calloc((size_t)ranks, sizeof(int));
    int64_t *count = gc_calloc((size_t)B, sizeof *count), *offset = gc_calloc((size_t)B, sizeof *offset);
    int64_t *members = NULL, total = 0;
    char *send = NULL;
    *recv = NULL;
    gc_phase_begin(run->phases, "pack");
    gc_phase_bound(run->phases, GC_FLOOR_HOST);
    int status = (send_counts && send_displs && fill && count && offset)
                     ? GC_OK
                     : gc_fail(GC_ERR_MEMORY, "out of memory for the subset exchange");
    if (status == GC_OK) {
        /* First walk: how many members each subset has here. */
#pragma omp parallel for schedule(dynamic)
        for (int64_t b = 0; b < B; ++b) count[b] = walk_subset(walk, first + b, lo, hi, NULL, NULL);
        for (int64_t b = 0; b < B; ++b) send_counts[(first + b) % ranks] += (int)count[b];
        for (int r = 1; r < ranks; ++r) send_displs[r] = send_displs[r - 1] + send_counts[r - 1];
        memcpy(fill, send_displs, (size_t)ranks * sizeof *fill);
        /* A destination's subsets lie together in the send buffer, in subset order. */
        for (int64_t b = 0; b < B; ++b) {
            offset[b] = fill[(first + b) % ranks];
            fill[(first + b) % ranks] += (int)count[b];
        }
        total = (int64_t)send_displs[ranks - 1] + send_counts[ranks - 1];
        members = gc_malloc((size_t)(total ? total : 1) * sizeof *members);
        send = gc_malloc((size_t)(total ? total : 1) * rec);
        if (members == NULL || send == NULL) status = gc_fail(GC_ERR_MEMORY, "out of memory for the subset exchange");
    }
    if (status == GC_OK) {
        /* Second walk: the members themselves, packed with their label and loss; members[] turns
         * into their local rows, whose embeddings then fill the records. */
#pragma omp parallel for schedule(dynamic)
        for (int64_t b = 0; b < B; ++b) {
            int64_t *all = subset_index ? subset_index + (first + b) * walk->members : NULL;
            walk_subset(walk, first + b, lo, hi, members + offset[b], all);
            if (all != NULL) qsort(all, (size_t)walk->members, sizeof *all, compare_int64);
            for (int64_t j = 0; j < count[b]; ++j) {
                const int64_t i = members[offset[b] + j] - lo;
                member_header h = { lo + i, (int32_t)(first + b), rows->y[i], rows->loss[i] };
                memcpy(send + (size_t)(offset[b] + j) * rec, &h, sizeof h);
                members[offset[b] + j] = i;
            }
        }
    }
    gc_phase_end(run->phases, (double)total * (sizeof(member_header) + sizeof *members), 0);
    gc_phase_begin(run->phases, "gather"); /* the members' rows into their records */
    gc_phase_bound(run->phases, rows->e != NULL ? GC_FLOOR_HOST : GC_FLOOR_LINK);
    if (status == GC_OK)
        status = gc_backend_rows_get(run->backend, rows->e, D, total, members, send + sizeof(member_header), rec);
    gc_phase_end(run->phases, (double)total * D * sizeof(float), 0);
    gc_phase_begin(run->phases, "send");
    gc_phase_bound(run->phases, GC_FLOOR_HOST);
    status = gc_comm_agree(rows->comm, status);
    if (status == GC_OK)
        status =
            gc_comm_exchange_records(rows->comm, rec, send, send_counts, send_displs, recv, recv_count, "subset rows");
    gc_phase_end(run->phases, (double)(total + *recv_count) * rec, 0);
    free(send_counts);
    free(send_displs);
    free(fill);
    free(count);
    free(offset);
    free(members);
    free(send);
    return status;
}

typedef struct {
    int64_t index;
    int64_t position; /* record number in the receive buffer */
    int64_t subset;
} member_key;

static int by_subset_then_index(const void *a, const void *b)
{
    const member_key *x = a, *y = b;
    if (x->subset != y->subset) return x->subset < y->subset ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* ‖a − b‖ / ‖a‖, or the absolute ‖a − b‖ when a = 0 (as the coreset's gradient error does). */
static double relative_distance(const double *a, const double *b, int D)
{
    double diff = 0.0, norm = 0.0;
    for (int j = 0; j < D; ++j) {
        diff += (a[j] - b[j]) * (a[j] - b[j]);
        norm += a[j] * a[j];
    }
    return norm > 0.0 ? sqrt(diff / norm) : sqrt(diff);
}

/* One subset's greedy: its count member records are keys (sorted by global index, so ties go to the
 * lowest global index), its rows e [count × D], and what the greedy returns for kappa picks. */
typedef struct {
    const member_key *keys;
    int64_t count, kappa;
    float *e;
    int64_t *selected;
    double *gains, *coverage;
} subset_work;

static void subset_free(subset_work *w)
{
    free(w->e);
    free(w->selected);
    free(w->gains);
    free(w->coverage);
}

/* w and its problem for the subset of keys [0, count). */
static int subset_begin(int D, const gc_crest_options *opt, double c, int64_t m, const char *recv,
                        const member_key *keys, int64_t count, subset_work *w, gc_fl_problem *problem)
{
    const int64_t s = keys[0].subset, kappa = m < count ? m : count;
    const size_t rec = sizeof(member_header) + (size_t)D * sizeof(float);
    *w = (subset_work){ keys,
                        count,
                        kappa,
                        gc_malloc((size_t)count * D * sizeof(float)),
                        gc_malloc((size_t)kappa * sizeof(int64_t)),
                        gc_malloc((size_t)kappa * sizeof(double)),
                        gc_malloc((size_t)count * sizeof(double)) };
    if (!(w->e && w->selected && w->gains && w->coverage))
        return gc_fail(GC_ERR_MEMORY, "out of memory in subset %lld", (long long)s);
    for (int64_t i = 0; i < count; ++i)
        memcpy(w->e + i * D, recv + (size_t)keys[i].position * rec + sizeof(member_header), (size_t)D * sizeof(float));
    *problem = (gc_fl_problem){ .m = count,
                                .D = D,
                                .e = w->e,
                                .c = c,
                                .stochastic_epsilon = opt->stochastic,
                                .seed = gc_rng_u64(opt->seed, GC_STREAM_STOCHASTIC_GREEDY, (uint64_t)s) };
    return GC_OK;
}

/* Appends the greedied subset's batch and its result to out. The gradient bias compares
 * Σ_batch w·e with Σ_subset e, and the baseline draws m members uniformly (a seeded permutation of
 * the subset's positions) with weight |subset|/m: both depend on the subset only. */
static int subset_finish(int D, const gc_crest_options *opt, const char *recv, const subset_work *w, owner_results *out)
{
    const int64_t s = w->keys[0].subset, count = w->count, kappa = w->kappa;
    const size_t rec = sizeof(member_header) + (size_t)D * sizeof(float);
    const size_t brec = sizeof(batch_header) + (size_t)D * sizeof(float);
    const float *e = w->e;
    double *sums = gc_calloc((size_t)3 * D, sizeof *sums);
    if (sums == NULL) return gc_fail(GC_ERR_MEMORY, "out of memory in subset %lld", (long long)s);
    double *whole = sums, *batch = sums + D, *random = sums + 2 * D, objective = 0.0;
    for (int64_t i = 0; i < count; ++i)
        for (int j = 0; j < D; ++j) whole[j] += e[i * D + j];
    for (int64_t t = 0; t < kappa; ++t) {
        const int64_t j = w->selected[t];
        member_header h;
        memcpy(&h, recv + (size_t)w->keys[j].position * rec, sizeof h);
        batch_header bh = { h.index, w->coverage[j], w->gains[t], (int32_t)s, (int32_t)t, h.label, h.loss };
        char *p = out->batches + (size_t)out->batch_count++ * brec;
        memcpy(p, &bh, sizeof bh);
        memcpy(p + sizeof bh, e + j * D, (size_t)D * sizeof(float));
        for (int q = 0; q < D; ++q) batch[q] += w->coverage[j] * e[j * D + q];
        objective += w->gains[t];
    }
    const uint64_t seed = gc_rng_u64(opt->seed, GC_STREAM_RANDOM_SUBSET, (uint64_t)s);
    for (int64_t t = 0; t < kappa; ++t) {
        uint64_t i = gc_permute((uint64_t)t, (uint64_t)count, seed, GC_STREAM_RANDOM_SUBSET);
        for (int q = 0; q < D; ++q) random[q] += e[i * D + q];
    }
    for (int q = 0; q < D; ++q) random[q] *= (double)count / (double)kappa;
    out->subsets[out->subset_count++] =
        (subset_result){ s, count, objective, relative_distance(whole, batch, D), relative_distance(whole, random, D) };
    free(sums);
    return GC_OK;
}

/* Subsets greedied in one gc_backend_fl_greedy_many call: at most SUBSET_BATCH of them and
 * SUBSET_BATCH_BYTES of their rows (one call for CREST's default 100 subsets of 5,000 rows at
 * D = 100; one at a time, 100 subsets took 0.44-0.56 s of a 16M-row job on an H200). */
enum { SUBSET_BATCH = 256 };
#define SUBSET_BATCH_BYTES ((int64_t)1 << 29)

/* Runs greedy on every subset received this round, in subset order, SUBSET_BATCH at a time. */
static int select_received(const gc_run_context *run, int D, const gc_crest_options *opt, double c, int64_t m,
                           const char *recv, int64_t recv_count, owner_results *out)
{
    gc_backend *backend = run->backend;
    const size_t rec = sizeof(member_header) + (size_t)D * sizeof(float);
    member_key *keys = gc_malloc((size_t)(recv_count ? recv_count : 1) * sizeof *keys);
    subset_work *work = gc_calloc(SUBSET_BATCH, sizeof *work);
    gc_fl_problem *problem = gc_malloc(SUBSET_BATCH * sizeof *problem);
    int64_t *kappa = gc_malloc(SUBSET_BATCH * sizeof *kappa), **sel = gc_malloc(SUBSET_BATCH * sizeof *sel);
    double **gain = gc_malloc(SUBSET_BATCH * sizeof *gain), **cov = gc_malloc(SUBSET_BATCH * sizeof *cov);
    int status = keys && work && problem && kappa && sel && gain && cov
                     ? gc_backend_fl_hold(backend, 1) /* the batches' greedies reuse one set of device buffers */
                     : gc_fail(GC_ERR_MEMORY, "out of memory for the subsets' greedies");
    for (int64_t i = 0; i < recv_count && status == GC_OK; ++i) {
        member_header h;
        memcpy(&h, recv + (size_t)i * rec, sizeof h);
        keys[i] = (member_key){ h.index, i, h.subset };
    }
    if (status == GC_OK) qsort(keys, (size_t)recv_count, sizeof *keys, by_subset_then_index);
    for (int64_t a = 0; a < recv_count && status == GC_OK;) {
        int count = 0;
        for (int64_t bytes = 0; a < recv_count && count < SUBSET_BATCH && status == GC_OK; ++count) {
            int64_t b = a;
            while (b < recv_count && keys[b].subset == keys[a].subset) ++b;
            bytes += (b - a) * D * (int64_t)sizeof(float);
            if (count > 0 && bytes > SUBSET_BATCH_BYTES) break;
            status = subset_begin(D, opt, c, m, recv, keys + a, b - a, &work[count], &problem[count]);
            kappa[count] = work[count].kappa;
            sel[count] = work[count].selected;
            gain[count] = work[count].gains;
            cov[count] = work[count].coverage;
            a = b;
        }
        if (status == GC_OK) status = gc_backend_fl_greedy_many(backend, count, problem, kappa, sel, gain, cov);
        for (int t = 0; t < count; ++t) {
            if (status == GC_OK) gc_fl_greedy_count(run->phases, work[t].count, D); /* a partition's floor */
            if (status == GC_OK) status = subset_finish(D, opt, recv, &work[t], out);
            subset_free(&work[t]);
        }
    }
    const int released = gc_backend_fl_hold(backend, 0);
    if (status == GC_OK) status = released;
    free(keys);
    free(work);
    free(problem);
    free(kappa);
    free(sel);
    free(gain);
    free(cov);
    return status;
}

typedef struct {
    int64_t index;
    int64_t order; /* subset · m + slot of an appearance */
    double weight; /* all appearances' weights, summed on the first */
} appearance;

static int by_index_then_order(const void *a, const void *b)
{
    const appearance *x = a, *y = b;
    if (x->index != y->index) return x->index < y->index ? -1 : 1;
    return (x->order > y->order) - (x->order < y->order);
}

static int by_order(const void *a, const void *b)
{
    const appearance *x = a, *y = b;
    return (x->order > y->order) - (x->order < y->order);
}

/* Rank 0: the batch matrices in (subset, slot) order, and the coreset = the union of the batches
 * (first appearance order, summed weights scaled to sum to N). Takes *subset_index. */
static int assemble(const gc_local_rows *rows, const gc_crest_options *opt, int64_t r, int64_t m, double c,
                    int64_t excluded, const char *all, const subset_result *stats, int64_t **subset_index,
                    gc_coreset *cs)
{
    const int D = rows->D;
    const int64_t P = opt->subsets, total = P * m;
    const size_t brec = sizeof(batch_header) + (size_t)D * sizeof(float);
    int64_t *position = gc_malloc((size_t)total * sizeof *position);
    appearance *seen = gc_malloc((size_t)total * sizeof *seen);
    const subset_result **by_subset = gc_malloc((size_t)P * sizeof *by_subset);
    int status =
        (position && seen && by_subset) ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory for the union of the batches");
    int64_t k = 0;
    double weight_sum = 0.0;
    if (status == GC_OK) {
        for (int64_t a = 0; a < total; ++a) {
            batch_header h;
            memcpy(&h, all + (size_t)a * brec, sizeof h);
            position[(int64_t)h.subset * m + h.slot] = a;
        }
        for (int64_t o = 0; o < total; ++o) {
            batch_header h;
            memcpy(&h, all + (size_t)position[o] * brec, sizeof h);
            seen[o] = (appearance){ h.index, o, h.weight };
            weight_sum += h.weight;
        }
        /* Duplicates become neighbours, the first appearance leading; it keeps their summed weight. */
        qsort(seen, (size_t)total, sizeof *seen, by_index_then_order);
        for (int64_t a = 0; a < total;) {
            int64_t b = a + 1;
            double w = seen[a].weight;
            for (; b < total && seen[b].index == seen[a].index; ++b) w += seen[b].weight;
            seen[k++] = (appearance){ seen[a].index, seen[a].order, w };
            a = b;
        }
        qsort(seen, (size_t)k, sizeof *seen, by_order);
        status = gc_coreset_allocate(cs, k, D, rows->classes);
    }
    if (status == GC_OK) {
        cs->crest.batch_index = gc_malloc((size_t)total * sizeof *cs->crest.batch_index);
        cs->crest.batch_weight = gc_malloc((size_t)total * sizeof *cs->crest.batch_weight);
        if (cs->crest.batch_index == NULL || cs->crest.batch_weight == NULL)
            status = gc_fail(GC_ERR_MEMORY, "out of memory for the batches");
    }
    if (status == GC_OK) {
        cs->c = c;
        cs->budgets[0] = k;
        /* Weights count rows of the subsets; N/Σ|subset| turns them into counts over the full data. */
        const double scale = (double)rows->n_global / weight_sum;
        for (int64_t j = 0; j < k; ++j) {
            batch_header h;
            const char *p = all + (size_t)position[seen[j].order] * brec;
            memcpy(&h, p, sizeof h);
            cs->index[j] = h.index;
            cs->weight[j] = seen[j].weight * scale;
            cs->label[j] = h.label;
            cs->gain[j] = h.gain;
            cs->loss[j] = h.loss;
            memcpy(cs->embedding + j * D, p + sizeof h, (size_t)D * sizeof(float));
        }
        for (int64_t o = 0; o < total; ++o) {
            batch_header h;
            memcpy(&h, all + (size_t)position[o] * brec, sizeof h);
            cs->crest.batch_index[o] = h.index;
            cs->crest.batch_weight[o] = h.weight;
        }
        gc_crest_batches *cb = &cs->crest;
        cb->subsets = P;
        cb->subset_size = r;
        cb->batch_size = m;
        cb->excluded = excluded;
        cb->subset_index = *subset_index;
        *subset_index = NULL;
        /* Subset order, so every rank count adds the same numbers in the same order. */
        for (int64_t s = 0; s < P; ++s) by_subset[stats[s].subset] = &stats[s];
        for (int64_t s = 0; s < P; ++s) {
            cs->objective += by_subset[s]->objective;
            cs->total_distance += (double)by_subset[s]->members * c - by_subset[s]->objective;
            cb->gradient_bias += by_subset[s]->bias / (double)P;
            cb->random_batch_gradient_bias += by_subset[s]->random_bias / (double)P;
        }
    }
    free(position);
    free(seen);
    free(by_subset);
    return status;
}

/* Rank 0's coreset (not its crest section) to every rank, which the quality pass needs. */
static int share_coreset(const gc_local_rows *rows, gc_coreset *cs)
{
    int64_t k = cs->k;
    GC_CHECK_MPI(MPI_Bcast(&k, 1, MPI_INT64_T, 0, rows->comm));
    int status = rows->rank == 0 ? GC_OK : gc_coreset_allocate(cs, k, rows->D, rows->classes);
    GC_TRY(gc_comm_agree(rows->comm, status));
    double sums[3] = { cs->objective, cs->total_distance, cs->c };
    GC_CHECK_MPI(MPI_Bcast(sums, 3, MPI_DOUBLE, 0, rows->comm));
    cs->objective = sums[0];
    cs->total_distance = sums[1];
    cs->c = sums[2];
    GC_CHECK_MPI(MPI_Bcast(cs->budgets, rows->classes, MPI_INT64_T, 0, rows->comm));
    GC_CHECK_MPI(MPI_Bcast(cs->index, (int)k, MPI_INT64_T, 0, rows->comm));
    GC_CHECK_MPI(MPI_Bcast(cs->weight, (int)k, MPI_DOUBLE, 0, rows->comm));
    GC_CHECK_MPI(MPI_Bcast(cs->label, (int)k, MPI_INT32_T, 0, rows->comm));
    GC_CHECK_MPI(MPI_Bcast(cs->gain, (int)k, MPI_DOUBLE, 0, rows->comm));
    GC_CHECK_MPI(MPI_Bcast(cs->loss, (int)k, MPI_FLOAT, 0, rows->comm));
    GC_CHECK_MPI(MPI_Bcast(cs->embedding, (int)(k * rows->D), MPI_FLOAT, 0, rows->comm));
    return GC_OK;
}

/* Gathers every owner's batches and subset results on rank 0, assembles there, shares. Collective. */
static int gather_batches(const gc_local_rows *rows, const gc_crest_options *opt, int64_t r, int64_t m, double c,
                          int64_t excluded, const owner_results *res, int64_t **subset_index, gc_coreset *cs)
{
    const int ranks = rows->size, root = rows->rank == 0;
    const size_t brec = sizeof(batch_header) + (size_t)rows->D * sizeof(float);
    int *counts = NULL, *displs = NULL, *stat_counts = NULL, *stat_displs = NULL, *both = NULL;
    char *all = NULL;
    subset_result *stats = NULL;
    int status = GC_OK;
    if (root) {
        counts = gc_calloc((size_t)ranks, sizeof *counts);
        displs = gc_calloc((size_t)ranks, sizeof *displs);
        stat_counts = gc_calloc((size_t)ranks, sizeof *stat_counts);
        stat_displs = gc_calloc((size_t)ranks, sizeof *stat_displs);
        all = gc_malloc((size_t)(opt->subsets * m) * brec);
        stats = gc_malloc((size_t)opt->subsets * sizeof *stats);
        both = gc_malloc((size_t)2 * ranks * sizeof *both);
        if (!counts || !displs || !stat_counts || !stat_displs || !all || !stats || !both)
            status = gc_fail(GC_ERR_MEMORY, "out of memory gathering %lld batches", (long long)opt->subsets);
    }
    status = gc_comm_agree(rows->comm, status);
    if (status == GC_OK) {
        int mine[2] = { (int)res->batch_count, (int)res->subset_count };
        GC_MPI(MPI_Gather(mine, 2, MPI_INT, both, 2, MPI_INT, 0, rows->comm));
        for (int q = 0, rows_before = 0, subsets_before = 0; root && q < ranks; ++q) {
            counts[q] = both[2 * q];
            stat_counts[q] = both[2 * q + 1];
            displs[q] = rows_before;
            stat_displs[q] = subsets_before;
            rows_before += counts[q];
            subsets_before += stat_counts[q];
        }
        MPI_Datatype batch_record, stat_record;
        GC_MPI(MPI_Type_contiguous((int)brec, MPI_BYTE, &batch_record));
        GC_MPI(MPI_Type_commit(&batch_record));
        GC_MPI(MPI_Type_contiguous((int)sizeof(subset_result), MPI_BYTE, &stat_record));
        GC_MPI(MPI_Type_commit(&stat_record));
        GC_MPI(MPI_Gatherv(res->batches, mine[0], batch_record, all, counts, displs, batch_record, 0, rows->comm));
        GC_MPI(MPI_Gatherv(res->subsets, mine[1], stat_record, stats, stat_counts, stat_displs, stat_record, 0,
                           rows->comm));
        GC_MPI(MPI_Type_free(&batch_record));
        GC_MPI(MPI_Type_free(&stat_record));
        if (root) status = assemble(rows, opt, r, m, c, excluded, all, stats, subset_index, cs);
    }
    free(counts);
    free(displs);
    free(stat_counts);
    free(stat_displs);
    free(all);
    free(stats);
    free(both);
    GC_TRY(gc_comm_agree(rows->comm, status));
    return share_coreset(rows, cs);
}

int gc_select_crest(const gc_run_context *run, const gc_local_rows *rows, const gc_crest_options *opt, gc_coreset *cs)
{
    const int64_t N = rows->n_global, P = opt->subsets;
    if (opt->subset_size > N)
        return gc_fail(GC_ERR_INPUT, "option --subset-size: r = %lld exceeds the %lld rows of the data",
                       (long long)opt->subset_size, (long long)N);
    uint8_t *kept_mask;
    int64_t kept;
    GC_TRY(keep_rows(rows, opt->exclude_loss, &kept_mask, &kept));
    if (kept == 0) {
        free(kept_mask);
        return gc_fail(GC_ERR_INPUT,
                       "option --exclude-loss: all %lld rows have a loss below %g, none is left to draw "
                       "subsets from",
                       (long long)N, opt->exclude_loss);
    }
    const subset_walk walk = { N, opt->subset_size < kept ? opt->subset_size : kept, opt->seed, kept_mask };
    const int64_t m = opt->batch_size < walk.members ? opt->batch_size : walk.members;
    if (walk.members < opt->subset_size)
        gc_warn("crest: only %lld rows have a loss of at least %g, fewer than --subset-size %lld: every subset is all "
                "of them",
                (long long)kept, opt->exclude_loss, (long long)opt->subset_size);
    double c = 0.0;
    gc_phase_begin(run->phases, "constant");
    int status = gc_comm_agree(rows->comm, gc_similarity_constant(run->backend, rows, &c));
    gc_similarity_constant_count(run, rows);
    gc_phase_end(run->phases, 0, 0);

    const size_t rec = sizeof(member_header) + (size_t)rows->D * sizeof(float);
    const size_t brec = sizeof(batch_header) + (size_t)rows->D * sizeof(float);
    int64_t per_rank = (int64_t)(GC_CREST_ROUND_BYTES / ((size_t)walk.members * rec));
    const int64_t round = (per_rank > 0 ? per_rank : 1) * rows->size;
    const int64_t owned = P > rows->rank ? (P - rows->rank + rows->size - 1) / rows->size : 0;
    owner_results res = { NULL, 0, NULL, 0 };
    int64_t *subset_index = NULL;
    if (status == GC_OK) {
        res.batches = gc_malloc((size_t)(owned * m > 0 ? owned * m : 1) * brec);
        res.subsets = gc_malloc((size_t)(owned > 0 ? owned : 1) * sizeof *res.subsets);
        if (rows->rank == 0 && opt->save_subsets)
            subset_index = gc_malloc((size_t)(P * walk.members) * sizeof *subset_index);
        int ok = res.batches && res.subsets && (subset_index || !(rows->rank == 0 && opt->save_subsets));
        status = ok ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory for %lld subsets", (long long)P);
        status = gc_comm_agree(rows->comm, status);
    }
    if (status == GC_OK)
        gc_info("select: crest, %lld subsets of %lld rows (%lld of %lld rows excluded for loss < %g), batches of %lld, "
                "%lld round(s) over %d ranks, c = %.6g",
                (long long)P, (long long)walk.members, (long long)(N - kept), (long long)N, opt->exclude_loss,
                (long long)m, (long long)((P + round - 1) / round), rows->size, c);
    for (int64_t first = 0; first < P && status == GC_OK; first += round) {
        const int64_t last = first + round < P ? first + round : P;
        char *recv = NULL;
        int64_t recv_count = 0;
        gc_phase_begin(run->phases, "exchange");
        status = exchange_members(run, rows, &walk, first, last, subset_index, &recv, &recv_count);
        gc_phase_end(run->phases, 0, 0);
        gc_phase_begin(run->phases, "subsets"); /* their greedies */
        if (status == GC_OK) status = select_received(run, rows->D, opt, c, m, recv, recv_count, &res);
        free(recv);
        status = gc_comm_agree(rows->comm, status);
        gc_phase_end(run->phases, 0, 0);
    }
    free(kept_mask);
    gc_phase_begin(run->phases, "batches"); /* to rank 0, their gradient bias, the coreset to all */
    gc_phase_bound(run->phases, GC_FLOOR_HOST);
    if (status == GC_OK) status = gather_batches(rows, opt, walk.members, m, c, N - kept, &res, &subset_index, cs);
    /* Its floor: this rank's batches sent, all of them received at rank 0, the coreset's rows shared. */
    gc_phase_end(run->phases,
                 (double)(res.batch_count + (rows->rank == 0 ? P * m : 0)) * brec +
                     (double)(status == GC_OK ? cs->k : 0) * rows->D * sizeof(float),
                 0);
    free(subset_index);
    free(res.batches);
    free(res.subsets);
    if (status == GC_OK && rows->rank == 0)
        gc_info("select: crest, the union of the batches has k = %lld rows; gradient bias %.4g (random batches %.4g)",
                (long long)cs->k, cs->crest.gradient_bias, cs->crest.random_batch_gradient_bias);
    return status;
}
