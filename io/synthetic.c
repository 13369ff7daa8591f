#include "synthetic.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/rng.h"
#include "../src/error.h"

static int parse_number(const char *key, const char *value, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(value, &end);
    if (errno != 0 || end == value || *end != '\0' || !(x >= min && x <= max))
        return gc_fail(GC_ERR_USAGE, "--data synthetic: %s=%s is not a number in [%g, %g]", key,
                       value, min, max);
    *out = x;
    return GC_OK;
}

int gc_synthetic_parse(const char *spec, gc_synthetic *out)
{
    gc_synthetic s = {.n = 0, .d = 0, .classes = 0, .seed = 0, .imbalance = 1.0, .modes = 4,
                      .duplicates = 0.05};
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
            return gc_fail(GC_ERR_USAGE, "--data synthetic: unknown key '%s' (n, d, classes, seed, "
                           "imbalance, modes, duplicates)", key);
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

void gc_synthetic_rows(const gc_synthetic *s, int64_t lo, int64_t hi, float *x, int32_t *y)
{
    const int d = s->d;
    /* Class means ~ N(0, 2²), modes ~ N(class mean, 1), rows ~ N(mode, 0.5²): classes overlap a
     * little, modes are visible clusters, near-duplicates sit 1e-3 from their mode's centre. */
    const double class_scale = 2.0, mode_scale = 1.0, noise_scale = 0.5;
#pragma omp parallel for schedule(static)
    for (int64_t row = lo; row < hi; ++row) {
        int32_t c = gc_synthetic_label(s, row);
        uint64_t mode = (uint64_t)(gc_rng_uniform(s->seed, GC_STREAM_MODE, (uint64_t)row) * s->modes);
        uint64_t component = (uint64_t)c * (uint64_t)s->modes + mode;
        int duplicate = gc_rng_uniform(s->seed, GC_STREAM_DUPLICATE, (uint64_t)row) < s->duplicates;
        double noise = duplicate ? 1e-3 : noise_scale;
        float *out = x + (row - lo) * d;
        for (int j = 0; j < d; ++j) {
            double mu = class_scale * gc_rng_normal(s->seed, GC_STREAM_CLASS_MEAN, (uint64_t)c * d + j);
            double off = mode_scale * gc_rng_normal(s->seed, GC_STREAM_MODE_OFFSET, component * d + j);
            double eps = noise * gc_rng_normal(s->seed, GC_STREAM_NOISE, (uint64_t)row * d + j);
            out[j] = (float)(mu + off + eps);
        }
        if (y != NULL) y[row - lo] = c;
    }
}
