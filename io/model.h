/* The MLP proxy model: /layers/<i>/W float32 [out, in], /layers/<i>/b [out], root attribute
 * `activation` (relu|tanh|gelu|identity) between layers; the last layer produces the logits.
 * Without a file, models are drawn from PyTorch's default Linear initialisation,
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for W and b, from the seed ("gradients at initialisation"). */
#ifndef GC_MODEL_H
#define GC_MODEL_H

#include <mpi.h>
#include <stdint.h>

typedef enum { GC_ACT_RELU = 0, GC_ACT_TANH, GC_ACT_GELU, GC_ACT_IDENTITY } gc_activation;

typedef struct {
    int layers;     /* number of Linear layers (>= 1) */
    int *widths;    /* [layers + 1]: input width, hidden widths, number of logits */
    float **weight; /* [layers], each [widths[l+1] × widths[l]] row-major */
    float **bias;   /* [layers], each [widths[l+1]] */
    gc_activation activation;
} gc_model;

/* Collective: rank 0 reads and checks that widths chain, then broadcasts. */
int gc_model_read(gc_model *m, const char *path, MPI_Comm comm);
/* Draw number `draw` of an MLP in -> hidden[0..n_hidden) -> classes with ReLU. */
int gc_model_init_draw(gc_model *m, int in, const int *hidden, int n_hidden, int classes, uint64_t seed, int draw);
void gc_model_destroy(gc_model *m);
int gc_model_penultimate_width(const gc_model *m);
int gc_model_classes(const gc_model *m);

#endif
