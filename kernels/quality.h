/* The random subsets of the quality pass (docs/design.md §5), shared by the CPU twin
 * (kernels/cpu/quality_cpu.c) and its CUDA twin so both put every row in the same subsets.
 * Header-only (GC_HD) so CUDA kernels can include it. */
#ifndef GC_QUALITY_MATH_H
#define GC_QUALITY_MATH_H

#include <stdint.h>

#include "core/rng.h"

/* Subsets per quality pass at most: a row's membership is one byte, bit 0 for the full sum. */
#define GC_QUALITY_MAX_SUBSETS 7

/* `count` uniform random subsets of `size` rows of [0, n_global): subset s holds global row i iff
 * i's position in the seeded permutation gc_permute(·, n_global, seed + 1 + s, GC_STREAM_RANDOM_SUBSET)
 * is below size. A pure function of the global index, so every rank count draws the same subsets. */
typedef struct {
    int count; /* ≤ GC_QUALITY_MAX_SUBSETS */
    int64_t n_global, size;
    uint64_t seed;
} gc_random_subsets;

/* Bit 0 set (every row is in the full sum), bit 1 + s set iff global row i is in subset s. */
GC_HD unsigned gc_random_subset_mask(gc_random_subsets s, int64_t i)
{
    unsigned mask = 1u;
    for (int t = 0; t < s.count; ++t)
        if ((int64_t)gc_permute_inverse((uint64_t)i, (uint64_t)s.n_global, s.seed + 1 + (uint64_t)t,
                                        GC_STREAM_RANDOM_SUBSET) < s.size)
            mask |= 2u << t;
    return mask;
}

#endif
