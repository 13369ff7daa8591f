/* Stand-ins for the CUDA backend in a build without the CUDA toolkit (-DGRADCORE_CUDA=OFF). */
#include "core/error.h"
#include "kernels/backend.h"
#include "kernels/fl_device.h"

int gc_backend_cuda_device_count(void) { return 0; }

int gc_backend_cuda_create(int device_id, gc_backend **out)
{
    (void)device_id;
    *out = NULL;
    return gc_fail(GC_ERR_DEVICE, "--device cuda: this gradcore was built without CUDA");
}

/* Facility location on the GPU (kernels/fl_device.h): never reached without CUDA, since no backend
 * then has a device id, but linked all the same. */
int gc_fl_device_create(int device_id, gc_fl_device **out)
{
    (void)device_id;
    *out = NULL;
    return gc_fail(GC_ERR_DEVICE, "facility location on the GPU: this gradcore was built without CUDA");
}

void gc_fl_device_destroy(gc_fl_device *dev) { (void)dev; }

void gc_fl_device_force_recompute(gc_fl_device *dev, int on)
{
    (void)dev;
    (void)on;
}

int gc_fl_device_greedy(gc_fl_device *dev, const gc_fl_problem *p, int64_t kappa, int64_t *selected, double *gains,
                        double *coverage)
{
    (void)dev;
    return gc_greedy_fl(p, kappa, selected, gains, coverage);
}

int gc_fl_device_last_materialized(const gc_fl_device *dev)
{
    (void)dev;
    return 0;
}

double gc_fl_device_last_bytes(const gc_fl_device *dev)
{
    (void)dev;
    return 0.0;
}
