/* CPU backend: the MLP forward pass by OpenBLAS sgemm in row batches, softmax and loss in double,
 * then the gradient embedding of the requested kind, every value rounded to the backend's precision
 * (kernels/precision.h; the loss stays float). Reference implementation (oracle) for the CUDA twin
 * in kernels/cuda/, which runs the same steps in the same order batch by batch. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "kernels/backend.h"
#include "kernels/cpu/greedy_fl_cpu.h"
#include "kernels/embed_math.h"
#include "nystrom_cpu.h"

enum { CPU_BATCH_ROWS = 2048 };

/* Scratch of one batch of n ≤ rows rows; h and z of the forward pass, a = p − onehot(y), and the
 * sketched factors u = R1 a, v = R2 [h; 1]. */
typedef struct {
    float *act[2];  /* [rows × widest hidden], ping-pong between layers */
    float *z;       /* [rows × C] logits */
    double *p;      /* [rows × C] softmax */
    float *a;       /* [rows × C] */
    float *u, *v;   /* [rows × D1], [rows × D2] */
    float *r1, *r2; /* per draw: R1 [D1 × C], R2 [D2 × (H+1)] */
} cpu_workspace;

/* h_out [rows × out] = act(h_in [rows × in] · Wᵀ + b); no activation after the last layer. */
static void linear(const gc_model *m, int l, int64_t rows, const float *in, float *out)
{
    int fan_in = m->widths[l], fan_out = m->widths[l + 1];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, fan_out, fan_in, 1.0f, in, fan_in, m->weight[l],
                fan_in, 0.0f, out, fan_out);
    gc_activation act = l == m->layers - 1 ? GC_ACT_IDENTITY : m->activation;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r)
        for (int j = 0; j < fan_out; ++j) out[r * fan_out + j] = gc_activate(act, out[r * fan_out + j] + m->bias[l][j]);
}

/* Forward pass of `rows` rows into ws->z; returns the penultimate activations h [rows × H]
 * (x itself for a single-layer model). */
static const float *forward(const gc_model *m, int64_t rows, const float *x, cpu_workspace *ws)
{
    const float *in = x;
    for (int l = 0; l < m->layers - 1; ++l) {
        linear(m, l, rows, in, ws->act[l % 2]);
        in = ws->act[l % 2];
    }
    linear(m, m->layers - 1, rows, in, ws->z);
    return in;
}

/* Per row: p = softmax(z) and ℓ = −log p_y in double; logits writes e = p − onehot(y), adacore
 * e = (p − onehot(y)) ⊘ (p ⊙ (1 − p) + δ), lastlayer/gmc keep a = p − onehot(y) for the outer
 * product. loss gets the mean of ℓ over the `draws` models (one, except for gmc). p [n × C] is
 * scratch, so each exp is evaluated once (they dominate for C = 1000). */
static void softmax_rows(const gc_embed_config *cfg, int C, int64_t n, const float *z, const int32_t *y, int draw,
                         int draws, float *e, int64_t lde, float *a, float *loss, double *p)
{
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < n; ++r) {
        const float *zr = z + r * C;
        double *pr = p + r * C;
        float zmax = zr[0];
        for (int c = 1; c < C; ++c) zmax = zr[c] > zmax ? zr[c] : zmax;
        double sum = 0.0;
        for (int c = 0; c < C; ++c) sum += pr[c] = exp((double)zr[c] - zmax);
        double ell = log(sum) + zmax - zr[y[r]];
        loss[r] = (draw == 0 ? 0.0f : loss[r]) + (float)(ell / draws);
        for (int c = 0; c < C; ++c) {
            double pc = pr[c] / sum, g = pc - (c == y[r] ? 1.0 : 0.0);
            if (cfg->kind == GC_EMBED_LOGITS)
                e[r * lde + c] = (float)g;
            else if (cfg->kind == GC_EMBED_ADACORE)
                e[r * lde + c] = (float)(g / (pc * (1.0 - pc) + cfg->hessian_damping));
            else
                a[r * C + c] = (float)g;
        }
    }
}

/* e[r, i·wb + j] = a[r, i]·b̃[r, j] with b̃ = [b; 1] (wb = nb + 1) when append_one, else b
 * (wb = nb): the outer product a ⊗ b̃, row-major, i.e. component i·wb + j. */
static void outer_rows(int64_t n, const float *a, int na, const float *b, int nb, int append_one, float *e, int64_t lde)
{
    int wb = nb + (append_one != 0);
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < n; ++r)
        for (int i = 0; i < na; ++i) {
            float ai = a[r * na + i], *out = e + r * lde + (int64_t)i * wb;
            for (int j = 0; j < nb; ++j) out[j] = ai * b[r * nb + j];
            if (append_one) out[nb] = ai;
        }
}

/* The Kronecker sketch of a ⊗ [h; 1] (backend.h): u = a R1ᵀ [n × D1], v = h R2[:, :H]ᵀ + R2[:, H]
 * [n × D2] (the bias column of R2 meets the implicit 1), then e = u ⊗ v. */
/* The GEMMs run on all `rows` rows of the padded block; only rows [off, off + n) are written to e. */
static void sketch_rows(int64_t rows, int64_t off, int64_t n, int C, int H, int D1, int D2, const float *r1,
                        const float *r2, const float *h, cpu_workspace *ws, float *e, int64_t lde)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, D1, C, 1.0f, ws->a, C, r1, C, 0.0f, ws->u, D1);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, D2, H, 1.0f, h, H, r2, H + 1, 0.0f, ws->v, D2);
#pragma omp parallel for schedule(static)
    for (int64_t r = off; r < off + n; ++r)
        for (int q = 0; q < D2; ++q) ws->v[r * D2 + q] += r2[(int64_t)q * (H + 1) + H];
    outer_rows(n, ws->u + off * D1, D1, ws->v + off * D2, D2, 0, e, lde);
}

static void workspace_free(cpu_workspace *ws)
{
    free(ws->act[0]);
    free(ws->act[1]);
    free(ws->z);
    free(ws->p);
    free(ws->a);
    free(ws->u);
    free(ws->v);
    free(ws->r1);
    free(ws->r2);
}

/* Buffers for batches of `rows` rows and the sketch factors of every draw. */
static int workspace_create(cpu_workspace *ws, const gc_embed_config *cfg, int64_t rows, int draws, int D1, int D2)
{
    const gc_model *m = &cfg->models[0];
    int C = gc_model_classes(m), H = gc_model_penultimate_width(m), widest = 1;
    for (int l = 1; l < m->layers; ++l) widest = m->widths[l] > widest ? m->widths[l] : widest;
    memset(ws, 0, sizeof *ws);
    ws->act[0] = gc_malloc((size_t)rows * widest * sizeof(float));
    ws->act[1] = gc_malloc((size_t)rows * widest * sizeof(float));
    ws->z = gc_malloc((size_t)rows * C * sizeof(float));
    ws->p = gc_malloc((size_t)rows * C * sizeof(double));
    ws->a = gc_malloc((size_t)rows * C * sizeof(float));
    ws->u = gc_malloc((size_t)rows * (D1 > 0 ? D1 : 1) * sizeof(float));
    ws->v = gc_malloc((size_t)rows * (D2 > 0 ? D2 : 1) * sizeof(float));
    ws->r1 = gc_malloc((size_t)draws * (D1 > 0 ? D1 : 1) * C * sizeof(float));
    ws->r2 = gc_malloc((size_t)draws * (D2 > 0 ? D2 : 1) * (H + 1) * sizeof(float));
    if (!ws->act[0] || !ws->act[1] || !ws->z || !ws->p || !ws->a || !ws->u || !ws->v || !ws->r1 || !ws->r2) {
        workspace_free(ws);
        return gc_fail(GC_ERR_MEMORY, "out of memory for the embedding workspace (%lld rows)", (long long)rows);
    }
    if (D1 > 0) {
        float s1 = (float)(1.0 / sqrt((double)D1)), s2 = (float)(1.0 / sqrt((double)D2));
        for (int s = 0; s < draws; ++s) {
            for (int64_t i = 0; i < (int64_t)D1 * C; ++i)
                ws->r1[(int64_t)s * D1 * C + i] = gc_sketch_entry(cfg->seed, s, 0, (uint64_t)i, s1);
            for (int64_t i = 0; i < (int64_t)D2 * (H + 1); ++i)
                ws->r2[(int64_t)s * D2 * (H + 1) + i] = gc_sketch_entry(cfg->seed, s, 1, (uint64_t)i, s2);
        }
    }
    return GC_OK;
}

static int cpu_embed(gc_backend *b, const gc_embed_config *cfg, int64_t rows, int d, const float *x, const int32_t *y,
                     float *e, float *loss)
{
    GC_TRY(gc_embed_check(cfg, rows, d, y));
    if (cfg->e_stored != NULL || e == NULL)
        return gc_fail(GC_ERR_USAGE, "embed: the CPU backend keeps E only in the caller's float array");
    const int D = gc_embedding_dim(cfg, d);
    if (cfg->kind == GC_EMBED_FEATURES) {
        for (int64_t r = 0; r < rows; ++r) loss[r] = 0.0f;
        return rows > 0 ? gc_embed_input(cfg, x, d, 0, rows, b->precision, e) : GC_OK;
    }
    const gc_model *m0 = &cfg->models[0];
    const int C = gc_model_classes(m0), H = gc_model_penultimate_width(m0);
    const int draws = cfg->kind == GC_EMBED_GMC ? cfg->model_count : 1;
    const int block = cfg->sketch_dim > 0 ? cfg->sketch_dim : C * (H + 1); /* lastlayer width per draw */
    int D1 = 0, D2 = 0;
    if (cfg->sketch_dim > 0) gc_sketch_factors(cfg->sketch_dim, C, H + 1, &D1, &D2);
    const int64_t batch = b->batch_rows > 0 ? b->batch_rows : CPU_BATCH_ROWS;
    cpu_workspace ws;
    GC_TRY(workspace_create(&ws, cfg, batch, draws, D1, D2));
    float *xb = gc_malloc((size_t)batch * d * sizeof *xb);
    if (xb == NULL) {
        workspace_free(&ws);
        return gc_fail(GC_ERR_MEMORY, "out of memory for the embedding workspace");
    }
    /* Blocks [b·batch, (b+1)·batch) of the global index, each padded with zero rows to the full
     * height: OpenBLAS's result for a row depends on the GEMM's height and the row's place in it,
     * and both are now the same whichever rank holds the row. */
    int status = GC_OK;
    for (int64_t lo = 0; lo < rows && status == GC_OK;) {
        int64_t off = (cfg->first_row + lo) % batch, n = rows - lo < batch - off ? rows - lo : batch - off;
        memset(xb, 0, (size_t)batch * d * sizeof *xb);
        status = gc_embed_input(cfg, x, d, lo, n, GC_PRECISION_FP32, xb + off * d);
        if (status != GC_OK) break;
        memset(ws.a, 0, (size_t)batch * C * sizeof *ws.a);
        for (int s = 0; s < draws; ++s) {
            const float *h = forward(&cfg->models[s], batch, xb, &ws);
            float *eb = e + lo * D + (int64_t)s * block;
            softmax_rows(cfg, C, n, ws.z + off * C, y + lo, s, draws, eb, D, ws.a + off * C, loss + lo, ws.p);
            if (cfg->kind != GC_EMBED_LASTLAYER && cfg->kind != GC_EMBED_GMC) continue;
            if (D1 == 0)
                outer_rows(n, ws.a + off * C, C, h + off * H, H, 1, eb, D);
            else
                sketch_rows(batch, off, n, C, H, D1, D2, ws.r1 + (int64_t)s * D1 * C, ws.r2 + (int64_t)s * D2 * (H + 1),
                            h, &ws, eb, D);
        }
        /* The block's E at the backend's precision: what the device's narrowing stores write. */
        gc_round_array(b->precision, e + lo * D, n * D);
        lo += n;
    }
    free(xb);
    workspace_free(&ws);
    return status;
}

static void cpu_destroy(gc_backend *b) { free(b); }

static int cpu_fl_greedy(gc_backend *b, const gc_fl_problem *p, int64_t kappa, int64_t *selected, double *gains,
                         double *coverage)
{
    (void)b;
    return gc_fl_greedy_cpu(p, kappa, selected, gains, coverage);
}

static const gc_backend_ops cpu_ops = { .name = "cpu",
                                        .embed = cpu_embed,
                                        .destroy = cpu_destroy,
                                        .fl_greedy = cpu_fl_greedy,
                                        .nystrom_attach = gc_cpu_nystrom_attach,
                                        .nystrom_features = gc_cpu_nystrom_features_op,
                                        .nystrom_detach = gc_cpu_nystrom_detach };

int gc_backend_cpu_create(gc_backend **out)
{
    gc_backend *b = gc_calloc(1, sizeof *b);
    GC_CHECK_ALLOC(b);
    b->ops = &cpu_ops;
    b->device_id = -1;
    b->row_reserve = 64;
    snprintf(b->description, sizeof b->description, "cpu");
    *out = b;
    return GC_OK;
}
