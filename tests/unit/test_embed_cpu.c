/* CPU embeddings against their closed forms (docs/design.md §3), evaluated here in double from the model's
 * weights: e = x, p − onehot(y), (p − onehot(y)) ⊘ (p(1−p) + δ), (p − onehot(y)) ⊗ [h; 1], and the
 * Kronecker sketch checked against the materialised matrix R1 ⊗ R2 built here from the RNG. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "core/rng.h"
#include "kernels/backend.h"

enum { ROWS = 30, D_IN = 5, MAX_E = 4096 };

/* |got − ref| ≤ rel · max_j |ref_j| over one row: relative to the row's scale, so components that
 * cancel to near zero are judged against the row, not against themselves. */
static int rows_match(const float *got, const double *ref, int n, double rel)
{
    double scale = 1e-30, worst = 0.0;
    for (int j = 0; j < n; ++j) scale = fmax(scale, fabs(ref[j]));
    for (int j = 0; j < n; ++j) worst = fmax(worst, fabs(got[j] - ref[j]));
    if (worst > rel * scale) fprintf(stderr, "  row differs: max |diff| %.3g, row scale %.3g\n", worst, scale);
    return worst <= rel * scale;
}

static void random_model(gc_model *m, int layers, const int *widths, gc_activation act, uint64_t seed)
{
    m->layers = layers;
    m->activation = act;
    m->widths = malloc((size_t)(layers + 1) * sizeof *m->widths);
    m->weight = malloc((size_t)layers * sizeof *m->weight);
    m->bias = malloc((size_t)layers * sizeof *m->bias);
    memcpy(m->widths, widths, (size_t)(layers + 1) * sizeof *widths);
    uint64_t k = 0;
    for (int l = 0; l < layers; ++l) {
        m->weight[l] = malloc((size_t)widths[l + 1] * widths[l] * sizeof(float));
        m->bias[l] = malloc((size_t)widths[l + 1] * sizeof(float));
        for (int i = 0; i < widths[l + 1] * widths[l]; ++i)
            m->weight[l][i] = (float)(2.0 * gc_rng_uniform(seed, 99, k++) - 1.0);
        for (int i = 0; i < widths[l + 1]; ++i) m->bias[l][i] = (float)(gc_rng_uniform(seed, 99, k++) - 0.5);
    }
}

static double act_ref(gc_activation a, double v)
{
    if (a == GC_ACT_RELU) return v > 0 ? v : 0;
    if (a == GC_ACT_TANH) return tanh(v);
    if (a == GC_ACT_GELU) return 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
    return v;
}

/* Forward pass of one row in double: h [H] (penultimate), p [C] = softmax(z), returns −log p_y. */
static double forward_ref(const gc_model *m, const float *x, int y, double *h, double *p)
{
    double cur[64], next[64];
    for (int j = 0; j < m->widths[0]; ++j) cur[j] = x[j];
    for (int l = 0; l < m->layers; ++l) {
        for (int o = 0; o < m->widths[l + 1]; ++o) {
            double v = m->bias[l][o];
            for (int i = 0; i < m->widths[l]; ++i) v += (double)m->weight[l][o * m->widths[l] + i] * cur[i];
            next[o] = l == m->layers - 1 ? v : act_ref(m->activation, v);
        }
        if (l == m->layers - 1) break;
        memcpy(cur, next, sizeof cur);
    }
    int C = m->widths[m->layers], H = m->widths[m->layers - 1];
    memcpy(h, cur, (size_t)H * sizeof *h);
    double zmax = next[0], sum = 0;
    for (int c = 1; c < C; ++c) zmax = fmax(zmax, next[c]);
    for (int c = 0; c < C; ++c) sum += exp(next[c] - zmax);
    for (int c = 0; c < C; ++c) p[c] = exp(next[c] - zmax) / sum;
    return -log(p[y]);
}

/* The unsketched last-layer gradient g[c·(H+1) + j] = (p_c − y_c)·[h; 1]_j. */
static int lastlayer_ref(const gc_model *m, const float *x, int y, double *g, double *loss)
{
    double h[64], p[64];
    *loss = forward_ref(m, x, y, h, p);
    int C = m->widths[m->layers], H = m->widths[m->layers - 1];
    for (int c = 0; c < C; ++c)
        for (int j = 0; j <= H; ++j) g[c * (H + 1) + j] = (p[c] - (c == y)) * (j < H ? h[j] : 1.0);
    return C * (H + 1);
}

/* R1 ⊗ R2 applied to g by materialising the D × C(H+1) matrix: entry (p·D2 + q, c·(H+1) + j) =
 * R1[p][c]·R2[q][j], with R signs from gc_rng_u64 (stream GC_STREAM_SKETCH, counter
 * draw << 40 | factor << 39 | index) and scales 1/sqrt(D1), 1/sqrt(D2), as documented. */
static void sketch_ref(uint64_t seed, int draw, int D1, int D2, int C, int B, const double *g, double *out)
{
    static double K[MAX_E][64];
    for (int p = 0; p < D1; ++p)
        for (int q = 0; q < D2; ++q)
            for (int c = 0; c < C; ++c)
                for (int j = 0; j < B; ++j) {
                    uint64_t c1 = ((uint64_t)draw << 40) | (uint64_t)(p * C + c);
                    uint64_t c2 = ((uint64_t)draw << 40) | (1ULL << 39) | (uint64_t)(q * B + j);
                    double r1 = (gc_rng_u64(seed, GC_STREAM_SKETCH, c1) >> 63) ? -1.0 : 1.0;
                    double r2 = (gc_rng_u64(seed, GC_STREAM_SKETCH, c2) >> 63) ? -1.0 : 1.0;
                    K[p * D2 + q][c * B + j] = r1 * r2 / sqrt((double)D1 * D2);
                }
    for (int i = 0; i < D1 * D2; ++i) {
        out[i] = 0;
        for (int k = 0; k < C * B; ++k) out[i] += K[i][k] * g[k];
    }
}

static void make_rows(float *x, int32_t *y, int C, uint64_t seed)
{
    for (int i = 0; i < ROWS * D_IN; ++i) x[i] = (float)(4.0 * gc_rng_uniform(seed, 98, (uint64_t)i) - 2.0);
    for (int r = 0; r < ROWS; ++r) y[r] = r % C;
}

static gc_backend *cpu_backend(int64_t batch_rows)
{
    gc_backend *b = NULL;
    CHECK(gc_backend_cpu_create(&b) == GC_OK);
    b->batch_rows = batch_rows; /* several batches and a partial last one */
    return b;
}

static int embed(gc_backend *b, const gc_embed_config *cfg, const float *x, const int32_t *y, float *e, float *loss)
{
    for (int i = 0; i < ROWS * MAX_E; ++i) e[i] = NAN; /* poison: every output must be written */
    return b->ops->embed(b, cfg, ROWS, D_IN, x, y, e, loss);
}

static void features_are_the_inputs(void)
{
    gc_backend *b = cpu_backend(7);
    float x[ROWS * D_IN], *e = malloc(ROWS * MAX_E * sizeof *e), loss[ROWS];
    int32_t y[ROWS];
    make_rows(x, y, 3, 1);
    gc_embed_config cfg = { .kind = GC_EMBED_FEATURES, .hessian_damping = 1e-3 };
    CHECK(gc_embedding_dim(&cfg, D_IN) == D_IN);
    CHECK(embed(b, &cfg, x, y, e, loss) == GC_OK);
    CHECK(memcmp(e, x, sizeof x) == 0);
    free(e);
    gc_backend_destroy(b);
}

static void logits_adacore_and_lastlayer_match_closed_forms(gc_activation act, int layers)
{
    static const int widths2[] = { D_IN, 6, 4, 3 }, widths1[] = { D_IN, 3 };
    const int *widths = layers == 3 ? widths2 : widths1;
    gc_model m;
    random_model(&m, layers, widths, act, 7 + (uint64_t)act);
    const int C = 3, H = widths[layers - 1];
    gc_backend *b = cpu_backend(7);
    float x[ROWS * D_IN], *e = malloc(ROWS * MAX_E * sizeof *e), loss[ROWS];
    int32_t y[ROWS];
    make_rows(x, y, C, 2 + (uint64_t)act);
    const double delta = 1e-3;
    for (int kind = GC_EMBED_LOGITS; kind <= GC_EMBED_ADACORE; ++kind) {
        gc_embed_config cfg = {
            .kind = (gc_embedding_kind)kind, .hessian_damping = delta, .models = &m, .model_count = 1
        };
        int D = gc_embedding_dim(&cfg, D_IN);
        CHECK(D == (kind == GC_EMBED_LASTLAYER ? C * (H + 1) : C));
        CHECK(embed(b, &cfg, x, y, e, loss) == GC_OK);
        for (int r = 0; r < ROWS; ++r) {
            double h[64], p[64], ref[MAX_E];
            double ell = forward_ref(&m, x + r * D_IN, y[r], h, p);
            for (int c = 0; c < C; ++c) {
                double g = p[c] - (c == y[r]);
                if (kind == GC_EMBED_LOGITS) ref[c] = g;
                if (kind == GC_EMBED_ADACORE) ref[c] = g / (p[c] * (1 - p[c]) + delta);
                for (int j = 0; kind == GC_EMBED_LASTLAYER && j <= H; ++j)
                    ref[c * (H + 1) + j] = g * (j < H ? h[j] : 1.0);
            }
            CHECK(rows_match(e + (size_t)r * D, ref, D, 1e-6));
            CHECK_NEAR(loss[r], ell, 1e-6);
        }
    }
    free(e);
    gc_backend_destroy(b);
    gc_model_destroy(&m);
}

static void sketch_factors_follow_the_documented_rule(void)
{
    int D1, D2;
    gc_sketch_factors(64, 3, 5, &D1, &D2); /* sqrt(64·3/5) = 6.2: 8 is nearer than 4 in log */
    CHECK(D1 == 8 && D2 == 8);
    gc_sketch_factors(12, 3, 5, &D1, &D2); /* sqrt(7.2) = 2.7 → 3 */
    CHECK(D1 == 3 && D2 == 4);
    gc_sketch_factors(256, 10, 257, &D1, &D2); /* sqrt(9.96) = 3.2 → 4 */
    CHECK(D1 == 4 && D2 == 64);
    gc_sketch_factors(13, 3, 5, &D1, &D2); /* a prime: 1 × 13 */
    CHECK(D1 == 1 && D2 == 13);
}

/* (R1 ⊗ R2)·vec(a ⊗ b) computed the long way equals the factored sketch. */
static void sketched_lastlayer_equals_the_materialised_kronecker_product(void)
{
    static const int widths[] = { D_IN, 6, 4, 3 };
    gc_model m;
    random_model(&m, 3, widths, GC_ACT_TANH, 11);
    const int C = 3, H = 4, D = 12, D1 = 3, D2 = 4;
    const uint64_t seed = 1234;
    gc_backend *b = cpu_backend(7);
    float x[ROWS * D_IN], *e = malloc(ROWS * MAX_E * sizeof *e), loss[ROWS];
    int32_t y[ROWS];
    make_rows(x, y, C, 3);
    gc_embed_config cfg = { .kind = GC_EMBED_LASTLAYER,
                            .sketch_dim = D,
                            .hessian_damping = 1e-3,
                            .seed = seed,
                            .models = &m,
                            .model_count = 1 };
    CHECK(gc_embedding_dim(&cfg, D_IN) == D);
    CHECK(embed(b, &cfg, x, y, e, loss) == GC_OK);
    for (int r = 0; r < ROWS; ++r) {
        double g[MAX_E], ref[MAX_E], ell;
        lastlayer_ref(&m, x + r * D_IN, y[r], g, &ell);
        sketch_ref(seed, 0, D1, D2, C, H + 1, g, ref);
        CHECK(rows_match(e + (size_t)r * D, ref, D, 1e-6));
    }
    free(e);
    gc_backend_destroy(b);
    gc_model_destroy(&m);
}

/* gmc: block s of each row is draw s's sketched last-layer gradient (its own R), loss the mean. */
static void gmc_concatenates_one_sketch_per_draw(int sketch)
{
    static const int widths[] = { D_IN, 6, 4, 3 };
    gc_model m[3];
    for (int s = 0; s < 3; ++s) random_model(&m[s], 3, widths, GC_ACT_RELU, 20 + (uint64_t)s);
    const int C = 3, H = 4, block = sketch ? 12 : C * (H + 1);
    const uint64_t seed = 77;
    gc_backend *b = cpu_backend(4);
    float x[ROWS * D_IN], *e = malloc(ROWS * MAX_E * sizeof *e), loss[ROWS];
    int32_t y[ROWS];
    make_rows(x, y, C, 4);
    gc_embed_config cfg = { .kind = GC_EMBED_GMC,
                            .sketch_dim = sketch ? 12 : 0,
                            .hessian_damping = 1e-3,
                            .seed = seed,
                            .models = m,
                            .model_count = 3 };
    CHECK(gc_embedding_dim(&cfg, D_IN) == 3 * block);
    CHECK(embed(b, &cfg, x, y, e, loss) == GC_OK);
    for (int r = 0; r < ROWS; ++r) {
        double mean_loss = 0;
        for (int s = 0; s < 3; ++s) {
            double g[MAX_E], ref[MAX_E], ell;
            lastlayer_ref(&m[s], x + r * D_IN, y[r], g, &ell);
            mean_loss += ell / 3;
            if (sketch) sketch_ref(seed, s, 3, 4, C, H + 1, g, ref);
            CHECK(rows_match(e + (size_t)r * 3 * block + s * block, sketch ? ref : g, block, 1e-6));
        }
        CHECK_NEAR(loss[r], mean_loss, 1e-6);
    }
    free(e);
    gc_backend_destroy(b);
    for (int s = 0; s < 3; ++s) gc_model_destroy(&m[s]);
}

static void bad_labels_and_sketches_are_errors(void)
{
    static const int widths[] = { D_IN, 6, 4, 3 };
    gc_model m;
    random_model(&m, 3, widths, GC_ACT_RELU, 5);
    gc_backend *b = cpu_backend(0);
    float x[ROWS * D_IN], *e = malloc(ROWS * MAX_E * sizeof *e), loss[ROWS];
    int32_t y[ROWS];
    make_rows(x, y, 3, 5);
    y[17] = 3;
    gc_embed_config cfg = { .kind = GC_EMBED_LOGITS, .hessian_damping = 1e-3, .models = &m, .model_count = 1 };
    CHECK(embed(b, &cfg, x, y, e, loss) == GC_ERR_INPUT);
    CHECK(strstr(gc_error_message(), "label 3") != NULL);
    gc_error_clear();
    y[17] = 0;
    cfg.sketch_dim = 8; /* a sketch of the logits */
    CHECK(embed(b, &cfg, x, y, e, loss) == GC_ERR_USAGE);
    gc_error_clear();
    cfg.kind = GC_EMBED_LASTLAYER;
    cfg.sketch_dim = 16; /* wider than C·(H+1) = 15 */
    CHECK(embed(b, &cfg, x, y, e, loss) == GC_ERR_USAGE);
    gc_error_clear();
    free(e);
    gc_backend_destroy(b);
    gc_model_destroy(&m);
}

/* read_x of gc_embed_config, over rows held by the test; a failure of the source is the call's. */
typedef struct {
    const float *x;
    int64_t calls, fail_at;
} row_source;

static int read_rows(void *ctx, int64_t lo, int64_t n, float *dst)
{
    row_source *src = ctx;
    if (src->calls++ == src->fail_at) return gc_fail(GC_ERR_INPUT, "source: row %lld unreadable", (long long)lo);
    memcpy(dst, src->x + lo * D_IN, (size_t)n * D_IN * sizeof *dst);
    return GC_OK;
}

static void rows_from_a_reader_give_the_same_bits(void)
{
    static const int widths[] = { D_IN, 6, 4, 3 };
    gc_model m;
    random_model(&m, 3, widths, GC_ACT_TANH, 6);
    gc_backend *b = cpu_backend(7);
    float x[ROWS * D_IN], *e = malloc(ROWS * MAX_E * sizeof *e), *e_read = malloc(ROWS * MAX_E * sizeof *e_read);
    float loss[ROWS], loss_read[ROWS];
    int32_t y[ROWS];
    CHECK(e && e_read);
    make_rows(x, y, 3, 8);
    row_source src = { .x = x, .fail_at = -1 };
    for (int kind = GC_EMBED_FEATURES; kind <= GC_EMBED_LASTLAYER; ++kind) {
        gc_embed_config cfg = { .kind = (gc_embedding_kind)kind,
                                .hessian_damping = 1e-3,
                                .models = &m,
                                .model_count = 1,
                                .first_row = 5,
                                .read_x = read_rows,
                                .read_ctx = &src };
        const int D = gc_embedding_dim(&cfg, D_IN);
        CHECK(embed(b, &cfg, x, y, e, loss) == GC_OK);
        CHECK(embed(b, &cfg, NULL, y, e_read, loss_read) == GC_OK);
        CHECK(memcmp(e, e_read, (size_t)ROWS * D * sizeof *e) == 0);
        CHECK(memcmp(loss, loss_read, sizeof loss) == 0);
    }
    gc_embed_config cfg = { .kind = GC_EMBED_LOGITS,
                            .hessian_damping = 1e-3,
                            .models = &m,
                            .model_count = 1,
                            .read_x = read_rows,
                            .read_ctx = &src };
    src.calls = 0;
    src.fail_at = 2;
    CHECK(embed(b, &cfg, NULL, y, e_read, loss_read) == GC_ERR_INPUT);
    CHECK(strstr(gc_error_message(), "unreadable") != NULL);
    gc_error_clear();
    free(e);
    free(e_read);
    gc_backend_destroy(b);
    gc_model_destroy(&m);
}

/* With precision bf16 or fp16 every value of E is exactly gc_round_to of the fp32 run's value (the
 * same backend and rows: the CPU is deterministic), for every kind, and the loss is unchanged. */
static void narrow_precisions_round_the_fp32_embedding(void)
{
    static const int widths[] = { D_IN, 6, 4, 3 };
    gc_model m[2];
    for (int s = 0; s < 2; ++s) random_model(&m[s], 3, widths, GC_ACT_TANH, 30 + (uint64_t)s);
    gc_backend *b = cpu_backend(7);
    float x[ROWS * D_IN], loss32[ROWS], loss[ROWS];
    float *e32 = malloc(ROWS * MAX_E * sizeof *e32), *e = malloc(ROWS * MAX_E * sizeof *e);
    int32_t y[ROWS];
    CHECK(e32 && e);
    make_rows(x, y, 3, 9);
    row_source src = { .x = x, .fail_at = -1 };
    const struct {
        gc_embedding_kind kind;
        int sketch, draws, read; /* read: x through read_x (the features kind's other source) */
    } cases[] = { { GC_EMBED_FEATURES, 0, 0, 0 }, { GC_EMBED_FEATURES, 0, 0, 1 },  { GC_EMBED_LOGITS, 0, 1, 0 },
                  { GC_EMBED_ADACORE, 0, 1, 0 },  { GC_EMBED_LASTLAYER, 0, 1, 0 }, { GC_EMBED_LASTLAYER, 12, 1, 0 },
                  { GC_EMBED_GMC, 12, 2, 0 },     { GC_EMBED_GMC, 0, 2, 1 } };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; ++c) {
        gc_embed_config cfg = { .kind = cases[c].kind,
                                .sketch_dim = cases[c].sketch,
                                .hessian_damping = 1e-3,
                                .seed = 5,
                                .models = cases[c].draws ? m : NULL,
                                .model_count = cases[c].draws,
                                .first_row = 3,
                                .read_x = read_rows,
                                .read_ctx = &src };
        const float *xs = cases[c].read ? NULL : x;
        const int D = gc_embedding_dim(&cfg, D_IN);
        b->precision = GC_PRECISION_FP32;
        CHECK(b->ops->embed(b, &cfg, ROWS, D_IN, xs, y, e32, loss32) == GC_OK);
        for (gc_precision p = GC_PRECISION_BF16; p <= GC_PRECISION_FP16; ++p) {
            b->precision = p;
            CHECK(embed(b, &cfg, xs, y, e, loss) == GC_OK);
            int64_t differ = 0, moved = 0;
            for (int64_t i = 0; i < (int64_t)ROWS * D; ++i) {
                const float want = gc_round_to(p, e32[i]);
                differ += memcmp(&e[i], &want, sizeof want) != 0;
                moved += e[i] != e32[i];
            }
            if (differ) fprintf(stderr, "  case %zu, precision %d: %lld values not rounded\n", c, p, (long long)differ);
            CHECK(differ == 0);
            CHECK(moved > 0); /* the rounding did something: the test sees the narrow format */
            CHECK(memcmp(loss, loss32, sizeof loss) == 0);
        }
    }
    free(e32);
    free(e);
    gc_backend_destroy(b);
    for (int s = 0; s < 2; ++s) gc_model_destroy(&m[s]);
}

/* gc_widen_parallel (the CUDA engine's staging pass) turns every 2-byte pattern into the value the
 * format defines: bf16 is a float's high half; half is ±2^(e−15)·(1 + m/1024), or ±m·2⁻²⁴ for
 * e = 0, ±∞ for e = 31, m = 0 (NaNs only checked to stay NaN); and each is gc_round_to's fixed point. */
static void widening_gives_each_pattern_its_value(void)
{
    enum { PATTERNS = 1 << 16 };
    uint16_t *bits = malloc(PATTERNS * sizeof *bits);
    float *wide = malloc(PATTERNS * sizeof *wide);
    CHECK(bits && wide);
    for (int i = 0; i < PATTERNS; ++i) bits[i] = (uint16_t)i;
    for (gc_precision p = GC_PRECISION_BF16; p <= GC_PRECISION_FP16; ++p) {
        gc_widen_parallel(p, wide, bits, PATTERNS);
        int wrong = 0;
        for (int i = 0; i < PATTERNS; ++i) {
            const int e = (i >> 10) & 31, m = i & 1023;
            float want = p == GC_PRECISION_BF16 ? gc_bits_float((uint32_t)i << 16)
                         : e == 0               ? ldexpf((float)m, -24)
                         : e == 31              ? (m ? NAN : INFINITY)
                                                : ldexpf(1024.0f + m, e - 25);
            if (p == GC_PRECISION_FP16 && (i & 0x8000)) want = -want;
            if (isnan(want)) {
                wrong += !isnan(wide[i]);
                continue;
            }
            wrong += memcmp(&want, &wide[i], sizeof want) != 0 || gc_round_to(p, wide[i]) != wide[i];
        }
        if (wrong) fprintf(stderr, "  precision %d: %d patterns widened wrong\n", p, wrong);
        CHECK(wrong == 0);
    }
    free(bits);
    free(wide);
}

int main(void)
{
    features_are_the_inputs();
    for (int act = GC_ACT_RELU; act <= GC_ACT_IDENTITY; ++act)
        logits_adacore_and_lastlayer_match_closed_forms((gc_activation)act, 3);
    logits_adacore_and_lastlayer_match_closed_forms(GC_ACT_RELU, 1);
    sketch_factors_follow_the_documented_rule();
    sketched_lastlayer_equals_the_materialised_kronecker_product();
    gmc_concatenates_one_sketch_per_draw(1);
    gmc_concatenates_one_sketch_per_draw(0);
    bad_labels_and_sketches_are_errors();
    rows_from_a_reader_give_the_same_bits();
    narrow_precisions_round_the_fp32_embedding();
    widening_gives_each_pattern_its_value();
    TEST_MAIN_END();
}
