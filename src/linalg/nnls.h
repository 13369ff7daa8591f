/* Nonnegative least squares on the normal equations (Lawson & Hanson 1974, ch. 23, in the form of
 * Bro & de Jong 1997): min ½γᵀGγ − bᵀγ subject to γ ≥ 0. With G = EᵀE + λI and b = Eᵀg this is
 * min ‖g − Eγ‖² + λ‖γ‖², γ ≥ 0: GradMatch's weights (docs/design.md §4). Unlike CORDS, which drops atoms
 * whose weight turns negative, every atom stays: an atom the constraint pins at 0 keeps weight 0. */
#ifndef GC_NNLS_H
#define GC_NNLS_H

/* G: m × m symmetric positive definite, column-major with leading dimension ldg; only its lower
 * triangle is read.
 * gamma: on entry a warm start (entries > 0 form the first passive set; others are ignored),
 * on return the solution. Costs one Cholesky factorisation of the passive block per iteration;
 * from a good warm start (the previous OMP step's weights) that is one or two. */
int gc_nnls(int m, const double *G, int ldg, const double *b, double *gamma);

#endif
