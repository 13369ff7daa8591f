#include "selector.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "core/error.h"
#include "core/log.h"
#include "kernels/backend.h"

/* ---- options, each declared once ---------------------------------------------------------------- */

const gc_option_spec gc_embedding_option_specs[] = {
    { "model", GC_OPT_VALUE, NULL, "FILE", "MLP proxy model (HDF5 /layers/<i>/W,b)" },
    { "init-draws", GC_OPT_VALUE, "1", "S", "without --model: models drawn from PyTorch's default init" },
    { "hidden", GC_OPT_VALUE, "256", "H1,H2,…", "hidden widths of the drawn models" },
    { "embedding", GC_OPT_VALUE, NULL, "KIND", "override the preset: " GC_EMBEDDING_NAMES },
    { "hessian-damping", GC_OPT_VALUE, "1e-3", "δ", "adacore: damping of the Hessian diagonal" },
    { "sketch", GC_OPT_VALUE, "auto", "D|auto",
      "lastlayer/gmc: Kronecker random projection of each last-layer gradient to D dims (0 = none; auto: none up to "
      "512 columns, else 256)" },
    { "precision", GC_OPT_VALUE, "fp32", GC_PRECISION_NAMES,
      "width of the embeddings as stored and scored: bf16 and fp16 halve their memory and the bytes of every pass "
      "(ties closer than the rounding may break differently)" },
    { NULL, 0, NULL, NULL, NULL }
};

const gc_option_spec gc_selection_option_specs[] = {
    { "per-class", GC_OPT_VALUE, NULL, "on|off",
      "select per class with largest-remainder budgets (default: on; stream: off, continual GMC has one running "
      "target)" },
    { "batch", GC_OPT_VALUE, "1", "b",
      "omp: atoms added per pass over the data; bico: points added per round (bico's default: 1, or ⌈k/200⌉ for k > "
      "200)" },
    { "seed", GC_OPT_VALUE, "0", "S", "seed for every random choice (same seed, same coreset)" },
    { "device", GC_OPT_VALUE, "auto", "auto|cpu|cuda", "compute backend" },
    { "device-memory", GC_OPT_VALUE, "0.75", "F",
      "share of a GPU's free memory the embeddings may take to stay there for every pass (0: they stay in host "
      "memory and each pass copies them up in blocks; room for a training process's own GPU memory)" },
    { NULL, 0, NULL, NULL, NULL }
};

const gc_option_spec gc_fl_option_specs[] = {
    { "partition-size", GC_OPT_VALUE, "4096", "M", "facility location: rows per partition of a class" },
    { "oversample", GC_OPT_VALUE, "2", "α", "facility location: candidates per partition = ⌈α·k_c·|p|/N_c⌉" },
    { "shuffle-partitions", GC_OPT_FLAG, "off", NULL, "permute class rows by the seed before cutting partitions" },
    { "merge", GC_OPT_VALUE, "root", "root|tree",
      "facility location: merge candidates at one rank, or pairwise up a binary tree (each block ≤ 2·k_c rows)" },
    { "stochastic", GC_OPT_VALUE, "0", "ε",
      "facility location: stochastic greedy on partitions with this ε (0 = exact lazy greedy)" },
    { "safeguard-sample", GC_OPT_VALUE, "4096", "S",
      "facility location: GreeDi's comparison of the merged set with partitions' own sets scores a fixed sample of "
      "about S rows a class (every row of a class of at most S; 0 = every row)" },
    { NULL, 0, NULL, NULL, NULL }
};

const gc_option_spec gc_omp_option_specs[] = {
    { "ridge", GC_OPT_VALUE, NULL, "λ",
      "omp: ridge of the refit, γ = argmin ‖g − Eγ‖² + λ‖γ‖² (default 1 for gradmatch, else 0)" },
    { "nonneg", GC_OPT_VALUE, NULL, "on|off",
      "omp: signed scores and nonnegative weights by NNLS (default on for gradmatch)" },
    { "tol", GC_OPT_VALUE, "0", "τ", "omp: stop a problem when ‖r‖/‖g‖ ≤ τ" },
    { "refit", GC_OPT_VALUE, "auto", GC_REFIT_NAMES,
      "omp: factor replicated on every rank, or block-cyclic in ScaLAPACK (auto: above 20000 atoms)" },
    { NULL, 0, NULL, NULL, NULL }
};

const gc_option_spec gc_crest_option_specs[] = {
    { "subsets", GC_OPT_VALUE, "100", "P", "crest: random subsets drawn from the data" },
    { "subset-size", GC_OPT_VALUE, "5000", "r", "crest: rows per random subset" },
    { "batch-size", GC_OPT_VALUE, "128", "m", "crest: mini-batch coreset size per subset" },
    { "exclude-loss", GC_OPT_VALUE, "0", "α", "crest: rows with loss below α are never drawn (0 = keep all)" },
    { "save-subsets", GC_OPT_FLAG, "off", NULL,
      "crest: also write each subset's rows as /crest/subset_index [P, r] (checking aid)" },
    { NULL, 0, NULL, NULL, NULL }
};

const gc_option_spec gc_bico_option_specs[] = {
    { "landmarks", GC_OPT_VALUE, NULL, "q", "bico: Nyström landmarks drawn by the seed (default min(1000, N))" },
    { "gamma", GC_OPT_VALUE, NULL, "γ",
      "bico: RBF kernel exp(−γ‖x − x'‖²) (default 1 / median squared distance between landmarks)" },
    { "bico-ridge", GC_OPT_VALUE, "1", "λ",
      "bico: ridge of the inner kernel ridge regression (1 = one unit-weight point's ‖z‖² ≤ 1)" },
    { "bico-weights", GC_OPT_VALUE, "off", "on|off",
      "bico: projected gradient steps on the coreset weights after every round" },
    { "eig", GC_OPT_VALUE, "auto", GC_EIG_NAMES,
      "bico: eigendecomposition of K_QQ on rank 0 (LAPACK) or over all ranks (ScaLAPACK; auto: q > 4096)" },
    { NULL, 0, NULL, NULL, NULL }
};

const gc_option_spec gc_report_option_specs[] = {
    { "timings", GC_OPT_VALUE, NULL, "FILE",
      "write the nested phases (min/mean/max seconds over ranks, bytes, flops, GB/s, GFLOP/s) as JSON" },
    { "quiet", GC_OPT_FLAG, "off", NULL, "print errors and warnings only" },
    { "verbose", GC_OPT_FLAG, "off", NULL, "print more detail, and the phases at the end" },
    { NULL, 0, NULL, NULL, NULL }
};

/* ---- facility location --------------------------------------------------------------------------- */

static int parse_fl(const gc_options *o, const char *method, gc_selector_options *opt)
{
    (void)method;
    (void)o;
    opt->crest.stochastic = opt->fl.stochastic; /* crest's greedy shares the ε */
    return GC_OK;
}

static int select_fl(const gc_run_context *run, const gc_selector_options *opt, const gc_local_rows *rows, int64_t k,
                     gc_coreset *cs)
{
    return gc_select_fl(run, rows, &opt->fl, k, cs);
}

/* Weighted facility location over replicated members: point weights are the members' weights, and
 * a chosen element's new weight is the weight it covers, so the union's total weight is kept. Per
 * class with budgets in proportion to the union's members per class, or one problem. */
static int merge_fl(const gc_run_context *run, const gc_selector_options *opts, const gc_member_set *in, int classes,
                    int64_t m, gc_member_set *out)
{
    const gc_fl_options *opt = &opts->fl;
    const int D = in->D, groups = opt->per_class ? classes : 1;
    int64_t *sizes = gc_calloc((size_t)groups, sizeof *sizes), *budgets = gc_calloc((size_t)groups, sizeof *budgets);
    int64_t *pos = gc_malloc((size_t)in->n * sizeof *pos), *selected = gc_malloc((size_t)in->n * sizeof *selected);
    float *e = gc_malloc((size_t)in->n * D * sizeof *e);
    double *w = gc_malloc((size_t)in->n * sizeof *w), *gains = gc_malloc((size_t)in->n * sizeof *gains);
    double *coverage = gc_malloc((size_t)in->n * sizeof *coverage), *mean = gc_malloc((size_t)D * sizeof *mean);
    int status = (sizes && budgets && pos && selected && e && w && gains && coverage && mean)
                     ? GC_OK
                     : gc_fail(GC_ERR_MEMORY, "out of memory merging slots");
    for (int64_t i = 0; i < in->n && status == GC_OK; ++i) sizes[opt->per_class ? in->label[i] : 0]++;
    const int64_t keep = m < in->n ? m : in->n;
    if (status == GC_OK) {
        if (opt->per_class)
            status = gc_class_budgets(sizes, groups, keep, budgets);
        else
            budgets[0] = keep;
    }
    if (status == GC_OK) status = gc_member_set_allocate(out, keep, D);
    int64_t filled = 0;
    for (int g = 0; g < groups && status == GC_OK; ++g) {
        if (budgets[g] == 0) continue;
        int64_t n = 0;
        for (int64_t i = 0; i < in->n; ++i)
            if (!opt->per_class || in->label[i] == g) {
                pos[n] = i;
                w[n] = in->weight[i];
                memcpy(e + n * D, in->e + i * D, (size_t)D * sizeof *e);
                ++n;
            }
        /* c = 2·maxᵢ‖eᵢ − μ‖ bounds every distance of the group, so similarities are >= 0 (the
         * members are replicated: a plain sum, where gc_similarity_constant sums over ranks). */
        double c = 0.0;
        for (int j = 0; j < D; ++j) {
            mean[j] = 0.0;
            for (int64_t i = 0; i < n; ++i) mean[j] += e[i * D + j];
            mean[j] /= (double)n;
        }
        for (int64_t i = 0; i < n; ++i) {
            double sq = 0.0;
            for (int j = 0; j < D; ++j) sq += (e[i * D + j] - mean[j]) * (e[i * D + j] - mean[j]);
            c = fmax(c, 2.0 * sqrt(sq));
        }
        gc_fl_problem p = { .m = n, .D = D, .e = e, .w = w, .c = c > 0.0 ? c : 1.0, .seed = opt->seed };
        status = gc_backend_fl_greedy(run->backend, &p, budgets[g], selected, gains, coverage);
        for (int64_t t = 0; t < budgets[g] && status == GC_OK && selected[t] >= 0; ++t, ++filled) {
            const int64_t i = pos[selected[t]];
            out->id[filled] = in->id[i];
            out->label[filled] = in->label[i];
            out->loss[filled] = in->loss[i];
            out->weight[filled] = coverage[selected[t]];
            out->gain[filled] = gains[t];
            memcpy(out->e + filled * D, in->e + i * D, (size_t)D * sizeof *out->e);
        }
    }
    out->n = filled;
    free(sizes);
    free(budgets);
    free(pos);
    free(selected);
    free(e);
    free(w);
    free(gains);
    free(coverage);
    free(mean);
    return status;
}

/* out ← the members of `in` a selection over them chose (cs.index: positions in `in`), with the
 * selection's weights and gains. */
static int chosen_members(const gc_member_set *in, const gc_coreset *cs, gc_member_set *out)
{
    const int D = in->D;
    GC_TRY(gc_member_set_allocate(out, cs->k, D));
    for (int64_t t = 0; t < cs->k; ++t) {
        const int64_t i = cs->index[t];
        out->id[t] = in->id[i];
        out->label[t] = in->label[i];
        out->loss[t] = in->loss[i];
        out->weight[t] = cs->weight[t];
        out->gain[t] = cs->gain[t];
        memcpy(out->e + t * D, in->e + i * D, (size_t)D * sizeof *out->e);
    }
    return GC_OK;
}

/* Replicated members as rows of a problem every rank solves alone (MPI_COMM_SELF), so all hold
 * the same result. */
static gc_local_rows member_rows(const gc_member_set *in, int classes)
{
    return (gc_local_rows){ .comm = MPI_COMM_SELF,
                            .rank = 0,
                            .size = 1,
                            .n_global = in->n,
                            .lo = 0,
                            .n_local = in->n,
                            .D = in->D,
                            .classes = classes,
                            .e = in->e,
                            .y = in->label,
                            .loss = in->loss };
}

/* ---- orthogonal matching pursuit ----------------------------------------------------------------- */

/* gradmatch defaults to λ = 1 and nonnegative weights (CORDS's choices), every other method to
 * λ = 0 and least squares (GMC). */
static int parse_omp(const gc_options *o, const char *method, gc_selector_options *opts)
{
    gc_omp_options *p = &opts->omp;
    const int gradmatch = method != NULL && strcmp(method, "gradmatch") == 0;
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
    p->per_class = opts->fl.per_class;
    return GC_OK;
}

static int select_omp(const gc_run_context *run, const gc_selector_options *opt, const gc_local_rows *rows, int64_t k,
                      gc_coreset *cs)
{
    return gc_select_omp(run, rows, &opt->omp, k, cs);
}

/* Weighted OMP: the target of a problem is Σ wᵢ eᵢ over its members, scored on the CPU. */
static int merge_omp(const gc_run_context *run, const gc_selector_options *opts, const gc_member_set *in, int classes,
                     int64_t m, gc_member_set *out)
{
    (void)run;
    const int D = in->D, problems = opts->omp.per_class ? classes : 1;
    double *targets = gc_calloc((size_t)problems * D, sizeof *targets);
    GC_CHECK_ALLOC(targets);
    for (int64_t i = 0; i < in->n; ++i)
        for (int j = 0; j < D; ++j)
            targets[(size_t)(opts->omp.per_class ? in->label[i] : 0) * D + j] +=
                in->weight[i] * (double)in->e[i * D + j];
    gc_local_rows rows = member_rows(in, classes);
    gc_omp_options opt = opts->omp;
    opt.targets = targets;
    const gc_run_context cpu = { .phases = run->phases };
    gc_coreset cs = { 0 };
    int status = gc_select_omp(&cpu, &rows, &opt, m, &cs);
    if (status == GC_OK) status = chosen_members(in, &cs, out);
    gc_coreset_destroy(&cs);
    free(targets);
    return status;
}

/* ---- CREST ---------------------------------------------------------------------------------------- */

static int parse_crest(const gc_options *o, const char *method, gc_selector_options *opts)
{
    (void)method;
    gc_crest_options *c = &opts->crest;
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
    c->stochastic = opts->fl.stochastic;
    c->seed = opts->fl.seed;
    return GC_OK;
}

static int select_crest(const gc_run_context *run, const gc_selector_options *opt, const gc_local_rows *rows, int64_t k,
                        gc_coreset *cs)
{
    (void)k;
    return gc_select_crest(run, rows, &opt->crest, cs);
}

/* ---- BiCo ------------------------------------------------------------------------------------------ */

static int parse_bico(const gc_options *o, const char *method, gc_selector_options *opts)
{
    (void)method;
    GC_TRY(gc_bico_options_parse(o, &opts->bico));
    opts->bico.seed = opts->fl.seed;
    return GC_OK;
}

static int select_bico(const gc_run_context *run, const gc_selector_options *opt, const gc_local_rows *rows, int64_t k,
                       gc_coreset *cs)
{
    return gc_select_bico(run, rows, &opt->bico, k, cs);
}

/* Weighted BiCo: the members' weights weigh their rows in the outer objective (select_bico.h), and
 * a chosen row's new weight is its class's share Σ w / k_c, so the union's total weight is kept. */
static int merge_bico(const gc_run_context *run, const gc_selector_options *opts, const gc_member_set *in, int classes,
                      int64_t m, gc_member_set *out)
{
    gc_local_rows rows = member_rows(in, classes);
    gc_bico_options opt = opts->bico;
    opt.row_weight = in->weight;
    if (opt.landmarks > in->n) opt.landmarks = (int)in->n;
    gc_coreset cs = { 0 };
    int status = gc_select_bico(run, &rows, &opt, m < in->n ? m : in->n, &cs);
    if (status == GC_OK) status = chosen_members(in, &cs, out);
    gc_coreset_destroy(&cs);
    return status;
}

/* ---- the tables ------------------------------------------------------------------------------------ */

static const gc_selector selectors[] = {
    { .name = "fl",
      .parse = parse_fl,
      .select = select_fl,
      .merge = merge_fl,
      .class_budgets = 1,
      .device_rows = 1,
      .device_row_bytes = 8 }, /* its passes over all rows work in batches; 8: CUB's scratch */
    { .name = "omp",
      .parse = parse_omp,
      .select = select_omp,
      .merge = merge_omp,
      .class_budgets = 1,
      .device_rows = 1,
      .device_row_bytes = 64 }, /* scores, weights, labels and sort keys (omp_cuda.cu) */
    { .name = "crest",
      .parse = parse_crest,
      .select = select_crest,
      .sized_by_options = 1,
      .device_rows = 1,
      .device_row_bytes = 8 }, /* as facility location: its subsets' greedies and passes work in batches */
    { .name = "bico",
      .parse = parse_bico,
      .select = select_bico,
      .merge = merge_bico,
      .device_rows = 1 }, /* its Z (8·q' bytes a row) is sized when the landmarks are known */
};

static const gc_method methods[] = {
    { "craig", "logits", "fl" },         { "adacore", "adacore", "fl" }, { "gmc", "gmc", "omp" },
    { "gradmatch", "lastlayer", "omp" }, { "crest", "logits", "crest" }, { "bico", "features", "bico" },
};

const char *const gc_embedding_names[] = { "features", "logits", "lastlayer", "adacore", "gmc" };

const gc_selector *gc_selector_find(const char *name)
{
    for (size_t i = 0; name != NULL && i < sizeof selectors / sizeof *selectors; ++i)
        if (strcmp(selectors[i].name, name) == 0) return &selectors[i];
    return NULL;
}

const gc_method *gc_method_find(const char *name)
{
    for (size_t i = 0; name != NULL && i < sizeof methods / sizeof *methods; ++i)
        if (strcmp(methods[i].name, name) == 0) return &methods[i];
    return NULL;
}

int gc_embedding_find(const char *name)
{
    for (int i = 0; name != NULL && i < (int)(sizeof gc_embedding_names / sizeof *gc_embedding_names); ++i)
        if (strcmp(gc_embedding_names[i], name) == 0) return i;
    return -1;
}

int gc_selector_parse(const gc_options *o, const gc_selector *sel, const char *method, int per_class_default,
                      gc_selector_options *opt)
{
    memset(opt, 0, sizeof *opt);
    gc_fl_options *fl = &opt->fl;
    long partition_size, safeguard_sample, seed;
    fl->per_class = per_class_default;
    if (gc_options_is_set(o, "per-class")) GC_TRY(gc_options_get_bool(o, "per-class", &fl->per_class));
    GC_TRY(gc_options_get_long(o, "seed", 0, INT64_MAX, &seed));
    fl->seed = (uint64_t)seed;
    /* The facility-location options are declared wherever a command can run facility location. */
    if (gc_options_get(o, "partition-size") != NULL) {
        GC_TRY(gc_options_get_long(o, "partition-size", 2, INT32_MAX / 2, &partition_size));
        GC_TRY(gc_options_get_double(o, "oversample", 1.0, 1e6, &fl->oversample));
        GC_TRY(gc_options_get_double(o, "stochastic", 0.0, 0.999, &fl->stochastic));
        GC_TRY(gc_options_get_choice(o, "merge", "root|tree", &fl->tree_merge));
        GC_TRY(gc_options_get_bool(o, "shuffle-partitions", &fl->shuffle));
        GC_TRY(gc_options_get_long(o, "safeguard-sample", 0, INT64_MAX, &safeguard_sample));
        fl->partition_size = partition_size;
        fl->safeguard_sample = safeguard_sample;
    }
    return sel->parse(o, method, opt);
}
