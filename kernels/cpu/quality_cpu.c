#include "quality_cpu.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/exact_split.h"
#include "kernels/precision.h"

/* Below this many values a pass runs on the calling thread: waking a team costs more than it saves. */
#define PARALLEL_VALUES ((int64_t)1 << 18)

double gc_cpu_quality_max_abs(const float *e, int64_t rows, int D)
{
    const int64_t values = rows * D;
    uint32_t largest = 0; /* the bits of |e_ij|, as the CUDA op: a NaN's lie above +∞'s */
#pragma omp parallel for reduction(max : largest) schedule(static) if (values > PARALLEL_VALUES)
    for (int64_t i = 0; i < values; ++i) { /* an integer comparison: it vectorizes */
        const uint32_t a = gc_float_bits(e[i]) & 0x7fffffffu;
        largest = a > largest ? a : largest;
    }
    return gc_bits_float(largest);
}

int gc_cpu_quality_sums(const float *e, int64_t rows, int D, int64_t first_row, const gc_random_subsets *subsets,
                        double scale, int64_t *acc)
{
    const size_t n = (size_t)(1 + subsets->count) * D;
    const int T = omp_get_max_threads();
    int64_t *parts = gc_calloc((size_t)T * 2 * n, sizeof *parts); /* [thread][whole parts | fractions] */
    if (parts == NULL) return gc_fail(GC_ERR_MEMORY, "out of memory for the quality sums");
#pragma omp parallel if (rows * D > PARALLEL_VALUES)
    {
        int64_t *mine = parts + (size_t)omp_get_thread_num() * 2 * n;
#pragma omp for schedule(static)
        for (int64_t i = 0; i < rows; ++i) {
            /* Every row joins sum 0; few join a subset (k of N), so their values are cut again there. */
            const unsigned mask = gc_random_subset_mask(*subsets, first_row + i);
            for (int s = 0; s <= subsets->count; ++s) {
                if (!(mask >> s & 1u)) continue;
                int64_t *whole = mine + (size_t)s * D, *fraction = mine + n + (size_t)s * D;
                for (int j = 0; j < D; ++j) {
                    int64_t w, f;
                    gc_exact_split(e[i * D + j], scale, &w, &f);
                    whole[j] += w;
                    fraction[j] += f;
                }
            }
        }
    }
    for (int t = 0; t < T; ++t)
        for (size_t c = 0; c < 2 * n; ++c) acc[c] += parts[(size_t)t * 2 * n + c];
    free(parts);
    return GC_OK;
}
