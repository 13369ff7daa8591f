/* Exact global weights for a facility-location coreset: every rank assigns each of its rows to the
 * most similar selected element of its class (of any class when its class has none; ties to the
 * lowest global index); counts are summed with MPI_Allreduce, and F(S), L(S) come from the same pass. */
#ifndef GC_WEIGHTS_H
#define GC_WEIGHTS_H

#include "io/coreset.h"
#include "kernels/backend.h"

/* Collective. One pass over the rank's rows through the backend's fl_assign (on its GPU when it has
 * one, else the CPU twin), grouped by label there. Writes cs->weight, cs->objective and
 * cs->total_distance, and *pairs = the (row, element) pairs this rank compared: the phase's floor
 * counts one FP32 product of each pair's D values (docs/design.md §4.1). */
int gc_assign_weights(gc_backend *backend, const gc_local_rows *rows, int per_class, gc_coreset *cs, double *pairs);

#endif
