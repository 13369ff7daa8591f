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
#include "core/log.h"
#include "core/options.h"
#include "core/timings.h"
#include "core/version.h"
#include "io/checkpoint.h"
#include "io/coreset_writer.h"
#include "io/dataset.h"
#include "io/embeddings_io.h"
#include "io/model.h"
#include "io/output_guard.h"
#include "io/proxy_models.h"
#include "kernels/backend.h"
#include "kernels/cpu/greedy_fl_cpu.h"
#include "src/select/quality.h"
#include "src/select/select_bico.h"
#include "src/select/select_crest.h"
#include "src/select/select_fl.h"
#include "src/select/select_omp.h"

static const gc_option_spec select_options[] = {
    { "config", GC_OPT_VALUE, NULL, "FILE", "INI job file with more options (keys = long option names)" },
    { "data", GC_OPT_VALUE, NULL, "PATH[,PATH…]|GLOB|synthetic:…",
      "HDF5 shards (/X, /y) in global order, or the generator" },
    { "model", GC_OPT_VALUE, NULL, "FILE", "MLP proxy model (HDF5 /layers/<i>/W,b)" },
    { "init-draws", GC_OPT_VALUE, "1", "S", "without --model: models drawn from PyTorch's default init" },
    { "hidden", GC_OPT_VALUE, "256", "H1,H2,…", "hidden widths of the drawn models" },
    { "method", GC_OPT_VALUE, "craig", "NAME", "craig|adacore|gmc|gradmatch|crest|bico (embedding + selector preset)" },
    { "embedding", GC_OPT_VALUE, NULL, "KIND", "override the preset: " GC_EMBEDDING_NAMES },
    { "selector", GC_OPT_VALUE, NULL, "NAME", "override the preset: fl|omp|crest|bico" },
    { "hessian-damping", GC_OPT_VALUE, "1e-3", "δ", "adacore: damping of the Hessian diagonal" },
    { "sketch", GC_OPT_VALUE, "0", "D",
      "lastlayer/gmc: Kronecker random projection of each last-layer gradient to D dims (0 = none)" },
    { "embeddings", GC_OPT_VALUE, NULL, "FILE",
      "read the embeddings (/E, /y, /loss) instead of computing them; rows = --data's rows" },
    { "save-embeddings", GC_OPT_VALUE, NULL, "FILE", "also write the embeddings (/E, /y, /loss) to this HDF5 file" },
    { "k", GC_OPT_VALUE, NULL, "N|P%", "coreset size, absolute or percent of N" },
    { "per-class", GC_OPT_VALUE, "on", "on|off", "select per class with largest-remainder budgets" },
    { "partition-size", GC_OPT_VALUE, "4096", "M", "facility location: rows per partition of a class" },
    { "oversample", GC_OPT_VALUE, "2", "α", "facility location: candidates per partition = ⌈α·k_c·|p|/N_c⌉" },
    { "shuffle-partitions", GC_OPT_FLAG, "off", NULL, "permute class rows by the seed before cutting partitions" },
    { "merge", GC_OPT_VALUE, "root", "root|tree",
      "facility location: merge candidates at one rank, or pairwise up a binary tree (each block ≤ 2·k_c rows)" },
    { "epsilon", GC_OPT_VALUE, "0", "ε",
      "facility location: submodular cover, the smallest greedy coreset with L(S) = Σᵢ minⱼ ‖eᵢ − eⱼ‖ ≤ ε (instead of "
      "--k)" },
    { "stochastic", GC_OPT_VALUE, "0", "ε",
      "facility location: stochastic greedy on partitions with this ε (0 = exact lazy greedy)" },
    { "subsets", GC_OPT_VALUE, "100", "P", "crest: random subsets drawn from the data" },
    { "subset-size", GC_OPT_VALUE, "5000", "r", "crest: rows per random subset" },
    { "batch-size", GC_OPT_VALUE, "128", "m", "crest: mini-batch coreset size per subset" },
    { "exclude-loss", GC_OPT_VALUE, "0", "α", "crest: rows with loss below α are never drawn (0 = keep all)" },
    { "save-subsets", GC_OPT_FLAG, "off", NULL,
      "crest: also write each subset's rows as /crest/subset_index [P, r] (checking aid)" },
    { "ridge", GC_OPT_VALUE, NULL, "λ",
      "omp: ridge of the refit, γ = argmin ‖g − Eγ‖² + λ‖γ‖² (default 1 for gradmatch, else 0)" },
    { "nonneg", GC_OPT_VALUE, NULL, "on|off",
      "omp: signed scores and nonnegative weights by NNLS (default on for gradmatch)" },
    { "tol", GC_OPT_VALUE, "0", "τ", "omp: stop a problem when ‖r‖/‖g‖ ≤ τ" },
    { "batch", GC_OPT_VALUE, "1", "b", "omp: atoms added per pass over the data; bico: points added per round" },
    { "refit", GC_OPT_VALUE, "auto", GC_REFIT_NAMES,
      "omp: factor replicated on every rank, or block-cyclic in ScaLAPACK (auto: above 20000 atoms)" },
    GC_BICO_OPTION_SPECS,
    { "seed", GC_OPT_VALUE, "0", "S", "seed for every random choice (same seed, same coreset)" },
    { "device", GC_OPT_VALUE, "auto", "auto|cpu|cuda", "compute backend" },
    { "out", GC_OPT_VALUE, NULL, "FILE", "coreset file to write (HDF5)" },
    { "checkpoint", GC_OPT_VALUE, NULL, "DIR",
      "keep restart state here; the same command run again resumes where it stopped" },
    { "checkpoint-every", GC_OPT_VALUE, "1", "N",
      "fsync the selection log every N records (facility-location partitions or OMP passes)" },
    { "timings", GC_OPT_VALUE, NULL, "FILE",
      "write per-phase min/mean/max seconds, bytes and GB/s over ranks as JSON" },
    { "quiet", GC_OPT_FLAG, "off", NULL, "print errors and warnings only" },
    { "verbose", GC_OPT_FLAG, "off", NULL, "print more detail" },
    { NULL, 0, NULL, NULL, NULL }
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

static const char *method_names = "craig|adacore|gmc|gradmatch|crest|bico";
static const char *method_embedding[] = { "logits", "adacore", "gmc", "lastlayer", "logits", "features" };
static const char *method_selector[] = { "fl", "fl", "omp", "omp", "crest", "bico" };

typedef struct {
    gc_options opts;
    char *command_line;
    const char *data, *out;
    int method;
    const char *embedding_name, *selector_name;
    gc_embedding_kind embedding;
    int device;
    int64_t k;
    gc_fl_options fl;
    gc_omp_options omp;
    gc_crest_options crest;
    gc_bico_options bico;
    MPI_Comm comm;
    int rank, size;
    gc_dataset dataset;
    gc_model *models;
    int model_count;
    gc_backend *backend;
    gc_local_rows rows;
    gc_coreset coreset;
    gc_timings timings;
    gc_checkpoint checkpoint;
    int checkpointing;
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

/* --method crest (DESIGN §4); the seed and --stochastic are shared with facility location. */
static int parse_crest_options(select_run *run)
{
    const gc_options *o = &run->opts;
    gc_crest_options *c = &run->crest;
    long subsets, subset_size, batch_size;
    GC_TRY(gc_options_get_long(o, "subsets", 1, INT32_MAX, &subsets));
    GC_TRY(gc_options_get_long(o, "subset-size", 1, GC_FL_MAX_DENSE, &subset_size));
    GC_TRY(gc_options_get_long(o, "batch-size", 1, GC_FL_MAX_DENSE, &batch_size));
    if (batch_size > subset_size)
        return gc_fail(GC_ERR_USAGE, "option --batch-size: m = %ld exceeds --subset-size r = %ld", batch_size,
                       subset_size);
    /* Rank 0 gathers all P·m batch rows in one int-counted MPI call. */
    if ((int64_t)subsets * batch_size > INT32_MAX)
        return gc_fail(GC_ERR_USAGE, "options --subsets and --batch-size: %ld batches of %ld rows are too many",
                       subsets, batch_size);
    GC_TRY(gc_options_get_double(o, "exclude-loss", 0.0, 1e30, &c->exclude_loss));
    GC_TRY(gc_options_get_bool(o, "save-subsets", &c->save_subsets));
    c->subsets = subsets;
    c->subset_size = subset_size;
    c->batch_size = batch_size;
    c->stochastic = run->fl.stochastic;
    c->seed = run->fl.seed;
    return GC_OK;
}

/* --selector omp (DESIGN §4): gradmatch defaults to λ = 1 and nonnegative weights (CORDS's
 * choices), every other method to λ = 0 and least squares (GMC). */
static int parse_omp_options(select_run *run)
{
    const gc_options *o = &run->opts;
    gc_omp_options *p = &run->omp;
    const int gradmatch = strcmp(gc_options_get(o, "method"), "gradmatch") == 0;
    long batch;
    int refit;
    p->ridge = gradmatch ? 1.0 : 0.0;
    p->nonneg = gradmatch;
    if (gc_options_is_set(o, "ridge")) GC_TRY(gc_options_get_double(o, "ridge", 0.0, 1e30, &p->ridge));
    if (gc_options_is_set(o, "nonneg")) GC_TRY(gc_options_get_bool(o, "nonneg", &p->nonneg));
    GC_TRY(gc_options_get_double(o, "tol", 0.0, 1.0, &p->tol));
    GC_TRY(gc_options_get_long(o, "batch", 1, GC_OMP_MAX_BATCH, &batch));
    GC_TRY(gc_options_get_choice(o, "refit", GC_REFIT_NAMES, &refit));
    p->batch = (int)batch;
    p->refit = (gc_refit_kind)refit;
    if (p->refit == GC_REFIT_SCALAPACK && p->nonneg)
        return gc_fail(GC_ERR_USAGE,
                       "option --refit scalapack: the NNLS refit of --nonneg on needs the replicated Gram matrix");
    p->per_class = run->fl.per_class;
    return GC_OK;
}

/* --selector bico (DESIGN §4): one joint problem over all classes (select_bico.h). */
static int parse_bico_options(select_run *run)
{
    const gc_options *o = &run->opts;
    GC_TRY(gc_bico_options_parse(o, &run->bico));
    if (gc_options_is_set(o, "per-class") && run->fl.per_class)
        gc_warn("--per-class on does not apply to bico (one joint problem over all classes, one-hot targets): ignored");
    if (gc_options_is_set(o, "checkpoint"))
        gc_warn("--checkpoint keeps only the embeddings for bico: a restart selects again from the first round");
    return GC_OK;
}

static int parse_options(select_run *run, int argc, char **argv)
{
    gc_options *o = &run->opts;
    GC_TRY(gc_options_parse(o, "select", select_options, argc, argv));
    if (o->help_requested || o->version_requested) return GC_OK;
    int quiet, verbose, per_class, shuffle;
    GC_TRY(gc_options_get_bool(o, "quiet", &quiet));
    GC_TRY(gc_options_get_bool(o, "verbose", &verbose));
    gc_log_init(run->rank, quiet ? GC_LOG_QUIET : verbose ? GC_LOG_VERBOSE : GC_LOG_NORMAL);
    GC_TRY(gc_options_require(o, "data"));
    GC_TRY(gc_options_require(o, "out"));
    run->data = gc_options_get(o, "data");
    run->out = gc_options_get(o, "out");
    GC_TRY(gc_options_get_choice(o, "method", method_names, &run->method));
    run->embedding_name =
        gc_options_is_set(o, "embedding") ? gc_options_get(o, "embedding") : method_embedding[run->method];
    run->selector_name =
        gc_options_is_set(o, "selector") ? gc_options_get(o, "selector") : method_selector[run->method];
    GC_TRY(gc_options_get_double(o, "epsilon", 0.0, 1e300, &run->fl.epsilon));
    if (run->fl.epsilon > 0.0 && gc_options_is_set(o, "k"))
        return gc_fail(GC_ERR_USAGE, "options --k and --epsilon exclude each other (a cover picks its own size)");
    /* crest's coreset size follows from --subsets and --batch-size; a cover's from --epsilon. */
    if (strcmp(run->selector_name, "crest") != 0 && run->fl.epsilon == 0.0)
        GC_TRY(gc_options_require(o, "k"));
    else if (gc_options_is_set(o, "k"))
        gc_warn("--k does not apply to crest (its coreset is the union of --subsets batches of --batch-size rows): "
                "ignored");
    static const char *embedding_names[] = { "features", "logits", "lastlayer", "adacore", "gmc" };
    int kind = -1;
    for (int i = 0; i < 5; ++i)
        if (strcmp(embedding_names[i], run->embedding_name) == 0) kind = i;
    if (kind < 0)
        return gc_fail(GC_ERR_USAGE, "option --embedding: '%s' is not one of " GC_EMBEDDING_NAMES, run->embedding_name);
    run->embedding = (gc_embedding_kind)kind;
    if (strcmp(run->selector_name, "fl") != 0 && strcmp(run->selector_name, "omp") != 0 &&
        strcmp(run->selector_name, "crest") != 0 && strcmp(run->selector_name, "bico") != 0)
        return gc_fail(GC_ERR_USAGE, "option --selector: '%s' is not one of fl|omp|crest|bico", run->selector_name);
    GC_TRY(gc_options_get_choice(o, "device", GC_DEVICE_NAMES, &run->device));
    GC_TRY(gc_options_get_bool(o, "per-class", &per_class));
    GC_TRY(gc_options_get_bool(o, "shuffle-partitions", &shuffle));
    long partition_size, seed;
    GC_TRY(gc_options_get_long(o, "partition-size", 2, INT32_MAX / 2, &partition_size));
    GC_TRY(gc_options_get_long(o, "seed", 0, INT64_MAX, &seed));
    GC_TRY(gc_options_get_double(o, "oversample", 1.0, 1e6, &run->fl.oversample));
    GC_TRY(gc_options_get_double(o, "stochastic", 0.0, 0.999, &run->fl.stochastic));
    GC_TRY(gc_options_get_choice(o, "merge", "root|tree", &run->fl.tree_merge));
    run->fl.per_class = per_class;
    run->fl.shuffle = shuffle;
    run->fl.partition_size = partition_size;
    run->fl.seed = (uint64_t)seed;
    if (strcmp(run->selector_name, "omp") == 0) GC_TRY(parse_omp_options(run));
    if (strcmp(run->selector_name, "crest") == 0) GC_TRY(parse_crest_options(run));
    if (strcmp(run->selector_name, "bico") == 0) GC_TRY(parse_bico_options(run));
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
    if (run->fl.epsilon > 0.0)
        run->k = ds->n; /* the cap: every row could be needed to reach L(S) <= ε */
    else if (strcmp(run->selector_name, "crest") != 0)
        GC_TRY(resolve_k(gc_options_get(&run->opts, "k"), ds->n, &run->k));
    run->fl.k = run->k;
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
    r->y = malloc((size_t)(r->n_local > 0 ? r->n_local : 1) * sizeof *r->y);
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
    return gc_proxy_models_load(&run->opts, run->dataset.d, run->rows.classes, run->fl.seed, run->comm, &run->models,
                                &run->model_count);
}

/* --embeddings: the rows must be --data's rows (same N, same labels); the data's own embedding
 * is not computed. Collective. */
static int read_embeddings(select_run *run, const char *path)
{
    gc_local_rows *r = &run->rows;
    int64_t n;
    int has_loss;
    GC_TRY(gc_embeddings_open(path, run->comm, &n, &r->D, &has_loss));
    if (n != r->n_global)
        return gc_fail(GC_ERR_INPUT, "--embeddings %s has %lld rows but --data has %lld", path, (long long)n,
                       (long long)r->n_global);
    int32_t *labels = malloc((size_t)(r->n_local > 0 ? r->n_local : 1) * sizeof *labels);
    r->e = malloc((size_t)r->n_local * r->D * sizeof *r->e);
    r->loss = malloc((size_t)r->n_local * sizeof *r->loss);
    int status = (labels && r->e && r->loss) ? GC_OK
                                             : gc_fail(GC_ERR_MEMORY, "out of memory for %lld embeddings of width %d",
                                                       (long long)r->n_local, r->D);
    status = gc_comm_agree(run->comm, status);
    if (status == GC_OK)
        status = gc_embeddings_read(path, run->comm, r->lo, r->lo + r->n_local, r->D, has_loss, r->e, labels, r->loss);
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
    static const char *const ignored[] = { "out",        "timings",          "quiet",          "verbose",
                                           "checkpoint", "checkpoint-every", "save-embeddings" };
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
    run->fl.checkpoint = &run->checkpoint;
    gc_checkpoint_path(&run->checkpoint, "embeddings.h5", path, size);
    if (run->rank == 0) *exists = access(path, R_OK) == 0;
    GC_CHECK_MPI(MPI_Bcast(exists, 1, MPI_INT, 0, run->comm));
    return GC_OK;
}

static int phase_embed(select_run *run)
{
    const gc_options *o = &run->opts;
    char saved[4400];
    int resume = 0;
    GC_TRY(checkpointed_embeddings(run, saved, sizeof saved, &resume));
    const char *from_file = resume ? saved : gc_options_get(o, "embeddings");
    int status = from_file != NULL ? GC_OK : load_models(run);
    GC_TRY(gc_comm_agree(run->comm, status));
    GC_TRY(gc_backend_create((gc_device_request)run->device, run->comm, &run->backend));
    long sketch;
    GC_TRY(gc_options_get_long(o, "sketch", 0, 1L << 30, &sketch));
    gc_dataset_range shard = { .ds = &run->dataset, .first = run->rows.lo }; /* X streams from here */
    gc_embed_config cfg = { .kind = run->embedding,
                            .sketch_dim = (int)sketch,
                            .hessian_damping = 1e-3,
                            .seed = run->fl.seed,
                            .models = run->models,
                            .model_count = run->model_count,
                            .first_row = run->rows.lo,
                            .read_x = gc_dataset_range_read,
                            .read_ctx = &shard,
                            .keep_on_device = strcmp(run->selector_name, "omp") == 0 }; /* OMP scores them there */
    GC_TRY(gc_options_get_double(o, "hessian-damping", 0.0, 1e6, &cfg.hessian_damping));
    gc_local_rows *r = &run->rows;
    if (from_file != NULL) {
        if (!resume) run->embedding_name = "file"; /* provenance: not computed here */
        status = read_embeddings(run, from_file);
    } else {
        status = gc_embedding_width(&cfg, run->dataset.d, &r->D);
        r->e = status != GC_OK ? NULL : malloc((size_t)r->n_local * r->D * sizeof *r->e);
        r->loss = malloc((size_t)r->n_local * sizeof *r->loss);
        if (status == GC_OK && (r->e == NULL || r->loss == NULL))
            status =
                gc_fail(GC_ERR_MEMORY, "out of memory for %lld embeddings of width %d", (long long)r->n_local, r->D);
        if (status == GC_OK)
            status =
                run->backend->ops->embed(run->backend, &cfg, r->n_local, run->dataset.d, NULL, r->y, r->e, r->loss);
    }
    GC_TRY(gc_comm_agree(run->comm, status));
    if (resume)
        gc_info("embed: resumed %s embeddings of width D = %d from the checkpoint", run->embedding_name, r->D);
    else if (from_file != NULL)
        gc_info("embed: embeddings of width D = %d read from %s", r->D, from_file);
    else
        gc_info("embed: %s embeddings of width D = %d on %s", run->embedding_name, r->D, run->backend->description);
    if (saved[0] != '\0' && !resume)
        GC_TRY(gc_embeddings_write(saved, run->comm, r->n_global, r->lo, r->n_local, r->D, r->e, r->y, r->loss));
    if (gc_options_is_set(o, "save-embeddings")) {
        GC_TRY(gc_embeddings_write(gc_options_get(o, "save-embeddings"), run->comm, r->n_global, r->lo, r->n_local,
                                   r->D, r->e, r->y, r->loss));
        gc_info("embed: saved the embeddings to %s", gc_options_get(o, "save-embeddings"));
    }
    return GC_OK;
}

static int phase_select(select_run *run)
{
    if (strcmp(run->selector_name, "crest") == 0) {
        run->crest.device_id = run->backend->device_id;
        return gc_select_crest(&run->rows, &run->crest, &run->coreset);
    }
    if (strcmp(run->selector_name, "bico") == 0) {
        run->bico.k = run->k;
        run->bico.seed = run->fl.seed;
        run->bico.backend = run->backend;
        return gc_select_bico(&run->rows, &run->bico, &run->coreset);
    }
    int empty = 0;
    if (strcmp(run->selector_name, "omp") == 0) {
        run->omp.k = run->k;
        run->omp.backend = run->backend;
        run->omp.checkpoint = run->checkpointing ? &run->checkpoint : NULL;
        GC_TRY(gc_select_omp(&run->rows, &run->omp, &run->coreset));
    } else {
        run->fl.device_id = run->backend->device_id;
        GC_TRY(gc_select_fl(&run->rows, &run->fl, &run->coreset));
    }
    for (int c = 0; c < run->rows.classes && run->fl.per_class; ++c) empty += run->coreset.class_sizes[c] == 0;
    if (empty > 0) gc_info("select: %d class id(s) have no rows and get no budget", empty);
    return GC_OK;
}

static char *device_list(select_run *run)
{
    char mine[64], *all = malloc((size_t)run->size * 64);
    if (all == NULL) return NULL;
    snprintf(mine, sizeof mine, "%.63s", run->backend->description);
    MPI_Allgather(mine, 64, MPI_CHAR, all, 64, MPI_CHAR, run->comm);
    char *out = malloc((size_t)run->size * 65 + 1);
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

static int phase_write(select_run *run)
{
    char *devices = device_list(run), *resolved = gc_options_resolved(&run->opts);
    int status = GC_OK;
    GC_TRY(gc_timings_reduce(&run->timings, run->comm));
    if (run->rank == 0) {
        gc_provenance prov = { run->command_line,
                               resolved ? resolved : "",
                               gc_options_get(&run->opts, "method"),
                               run->embedding_name,
                               run->selector_name,
                               devices ? devices : "",
                               run->rows.n_global,
                               run->size,
                               run->fl.seed,
                               run->gradient_error,
                               run->random_gradient_error,
                               &run->timings };
        status = gc_write_coreset(run->out, &run->coreset, &prov);
    }
    /* After the coreset: a failed run leaves no timings file either. */
    if (run->rank == 0 && status == GC_OK && gc_options_is_set(&run->opts, "timings")) {
        char context[512];
        snprintf(context, sizeof context,
                 "\"command\": \"select\", \"method\": \"%s\", \"embedding\": \"%s\", \"selector\": \"%s\", "
                 "\"N\": %lld, \"D\": %d, \"k\": %lld, \"ranks\": %d, \"devices\": \"%.200s\"",
                 gc_options_get(&run->opts, "method"), run->embedding_name, run->selector_name,
                 (long long)run->rows.n_global, run->rows.D, (long long)run->coreset.k, run->size,
                 devices ? devices : "");
        status = gc_timings_write_json(&run->timings, gc_options_get(&run->opts, "timings"), context);
    }
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
    printf("gradcore select: %s (%s + %s), k = %lld of N = %lld, C = %d, D = %d, %d rank(s)\n",
           gc_options_get(&run->opts, "method"), run->embedding_name, run->selector_name, (long long)cs->k,
           (long long)run->rows.n_global, run->rows.classes, run->rows.D, run->size);
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
    for (int i = 0; i < run->timings.count; ++i) printf(" %s %.3f s", run->timings.name[i], run->timings.max_s[i]);
    printf("\n  wrote %s\n", run->out);
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
    free(run->rows.y);
    free(run->rows.loss);
    gc_dataset_close(&run->dataset);
    gc_options_destroy(&run->opts);
    free(run->command_line);
}

int gc_command_select(int argc, char **argv)
{
    select_run run;
    memset(&run, 0, sizeof run);
    run.comm = MPI_COMM_WORLD;
    MPI_Comm_rank(run.comm, &run.rank);
    MPI_Comm_size(run.comm, &run.size);
    gc_log_init(run.rank, GC_LOG_NORMAL);
    run.command_line = gc_command_line("select", argc, argv);
    int status = gc_comm_agree(run.comm, parse_options(&run, argc, argv));
    if (status == GC_OK && run.opts.help_requested) {
        if (run.rank == 0) gc_options_print_help(select_options, select_usage, stdout);
    } else if (status == GC_OK && run.opts.version_requested) {
        if (run.rank == 0) printf("gradcore select %s (%s)\n", GC_VERSION, GC_GIT_COMMIT);
    } else if (status == GC_OK) {
        gc_timings_start(&run.timings);
        status = gc_comm_agree(run.comm, run.rank == 0 ? gc_guard_check(&run.opts, select_files) : GC_OK);
        if (status == GC_OK) status = phase_read(&run);
        status = gc_comm_agree(run.comm, status);
        if (status == GC_OK) {
            gc_timings_stop(&run.timings, "read", (double)run.rows.n_local * sizeof(int32_t));
            status = phase_embed(&run);
        }
        if (status == GC_OK) {
            /* X read once (streamed through the engine), E written once */
            gc_timings_stop(&run.timings, "embed",
                            (double)run.rows.n_local * (run.dataset.d + run.rows.D) * sizeof(float));
            status = phase_select(&run);
        }
        if (status == GC_OK) {
            gc_timings_stop(&run.timings, "select", 0);
            status = gc_gradient_errors(&run.rows, &run.coreset, run.fl.seed, &run.gradient_error,
                                        &run.random_gradient_error);
            status = gc_comm_agree(run.comm, status);
        }
        if (status == GC_OK) {
            gc_timings_stop(&run.timings, "quality", 0);
            status = phase_write(&run);
        }
        if (status == GC_OK) print_summary(&run);
    }
    run_destroy(&run);
    return status;
}
