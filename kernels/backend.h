/* The compute backend: one interface, a CPU implementation (OpenBLAS + OpenMP) and a CUDA one
 * (cuBLAS + own kernels). Each rank owns one backend; buffers it allocates are its own. */
#ifndef GC_BACKEND_H
#define GC_BACKEND_H

#include <math.h>
#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "core/phases.h"
#include "core/progress.h"
#include "io/model.h"
#include "io/synthetic.h"
#include "kernels/fl.h"
#include "kernels/precision.h"
#include "kernels/quality.h"

typedef enum {
    GC_EMBED_FEATURES = 0, /* e = x (CRAIG's bound for convex models) */
    GC_EMBED_LOGITS,       /* e = p - onehot(y) */
    GC_EMBED_LASTLAYER,    /* e = (p - onehot(y)) ⊗ [h; 1] (optionally Kronecker-sketched) */
    GC_EMBED_ADACORE,      /* e = (p - onehot(y)) ⊘ (p ⊙ (1 - p) + δ) */
    GC_EMBED_GMC           /* s init draws of sketched lastlayer, concatenated */
} gc_embedding_kind;

#define GC_EMBEDDING_NAMES "features|logits|lastlayer|adacore|gmc"

typedef struct {
    gc_embedding_kind kind;
    int sketch_dim;         /* lastlayer/gmc: 0 = no sketch */
    double hessian_damping; /* adacore δ */
    uint64_t seed;          /* sketch matrices */
    const gc_model *models; /* NULL for features; gmc uses all of them, other kinds the first */
    int model_count;
    int64_t first_row; /* global index of the first row passed: the CPU backend runs its GEMMs
                              * on blocks aligned to the global index, padded to a fixed height, so a
                              * row's embedding never depends on how the rows were split over ranks */
    /* Where x comes from when the caller passes x = NULL: read_x(read_ctx, lo, n, dst) fills rows
     * [lo, lo + n) (positions in this call's rows) into dst [n × d]. The CUDA backend reads each
     * batch straight into its pinned staging buffer while earlier batches are on the GPU, so the
     * shard is never whole in host memory and reading overlaps transfer and compute. */
    int (*read_x)(void *read_ctx, int64_t lo, int64_t n, float *dst);
    void *read_ctx;
    /* Synthetic data (NULL: none): row i of a call with x = NULL is synthetic row first_row + i.
     * The CUDA backend then generates each batch's x and y in device memory (synthetic_cuda.h),
     * the generator's bits, with no read_x call and nothing copied up; y must then be the
     * generator's labels of those rows (the read phase's). The CPU backend reads through read_x,
     * which the caller sets too. */
    const gc_synthetic *synthetic;
    /* The CUDA backend also keeps the output on its device when it fits (gc_cuda_resident), for a
     * selector that scores it there (OMP). Opt-in: the device allocation and copy cost time that only
     * such a selector wins back (it saves copying the embeddings up again). With e = NULL in the
     * embed call (docs/design.md §3.2) the device copy is the only one: nothing is copied back. */
    int keep_on_device;
    /* With e = NULL and keep_on_device, E also comes home here as the device stores it,
     * gc_precision_bytes(b->precision) bytes a value (2 in bf16 and fp16), never widened: the copy
     * `select` keeps only to write (docs/design.md §3.2), while every pass reads the device's.
     * NULL: none. The CUDA backend only; the CPU backend refuses it. */
    void *e_stored;
} gc_embed_config;

/* Rows [lo, lo + n) of the input into dst [n × d]: copied from x, or read by cfg->read_x when x is
 * NULL, then rounded to `precision` (gc_round_array): the features embedding passes the backend's
 * precision, a model's input GC_PRECISION_FP32 (only what embed writes to E is rounded). */
int gc_embed_input(const gc_embed_config *cfg, const float *x, int d, int64_t lo, int64_t n, gc_precision precision,
                   float *dst);

/* Width D of the embedding for inputs of width d, once gc_embedding_width has accepted it. */
int gc_embedding_dim(const gc_embed_config *cfg, int d);
/* The same, checked: a width beyond int (C·(H+1)·draws of a large model) is a usage error naming
 * --sketch. */
int gc_embedding_width(const gc_embed_config *cfg, int d, int *D);

/* --sketch: "auto" or a width D >= 0 (0 = the full gradient). `auto` keeps the full last-layer
 * gradient of lastlayer/gmc while it has at most GC_SKETCH_AUTO_FULL columns and otherwise sketches
 * each draw to GC_SKETCH_AUTO columns (docs/design.md §3: the full width of a default 256-wide model
 * at C = 10 is 2,570 floats a row, 164 GB at 16M rows — more than a GPU holds — and the OMP pass
 * reads all of them every step). Kinds without a last layer ignore it. A bad value is a usage
 * error naming --sketch. */
#define GC_SKETCH_AUTO_FULL 512
#define GC_SKETCH_AUTO      256
int gc_sketch_resolve(const char *value, gc_embedding_kind kind, const gc_model *m, int *sketch);

/* Checks what both backends rely on before any work: the models take d inputs and agree in shape
 * (gmc), the sketch fits the last layer, every label of y is in [0, C) (y NULL: the caller checks
 * them with gc_labels_check as it streams them). One line naming the problem. */
int gc_embed_check(const gc_embed_config *cfg, int64_t rows, int d, const int32_t *y);
/* Every label of y[0, n) is in [0, classes); else one line naming the first that is not. */
int gc_labels_check(const int32_t *y, int64_t n, int classes);

/* The Kronecker sketch of the last-layer gradient a ⊗ b (a = p − onehot(y) ∈ R^C,
 * b = [h; 1] ∈ R^(H+1)): (R1 ⊗ R2)·vec(a ⊗ b) = vec(R1 a ⊗ R2 b), R1 [D1 × C], R2 [D2 × (H+1)],
 * D = D1·D2, component p·D2 + q = (R1 a)_p·(R2 b)_q, so only the two small factors exist.
 * D1 is the divisor of D closest, on a log scale, to sqrt(D·C/(H+1)) (ties to the smaller): both
 * factors then compress by about the same ratio, D1/C ≈ D2/(H+1). Entries are given by
 * gc_sketch_entry (kernels/sketch.h), ±1/sqrt(D1) and ±1/sqrt(D2), so R1 ⊗ R2 has ±1/sqrt(D). */
void gc_sketch_factors(int D, int classes, int hidden_plus_one, int *D1, int *D2);

/* Threads of a host copy: memory bandwidth is reached by a few, and on a many-core host the rest
 * stay asleep instead of waking and spinning beside the thread that drives the GPU (craig at C = 100
 * on a 64-core host: embed 0.78–1.65 s on every thread, 0.51–0.55 s on 16;
 * bench/results/ab-h100x4/copy-threads/). */
#define GC_COPY_THREADS 16
int gc_copy_threads(void); /* min(GC_COPY_THREADS, OpenMP's threads) */
/* dst ← src with gc_copy_threads() OpenMP threads (host staging copies of the CUDA backend). */
void gc_copy_parallel(void *dst, const void *src, size_t bytes);
/* task(ctx, t) for t = 0 … tasks − 1, each on an OpenMP thread of its own where OpenMP gives that
 * many (else some run after others on one thread): the CUDA backend's facility-location lanes, each
 * launching onto its own stream, so that none waits for another's launches. */
void gc_run_tasks(int tasks, void (*task)(void *ctx, int t), void *ctx);

typedef enum { GC_DEVICE_AUTO = 0, GC_DEVICE_CPU, GC_DEVICE_CUDA } gc_device_request;
#define GC_DEVICE_NAMES "auto|cpu|cuda"

typedef struct gc_backend gc_backend;

/* An OMP candidate: its score and row (local to the scored rows, or global after the merge). */
typedef struct {
    double score;
    int64_t index;
} gc_omp_pair;

/* No candidate: sorts after every real one. */
#define GC_OMP_NONE ((gc_omp_pair){ -INFINITY, INT64_MAX })

/* The one order of OMP candidates everywhere (devices, ranks, merge): higher score first, then the
 * lower index, so the winner never depends on how rows are split. */
static inline int gc_omp_pair_before(gc_omp_pair a, gc_omp_pair b)
{
    return a.score > b.score || (a.score == b.score && a.index < b.index);
}

/* Device state of the facility-location greedy, made and kept by the backend. */
typedef struct gc_fl_device gc_fl_device;

/* Device state of the OMP scorer, owned by the backend that attached it. */
typedef struct gc_omp_device gc_omp_device;

/* The Nyström feature map of BiCo (docs/design.md §4), replicated on every rank:
 * z(x) = D^{-1/2} Uᵀ [κ(x, l_j)]_j with κ(x, l) = exp(−γ‖x − l‖²) and K_QQ = U D Uᵀ, stored as
 * the projection P = U D^{-1/2} [q × q'] (q' ≤ q eigenvectors kept), so z(x)ᵀ = κ(x, Q)ᵀ P. */
typedef struct {
    int q, d, rank; /* landmarks, input width, q' */
    int block;      /* rows a GEMM: a row's features depend on the row and this height alone */
    double gamma;
    const double *landmarks;   /* [q × d] */
    const double *landmark_sq; /* [q] ‖l_j‖² */
    const double *projection;  /* [q × q'] row-major */
} gc_nystrom_map;

/* Device state of the Nyström feature map (landmarks and projection uploaded once). */
typedef struct gc_nystrom_device gc_nystrom_device;

/* Device state of the BiCo scorer: a device-resident copy of one rank's features and labels. */
typedef struct gc_bico_device gc_bico_device;

/* Device state of BiCo's data summary: work buffers and fixed-point accumulators. */
typedef struct gc_bico_summary_device gc_bico_summary_device;

typedef struct {
    const char *name; /* "cpu" or "cuda" */
    /* Embeddings e [rows × D] and losses [rows] of host rows x [rows × d] with labels y (the CUDA
     * backend also takes the features embedding's x in its own GPU's memory: a caller's tensor).
     * e = NULL (only where rows_on_device is set, with cfg->keep_on_device): E stays in device
     * memory alone, read by the ops below through a NULL e (docs/design.md §3.2); GC_ERR_MEMORY
     * before any work when it does not fit there. */
    int (*embed)(gc_backend *b, const gc_embed_config *cfg, int64_t rows, int d, const float *x, const int32_t *y,
                 float *e, float *loss);
    /* Whether embed may be given e = NULL: rows [rows × D] at the backend's precision fit its device
     * next to what the passes over them need (row_reserve a row). NULL: never (the CPU backend). */
    int (*rows_on_device)(gc_backend *b, int64_t rows, int D);
    /* out [count × D] (host) ← rows index[t] (positions in the last embed call's rows) of what that
     * call kept on the device when it was given no e, widened to float (exact): the few rows a
     * selector needs on the host (OMP's winners). */
    int (*rows_get)(gc_backend *b, int count, const int64_t *index, float *out);
    /* Keeps a device copy of `count` host rows [count × D] (the rows other ranks sent a selector)
     * next to those embed kept, until the next call (count 0: none): rows_get and the gathers of
     * gc_fl_problem.rows then name row t of them −1 − t. GC_ERR_MEMORY where they do not fit (the
     * caller keeps using the host's). NULL: none (the CPU backend). */
    int (*rows_put)(gc_backend *b, int64_t count, int D, const float *rows);
    void (*destroy)(gc_backend *b);
    /* Page-locks host memory that the device will copy to or from block by block, so each copy
     * runs at the link's speed rather than through the driver's pageable staging. Optional (NULL:
     * nothing to do); a lock that fails leaves the memory pageable, which is only slower. */
    void (*pin)(gc_backend *b, void *p, size_t bytes);
    void (*unpin)(gc_backend *b, void *p);
    /* The device's ceilings (kernels/ceilings.h), optional: memory (a device copy, bytes read and
     * written), link (host→device from pinned memory) and the FP32 GEMM, into c's fields. */
    int (*ceilings)(gc_backend *b, gc_ceilings *c);

    /* Facility-location greedy of one block (kernels/fl.h), optional: NULL greedies on the CPU
     * (kernels/cpu/greedy_fl_cpu.c, the oracle); reach it through gc_backend_fl_greedy. */
    int (*fl_greedy)(gc_backend *b, const gc_fl_problem *p, int64_t kappa, int64_t *selected, double *gains,
                     double *coverage);
    /* Many independent blocks at once, optional: problem q selects kappa[q] into selected[q], gains[q]
     * and (coverage NULL or coverage[q] NULL: none) coverage[q], exactly as fl_greedy would alone
     * (the same bits); the device may run them concurrently. NULL: one fl_greedy a problem; reach it
     * through gc_backend_fl_greedy_many. */
    int (*fl_greedy_many)(gc_backend *b, int count, const gc_fl_problem *problems, const int64_t *kappa,
                          int64_t *const *selected, double *const *gains, double *const *coverage);
    /* While on, the device keeps its facility-location buffers from one call to the next, so a phase
     * of many calls (CREST's subsets) maps them once instead of every call (a 40,000-row block is
     * 12.8 GB: mapping and giving it back took 25–30 ms a call on an H200, half the greedy's time);
     * off gives them back. Optional: NULL holds nothing; reach it through gc_backend_fl_hold. */
    int (*fl_hold)(gc_backend *b, int on);

    /* Facility location's passes over all rows (docs/design.md §4.1: the exact assignment and GreeDi's
     * sampled comparison), optional: NULL runs the CPU twin (kernels/cpu/similarity_cpu.c,
     * gc_cpu_fl_assign, the oracle). For every row i of e [rows × D] (host; a device copy the backend
     * kept of it is read instead) in group g = group[i] (group NULL: 0) and every set t < W of g
     * (kernels/fl.h, W = gc_fl_sets_width): nearest[i·W + t] = the position in set t of the row's
     * nearest element, the first of equals, and distance[i·W + t] = that distance; slots of groups
     * with fewer sets, of empty sets and of groups outside [0, groups) hold −1 and +∞. Squared
     * distances are exact double differences squared and added in column order, never contracted
     * into a fused multiply-add, so every backend writes the same bits. The rows finished so far go
     * to progress (NULL: nowhere) as they come back. Reach it through gc_backend_fl_assign. */
    int (*fl_assign)(gc_backend *b, const float *e, int64_t rows, int D, const int32_t *group, const gc_fl_sets *sets,
                     int64_t *nearest, double *distance, gc_progress *progress);
    /* The similarity constant's pass (docs/design.md §4.1), optional: NULL runs the CPU twin
     * (gc_cpu_fl_radius, the oracle). *radius = the largest squared distance Σ_j (e_ij − center_j)²
     * of a row of e [rows × D] (host; the device copy the backend kept of it is read instead, and
     * with e NULL the one it kept alone) to center [D], in double, added in column order and never
     * contracted, so every backend gives the same bits. Reach it through gc_backend_fl_radius. */
    int (*fl_radius)(gc_backend *b, const float *e, int64_t rows, int D, const double *center, double *radius);

    /* Orthogonal matching pursuit (docs/design.md §4.2), optional: a NULL op means the selector runs the
     * CPU twins (kernels/cpu/omp_cpu.c, also these ops' oracle). G problems share one rank's rows: row i
     * belongs to problem problem[i] (problem NULL: every row to problem 0), and all G advance in the
     * same passes. */
    /* Keeps rows e [rows × D] (host) on the device: the backend's resident copy when e is the output
     * of its last embed call (NULL when that call was given none) and it kept it there (no copy),
     * else a copy. Uploads the problem ids and
     * groups the rows by problem there; computes each row's weight w_i = 1/‖e_i‖ (0 for a zero row:
     * never a candidate) as gc_cpu_omp_weights does, and *max_abs = the largest |e_ij|. */
    int (*omp_attach)(gc_backend *b, int64_t rows, int D, const float *e, const int32_t *problem, int problems,
                      double *max_abs, gc_omp_device **out);
    /* acc += Σ over the rows of problem g of e_i, for every g, exactly on gc_exact_sum's grid `scale`
     * (core/comm.h): the accumulators of G·D components (component g·D + j), as gc_cpu_omp_targets. */
    int (*omp_targets)(gc_backend *b, gc_omp_device *dev, double scale, int64_t *acc);
    /* w_i ← 0 for rows[t] of problem problems[t] (problems NULL: 0), t < count: chosen atoms are
     * never candidates again. Ordered before the next omp_best. */
    int (*omp_exclude)(gc_backend *b, gc_omp_device *dev, int count, const int64_t *rows, const int32_t *problems);
    /* One pass over the rows of the problems with want[g] > 0 (the others are not read): the want[g]
     * best rows of problem g for its residual r_g = r[g·D …] ([G × D] host), score_i = w_i·⟨e_i, r_g⟩
     * (signed) or w_i·|⟨e_i, r_g⟩|, accumulated in double, best first (ties to the lower row), into
     * best[g·stride …] (want[g] ≤ stride); entries past the eligible rows, or at want[g] and beyond,
     * are GC_OMP_NONE. */
    int (*omp_best)(gc_backend *b, gc_omp_device *dev, const double *r, int signed_scores, const int *want, int stride,
                    gc_omp_pair *best);
    void (*omp_detach)(gc_backend *b, gc_omp_device *dev);

    /* The quality pass (docs/design.md §5), optional: NULL runs the CPU twins (kernels/cpu/quality_cpu.c,
     * the oracle). e [rows × D] (host) are this rank's rows; the device reads its resident copy when
     * e is the output of its last embed call (NULL: it was given none) and it kept it there, else
     * copies them up in blocks. */
    /* *max_abs = the largest |e_ij| (0 without rows); not finite when a value is not (a NaN
     * included): the check that rows given from outside are finite (gc_select_embeddings). */
    int (*quality_max_abs)(gc_backend *b, const float *e, int64_t rows, int D, double *max_abs);
    /* acc += exact sums on gc_exact_sum's grid `scale` of (1 + subsets->count)·D components:
     * Σ e_i over every row (components 0 … D−1), then over the rows of random subset s (components
     * (1 + s)·D …); e's rows are global rows first_row … (kernels/quality.h). */
    int (*quality_sums)(gc_backend *b, const float *e, int64_t rows, int D, int64_t first_row,
                        const gc_random_subsets *subsets, double scale, int64_t *acc);

    /* Nyström features of BiCo (docs/design.md §4); both backends have them (CPU twin and oracle:
     * kernels/cpu/nystrom_cpu.c). The map must outlive the device state. */
    int (*nystrom_attach)(gc_backend *b, const gc_nystrom_map *map, gc_nystrom_device **out);
    /* z [rows × q'] (host, double) of host rows x [rows × d], rows a multiple of map->block: each
     * block of map->block rows on its own (GEMMs of one shape), so a row's features depend only on
     * the row; the rows of a call move over the link at once. */
    int (*nystrom_features)(gc_backend *b, gc_nystrom_device *dev, int64_t rows, const float *x, double *z);
    void (*nystrom_detach)(gc_backend *b, gc_nystrom_device *dev);

    /* BiCo scoring (docs/design.md §4), optional: NULL scores on the CPU (kernels/cpu/bico_cpu.c, the
     * oracle). Keeps features z [rows × q'] and labels y [rows] (host) on the device, the rank's rows
     * first_row … of the global index: a row's score may depend on where it sits in the global index
     * (blocks of a fixed height aligned to it), never on the rank that holds it. */
    int (*bico_attach)(gc_backend *b, int64_t first_row, int64_t rows, int qp, int C, const double *z, const int32_t *y,
                       gc_bico_device **out);
    /* scores[i] (host) = 2 (θᵀz_i − e_{y_i})ᵀ Vᵀz_i for every row; θ, V [q' × C] host, row-major. */
    int (*bico_scores)(gc_backend *b, gc_bico_device *dev, const double *theta, const double *v, double *scores);
    /* A round on the device, optional with the two above (NULL: bico_scores and the host's scan):
     * bico_take marks `count` ≤ 1,024 local rows selected; bico_best puts in best[want] (want ≤ 1,024)
     * the best rows not taken by the scores of θ and V, best first by gc_omp_pair_before (higher
     * score, then lower global row), NaN scores never, GC_OMP_NONE after the last: what the scan of
     * bico_scores' output picks. */
    int (*bico_take)(gc_backend *b, gc_bico_device *dev, int count, const int64_t *local);
    /* Z on the device alone, optional with the ops above (NULL: the features come from nystrom_*
     * through a host Z given to bico_attach): bico_attach with z NULL keeps zeros; bico_features
     * computes the rank's features from host rows x [rows × d] (x NULL: from E that embed kept on
     * the device alone, read there) into the device copy, with the bits of gc_nystrom_features;
     * bico_rows copies local rows' features to the host, bico_rows_at those of `count` local rows
     * (at most the scorer's batch) in one gather; bico_z is the
     * device address of local row 0's (q' doubles a row, for bico_summary_add); bico_max_entry is
     * max over rows of max(1, ‖z‖², ‖z‖) with the squares summed in order and no fused multiply-add. */
    int (*bico_features)(gc_backend *b, gc_bico_device *dev, const gc_nystrom_map *map, const float *x);
    int (*bico_rows)(gc_backend *b, gc_bico_device *dev, int64_t first, int64_t count, double *out);
    int (*bico_rows_at)(gc_backend *b, gc_bico_device *dev, int count, const int64_t *local, double *out);
    const double *(*bico_z)(gc_backend *b, gc_bico_device *dev);
    int (*bico_max_entry)(gc_backend *b, gc_bico_device *dev, double *out);
    int (*bico_best)(gc_backend *b, gc_bico_device *dev, const double *theta, const double *v, int want,
                     gc_omp_pair *best);
    void (*bico_detach)(gc_backend *b, gc_bico_device *dev);

    /* BiCo's data summary, optional: NULL sums on the CPU (select_bico.c, the oracle). Blocks of at
     * most max_rows rows add their ZᵀVZ (upper triangle, packed row by row), ZᵀVY [q' × C] and
     * per-class Σ v, as n = q'(q'+1)/2 + q'C + C values, to fixed-point accumulators on the device
     * on gc_exact_sum's grid (`scale`, src/comm.h): the total is exact and the same bits in any
     * order of the blocks. */
    int (*bico_summary_attach)(gc_backend *b, int qp, int C, int64_t max_rows, double scale,
                               gc_bico_summary_device **out);
    /* One block: z [rows × q'] (host, or the device's own Z through bico_z), y [rows], v [rows] (NULL:
     * all 1), host. */
    int (*bico_summary_add)(gc_backend *b, gc_bico_summary_device *dev, int64_t rows, const double *z, const int32_t *y,
                            const double *v);
    /* Optional with Z on the device alone (no row weights): the blocks of max_rows rows of local
     * rows [first, first + count) of own's Z and labels, each as bico_summary_add would add it (the
     * same bits), read in place: no copy of the block and no wait a block (collect waits). */
    int (*bico_summary_add_own)(gc_backend *b, gc_bico_summary_device *dev, gc_bico_device *own, int64_t first,
                                int64_t count);
    /* acc [2n] (gc_exact_sum's layout: whole parts, then fractions) += the device's accumulators. */
    int (*bico_summary_collect)(gc_backend *b, gc_bico_summary_device *dev, int64_t *acc);
    void (*bico_summary_detach)(gc_backend *b, gc_bico_summary_device *dev);
} gc_backend_ops;

struct gc_backend {
    const gc_backend_ops *ops;
    int device_id;      /* GPU ordinal, -1 on the CPU */
    int64_t batch_rows; /* rows per batch; 0 = the implementation's own choice (tests set it) */
    /* The width embeddings are stored and scored at (kernels/precision.h): embed rounds every value
     * it writes to it, and the device keeps its copies of embeddings at that width. fp32 (0) unless
     * the caller sets it after gc_backend_create. */
    gc_precision precision;
    /* Device bytes a row that the selection's passes hold next to a device copy of E (OMP: its
     * scores, weights, labels and sort keys); E is kept on the device only where both fit. 64
     * unless the caller sets it after gc_backend_create (src/select/selector.h: device_row_bytes). */
    int row_reserve;
    /* The share of the device's free memory that a device copy of E and its row_reserve may take
     * (the rest is for blocks and workspaces; 0: E is never kept there). 0.75 unless the caller sets
     * it after gc_backend_create (`--device-memory`). */
    double resident_share;
    char description[128];
    void *impl; /* implementation state */
};

/* Facility-location greedy (kernels/fl.h) on b's device when it has one, else (b NULL included) on
 * the CPU: the same selections either way. */
int gc_backend_fl_greedy(gc_backend *b, const gc_fl_problem *p, int64_t kappa, int64_t *selected, double *gains,
                         double *coverage);
/* `count` facility-location greedies (fl_greedy_many above) on b's device when it has one, else one
 * after the other (b NULL included: on the CPU): the selections of one gc_backend_fl_greedy each. */
int gc_backend_fl_greedy_many(gc_backend *b, int count, const gc_fl_problem *problems, const int64_t *kappa,
                              int64_t *const *selected, double *const *gains, double *const *coverage);
/* fl_hold above on b's device when it has the op; nothing otherwise (b NULL included). */
int gc_backend_fl_hold(gc_backend *b, int on);

/* Bytes of one value of E as a pass reads it, for the phases' byte counts: at b's precision where
 * the pass runs on its device (`on_device`: b has the op), floats on the host (kernels/precision.h). */
static inline double gc_backend_value_bytes(const gc_backend *b, int on_device)
{
    return b != NULL && on_device ? (double)gc_precision_bytes(b->precision) : (double)sizeof(float);
}

/* Facility location's pass over rows (fl_assign above) on b's device when it has the op, else
 * (b NULL included) on the CPU in pieces of rows: the same bits either way, and progress (NULL:
 * none) told the rows done after each batch or piece. */
int gc_backend_fl_assign(gc_backend *b, const float *e, int64_t rows, int D, const int32_t *group,
                         const gc_fl_sets *sets, int64_t *nearest, double *distance, gc_progress *progress);

/* The similarity constant's pass (fl_radius above) on b's device when it has the op, else (b NULL
 * included) on the CPU: the same bits either way. */
int gc_backend_fl_radius(gc_backend *b, const float *e, int64_t rows, int D, const double *center, double *radius);

/* Rows index[t] of E (positions in the rank's rows, t < count), widened to float, row t at
 * out + t·stride bytes: copied from host E e [· × D] with gc_copy_threads() threads, or with e NULL
 * (E on the device alone, docs/design.md §3.2) gathered there by b's rows_get in pieces whose count
 * fits an int. What a selector that reads E through the backend needs on the host: OMP's winners,
 * facility location's travelling rows, CREST's subset members, BiCo's winners and landmarks. */
int gc_backend_rows_get(gc_backend *b, const float *e, int D, int64_t count, const int64_t *index, void *out,
                        size_t stride);

/* Collective over comm (GPUs are picked by node-local rank). `auto` falls back to the CPU with a
 * warning; `cuda` without a usable GPU is an error. Where gc_backend_prestart started the GPU, it
 * waits for that start instead of making one. */
int gc_backend_create(gc_device_request request, MPI_Comm comm, gc_backend **out);
void gc_backend_destroy(gc_backend *b);

/* The GPU's start-up overlapped with MPI's (docs/design.md §3): called before MPI_Init, it starts
 * the CUDA driver and the context of the rank's GPU on a thread of their own, so that the driver's
 * work (0.1–0.4 s a process, serialised over a node's processes) runs while MPI_Init does. Only
 * where the node has NVIDIA GPUs, the launcher names the process's node-local rank
 * (OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID, MPI_LOCALRANKID, PALS_LOCAL_RANKID), the command is
 * `select` or `stream`, and its command line does not ask for the CPU or for help; the GPU is the
 * one gc_backend_create would pick (node-local rank mod GPUs, made the only visible one).
 * gc_backend_prestart_finish, before MPI_Finalize, waits for the thread and gives the GPU back when
 * no backend took it (a run that ended on the CPU or before its backend). */
void gc_backend_prestart(int argc, char **argv);
void gc_backend_prestart_finish(void);

/* Implementations. */
int gc_backend_cpu_create(gc_backend **out);
/* Returns GC_ERR_DEVICE with a message when no GPU can be used (always so in a CPU-only build). */
int gc_backend_cuda_create(int device_id, gc_backend **out);
int gc_backend_cuda_device_count(void);
/* The driver and GPU `ordinal`'s context made ready (node-local rank mod the visible GPUs when
 * ordinal < 0), or given back (gc_backend_cuda_stop); safe on a thread of its own: they touch
 * neither the error state nor the log. Return the ordinal started, or −1. */
int gc_backend_cuda_start(int local_rank);
void gc_backend_cuda_stop(int ordinal);

#endif
