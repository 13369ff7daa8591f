/* Facility location's passes over all rows on the GPU (the CUDA fl_assign op) equal the CPU twin
 * gc_cpu_fl_assign bit for bit: the same nearest positions and the same bits of every distance,
 * ties included (rows duplicating set elements, duplicate elements, duplicate rows). Cases: one set
 * a group (the exact assignment) and several (GreeDi's sampled comparison), sets shared by groups,
 * empty sets, rows without sets, NULL groups; widths around the kernel's column chunk and set sizes
 * around its element tile; rows streamed in one batch or many, from pageable or page-locked memory,
 * or read from the embeddings the backend kept on its device; large sets through the GEMM path
 * with its bounds (on their own, and forced for every set in small tiles), rows kept at bf16 and
 * fp16, elements and rows units in the last place apart, elements all but equidistant from the
 * rows, and rows or elements that are not finite. Then whole facility-location selections with the
 * sampled safeguard at work: the same coreset on both backends, also where E lives on the device
 * alone (fp32 and bf16), with the similarity constant's radius pass (fl_radius) equal to its CPU
 * twin. Exit 77 without a GPU. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "kernels/backend.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cuda/assign_cuda.h"
#include "kernels/cuda/rows.h"
#include "src/select/select_fl.h"

static double uniform(void) { return (double)rand() / RAND_MAX; }

/* Sets over set_rows rows: groups 0 … 3 have 1, 3, 1 and 2 sets; group 1's last set is empty and
 * group 3 shares group 0's set; group 4 has none. */
enum { GROUPS = 5 };
static const int64_t group_set[GROUPS + 1] = { 0, 1, 4, 5, 7, 7 };

static void make_sets(int64_t n, int64_t *first, int64_t *size)
{
    const int64_t a = n / 3, b = n / 4;
    const int64_t f[7] = { 0, a, a + b, 0, a, 0, a + b }, s[7] = { a, b, n - a - b, 0, n - a, a, n - a - b };
    memcpy(first, f, sizeof f);
    memcpy(size, s, sizeof s);
}

/* Rows and set elements with exact ties: every fifth row is a set element, element 1 repeats
 * element 0, and row 2 repeats row 1. */
static void make_rows(int64_t rows, int64_t set_rows, int D, float *e, float *set_e, int32_t *group)
{
    for (int64_t i = 0; i < set_rows * D; ++i) set_e[i] = (float)(uniform() * 4.0 - 2.0);
    if (set_rows > 1) memcpy(set_e + D, set_e, (size_t)D * sizeof *set_e);
    for (int64_t i = 0; i < rows; ++i) {
        group[i] = (int32_t)(rand() % (GROUPS + 2)) - 1; /* −1 and GROUPS have no sets */
        for (int t = 0; t < D; ++t)
            e[i * D + t] = i % 5 == 0 ? set_e[(i / 5 % set_rows) * D + t] : (float)(uniform() * 4.0 - 2.0);
    }
    if (rows > 2) memcpy(e + 2 * D, e + D, (size_t)D * sizeof *e);
}

/* The op on gpu_e (NULL: the rows the backend keeps alone) against the twin on e, one configuration;
 * returns how many slots differ. */
static int compare_on(gc_backend *b, const float *e, const float *gpu_e, int64_t rows, int D, const int32_t *group,
                      const gc_fl_sets *sets)
{
    const int64_t W = gc_fl_sets_width(sets), slots = rows * W;
    int64_t *near_cpu = malloc((size_t)(slots + 1) * sizeof *near_cpu);
    int64_t *near_gpu = malloc((size_t)(slots + 1) * sizeof *near_gpu);
    double *dist_cpu = malloc((size_t)(slots + 1) * sizeof *dist_cpu);
    double *dist_gpu = malloc((size_t)(slots + 1) * sizeof *dist_gpu);
    gc_cpu_fl_assign(e, rows, D, group, sets, near_cpu, dist_cpu);
    const int rc = b->ops->fl_assign(b, gpu_e, rows, D, group, sets, near_gpu, dist_gpu, NULL);
    if (rc != GC_OK) fprintf(stderr, "%s\n", gc_error_message());
    CHECK(rc == GC_OK);
    int differ = 0;
    for (int64_t k = 0; k < slots && rc == GC_OK; ++k)
        differ += near_cpu[k] != near_gpu[k] || memcmp(&dist_cpu[k], &dist_gpu[k], sizeof(double)) != 0;
    free(near_cpu);
    free(near_gpu);
    free(dist_cpu);
    free(dist_gpu);
    return differ;
}

static int compare(gc_backend *b, const float *e, int64_t rows, int D, const int32_t *group, const gc_fl_sets *sets)
{
    return compare_on(b, e, e, rows, D, group, sets);
}

static void op_equals_the_cpu_bit_for_bit(gc_backend *b, int64_t rows, int D, int64_t set_rows, int64_t batch_rows,
                                          int pinned)
{
    float *e = malloc((size_t)rows * D * sizeof *e), *set_e = malloc((size_t)set_rows * D * sizeof *set_e);
    int32_t *group = malloc((size_t)rows * sizeof *group);
    int64_t first[7], size[7];
    make_rows(rows, set_rows, D, e, set_e, group);
    make_sets(set_rows, first, size);
    gc_fl_sets sets = { GROUPS, group_set, first, size, set_rows, set_e };
    const int64_t one_group[2] = { 0, 1 }, whole_first[1] = { 0 }, whole_size[1] = { set_rows };
    gc_fl_sets whole = { 1, one_group, whole_first, whole_size, set_rows, set_e }; /* the assignment's shape */
    if (pinned) b->ops->pin(b, e, (size_t)rows * D * sizeof *e);
    b->batch_rows = batch_rows;
    const int grouped = compare(b, e, rows, D, group, &sets), single = compare(b, e, rows, D, NULL, &whole);
    if (batch_rows > 0) CHECK(gc_cuda_fl_assign_last_batches(b) == (rows + batch_rows - 1) / batch_rows);
    CHECK(!gc_cuda_fl_assign_last_resident(b));
    b->batch_rows = 0;
    if (pinned) b->ops->unpin(b, e);
    if (grouped || single)
        fprintf(stderr, "rows=%lld D=%d set_rows=%lld batch=%lld pinned=%d: %d grouped and %d single slots differ\n",
                (long long)rows, D, (long long)set_rows, (long long)batch_rows, pinned, grouped, single);
    CHECK(grouped == 0 && single == 0);
    free(e);
    free(set_e);
    free(group);
}

/* Embeddings the backend computed and kept on its device are read there, not copied up again. */
static void resident_rows_equal_the_cpu(gc_backend *b)
{
    const int64_t n = 20000, set_rows = 90;
    const int d = 12, classes = 4, hidden = 24, sketch = 48;
    gc_model m;
    CHECK(gc_model_init_draw(&m, d, &hidden, 1, classes, 5, 0) == GC_OK);
    float *x = malloc((size_t)n * d * sizeof *x), *e = malloc((size_t)n * sketch * sizeof *e);
    float *loss = malloc((size_t)n * sizeof *loss), *set_e = malloc((size_t)set_rows * sketch * sizeof *set_e);
    int32_t *y = malloc((size_t)n * sizeof *y);
    for (int64_t i = 0; i < n * d; ++i) x[i] = (float)uniform();
    for (int64_t i = 0; i < n; ++i) y[i] = (int32_t)(i * 7 % classes);
    gc_embed_config cfg = { .kind = GC_EMBED_LASTLAYER,
                            .sketch_dim = sketch,
                            .hessian_damping = 1e-3,
                            .seed = 2,
                            .models = &m,
                            .model_count = 1,
                            .keep_on_device = 1 };
    CHECK(b->ops->embed(b, &cfg, n, d, x, y, e, loss) == GC_OK);
    CHECK(gc_cuda_resident(b, e, n, sketch).data != NULL);
    for (int64_t j = 0; j < set_rows; ++j) memcpy(set_e + j * sketch, e + j * 211 * sketch, sketch * sizeof *e);
    int64_t first[7], size[7];
    make_sets(set_rows, first, size);
    gc_fl_sets sets = { GROUPS, group_set, first, size, set_rows, set_e };
    const int differ = compare(b, e, n, sketch, y, &sets);
    CHECK(gc_cuda_fl_assign_last_resident(b));
    if (differ) fprintf(stderr, "resident rows: %d slots differ\n", differ);
    CHECK(differ == 0);
    gc_model_destroy(&m);
    free(x);
    free(e);
    free(loss);
    free(set_e);
    free(y);
}

/* Rows kept on the device alone at a 16-bit precision (the features embedding: E = X rounded): the
 * GEMM path's operands and exact sums read them there. Sets of rows of E, or of values nudged off
 * the format (exact_sets 0); ties: row 2 repeats row 1, element 1 repeats element 0, and elements
 * are rows. Width 40: the GEMM path for sets of 256 or more (a third of them here), and for every
 * set when forced. */
static void narrow_rows_equal_the_cpu(gc_backend *b, gc_precision precision, int exact_sets)
{
    const int64_t n = 6000, set_rows = 900;
    const int d = 40;
    float *x = malloc((size_t)n * d * sizeof *x), *e = malloc((size_t)n * d * sizeof *e);
    float *loss = malloc((size_t)n * sizeof *loss), *set_e = malloc((size_t)set_rows * d * sizeof *set_e);
    int32_t *y = malloc((size_t)n * sizeof *y), *group = malloc((size_t)n * sizeof *group);
    for (int64_t i = 0; i < n * d; ++i) x[i] = (float)(uniform() * 4.0 - 2.0);
    memcpy(x + 2 * d, x + d, (size_t)d * sizeof *x);
    for (int64_t i = 0; i < n; ++i) {
        y[i] = (int32_t)(i % 3);
        group[i] = (int32_t)(rand() % (GROUPS + 2)) - 1;
    }
    b->precision = precision;
    gc_embed_config features = { .kind = GC_EMBED_FEATURES, .keep_on_device = 1 };
    CHECK(b->ops->embed(b, &features, n, d, x, y, NULL, loss) == GC_OK);
    CHECK(gc_cuda_resident(b, NULL, n, d).data != NULL);
    memcpy(e, x, (size_t)n * d * sizeof *e);
    gc_round_array(precision, e, n * d); /* the values kept there */
    for (int64_t j = 0; j < set_rows; ++j) memcpy(set_e + j * d, e + (j * 13 % n) * d, (size_t)d * sizeof *e);
    memcpy(set_e + d, set_e, (size_t)d * sizeof *set_e);
    if (!exact_sets)
        for (int64_t i = 0; i < set_rows * d; ++i) set_e[i] = nextafterf(set_e[i], INFINITY);
    int64_t first[7], size[7];
    make_sets(set_rows, first, size);
    gc_fl_sets sets = { GROUPS, group_set, first, size, set_rows, set_e };
    int differ = compare_on(b, e, NULL, n, d, group, &sets);
    CHECK(gc_cuda_fl_assign_last_resident(b));
    CHECK(gc_cuda_fl_assign_force_gemm(b, 1, 37) == GC_OK);
    differ += compare_on(b, e, NULL, n, d, group, &sets);
    CHECK(gc_cuda_fl_assign_force_gemm(b, 0, 0) == GC_OK);
    if (differ) fprintf(stderr, "precision %d, exact sets %d: %d slots differ\n", (int)precision, exact_sets, differ);
    CHECK(differ == 0);
    b->precision = GC_PRECISION_FP32;
    free(x);
    free(e);
    free(loss);
    free(set_e);
    free(y);
    free(group);
}

/* Elements a few units in the last place apart, and rows among them: distances that tie exactly
 * or differ only in their last bits, which the exact sums decide (the first of equals wins), with
 * the centred operands as small as they get. Rows from pageable memory, one set. */
static void near_ties_equal_the_cpu(gc_backend *b)
{
    const int64_t rows = 3000, set_rows = 600;
    const int D = 64;
    float *e = malloc((size_t)rows * D * sizeof *e), *set_e = malloc((size_t)set_rows * D * sizeof *set_e);
    float base[64];
    for (int t = 0; t < D; ++t) base[t] = (float)(uniform() * 2.0 - 1.0);
    for (int64_t i = 0; i < (rows + set_rows) * D; ++i) {
        float v = base[i % D];
        for (int k = rand() % 7; k > 0; --k) v = nextafterf(v, i % 2 ? INFINITY : -INFINITY);
        if (i < rows * D)
            e[i] = v;
        else
            set_e[i - rows * D] = v;
    }
    const int64_t one_group[2] = { 0, 1 }, whole_first[1] = { 0 }, whole_size[1] = { set_rows };
    gc_fl_sets whole = { 1, one_group, whole_first, whole_size, set_rows, set_e };
    const int differ = compare(b, e, rows, D, NULL, &whole);
    if (differ) fprintf(stderr, "near ties: %d slots differ\n", differ);
    CHECK(differ == 0);
    free(e);
    free(set_e);
}

/* Rows with an infinite or NaN value have no finite distance: −1 and +∞, as the twin writes (its
 * strict test never takes an infinite sum), through the GEMM path's exact fallback; and a set with
 * an infinite element, whose centre and operands are then not finite. */
static void rows_without_finite_distances_equal_the_cpu(gc_backend *b)
{
    const int64_t rows = 200, set_rows = 300;
    const int D = 48;
    float *e = malloc((size_t)rows * D * sizeof *e), *set_e = malloc((size_t)set_rows * D * sizeof *set_e);
    for (int64_t i = 0; i < rows * D; ++i) e[i] = (float)(uniform() * 2.0 - 1.0);
    for (int64_t i = 0; i < set_rows * D; ++i) set_e[i] = (float)(uniform() * 2.0 - 1.0);
    e[3 * D] = INFINITY, e[50 * D + 7] = -INFINITY, e[140 * D + 47] = NAN;
    const int64_t one_group[2] = { 0, 1 }, whole_first[1] = { 0 }, whole_size[1] = { set_rows };
    gc_fl_sets whole = { 1, one_group, whole_first, whole_size, set_rows, set_e };
    int differ = compare(b, e, rows, D, NULL, &whole);
    set_e[123 * D + 5] = INFINITY;
    differ += compare(b, e, rows, D, NULL, &whole);
    if (differ) fprintf(stderr, "rows without finite distances: %d slots differ\n", differ);
    CHECK(differ == 0);
    free(e);
    free(set_e);
}

/* Elements all at (nearly) the same distance from every row, so the exact sums decide among
 * distances a few units in the last place apart and the filter must keep every element its bound
 * cannot tell from the nearest: rows at the centre of a sphere of elements (pairs m ± u: the set's
 * mean is the rows' point, and the distances' spread is the rounding of ‖y − c‖² to float, which
 * the bound's 2⁻²³·max‖y − c‖² term covers), or at the centre of a hemisphere of them (far from the
 * set's mean, with large dot products: the split and the FP32 sums err by more than the distances
 * differ, which the bound's dot term covers). A bound without either term lets the nearest go
 * for some rows (bench/fl/filter_bound_model.py, a numpy model of the filter on such data: 368 and
 * 22 of 2,000). With one_lane, only the sphere's elements at 4·32·i + 0, …, 3 stay on it and the
 * others move four times as far: every candidate comes from the scan's first lane, which reads
 * those (a list a lane of a few would overflow). Rows a few units in the last place from the
 * centre, one set, the GEMM path on its own and forced in small tiles. */
static void equidistant_elements_equal_the_cpu(gc_backend *b, int hemisphere, int one_lane)
{
    const int64_t rows = 2000, set_rows = 600;
    const int D = 48;
    float *e = malloc((size_t)rows * D * sizeof *e), *set_e = malloc((size_t)set_rows * D * sizeof *set_e);
    double point[48], u[48];
    for (int t = 0; t < D; ++t) point[t] = uniform() * 2.0 - 1.0;
    for (int64_t j = 0; j < set_rows; ++j) {
        if (hemisphere || j % 2 == 0) { /* a new direction; the sphere's odd elements mirror it */
            double norm = 0.0;
            for (int t = 0; t < D; ++t) {
                u[t] = uniform() * 2.0 - 1.0;
                norm += u[t] * u[t];
            }
            for (int t = 0; t < D; ++t) u[t] /= sqrt(norm);
            if (hemisphere) u[0] = fabs(u[0]);
        }
        const double radius = one_lane && j / 4 % 32 != 0 ? 4.0 : 1.0;
        for (int t = 0; t < D; ++t)
            set_e[j * D + t] = (float)(point[t] + radius * (!hemisphere && j % 2 ? -u[t] : u[t]));
    }
    for (int64_t r = 0; r < rows; ++r)
        for (int t = 0; t < D; ++t) {
            float v = (float)point[t];
            for (int k = rand() % 4; k > 0; --k) v = nextafterf(v, (r + t) % 2 ? INFINITY : -INFINITY);
            e[r * D + t] = v;
        }
    const int64_t one_group[2] = { 0, 1 }, whole_first[1] = { 0 }, whole_size[1] = { set_rows };
    gc_fl_sets whole = { 1, one_group, whole_first, whole_size, set_rows, set_e };
    int differ = compare(b, e, rows, D, NULL, &whole);
    CHECK(gc_cuda_fl_assign_force_gemm(b, 1, 37) == GC_OK);
    differ += compare(b, e, rows, D, NULL, &whole);
    CHECK(gc_cuda_fl_assign_force_gemm(b, 0, 0) == GC_OK);
    if (differ)
        fprintf(stderr, "equidistant elements (hemisphere %d, one lane %d): %d slots differ\n", hemisphere, one_lane,
                differ);
    CHECK(differ == 0);
    free(e);
    free(set_e);
}

/* A whole selection where the safeguard samples (classes larger than S, partitions that can stand
 * alone) and the weights come from the assignment pass: the CPU's coreset (gains within 1e-7, as
 * test_fl_cuda.c allows the greedies; no duplicate rows, whose tie in the greedy rests on GEMM
 * rounding). */
static void selection_with_a_sampled_safeguard_equals_the_cpu(gc_backend *b, int per_class)
{
    const int64_t n = 12000;
    const int D = 10, classes = 3;
    float *e = malloc((size_t)n * D * sizeof *e), *loss = calloc((size_t)n, sizeof *loss);
    int32_t *y = malloc((size_t)n * sizeof *y);
    for (int64_t i = 0; i < n; ++i) {
        y[i] = (int32_t)(rand() % classes);
        for (int t = 0; t < D; ++t) e[i * D + t] = (float)(uniform() + (t == y[i] ? 2.0 : 0.0));
    }
    gc_local_rows rows = { MPI_COMM_WORLD, 0, 1, n, 0, n, D, classes, e, y, loss };
    gc_fl_options opt = {
        .per_class = per_class, .partition_size = 2000, .oversample = 8, .seed = 3, .safeguard_sample = 500
    };
    const gc_run_context on_cpu = { 0 }, on_gpu = { .backend = b };
    gc_coreset cpu, gpu;
    CHECK(gc_select_fl(&on_cpu, &rows, &opt, 60, &cpu) == GC_OK);
    const int rc = gc_select_fl(&on_gpu, &rows, &opt, 60, &gpu);
    if (rc != GC_OK) fprintf(stderr, "%s\n", gc_error_message());
    CHECK(rc == GC_OK && cpu.k == gpu.k);
    int differ = 0;
    for (int64_t t = 0; t < cpu.k && t < gpu.k; ++t) {
        differ += cpu.index[t] != gpu.index[t] || cpu.weight[t] != gpu.weight[t];
        CHECK_NEAR(gpu.gain[t], cpu.gain[t], 1e-7);
    }
    if (differ) fprintf(stderr, "selection per_class=%d: %d elements differ\n", per_class, differ);
    CHECK(differ == 0);
    CHECK(cpu.total_distance == gpu.total_distance); /* one rank: the same sum of the same bits */
    gc_coreset_destroy(&cpu);
    gc_coreset_destroy(&gpu);
    free(e);
    free(loss);
    free(y);
}

/* E on the device alone (docs/design.md §3.2): the radius pass reads it there with the CPU twin's
 * bits, and a whole selection given no host E (partitions gathered on the device, the sample and the
 * candidates read back) is the CPU's selection of the same rows. Width 70: three column chunks. */
static void device_alone_equals_the_cpu(gc_backend *b, gc_precision precision)
{
    const int64_t n = 9000;
    const int d = 70, classes = 3;
    float *x = malloc((size_t)n * d * sizeof *x), *e = malloc((size_t)n * d * sizeof *e);
    float *loss = malloc((size_t)n * sizeof *loss);
    int32_t *y = malloc((size_t)n * sizeof *y);
    double center[70];
    for (int64_t i = 0; i < n; ++i) {
        y[i] = (int32_t)(rand() % classes);
        for (int t = 0; t < d; ++t) x[i * d + t] = (float)(uniform() + (t == y[i] ? 2.0 : 0.0));
    }
    for (int t = 0; t < d; ++t) center[t] = uniform();
    b->precision = precision;
    gc_embed_config features = { .kind = GC_EMBED_FEATURES, .keep_on_device = 1 };
    CHECK(b->ops->embed(b, &features, n, d, x, y, e, loss) == GC_OK); /* the host's copy, rounded */
    double on_host = -1.0, on_device = -2.0;
    CHECK(gc_cuda_fl_radius(b, e, n, d, center, &on_device) == GC_OK); /* the mirror of e */
    CHECK(on_device == gc_cpu_fl_radius(e, n, d, center));
    CHECK(b->ops->embed(b, &features, n, d, x, y, NULL, loss) == GC_OK);
    CHECK(gc_cuda_resident(b, NULL, n, d).data != NULL);
    on_host = gc_cpu_fl_radius(e, n, d, center);
    CHECK(gc_cuda_fl_radius(b, NULL, n, d, center, &on_device) == GC_OK);
    if (on_host != on_device) fprintf(stderr, "radius: %.17g on the CPU, %.17g on the GPU\n", on_host, on_device);
    CHECK(on_host == on_device);
    gc_local_rows rows = { MPI_COMM_WORLD, 0, 1, n, 0, n, d, classes, e, y, loss }, alone = rows;
    alone.e = NULL;
    gc_fl_options opt = { .per_class = 1, .partition_size = 2000, .oversample = 8, .seed = 3, .safeguard_sample = 500 };
    const gc_run_context on_cpu = { 0 }, on_gpu = { .backend = b };
    gc_coreset cpu, gpu;
    CHECK(gc_select_fl(&on_cpu, &rows, &opt, 60, &cpu) == GC_OK);
    const int rc = gc_select_fl(&on_gpu, &alone, &opt, 60, &gpu);
    if (rc != GC_OK) fprintf(stderr, "%s\n", gc_error_message());
    CHECK(rc == GC_OK && cpu.k == gpu.k && cpu.c == gpu.c);
    int differ = 0;
    for (int64_t t = 0; t < cpu.k && t < gpu.k; ++t) {
        differ += cpu.index[t] != gpu.index[t] || cpu.weight[t] != gpu.weight[t] ||
                  memcmp(cpu.embedding + t * d, gpu.embedding + t * d, (size_t)d * sizeof(float)) != 0;
        CHECK_NEAR(gpu.gain[t], cpu.gain[t], 1e-7);
    }
    if (differ) fprintf(stderr, "device alone (precision %d): %d elements differ\n", (int)precision, differ);
    CHECK(differ == 0);
    CHECK(cpu.total_distance == gpu.total_distance);
    gc_coreset_destroy(&cpu);
    gc_coreset_destroy(&gpu);
    b->precision = GC_PRECISION_FP32;
    free(x);
    free(e);
    free(loss);
    free(y);
}

int main(int argc, char **argv)
{
    SKIP_WITHOUT_GPU();
    MPI_Init(&argc, &argv);
    gc_backend *b = NULL;
    if (gc_backend_cuda_create(0, &b) != GC_OK) {
        fprintf(stderr, "%s\n", gc_error_message());
        return 1;
    }
    srand(7);
    const int widths[] = { 1, 7, 32, 33, 70 };
    const int64_t set_sizes[] = { 4, 31, 97, 200 };
    for (int w = 0; w < 5; ++w)
        for (int s = 0; s < 4; ++s) op_equals_the_cpu_bit_for_bit(b, 3001, widths[w], set_sizes[s], 0, 0);
    op_equals_the_cpu_bit_for_bit(b, 5000, 16, 97, 333, 0); /* many batches through both slots */
    op_equals_the_cpu_bit_for_bit(b, 5000, 16, 97, 333, 1); /* from page-locked rows */
    op_equals_the_cpu_bit_for_bit(b, 1, 3, 4, 0, 0);
    /* Large sets at D ≥ 32 take the GEMM path on their own; then every set through it, in tiles of
     * 37 rows (several a group of a batch), ties and duplicates included. */
    op_equals_the_cpu_bit_for_bit(b, 4000, 70, 2000, 0, 0);
    op_equals_the_cpu_bit_for_bit(b, 4000, 33, 900, 777, 0);
    CHECK(gc_cuda_fl_assign_force_gemm(b, 1, 37) == GC_OK);
    for (int w = 0; w < 5; ++w)
        for (int s = 0; s < 4; ++s) op_equals_the_cpu_bit_for_bit(b, 3001, widths[w], set_sizes[s], 0, 0);
    op_equals_the_cpu_bit_for_bit(b, 5000, 16, 97, 333, 1);
    op_equals_the_cpu_bit_for_bit(b, 1, 3, 4, 0, 0);
    resident_rows_equal_the_cpu(b);
    CHECK(gc_cuda_fl_assign_force_gemm(b, 0, 0) == GC_OK);
    resident_rows_equal_the_cpu(b);
    selection_with_a_sampled_safeguard_equals_the_cpu(b, 1);
    selection_with_a_sampled_safeguard_equals_the_cpu(b, 0);
    device_alone_equals_the_cpu(b, GC_PRECISION_FP32);
    device_alone_equals_the_cpu(b, GC_PRECISION_BF16);
    CHECK(gc_cuda_fl_assign_force_gemm(b, 1, 0) == GC_OK); /* the GEMM path on kept rows of both widths */
    device_alone_equals_the_cpu(b, GC_PRECISION_FP32);
    device_alone_equals_the_cpu(b, GC_PRECISION_BF16);
    CHECK(gc_cuda_fl_assign_force_gemm(b, 0, 0) == GC_OK);
    for (int exact_sets = 1; exact_sets >= 0; --exact_sets) {
        narrow_rows_equal_the_cpu(b, GC_PRECISION_BF16, exact_sets);
        narrow_rows_equal_the_cpu(b, GC_PRECISION_FP16, exact_sets);
    }
    near_ties_equal_the_cpu(b);
    rows_without_finite_distances_equal_the_cpu(b);
    equidistant_elements_equal_the_cpu(b, 0, 0);
    equidistant_elements_equal_the_cpu(b, 1, 0);
    equidistant_elements_equal_the_cpu(b, 0, 1);
    gc_backend_destroy(b);
    MPI_Finalize();
    TEST_MAIN_END();
}
