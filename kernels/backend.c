#include "backend.h"

#include <stdlib.h>

#include "../src/comm.h"
#include "../src/error.h"
#include "../src/log.h"

int gc_embedding_dim(const gc_embed_config *cfg, int d)
{
    if (cfg->kind == GC_EMBED_FEATURES) return d;
    const gc_model *m = &cfg->models[0];
    int classes = gc_model_classes(m), hidden = gc_model_penultimate_width(m);
    switch (cfg->kind) {
    case GC_EMBED_LOGITS:
    case GC_EMBED_ADACORE: return classes;
    case GC_EMBED_LASTLAYER: return cfg->sketch_dim > 0 ? cfg->sketch_dim : classes * (hidden + 1);
    case GC_EMBED_GMC:
        return cfg->model_count * (cfg->sketch_dim > 0 ? cfg->sketch_dim : classes * (hidden + 1));
    default: return d;
    }
}

int gc_backend_create(gc_device_request request, MPI_Comm comm, gc_backend **out)
{
    *out = NULL;
    int status = GC_OK;
    if (request != GC_DEVICE_CPU) {
        /* Ranks of one node share its GPUs round-robin by node-local rank. */
        MPI_Comm node;
        int node_rank = 0;
        MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
        MPI_Comm_rank(node, &node_rank);
        MPI_Comm_free(&node);
        int count = gc_backend_cuda_device_count();
        if (count > 0) status = gc_backend_cuda_create(node_rank % count, out);
        else status = gc_fail(GC_ERR_DEVICE, "--device cuda: no usable GPU on this node");
        if (status != GC_OK && request == GC_DEVICE_AUTO) {
            gc_error_clear();
            status = GC_OK;
        }
    }
    /* Agree before a CPU fallback so every rank reports the same outcome. */
    GC_TRY(gc_comm_agree(comm, status));
    if (*out == NULL) {
        if (request == GC_DEVICE_AUTO) gc_info("device: no usable GPU, using the CPU backend");
        status = gc_backend_cpu_create(out);
    }
    return gc_comm_agree(comm, status);
}

void gc_backend_destroy(gc_backend *b)
{
    if (b != NULL) b->ops->destroy(b);
}
