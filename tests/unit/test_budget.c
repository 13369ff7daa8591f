/* Per-class budgets: sum to k, at least one per non-empty class, none for empty classes, never more
 * than a class has, largest remainder with ties to the lower class id; and the class counts they
 * start from. */
#include <stdlib.h>

#include "check.h"
#include "core/error.h"
#include "src/select/budget.h"

static int64_t sum(const int64_t *v, int n)
{
    int64_t s = 0;
    for (int i = 0; i < n; ++i) s += v[i];
    return s;
}

static void budgets_follow_largest_remainder(void)
{
    /* sizes 50, 30, 20 (N = 100), k = 7: one each, then 4 seats: quotas 2, 1.2, 0.8 →
     * floors 2, 1, 0 and the remaining seat to the largest remainder (0.8, class 2). */
    int64_t sizes[3] = { 50, 30, 20 }, b[3];
    CHECK(gc_class_budgets(sizes, 3, 7, b) == GC_OK);
    CHECK(b[0] == 3 && b[1] == 2 && b[2] == 2);
}

static void ties_go_to_the_lower_class(void)
{
    int64_t sizes[4] = { 10, 10, 10, 10 }, b[4];
    CHECK(gc_class_budgets(sizes, 4, 6, b) == GC_OK); /* 4 base seats, 2 more with equal remainders */
    CHECK(b[0] == 2 && b[1] == 2 && b[2] == 1 && b[3] == 1);
}

static void empty_classes_get_nothing_and_small_k_goes_to_large_classes(void)
{
    int64_t sizes[4] = { 5, 0, 100, 40 }, b[4];
    CHECK(gc_class_budgets(sizes, 4, 3, b) == GC_OK);
    CHECK(b[1] == 0 && b[0] == 1 && b[2] == 1 && b[3] == 1);
    CHECK(gc_class_budgets(sizes, 4, 2, b) == GC_OK); /* fewer seats than non-empty classes: by size */
    CHECK(b[1] == 0 && sum(b, 4) == 2 && b[2] == 1 && b[3] == 1 && b[0] == 0);
}

static void caps_at_class_size_and_k_equal_to_n(void)
{
    int64_t sizes[3] = { 1, 2, 97 }, b[3];
    CHECK(gc_class_budgets(sizes, 3, 100, b) == GC_OK);
    CHECK(b[0] == 1 && b[1] == 2 && b[2] == 97);
    CHECK(gc_class_budgets(sizes, 3, 99, b) == GC_OK);
    CHECK(sum(b, 3) == 99 && b[0] <= 1 && b[1] <= 2 && b[2] <= 97);
}

static void random_sizes_always_sum_to_k(void)
{
    srand(7);
    for (int trial = 0; trial < 2000; ++trial) {
        int C = 1 + rand() % 12;
        int64_t sizes[12], b[12], n = 0;
        for (int c = 0; c < C; ++c) n += sizes[c] = rand() % 4 == 0 ? 0 : rand() % 50;
        if (n == 0) continue;
        int64_t k = 1 + rand() % n;
        CHECK(gc_class_budgets(sizes, C, k, b) == GC_OK);
        int nonempty = 0;
        for (int c = 0; c < C; ++c) {
            CHECK(b[c] >= 0 && b[c] <= sizes[c]);
            nonempty += sizes[c] > 0;
        }
        CHECK(sum(b, C) == k);
        if (k >= nonempty)
            for (int c = 0; c < C; ++c) CHECK(sizes[c] == 0 || b[c] >= 1);
    }
}

/* gc_count_classes adds the labels' counts to what is there, on one thread below 65,536 rows and on
 * the OpenMP threads above; NULL labels put every row in class 0. A count of the labels one by one
 * is the oracle. */
static void class_counts_add_to_the_counts(void)
{
    enum { CLASSES = 7 };
    const int64_t sizes[] = { 0, 10, 65536, 300001 };
    for (size_t t = 0; t < sizeof sizes / sizeof *sizes; ++t) {
        const int64_t n = sizes[t];
        int32_t *y = malloc((size_t)(n > 0 ? n : 1) * sizeof *y);
        int64_t got[CLASSES], want[CLASSES];
        for (int c = 0; c < CLASSES; ++c) got[c] = want[c] = c; /* added to, not overwritten */
        for (int64_t i = 0; i < n; ++i) {
            y[i] = (int32_t)((i * 2654435761u) % CLASSES);
            want[y[i]]++;
        }
        gc_count_classes(y, n, CLASSES, got);
        for (int c = 0; c < CLASSES; ++c) CHECK(got[c] == want[c]);
        int64_t all[1] = { 5 };
        gc_count_classes(NULL, n, 1, all);
        CHECK(all[0] == 5 + n);
        free(y);
    }
}

int main(void)
{
    class_counts_add_to_the_counts();
    budgets_follow_largest_remainder();
    ties_go_to_the_lower_class();
    empty_classes_get_nothing_and_small_k_goes_to_large_classes();
    caps_at_class_size_and_k_equal_to_n();
    random_sizes_always_sum_to_k();
    TEST_MAIN_END();
}
