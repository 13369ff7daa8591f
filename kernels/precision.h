/* The width embeddings are stored and scored at (--precision, docs/design.md §3.1).
 *
 * Contract: a backend whose precision is bf16 or fp16 rounds every embedding value it writes to
 * that format, round to nearest, ties to even (gc_round_to). Host arrays stay float, holding values
 * the narrow format represents exactly, so every CPU twin reads the same numbers as the device,
 * which keeps its own copies at 2 bytes a value: narrowing them there is exact, and widening back
 * is exact, so the CPU twins remain bit-for-bit oracles of the device's passes. Header-only (GC_HD)
 * so kernels and host code round the same way. */
#ifndef GC_PRECISION_H
#define GC_PRECISION_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/rng.h" /* GC_HD */

typedef enum { GC_PRECISION_FP32 = 0, GC_PRECISION_BF16, GC_PRECISION_FP16 } gc_precision;

#define GC_PRECISION_NAMES "fp32|bf16|fp16"

/* p's name in GC_PRECISION_NAMES (--precision, the benchmarks' records). */
static inline const char *gc_precision_name(gc_precision p)
{
    return p == GC_PRECISION_BF16 ? "bf16" : p == GC_PRECISION_FP16 ? "fp16" : "fp32";
}

/* The precision a name in GC_PRECISION_NAMES gives, or −1 for any other name. */
static inline int gc_precision_named(const char *name)
{
    for (int p = GC_PRECISION_FP32; p <= GC_PRECISION_FP16; ++p)
        if (strcmp(name, gc_precision_name((gc_precision)p)) == 0) return p;
    return -1;
}

/* Bytes of one stored value. */
GC_HD int gc_precision_bytes(gc_precision p) { return p == GC_PRECISION_FP32 ? 4 : 2; }

GC_HD float gc_bits_float(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

GC_HD uint32_t gc_float_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

/* x rounded to bfloat16 (8 significand bits), to nearest, ties to even; NaN and ±∞ unchanged. */
GC_HD float gc_round_bf16(float x)
{
    uint32_t u = gc_float_bits(x);
    if ((u & 0x7f800000u) == 0x7f800000u) return x;
    u += 0x7fffu + ((u >> 16) & 1u); /* carries into the exponent round up to the next binade, or ∞ */
    return gc_bits_float(u & 0xffff0000u);
}

/* x rounded to IEEE half (11 significand bits, exponents −14 … 15, subnormals down to 2⁻²⁴), to
 * nearest, ties to even; beyond the largest half (65504) by half an ulp or more: ±∞. */
GC_HD float gc_round_fp16(float x)
{
    uint32_t u = gc_float_bits(x);
    if ((u & 0x7f800000u) == 0x7f800000u) return x;
    const uint32_t sign = u & 0x80000000u, mag = u & 0x7fffffffu;
    float r;
    if (mag < 0x38800000u) { /* below 2⁻¹⁴: a multiple of 2⁻²⁴; both scalings are exact */
        r = nearbyintf(gc_bits_float(mag) * 16777216.0f) * (1.0f / 16777216.0f);
    } else {
        uint32_t v = mag + 0xfffu + ((mag >> 13) & 1u);
        r = gc_bits_float(v & 0xffffe000u);
        if (r > 65504.0f) r = INFINITY;
    }
    return gc_bits_float(gc_float_bits(r) | sign);
}

GC_HD float gc_round_to(gc_precision p, float x)
{
    return p == GC_PRECISION_BF16 ? gc_round_bf16(x) : p == GC_PRECISION_FP16 ? gc_round_fp16(x) : x;
}

#ifdef __cplusplus
extern "C" {
#endif
/* Rounds count values in place with all OpenMP threads (nothing for fp32); kernels/backend.c. */
void gc_round_array(gc_precision p, float *x, int64_t count);
/* dst [count] ← src [count] values stored at `precision` (gc_precision_bytes each), widened to float
 * (exact), with gc_copy_threads() threads in one pass (kernels/backend.c): the CUDA backend's
 * staging copy of E, and E written from where it is kept as stored. fp32 is a copy. */
void gc_widen_parallel(gc_precision precision, float *dst, const void *src, int64_t count);
#ifdef __cplusplus
}
#endif

#endif
