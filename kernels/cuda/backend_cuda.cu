/* CUDA backend: device selection and context. The embedding kernels land with the embedding
 * engine; until then creating it reports that, and --device auto falls back to the CPU. */
#include <cuda_runtime.h>
#include <mpi.h> /* before the extern "C" block: it brings C++ bindings of its own */

extern "C" {
#include "../../src/error.h"
#include "../backend.h"
}

extern "C" int gc_backend_cuda_device_count(void)
{
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) return 0;
    return count;
}

extern "C" int gc_backend_cuda_create(int device_id, gc_backend **out)
{
    *out = NULL;
    (void)device_id;
    return gc_fail(GC_ERR_DEVICE, "--device cuda: the CUDA embedding kernels are not in this build yet");
}
