/* The CUDA backend's ceilings op (kernels/backend.h, kernels/ceilings.h). */
#ifndef GC_CEILINGS_CUDA_H
#define GC_CEILINGS_CUDA_H

#ifdef __cplusplus
extern "C" {
#endif

#include "kernels/backend.h"

int gc_cuda_ceilings(gc_backend *b, gc_ceilings *c);

#ifdef __cplusplus
}
#endif

#endif
