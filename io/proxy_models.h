/* The proxy models a run embeds with (docs/design.md §2), shared by `select` and `stream`: the model of
 * --model FILE (checked against the data's width and classes), or --init-draws S models of widths
 * --hidden drawn from the seed (GMC's "gradients at initialisation"). */
#ifndef GC_PROXY_MODELS_H
#define GC_PROXY_MODELS_H

#include <mpi.h>
#include <stdint.h>

#include "core/options.h"
#include "model.h"

/* Collective. *models (allocated here, *count of them) belongs to the caller, even on failure:
 * destroy each with gc_model_destroy and free the array. */
int gc_proxy_models_load(const gc_options *o, int d, int classes, uint64_t seed, MPI_Comm comm, gc_model **models,
                         int *count);

#endif
