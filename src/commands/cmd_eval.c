/* gradcore eval: does a coreset train as well as the full data, and better than a random subset of
 * its size? (docs/design.md §5.) Multinomial logistic regression is trained by weighted incremental
 * gradient (src/logreg.h) on three arms that share one learning-rate schedule, α/√(1+e) in epoch e:
 * the coreset with its weights γⱼ, uniform random subsets of the same size with weight N/k (the
 * mean over --random-seeds subsets) and the full data with weight 1. Test accuracy is measured
 * before training and after every epoch; training time excludes those measurements. The data are
 * small by assumption, so rank 0 does all the work; the other ranks take part in the collective
 * reads and in the final agreement on the status. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "core/comm.h"
#include "core/error.h"
#include "core/log.h"
#include "core/options.h"
#include "core/rng.h"
#include "core/version.h"
#include "io/dataset.h"
#include "io/h5util.h"
#include "io/output_guard.h"
#include "io/plot_png.h"
#include "src/linalg/logreg.h"

static const gc_option_spec eval_options[] = {
    { "config", GC_OPT_VALUE, NULL, "FILE", "INI job file with more options" },
    { "data", GC_OPT_VALUE, NULL, "PATH[,PATH...]", "training data the coreset was selected from (as for select)" },
    { "coreset", GC_OPT_VALUE, NULL, "FILE", "coreset from gradcore select (/coreset/index, /coreset/weight)" },
    { "test", GC_OPT_VALUE, NULL, "PATH[,PATH...]", "held-out test data, same format as --data" },
    { "epochs", GC_OPT_VALUE, "20", "E", "passes over each arm's rows" },
    { "lr", GC_OPT_VALUE, "0.1", "A", "epoch e (from 0) steps by A·w/sqrt(1+e) on an element of weight w" },
    { "l2", GC_OPT_VALUE, "1e-4", "L", "L2 penalty (L/2)·‖W‖² per element (the bias is not penalised)" },
    { "random-seeds", GC_OPT_VALUE, "5", "R", "random subsets to average (the subsets select's baseline uses)" },
    { "seed", GC_OPT_VALUE, "0", "S", "seed of the random subsets and of the visiting orders" },
    { "plot", GC_OPT_VALUE, NULL, "FILE", "write a PNG of test accuracy against training time" },
    { "quiet", GC_OPT_FLAG, "off", NULL, "print the result table only" },
    { NULL, 0, NULL, NULL, NULL }
};

static const char eval_usage[] =
    "usage: gradcore eval --data train.h5 --coreset coreset.h5 --test test.h5 [--plot acc.png] [options]\n\n"
    "Trains multinomial logistic regression by SGD with per-element step sizes (CRAIG) on the coreset,\n"
    "on random subsets of the same size with weight N/k, and on the full data; prints each arm's final\n"
    "test accuracy, training time and time to come within 0.01 of the full data's final accuracy.";

/* Visiting order of epoch e: a permutation seeded by (--seed, e). kernels/rng.h's stream list
 * belongs to the kernels; eval's stream sits far above it so that the two never collide. */
enum { EVAL_STREAM_ORDER = 1000 };

typedef struct {
    long epochs, random_seeds, seed;
    double lr, l2;
} eval_params;

typedef struct {
    const char *train_spec, *test_spec;
    gc_dataset train, test;
    float *x_train, *x_test; /* rank 0: all rows; other ranks: none */
    int32_t *y_train, *y_test;
} eval_data;

typedef struct {
    double *accuracy; /* [epochs + 1]: before training, then after each epoch */
    double *time_s;   /* [epochs + 1]: cumulative training seconds */
} curve;

/* What the command reads and writes, for io/output_guard.h. */
static const gc_guard_option eval_files[] = { { "data", GC_GUARD_INPUTS },
                                              { "coreset", GC_GUARD_INPUT },
                                              { "test", GC_GUARD_INPUTS },
                                              { "plot", GC_GUARD_OUTPUT },
                                              { NULL, 0 } };

static int read_params(const gc_options *o, eval_params *p)
{
    GC_TRY(gc_options_require(o, "data"));
    GC_TRY(gc_options_require(o, "coreset"));
    GC_TRY(gc_options_require(o, "test"));
    GC_TRY(gc_options_get_long(o, "epochs", 1, 1000000, &p->epochs));
    GC_TRY(gc_options_get_long(o, "random-seeds", 1, 1000, &p->random_seeds));
    GC_TRY(gc_options_get_long(o, "seed", 0, INT64_MAX, &p->seed));
    GC_TRY(gc_options_get_double(o, "lr", 0.0, 1e6, &p->lr));
    GC_TRY(gc_options_get_double(o, "l2", 0.0, 1e6, &p->l2));
    if (p->lr <= 0.0) return gc_fail(GC_ERR_USAGE, "option --lr: %g is not positive", p->lr);
    return GC_OK;
}

/* Collective: opens both datasets and reads every row onto rank 0. */
static int load_data(eval_data *d, int rank)
{
    GC_TRY(gc_dataset_open(&d->train, d->train_spec, MPI_COMM_WORLD));
    GC_TRY(gc_dataset_open(&d->test, d->test_spec, MPI_COMM_WORLD));
    /* The metadata were broadcast, so these checks fail alike on every rank. */
    if (d->train.n == 0) return gc_fail(GC_ERR_INPUT, "--data %s: the dataset has no rows (N = 0)", d->train_spec);
    if (d->test.n == 0) return gc_fail(GC_ERR_INPUT, "--test %s: the dataset has no rows (N = 0)", d->test_spec);
    if (d->test.d != d->train.d)
        return gc_fail(GC_ERR_INPUT, "--test %s: %d features per row but --data has %d", d->test_spec, d->test.d,
                       d->train.d);
    if (d->train.num_classes > 0 && d->test.num_classes > 0 && d->train.num_classes != d->test.num_classes)
        return gc_fail(GC_ERR_INPUT, "--test %s: num_classes = %d but --data says %d", d->test_spec,
                       d->test.num_classes, d->train.num_classes);
    const int64_t n_train = rank == 0 ? d->train.n : 0, n_test = rank == 0 ? d->test.n : 0;
    const size_t width = (size_t)d->train.d;
    d->x_train = gc_malloc((size_t)(n_train > 0 ? n_train : 1) * width * sizeof *d->x_train);
    d->y_train = gc_malloc((size_t)(n_train > 0 ? n_train : 1) * sizeof *d->y_train);
    d->x_test = gc_malloc((size_t)(n_test > 0 ? n_test : 1) * width * sizeof *d->x_test);
    d->y_test = gc_malloc((size_t)(n_test > 0 ? n_test : 1) * sizeof *d->y_test);
    int status = d->x_train && d->y_train && d->x_test && d->y_test
                     ? GC_OK
                     : gc_fail(GC_ERR_MEMORY, "out of memory for %lld training and %lld test rows", (long long)n_train,
                               (long long)n_test);
    GC_TRY(gc_comm_agree(MPI_COMM_WORLD, status));
    /* Both reads are collective, so the second runs even when the first failed. */
    status = gc_dataset_read(&d->train, MPI_COMM_WORLD, 0, n_train, d->x_train, d->y_train, NULL);
    int test_status = gc_dataset_read(&d->test, MPI_COMM_WORLD, 0, n_test, d->x_test, d->y_test, NULL);
    return gc_comm_agree(MPI_COMM_WORLD, status != GC_OK ? status : test_status);
}

static void free_data(eval_data *d)
{
    gc_dataset_close(&d->train);
    gc_dataset_close(&d->test);
    free(d->x_train);
    free(d->x_test);
    free(d->y_train);
    free(d->y_test);
}

static int check_coreset(const char *path, hid_t file, const int64_t *index, const double *weight, int64_t k, int64_t n)
{
    long selected_from = 0;
    if (gc_h5_read_attr_long(file, "N", &selected_from) == 1 && selected_from != n)
        return gc_fail(GC_ERR_INPUT, "%s: selected from N = %ld rows but --data has %lld", path, selected_from,
                       (long long)n);
    for (int64_t j = 0; j < k; ++j) {
        if (index[j] < 0 || index[j] >= n)
            return gc_fail(GC_ERR_INPUT, "%s: /coreset/index row %lld is %lld, outside the %lld rows of --data", path,
                           (long long)j, (long long)index[j], (long long)n);
        if (!isfinite(weight[j]))
            return gc_fail(GC_ERR_INPUT, "%s: /coreset/weight row %lld is not finite", path, (long long)j);
    }
    return GC_OK;
}

/* Rank 0: /coreset/index and /coreset/weight, checked against the N rows of --data. */
static int read_coreset(const char *path, int64_t n, int64_t **index, double **weight, int64_t *k)
{
    hid_t file, di = -1, dw = -1;
    hsize_t ki[1] = { 0 }, kw[1] = { 0 };
    GC_TRY(gc_h5_open_read(path, H5P_DEFAULT, &file));
    int status = gc_h5_open_dataset(file, path, "/coreset/index", 1, H5T_INTEGER, &di, ki);
    if (status == GC_OK) status = gc_h5_open_dataset(file, path, "/coreset/weight", 1, H5T_FLOAT, &dw, kw);
    if (status == GC_OK && ki[0] != kw[0])
        status = gc_fail(GC_ERR_INPUT, "%s: /coreset/index has %llu rows but /coreset/weight has %llu", path,
                         (unsigned long long)ki[0], (unsigned long long)kw[0]);
    if (status == GC_OK && ki[0] == 0) status = gc_fail(GC_ERR_INPUT, "%s: the coreset is empty (k = 0)", path);
    /* Random subsets of the same size are drawn without replacement. */
    if (status == GC_OK && ki[0] > (hsize_t)n)
        status = gc_fail(GC_ERR_INPUT, "%s: k = %llu rows but --data has only %lld", path, (unsigned long long)ki[0],
                         (long long)n);
    if (status == GC_OK) {
        *k = (int64_t)ki[0];
        *index = gc_malloc((size_t)*k * sizeof **index);
        *weight = gc_malloc((size_t)*k * sizeof **weight);
        if (*index == NULL || *weight == NULL) status = gc_fail(GC_ERR_MEMORY, "out of memory for the coreset");
    }
    if (status == GC_OK && (H5Dread(di, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, *index) < 0 ||
                            H5Dread(dw, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, *weight) < 0))
        status = gc_fail(GC_ERR_INPUT, "%s: cannot read /coreset/index or /coreset/weight", path);
    if (status == GC_OK) status = check_coreset(path, file, *index, *weight, *k, n);
    if (dw >= 0) H5Dclose(dw);
    if (di >= 0) H5Dclose(di);
    H5Fclose(file);
    return status;
}

/* One arm: rows[t] with weight[t] (NULL: 1), trained from zero for --epochs passes. order_rows and
 * order_weight are scratch of `count` entries. */
static int train_arm(gc_logreg *m, const eval_data *d, const eval_params *p, const char *arm, const int64_t *rows,
                     const double *weight, int64_t count, int64_t *order_rows, double *order_weight, curve *out)
{
    gc_logreg_reset(m);
    GC_TRY(gc_logreg_accuracy(m, d->x_test, d->y_test, d->test.n, &out->accuracy[0]));
    out->time_s[0] = 0.0;
    double elapsed = 0.0;
    for (long e = 0; e < p->epochs; ++e) {
        const double started = MPI_Wtime();
        const uint64_t key = gc_rng_u64((uint64_t)p->seed, EVAL_STREAM_ORDER, (uint64_t)e);
        for (int64_t t = 0; t < count; ++t) {
            uint64_t j = gc_permute((uint64_t)t, (uint64_t)count, key, EVAL_STREAM_ORDER);
            order_rows[t] = rows[j];
            if (weight != NULL) order_weight[t] = weight[j];
        }
        gc_logreg_sgd_pass(m, d->x_train, d->y_train, order_rows, weight != NULL ? order_weight : NULL, count,
                           p->lr / sqrt(1.0 + (double)e), p->l2);
        elapsed += MPI_Wtime() - started;
        if (!gc_logreg_is_finite(m))
            return gc_fail(GC_ERR_USAGE, "option --lr %g: training on the %s diverged in epoch %ld; lower --lr", p->lr,
                           arm, e + 1);
        GC_TRY(gc_logreg_accuracy(m, d->x_test, d->y_test, d->test.n, &out->accuracy[e + 1]));
        out->time_s[e + 1] = elapsed;
    }
    return GC_OK;
}

/* Training seconds until the curve first reaches `target`, or −1 when it never does. */
static double time_to_reach(const curve *c, long epochs, double target)
{
    for (long e = 0; e <= epochs; ++e)
        if (c->accuracy[e] >= target) return c->time_s[e];
    return -1.0;
}

static void print_row(const char *arm, int64_t rows, const curve *c, long epochs, double target)
{
    char reach[32];
    double t = time_to_reach(c, epochs, target);
    if (t < 0.0)
        snprintf(reach, sizeof reach, "never");
    else
        snprintf(reach, sizeof reach, "%.4f", t);
    printf("%-20s %10lld %16.4f %12.4f %18s\n", arm, (long long)rows, c->accuracy[epochs], c->time_s[epochs], reach);
}

/* Labels run over [0, C) with C the larger of the num_classes attributes and the largest label + 1,
 * so a class that only the test set holds still gets a row of W (and is never predicted). */
static int count_classes(const eval_data *d)
{
    int classes = d->train.num_classes > d->test.num_classes ? d->train.num_classes : d->test.num_classes;
    for (int64_t i = 0; i < d->train.n; ++i) classes = d->y_train[i] >= classes ? d->y_train[i] + 1 : classes;
    for (int64_t i = 0; i < d->test.n; ++i) classes = d->y_test[i] >= classes ? d->y_test[i] + 1 : classes;
    return classes;
}

typedef struct {
    int64_t *coreset_index, *all_rows, *subset, *order_rows;
    double *coreset_weight, *subset_weight, *order_weight, *random_final;
    double *storage; /* the curves' arrays */
    curve coreset, random_mean, random_one, full;
    gc_logreg model;
} eval_work;

static int create_work(eval_work *w, const eval_data *d, const eval_params *p, int64_t k)
{
    const int64_t n = d->train.n;
    const size_t points = (size_t)p->epochs + 1;
    w->all_rows = gc_malloc((size_t)n * sizeof *w->all_rows);
    w->order_rows = gc_malloc((size_t)n * sizeof *w->order_rows);
    w->order_weight = gc_malloc((size_t)n * sizeof *w->order_weight);
    w->subset = gc_malloc((size_t)k * sizeof *w->subset);
    w->subset_weight = gc_malloc((size_t)k * sizeof *w->subset_weight);
    w->random_final = gc_malloc((size_t)p->random_seeds * sizeof *w->random_final);
    w->storage = gc_calloc(8 * points, sizeof *w->storage);
    GC_CHECK_ALLOC(w->all_rows && w->order_rows && w->order_weight && w->subset && w->subset_weight &&
                           w->random_final && w->storage
                       ? w->storage
                       : NULL);
    curve *curves[4] = { &w->coreset, &w->random_mean, &w->random_one, &w->full };
    for (int c = 0; c < 4; ++c) {
        curves[c]->accuracy = w->storage + (size_t)(2 * c) * points;
        curves[c]->time_s = w->storage + (size_t)(2 * c + 1) * points;
    }
    for (int64_t i = 0; i < n; ++i) w->all_rows[i] = i;
    return gc_logreg_create(&w->model, d->train.d, count_classes(d));
}

static void destroy_work(eval_work *w)
{
    free(w->coreset_index);
    free(w->coreset_weight);
    free(w->all_rows);
    free(w->order_rows);
    free(w->order_weight);
    free(w->subset);
    free(w->subset_weight);
    free(w->random_final);
    free(w->storage);
    gc_logreg_destroy(&w->model);
}

/* Subset r is the first k rows of a permutation of [0, N) seeded by seed + 1 + r: the same subsets
 * as select's random-subset gradient error (src/quality.c). */
static int train_random_arms(eval_work *w, const eval_data *d, const eval_params *p, int64_t k)
{
    const int64_t n = d->train.n;
    for (long r = 0; r < p->random_seeds; ++r) {
        for (int64_t t = 0; t < k; ++t) {
            w->subset[t] = (int64_t)gc_permute((uint64_t)t, (uint64_t)n, (uint64_t)p->seed + 1 + (uint64_t)r,
                                               GC_STREAM_RANDOM_SUBSET);
            w->subset_weight[t] = (double)n / (double)k;
        }
        GC_TRY(train_arm(&w->model, d, p, "random subset", w->subset, w->subset_weight, k, w->order_rows,
                         w->order_weight, &w->random_one));
        for (long e = 0; e <= p->epochs; ++e) {
            w->random_mean.accuracy[e] += w->random_one.accuracy[e] / (double)p->random_seeds;
            w->random_mean.time_s[e] += w->random_one.time_s[e] / (double)p->random_seeds;
        }
        w->random_final[r] = w->random_one.accuracy[p->epochs];
    }
    return GC_OK;
}

static int report(const eval_work *w, const eval_data *d, const eval_params *p, int64_t k, const char *plot)
{
    const double target = w->full.accuracy[p->epochs] - 0.01;
    char random_name[48];
    snprintf(random_name, sizeof random_name, "random (mean of %ld)", p->random_seeds);
    printf("%-20s %10s %16s %12s %18s\n", "arm", "rows", "final_test_acc", "train_s", "time_to_target_s");
    print_row("coreset", k, &w->coreset, p->epochs, target);
    print_row(random_name, k, &w->random_mean, p->epochs, target);
    print_row("full", d->train.n, &w->full, p->epochs, target);
    printf("target = full data's final test accuracy - 0.01 = %.4f\n", target);
    fflush(stdout);
    char finals[1024];
    size_t used = 0;
    for (long r = 0; r < p->random_seeds && used < sizeof finals; ++r)
        used += (size_t)snprintf(finals + used, sizeof finals - used, " %.4f", w->random_final[r]);
    gc_info("eval: final test accuracy of each random subset:%s", finals);
    if (plot == NULL) return GC_OK;
    const int points = (int)p->epochs + 1;
    const gc_plot_series series[3] = {
        { "coreset", { 214, 39, 40 }, points, w->coreset.time_s, w->coreset.accuracy },
        { random_name, { 31, 119, 180 }, points, w->random_mean.time_s, w->random_mean.accuracy },
        { "full data", { 44, 160, 44 }, points, w->full.time_s, w->full.accuracy }
    };
    GC_TRY(gc_plot_png(plot, "--plot", "training time (s)", "test accuracy", series, 3));
    gc_info("eval: wrote %s", plot);
    return GC_OK;
}

/* Rank 0: reads the coreset, trains the three arms and reports. */
static int evaluate(const eval_data *d, const eval_params *p, const char *coreset_path, const char *plot)
{
    eval_work w;
    memset(&w, 0, sizeof w);
    int64_t k = 0;
    int status = read_coreset(coreset_path, d->train.n, &w.coreset_index, &w.coreset_weight, &k);
    if (status == GC_OK) status = create_work(&w, d, p, k);
    if (status == GC_OK) {
        int negative = 0;
        for (int64_t j = 0; j < k; ++j) negative += w.coreset_weight[j] < 0.0;
        if (negative > 0)
            gc_warn("%s: %d negative weights: the weighted objective is not convex, SGD may not settle", coreset_path,
                    negative);
        gc_info("gradcore eval: N = %lld training rows, %lld test rows, d = %d, C = %d; coreset k = %lld (%s)",
                (long long)d->train.n, (long long)d->test.n, d->train.d, w.model.classes, (long long)k, coreset_path);
        gc_info("  %ld epochs, step lr·weight/sqrt(1+epoch) with lr = %g, l2 = %g, seed %ld", p->epochs, p->lr, p->l2,
                p->seed);
        status = train_arm(&w.model, d, p, "coreset", w.coreset_index, w.coreset_weight, k, w.order_rows,
                           w.order_weight, &w.coreset);
    }
    if (status == GC_OK) status = train_random_arms(&w, d, p, k);
    if (status == GC_OK)
        status =
            train_arm(&w.model, d, p, "full data", w.all_rows, NULL, d->train.n, w.order_rows, w.order_weight, &w.full);
    if (status == GC_OK) status = report(&w, d, p, k, plot);
    destroy_work(&w);
    return status;
}

static int run_eval(const gc_options *o, int rank)
{
    int quiet;
    eval_params p;
    GC_TRY(gc_options_get_bool(o, "quiet", &quiet));
    gc_log_init(rank, quiet ? GC_LOG_QUIET : GC_LOG_NORMAL);
    GC_TRY(read_params(o, &p));
    const char *plot = gc_options_get(o, "plot");
    GC_TRY(gc_comm_agree(MPI_COMM_WORLD, rank == 0 ? gc_guard_check(o, eval_files) : GC_OK));
    eval_data d;
    memset(&d, 0, sizeof d);
    d.train_spec = gc_options_get(o, "data");
    d.test_spec = gc_options_get(o, "test");
    int status = load_data(&d, rank);
    if (status == GC_OK && rank == 0) status = evaluate(&d, &p, gc_options_get(o, "coreset"), plot);
    free_data(&d);
    return status;
}

int gc_command_eval(int argc, char **argv)
{
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    gc_options o;
    int status = gc_options_parse(&o, "eval", eval_options, argc, argv);
    if (status == GC_OK && !o.help_requested && !o.version_requested) status = run_eval(&o, rank);
    status = gc_comm_agree(MPI_COMM_WORLD, status);
    if (status == GC_OK && rank == 0 && o.help_requested) gc_options_print_help(eval_options, eval_usage, stdout);
    if (status == GC_OK && rank == 0 && o.version_requested)
        printf("gradcore eval %s (%s)\n", GC_VERSION, GC_GIT_COMMIT);
    gc_options_destroy(&o);
    return status;
}
