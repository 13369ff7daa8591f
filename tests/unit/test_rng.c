/* Counter-based RNG and pointwise permutations: bijective, invertible, reproducible; the portable
 * log and cos (core/portable_math.h) against long double libm; the synthetic generator's labels
 * and rows against their closed forms. */
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

static void uniform_has_the_right_mean(void)
{
    double su = 0;
    const int n = 200000;
    for (int i = 0; i < n; ++i) {
        double u = gc_rng_uniform(3, 1, (uint64_t)i);
        CHECK(u > 0.0 && u < 1.0);
        su += u;
    }
    CHECK(fabs(su / n - 0.5) < 0.005);
}

/* Relative error against logl (64-bit significand) on uniforms, on x = m·2^e over most of the
 * double range, just below 1 (where log x → 0) and on both sides of the reduction's √½·2^e
 * boundary. Measured: 2.8e-16 (2.5 ulp). */
static void portable_log_is_within_a_few_ulp(void)
{
    double worst = 0.0;
    for (int i = 0; i < 400000; ++i) {
        double x;
        switch (i % 4) {
        case 0:
            x = gc_rng_uniform(1, 99, (uint64_t)i);
            break;
        case 1:
            x = ldexp(0.5 + 0.5 * gc_rng_uniform(1, 98, (uint64_t)i),
                      (int)(gc_rng_u64(1, 97, (uint64_t)i) % 2000) - 1000);
            break;
        case 2:
            x = 1.0 - ldexp((double)(i / 4 + 1), -53);
            break;
        default:
            x = nextafter(ldexp(0.7071067811865476, (i / 4) % 200 - 100), (i & 8) ? 2.0 : 0.0);
            break;
        }
        if (x == 1.0) continue;
        const long double ref = logl((long double)x);
        worst = fmax(worst, (double)(fabsl((long double)gc_portable_log(x) - ref) / fabsl(ref)));
    }
    printf("portable log: worst relative error %.3g\n", worst);
    CHECK(worst < 1e-15);
    CHECK(gc_portable_log(1.0) == 0.0);
    CHECK(gc_portable_log(0.5) == -0.6931471805599453); /* −ln 2, correctly rounded */
}

/* Absolute error against cosl(2π·t) in long double, on a grid over [0, 1] (every quadrant and
 * the quarter-turn boundaries) and on uniforms. Measured: 1.8e-16. */
static void portable_cos_2pi_is_within_a_few_ulp(void)
{
    const long double two_pi = 6.283185307179586476925286766559L;
    double worst = 0.0;
    for (int i = 0; i <= 400000; ++i) {
        const double t = i % 2 ? gc_rng_uniform(2, 99, (uint64_t)i) : (double)i / 400000.0;
        const long double ref = cosl(two_pi * (long double)t);
        worst = fmax(worst, (double)fabsl((long double)gc_portable_cos_2pi(t) - ref));
    }
    printf("portable cos(2πt): worst absolute error %.3g\n", worst);
    CHECK(worst < 5e-16);
    CHECK(gc_portable_cos_2pi(0.0) == 1.0 && gc_portable_cos_2pi(0.5) == -1.0 && gc_portable_cos_2pi(1.0) == 1.0);
}

/* The first four moments of 1e6 draws (standard errors 0.001, 0.0014, 0.0039, 0.0098; bounds at
 * five of them), and each draw within 1e-14 of Box-Muller evaluated in long double. */
static void normal_has_the_right_moments_and_matches_box_muller(void)
{
    const long double two_pi = 6.283185307179586476925286766559L;
    const int n = 1000000;
    double m1 = 0, m2 = 0, m3 = 0, m4 = 0, worst = 0;
    for (int i = 0; i < n; ++i) {
        const double z = gc_rng_normal(3, 2, (uint64_t)i);
        m1 += z;
        m2 += z * z;
        m3 += z * z * z;
        m4 += z * z * z * z;
        const long double u1 = gc_rng_uniform(3, 2, 2 * (uint64_t)i), u2 = gc_rng_uniform(3, 2, 2 * (uint64_t)i + 1);
        worst = fmax(worst, (double)fabsl(z - sqrtl(-2.0L * logl(u1)) * cosl(two_pi * u2)));
    }
    printf("normal: moments %.4f %.4f %.4f %.4f, worst distance to Box-Muller in long double %.3g\n", m1 / n, m2 / n,
           m3 / n, m4 / n, worst);
    CHECK(fabs(m1 / n) < 0.005);
    CHECK(fabs(m2 / n - 1.0) < 0.007);
    CHECK(fabs(m3 / n) < 0.02);
    CHECK(fabs(m4 / n - 3.0) < 0.05);
    CHECK(worst < 1e-14);
}

/* Labels of an imbalanced dataset: each equals the libm inverse CDF (the formula before the
 * portable log; a tie within an ulp of a class boundary is astronomically rare), and the class
 * counts of 2e5 rows match P(c) ∝ ratio^c within five standard deviations. */
static void synthetic_labels_follow_the_geometric_law(void)
{
    gc_synthetic s;
    CHECK(gc_synthetic_parse("n=200000,d=3,classes=7,seed=4,imbalance=20", &s) == 0);
    const gc_synthetic_constants k = gc_synthetic_constants_of(&s);
    const double ratio = pow(20.0, -1.0 / 6.0);
    int32_t *y = malloc(200000 * sizeof *y);
    CHECK(y != NULL);
    if (y == NULL) return;
    gc_synthetic_rows(&s, 0, 200000, NULL, y);
    int counts[7] = { 0 }, mismatches = 0;
    for (int64_t r = 0; r < 200000; ++r) {
        const double u = gc_rng_uniform(4, GC_STREAM_LABEL, (uint64_t)r);
        double c = ceil(log(1.0 - u * (1.0 - pow(ratio, 7))) / log(ratio)) - 1.0;
        c = c < 0 ? 0 : c > 6 ? 6 : c;
        mismatches += y[r] != (int32_t)c || gc_synthetic_label(&k, r) != y[r];
        counts[y[r]]++;
    }
    CHECK(mismatches == 0);
    const double total = (1.0 - pow(ratio, 7)) / (1.0 - ratio);
    for (int c = 0; c < 7; ++c) {
        const double p = pow(ratio, c) / total, expected = 200000 * p, sd = sqrt(200000 * p * (1 - p));
        CHECK(fabs(counts[c] - expected) < 5 * sd);
    }
    free(y);
}

/* A row's values are its centre (class mean + mode offset) plus noise, whether the generator
 * tabulated the centres or not. */
static void synthetic_values_equal_centre_plus_noise(void)
{
    gc_synthetic s;
    CHECK(gc_synthetic_parse("n=500,d=5,classes=3,seed=2,modes=2,duplicates=0.3", &s) == 0);
    const gc_synthetic_constants k = gc_synthetic_constants_of(&s);
    float x[500 * 5];
    int32_t y[500];
    gc_synthetic_rows(&s, 0, 500, x, y);
    int mismatches = 0, duplicates = 0;
    for (int64_t r = 0; r < 500; ++r) {
        const gc_synthetic_row row = gc_synthetic_row_of(&k, r);
        duplicates += row.noise < 0.5;
        mismatches += row.label != y[r] || row.component / 2 != (uint64_t)y[r];
        for (int j = 0; j < 5; ++j) {
            const double centre = 2.0 * gc_rng_normal(2, GC_STREAM_CLASS_MEAN, (uint64_t)y[r] * 5 + (uint64_t)j) +
                                  gc_rng_normal(2, GC_STREAM_MODE_OFFSET, row.component * 5 + (uint64_t)j);
            const float value = (float)(centre + row.noise * gc_rng_normal(2, GC_STREAM_NOISE, (uint64_t)r * 5 + j));
            mismatches += value != x[r * 5 + j];
        }
    }
    CHECK(mismatches == 0);
    CHECK(duplicates > 100 && duplicates < 200); /* 30% of 500 */
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
    uniform_has_the_right_mean();
    portable_log_is_within_a_few_ulp();
    portable_cos_2pi_is_within_a_few_ulp();
    normal_has_the_right_moments_and_matches_box_muller();
    synthetic_labels_follow_the_geometric_law();
    synthetic_values_equal_centre_plus_noise();
    synthetic_rows_do_not_depend_on_the_range_read();
    TEST_MAIN_END();
}
