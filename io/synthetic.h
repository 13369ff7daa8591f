/* The synthetic dataset "synthetic:n=…,d=…,classes=…,seed=…[,imbalance=…,modes=…,duplicates=…]":
 * a Gaussian mixture (several modes per class), class sizes skewed by `imbalance` (largest over
 * smallest class probability) and a fraction `duplicates` of rows that are near-copies of their
 * mode's centre. Every row is a pure function of its global index and the seed, so any rank count
 * sees the same data without touching disk (used for scaling studies). */
#ifndef GC_SYNTHETIC_H
#define GC_SYNTHETIC_H

#include <stdint.h>

typedef struct {
    int64_t n;
    int d;
    int classes;
    uint64_t seed;
    double imbalance;  /* >= 1; 1 = balanced */
    int modes;         /* mixture components per class */
    double duplicates; /* fraction of rows that are near-duplicates of a mode centre */
} gc_synthetic;

/* Parses the text after "synthetic:"; a usage error names the bad key. */
int gc_synthetic_parse(const char *spec, gc_synthetic *out);
int32_t gc_synthetic_label(const gc_synthetic *s, int64_t row);
/* Rows [lo, hi): x is [(hi-lo) × d] row-major; either may be NULL (labels alone cost nothing). */
void gc_synthetic_rows(const gc_synthetic *s, int64_t lo, int64_t hi, float *x, int32_t *y);

#endif
