#include "greedy_fl_cpu.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "cpu_kernels.h"

static int compare_int64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

typedef struct {
    double bound;
    int64_t pos;
} heap_entry;

/* a before b: larger bound, then lower position. */
static int before(const heap_entry *a, const heap_entry *b)
{
    return a->bound > b->bound || (a->bound == b->bound && a->pos < b->pos);
}

static void sift_down(heap_entry *h, int64_t n, int64_t i)
{
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, top = i;
        if (l < n && before(&h[l], &h[top])) top = l;
        if (r < n && before(&h[r], &h[top])) top = r;
        if (top == i) return;
        heap_entry t = h[i];
        h[i] = h[top];
        h[top] = t;
        i = top;
    }
}

/* Marginal gain of column j given the current coverage cur: Σᵢ wᵢ max(0, s_ij - curᵢ). The block is
 * symmetric, so column j is row j (contiguous). The sum is taken over a fixed number of chunks
 * added in order, so its value never depends on how many threads ran (large blocks use them). */
enum { GAIN_CHUNKS = 16 };

static inline double positive(double x) { return x > 0.0 ? x : 0.0; }

static double gain_of(const double *S, const double *w, const double *cur, int64_t m, int64_t j)
{
    const double *col = S + j * m;
    double part[GAIN_CHUNKS];
#pragma omp parallel for schedule(static) if (m >= 16384)
    for (int c = 0; c < GAIN_CHUNKS; ++c) {
        /* Four accumulators in a fixed pattern let the compiler keep the loop branch-free and
         * vectorised without reassociating anything on its own; positive() rather than fmax,
         * which gcc leaves as a libm call (NaN semantics) in the hottest loop of the selector. */
        double a[4] = { 0.0, 0.0, 0.0, 0.0 };
        int64_t lo = c * m / GAIN_CHUNKS, hi = (c + 1) * m / GAIN_CHUNKS, i = lo;
        if (w == NULL) {
            for (; i + 4 <= hi; i += 4)
                for (int u = 0; u < 4; ++u) a[u] += positive(col[i + u] - cur[i + u]);
            for (; i < hi; ++i) a[0] += positive(col[i] - cur[i]);
        } else {
            for (; i + 4 <= hi; i += 4)
                for (int u = 0; u < 4; ++u) a[u] += w[i + u] * positive(col[i + u] - cur[i + u]);
            for (; i < hi; ++i) a[0] += w[i] * positive(col[i] - cur[i]);
        }
        double g = (a[0] + a[1]) + (a[2] + a[3]);
        part[c] = g;
    }
    double g = 0.0;
    for (int c = 0; c < GAIN_CHUNKS; ++c) g += part[c];
    return g;
}

static void cover(const double *S, double *cur, int64_t m, int64_t j)
{
    const double *col = S + j * m;
    for (int64_t i = 0; i < m; ++i)
        if (col[i] > cur[i]) cur[i] = col[i];
}

/* What a greedy run has chosen so far, and the objective it has reached. */
typedef struct {
    int64_t *selected;
    double *gains;
    int64_t *count;
    double objective, total_weight;
} greedy_trace;

/* Step `step` takes position j with gain g: record it, raise the coverage, and say whether a cover
 * target is now reached (the run then stops). */
static int take_step(const gc_fl_problem *p, const double *S, double *cur, greedy_trace *t, int64_t step, int64_t j,
                     double g)
{
    t->selected[step] = j;
    t->gains[step] = g;
    cover(S, cur, p->m, j);
    *t->count = step + 1;
    t->objective += g;
    return gc_cover_reached(p, t->total_weight, t->objective);
}

static int lazy_greedy(const gc_fl_problem *p, const double *S, double *cur, int64_t kappa, int64_t *selected,
                       double *gains, int64_t *count)
{
    const int64_t m = p->m;
    heap_entry *heap = gc_malloc((size_t)m * sizeof *heap);
    int64_t *fresh_at = gc_malloc((size_t)m * sizeof *fresh_at);
    if (heap == NULL || fresh_at == NULL) {
        free(heap);
        free(fresh_at);
        return gc_fail(GC_ERR_MEMORY, "out of memory for the greedy heap");
    }
    /* F(∅) = 0 since s >= 0: the first bounds are exact gains against cur = 0. */
#pragma omp parallel for schedule(static)
    for (int64_t j = 0; j < m; ++j) {
        heap[j].bound = gain_of(S, p->w, cur, m, j);
        heap[j].pos = j;
        fresh_at[j] = 0;
    }
    for (int64_t i = m / 2 - 1; i >= 0; --i) sift_down(heap, m, i);
    int64_t size = m;
    greedy_trace trace = { selected, gains, count, 0.0, gc_fl_total_weight(p) };
    *count = 0;
    for (int64_t step = 0; step < kappa; ++step) {
        /* Re-evaluate the top until its bound was computed in this step: then no other element
         * can beat it (bounds only shrink), and ties already favour lower positions. */
        while (fresh_at[heap[0].pos] != step) {
            heap[0].bound = gain_of(S, p->w, cur, m, heap[0].pos);
            fresh_at[heap[0].pos] = step;
            sift_down(heap, size, 0);
        }
        heap_entry top = heap[0];
        heap[0] = heap[--size];
        sift_down(heap, size, 0);
        if (take_step(p, S, cur, &trace, step, top.pos, top.bound)) break;
    }
    free(heap);
    free(fresh_at);
    return GC_OK;
}

static int stochastic_greedy(const gc_fl_problem *p, const double *S, double *cur, int64_t kappa, int64_t *selected,
                             double *gains, int64_t *count)
{
    const int64_t m = p->m;
    const int64_t sample = gc_stochastic_sample_size(m, kappa, p->stochastic_epsilon);
    int64_t *rest = gc_malloc((size_t)m * sizeof *rest);
    double *sample_gain = gc_malloc((size_t)(sample < m ? sample : m) * sizeof *sample_gain);
    if (rest == NULL || sample_gain == NULL) {
        free(rest);
        free(sample_gain);
        return gc_fail(GC_ERR_MEMORY, "out of memory for stochastic greedy");
    }
    for (int64_t j = 0; j < m; ++j) rest[j] = j;
    int64_t size = m;
    greedy_trace trace = { selected, gains, count, 0.0, gc_fl_total_weight(p) };
    *count = 0;
    for (int64_t step = 0; step < kappa; ++step) {
        int64_t s = sample < size ? sample : size;
        gc_stochastic_draw(rest, size, s, step, m, p->seed);
#pragma omp parallel for schedule(static)
        for (int64_t t = 0; t < s; ++t) sample_gain[t] = gain_of(S, p->w, cur, m, rest[t]);
        int64_t best = 0;
        for (int64_t t = 1; t < s; ++t)
            if (sample_gain[t] > sample_gain[best] || (sample_gain[t] == sample_gain[best] && rest[t] < rest[best]))
                best = t;
        int64_t j = rest[best];
        double g = sample_gain[best];
        rest[best] = rest[--size];
        if (take_step(p, S, cur, &trace, step, j, g)) break;
    }
    free(rest);
    free(sample_gain);
    return GC_OK;
}

int gc_fl_greedy_cpu(const gc_fl_problem *p, int64_t kappa, int64_t *selected, double *gains, double *coverage)
{
    const int64_t m = p->m;
    if (kappa > m) kappa = m;
    if (p->e == NULL && m > 0) return gc_fail(GC_ERR_USAGE, "facility location: the CPU holds no device rows");
    if (m > GC_FL_MAX_DENSE)
        return gc_fail(GC_ERR_INPUT,
                       "a facility-location block of %lld rows exceeds the dense limit "
                       "of %d: lower --partition-size or --oversample",
                       (long long)m, GC_FL_MAX_DENSE);
    double *S = gc_malloc((size_t)m * m * sizeof *S), *cur = gc_calloc((size_t)m, sizeof *cur);
    int status =
        (S && cur) ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory for a %lld-row similarity block", (long long)m);
    if (status == GC_OK) status = gc_cpu_similarity(p->e, m, p->e, m, p->D, p->c, S);
    int64_t count = 0;
    if (status == GC_OK && p->stochastic_epsilon > 0.0)
        status = stochastic_greedy(p, S, cur, kappa, selected, gains, &count);
    else if (status == GC_OK)
        status = lazy_greedy(p, S, cur, kappa, selected, gains, &count);
    for (int64_t t = count; t < kappa; ++t) selected[t] = -1; /* a cover target was reached early */
    kappa = count;
    if (status == GC_OK && coverage != NULL && kappa > 0) {
        /* Each point goes to its most similar selected element; strict '>' over positions in
         * ascending order keeps the lowest position on ties. */
        int64_t *order = gc_malloc((size_t)kappa * sizeof *order);
        status = order ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory");
        if (status == GC_OK) {
            memcpy(order, selected, (size_t)kappa * sizeof *order);
            qsort(order, (size_t)kappa, sizeof *order, compare_int64);
            /* Selected rows in ascending position, each read contiguously (S is symmetric); strict
             * '>' keeps the lowest position on ties. */
            double *best = gc_malloc((size_t)m * sizeof *best);
            int64_t *owner = gc_malloc((size_t)m * sizeof *owner);
            status = (best && owner) ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory");
            for (int64_t a = 0; a < kappa && status == GC_OK; ++a) {
                const double *row = S + order[a] * m;
#pragma omp parallel for schedule(static)
                for (int64_t i = 0; i < m; ++i)
                    if (a == 0 || row[i] > best[i]) best[i] = row[i], owner[i] = order[a];
            }
            if (status == GC_OK) {
                memset(coverage, 0, (size_t)m * sizeof *coverage);
                for (int64_t i = 0; i < m; ++i) coverage[owner[i]] += p->w ? p->w[i] : 1.0;
            }
            free(best);
            free(owner);
        }
        free(order);
    }
    free(S);
    free(cur);
    return status;
}
