/* A minimal assertion kit for the C unit tests: each CHECK names the file, line and expression,
 * and main returns the number of failures (ctest treats non-zero as failure). */
#ifndef GC_TEST_CHECK_H
#define GC_TEST_CHECK_H

#include <math.h>
#include <stdio.h>

static int check_failures = 0;

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                                   \
            check_failures++;                                                                                          \
        }                                                                                                              \
    } while (0)

#define CHECK_NEAR(a, b, rel)                                                                                          \
    do {                                                                                                               \
        double check_a_ = (a), check_b_ = (b);                                                                         \
        if (!(fabs(check_a_ - check_b_) <= (rel)*fmax(1.0, fmax(fabs(check_a_), fabs(check_b_))))) {                   \
            fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s = %.17g, %s = %.17g\n", __FILE__, __LINE__, #a, check_a_,    \
                    #b, check_b_);                                                                                     \
            check_failures++;                                                                                          \
        }                                                                                                              \
    } while (0)

/* GPU tests: exit 77 (ctest's skip code) on a machine without a usable GPU (needs kernels/backend.h). */
#define SKIP_WITHOUT_GPU()                                                                                             \
    do {                                                                                                               \
        if (gc_backend_cuda_device_count() < 1) {                                                                      \
            fprintf(stderr, "no usable GPU: skipped\n");                                                               \
            return 77;                                                                                                 \
        }                                                                                                              \
    } while (0)

#define TEST_MAIN_END()                                                                                                \
    do {                                                                                                               \
        if (check_failures) fprintf(stderr, "%d check(s) failed\n", check_failures);                                   \
        return check_failures != 0;                                                                                    \
    } while (0)

#endif
