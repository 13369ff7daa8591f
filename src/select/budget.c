#include "budget.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fault.h"

typedef struct {
    __int128 remainder;
    int id;
} remainder_entry;

static int by_remainder(const void *a, const void *b)
{
    const remainder_entry *x = a, *y = b;
    if (x->remainder != y->remainder) return x->remainder > y->remainder ? -1 : 1;
    return x->id - y->id;
}

/* Largest-remainder apportionment of `seats` by `weight`, adding to out[] without passing cap[].
 * Quotas seats·w/W are exact rationals (128-bit cross products), so equal remainders are real ties
 * and go to the lower id. A round that hits a cap hands the rest out again among the others. */
static int apportion(const int64_t *weight, const int64_t *cap, int classes, int64_t seats, int64_t *out)
{
    remainder_entry *order = gc_malloc((size_t)classes * sizeof *order);
    if (order == NULL) return gc_fail(GC_ERR_MEMORY, "out of memory for the class budgets");
    while (seats > 0) {
        __int128 total = 0;
        int active = 0;
        for (int c = 0; c < classes; ++c)
            if (out[c] < cap[c] && weight[c] > 0) total += weight[c];
        if (total == 0) break;
        int64_t given = 0;
        for (int c = 0; c < classes; ++c) {
            if (out[c] >= cap[c] || weight[c] <= 0) continue;
            __int128 product = (__int128)seats * weight[c];
            int64_t q = (int64_t)(product / total);
            if (q > cap[c] - out[c]) q = cap[c] - out[c];
            out[c] += q;
            given += q;
            order[active].remainder = product % total;
            order[active].id = c;
            active++;
        }
        int64_t left = seats - given;
        qsort(order, (size_t)active, sizeof *order, by_remainder);
        for (int i = 0; i < active && left > 0; ++i) {
            int c = order[i].id;
            if (out[c] < cap[c]) out[c]++, left--;
        }
        seats = left;
    }
    free(order);
    return GC_OK;
}

int gc_class_budgets(const int64_t *class_sizes, int classes, int64_t k, int64_t *budgets)
{
    int nonempty = 0;
    for (int c = 0; c < classes; ++c) nonempty += class_sizes[c] > 0;
    memset(budgets, 0, (size_t)classes * sizeof *budgets);
    if (k >= nonempty) {
        for (int c = 0; c < classes; ++c) budgets[c] = class_sizes[c] > 0;
        k -= nonempty;
    }
    return apportion(class_sizes, class_sizes, classes, k, budgets);
}

void gc_count_classes(const int32_t *y, int64_t n, int classes, int64_t *counts)
{
    if (y == NULL) {
        counts[0] += n;
        return;
    }
#pragma omp parallel for schedule(static) reduction(+ : counts[:classes]) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) counts[y[i]]++;
}
