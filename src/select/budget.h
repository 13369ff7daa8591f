/* Per-class budgets (docs/design.md §4): every non-empty class gets one element when k allows, the rest
 * of k is shared in proportion to class sizes by largest remainder (ties to the lower class id);
 * the budgets sum to exactly k and never exceed a class's size. */
#ifndef GC_BUDGET_H
#define GC_BUDGET_H

#include <stdint.h>

/* GC_OK, or GC_ERR_MEMORY when its scratch cannot be allocated (budgets are then incomplete: a
 * collective caller agrees on the status before using them). */
int gc_class_budgets(const int64_t *class_sizes, int classes, int64_t k, int64_t *budgets);

/* counts[c] += the number of the n labels y equal to c, for c in [0, classes), counted by the
 * OpenMP threads (y NULL: every row in class 0). Labels must lie in [0, classes). */
void gc_count_classes(const int32_t *y, int64_t n, int classes, int64_t *counts);

#endif
