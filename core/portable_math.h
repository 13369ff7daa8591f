/* Elementary functions that give the same bits on the host and on a CUDA device.
 *
 * libm and CUDA's math library both promise an ulp or two, not the same ulp, so a value built from
 * their log or cos (a synthetic row, docs/design.md §2.7) would differ in its last bits between the
 * CPU generator and its device twin. The functions here use only operations IEEE 754 rounds the
 * same way everywhere: + − × ÷ and sqrt, correctly rounded to nearest, and the exact floor, ceil
 * and frexp. Each operation is rounded on its own: no fused multiply-add. On the device every
 * operation goes through an explicit round-to-nearest intrinsic (__dadd_rn, __dmul_rn, …), which
 * nvcc never contracts; on the host through plain operators, with every file that includes this
 * header built with -ffp-contract=off (CMakeLists.txt) and double evaluated in double
 * (FLT_EVAL_METHOD 0, checked below). Constants are decimal literals, which every compiler rounds
 * correctly.
 *
 * Accuracy (measured against long double libm in tests/unit/test_rng.c, which asserts 1e-15 and
 * 5e-16): gc_portable_log within 3e-16 relative, gc_portable_cos_2pi within 2e-16 absolute. On the
 * host the synthetic generator runs about 20% slower than with libm; on a GPU it is compute-bound
 * far above the PCIe rate. Header-only (GC_HD) so CUDA kernels can include it. */
#ifndef GC_PORTABLE_MATH_H
#define GC_PORTABLE_MATH_H

#include <float.h>
#include <math.h>

#ifdef __CUDACC__
#define GC_HD __host__ __device__ __forceinline__
#else
#define GC_HD static inline
#endif

#if !defined(__CUDA_ARCH__) && defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD != 0
#error "portable math needs double arithmetic evaluated in double (FLT_EVAL_METHOD 0: SSE2, not x87)"
#endif

/* One correctly rounded operation each (round to nearest, ties to even), never fused. */
#ifdef __CUDA_ARCH__
GC_HD double gc_add_rn(double a, double b) { return __dadd_rn(a, b); }
GC_HD double gc_sub_rn(double a, double b) { return __dsub_rn(a, b); }
GC_HD double gc_mul_rn(double a, double b) { return __dmul_rn(a, b); }
GC_HD double gc_div_rn(double a, double b) { return __ddiv_rn(a, b); }
GC_HD double gc_sqrt_rn(double a) { return __dsqrt_rn(a); }
#else
GC_HD double gc_add_rn(double a, double b) { return a + b; }
GC_HD double gc_sub_rn(double a, double b) { return a - b; }
GC_HD double gc_mul_rn(double a, double b) { return a * b; }
GC_HD double gc_div_rn(double a, double b) { return a / b; }
GC_HD double gc_sqrt_rn(double a) { return sqrt(a); }
#endif

/* c[0] + z·(c[1] + z·(c[2] + … + z·c[n−1])), Horner, each step rounded on its own. */
GC_HD double gc_portable_poly(double z, const double *c, int n)
{
    double p = c[n - 1];
    for (int i = n - 2; i >= 0; --i) p = gc_add_rn(c[i], gc_mul_rn(z, p));
    return p;
}

/* Natural logarithm of a positive normal x. x = m·2^e with m in [√½, √2) (frexp, exact), then
 * log m = 2·atanh(s) = 2s·(1 + s²/3 + s⁴/5 + …), s = (m − 1)/(m + 1), |s| ≤ 0.1716, so ten terms
 * leave a truncation error below 1e-18 relative; e·ln 2 is added with ln 2 split in two (fdlibm's
 * ln2_hi has 21 trailing zero bits, so e·ln2_hi is exact). */
GC_HD double gc_portable_log(double x)
{
    const double sqrt_half = 0.7071067811865476, ln2_hi = 0.6931471803691238, ln2_lo = 1.9082149292705877e-10;
    const double atanh_series[] = { 0.3333333333333333,  0.2,
                                    0.14285714285714285, 0.1111111111111111,
                                    0.09090909090909091, 0.07692307692307693,
                                    0.06666666666666667, 0.058823529411764705,
                                    0.05263157894736842, 0.047619047619047616 }; /* 1/(2k + 1), k = 1 … 10 */
    int e;
    double m = frexp(x, &e); /* m in [1/2, 1) */
    if (m < sqrt_half) {
        m = gc_mul_rn(m, 2.0); /* exact */
        e -= 1;
    }
    const double s = gc_div_rn(gc_sub_rn(m, 1.0), gc_add_rn(m, 1.0)); /* m − 1 is exact (Sterbenz) */
    const double two_s = gc_mul_rn(2.0, s), z = gc_mul_rn(s, s);
    const double log_m = gc_add_rn(two_s, gc_mul_rn(two_s, gc_mul_rn(z, gc_portable_poly(z, atanh_series, 10))));
    return gc_add_rn(gc_mul_rn((double)e, ln2_hi), gc_add_rn(gc_mul_rn((double)e, ln2_lo), log_m));
}

/* cos(2π·t) for t in [0, 1]. The argument is reduced in turns, exactly: t = q/4 + r with q the
 * nearest quarter turn and |r| ≤ 1/8 (t − q/4 is exact by Sterbenz), then x = 2π·r in
 * [−π/4, π/4] (one rounding) and cos(2πt) is ±cos x or ±sin x by the quadrant, from their Taylor
 * series through x¹⁶ and x¹⁷ (truncation below 5e-17 at |x| = π/4). */
GC_HD double gc_portable_cos_2pi(double t)
{
    const double two_pi = 6.283185307179586;
    const double cos_series[] = { 1.0,
                                  -0.5,
                                  0.041666666666666664,
                                  -0.001388888888888889,
                                  2.48015873015873e-05,
                                  -2.755731922398589e-07,
                                  2.08767569878681e-09,
                                  -1.1470745597729725e-11,
                                  4.779477332387385e-14 }; /* (−1)^k/(2k)!, k = 0 … 8 */
    const double sin_series[] = { 1.0,
                                  -0.16666666666666666,
                                  0.008333333333333333,
                                  -0.0001984126984126984,
                                  2.7557319223985893e-06,
                                  -2.505210838544172e-08,
                                  1.6059043836821613e-10,
                                  -7.647163731819816e-13,
                                  2.8114572543455206e-15 }; /* (−1)^k/(2k + 1)!, k = 0 … 8 */
    const double q = floor(gc_add_rn(gc_mul_rn(4.0, t), 0.5));
    const double r = gc_sub_rn(t, gc_mul_rn(0.25, q));
    const double x = gc_mul_rn(two_pi, r), z = gc_mul_rn(x, x);
    switch ((int)q & 3) {
    case 0:
        return gc_portable_poly(z, cos_series, 9);
    case 1:
        return -gc_mul_rn(x, gc_portable_poly(z, sin_series, 9));
    case 2:
        return -gc_portable_poly(z, cos_series, 9);
    default:
        return gc_mul_rn(x, gc_portable_poly(z, sin_series, 9));
    }
}

#endif
