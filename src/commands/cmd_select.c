/* gradcore select: read → embed → select → weigh → write, one phase after another; every phase
 * ends with a collective agreement on its status so a failure anywhere stops all ranks alike. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "core/comm.h"
#include "core/error.h"
#include "core/finite.h"
#include "core/log.h"
#include "core/options.h"
#include "core/phases.h"
#include "core/version.h"
#include "io/checkpoint.h"
#include "io/coreset_writer.h"
#include "io/dataset.h"
#include "io/embeddings_io.h"
#include "io/model.h"
#include "io/output_guard.h"
#include "io/proxy_models.h"
#include "kernels/backend.h"
#include "kernels/ceilings.h"
#include "select_api.h"
#include "src/select/quality.h"
#include "src/select/selector.h"

/* select's own options; the rest are the groups declared once in src/select/selector.h. */
static const gc_option_spec select_own_options[] = {
    { "config", GC_OPT_VALUE, NULL, "FILE", "INI job file with more options (keys = long option names)" },
    { "data", GC_OPT_VALUE, NULL, "PATH[,PATH…]|GLOB|synthetic:…",
      "HDF5 shards (/X, /y) in global order, or the generator" },
    { "method", GC_OPT_VALUE, "craig", "NAME", GC_METHOD_NAMES " (embedding + selector preset)" },
    { "selector", GC_OPT_VALUE, NULL, "NAME", "override the preset: " GC_SELECTOR_NAMES },
    { "embeddings", GC_OPT_VALUE, NULL, "FILE",
      "read the embeddings (/E, /y, /loss) instead of computing them; rows = --data's rows" },
    { "save-embeddings", GC_OPT_VALUE, NULL, "FILE", "also write the embeddings (/E, /y, /loss) to this HDF5 file" },
    { "k", GC_OPT_VALUE, NULL, "N|P%", "coreset size, absolute or percent of N" },
    { "epsilon", GC_OPT_VALUE, "0", "ε",
      "facility location: submodular cover, the smallest greedy coreset with L(S) = Σᵢ minⱼ ‖eᵢ − eⱼ‖ ≤ ε (instead of "
      "--k)" },
    { "out", GC_OPT_VALUE, NULL, "FILE", "coreset file to write (HDF5)" },
    { "checkpoint", GC_OPT_VALUE, NULL, "DIR",
      "keep restart state here; the same command run again resumes where it stopped" },
    { "checkpoint-every", GC_OPT_VALUE, "1", "N",
      "fsync the selection log every N records (facility-location partitions or OMP passes)" },
    { NULL, 0, NULL, NULL, NULL }
};

static const gc_option_spec *const select_option_groups[] = {
    select_own_options,   gc_embedding_option_specs, gc_selection_option_specs,
    gc_fl_option_specs,   gc_omp_option_specs,       gc_crest_option_specs,
    gc_bico_option_specs, gc_report_option_specs,    NULL
};

/* What the command reads and writes, for io/output_guard.h. */
static const gc_guard_option select_files[] = { { "data", GC_GUARD_INPUTS },
                                                { "model", GC_GUARD_INPUT },
                                                { "embeddings", GC_GUARD_INPUT },
                                                { "out", GC_GUARD_OUTPUT },
                                                { "save-embeddings", GC_GUARD_OUTPUT },
                                                { "timings", GC_GUARD_OUTPUT },
                                                { "checkpoint", GC_GUARD_OUTPUT_DIR },
                                                { NULL, 0 } };

static const char select_usage[] =
    "usage: mpirun -np P gradcore select --data PATH --k N|P% --out coreset.h5 [options]\n\n"
    "Builds a weighted coreset whose weighted gradient embedding sum matches the full data's.";

typedef struct {
    gc_options opts;
    char *command_line;
    const char *data, *out;
    const gc_method *method;
    const gc_selector *selector;
    const char *embedding_name;
    gc_embedding_kind embedding;
    int device;
    int precision;        /* gc_precision: the backend's, and what embeddings read or given are rounded to */
    double device_memory; /* --device-memory: the backend's resident_share */
    int64_t k;
    gc_selector_options sel;
    MPI_Comm comm;
    int rank, size;
    gc_dataset dataset;
    gc_model *models;
    int model_count;
    int embeddings_read; /* E came from --embeddings or a checkpoint, not the engine */
    gc_backend *backend;
    gc_local_rows rows;
    void *e_stored; /* E as the device stores it, where it lives there and is written (§3.2); freed once written */
    gc_coreset coreset;
    gc_phases phases;
    double ceilings_s; /* measuring the device's ceilings (--timings, --verbose): outside the phases */
    gc_checkpoint checkpoint;
    int checkpointing;
    gc_run_context ctx;
    double gradient_error, random_gradient_error;
} select_run;

/* --k N or --k P% (of N, rounded to nearest, at least 1). */
static int resolve_k(const char *text, int64_t n, int64_t *k)
{
    char *end;
    double v = strtod(text, &end);
    if (end == text) return gc_fail(GC_ERR_USAGE, "option --k: '%s' is not a number or percentage", text);
    if (*end == '%' && end[1] == '\0') {
        if (!(v > 0.0 && v <= 100.0)) return gc_fail(GC_ERR_USAGE, "option --k: %s is not in (0%%, 100%%]", text);
        *k = (int64_t)llround(v / 100.0 * (double)n);
        if (*k < 1) *k = 1;
    } else if (*end == '\0' && v == floor(v)) {
        if (!(fabs(v) < 0x1p63)) /* beyond int64_t: the cast would be undefined */
            return gc_fail(GC_ERR_USAGE, "option --k: %s is too large (the data has %lld rows)", text, (long long)n);
        *k = (int64_t)v;
    } else {
        return gc_fail(GC_ERR_USAGE, "option --k: '%s' is not an integer or percentage", text);
    }
    if (*k <= 0) return gc_fail(GC_ERR_USAGE, "option --k: k = %lld must be positive", (long long)*k);
    if (*k > n)
        return gc_fail(GC_ERR_INPUT, "option --k: k = %lld exceeds the %lld rows of the data", (long long)*k,
                       (long long)n);
    return GC_OK;
}

/* Options of a run: the preset of --method, overridden by --embedding and --selector, and the
 * selector's options from the table. `library`: called by gc_select_embeddings, which takes the
 * rows from memory (no --data, --out, embedding or model options apply). */
static int parse_options(select_run *run, int argc, char **argv, int library)
{
    gc_options *o = &run->opts;
    GC_TRY(gc_options_parse_groups(o, "select", select_option_groups, argc, argv));
    if (o->help_requested || o->version_requested) return GC_OK;
    int quiet, verbose;
    GC_TRY(gc_options_get_bool(o, "quiet", &quiet));
    GC_TRY(gc_options_get_bool(o, "verbose", &verbose));
    gc_log_init(run->rank, quiet ? GC_LOG_QUIET : verbose ? GC_LOG_VERBOSE : GC_LOG_NORMAL);
    if (!library) {
        GC_TRY(gc_options_require(o, "data"));
        GC_TRY(gc_options_require(o, "out"));
    }
    run->data = gc_options_get(o, "data");
    run->out = gc_options_get(o, "out");
    int method;
    GC_TRY(gc_options_get_choice(o, "method", GC_METHOD_NAMES, &method));
    run->method = gc_method_find(gc_options_get(o, "method"));
    const char *selector = gc_options_is_set(o, "selector") ? gc_options_get(o, "selector") : run->method->selector;
    run->selector = gc_selector_find(selector);
    if (run->selector == NULL)
        return gc_fail(GC_ERR_USAGE, "option --selector: '%s' is not one of " GC_SELECTOR_NAMES, selector);
    run->embedding_name = gc_options_is_set(o, "embedding") ? gc_options_get(o, "embedding") : run->method->embedding;
    const int kind = gc_embedding_find(run->embedding_name);
    if (kind < 0)
        return gc_fail(GC_ERR_USAGE, "option --embedding: '%s' is not one of " GC_EMBEDDING_NAMES, run->embedding_name);
    run->embedding = (gc_embedding_kind)kind;
    GC_TRY(gc_selector_parse(o, run->selector, run->method->name, 1, &run->sel));
    GC_TRY(gc_options_get_double(o, "epsilon", 0.0, 1e300, &run->sel.fl.epsilon));
    if (run->sel.fl.epsilon > 0.0 && gc_options_is_set(o, "k"))
        return gc_fail(GC_ERR_USAGE, "options --k and --epsilon exclude each other (a cover picks its own size)");
    /* crest's coreset size follows from --subsets and --batch-size; a cover's from --epsilon. */
    if (!run->selector->sized_by_options && run->sel.fl.epsilon == 0.0)
        GC_TRY(gc_options_require(o, "k"));
    else if (gc_options_is_set(o, "k"))
        gc_warn("--k does not apply to %s: ignored", run->selector->sized_by_options
                                                         ? "crest (its coreset is the union of --subsets batches of "
                                                           "--batch-size rows)"
                                                         : "a cover (--epsilon picks the size)");
    GC_TRY(gc_options_get_choice(o, "device", GC_DEVICE_NAMES, &run->device));
    GC_TRY(gc_options_get_double(o, "device-memory", 0.0, 1.0, &run->device_memory));
    GC_TRY(gc_options_get_choice(o, "precision", GC_PRECISION_NAMES, &run->precision));
    if (strcmp(run->selector->name, "bico") == 0) {
        if (gc_options_is_set(o, "per-class") && run->sel.fl.per_class)
            gc_warn("--per-class on does not apply to bico (one joint problem over all classes, one-hot targets): "
                    "ignored");
        if (gc_options_is_set(o, "checkpoint"))
            gc_warn("--checkpoint keeps only the embeddings for bico: a restart selects again from the first round");
    }
    return GC_OK;
}

/* k from --k, or N as the cap of a cover (every row could be needed to reach L(S) <= ε); crest
 * sizes itself. */
static int resolve_size(select_run *run, int64_t n)
{
    if (run->sel.fl.epsilon > 0.0)
        run->k = n;
    else if (!run->selector->sized_by_options)
        GC_TRY(resolve_k(gc_options_get(&run->opts, "k"), n, &run->k));
    return GC_OK;
}

static int phase_read(select_run *run)
{
    GC_TRY(gc_dataset_open(&run->dataset, run->data, run->comm));
    const gc_dataset *ds = &run->dataset;
    if (ds->n == 0) return gc_fail(GC_ERR_INPUT, "--data %s: the dataset has no rows (N = 0)", run->data);
    if (ds->n < run->size)
        return gc_fail(GC_ERR_INPUT, "--data %s: %lld rows for %d ranks: run with at most %lld ranks", run->data,
                       (long long)ds->n, run->size, (long long)ds->n);
    GC_TRY(resolve_size(run, ds->n));
    int64_t lo, hi;
    gc_comm_row_range(ds->n, run->rank, run->size, &lo, &hi);
    gc_local_rows *r = &run->rows;
    r->comm = run->comm;
    r->rank = run->rank;
    r->size = run->size;
    r->n_global = ds->n;
    r->lo = lo;
    r->n_local = hi - lo;
    /* Labels only: X streams through the embedding engine batch by batch (phase_embed). */
    r->y = gc_malloc_large((size_t)(r->n_local > 0 ? r->n_local : 1) * sizeof *r->y);
    int status = r->y ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory for %lld rows", (long long)r->n_local);
    status = gc_comm_agree(run->comm, status);
    if (status == GC_OK) status = gc_dataset_read(ds, run->comm, lo, hi, NULL, r->y, NULL);
    GC_TRY(gc_comm_agree(run->comm, status));
    /* Without a num_classes attribute, C = 1 + the largest label anywhere. */
    int classes = ds->num_classes;
    if (classes == 0) {
        for (int64_t i = 0; i < r->n_local; ++i) classes = r->y[i] + 1 > classes ? r->y[i] + 1 : classes;
        GC_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, &classes, 1, MPI_INT, MPI_MAX, run->comm));
    }
    r->classes = classes;
    gc_info("read: N = %lld rows, d = %d, C = %d classes, %s; %d ranks, %lld rows on rank 0", (long long)ds->n, ds->d,
            classes, ds->is_synthetic ? "synthetic" : "HDF5", run->size, (long long)r->n_local);
    return GC_OK;
}

static int load_models(select_run *run)
{
    if (run->embedding == GC_EMBED_FEATURES) return GC_OK;
    return gc_proxy_models_load(&run->opts, run->dataset.d, run->rows.classes, run->sel.fl.seed, run->comm,
                                &run->models, &run->model_count);
}

/* --embeddings (or a checkpoint's saved embeddings): the rows must be --data's (N here, the labels
 * in read_embedding_labels). E goes to the engine as the features embedding of the file's rows,
 * read batch by batch through `range` (cfg), so it lands where the engine's own output would: on a
 * GPU in its memory alone (docs/design.md §3.2), else in host E. Collective. */
static int open_embeddings(select_run *run, const char *path, gc_embeddings_range *range, gc_embed_config *cfg,
                           int *has_loss)
{
    gc_local_rows *r = &run->rows;
    int64_t n;
    GC_TRY(gc_embeddings_open(path, run->comm, &n, &r->D, has_loss));
    if (n != r->n_global)
        return gc_fail(GC_ERR_INPUT, "--embeddings %s has %lld rows but --data has %lld", path, (long long)n,
                       (long long)r->n_global);
    GC_TRY(gc_comm_agree(run->comm, gc_embeddings_range_open(range, path, r->lo, r->D)));
    *cfg = (gc_embed_config){ .kind = GC_EMBED_FEATURES,
                              .first_row = r->lo,
                              .read_x = gc_embeddings_range_read,
                              .read_ctx = range,
                              .keep_on_device = 1 };
    return GC_OK;
}

/* The file's labels must be --data's; its losses become the rows' (zeros where it has none).
 * Collective. */
static int read_embedding_labels(select_run *run, const char *path, int has_loss)
{
    gc_local_rows *r = &run->rows;
    int32_t *labels = gc_malloc((size_t)(r->n_local > 0 ? r->n_local : 1) * sizeof *labels);
    int status = gc_comm_agree(run->comm, labels ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory for the labels"));
    if (status == GC_OK)
        status = gc_embeddings_read(path, run->comm, r->lo, r->lo + r->n_local, r->D, has_loss, NULL, labels, r->loss);
    for (int64_t i = 0; i < r->n_local && status == GC_OK; ++i)
        if (labels[i] != r->y[i])
            status = gc_fail(GC_ERR_INPUT, "--embeddings %s: /y row %lld is %d but --data has label %d", path,
                             (long long)(r->lo + i), labels[i], r->y[i]);
    free(labels);
    return status;
}

/* What decides the result: every resolved option but where outputs go and how verbose the run is,
 * and the data's shape. A checkpoint belongs to the run with this fingerprint. */
static uint64_t run_fingerprint(const select_run *run)
{
    static const char *const ignored[] = { "out",        "timings",          "quiet",           "verbose",
                                           "checkpoint", "checkpoint-every", "save-embeddings", "device-memory" };
    const uint64_t h = gc_options_fingerprint(&run->opts, ignored, sizeof ignored / sizeof *ignored);
    int64_t shape[3] = { run->dataset.n, run->dataset.d, run->rows.classes };
    return gc_hash_bytes(h, shape, sizeof shape);
}

/* With --checkpoint: the embeddings of an interrupted run are read back instead of recomputed, or
 * saved once computed. *path is empty without a checkpoint. Collective. */
static int checkpointed_embeddings(select_run *run, char *path, size_t size, int *exists)
{
    path[0] = '\0';
    *exists = 0;
    if (!gc_options_is_set(&run->opts, "checkpoint")) return GC_OK;
    long every;
    GC_TRY(gc_options_get_long(&run->opts, "checkpoint-every", 1, 1L << 30, &every));
    static const char *const inputs[] = { "data", "model", "embeddings", NULL };
    const uint64_t contents = run->rank == 0 ? gc_fingerprint_inputs(0, &run->opts, inputs, 0) : 0;
    GC_TRY(gc_checkpoint_open(&run->checkpoint, gc_options_get(&run->opts, "checkpoint"), run_fingerprint(run),
                              contents, (int)every, run->comm));
    run->checkpointing = 1;
    run->ctx.checkpoint = &run->checkpoint;
    gc_checkpoint_path(&run->checkpoint, "embeddings.h5", path, size);
    if (run->rank == 0) *exists = access(path, R_OK) == 0;
    GC_CHECK_MPI(MPI_Bcast(exists, 1, MPI_INT, 0, run->comm));
    return GC_OK;
}

/* The first local row of E, kept on the device alone, with a value that is not finite (or n_local):
 * its largest magnitude there, then, only when that is not finite, the rows read back in blocks. */
static int first_bad_device_row(select_run *run, int64_t *row)
{
    gc_backend *b = run->backend;
    const gc_local_rows *r = &run->rows;
    double max_abs = 0.0;
    *row = r->n_local;
    GC_TRY(b->ops->quality_max_abs(b, NULL, r->n_local, r->D, &max_abs));
    if (isfinite(max_abs)) return GC_OK;
    const int block = 4096;
    int64_t *index = gc_malloc(block * sizeof *index);
    float *rows = gc_malloc((size_t)block * r->D * sizeof *rows);
    int status = index && rows ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory for a block of embeddings");
    for (int64_t lo = 0; lo < r->n_local && *row == r->n_local && status == GC_OK; lo += block) {
        const int n = r->n_local - lo < block ? (int)(r->n_local - lo) : block;
        for (int t = 0; t < n; ++t) index[t] = lo + t;
        status = b->ops->rows_get(b, n, index, rows);
        const int64_t bad = status == GC_OK ? gc_first_not_finite(rows, (int64_t)n * r->D) : (int64_t)n * r->D;
        if (bad < (int64_t)n * r->D) *row = lo + bad / r->D;
    }
    free(index);
    free(rows);
    return status;
}

/* The rows at --precision (kernels/precision.h), as the embedding engine rounded them (its own
 * output, a file's rows, the caller's): at fp16 every value checked to be within the format's
 * range, whose overflow is ±∞ (on the device when E lives there alone). */
static int check_precision(select_run *run)
{
    gc_local_rows *r = &run->rows;
    const int64_t values = r->n_local * r->D;
    if ((gc_precision)run->precision != GC_PRECISION_FP16) return GC_OK;
    int64_t row;
    if (r->e != NULL)
        row = gc_first_not_finite(r->e, values) / r->D;
    else
        GC_TRY(first_bad_device_row(run, &row));
    if (row >= r->n_local) return GC_OK;
    return gc_fail(GC_ERR_INPUT,
                   "embeddings: row %lld has a value beyond fp16's range (±65504): use --precision bf16 or fp32",
                   (long long)(r->lo + row));
}

/* Whether the selector reads E on the device alone (docs/design.md §3.2): the engine makes it (its
 * own embedding, or a file's or the caller's rows through the features embedding), the selector
 * reads it only through the backend (every one of the table) and the backend runs every pass over
 * it there, and it fits. A host copy is then kept only where one is written
 * (--save-embeddings, --checkpoint's saved embeddings), as the device stores it. Each rank decides
 * for itself: where E lives changes no result. */
static int embeddings_stay_on_device(const select_run *run, int D)
{
    gc_backend *b = run->backend;
    const gc_backend_ops *ops = b->ops;
    const int passes = ops->omp_attach != NULL && ops->fl_greedy_many != NULL && ops->fl_assign != NULL &&
                       ops->fl_radius != NULL && ops->quality_sums != NULL;
    return run->selector->device_rows && ops->rows_on_device != NULL && ops->rows_get != NULL && passes &&
           ops->rows_on_device(b, run->rows.n_local, D);
}

static int phase_embed(select_run *run)
{
    const gc_options *o = &run->opts;
    char saved[4400];
    int resume = 0;
    GC_TRY(checkpointed_embeddings(run, saved, sizeof saved, &resume));
    const char *from_file = resume ? saved : gc_options_get(o, "embeddings");
    int status = from_file != NULL ? GC_OK : load_models(run), on_device = 0;
    GC_TRY(gc_comm_agree(run->comm, status));
    int sketch;
    GC_TRY(gc_sketch_resolve(gc_options_get(o, "sketch"), run->embedding, run->models, &sketch));
    /* X streams from here (a GPU generates synthetic rows itself: row i is synthetic row lo + i) */
    gc_dataset_range shard = { .ds = &run->dataset, .first = run->rows.lo };
    gc_embed_config cfg = { .kind = run->embedding,
                            .sketch_dim = sketch,
                            .hessian_damping = 1e-3,
                            .seed = run->sel.fl.seed,
                            .models = run->models,
                            .model_count = run->model_count,
                            .first_row = run->rows.lo,
                            .read_x = gc_dataset_range_read,
                            .read_ctx = &shard,
                            .synthetic = run->dataset.is_synthetic ? &run->dataset.synthetic : NULL,
                            /* every selector's passes over all rows (OMP's scoring, facility
                             * location's assignment, the quality pass) read E there */
                            .keep_on_device = 1 };
    GC_TRY(gc_options_get_double(o, "hessian-damping", 0.0, 1e6, &cfg.hessian_damping));
    gc_local_rows *r = &run->rows;
    gc_embeddings_range range = { .file = -1 };
    int d = run->dataset.d, has_loss = 0;
    if (from_file != NULL) {
        run->embeddings_read = 1;
        if (!resume) run->embedding_name = "file"; /* provenance: not computed here */
        status = open_embeddings(run, from_file, &range, &cfg, &has_loss);
        d = r->D;
    } else {
        status = gc_embedding_width(&cfg, run->dataset.d, &r->D);
    }
    on_device = status == GC_OK && embeddings_stay_on_device(run, r->D);
    const int written = run->checkpointing || gc_options_is_set(o, "save-embeddings");
    const size_t values = (size_t)r->n_local * r->D;
    if (status == GC_OK && on_device && written) /* a copy to write, as stored: 2 bytes a value when narrow */
        run->e_stored = cfg.e_stored = gc_malloc_large(values * gc_precision_bytes(run->backend->precision));
    else if (status == GC_OK && !on_device)
        r->e = gc_malloc_large(values * sizeof *r->e);
    r->loss = gc_malloc_large((size_t)r->n_local * sizeof *r->loss);
    if (status == GC_OK &&
        ((!on_device && r->e == NULL) || (on_device && written && run->e_stored == NULL) || r->loss == NULL))
        status = gc_fail(GC_ERR_MEMORY, "out of memory for %lld embeddings of width %d", (long long)r->n_local, r->D);
    if (status == GC_OK)
        status = run->backend->ops->embed(run->backend, &cfg, r->n_local, d, NULL, r->y, r->e, r->loss);
    gc_embeddings_range_close(&range);
    status = gc_comm_agree(run->comm, status);
    if (status == GC_OK && from_file != NULL) status = read_embedding_labels(run, from_file, has_loss);
    if (status == GC_OK) status = check_precision(run);
    GC_TRY(gc_comm_agree(run->comm, status));
    if (resume)
        gc_info("embed: resumed %s embeddings of width D = %d from the checkpoint", run->embedding_name, r->D);
    else if (from_file != NULL)
        gc_info("embed: embeddings of width D = %d read from %s%s", r->D, from_file,
                on_device ? ", kept on the device alone" : "");
    else
        gc_info("embed: %s embeddings of width D = %d on %s%s", run->embedding_name, r->D, run->backend->description,
                !on_device      ? ""
                : run->e_stored ? ", kept there for the selector, a host copy as stored to write"
                                : ", kept there alone");
    /* What is written: host E, or the copy kept as stored (precision: the backend's). */
    const gc_stored_e to_write = r->e != NULL ? (gc_stored_e){ r->e, GC_PRECISION_FP32 }
                                              : (gc_stored_e){ run->e_stored, run->backend->precision };
    if (saved[0] != '\0' && !resume)
        GC_TRY(gc_embeddings_write(saved, run->comm, r->n_global, r->lo, r->n_local, r->D, to_write, r->y, r->loss));
    if (gc_options_is_set(o, "save-embeddings")) {
        GC_TRY(gc_embeddings_write(gc_options_get(o, "save-embeddings"), run->comm, r->n_global, r->lo, r->n_local,
                                   r->D, to_write, r->y, r->loss));
        gc_info("embed: saved the embeddings to %s", gc_options_get(o, "save-embeddings"));
    }
    free(run->e_stored); /* written: the passes read the device's */
    run->e_stored = NULL;
    return GC_OK;
}

/* Selection and its quality, the part a run shares with gc_select_embeddings: the selector of the
 * table on the rows, then the gradient errors of the coreset and of random subsets. Collective. */
static int select_and_measure(select_run *run)
{
    gc_phase_begin(&run->phases, "select");
    int status = run->selector->select(&run->ctx, &run->sel, &run->rows, run->k, &run->coreset);
    gc_phase_end(&run->phases, 0, 0);
    if (status != GC_OK) return status;
    int empty = 0;
    for (int c = 0; c < run->rows.classes && run->sel.fl.per_class && run->selector->class_budgets; ++c)
        empty += run->coreset.class_sizes[c] == 0;
    if (empty > 0) gc_info("select: %d class id(s) have no rows and get no budget", empty);
    gc_phase_begin(&run->phases, "quality");
    status = gc_gradient_errors(run->ctx.backend, &run->rows, &run->coreset, run->sel.fl.seed, &run->gradient_error,
                                &run->random_gradient_error);
    /* Two reads of the rows: their largest magnitude (the grid of the exact sums), then the sums. */
    const gc_backend *b = run->ctx.backend;
    const double value = gc_backend_value_bytes(b, b != NULL && b->ops->quality_sums != NULL);
    gc_phase_end(&run->phases, 2.0 * run->rows.n_local * run->rows.D * value, 0);
    return gc_comm_agree(run->comm, status);
}

/* Collective: every rank's device, comma-separated (NULL when out of memory on this rank, which
 * only shortens the provenance). */
static char *device_list(select_run *run)
{
    char mine[64], *all = gc_malloc((size_t)run->size * 64);
    if (gc_comm_agree(run->comm, all ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory")) != GC_OK) {
        gc_error_clear(); /* not a failure of the run */
        free(all);
        return NULL;
    }
    snprintf(mine, sizeof mine, "%.63s", run->backend->description);
    GC_MPI(MPI_Allgather(mine, 64, MPI_CHAR, all, 64, MPI_CHAR, run->comm));
    char *out = gc_malloc((size_t)run->size * 65 + 1);
    if (out != NULL) {
        out[0] = '\0';
        for (int r = 0; r < run->size; ++r) {
            if (r) strcat(out, ",");
            strncat(out, all + (size_t)r * 64, 63);
        }
    }
    free(all);
    return out;
}

/* --timings: the reduced phases as JSON, by rank 0 (gc_phases_write_json), with rank 0's time
 * measuring the ceilings; with write_s ≥ 0 (the command line, whose main marked the process:
 * core/phases.h) also its start-up (MPI_Init), the coreset file's write and the seconds since
 * main's entry, which hold all of these and the phases. */
static int write_timings(select_run *run, const char *devices, double write_s)
{
    if (run->rank != 0 || !gc_options_is_set(&run->opts, "timings")) return GC_OK;
    char context[640], process[128] = "";
    if (write_s >= 0.0 && gc_process_startup_s() >= 0.0)
        snprintf(process, sizeof process, ", \"startup_s\": %.6f, \"write_s\": %.6f, \"elapsed_s\": %.6f",
                 gc_process_startup_s(), write_s, gc_process_elapsed_s());
    snprintf(context, sizeof context,
             "\"command\": \"select\", \"method\": \"%s\", \"embedding\": \"%s\", \"selector\": \"%s\", "
             "\"N\": %lld, \"D\": %d, \"k\": %lld, \"ranks\": %d, \"devices\": \"%.200s\", \"ceilings_s\": %.6f%s",
             run->method->name, run->embedding_name, run->selector->name, (long long)run->rows.n_global, run->rows.D,
             (long long)run->coreset.k, run->size, devices ? devices : "", run->ceilings_s, process);
    return gc_phases_write_json(&run->phases, gc_options_get(&run->opts, "timings"), "timings", context);
}

static int phase_write(select_run *run)
{
    char *devices = device_list(run), *resolved = gc_options_resolved(&run->opts);
    int status = gc_phases_reduce(&run->phases, run->comm);
    const double write_start = MPI_Wtime();
    if (run->rank == 0 && status == GC_OK) {
        gc_provenance prov = {
            run->command_line,   resolved ? resolved : "", run->method->name,          run->embedding_name,
            run->selector->name, devices ? devices : "",   run->rows.n_global,         run->size,
            run->sel.fl.seed,    run->gradient_error,      run->random_gradient_error, &run->phases
        };
        status = gc_write_coreset(run->out, &run->coreset, &prov);
    }
    /* After the coreset: a failed run leaves no timings file either. */
    if (status == GC_OK) status = write_timings(run, devices, MPI_Wtime() - write_start);
    free(devices);
    free(resolved);
    return gc_comm_agree(run->comm, status);
}

static void print_summary(const select_run *run)
{
    if (run->rank != 0 || gc_log_level() == GC_LOG_QUIET) return;
    const gc_coreset *cs = &run->coreset;
    double total_weight = 0.0;
    for (int64_t j = 0; j < cs->k; ++j) total_weight += cs->weight[j];
    printf("gradcore select: %s (%s + %s), k = %lld of N = %lld, C = %d, D = %d, %d rank(s)\n", run->method->name,
           run->embedding_name, run->selector->name, (long long)cs->k, (long long)run->rows.n_global, run->rows.classes,
           run->rows.D, run->size);
    if (cs->bico.landmark_index != NULL)
        printf("  outer loss G(w) = %.6g (%.6g per row), γ = %.6g, q' = %d   weights sum to %.0f\n", cs->objective,
               cs->objective / (double)run->rows.n_global, cs->bico.gamma, cs->bico.feature_rank, total_weight);
    else
        printf("  F(S) = %.6g   L(S) = %.6g   weights sum to %.0f\n", cs->objective, cs->total_distance, total_weight);
    printf("  relative gradient error: coreset %.4g, uniform random subsets %.4g (mean of %d)\n", run->gradient_error,
           run->random_gradient_error, GC_RANDOM_BASELINE_SEEDS);
    if (cs->crest.batch_index != NULL)
        printf("  mini-batch gradient bias (mean over %lld subsets): crest %.4g, uniform random batches %.4g\n",
               (long long)cs->crest.subsets, cs->crest.gradient_bias, cs->crest.random_batch_gradient_bias);
    printf("  time (max over ranks):");
    for (int i = 0; i < run->phases.count; ++i)
        if (run->phases.phase[i].depth == 0)
            printf(" %s %.3f s", run->phases.phase[i].path, run->phases.phase[i].max_s);
    printf("\n  wrote %s\n", run->out);
    if (gc_log_level() == GC_LOG_VERBOSE) gc_phases_print(&run->phases, stdout);
    fflush(stdout);
}

static void run_destroy(select_run *run)
{
    if (run->checkpointing) gc_checkpoint_close(&run->checkpoint);
    gc_coreset_destroy(&run->coreset);
    for (int s = 0; s < run->model_count; ++s) gc_model_destroy(&run->models[s]);
    free(run->models);
    gc_backend_destroy(run->backend);
    free(run->rows.e);
    free(run->e_stored);
    free(run->rows.y);
    free(run->rows.loss);
    gc_dataset_close(&run->dataset);
    gc_options_destroy(&run->opts);
    free(run->command_line);
}

/* The embedding's work, for its floor (docs/design.md §7.1). Its input: X, or E itself where it
 * comes from a file (--embeddings, a checkpoint) or the caller's arrays (`caller`), through the
 * features embedding; read from storage when it is a file, nothing for generated rows or arrays
 * already in memory. Then: with E on a GPU alone, the input over the link (unless generated there)
 * and E written to the device's memory; with host E on a GPU rank, the input up and E back over the
 * link, or, for the features embedding, one host copy; on a CPU rank, the input and E through host
 * memory. And the proxy models' GEMM flops. */
static void count_embed_work(select_run *run, int caller)
{
    gc_phases *ph = &run->phases;
    const int from_file = run->embeddings_read, generated = run->dataset.is_synthetic && !from_file && !caller,
              features = from_file || caller || run->embedding == GC_EMBED_FEATURES,
              gpu = run->backend != NULL && run->backend->device_id >= 0;
    const double n = (double)run->rows.n_local,
                 x = n * (from_file || caller ? run->rows.D : run->dataset.d) * sizeof(float),
                 e = n * run->rows.D * gc_precision_bytes((gc_precision)run->precision);
    if (!generated && !caller) gc_phase_count_on(ph, GC_FLOOR_STORAGE, x);
    if (gpu && run->rows.e == NULL) {
        if (!generated) gc_phase_count_on(ph, GC_FLOOR_LINK, x);
        gc_phase_count_on(ph, GC_FLOOR_MEMORY, e + (generated ? x : 0.0)); /* generated X: written there too */
    } else if (gpu && !features) {
        if (!generated) gc_phase_count_on(ph, GC_FLOOR_LINK, x);
        gc_phase_count_on(ph, GC_FLOOR_LINK, e);
    } else {
        gc_phase_count_on(ph, GC_FLOOR_MEMORY, x + e);
    }
    double flops = 0.0;
    for (int s = 0; s < run->model_count && !from_file && !caller; ++s)
        for (int l = 0; l < run->models[s].layers; ++l)
            flops += 2.0 * n * run->models[s].widths[l] * run->models[s].widths[l + 1];
    gc_phase_count(ph, 0, flops);
}

/* What the run tells its new backend: the precision E is kept at, the selector's per-row device
 * buffers, and the share of the device's memory E may take (where E lives changes no result). */
static void configure_backend(select_run *run)
{
    gc_backend *b = run->backend;
    b->precision = (gc_precision)run->precision;
    if (run->selector->device_row_bytes > 0) b->row_reserve = run->selector->device_row_bytes;
    b->resident_share = run->device_memory;
}

/* A timed run's ceilings (--timings or --verbose), which the floors use, storage measured on the
 * file at `storage` (NULL: none): outside every phase, and each rank takes its own time on them, so
 * the ranks start the next phase together (else one rank's wait for another would be booked to
 * it). */
static int measure_ceilings(select_run *run, const char *storage)
{
    if (!gc_options_is_set(&run->opts, "timings") && gc_log_level() != GC_LOG_VERBOSE) return GC_OK;
    const double start = MPI_Wtime();
    gc_ceilings ceilings;
    gc_measure_ceilings(run->backend, storage, &ceilings);
    gc_phases_set_ceilings(&run->phases, &ceilings);
    GC_CHECK_MPI(MPI_Barrier(run->comm));
    run->ceilings_s = MPI_Wtime() - start;
    return GC_OK;
}

/* The phases of a run in order, each ending in an agreement (docs/design.md §1). */
static int run_phases(select_run *run)
{
    int status = gc_comm_agree(run->comm, run->rank == 0 ? gc_guard_check(&run->opts, select_files) : GC_OK);
    gc_phase_begin(&run->phases, "read");
    if (status == GC_OK) status = phase_read(run);
    status = gc_comm_agree(run->comm, status);
    /* the labels: from storage, or generated in host memory */
    gc_phase_bound(&run->phases, run->dataset.is_synthetic ? GC_FLOOR_HOST : GC_FLOOR_STORAGE);
    gc_phase_end(&run->phases, (double)run->rows.n_local * sizeof(int32_t), 0);
    if (status != GC_OK) return status;
    /* The backend (a GPU's context, streams and cuBLAS handles): timed, since a user waits for it as
     * for any phase. */
    gc_phase_begin(&run->phases, "setup");
    status = gc_backend_create((gc_device_request)run->device, run->comm, &run->backend);
    gc_phase_end(&run->phases, 0, 0);
    GC_TRY(status);
    configure_backend(run);
    const char *bulk = gc_options_get(&run->opts, "embeddings"); /* where most bytes are read from */
    if (bulk == NULL && !run->dataset.is_synthetic) bulk = run->dataset.shards[0].path;
    GC_TRY(measure_ceilings(run, bulk));
    gc_phase_begin(&run->phases, "embed");
    status = phase_embed(run);
    if (status == GC_OK) count_embed_work(run, 0);
    gc_phase_end(&run->phases, 0, 0);
    if (status != GC_OK) return status;
    run->ctx.backend = run->backend;
    run->ctx.phases = &run->phases;
    GC_TRY(select_and_measure(run));
    GC_TRY(phase_write(run));
    print_summary(run);
    return GC_OK;
}

static void run_init(select_run *run, MPI_Comm comm)
{
    memset(run, 0, sizeof *run);
    run->comm = comm;
    MPI_Comm_rank(comm, &run->rank);
    MPI_Comm_size(comm, &run->size);
    gc_phases_init(&run->phases);
}

int gc_command_select(int argc, char **argv)
{
    select_run run;
    run_init(&run, MPI_COMM_WORLD);
    gc_log_init(run.rank, GC_LOG_NORMAL);
    run.command_line = gc_command_line("select", argc, argv);
    int status = gc_comm_agree(run.comm, run.command_line == NULL ? gc_fail(GC_ERR_MEMORY, "out of memory")
                                                                  : parse_options(&run, argc, argv, 0));
    if (status == GC_OK && run.opts.help_requested) {
        if (run.rank == 0) gc_options_print_help(run.opts.specs, select_usage, stdout);
    } else if (status == GC_OK && run.opts.version_requested) {
        if (run.rank == 0) printf("gradcore select %s (%s)\n", GC_VERSION, GC_GIT_COMMIT);
    } else if (status == GC_OK) {
        status = run_phases(&run);
    }
    run_destroy(&run);
    return status;
}

/* ---- the library entry point (select_api.h) ---------------------------------------------------- */

/* Takes the caller's labels and losses as the run's (copied: a run owns and frees its rows) and
 * checks what phase_read checks for the CLI: shapes and labels. The embeddings come in take_rows,
 * once the backend exists. */
static int adopt_rows(select_run *run, int64_t n_global, int64_t lo, int64_t n_local, int D, int classes,
                      const int32_t *y)
{
    gc_local_rows *r = &run->rows;
    int64_t total = n_local;
    GC_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, &total, 1, MPI_INT64_T, MPI_SUM, run->comm));
    int status = GC_OK;
    if (n_global <= 0 || total != n_global || D <= 0 || n_local < 0 || lo < 0 || lo + n_local > n_global)
        status = gc_fail(GC_ERR_INPUT,
                         "embeddings: the ranks' rows (%lld in all) do not make up N = %lld rows of width D = %d",
                         (long long)total, (long long)n_global, D);
    /* The selectors find a row's owner by the contiguous split of gc_comm_row_range (OMP's and
     * BiCo's winners, CREST's subsets), so the caller's rows must be that split. */
    int64_t want_lo = 0, want_hi = 0;
    if (n_global > 0) gc_comm_row_range(n_global, run->rank, run->size, &want_lo, &want_hi);
    if (status == GC_OK && (lo != want_lo || lo + n_local != want_hi))
        status = gc_fail(GC_ERR_USAGE,
                         "embeddings: rank %d holds rows [%lld, %lld) but must hold [%lld, %lld), the even "
                         "contiguous split of N = %lld rows over %d ranks",
                         run->rank, (long long)lo, (long long)(lo + n_local), (long long)want_lo, (long long)want_hi,
                         (long long)n_global, run->size);
    *r = (gc_local_rows){ .comm = run->comm,
                          .rank = run->rank,
                          .size = run->size,
                          .n_global = n_global,
                          .lo = lo,
                          .n_local = n_local,
                          .D = D };
    const size_t rows = (size_t)(n_local > 0 ? n_local : 1);
    if (status == GC_OK) {
        r->y = gc_malloc_large(rows * sizeof *r->y);
        r->loss = gc_malloc_large(rows * sizeof *r->loss);
        if (!r->y || !r->loss)
            status = gc_fail(GC_ERR_MEMORY, "out of memory for the labels of %lld rows", (long long)n_local);
    }
    int max_label = -1;
    for (int64_t i = 0; i < n_local && status == GC_OK; ++i) {
        if (y[i] < 0 || (classes > 0 && y[i] >= classes))
            status = gc_fail(GC_ERR_INPUT, "labels: row %lld has label %d outside [0, %d)", (long long)(lo + i), y[i],
                             classes);
        max_label = y[i] > max_label ? y[i] : max_label;
    }
    GC_TRY(gc_comm_agree(run->comm, status));
    memcpy(r->y, y, (size_t)n_local * sizeof *r->y);
    GC_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, &max_label, 1, MPI_INT, MPI_MAX, run->comm));
    r->classes = classes > 0 ? classes : max_label + 1;
    return GC_OK;
}

/* The caller's embeddings e [n_local × D] become the run's E through the engine's features
 * embedding, as a file's do (phase_embed): on a GPU that keeps them there alone, copied up batch by
 * batch from the caller's array (no host copy of E), or copied within the device from a caller's
 * tensor on it (e_device ≥ 0); else copied into host E; rounded to --precision either way. Every
 * value must be finite: where E lives on the device one pass there finds its largest magnitude (NaN
 * included) and only when that is not finite is the row found (in the caller's host array, or in the
 * device's copy of a tensor); host E is searched directly. Collective. */
static int take_rows(select_run *run, const float *e, int e_device, const float *loss)
{
    gc_local_rows *r = &run->rows;
    gc_backend *b = run->backend;
    const int64_t values = r->n_local * r->D;
    const int on_device = embeddings_stay_on_device(run, r->D);
    int status = GC_OK;
    if (e_device >= 0 && e_device != b->device_id)
        status = gc_fail(GC_ERR_USAGE,
                         "embeddings: the rows are on cuda:%d but rank %d selects on %s: pass them on that GPU or in "
                         "host memory",
                         e_device, run->rank, b->description);
    if (status == GC_OK && !on_device) r->e = gc_malloc_large((size_t)(values > 0 ? values : 1) * sizeof *r->e);
    if (status == GC_OK && !on_device && r->e == NULL)
        status = gc_fail(GC_ERR_MEMORY, "out of memory for %lld embeddings of width %d", (long long)r->n_local, r->D);
    const gc_embed_config cfg = { .kind = GC_EMBED_FEATURES, .first_row = r->lo, .keep_on_device = 1 };
    if (status == GC_OK) status = b->ops->embed(b, &cfg, r->n_local, r->D, e, r->y, r->e, r->loss);
    double max_abs = 0.0;
    if (status == GC_OK && on_device) status = b->ops->quality_max_abs(b, NULL, r->n_local, r->D, &max_abs);
    int64_t bad = values; /* the first value that is not finite */
    if (status == GC_OK && e_device < 0 && (!on_device || !isfinite(max_abs))) bad = gc_first_not_finite(e, values);
    if (status == GC_OK && e_device >= 0 && !on_device) bad = gc_first_not_finite(r->e, values);
    if (status == GC_OK && e_device >= 0 && on_device && !isfinite(max_abs)) {
        int64_t row = r->n_local;
        status = first_bad_device_row(run, &row);
        bad = row * r->D;
    }
    /* A tensor's rows are seen only as rounded: at fp16 that may be an overflow, not the caller's value. */
    if (status == GC_OK && bad < values)
        status = gc_fail(GC_ERR_INPUT, "embeddings: row %lld has a non-finite value%s", (long long)(r->lo + bad / r->D),
                         e_device >= 0 && (gc_precision)run->precision == GC_PRECISION_FP16
                             ? " at --precision fp16 (NaN, ±Inf, or beyond ±65504)"
                             : "");
    /* the engine's losses are zeros: the caller's replace them */
    if (status == GC_OK && loss != NULL) memcpy(r->loss, loss, (size_t)r->n_local * sizeof *r->loss);
    if (status == GC_OK) status = check_precision(run);
    return gc_comm_agree(run->comm, status);
}

/* The result's attributes as one JSON object (rank 0 builds it, every rank gets it). */
static char *result_attributes(select_run *run)
{
    char *resolved = gc_options_resolved(&run->opts);
    size_t cap = 4096 + (resolved ? 2 * strlen(resolved) : 0);
    char *json = gc_malloc(cap);
    if (json == NULL) {
        free(resolved);
        return NULL;
    }
    size_t used =
        (size_t)snprintf(json, cap,
                         "{\"method\": \"%s\", \"embedding\": \"file\", \"selector\": \"%s\", \"N\": %lld, \"D\": %d, "
                         "\"C\": %d, \"k\": %lld, \"ranks\": %d, \"seed\": %llu, \"objective\": %.17g, "
                         "\"relative_gradient_error\": %.17g, \"random_subset_gradient_error\": %.17g, \"options\": \"",
                         run->method->name, run->selector->name, (long long)run->rows.n_global, run->rows.D,
                         run->rows.classes, (long long)run->coreset.k, run->size, (unsigned long long)run->sel.fl.seed,
                         run->coreset.objective, run->gradient_error, run->random_gradient_error);
    for (const char *c = resolved ? resolved : ""; *c && used + 4 < cap; ++c) {
        if (*c == '\n') {
            json[used++] = '\\';
            json[used++] = 'n';
        } else if (*c == '"' || *c == '\\') {
            json[used++] = '\\';
            json[used++] = *c;
        } else {
            json[used++] = *c;
        }
    }
    snprintf(json + used, cap - used, "\"}");
    free(resolved);
    return json;
}

static int fill_result(select_run *run, gc_select_result *out)
{
    const gc_coreset *cs = &run->coreset;
    const size_t k = (size_t)(cs->k > 0 ? cs->k : 1);
    *out = (gc_select_result){ .k = cs->k,
                               .index = gc_malloc(k * sizeof *out->index),
                               .weight = gc_malloc(k * sizeof *out->weight),
                               .label = gc_malloc(k * sizeof *out->label),
                               .gain = gc_malloc(k * sizeof *out->gain),
                               .loss = gc_malloc(k * sizeof *out->loss),
                               .objective = cs->objective,
                               .gradient_error = run->gradient_error,
                               .random_gradient_error = run->random_gradient_error,
                               .attributes_json = result_attributes(run) };
    if (!out->index || !out->weight || !out->label || !out->gain || !out->loss || !out->attributes_json) {
        gc_select_result_free(out);
        return gc_fail(GC_ERR_MEMORY, "out of memory for the result");
    }
    memcpy(out->index, cs->index, (size_t)cs->k * sizeof *out->index);
    memcpy(out->weight, cs->weight, (size_t)cs->k * sizeof *out->weight);
    memcpy(out->label, cs->label, (size_t)cs->k * sizeof *out->label);
    memcpy(out->gain, cs->gain, (size_t)cs->k * sizeof *out->gain);
    memcpy(out->loss, cs->loss, (size_t)cs->k * sizeof *out->loss);
    return GC_OK;
}

int gc_select_embeddings(MPI_Comm comm, int64_t n_global, int64_t lo, int64_t n_local, int D, int classes,
                         const float *e, int e_device, const int32_t *y, const float *loss, int argc, char **argv,
                         gc_select_result *out)
{
    memset(out, 0, sizeof *out);
    gc_error_clear();
    select_run run;
    run_init(&run, comm);
    run.command_line = gc_command_line("select", argc, argv);
    int status = gc_comm_agree(comm, parse_options(&run, argc, argv, 1));
    if (status == GC_OK && (run.opts.help_requested || run.opts.version_requested))
        status = gc_fail(GC_ERR_USAGE, "--help and --version are options of the command line, not of the library");
    if (status == GC_OK && (run.data != NULL || run.out != NULL || gc_options_is_set(&run.opts, "checkpoint") ||
                            gc_options_is_set(&run.opts, "embeddings")))
        status = gc_fail(GC_ERR_USAGE, "--data, --out, --embeddings and --checkpoint are options of the command line: "
                                       "the library takes the embeddings as arrays");
    status = gc_comm_agree(comm, status);
    run.embedding_name = "file"; /* given, not computed here (as the result's attributes say) */
    /* The phases of run_phases: the labels taken (read), the backend (setup), the rows taken into
     * E (embed), then select and quality. */
    gc_phase_begin(&run.phases, "read");
    if (status == GC_OK) status = adopt_rows(&run, n_global, lo, n_local, D, classes, y);
    if (status == GC_OK) status = resolve_size(&run, n_global);
    status = gc_comm_agree(comm, status);
    gc_phase_bound(&run.phases, GC_FLOOR_HOST);
    gc_phase_end(&run.phases, 2.0 * (double)n_local * sizeof *y, 0);
    gc_phase_begin(&run.phases, "setup");
    if (status == GC_OK) status = gc_backend_create((gc_device_request)run.device, comm, &run.backend);
    gc_phase_end(&run.phases, 0, 0);
    if (status == GC_OK) {
        configure_backend(&run);
        status = measure_ceilings(&run, NULL);
    }
    if (status == GC_OK) {
        gc_phase_begin(&run.phases, "embed");
        status = take_rows(&run, e, e_device, loss);
        if (status == GC_OK) count_embed_work(&run, 1);
        gc_phase_end(&run.phases, 0, 0);
    }
    if (status == GC_OK) {
        run.ctx = (gc_run_context){ .backend = run.backend, .phases = &run.phases };
        status = select_and_measure(&run);
    }
    if (status == GC_OK) status = gc_comm_agree(comm, gc_phases_reduce(&run.phases, comm));
    if (status == GC_OK) {
        char *devices = device_list(&run);
        status = gc_comm_agree(comm, write_timings(&run, devices, -1.0));
        free(devices);
    }
    if (status == GC_OK) status = gc_comm_agree(comm, fill_result(&run, out));
    run_destroy(&run);
    return status;
}

void gc_select_result_free(gc_select_result *r)
{
    free(r->index);
    free(r->weight);
    free(r->label);
    free(r->gain);
    free(r->loss);
    free(r->attributes_json);
    memset(r, 0, sizeof *r);
}
