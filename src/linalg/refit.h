/* The least-squares refit of OMP (docs/design.md §4): γ = argmin ‖g − E_I γ‖² + λ‖γ‖² through a Cholesky
 * factor L of E_IᵀE_I + λI that grows by one atom at a time (new row wᵀ = (L⁻¹E_Iᵀa)ᵀ, pivot
 * √(aᵀa + λ − wᵀw)). Replicated: every rank holds the whole factor and runs the same arithmetic
 * on the same bits, so all ranks get the same γ and the same decisions without a message.
 * ScaLAPACK: factor block-cyclic over a process grid, for coresets whose k × k factor does not fit
 * one rank. */
#ifndef GC_REFIT_H
#define GC_REFIT_H

#include <mpi.h>
#include <stdint.h>

typedef enum { GC_REFIT_AUTO = 0, GC_REFIT_REPLICATED, GC_REFIT_SCALAPACK } gc_refit_kind;
#define GC_REFIT_NAMES "auto|replicated|scalapack"

/* `auto` distributes the factor above this many atoms (8·k² bytes: 3.2 GB at 20,000). */
#define GC_REFIT_REPLICATED_MAX_ATOMS 20000

/* An atom whose pivot² falls below this fraction of aᵀa + λ lies in the span of the atoms before
 * it (angle < 1e-6 rad): it cannot improve the fit and would make the factor singular. The
 * pivot's own rounding is a few ε·(aᵀa + λ), far below. */
#define GC_REFIT_DEPENDENT     1e-12
/* Replicated refits whose matrices hold at most this many values (OMP: atoms × D; BiCo: q′ × q′)
 * run their BLAS and LAPACK calls on one OpenBLAS thread: on a few hundred kB, waking a 64-core
 * host's threads for every call cost more than the call (gmc at C = 100: 6.75 s of refits), and on
 * one thread a refit's bits do not depend on the host's thread count. */
#define GC_REFIT_SERIAL_VALUES ((int64_t)1 << 18)

typedef struct gc_refit gc_refit;

/* Collective over comm. capacity: most atoms; D: embedding width. keep_gram: also keep E_IᵀE_I + λI
 * (replicated only), for the NNLS refit. */
int gc_refit_create(gc_refit_kind kind, int64_t capacity, int D, double ridge, int keep_gram, MPI_Comm comm,
                    gc_refit **out);
/* Appends atoms m … m+count−1 (m = gc_refit_count()), whose embeddings are atoms[m·D …) after the
 * atoms already in, with rhs[t] = ⟨a_{m+t}, g⟩, for as long as they are independent: *taken atoms
 * go in, and when *taken < count, atom m + *taken depends on the ones before it (see
 * GC_REFIT_DEPENDENT) and the factor ends before it. Collective for ScaLAPACK. */
int gc_refit_append(gc_refit *f, const double *atoms, int64_t count, const double *rhs, int64_t *taken);
/* γ[0..m) on every rank (unconstrained). Collective for ScaLAPACK. */
int gc_refit_solve(gc_refit *f, double *gamma);
int64_t gc_refit_count(const gc_refit *f);
/* ScaLAPACK: each solve is a latency-bound distributed triangular solve, so callers append a whole
 * pass's atoms before solving; the replicated factor solves after every atom. */
int gc_refit_is_distributed(const gc_refit *f);
/* E_IᵀE_I + λI (lower triangle, column-major, leading dimension *ld) and E_Iᵀg, with keep_gram. */
const double *gc_refit_gram(const gc_refit *f, int *ld);
const double *gc_refit_rhs(const gc_refit *f);
void gc_refit_destroy(gc_refit *f);

/* The distributed implementation (refit_scalapack.c), reached through the functions above. */
typedef struct gc_refit_scalapack gc_refit_scalapack;
int gc_refit_scalapack_create(int64_t capacity, double ridge, MPI_Comm comm, gc_refit_scalapack **out);
int gc_refit_scalapack_append(gc_refit_scalapack *s, int64_t m, int64_t count, int D, const double *atoms,
                              int64_t *taken);
int gc_refit_scalapack_solve(gc_refit_scalapack *s, int64_t m, const double *rhs, double *gamma);
void gc_refit_scalapack_destroy(gc_refit_scalapack *s);

#endif
