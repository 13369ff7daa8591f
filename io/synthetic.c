#include "synthetic.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"

static int parse_number(const char *key, const char *value, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(value, &end);
    if (errno != 0 || end == value || *end != '\0' || !(x >= min && x <= max))
        return gc_fail(GC_ERR_USAGE, "--data synthetic: %s=%s is not a number in [%g, %g]", key, value, min, max);
    *out = x;
    return GC_OK;
}

int gc_synthetic_parse(const char *spec, gc_synthetic *out)
{
    gc_synthetic s = { .n = 0, .d = 0, .classes = 0, .seed = 0, .imbalance = 1.0, .modes = 4, .duplicates = 0.05 };
    char buf[512];
    if (strlen(spec) >= sizeof buf) return gc_fail(GC_ERR_USAGE, "--data synthetic: spec too long");
    strcpy(buf, spec);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (eq == NULL) return gc_fail(GC_ERR_USAGE, "--data synthetic: expected key=value, got '%s'", tok);
        *eq = '\0';
        const char *key = tok, *value = eq + 1;
        double x = 0.0;
        if (strcmp(key, "n") == 0) {
            GC_TRY(parse_number(key, value, 1, 4e18, &x));
            s.n = (int64_t)x;
        } else if (strcmp(key, "d") == 0) {
            GC_TRY(parse_number(key, value, 1, 1 << 20, &x));
            s.d = (int)x;
        } else if (strcmp(key, "classes") == 0) {
            GC_TRY(parse_number(key, value, 1, 1 << 24, &x));
            s.classes = (int)x;
        } else if (strcmp(key, "seed") == 0) {
            GC_TRY(parse_number(key, value, 0, 1.8e19, &x));
            s.seed = (uint64_t)x;
        } else if (strcmp(key, "imbalance") == 0) {
            GC_TRY(parse_number(key, value, 1, 1e9, &s.imbalance));
        } else if (strcmp(key, "modes") == 0) {
            GC_TRY(parse_number(key, value, 1, 1 << 16, &x));
            s.modes = (int)x;
        } else if (strcmp(key, "duplicates") == 0) {
            GC_TRY(parse_number(key, value, 0, 1, &s.duplicates));
        } else {
            return gc_fail(GC_ERR_USAGE,
                           "--data synthetic: unknown key '%s' (n, d, classes, seed, "
                           "imbalance, modes, duplicates)",
                           key);
        }
    }
    if (s.n <= 0 || s.d <= 0 || s.classes <= 0)
        return gc_fail(GC_ERR_USAGE, "--data synthetic: n, d and classes are required and > 0");
    *out = s;
    return GC_OK;
}

/* ratio = imbalance^(−1/(C−1)) and its powers once, with libm: only the per-row work must be
 * portable (io/synthetic.h). A ratio within 1e-12 of 1 is taken as balanced (1 − ratio^C ≈ 0). */
gc_synthetic_constants gc_synthetic_constants_of(const gc_synthetic *s)
{
    gc_synthetic_constants k = { .seed = s->seed,
                                 .d = s->d,
                                 .classes = s->classes,
                                 .modes = s->modes,
                                 .duplicates = s->duplicates,
                                 .balanced = 1,
                                 .tail = 0.0,
                                 .log_ratio = 0.0 };
    if (s->classes > 1) {
        const double ratio = pow(s->imbalance, -1.0 / (s->classes - 1));
        k.balanced = ratio >= 1.0 - 1e-12;
        k.tail = 1.0 - pow(ratio, s->classes);
        k.log_ratio = log(ratio);
    }
    return k;
}

void gc_synthetic_rows(const gc_synthetic *s, int64_t lo, int64_t hi, float *x, int32_t *y)
{
    const gc_synthetic_constants k = gc_synthetic_constants_of(s);
    const int d = s->d;
    if (x == NULL) { /* labels alone: the read phase of every synthetic run, one counter a row */
        if (y == NULL) return;
#pragma omp parallel for schedule(static)
        for (int64_t row = lo; row < hi; ++row) y[row - lo] = gc_synthetic_label(&k, row);
        return;
    }
    /* The centres are tabulated when the table is small (it usually is: classes·modes·d values),
     * which leaves one normal draw per value; without the table (too large, or no memory for it)
     * each value computes its centre, the same bits. */
    const uint64_t components = (uint64_t)s->classes * (uint64_t)s->modes;
    double *table =
        components * (uint64_t)d <= GC_SYNTHETIC_TABLE_MAX ? gc_malloc(components * d * sizeof *table) : NULL;
    if (table != NULL) {
#pragma omp parallel for schedule(static)
        for (uint64_t c = 0; c < components; ++c)
            for (int j = 0; j < d; ++j) table[c * d + j] = gc_synthetic_centre(&k, c, j);
    }
#pragma omp parallel for schedule(static)
    for (int64_t row = lo; row < hi; ++row) {
        const gc_synthetic_row r = gc_synthetic_row_of(&k, row);
        float *out = x + (row - lo) * d;
        for (int j = 0; j < d; ++j) {
            const double centre = table ? table[r.component * d + j] : gc_synthetic_centre(&k, r.component, j);
            out[j] = gc_synthetic_value(&k, &r, centre, row, j);
        }
        if (y != NULL) y[row - lo] = r.label;
    }
    free(table);
}
