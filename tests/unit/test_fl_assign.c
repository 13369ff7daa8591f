/* The CPU twin of fl_assign (gc_cpu_fl_assign, the oracle of the CUDA pass) against integer
 * arithmetic: embeddings are small integers, so every squared distance is an exact integer and the
 * nearest element is decided without rounding; ties (duplicate rows, equal distances) go to the
 * first position of the set. Also: several sets a group, sets shared by groups and empty sets,
 * groups without sets or outside [0, groups), NULL groups, and the −1/+∞ padding of short groups.
 * And the backend's CPU pass (gc_backend_fl_assign without a device), which takes the rows in
 * pieces, writes what one call of the twin writes, bit for bit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "kernels/backend.h"
#include "kernels/cpu/cpu_kernels.h"

enum { D = 6, ROWS = 400, SET_ROWS = 60, GROUPS = 5 };

static float small_int(void) { return (float)(rand() % 7 - 3); }

/* Sets: group 0 has sets {0..9}, {10..29}; group 1 shares {10..29} and has {30..59}; group 2 has
 * one empty set; group 3 none; group 4 has {0..59}. */
static const int64_t group_set[GROUPS + 1] = { 0, 2, 4, 5, 5, 6 };
static const int64_t set_first[6] = { 0, 10, 10, 30, 0, 0 };
static const int64_t set_size[6] = { 10, 20, 20, 30, 0, 60 };

static void check_against_integers(const float *e, const int32_t *group, const gc_fl_sets *sets, int W)
{
    int64_t *nearest = malloc((size_t)ROWS * W * sizeof *nearest);
    double *distance = malloc((size_t)ROWS * W * sizeof *distance);
    gc_cpu_fl_assign(e, ROWS, D, group, sets, nearest, distance);
    for (int i = 0; i < ROWS; ++i) {
        const int g = group ? group[i] : 0, known = g >= 0 && g < GROUPS;
        const int64_t count = known ? group_set[g + 1] - group_set[g] : 0;
        for (int t = 0; t < W; ++t) {
            const int64_t at = (int64_t)i * W + t;
            if (t >= count || set_size[group_set[g] + t] == 0) {
                CHECK(nearest[at] == -1 && isinf(distance[at]));
                continue;
            }
            const int64_t s = group_set[g] + t;
            int64_t best = -1, best_sq = 0;
            for (int64_t j = 0; j < set_size[s]; ++j) {
                int64_t sq = 0;
                for (int c = 0; c < D; ++c) {
                    const int64_t d = (int64_t)e[i * D + c] - (int64_t)sets->e[(set_first[s] + j) * D + c];
                    sq += d * d;
                }
                if (best < 0 || sq < best_sq) best = j, best_sq = sq;
            }
            CHECK(nearest[at] == best);
            CHECK(distance[at] == sqrt((double)best_sq));
        }
    }
    free(nearest);
    free(distance);
}

static void nearest_elements_are_exact_with_ties_to_the_first(unsigned seed)
{
    srand(seed);
    float *e = malloc((size_t)ROWS * D * sizeof *e), set_e[SET_ROWS * D];
    int32_t *group = malloc((size_t)ROWS * sizeof *group);
    for (int i = 0; i < SET_ROWS * D; ++i) set_e[i] = small_int();
    for (int c = 0; c < D; ++c) set_e[17 * D + c] = set_e[12 * D + c]; /* a duplicate element */
    for (int i = 0; i < ROWS; ++i) {
        group[i] = rand() % (GROUPS + 2) - 1; /* −1 and GROUPS: no sets */
        for (int c = 0; c < D; ++c) e[i * D + c] = i % 4 == 0 ? set_e[(i % SET_ROWS) * D + c] : small_int();
    }
    gc_fl_sets sets = { GROUPS, group_set, set_first, set_size, SET_ROWS, set_e };
    CHECK(gc_fl_sets_width(&sets) == 2);
    check_against_integers(e, group, &sets, 2);
    check_against_integers(e, NULL, &sets, 2); /* every row in group 0 */
    free(e);
    free(group);
}

/* More rows than one piece holds, and a last piece that is not full. */
static void pieces_equal_one_call(void)
{
    const int64_t rows = ((int64_t)3 << 17) * 3 + 17;
    float *e = malloc((size_t)rows * D * sizeof *e), set_e[SET_ROWS * D];
    int32_t *group = malloc((size_t)rows * sizeof *group);
    int64_t *nearest = malloc((size_t)rows * 2 * sizeof *nearest), *pieced = malloc((size_t)rows * 2 * sizeof *pieced);
    double *distance = malloc((size_t)rows * 2 * sizeof *distance);
    double *pieced_distance = malloc((size_t)rows * 2 * sizeof *pieced_distance);
    CHECK(e && group && nearest && pieced && distance && pieced_distance);
    srand(9);
    for (int i = 0; i < SET_ROWS * D; ++i) set_e[i] = small_int();
    for (int64_t i = 0; i < rows; ++i) {
        group[i] = rand() % (GROUPS + 2) - 1;
        for (int c = 0; c < D; ++c) e[i * D + c] = small_int();
    }
    gc_fl_sets sets = { GROUPS, group_set, set_first, set_size, SET_ROWS, set_e };
    gc_cpu_fl_assign(e, rows, D, group, &sets, nearest, distance);
    CHECK(gc_backend_fl_assign(NULL, e, rows, D, group, &sets, pieced, pieced_distance, NULL) == GC_OK);
    CHECK(memcmp(nearest, pieced, (size_t)rows * 2 * sizeof *nearest) == 0);
    CHECK(memcmp(distance, pieced_distance, (size_t)rows * 2 * sizeof *distance) == 0);
    free(e);
    free(group);
    free(nearest);
    free(pieced);
    free(distance);
    free(pieced_distance);
}

int main(void)
{
    for (unsigned seed = 1; seed <= 4; ++seed) nearest_elements_are_exact_with_ties_to_the_first(seed);
    pieces_equal_one_call();
    TEST_MAIN_END();
}
