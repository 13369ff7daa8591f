/* Multinomial logistic regression trained by weighted incremental gradient, the model gradcore
 * eval uses to judge a coreset (docs/design.md §5). CRAIG (§3) applies IG to a coreset with per-element
 * step sizes: element j's step is α·γⱼ, so one pass over k elements whose weights sum to N moves
 * the model about as far as one pass over all N rows, and every arm can share one learning-rate
 * schedule. Data are row-major float [n × d], labels in [0, classes); the products run in
 * OpenBLAS (level 2 per step, level 3 for the accuracy). */
#ifndef GC_LOGREG_H
#define GC_LOGREG_H

#include <stdint.h>

typedef struct {
    int d, classes;
    float *W;       /* [classes × d] */
    float *b;       /* [classes] */
    float *scratch; /* [classes]: logits, then the gradient with respect to them */
} gc_logreg;

/* Starts at W = 0, b = 0 (the objective is convex, so no random start is needed). */
int gc_logreg_create(gc_logreg *m, int d, int classes);
void gc_logreg_reset(gc_logreg *m);
void gc_logreg_destroy(gc_logreg *m);

/* One pass in the order given: for t = 0 … count−1, with x = X[rows[t]], p = softmax(Wx + b),
 * g = p − onehot(y), s = step·weight[t] (weight NULL: all 1):
 *     W ← (1 − s·l2)·W − s·g·xᵀ,   b ← b − s·g.
 * That is the gradient step on fᵢ = ℓᵢ + (l2/2)‖W‖², so Σᵢ γᵢ fᵢ carries the same regulariser
 * weight (Σγ = N) on the coreset, on a random subset with weight N/k and on the full data. */
void gc_logreg_sgd_pass(gc_logreg *m, const float *X, const int32_t *y, const int64_t *rows, const double *weight,
                        int64_t count, double step, double l2);

/* 1 when every parameter is finite (a too large --lr overflows them). */
int gc_logreg_is_finite(const gc_logreg *m);

/* Fraction of the n rows whose largest logit (ties → lower class) is their label. */
int gc_logreg_accuracy(const gc_logreg *m, const float *X, const int32_t *y, int64_t n, double *accuracy);

#endif
