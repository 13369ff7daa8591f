#include "coreset.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

int gc_coreset_allocate(gc_coreset *cs, int64_t k, int D, int classes)
{
    memset(cs, 0, sizeof *cs);
    cs->k = k;
    cs->D = D;
    cs->classes = classes;
    size_t n = (size_t)(k > 0 ? k : 1);
    cs->index = gc_calloc(n, sizeof *cs->index);
    cs->label = gc_calloc(n, sizeof *cs->label);
    cs->gain = gc_calloc(n, sizeof *cs->gain);
    cs->weight = gc_calloc(n, sizeof *cs->weight);
    cs->loss = gc_calloc(n, sizeof *cs->loss);
    cs->embedding = gc_calloc(n * (size_t)D, sizeof *cs->embedding);
    cs->budgets = gc_calloc((size_t)classes, sizeof *cs->budgets);
    cs->class_sizes = gc_calloc((size_t)classes, sizeof *cs->class_sizes);
    if (!cs->index || !cs->label || !cs->gain || !cs->weight || !cs->loss || !cs->embedding || !cs->budgets ||
        !cs->class_sizes)
        return gc_fail(GC_ERR_MEMORY, "out of memory for a coreset of %lld rows", (long long)k);
    return GC_OK;
}

void gc_coreset_destroy(gc_coreset *cs)
{
    free(cs->index);
    free(cs->label);
    free(cs->gain);
    free(cs->weight);
    free(cs->loss);
    free(cs->embedding);
    free(cs->budgets);
    free(cs->class_sizes);
    free(cs->crest.batch_index);
    free(cs->crest.batch_weight);
    free(cs->crest.subset_index);
    free(cs->bico.landmark_index);
    memset(cs, 0, sizeof *cs);
}
