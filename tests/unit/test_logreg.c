/* Weighted SGD for multinomial logistic regression (src/logreg.h): passes equal a plain double
 * reference of the documented update, a weight scales the step exactly like a longer step, and the
 * accuracy counts argmax hits (ties to the lower class) across GEMM block boundaries. */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "core/error.h"
#include "src/linalg/logreg.h"

enum { D = 3, C = 4, N = 6 };

/* The update of logreg.h in double, written out element by element. */
static void reference_pass(double *W, double *b, const float *X, const int32_t *y, const int64_t *rows,
                           const double *weight, int count, double step, double l2)
{
    for (int t = 0; t < count; ++t) {
        const float *x = X + rows[t] * D;
        double z[C], max = -INFINITY, total = 0.0;
        for (int c = 0; c < C; ++c) {
            z[c] = b[c];
            for (int j = 0; j < D; ++j) z[c] += W[c * D + j] * x[j];
            max = fmax(max, z[c]);
        }
        for (int c = 0; c < C; ++c) total += exp(z[c] - max);
        const double s = step * weight[t];
        for (int c = 0; c < C; ++c) {
            double g = exp(z[c] - max) / total - (c == y[rows[t]]);
            for (int j = 0; j < D; ++j) W[c * D + j] = (1.0 - s * l2) * W[c * D + j] - s * g * x[j];
            b[c] -= s * g;
        }
    }
}

static const float X[N * D] = { 1, 2, 0, -1, 0.5f, 3, 0, -2, 1, 2, 2, 2, -0.5f, 1, -1, 0.25f, 0, 4 };
static const int32_t y[N] = { 1, 0, 3, 2, 1, 3 };

static void passes_follow_the_documented_update(void)
{
    const int64_t rows[8] = { 0, 3, 1, 5, 2, 4, 0, 2 };
    const double weight[8] = { 1, 2.5, 0.5, 7, 1, 3, 1.5, 0.25 };
    double W[C * D] = { 0 }, b[C] = { 0 };
    gc_logreg m;
    CHECK(gc_logreg_create(&m, D, C) == GC_OK);
    for (int epoch = 0; epoch < 3; ++epoch) {
        double step = 0.2 / sqrt(1.0 + epoch);
        gc_logreg_sgd_pass(&m, X, y, rows, weight, 8, step, 0.05);
        reference_pass(W, b, X, y, rows, weight, 8, step, 0.05);
    }
    for (int i = 0; i < C * D; ++i) CHECK_NEAR(m.W[i], W[i], 1e-5);
    for (int c = 0; c < C; ++c) CHECK_NEAR(m.b[c], b[c], 1e-5);
    CHECK(gc_logreg_is_finite(&m));
    gc_logreg_destroy(&m);
}

static void a_weight_is_a_longer_step_and_null_means_one(void)
{
    const int64_t rows[1] = { 2 };
    const double three[1] = { 3.0 };
    gc_logreg weighted, longer;
    CHECK(gc_logreg_create(&weighted, D, C) == GC_OK && gc_logreg_create(&longer, D, C) == GC_OK);
    gc_logreg_sgd_pass(&weighted, X, y, rows, three, 1, 0.1, 0.0);
    gc_logreg_sgd_pass(&longer, X, y, rows, NULL, 1, 0.3, 0.0);
    for (int i = 0; i < C * D; ++i) CHECK_NEAR(weighted.W[i], longer.W[i], 1e-6);
    for (int c = 0; c < C; ++c) CHECK_NEAR(weighted.b[c], longer.b[c], 1e-6);
    gc_logreg_reset(&weighted);
    for (int i = 0; i < C * D; ++i) CHECK(weighted.W[i] == 0.0f);
    gc_logreg_destroy(&weighted);
    gc_logreg_destroy(&longer);
}

static void accuracy_counts_argmax_hits_across_blocks(void)
{
    /* Rows x = (v, 0, 0): W's first column (0, 1, 2, -1) makes class 2 win for v > 0, class 3 for
     * v < 0, and all logits tie at 0 for v = 0, which must go to class 0. 5000 rows span two GEMM
     * blocks of 4096. */
    enum { ROWS = 5000 };
    float *x = calloc(ROWS * D, sizeof *x);
    int32_t *labels = malloc(ROWS * sizeof *labels);
    gc_logreg m;
    if (x == NULL || labels == NULL || gc_logreg_create(&m, D, C) != GC_OK) {
        CHECK(!"allocation");
        free(x);
        free(labels);
        return;
    }
    const float column[C] = { 0, 1, 2, -1 };
    for (int c = 0; c < C; ++c) m.W[c * D] = column[c];
    int expected_hits = 0;
    for (int r = 0; r < ROWS; ++r) {
        x[r * D] = (float)(r % 3) - 1.0f; /* -1, 0, 1 */
        int predicted = r % 3 == 0 ? 3 : r % 3 == 1 ? 0 : 2;
        labels[r] = r % 7 == 0 ? (predicted + 1) % C : predicted; /* every 7th row is a miss */
        expected_hits += labels[r] == predicted;
    }
    double accuracy = -1.0;
    CHECK(gc_logreg_accuracy(&m, x, labels, ROWS, &accuracy) == GC_OK);
    CHECK_NEAR(accuracy, (double)expected_hits / ROWS, 1e-12);
    m.b[1] = NAN;
    CHECK(!gc_logreg_is_finite(&m));
    gc_logreg_destroy(&m);
    free(x);
    free(labels);
}

int main(void)
{
    passes_follow_the_documented_update();
    a_weight_is_a_longer_step_and_null_means_one();
    accuracy_counts_argmax_hits_across_blocks();
    TEST_MAIN_END();
}
