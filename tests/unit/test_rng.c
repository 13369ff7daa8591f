/* Counter-based RNG and pointwise permutations: bijective, invertible, reproducible. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/rng.h"
#include "io/synthetic.h"

static void permutation_is_a_bijection_with_an_inverse(void)
{
    const uint64_t sizes[] = { 1, 2, 3, 17, 1000, 4097 };
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; ++s) {
        uint64_t n = sizes[s];
        char *seen = calloc(n, 1);
        for (uint64_t i = 0; i < n; ++i) {
            uint64_t p = gc_permute(i, n, 42, GC_STREAM_PARTITION);
            CHECK(p < n);
            if (p < n) seen[p]++;
            CHECK(gc_permute_inverse(p, n, 42, GC_STREAM_PARTITION) == i);
        }
        for (uint64_t i = 0; i < n; ++i) CHECK(seen[i] == 1);
        free(seen);
    }
}

static void uniform_and_normal_have_the_right_moments(void)
{
    double su = 0, sn = 0, sn2 = 0;
    const int n = 200000;
    for (int i = 0; i < n; ++i) {
        double u = gc_rng_uniform(3, 1, (uint64_t)i), z = gc_rng_normal(3, 2, (uint64_t)i);
        CHECK(u > 0.0 && u < 1.0);
        su += u;
        sn += z;
        sn2 += z * z;
    }
    CHECK(fabs(su / n - 0.5) < 0.005);
    CHECK(fabs(sn / n) < 0.01);
    CHECK(fabs(sn2 / n - 1.0) < 0.02);
}

static void synthetic_rows_do_not_depend_on_the_range_read(void)
{
    gc_synthetic s;
    CHECK(gc_synthetic_parse("n=1000,d=7,classes=5,seed=9,imbalance=10", &s) == 0);
    float all[1000 * 7], part[300 * 7];
    int32_t ya[1000], yp[300];
    gc_synthetic_rows(&s, 0, 1000, all, ya);
    gc_synthetic_rows(&s, 600, 900, part, yp);
    CHECK(memcmp(all + 600 * 7, part, sizeof part) == 0);
    CHECK(memcmp(ya + 600, yp, sizeof yp) == 0);
    int counts[5] = { 0 };
    for (int i = 0; i < 1000; ++i) counts[ya[i]]++;
    CHECK(counts[0] > 3 * counts[4]); /* imbalance 10: class 0 ≈ 10× class 4 */
}

int main(void)
{
    permutation_is_a_bijection_with_an_inverse();
    uniform_and_normal_have_the_right_moments();
    synthetic_rows_do_not_depend_on_the_range_read();
    TEST_MAIN_END();
}
