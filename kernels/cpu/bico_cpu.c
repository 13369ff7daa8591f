#include "bico_cpu.h"

/* Classes whose two dot products share one sweep over z. */
#define CLASS_CHUNK 8

double gc_cpu_bico_score(const double *z, int32_t y, int qp, int C, const double *theta, const double *v)
{
    double s = 0.0;
    for (int c0 = 0; c0 < C; c0 += CLASS_CHUNK) {
        const int n = C - c0 < CLASS_CHUNK ? C - c0 : CLASS_CHUNK;
        double u[CLASS_CHUNK] = { 0.0 }, w[CLASS_CHUNK] = { 0.0 };
        if (n == CLASS_CHUNK) /* a constant trip count: the compiler vectorises across classes */
            for (int j = 0; j < qp; ++j) {
                const double zj = z[j], *th = theta + (int64_t)j * C + c0, *vj = v + (int64_t)j * C + c0;
                for (int t = 0; t < CLASS_CHUNK; ++t) {
                    u[t] += zj * th[t];
                    w[t] += zj * vj[t];
                }
            }
        else
            for (int j = 0; j < qp; ++j) {
                const double zj = z[j];
                for (int t = 0; t < n; ++t) {
                    u[t] += zj * theta[(int64_t)j * C + c0 + t];
                    w[t] += zj * v[(int64_t)j * C + c0 + t];
                }
            }
        for (int t = 0; t < n; ++t) s += (u[t] - (c0 + t == y)) * w[t];
    }
    return 2.0 * s;
}

void gc_cpu_bico_scores(const double *z, const int32_t *y, int64_t rows, int qp, int C, const double *theta,
                        const double *v, double *scores)
{
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < rows; ++i) scores[i] = gc_cpu_bico_score(z + i * qp, y[i], qp, C, theta, v);
}
