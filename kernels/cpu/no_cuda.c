/* Stand-ins for the CUDA backend in a build without the CUDA toolkit (-DGRADCORE_CUDA=OFF). */
#include "core/error.h"
#include "kernels/backend.h"

int gc_backend_cuda_device_count(void) { return 0; }

int gc_backend_cuda_create(int device_id, gc_backend **out)
{
    (void)device_id;
    *out = NULL;
    return gc_fail(GC_ERR_DEVICE, "--device cuda: this gradcore was built without CUDA");
}

int gc_backend_cuda_start(int local_rank)
{
    (void)local_rank;
    return -1;
}

void gc_backend_cuda_stop(int ordinal) { (void)ordinal; }
