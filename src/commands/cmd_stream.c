/* gradcore stream: a coreset kept up to date as data arrives in batches, without revisiting old
 * data. Two constructions (README "gradcore stream"):
 * - continual GMC (Balles et al., "Gradient-matching coresets for rehearsal-based continual
 *   learning", Algorithm 2): the running target g = Σ of the embeddings of every row seen so far and
 *   the coreset C with its embeddings are kept; batch t runs OMP on the dictionary [C, G_t] against
 *   g, so old members may stay, be reweighted or be dropped. One global target, as in Algorithm 2.
 * - merge-reduce (Borsos, Mutný, Krause, NeurIPS 2020, §5; --slots s): each batch is compressed to
 *   a slot of k/s rows by the method's selector; when the buffer overflows, two slots are merged
 *   (merge_reduce.h) by compressing their weighted union again, so weights keep summarising data.
 * After every batch the state (io/stream_state.h) and the coreset are replaced atomically, so the
 * next batch may come in another job and a killed job loses at most the batch it was working on.
 * Embeddings use the same options and models as `select` (the embeddings of a row never depend on
 * its batch's other rows), so one run over all batches equals one run per batch. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "core/comm.h"
#include "core/error.h"
#include "core/log.h"
#include "core/options.h"
#include "core/rng.h"
#include "core/version.h"
#include "io/checkpoint.h"
#include "io/coreset_writer.h"
#include "io/dataset.h"
#include "io/output_guard.h"
#include "io/proxy_models.h"
#include "io/stream_state.h"
#include "kernels/backend.h"
#include "kernels/ceilings.h"
#include "src/select/selector.h"

enum { MAX_SLOTS = 64 };

/* stream's own options; the rest are the groups declared once in src/select/selector.h. */
static const gc_option_spec stream_own_options[] = {
    { "config", GC_OPT_VALUE, NULL, "FILE", "INI job file with more options (keys = long option names)" },
    { "batches", GC_OPT_VALUE, NULL, "A.h5[,B.h5…]",
      "the batches of this run, in arrival order (/X, /y as for --data); batches already in --state are skipped" },
    { "state", GC_OPT_VALUE, NULL, "FILE", "stream state (HDF5): read when it exists, replaced after every batch" },
    { "out", GC_OPT_VALUE, NULL, "FILE", "coreset of everything seen (coreset format), replaced after every batch" },
    { "method", GC_OPT_VALUE, "gmc", "gmc|craig|bico",
      "gmc = gmc embedding + OMP, craig = logits + facility location, bico = features + BiCo" },
    { "k", GC_OPT_VALUE, NULL, "M",
      "coreset size (the memory): continual GMC keeps M rows, merge-reduce s slots of ⌊M/s⌋" },
    { "slots", GC_OPT_VALUE, "0", "s", "merge-reduce buffer of s slots (0 = continual GMC, --method gmc only)" },
    { "classes", GC_OPT_VALUE, NULL, "C", "number of classes (default: the first batch's num_classes attribute)" },
    { NULL, 0, NULL, NULL, NULL }
};

static const gc_option_spec *const stream_option_groups[] = { stream_own_options,        gc_embedding_option_specs,
                                                              gc_selection_option_specs, gc_fl_option_specs,
                                                              gc_omp_option_specs,       gc_bico_option_specs,
                                                              gc_report_option_specs,    NULL };
/* What the command reads and writes, for io/output_guard.h; the state is read and replaced. */
static const gc_guard_option stream_files[] = { { "batches", GC_GUARD_INPUTS }, { "model", GC_GUARD_INPUT },
                                                { "state", GC_GUARD_OUTPUT },   { "out", GC_GUARD_OUTPUT },
                                                { "timings", GC_GUARD_OUTPUT }, { NULL, 0 } };

static const char stream_usage[] =
    "usage: mpirun -np P gradcore stream --batches A.h5[,B.h5…] --k M --state state.h5 [--out coreset.h5] [options]\n\n"
    "Keeps a weighted coreset of all batches seen so far up to date, one batch at a time.";

typedef struct stream_run stream_run;

struct stream_run {
    gc_options opts;
    char *command_line;
    MPI_Comm comm;
    int rank, size;
    const gc_method *method;
    const gc_selector *selector;
    gc_embedding_kind embedding;
    const char *embedding_name, *state_path, *out;
    int64_t k;
    int slots;
    long classes_option;
    uint64_t seed;
    int device;
    int precision;        /* gc_precision of the backend */
    double device_memory; /* --device-memory: the backend's resident_share */
    int sketch;           /* resolved once the models are known (load_models) */
    double hessian_damping;
    gc_selector_options sel;
    gc_backend *backend;
    gc_phases phases;
    gc_run_context ctx;
    gc_model *models;
    int model_count;
    gc_stream_state state;
    int have_state;
    gc_lock lock; /* rank 0's, on the state */
};

static int parse_options(stream_run *run, int argc, char **argv)
{
    gc_options *o = &run->opts;
    GC_TRY(gc_options_parse_groups(o, "stream", stream_option_groups, argc, argv));
    if (o->help_requested || o->version_requested) return GC_OK;
    int quiet, verbose, method;
    GC_TRY(gc_options_get_bool(o, "quiet", &quiet));
    GC_TRY(gc_options_get_bool(o, "verbose", &verbose));
    gc_log_init(run->rank, quiet ? GC_LOG_QUIET : verbose ? GC_LOG_VERBOSE : GC_LOG_NORMAL);
    GC_TRY(gc_options_require(o, "batches"));
    GC_TRY(gc_options_require(o, "state"));
    GC_TRY(gc_options_require(o, "k"));
    run->state_path = gc_options_get(o, "state");
    run->out = gc_options_get(o, "out");
    GC_TRY(gc_options_get_choice(o, "method", "gmc|craig|bico", &method));
    run->method = gc_method_find(gc_options_get(o, "method"));
    run->selector = gc_selector_find(run->method->selector);
    long k, slots;
    GC_TRY(gc_options_get_long(o, "k", 1, 1L << 40, &k));
    GC_TRY(gc_options_get_long(o, "slots", 0, MAX_SLOTS, &slots));
    run->k = k;
    run->slots = (int)slots;
    if (slots == 0 && strcmp(run->method->name, "gmc") != 0)
        return gc_fail(GC_ERR_USAGE,
                       "option --method %s needs --slots s (merge-reduce); the continual construction is GMC's",
                       run->method->name);
    if (slots > 0 && k < slots)
        return gc_fail(GC_ERR_USAGE, "option --k: %ld rows cannot fill %ld slots (each slot keeps ⌊k/s⌋ rows)", k,
                       slots);
    GC_TRY(gc_selector_parse(o, run->selector, run->method->name, 0, &run->sel));
    if (slots == 0 && run->sel.fl.per_class)
        return gc_fail(
            GC_ERR_USAGE,
            "option --per-class on: continual GMC matches one running target (use --slots for per-class selection)");
    run->classes_option = 0;
    if (gc_options_is_set(o, "classes")) GC_TRY(gc_options_get_long(o, "classes", 1, 1L << 30, &run->classes_option));
    int kind = gc_embedding_find(run->method->embedding);
    if (gc_options_is_set(o, "embedding")) GC_TRY(gc_options_get_choice(o, "embedding", GC_EMBEDDING_NAMES, &kind));
    run->embedding = (gc_embedding_kind)kind;
    run->embedding_name = gc_embedding_names[kind];
    run->seed = run->sel.fl.seed;
    GC_TRY(gc_options_get_choice(o, "device", GC_DEVICE_NAMES, &run->device));
    GC_TRY(gc_options_get_double(o, "device-memory", 0.0, 1.0, &run->device_memory));
    GC_TRY(gc_options_get_choice(o, "precision", GC_PRECISION_NAMES, &run->precision));
    GC_TRY(gc_sketch_resolve(gc_options_get(o, "sketch"), run->embedding, NULL, &run->sketch)); /* checked now */
    GC_TRY(gc_options_get_double(o, "hessian-damping", 0.0, 1e6, &run->hessian_damping));
    return GC_OK;
}

/* What decides the stream's result: every option but where files go, which batches this run
 * brings and how verbose it is, and the contents of the --model file (not its path). A state
 * belongs to the stream with this fingerprint. */
static uint64_t stream_fingerprint(const stream_run *run)
{
    static const char *const ignored[] = { "batches", "state",  "out",   "timings",      "quiet",
                                           "verbose", "config", "model", "device-memory" };
    static const char *const inputs[] = { "model", NULL };
    const uint64_t h = gc_options_fingerprint(&run->opts, ignored, sizeof ignored / sizeof *ignored);
    return gc_fingerprint_inputs(gc_hash_bytes(h, "model", gc_options_is_set(&run->opts, "model") ? 6 : 0), &run->opts,
                                 inputs, 1);
}

static void embed_config(const stream_run *run, int64_t first_row, gc_embed_config *cfg)
{
    *cfg = (gc_embed_config){ .kind = run->embedding,
                              .sketch_dim = run->sketch,
                              .hessian_damping = run->hessian_damping,
                              .seed = run->seed,
                              .models = run->models,
                              .model_count = run->model_count,
                              .first_row = first_row };
}

/* Collective. The proxy models, once the data's width and classes are known. */
static int ensure_models(stream_run *run, int d, int classes)
{
    if (run->models != NULL || run->embedding == GC_EMBED_FEATURES) return GC_OK;
    GC_TRY(gc_proxy_models_load(&run->opts, d, classes, run->seed, run->comm, &run->models, &run->model_count));
    return gc_sketch_resolve(gc_options_get(&run->opts, "sketch"), run->embedding, run->models, &run->sketch);
}

/* One batch as the selectors see it: rows [0, offset) of the index are old coreset members
 * (continual GMC's dictionary [C, G_t]), rows [offset, offset + N) the batch's rows; each rank
 * owns its contiguous range of that index, so the result does not depend on the rank count. */
typedef struct {
    gc_dataset dataset;
    gc_local_rows rows;
    int64_t offset, n; /* old members in front; the batch's N */
    int64_t batch_lo,
        batch_n; /* this rank's batch rows: batch row batch_lo + i is local row rows.n_local − batch_n + i */
    double *sum; /* [D] Σ of the batch's embeddings, the same bits for any rank count */
} stream_batch;

static void batch_destroy(stream_batch *b)
{
    gc_dataset_close(&b->dataset);
    free(b->rows.e);
    free(b->rows.y);
    free(b->rows.loss);
    free(b->sum);
}

static int batch_sum(stream_run *run, stream_batch *b)
{
    const int D = run->state.D;
    const float *e = b->rows.e + (b->rows.n_local - b->batch_n) * D;
    float max_abs = 0.0f;
    for (int64_t i = 0; i < b->batch_n * D; ++i) max_abs = fmaxf(max_abs, fabsf(e[i]));
    double global_max = max_abs;
    GC_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, &global_max, 1, MPI_DOUBLE, MPI_MAX, run->comm));
    gc_exact_sum sum = { 0 };
    b->sum = gc_calloc((size_t)D, sizeof *b->sum);
    int status = b->sum ? gc_exact_sum_create(&sum, D, global_max) : gc_fail(GC_ERR_MEMORY, "out of memory");
    for (int64_t i = 0; i < b->batch_n && status == GC_OK; ++i) gc_exact_sum_add(&sum, e + i * D);
    status = gc_comm_agree(run->comm, status);
    if (status == GC_OK) status = gc_exact_sum_allreduce(&sum, run->comm, b->sum);
    gc_exact_sum_destroy(&sum);
    return status;
}

/* Collective: opens the batch (fixing d, D and C on the stream's first batch), reads and embeds
 * this rank's rows, and puts old members in front when offset > 0. */
static int load_batch(stream_run *run, const char *path, int64_t offset, stream_batch *b)
{
    gc_stream_state *st = &run->state;
    b->offset = offset;
    GC_TRY(gc_dataset_open(&b->dataset, path, run->comm));
    const gc_dataset *ds = &b->dataset;
    b->n = ds->n;
    if (ds->n == 0) return gc_fail(GC_ERR_INPUT, "--batches %s: the batch has no rows (N = 0)", path);
    if (offset + ds->n < run->size)
        return gc_fail(GC_ERR_INPUT, "--batches %s: %lld rows for %d ranks: run with at most %lld ranks", path,
                       (long long)ds->n, run->size, (long long)(offset + ds->n));
    if (!run->have_state) {
        int classes = run->classes_option > 0 ? (int)run->classes_option : ds->num_classes;
        if (classes <= 0)
            return gc_fail(GC_ERR_USAGE,
                           "--batches %s has no num_classes attribute: give --classes C (a stream's later "
                           "batches may bring classes the first one lacks)",
                           path);
        GC_TRY(ensure_models(run, ds->d, classes));
        gc_embed_config cfg;
        embed_config(run, 0, &cfg);
        st->fingerprint = stream_fingerprint(run);
        st->continual = run->slots == 0;
        st->k = run->k;
        st->slots = run->slots;
        int D;
        GC_TRY(gc_embedding_width(&cfg, ds->d, &D));
        GC_TRY(gc_comm_agree(run->comm, gc_stream_state_init(st, ds->d, D, classes)));
        run->have_state = 1;
    }
    if (ds->d != st->d)
        return gc_fail(GC_ERR_INPUT, "--batches %s: /X has %d columns but the stream's batches have %d", path, ds->d,
                       st->d);
    if (ds->num_classes != 0 && ds->num_classes != st->classes)
        return gc_fail(GC_ERR_INPUT, "--batches %s: num_classes is %d but the stream has C = %d", path, ds->num_classes,
                       st->classes);
    const int D = st->D, d = ds->d;
    int64_t lo, hi;
    gc_comm_row_range(offset + ds->n, run->rank, run->size, &lo, &hi);
    b->batch_lo = (lo > offset ? lo : offset) - offset;
    b->batch_n = (hi > offset ? hi : offset) - offset - b->batch_lo;
    gc_local_rows *r = &b->rows;
    *r = (gc_local_rows){ .comm = run->comm,
                          .rank = run->rank,
                          .size = run->size,
                          .n_global = offset + ds->n,
                          .lo = lo,
                          .n_local = hi - lo,
                          .D = D,
                          .classes = st->classes };
    const size_t rows = (size_t)(r->n_local > 0 ? r->n_local : 1);
    r->e = gc_malloc(rows * D * sizeof *r->e);
    r->y = gc_malloc(rows * sizeof *r->y);
    r->loss = gc_malloc(rows * sizeof *r->loss);
    int status =
        (r->e && r->y && r->loss) ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory for %lld rows", (long long)rows);
    const int64_t old = r->n_local - b->batch_n; /* old members on this rank: positions lo … lo + old − 1 */
    status = gc_comm_agree(run->comm, status);
    if (status == GC_OK)
        status = gc_dataset_read(ds, run->comm, b->batch_lo, b->batch_lo + b->batch_n, NULL, r->y + old, NULL);
    for (int64_t i = 0; i < b->batch_n && status == GC_OK; ++i)
        if (r->y[old + i] < 0 || r->y[old + i] >= st->classes)
            status = gc_fail(GC_ERR_INPUT, "--batches %s: row %lld has label %d outside [0, %d)", path,
                             (long long)(b->batch_lo + i), r->y[old + i], st->classes);
    status = gc_comm_agree(run->comm, status);
    if (status == GC_OK) {
        gc_dataset_range rows_x = { .ds = ds, .first = b->batch_lo }; /* X streams through the engine */
        gc_embed_config cfg;
        embed_config(run, b->batch_lo, &cfg);
        cfg.read_x = gc_dataset_range_read;
        cfg.read_ctx = &rows_x;
        status = run->backend->ops->embed(run->backend, &cfg, b->batch_n, d, NULL, r->y + old, r->e + old * D,
                                          r->loss + old);
    }
    GC_TRY(gc_comm_agree(run->comm, status));
    for (int64_t p = 0; p < old; ++p) {
        const int64_t m = lo + p;
        memcpy(r->e + p * D, st->members.e + m * D, (size_t)D * sizeof *r->e);
        r->y[p] = st->members.label[m];
        r->loss[p] = st->members.loss[m];
    }
    return batch_sum(run, b);
}

/* ---- reservoir sampling, the baseline: each row gets the key u(seed, id) and the reservoir is
 * the k rows with the smallest keys seen so far (reservoir sampling by random keys), so it is a
 * uniform k-subset of everything seen, the same for any rank count and any batching. ---- */

typedef struct {
    double key;
    int64_t id;
    int32_t label;
    int32_t local; /* position in its source: a batch row (>= 0) or a reservoir member (-1 − i) */
} reservoir_key;

static int by_key(const void *a, const void *b)
{
    const reservoir_key *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static int update_reservoir(stream_run *run, const stream_batch *b)
{
    gc_stream_state *st = &run->state;
    const int D = st->D;
    const int64_t old = b->rows.n_local - b->batch_n;
    reservoir_key *mine = gc_malloc((size_t)(b->batch_n > 0 ? b->batch_n : 1) * sizeof *mine);
    for (int64_t i = 0; mine != NULL && i < b->batch_n; ++i) {
        const int64_t id = st->seen + b->batch_lo + i;
        mine[i] = (reservoir_key){ gc_rng_uniform(run->seed, GC_STREAM_RESERVOIR, (uint64_t)id), id, b->rows.y[old + i],
                                   (int32_t)i };
    }
    if (mine != NULL) qsort(mine, (size_t)b->batch_n, sizeof *mine, by_key);
    const int64_t keep = b->batch_n < st->k ? b->batch_n : st->k;
    /* Records: key header, then the embedding; every rank gathers every rank's best. */
    const size_t bytes = sizeof(reservoir_key) + (size_t)D * sizeof(float);
    char *send = gc_malloc((size_t)(keep > 0 ? keep : 1) * bytes);
    int *counts = gc_malloc((size_t)run->size * sizeof *counts),
        *displs = gc_malloc((size_t)run->size * sizeof *displs);
    int status = (mine && send && counts && displs) ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory for the reservoir");
    if (status == GC_OK && (double)keep * (double)bytes > (double)INT_MAX)
        status = gc_fail(GC_ERR_USAGE,
                         "option --k: a reservoir of %lld rows of width %d is too large to gather in one MPI call",
                         (long long)keep, D);
    for (int64_t t = 0; t < keep && status == GC_OK; ++t) {
        memcpy(send + t * bytes, &mine[t], sizeof mine[t]);
        memcpy(send + t * bytes + sizeof mine[t], b->rows.e + (old + mine[t].local) * D, (size_t)D * sizeof(float));
    }
    status = gc_comm_agree(run->comm, status);
    int mine_bytes = (int)(keep * bytes), total = 0;
    if (status == GC_OK && GC_MPI(MPI_Allgather(&mine_bytes, 1, MPI_INT, counts, 1, MPI_INT, run->comm)) != MPI_SUCCESS)
        status = gc_fail(GC_ERR_LIB, "MPI error gathering the reservoir");
    for (int r = 0; r < run->size && status == GC_OK; ++r) displs[r] = total, total += counts[r];
    const int64_t gathered = total / (int64_t)bytes, all = gathered + st->reservoir.n;
    char *recv = status == GC_OK ? gc_malloc((size_t)(total > 0 ? total : 1)) : NULL;
    reservoir_key *keys = status == GC_OK ? gc_malloc((size_t)(all > 0 ? all : 1) * sizeof *keys) : NULL;
    if (status == GC_OK && (recv == NULL || keys == NULL))
        status = gc_fail(GC_ERR_MEMORY, "out of memory for the reservoir");
    status = gc_comm_agree(run->comm, status);
    if (status == GC_OK &&
        GC_MPI(MPI_Allgatherv(send, mine_bytes, MPI_BYTE, recv, counts, displs, MPI_BYTE, run->comm)) != MPI_SUCCESS)
        status = gc_fail(GC_ERR_LIB, "MPI error gathering the reservoir");
    gc_member_set next = { 0 };
    if (status == GC_OK) {
        for (int64_t t = 0; t < gathered; ++t) {
            memcpy(&keys[t], recv + t * bytes, sizeof keys[t]);
            keys[t].local = (int32_t)t;
        }
        for (int64_t i = 0; i < st->reservoir.n; ++i)
            keys[gathered + i] = (reservoir_key){ st->reservoir.weight[i], st->reservoir.id[i], st->reservoir.label[i],
                                                  (int32_t)(-1 - i) };
        qsort(keys, (size_t)all, sizeof *keys, by_key);
        const int64_t n = all < st->k ? all : st->k;
        status = gc_member_set_allocate(&next, n, D);
        for (int64_t t = 0; t < n && status == GC_OK; ++t) {
            next.id[t] = keys[t].id;
            next.label[t] = keys[t].label;
            next.weight[t] = keys[t].key;
            const float *src = keys[t].local >= 0
                                   ? (const float *)(recv + keys[t].local * bytes + sizeof(reservoir_key))
                                   : st->reservoir.e + (int64_t)(-1 - keys[t].local) * D;
            memcpy(next.e + t * D, src, (size_t)D * sizeof(float));
        }
    }
    if (status == GC_OK) {
        gc_member_set_destroy(&st->reservoir);
        st->reservoir = next;
    } else {
        gc_member_set_destroy(&next);
    }
    free(mine);
    free(send);
    free(counts);
    free(displs);
    free(recv);
    free(keys);
    return status;
}

/* ‖g − Σⱼ wⱼ eⱼ‖ / ‖g‖ with g = Σ of every row seen; scale multiplies every weight. */
static double gradient_error(const gc_stream_state *st, const gc_member_set *s, int use_weights, double scale)
{
    double diff = 0.0, norm = 0.0;
    for (int j = 0; j < st->D; ++j) {
        double approx = 0.0;
        for (int64_t i = 0; i < s->n; ++i) approx += (use_weights ? s->weight[i] : 1.0) * scale * s->e[i * st->D + j];
        diff += (st->target[j] - approx) * (st->target[j] - approx);
        norm += st->target[j] * st->target[j];
    }
    return sqrt(diff) / (norm > 0.0 ? sqrt(norm) : 1.0);
}

/* Members from a selector's coreset over a batch index where rows [0, offset) are old members. */
static int members_from_coreset(const gc_stream_state *st, const gc_coreset *cs, int64_t offset, int32_t slot,
                                gc_member_set *out)
{
    GC_TRY(gc_member_set_allocate(out, cs->k, st->D));
    for (int64_t t = 0; t < cs->k; ++t) {
        const int64_t i = cs->index[t];
        out->id[t] = i < offset ? st->members.id[i] : st->seen + (i - offset);
        out->label[t] = cs->label[t];
        out->weight[t] = cs->weight[t];
        out->gain[t] = cs->gain[t];
        out->loss[t] = cs->loss[t];
        out->slot[t] = slot;
    }
    memcpy(out->e, cs->embedding, (size_t)cs->k * st->D * sizeof *out->e);
    return GC_OK;
}

/* dst ← rows of a whose slot is in [first, last] (in a's order), then b's rows (all of them). */
static int concat_members(const gc_member_set *a, int first, int last, const gc_member_set *b, gc_member_set *dst)
{
    int64_t n = 0;
    for (int64_t i = 0; i < a->n; ++i) n += a->slot[i] >= first && a->slot[i] <= last;
    GC_TRY(gc_member_set_allocate(dst, n + (b ? b->n : 0), a->D));
    int64_t t = 0;
    const int D = a->D;
    for (int pass = 0; pass < 2; ++pass) {
        const gc_member_set *s = pass == 0 ? a : b;
        for (int64_t i = 0; s != NULL && i < s->n; ++i) {
            if (pass == 0 && !(s->slot[i] >= first && s->slot[i] <= last)) continue;
            dst->id[t] = s->id[i];
            dst->label[t] = s->label[i];
            dst->weight[t] = s->weight[i];
            dst->gain[t] = s->gain[i];
            dst->loss[t] = s->loss[i];
            dst->slot[t] = s->slot[i];
            memcpy(dst->e + t * D, s->e + i * D, (size_t)D * sizeof *dst->e);
            ++t;
        }
    }
    return GC_OK;
}

static int by_id(const void *a, const void *b)
{
    const int64_t x = **(const int64_t *const *)a, y = **(const int64_t *const *)b;
    return (x > y) - (x < y);
}

/* The union of slots i and i + 1, sorted by id (the selectors break ties by position). */
static int slot_union(const gc_member_set *members, int i, gc_member_set *u)
{
    gc_member_set unsorted = { 0 };
    GC_TRY(concat_members(members, i, i + 1, NULL, &unsorted));
    const int64_t n = unsorted.n;
    const int D = members->D;
    int64_t **order = gc_malloc((size_t)(n > 0 ? n : 1) * sizeof *order);
    int status = order ? gc_member_set_allocate(u, n, D) : gc_fail(GC_ERR_MEMORY, "out of memory");
    if (status == GC_OK) {
        for (int64_t t = 0; t < n; ++t) order[t] = &unsorted.id[t];
        qsort(order, (size_t)n, sizeof *order, by_id);
        for (int64_t t = 0; t < n; ++t) {
            const int64_t s = order[t] - unsorted.id;
            u->id[t] = unsorted.id[s];
            u->label[t] = unsorted.label[s];
            u->weight[t] = unsorted.weight[s];
            u->gain[t] = unsorted.gain[s];
            u->loss[t] = unsorted.loss[s];
            u->slot[t] = unsorted.slot[s];
            memcpy(u->e + t * D, unsorted.e + s * D, (size_t)D * sizeof *u->e);
        }
    }
    free(order);
    gc_member_set_destroy(&unsorted);
    return status;
}

/* Continual GMC, Algorithm 2: OMP over [C, G_t] against the running target. */
static int continual_step(stream_run *run, stream_batch *b)
{
    gc_stream_state *st = &run->state;
    gc_omp_options opt = run->sel.omp;
    opt.targets = st->target;
    gc_coreset cs = { 0 };
    gc_member_set next = { 0 };
    int status = gc_select_omp(&run->ctx, &b->rows, &opt, run->k, &cs);
    if (status == GC_OK) status = members_from_coreset(st, &cs, b->offset, 0, &next);
    gc_coreset_destroy(&cs);
    GC_TRY(status);
    gc_member_set_destroy(&st->members);
    st->members = next;
    return GC_OK;
}

/* Merge-reduce: the batch becomes a slot; an overflowing buffer merges one pair of slots. */
static int merge_reduce_step(stream_run *run, stream_batch *b)
{
    gc_stream_state *st = &run->state;
    const int64_t m = run->k / run->slots;
    gc_coreset cs = { 0 };
    gc_member_set slot = { 0 }, grown = { 0 };
    int status = run->selector->select(&run->ctx, &run->sel, &b->rows, m < b->n ? m : b->n, &cs);
    if (status == GC_OK) status = members_from_coreset(st, &cs, 0, st->slot_count, &slot);
    gc_coreset_destroy(&cs);
    if (status == GC_OK) status = concat_members(&st->members, 0, MAX_SLOTS, &slot, &grown);
    gc_member_set_destroy(&slot);
    GC_TRY(status);
    gc_member_set_destroy(&st->members);
    st->members = grown;
    const int i = gc_merge_reduce_step(st->slot, &st->slot_count, run->slots, st->batches + 1);
    if (i < 0) return GC_OK;
    gc_member_set u = { 0 }, merged = { 0 }, before = { 0 }, after = { 0 };
    status = slot_union(&st->members, i, &u);
    if (status == GC_OK) status = run->selector->merge(&run->ctx, &run->sel, &u, st->classes, m, &merged);
    for (int64_t t = 0; t < merged.n; ++t) merged.slot[t] = i;
    if (status == GC_OK) status = concat_members(&st->members, 0, i - 1, &merged, &before);
    if (status == GC_OK) status = concat_members(&st->members, i + 2, MAX_SLOTS, NULL, &after);
    for (int64_t t = 0; t < after.n; ++t) after.slot[t]--; /* slots after the pair move down by one */
    if (status == GC_OK) {
        gc_member_set_destroy(&st->members);
        status = concat_members(&before, 0, MAX_SLOTS, &after, &st->members);
    }
    gc_member_set_destroy(&u);
    gc_member_set_destroy(&merged);
    gc_member_set_destroy(&before);
    gc_member_set_destroy(&after);
    if (status == GC_OK)
        gc_info("stream: merged slots %d and %d into one summarising %lld batches", i, i + 1,
                (long long)st->slot[i].beta);
    return status;
}

/* Rank 0: the coreset of everything seen, in the coreset format (index = global row over the
 * concatenation of the batches in arrival order), staged at its temporary name `tmp` (the caller
 * commits it with gc_commit_output). */
static int stage_coreset(stream_run *run, char *tmp, size_t size)
{
    const gc_stream_state *st = &run->state;
    const gc_member_set *s = &st->members;
    gc_coreset cs;
    int status = gc_coreset_allocate(&cs, s->n, st->D, st->classes);
    char *resolved = gc_options_resolved(&run->opts);
    if (status == GC_OK) {
        memcpy(cs.index, s->id, (size_t)s->n * sizeof *cs.index);
        memcpy(cs.label, s->label, (size_t)s->n * sizeof *cs.label);
        memcpy(cs.weight, s->weight, (size_t)s->n * sizeof *cs.weight);
        memcpy(cs.gain, s->gain, (size_t)s->n * sizeof *cs.gain);
        memcpy(cs.loss, s->loss, (size_t)s->n * sizeof *cs.loss);
        memcpy(cs.embedding, s->e, (size_t)s->n * st->D * sizeof *cs.embedding);
        for (int64_t t = 0; t < s->n; ++t) cs.budgets[s->label[t]]++;
        cs.objective = st->gradient_error;
        gc_provenance prov = { .command_line = run->command_line,
                               .resolved_options = resolved ? resolved : "",
                               .method = run->method->name,
                               .embedding = run->embedding_name,
                               .selector = st->continual ? "continual omp" : run->selector->name,
                               .devices = run->backend->description,
                               .n = st->seen,
                               .ranks = run->size,
                               .seed = run->seed,
                               .gradient_error = st->gradient_error,
                               .random_gradient_error = st->reservoir_error };
        status = gc_stage_coreset(run->out, &cs, &prov, tmp, size);
    }
    gc_coreset_destroy(&cs);
    free(resolved);
    return status;
}

static int write_coreset(stream_run *run)
{
    char tmp[4096];
    GC_TRY(stage_coreset(run, tmp, sizeof tmp));
    return gc_commit_output("--out", tmp, run->out, GC_OK);
}

/* Rank 0: the coreset and the state replaced together: both are staged first, so a failure on
 * either leaves both files as they were; the state is renamed into place first, so a job killed
 * between the two renames finds the batch in the state and brings the coreset up to date. */
static int replace_outputs(stream_run *run)
{
    char coreset_tmp[4096] = "", state_tmp[4096];
    int status = run->out != NULL ? stage_coreset(run, coreset_tmp, sizeof coreset_tmp) : GC_OK;
    if (status == GC_OK) status = gc_stream_state_stage(&run->state, run->state_path, state_tmp, sizeof state_tmp);
    if (status != GC_OK) {
        if (coreset_tmp[0] != '\0') gc_commit_output("--out", coreset_tmp, run->out, status); /* removes it */
        return status;
    }
    status = gc_stream_state_commit(state_tmp, run->state_path);
    if (coreset_tmp[0] != '\0') status = gc_commit_output("--out", coreset_tmp, run->out, status);
    return status;
}

/* Collective: batch `path` (absolute; its contents `id`) joins the state; then the coreset and the
 * state are replaced. */
static int process_batch(stream_run *run, const char *path, const gc_file_fingerprint *id)
{
    gc_stream_state *st = &run->state;
    stream_batch b;
    memset(&b, 0, sizeof b);
    gc_phases *phases = &run->phases;
    gc_phase_begin(phases, "load");
    int status = load_batch(run, path, run->have_state && st->continual ? st->members.n : 0, &b);
    if (status == GC_OK) {
        for (int j = 0; j < st->D; ++j) st->target[j] += b.sum[j];
        status = update_reservoir(run, &b);
    }
    /* X read once and streamed through the engine, E written once (host memory on either device) */
    gc_phase_bound(phases, GC_FLOOR_HOST);
    gc_phase_end(phases, (double)b.batch_n * (b.dataset.d + st->D) * sizeof(float), 0);
    gc_phase_begin(phases, "select");
    if (status == GC_OK) status = st->continual ? continual_step(run, &b) : merge_reduce_step(run, &b);
    gc_phase_end(phases, 0, 0);
    if (status == GC_OK) status = gc_stream_state_add_batch(st, path, b.n, id);
    if (status == GC_OK) {
        st->seen += b.n;
        st->gradient_error = gradient_error(st, &st->members, 1, 1.0);
        st->reservoir_error = gradient_error(st, &st->reservoir, 0, (double)st->seen / (double)st->reservoir.n);
    }
    batch_destroy(&b);
    GC_TRY(gc_comm_agree(run->comm, status));
    gc_phase_begin(phases, "write");
    if (run->rank == 0) status = replace_outputs(run);
    gc_phase_end(phases, 0, 0);
    GC_TRY(gc_comm_agree(run->comm, status));
    if (run->rank == 0 && gc_log_level() != GC_LOG_QUIET) {
        printf("gradcore stream: batch %lld (%s): N = %lld, seen %lld; coreset of %lld rows%s; relative gradient error "
               "vs all seen: coreset %.4g, reservoir sampling %.4g\n",
               (long long)st->batches, path, (long long)st->batch_rows[st->batches - 1], (long long)st->seen,
               (long long)st->members.n, st->continual ? "" : " in slots", st->gradient_error, st->reservoir_error);
        fflush(stdout);
    }
    return GC_OK;
}

/* Rank 0: the fingerprint of each batch (io/fingerprint.h) and whether the stream holds it already
 * (known[i] = 1), by contents: a batch whose size, mtime and sampled blocks match a recorded one is
 * known without reading it; any other is hashed whole. A batch listed twice is a usage error. */
static int identify_batches(const stream_run *run, char (*paths)[4096], int count, gc_file_fingerprint *ids, int *known)
{
    for (int i = 0; i < count; ++i) {
        GC_TRY(gc_fingerprint_file("--batches", paths[i], 0, &ids[i]));
        int64_t held = run->have_state ? gc_stream_state_find_batch(&run->state, &ids[i]) : -1;
        if (held < 0) {
            GC_TRY(gc_fingerprint_file("--batches", paths[i], 1, &ids[i]));
            if (run->have_state) held = gc_stream_state_find_batch(&run->state, &ids[i]);
        }
        if (held >= 0) ids[i] = run->state.batch_id[held];
        known[i] = held >= 0;
        for (int j = 0; j < i; ++j)
            if (ids[j].size == ids[i].size && ids[j].content == ids[i].content)
                return gc_fail(GC_ERR_USAGE, "--batches: %s and %s hold the same contents (a batch listed twice)",
                               paths[j], paths[i]);
    }
    return GC_OK;
}

/* Collective: every batch of --batches not yet in the state, in order. Those already in must come
 * first (a resumed or repeated command); a known batch after a new one is a usage error, found
 * before any batch is processed. */
static int run_batches(stream_run *run)
{
    char *list = gc_strdup(gc_options_get(&run->opts, "batches"));
    int status = list ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory"), count = 0, done = 0;
    for (const char *p = list; p && *p; ++p) count += *p == ',';
    char(*paths)[4096] = gc_calloc((size_t)count + 1, sizeof *paths);
    gc_file_fingerprint *ids = gc_calloc((size_t)count + 1, sizeof *ids);
    int *known = gc_calloc((size_t)count + 1, sizeof *known);
    if (paths == NULL || ids == NULL || known == NULL) status = gc_fail(GC_ERR_MEMORY, "out of memory");
    count = 0;
    char *save = NULL;
    for (char *item = list ? strtok_r(list, ",", &save) : NULL; item != NULL && status == GC_OK;
         item = strtok_r(NULL, ",", &save)) {
        if (realpath(item, paths[count]) == NULL) snprintf(paths[count], sizeof paths[count], "%s", item);
        ++count;
    }
    if (status == GC_OK && run->rank == 0) status = identify_batches(run, paths, count, ids, known);
    status = gc_comm_agree(run->comm, status);
    if (status == GC_OK) {
        GC_CHECK_MPI(MPI_Bcast(known, count, MPI_INT, 0, run->comm));
        GC_CHECK_MPI(MPI_Bcast(ids, count * (int)sizeof *ids, MPI_BYTE, 0, run->comm));
    }
    for (int i = 0; i < count && status == GC_OK; ++i) {
        if (known[i] && i > done)
            status = gc_fail(GC_ERR_USAGE, "--batches: %s is already in --state %s but comes after a new batch",
                             paths[i], run->state_path);
        done += known[i];
    }
    if (status == GC_OK && done > 0) gc_info("stream: %d batch(es) already in %s: skipped", done, run->state_path);
    for (int i = done; i < count && status == GC_OK; ++i)
        status = gc_comm_agree(run->comm, process_batch(run, paths[i], &ids[i]));
    /* Nothing new: the coreset file is still brought up to date with the state. */
    if (status == GC_OK && done == count && run->have_state && run->out != NULL)
        status = gc_comm_agree(run->comm, run->rank == 0 ? write_coreset(run) : GC_OK);
    free(paths);
    free(ids);
    free(known);
    free(list);
    return status;
}

/* Collective: the phases of every batch, reduced over ranks, into --timings and, with --verbose,
 * onto stdout. */
static int report_phases(stream_run *run)
{
    GC_TRY(gc_phases_reduce(&run->phases, run->comm));
    int status = GC_OK;
    if (run->rank == 0 && gc_options_is_set(&run->opts, "timings")) {
        char context[256];
        snprintf(context, sizeof context,
                 "\"command\": \"stream\", \"method\": \"%s\", \"batches\": %lld, \"seen\": %lld, \"D\": %d, "
                 "\"ranks\": %d, \"devices\": \"%.64s\"",
                 run->method->name, (long long)run->state.batches, (long long)run->state.seen, run->state.D, run->size,
                 run->backend->description);
        status = gc_phases_write_json(&run->phases, gc_options_get(&run->opts, "timings"), "timings", context);
    }
    if (run->rank == 0 && gc_log_level() == GC_LOG_VERBOSE) gc_phases_print(&run->phases, stdout);
    return gc_comm_agree(run->comm, status);
}

static int open_state(stream_run *run)
{
    int exists = run->rank == 0 && access(run->state_path, F_OK) == 0;
    GC_CHECK_MPI(MPI_Bcast(&exists, 1, MPI_INT, 0, run->comm));
    if (!exists) return GC_OK;
    int status = gc_stream_state_read(&run->state, run->state_path, stream_fingerprint(run));
    GC_TRY(gc_comm_agree(run->comm, status));
    run->have_state = 1;
    gc_info("stream: %s holds %lld batch(es), %lld rows seen", run->state_path, (long long)run->state.batches,
            (long long)run->state.seen);
    return gc_comm_agree(run->comm, ensure_models(run, run->state.d, run->state.classes));
}

int gc_command_stream(int argc, char **argv)
{
    stream_run run;
    memset(&run, 0, sizeof run);
    run.lock.fd = -1;
    run.comm = MPI_COMM_WORLD;
    gc_phases_init(&run.phases);
    MPI_Comm_rank(run.comm, &run.rank);
    MPI_Comm_size(run.comm, &run.size);
    gc_log_init(run.rank, GC_LOG_NORMAL);
    run.command_line = gc_command_line("stream", argc, argv);
    int status = gc_comm_agree(run.comm, run.command_line == NULL ? gc_fail(GC_ERR_MEMORY, "out of memory")
                                                                  : parse_options(&run, argc, argv));
    if (status == GC_OK && run.opts.help_requested) {
        if (run.rank == 0) gc_options_print_help(run.opts.specs, stream_usage, stdout);
    } else if (status == GC_OK && run.opts.version_requested) {
        if (run.rank == 0) printf("gradcore stream %s (%s)\n", GC_VERSION, GC_GIT_COMMIT);
    } else if (status == GC_OK) {
        int writable = run.rank == 0 ? gc_guard_check(&run.opts, stream_files) : GC_OK;
        if (run.rank == 0 && writable == GC_OK) writable = gc_stream_state_lock(&run.lock, run.state_path);
        status = gc_comm_agree(run.comm, writable);
        if (status == GC_OK)
            status = gc_comm_agree(run.comm, gc_backend_create((gc_device_request)run.device, run.comm, &run.backend));
        if (status == GC_OK) {
            run.backend->precision = (gc_precision)run.precision;
            run.backend->resident_share = run.device_memory;
        }
        if (status == GC_OK && (gc_options_is_set(&run.opts, "timings") || gc_log_level() == GC_LOG_VERBOSE)) {
            gc_ceilings ceilings; /* batches are files: their storage rate is measured per batch's read */
            gc_measure_ceilings(run.backend, NULL, &ceilings);
            gc_phases_set_ceilings(&run.phases, &ceilings);
        }
        run.ctx = (gc_run_context){ .backend = run.backend, .phases = &run.phases };
        if (status == GC_OK) status = open_state(&run);
        if (status == GC_OK) status = run_batches(&run);
        if (status == GC_OK) status = report_phases(&run);
    }
    gc_stream_state_destroy(&run.state);
    gc_lock_release(&run.lock);
    for (int s = 0; s < run.model_count; ++s) gc_model_destroy(&run.models[s]);
    free(run.models);
    gc_backend_destroy(run.backend);
    gc_options_destroy(&run.opts);
    free(run.command_line);
    return status;
}
