/* Counter-based random numbers: every value is a pure function of (seed, stream, counter), so a
 * row's synthetic features, a model's initial weights or a random permutation come out the same on
 * any rank, any rank count, the CPU or the GPU. Header-only so CUDA kernels can include it. */
#ifndef GC_RNG_H
#define GC_RNG_H

#include <stdint.h>

#include "portable_math.h" /* GC_HD, and the log and cos that give the same bits on every device */

/* Streams keep unrelated uses of one seed independent. */
enum gc_rng_stream {
    GC_STREAM_LABEL = 1,
    GC_STREAM_MODE = 2,
    GC_STREAM_DUPLICATE = 3,
    GC_STREAM_CLASS_MEAN = 4,
    GC_STREAM_MODE_OFFSET = 5,
    GC_STREAM_NOISE = 6,
    GC_STREAM_MODEL = 7,
    GC_STREAM_PARTITION = 8,
    GC_STREAM_RANDOM_SUBSET = 9,
    GC_STREAM_SKETCH = 10,
    GC_STREAM_SUBSET = 11,
    GC_STREAM_STOCHASTIC_GREEDY = 12,
    GC_STREAM_BICO_LANDMARK = 13,
    GC_STREAM_SAFEGUARD = 15, /* GreeDi's sample of rows (select_fl.c) */
    GC_STREAM_RESERVOIR = 14
};

/* SplitMix64 finaliser: a bijective 64-bit mixer with full avalanche. */
GC_HD uint64_t gc_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

GC_HD uint64_t gc_rng_u64(uint64_t seed, uint64_t stream, uint64_t counter)
{
    uint64_t key = gc_mix64(seed * 0x9e3779b97f4a7c15ULL + stream * 0xd1b54a32d192ed03ULL + 1);
    return gc_mix64(key ^ gc_mix64(counter + 0x632be59bd9b4e019ULL));
}

/* Uniform in (0, 1], 53 random bits: (k + 1/2)·2^-53 rounded to double, which is 1.0 for the top
 * k (once in 2^53 draws): a caller that scales it by a count to pick an index must clamp. */
GC_HD double gc_rng_uniform(uint64_t seed, uint64_t stream, uint64_t counter)
{
    return ((double)(gc_rng_u64(seed, stream, counter) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

/* Standard normal by Box-Muller on two independent uniforms of the same counter,
 * sqrt(−2 log u1)·cos(2π u2), from the portable log and cos: the same bits on the host and on a
 * device (core/portable_math.h), within 1e-14 of the formula in long double. */
GC_HD double gc_rng_normal(uint64_t seed, uint64_t stream, uint64_t counter)
{
    double u1 = gc_rng_uniform(seed, stream, 2 * counter);
    double u2 = gc_rng_uniform(seed, stream, 2 * counter + 1);
    return gc_mul_rn(gc_sqrt_rn(gc_mul_rn(-2.0, gc_portable_log(u1))), gc_portable_cos_2pi(u2));
}

/* A pseudo-random permutation of [0, n) evaluated pointwise: a 4-round Feistel network on the
 * smallest even number of bits covering n, with cycle walking to stay inside [0, n). Invertible,
 * so "is row i among the first k of the permutation" costs O(1) without storing anything. */
GC_HD uint64_t gc_feistel_round(uint64_t half, uint64_t key, int round, uint64_t mask)
{
    return gc_mix64(half ^ gc_mix64(key + (uint64_t)round)) & mask;
}

GC_HD int gc_permutation_half_bits(uint64_t n)
{
    int bits = 2;
    while (bits < 64 && ((uint64_t)1 << bits) < n) bits += 2;
    return bits / 2;
}

GC_HD uint64_t gc_permute(uint64_t x, uint64_t n, uint64_t seed, uint64_t stream)
{
    int h = gc_permutation_half_bits(n);
    uint64_t mask = ((uint64_t)1 << h) - 1, key = gc_mix64(seed ^ (stream << 32));
    do {
        uint64_t left = x >> h, right = x & mask;
        for (int r = 0; r < 4; ++r) {
            uint64_t next = left ^ gc_feistel_round(right, key, r, mask);
            left = right;
            right = next;
        }
        x = (left << h) | right;
    } while (x >= n);
    return x;
}

GC_HD uint64_t gc_permute_inverse(uint64_t y, uint64_t n, uint64_t seed, uint64_t stream)
{
    int h = gc_permutation_half_bits(n);
    uint64_t mask = ((uint64_t)1 << h) - 1, key = gc_mix64(seed ^ (stream << 32));
    do {
        uint64_t left = y >> h, right = y & mask;
        for (int r = 3; r >= 0; --r) {
            uint64_t prev = right ^ gc_feistel_round(left, key, r, mask);
            right = left;
            left = prev;
        }
        y = (left << h) | right;
    } while (y >= n);
    return y;
}

#endif
