/* Whether arrays of values read from outside (files, a caller's memory) are all finite: the check
 * behind every "not finite (NaN or Inf)" error of docs/design.md §6. */
#ifndef GC_FINITE_H
#define GC_FINITE_H

#include <stdint.h>

/* The position of the first value of x [count] that is not finite (NaN or ±Inf), or count: with all
 * OpenMP threads (a reduction to the smallest such position, so the answer is the first whatever the
 * threads' split). */
int64_t gc_first_not_finite(const float *x, int64_t count);

#endif
