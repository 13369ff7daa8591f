#include "proxy_models.h"

#include <stdlib.h>

#include "core/error.h"

static int parse_hidden(const char *text, int *widths, int max, int *count)
{
    *count = 0;
    for (const char *p = text; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v <= 0 || v > (1 << 20) || *count >= max)
            return gc_fail(GC_ERR_USAGE, "option --hidden: '%s' is not a list of positive widths", text);
        widths[(*count)++] = (int)v;
        p = *end == ',' ? end + 1 : end;
        if (*end != ',' && *end != '\0')
            return gc_fail(GC_ERR_USAGE, "option --hidden: '%s' is not a list of positive widths", text);
    }
    return GC_OK;
}

int gc_proxy_models_load(const gc_options *o, int d, int classes, uint64_t seed, MPI_Comm comm, gc_model **models,
                         int *count)
{
    *models = NULL;
    *count = 0;
    if (gc_options_is_set(o, "model")) {
        const char *path = gc_options_get(o, "model");
        *models = gc_calloc(1, sizeof **models);
        GC_CHECK_ALLOC(*models);
        *count = 1;
        GC_TRY(gc_model_read(&(*models)[0], path, comm));
        if ((*models)[0].widths[0] != d)
            return gc_fail(GC_ERR_INPUT, "--model %s takes %d inputs but /X has %d columns", path,
                           (*models)[0].widths[0], d);
        if (gc_model_classes(&(*models)[0]) < classes)
            return gc_fail(GC_ERR_INPUT, "--model %s has %d outputs but the data has %d classes", path,
                           gc_model_classes(&(*models)[0]), classes);
        return GC_OK;
    }
    long draws;
    int hidden[64], n_hidden;
    GC_TRY(gc_options_get_long(o, "init-draws", 1, 4096, &draws));
    GC_TRY(parse_hidden(gc_options_get(o, "hidden"), hidden, 64, &n_hidden));
    *models = gc_calloc((size_t)draws, sizeof **models);
    GC_CHECK_ALLOC(*models);
    *count = (int)draws;
    for (int s = 0; s < draws; ++s) GC_TRY(gc_model_init_draw(&(*models)[s], d, hidden, n_hidden, classes, seed, s));
    return GC_OK;
}
