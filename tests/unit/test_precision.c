/* kernels/precision.h against an independent oracle (and gc_first_not_finite against a scan): x rounded to the format's grid in double
 * (the grid step is 2^(e − p) for x in [2^(e−1), 2^e), never below the format's smallest
 * subnormal; nearbyint rounds to nearest, ties to even; past the largest finite value: ∞), over
 * every 251st float bit pattern (17 million, both signs, subnormals, ∞ and NaN included) and the
 * ties and edges named below. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/finite.h"
#include "kernels/cpu/quality_cpu.h"
#include "kernels/precision.h"

typedef struct {
    int significand_bits, smallest_exponent; /* grid step ≥ 2^smallest_exponent */
    double largest;
} format;

static const format bf16 = { 8, -133, 0x1.fep127 }, fp16 = { 11, -24, 65504.0 };

static float oracle(const format *f, float x)
{
    if (!isfinite(x) || x == 0.0f) return x;
    int e;
    (void)frexp((double)x, &e);
    double step =
        ldexp(1.0, e - f->significand_bits > f->smallest_exponent ? e - f->significand_bits : f->smallest_exponent);
    double r = nearbyint((double)x / step) * step;
    if (fabs(r) > f->largest) return r > 0 ? INFINITY : -INFINITY;
    return (float)r;
}

static int same(float a, float b) { return (isnan(a) && isnan(b)) || gc_float_bits(a) == gc_float_bits(b); }

static int mismatches(const format *f, gc_precision p, float x)
{
    float got = gc_round_to(p, x), want = oracle(f, x);
    if (same(got, want)) return 0;
    if (check_failures < 10) fprintf(stderr, "precision %d: %a rounds to %a, oracle %a\n", (int)p, x, got, want);
    return 1;
}

/* gc_first_not_finite against a plain scan: each kind of non-finite value, alone and after another,
 * at the front, the back and past a million values (the threads' split); and the CPU quality pass's
 * largest magnitude, which a NaN must make a NaN (the check of rows given from outside). */
static void first_not_finite_finds_the_first(void)
{
    const int64_t n = 1 << 20;
    float *x = malloc((size_t)n * sizeof *x);
    CHECK(x != NULL);
    for (int64_t i = 0; i < n; ++i) x[i] = (float)(i % 1000) - 500.0f;
    CHECK(gc_first_not_finite(x, n) == n && gc_first_not_finite(x, 0) == 0);
    CHECK(gc_cpu_quality_max_abs(x, n, 1) == 500.0);
    const float bad[] = { NAN, -NAN, INFINITY, -INFINITY };
    const int64_t at[] = { 0, 7, n / 2 + 3, n - 1 };
    for (int b = 0; b < 4; ++b)
        for (int a = 0; a < 4; ++a) {
            const float keep = x[at[a]];
            x[at[a]] = bad[b];
            CHECK(gc_first_not_finite(x, n) == at[a]);
            const double m = gc_cpu_quality_max_abs(x, n, 1);
            CHECK(b < 2 ? isnan(m) : isinf(m) && m > 0);
            if (a + 1 < 4) { /* a second one later changes nothing */
                x[at[a + 1]] = bad[(b + 1) % 4];
                CHECK(gc_first_not_finite(x, n) == at[a]);
                x[at[a + 1]] = (float)(at[a + 1] % 1000) - 500.0f;
            }
            x[at[a]] = keep;
        }
    free(x);
}

int main(void)
{
    int bad = 0;
    for (uint64_t u = 0; u <= UINT32_MAX; u += 251) {
        float x = gc_bits_float((uint32_t)u);
        bad += mismatches(&bf16, GC_PRECISION_BF16, x) + mismatches(&fp16, GC_PRECISION_FP16, x);
    }
    CHECK(bad == 0);
    /* Ties to even, carries into the exponent, the overflow edges, subnormals. */
    const float edges[] = { 1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, 1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, 0x1.ffp0f,
                            65504.0f,       65519.0f,           65520.0f,        0x1.ff8p127f,        0x1p-24f,
                            0x1p-25f,       0x1.8p-25f,         0x1p-134f,       0x1p-149f,           -0x1.0101p3f };
    for (size_t i = 0; i < sizeof edges / sizeof *edges; ++i) {
        CHECK(!mismatches(&bf16, GC_PRECISION_BF16, edges[i]));
        CHECK(!mismatches(&fp16, GC_PRECISION_FP16, edges[i]));
        CHECK(!mismatches(&bf16, GC_PRECISION_BF16, -edges[i]));
        CHECK(!mismatches(&fp16, GC_PRECISION_FP16, -edges[i]));
    }
    CHECK(gc_round_bf16(1.0f + 0x1p-8f) == 1.0f);               /* a tie: to the even neighbour */
    CHECK(gc_round_bf16(1.0f + 3 * 0x1p-8f) == 1.0f + 0x1p-6f); /* a tie: up to the even one */
    CHECK(gc_round_fp16(65519.0f) == 65504.0f && isinf(gc_round_fp16(65520.0f)));
    CHECK(gc_round_fp16(0x1p-25f) == 0.0f && gc_round_fp16(0x1.8p-25f) == 0x1p-24f);
    CHECK(gc_round_to(GC_PRECISION_FP32, 0x1.234567p0f) == 0x1.234567p0f);
    float values[3] = { 1.0f + 0x1p-8f, 0.1f, -3.3f };
    gc_round_array(GC_PRECISION_BF16, values, 3);
    CHECK(values[0] == 1.0f && values[1] == gc_round_bf16(0.1f) && values[2] == gc_round_bf16(-3.3f));
    first_not_finite_finds_the_first();
    return check_failures;
}
