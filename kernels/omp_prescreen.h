/* OMP's float prescreen (docs/design.md §4.2): how the CPU twin (kernels/cpu/omp_cpu.c) scores
 * every row in float and rules rows out before its exact double pass. (The CUDA scoring sums every
 * row in double: a GPU prescreen was measured slower at half width, bench/results/ab-h200x1/
 * omp-prescreen/.)
 *
 * A row's score s = w·|⟨e, r⟩| (signed with --nonneg) is first estimated in float: r̂ = r·scale, a
 * power of two making max |r̂_j| ∈ [1, 2) (exact in double), r̃ = fl32(r̂), and s̃ = w·|fl32⟨e, r̃⟩|·unscale
 * with the dot in any order, fused or not. e holds floats (or narrower values, exact in float) and
 * w = 1/‖e‖ for every row scored. Then |s̃ − s| ≤ error + error_per_weight·w, because
 *   |fl32⟨e, r̃⟩ − ⟨e, r̂⟩| ≤ γ_{D+2}‖e‖‖r̂‖ + √D·‖e‖·2⁻¹⁴⁹ + D·2⁻¹⁴⁹
 * (γ_{D+2} = ν/(1 − ν), ν = (D + 2)·2⁻²⁴: D products and sums, plus r̂'s rounding to float; the other
 * terms are underflow: r̃_j within 2⁻¹⁵⁰ of r̂_j, and each product within 2⁻¹⁵⁰ more), and w‖e‖ = 1,
 * unscale ≤ ‖r‖, so that times w·unscale is ≤ ‖r‖·(γ_{D+2} + (D + 1)·2⁻¹⁴⁸·(1 + w)). The double
 * roundings of s̃ and of the exact score (≈ D·2⁻⁵³ relative) are far inside the 1% inflation.
 * A float score that overflowed is not finite: such a row is always rescored. */
#ifndef GC_OMP_PRESCREEN_H
#define GC_OMP_PRESCREEN_H

#include <math.h>

typedef struct {
    double scale;   /* r̂ = r·scale; 0: no prescreen (r is zero, not finite or out of range) */
    double unscale; /* 1/scale */
    double error, error_per_weight;
} gc_omp_prescreen;

/* The prescreen of residual r [D]. */
static inline gc_omp_prescreen gc_omp_prescreen_of(const double *r, int D)
{
    gc_omp_prescreen p = { 0.0, 0.0, 0.0, 0.0 };
    double largest = 0.0;
    for (int j = 0; j < D; ++j) largest = fmax(largest, fabs(r[j]));
    const double nu = (D + 2) * 0x1p-24;
    int exponent = 0;
    frexp(largest, &exponent);
    if (!(largest > 0.0) || !isfinite(largest) || exponent < -1000 || exponent > 1000 || nu >= 0.5) return p;
    const double scale = ldexp(1.0, 1 - exponent), unscale = ldexp(1.0, exponent - 1);
    double sq = 0.0; /* of r̂, whose largest value is in [1, 2): no overflow or underflow to zero */
    for (int j = 0; j < D; ++j) sq += (r[j] * scale) * (r[j] * scale);
    const double norm = sqrt(sq) * unscale, tail = (D + 1) * 0x1p-148;
    p.scale = scale;
    p.unscale = unscale;
    p.error = 1.01 * norm * (nu / (1.0 - nu) + tail);
    p.error_per_weight = 1.01 * norm * tail;
    return p;
}

#endif
