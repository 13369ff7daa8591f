#include "finite.h"

#include <math.h>

int64_t gc_first_not_finite(const float *x, int64_t count)
{
    int64_t bad = count;
#pragma omp parallel for reduction(min : bad) schedule(static)
    for (int64_t i = 0; i < count; ++i)
        if (!isfinite(x[i]) && i < bad) bad = i;
    return bad;
}
