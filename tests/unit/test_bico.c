/* BiCo on one rank (also run under ASan/UBSan): the coreset has k distinct rows, the unweighted
 * weights are N_c/k_c and the weighted ones nonnegative, both summing to N; the first pick's gain
 * is the closed form of the start (S = ∅, θ = 0): s_k = (2/λ)·Σ_{i: y_i = y_k} z_kᵀz_i, and no row
 * scores higher; the ScaLAPACK eigendecomposition path is reached on one rank too; integer row
 * weights act as repeated rows. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "core/log.h"
#include "src/select/select_bico.h"

enum { N = 600, DIM = 4, CLASSES = 3, K = 17 };

static void make_rows(float *x, int32_t *y)
{
    srand(11);
    for (int i = 0; i < N; ++i) {
        y[i] = i % CLASSES;
        for (int j = 0; j < DIM; ++j) x[i * DIM + j] = (float)((double)rand() / RAND_MAX + (y[i] == j ? 1.5 : 0.0));
    }
}

/* The start's scores from the features, in double. */
static void start_scores(const double *z, const int32_t *y, int qp, double ridge, double *s)
{
    for (int k = 0; k < N; ++k) {
        double sum = 0.0;
        for (int i = 0; i < N; ++i) {
            if (y[i] != y[k]) continue;
            for (int j = 0; j < qp; ++j) sum += z[k * qp + j] * z[i * qp + j];
        }
        s[k] = 2.0 / ridge * sum;
    }
}

static void selects(const gc_local_rows *rows, gc_backend *cpu, int weighted, int batch, gc_eig_kind eig)
{
    gc_bico_options opt = {
        .landmarks = 80, .ridge = 1e-3, .batch = batch, .weighted = weighted, .eig = eig, .seed = 2
    };
    const gc_run_context run = { .backend = cpu };
    gc_coreset cs;
    int rc = gc_select_bico(&run, rows, &opt, K, &cs);
    if (rc != GC_OK) fprintf(stderr, "%s\n", gc_error_message());
    CHECK(rc == GC_OK && cs.k == K);
    double total = 0.0;
    for (int t = 0; t < cs.k; ++t) {
        total += cs.weight[t];
        CHECK(cs.weight[t] >= 0.0);
        CHECK(cs.label[t] == rows->y[cs.index[t]]);
        CHECK(memcmp(cs.embedding + (size_t)t * rows->D, rows->e + cs.index[t] * rows->D,
                     (size_t)rows->D * sizeof *cs.embedding) == 0);
        for (int u = 0; u < t; ++u) CHECK(cs.index[u] != cs.index[t]);
    }
    CHECK_NEAR(total, (double)N, 1e-12);
    CHECK(cs.bico.landmark_index != NULL && cs.bico.feature_rank > 0 && cs.bico.gamma > 0.0);

    gc_nystrom ny;
    CHECK(gc_nystrom_create(cpu, rows, 80, cs.bico.gamma, eig, 2, &ny) == GC_OK);
    const int qp = ny.map.rank;
    double *z = malloc((size_t)N * qp * sizeof *z), *s = malloc((size_t)N * sizeof *s);
    CHECK(gc_nystrom_features(&ny, cpu, rows, z) == GC_OK);
    start_scores(z, rows->y, qp, opt.ridge, s);
    CHECK_NEAR(cs.gain[0], s[cs.index[0]], 1e-9);
    for (int i = 0; i < N; ++i) CHECK(s[i] <= s[cs.index[0]] * (1.0 + 1e-12));
    gc_nystrom_destroy(&ny);
    gc_coreset_destroy(&cs);
    free(z);
    free(s);
}

static double relative_difference(double a, double b) { return fabs(a - b) / fmax(fabs(b), 1e-300); }

/* Row weights are repetitions: a row of weight v weighs in the outer objective as v copies of it.
 * With every row a landmark (q = N) both feature maps span the same functions, and the bilevel
 * problem does not change under the isometry between them, so the first pick, its score, G after
 * it and its weight (the class's total weight) agree. */
static void integer_row_weights_equal_repeated_rows(const float *x, const int32_t *y, gc_backend *cpu)
{
    enum { M = 24 };
    double v[M];
    int64_t copies = 0;
    for (int i = 0; i < M; ++i) copies += (int64_t)(v[i] = 1 + i % 3);
    float *xr = malloc((size_t)copies * DIM * sizeof *xr), *loss = calloc((size_t)copies, sizeof *loss);
    int32_t *yr = malloc((size_t)copies * sizeof *yr);
    CHECK(xr && loss && yr);
    int64_t r = 0;
    for (int i = 0; i < M; ++i)
        for (int c = 0; c < (int)v[i]; ++c, ++r) {
            memcpy(xr + r * DIM, x + i * DIM, DIM * sizeof *xr);
            yr[r] = y[i];
        }
    gc_local_rows weighted = { .comm = MPI_COMM_SELF,
                               .size = 1,
                               .n_global = M,
                               .n_local = M,
                               .D = DIM,
                               .classes = CLASSES,
                               .e = (float *)x,
                               .y = (int32_t *)y,
                               .loss = loss };
    gc_local_rows repeated = weighted;
    repeated.n_global = repeated.n_local = copies;
    repeated.e = xr;
    repeated.y = yr;
    gc_bico_options opt = {
        .landmarks = M, .gamma = 2.0, .ridge = 0.5, .batch = 1, .eig = GC_EIG_LAPACK, .seed = 3, .row_weight = v
    };
    const gc_run_context run = { .backend = cpu };
    gc_coreset a, b;
    CHECK(gc_select_bico(&run, &weighted, &opt, 1, &a) == GC_OK);
    opt.landmarks = (int)copies;
    opt.row_weight = NULL;
    CHECK(gc_select_bico(&run, &repeated, &opt, 1, &b) == GC_OK);
    CHECK(a.k == 1 && b.k == 1);
    CHECK(memcmp(a.embedding, b.embedding, DIM * sizeof *a.embedding) == 0); /* the same row's x */
    CHECK(relative_difference(a.gain[0], b.gain[0]) <= 1e-8);
    CHECK(relative_difference(a.objective, b.objective) <= 1e-8);
    CHECK(relative_difference(a.weight[0], b.weight[0]) <= 1e-12);
    gc_coreset_destroy(&a);
    gc_coreset_destroy(&b);
    free(xr);
    free(loss);
    free(yr);
}

/* The defaults scale with the data: q = 1,000 up to 2^31 / 1,000 rows, then 2^31 / N (never below
 * 64, never above N); b = 1 up to 200 points, then ⌈k / 200⌉ (never above the candidate lists). */
static void defaults_follow_the_size(void)
{
    CHECK(gc_bico_default_landmarks(50) == 50);
    CHECK(gc_bico_default_landmarks(2000000) == 1000);
    CHECK(gc_bico_default_landmarks(16000000) == 134);
    CHECK(gc_bico_default_landmarks(1000000000) == 64);
    CHECK(gc_bico_default_batch(1) == 1);
    CHECK(gc_bico_default_batch(200) == 1);
    CHECK(gc_bico_default_batch(201) == 2);
    CHECK(gc_bico_default_batch(16000) == 80);
    CHECK(gc_bico_default_batch(100000000) == GC_BICO_MAX_BATCH);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    gc_log_init(0, GC_LOG_QUIET);
    float x[N * DIM], loss[N] = { 0 };
    int32_t y[N];
    make_rows(x, y);
    gc_local_rows rows = { .comm = MPI_COMM_WORLD,
                           .rank = 0,
                           .size = 1,
                           .n_global = N,
                           .lo = 0,
                           .n_local = N,
                           .D = DIM,
                           .classes = CLASSES,
                           .e = x,
                           .y = y,
                           .loss = loss };
    defaults_follow_the_size();
    gc_backend *cpu = NULL;
    CHECK(gc_backend_cpu_create(&cpu) == GC_OK);
    selects(&rows, cpu, 0, 1, GC_EIG_LAPACK);
    selects(&rows, cpu, 1, 4, GC_EIG_LAPACK);
    selects(&rows, cpu, 0, 3, GC_EIG_SCALAPACK);
    integer_row_weights_equal_repeated_rows(x, y, cpu);
    gc_backend_destroy(cpu);
    MPI_Finalize();
    TEST_MAIN_END();
}
