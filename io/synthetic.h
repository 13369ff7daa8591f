/* The synthetic dataset "synthetic:n=…,d=…,classes=…,seed=…[,imbalance=…,modes=…,duplicates=…]":
 * a Gaussian mixture (several modes per class), class sizes skewed by `imbalance` (largest over
 * smallest class probability) and a fraction `duplicates` of rows that are near-copies of their
 * mode's centre. Every row is a pure function of its global index and the seed, so any rank count
 * sees the same data without touching disk (used for scaling studies).
 *
 * Where rows are made (docs/design.md §2.7): gc_synthetic_rows on the host (the oracle, `gen`, the
 * CPU backend), and the CUDA twin (kernels/cuda/synthetic_cuda.cu) in device memory, where the
 * embedding engine uses them. Both evaluate the per-row functions below (GC_HD), built from
 * core/portable_math.h, on constants the host computes once (gc_synthetic_constants_of), so
 * they give the same bits. */
#ifndef GC_SYNTHETIC_H
#define GC_SYNTHETIC_H

#include <stdint.h>

#include "core/rng.h"

typedef struct {
    int64_t n;
    int d;
    int classes;
    uint64_t seed;
    double imbalance;  /* >= 1; 1 = balanced */
    int modes;         /* mixture components per class */
    double duplicates; /* fraction of rows that are near-duplicates of a mode centre */
} gc_synthetic;

/* What every row needs, computed once on the host. The label law's constants come from libm
 * there and travel as values, so the per-row work alone must be portable. */
typedef struct {
    uint64_t seed;
    int d, classes, modes;
    double duplicates;
    int balanced;     /* labels uniform over the classes (C = 1, or imbalance ≈ 1) */
    double tail;      /* 1 − ratio^C, ratio = imbalance^(−1/(C−1)) */
    double log_ratio; /* log(ratio) < 0 */
} gc_synthetic_constants;

/* What a row's values need besides the index: its class, mixture component and noise scale. */
typedef struct {
    int32_t label;
    uint64_t component; /* label·modes + mode */
    double noise;       /* standard deviation around the component's centre */
} gc_synthetic_row;

/* Centre tables (components × d doubles) beyond this many entries (128 MiB) are not made: the
 * centres are then computed per value, the same bits. */
#define GC_SYNTHETIC_TABLE_MAX ((uint64_t)1 << 24)

#ifdef __cplusplus
extern "C" {
#endif

/* Parses the text after "synthetic:"; a usage error names the bad key. */
int gc_synthetic_parse(const char *spec, gc_synthetic *out);
/* The constants of s's rows (on the host: the label law's come from libm). */
gc_synthetic_constants gc_synthetic_constants_of(const gc_synthetic *s);
/* Rows [lo, hi): x is [(hi-lo) × d] row-major; either may be NULL (labels alone cost nothing). */
void gc_synthetic_rows(const gc_synthetic *s, int64_t lo, int64_t hi, float *x, int32_t *y);

#ifdef __cplusplus
}
#endif

/* Class c has probability proportional to ratio^c; the label is the inverse CDF of a uniform draw.
 * CDF(c) = (1 − ratio^(c+1)) / (1 − ratio^C), so c = ⌈log(1 − u·tail) / log ratio⌉ − 1, clamped
 * to [0, C): no table. */
GC_HD int32_t gc_synthetic_label(const gc_synthetic_constants *k, int64_t row)
{
    if (k->classes == 1) return 0;
    const double u = gc_rng_uniform(k->seed, GC_STREAM_LABEL, (uint64_t)row);
    double c;
    if (k->balanced)
        c = floor(gc_mul_rn(u, (double)k->classes));
    else
        c = ceil(gc_div_rn(gc_portable_log(gc_sub_rn(1.0, gc_mul_rn(u, k->tail))), k->log_ratio)) - 1.0;
    if (c < 0.0) c = 0.0;
    if (c > k->classes - 1) c = k->classes - 1;
    return (int32_t)c;
}

/* Rows ~ N(mode centre, 0.5²): classes overlap a little, modes are visible clusters, a fraction
 * `duplicates` of rows sits 1e-3 from its mode's centre. */
GC_HD gc_synthetic_row gc_synthetic_row_of(const gc_synthetic_constants *k, int64_t row)
{
    gc_synthetic_row r;
    r.label = gc_synthetic_label(k, row);
    const uint64_t modes = (uint64_t)k->modes;
    uint64_t mode = (uint64_t)gc_mul_rn(gc_rng_uniform(k->seed, GC_STREAM_MODE, (uint64_t)row), (double)modes);
    if (mode >= modes) mode = modes - 1; /* the uniform draw rounds to 1.0 once in 2^53 */
    r.component = (uint64_t)r.label * modes + mode;
    r.noise = gc_rng_uniform(k->seed, GC_STREAM_DUPLICATE, (uint64_t)row) < k->duplicates ? 1e-3 : 0.5;
    return r;
}

/* Coordinate j of component `component`'s centre: its class mean ~ N(0, 2²) plus the mode's
 * offset ~ N(0, 1). Tabulated or not, the same bits. */
GC_HD double gc_synthetic_centre(const gc_synthetic_constants *k, uint64_t component, int j)
{
    const double class_scale = 2.0, mode_scale = 1.0;
    const uint64_t c = component / (uint64_t)k->modes, d = (uint64_t)k->d;
    return gc_add_rn(gc_mul_rn(class_scale, gc_rng_normal(k->seed, GC_STREAM_CLASS_MEAN, c * d + (uint64_t)j)),
                     gc_mul_rn(mode_scale, gc_rng_normal(k->seed, GC_STREAM_MODE_OFFSET, component * d + (uint64_t)j)));
}

/* x[row, j] of a row whose centre coordinate j is `centre`. */
GC_HD float gc_synthetic_value(const gc_synthetic_constants *k, const gc_synthetic_row *r, double centre, int64_t row,
                               int j)
{
    const uint64_t counter = (uint64_t)row * (uint64_t)k->d + (uint64_t)j;
    return (float)gc_add_rn(centre, gc_mul_rn(r->noise, gc_rng_normal(k->seed, GC_STREAM_NOISE, counter)));
}

#endif
