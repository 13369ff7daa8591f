/* CPU backend: the MLP forward pass by OpenBLAS sgemm in row batches, softmax and loss in double,
 * then the gradient embedding of the requested kind. Reference implementation for the CUDA twin. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/error.h"
#include "../backend.h"

enum { CPU_BATCH_ROWS = 2048 };

static float activate(gc_activation act, float v)
{
    switch (act) {
    case GC_ACT_RELU: return v > 0.0f ? v : 0.0f;
    case GC_ACT_TANH: return tanhf(v);
    case GC_ACT_GELU: return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f)); /* exact GELU */
    default: return v;
    }
}

/* h_out [rows × out] = act(h_in [rows × in] · Wᵀ + b); no activation after the last layer. */
static void linear(const gc_model *m, int l, int64_t rows, const float *in, float *out)
{
    int fan_in = m->widths[l], fan_out = m->widths[l + 1];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, fan_out, fan_in, 1.0f, in,
                fan_in, m->weight[l], fan_in, 0.0f, out, fan_out);
    int last = l == m->layers - 1;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r)
        for (int j = 0; j < fan_out; ++j) {
            float v = out[r * fan_out + j] + m->bias[l][j];
            out[r * fan_out + j] = last ? v : activate(m->activation, v);
        }
}

/* Forward pass of `rows` rows: penultimate activations h [rows × H] and logits z [rows × C]. */
static int forward(const gc_model *m, int64_t rows, const float *x, float *h, float *z)
{
    int widest = 0;
    for (int l = 0; l <= m->layers; ++l) widest = m->widths[l] > widest ? m->widths[l] : widest;
    float *a = malloc((size_t)rows * widest * sizeof *a), *b = malloc((size_t)rows * widest * sizeof *b);
    if (a == NULL || b == NULL) {
        free(a);
        free(b);
        return gc_fail(GC_ERR_MEMORY, "out of memory in the forward pass");
    }
    const float *in = x;
    for (int l = 0; l < m->layers - 1; ++l) {
        float *out = (l % 2 == 0) ? a : b;
        linear(m, l, rows, in, out);
        in = out;
    }
    memcpy(h, in, (size_t)rows * m->widths[m->layers - 1] * sizeof *h);
    linear(m, m->layers - 1, rows, in, z);
    free(a);
    free(b);
    return GC_OK;
}

/* Row r: p = softmax(z) in double, loss = -log p_y, e from p. */
static void embed_row(const gc_embed_config *cfg, const gc_model *m, const float *z, const float *h,
                      int32_t y, float *e, float *loss, double *p)
{
    int C = gc_model_classes(m), H = gc_model_penultimate_width(m);
    double zmax = z[0], sum = 0.0;
    for (int c = 1; c < C; ++c) zmax = z[c] > zmax ? z[c] : zmax;
    for (int c = 0; c < C; ++c) sum += exp((double)z[c] - zmax);
    for (int c = 0; c < C; ++c) p[c] = exp((double)z[c] - zmax) / sum;
    *loss = (float)(log(sum) + zmax - z[y]);
    for (int c = 0; c < C; ++c) {
        double g = p[c] - (c == y ? 1.0 : 0.0);
        switch (cfg->kind) {
        case GC_EMBED_LOGITS: e[c] = (float)g; break;
        case GC_EMBED_ADACORE: e[c] = (float)(g / (p[c] * (1.0 - p[c]) + cfg->hessian_damping)); break;
        default: /* lastlayer: gradient of W_L (row c) and b_L (column H) */
            for (int j = 0; j < H; ++j) e[c * (H + 1) + j] = (float)(g * h[j]);
            e[c * (H + 1) + H] = (float)g;
        }
    }
}

static int cpu_embed(gc_backend *b, const gc_embed_config *cfg, int64_t rows, int d, const float *x,
                     const int32_t *y, float *e, float *loss)
{
    (void)b;
    const int D = gc_embedding_dim(cfg, d);
    if (cfg->kind == GC_EMBED_FEATURES) {
        memcpy(e, x, (size_t)rows * d * sizeof *e);
        for (int64_t r = 0; r < rows; ++r) loss[r] = 0.0f;
        return GC_OK;
    }
    if (cfg->sketch_dim > 0 || cfg->kind == GC_EMBED_GMC)
        return gc_fail(GC_ERR_USAGE, "the sketched embeddings (--sketch, gmc) are not in this build yet");
    const gc_model *m = &cfg->models[0];
    if (m->widths[0] != d)
        return gc_fail(GC_ERR_INPUT, "the model takes %d inputs but /X has %d columns", m->widths[0], d);
    int C = gc_model_classes(m), H = gc_model_penultimate_width(m);
    float *h = malloc((size_t)CPU_BATCH_ROWS * H * sizeof *h), *z = malloc((size_t)CPU_BATCH_ROWS * C * sizeof *z);
    int status = (h && z) ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory in the embedding");
    for (int64_t lo = 0; lo < rows && status == GC_OK; lo += CPU_BATCH_ROWS) {
        int64_t n = rows - lo < CPU_BATCH_ROWS ? rows - lo : CPU_BATCH_ROWS;
        status = forward(m, n, x + lo * d, h, z);
        if (status != GC_OK) break;
        for (int64_t r = 0; r < n && status == GC_OK; ++r)
            if (y[lo + r] < 0 || y[lo + r] >= C)
                status = gc_fail(GC_ERR_INPUT, "label %d is outside the model's %d classes", y[lo + r], C);
        if (status != GC_OK) break;
#pragma omp parallel
        {
            double *p = malloc((size_t)C * sizeof *p);
#pragma omp for schedule(static)
            for (int64_t r = 0; r < n; ++r)
                embed_row(cfg, m, z + r * C, h + r * H, y[lo + r], e + (lo + r) * D, loss + lo + r, p);
            free(p);
        }
    }
    free(h);
    free(z);
    return status;
}

static void cpu_destroy(gc_backend *b) { free(b); }

static const gc_backend_ops cpu_ops = {.name = "cpu", .embed = cpu_embed, .destroy = cpu_destroy};

int gc_backend_cpu_create(gc_backend **out)
{
    gc_backend *b = calloc(1, sizeof *b);
    GC_CHECK_ALLOC(b);
    b->ops = &cpu_ops;
    b->device_id = -1;
    snprintf(b->description, sizeof b->description, "cpu");
    *out = b;
    return GC_OK;
}
