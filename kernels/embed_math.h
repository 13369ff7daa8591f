/* Scalar math shared by the CPU embedding code and its CUDA twin, so both evaluate the same
 * formulas: the hidden-layer activation and the entries of the Kronecker sketch factors.
 * Header-only (GC_HD) so CUDA kernels can include it. */
#ifndef GC_EMBED_MATH_H
#define GC_EMBED_MATH_H

#include <math.h>
#include <stdint.h>

#include "core/rng.h"
#include "io/model.h"

GC_HD float gc_activate(gc_activation act, float v)
{
    switch (act) {
    case GC_ACT_RELU:
        return v > 0.0f ? v : 0.0f;
    case GC_ACT_TANH:
        return tanhf(v);
    case GC_ACT_GELU:
        return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f)); /* exact GELU */
    default:
        return v;
    }
}

/* Entry `index` (row-major) of sketch factor `factor` (0: R1 [D1 × C], 1: R2 [D2 × (H+1)]) of
 * init draw `draw`: the top bit of one counter-based draw picks the sign, scale = 1/sqrt(D1) or
 * 1/sqrt(D2). Counter layout: draw << 40 | factor << 39 | index (index < 2^39), stream
 * GC_STREAM_SKETCH, so every draw and factor has its own independent signs. */
GC_HD float gc_sketch_entry(uint64_t seed, int draw, int factor, uint64_t index, float scale)
{
    uint64_t counter = ((uint64_t)draw << 40) | ((uint64_t)factor << 39) | index;
    return (gc_rng_u64(seed, GC_STREAM_SKETCH, counter) >> 63) ? -scale : scale;
}

#endif
