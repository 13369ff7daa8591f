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

/* Class c has probability proportional to imbalance^(-c/(C-1)); the label is the inverse CDF of a
 * uniform draw. The normaliser is a geometric series, so no table is needed. */
int32_t gc_synthetic_label(const gc_synthetic *s, int64_t row)
{
    int C = s->classes;
    if (C == 1) return 0;
    double u = gc_rng_uniform(s->seed, GC_STREAM_LABEL, (uint64_t)row);
    double ratio = pow(s->imbalance, -1.0 / (C - 1));
    if (ratio >= 1.0 - 1e-12) {
        int c = (int)(u * C);
        return c < C ? c : C - 1;
    }
    /* CDF(c) = (1 - ratio^(c+1)) / (1 - ratio^C); solve CDF(c-1) < u <= CDF(c). */
    double c = ceil(log(1.0 - u * (1.0 - pow(ratio, C))) / log(ratio)) - 1.0;
    if (c < 0) c = 0;
    if (c > C - 1) c = C - 1;
    return (int32_t)c;
}

/* Mode centre component·d + j: class mean plus mode offset, the same double expression whether
 * tabulated or not, so the rows are bitwise the same either way. */
static double centre(const gc_synthetic *s, int32_t c, uint64_t component, int j)
{
    const double class_scale = 2.0, mode_scale = 1.0; /* class means ~ N(0, 2²), modes ~ N(mean, 1) */
    return class_scale * gc_rng_normal(s->seed, GC_STREAM_CLASS_MEAN, (uint64_t)c * s->d + j) +
           mode_scale * gc_rng_normal(s->seed, GC_STREAM_MODE_OFFSET, component * s->d + j);
}

void gc_synthetic_rows(const gc_synthetic *s, int64_t lo, int64_t hi, float *x, int32_t *y)
{
    const int d = s->d;
    if (x == NULL) {
        for (int64_t row = lo; row < hi && y != NULL; ++row) y[row - lo] = gc_synthetic_label(s, row);
        return;
    }
    /* Rows ~ N(mode centre, 0.5²): classes overlap a little, modes are visible clusters,
     * near-duplicates sit 1e-3 from their mode's centre. The centres are tabulated when the table
     * is small (it usually is: classes·modes·d values), which leaves one normal draw per value. */
    const double noise_scale = 0.5;
    const uint64_t components = (uint64_t)s->classes * (uint64_t)s->modes;
    double *table = components * (uint64_t)d <= (1u << 24) ? gc_malloc(components * d * sizeof *table) : NULL;
    if (table != NULL) {
#pragma omp parallel for schedule(static)
        for (uint64_t k = 0; k < components; ++k)
            for (int j = 0; j < d; ++j) table[k * d + j] = centre(s, (int32_t)(k / s->modes), k, j);
    }
#pragma omp parallel for schedule(static)
    for (int64_t row = lo; row < hi; ++row) {
        int32_t c = gc_synthetic_label(s, row);
        uint64_t mode = (uint64_t)(gc_rng_uniform(s->seed, GC_STREAM_MODE, (uint64_t)row) * s->modes);
        uint64_t component = (uint64_t)c * (uint64_t)s->modes + mode;
        int duplicate = gc_rng_uniform(s->seed, GC_STREAM_DUPLICATE, (uint64_t)row) < s->duplicates;
        double noise = duplicate ? 1e-3 : noise_scale;
        float *out = x + (row - lo) * d;
        for (int j = 0; j < d; ++j) {
            double mu = table ? table[component * d + j] : centre(s, c, component, j);
            double eps = noise * gc_rng_normal(s->seed, GC_STREAM_NOISE, (uint64_t)row * d + j);
            out[j] = (float)(mu + eps);
        }
        if (y != NULL) y[row - lo] = c;
    }
    free(table);
}
