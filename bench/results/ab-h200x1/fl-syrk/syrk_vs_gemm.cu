// GEMM vs SYRK for the similarity block: time and whether the lower triangle's bits agree.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>
#include <random>
int main(int argc, char **argv)
{
    int m = 4096;
    for (int D : {100, 256, 128}) {
        std::vector<double> e((size_t)m * D);
        std::mt19937 rng(1);
        std::normal_distribution<float> nd;
        for (auto &v : e) v = (double)nd(rng);
        double *de, *c1, *c2;
        cudaMalloc(&de, e.size() * 8);
        cudaMalloc(&c1, (size_t)m * m * 8);
        cudaMalloc(&c2, (size_t)m * m * 8);
        cudaMemcpy(de, e.data(), e.size() * 8, cudaMemcpyHostToDevice);
        cublasHandle_t h;
        cublasCreate(&h);
        cublasSetMathMode(h, CUBLAS_PEDANTIC_MATH);
        const double alpha = -2.0, beta = 0.0;
        cudaEvent_t a, b;
        cudaEventCreate(&a);
        cudaEventCreate(&b);
        for (int mode = 0; mode < 3; ++mode) {
            if (mode == 2) cublasSetMathMode(h, CUBLAS_DEFAULT_MATH);
            float best_g = 1e9, best_s = 1e9;
            for (int rep = 0; rep < 20; ++rep) {
                cudaEventRecord(a);
                cublasDgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, m, m, D, &alpha, de, D, de, D, &beta, c1, m);
                cudaEventRecord(b);
                cudaEventSynchronize(b);
                float t;
                cudaEventElapsedTime(&t, a, b);
                if (t < best_g) best_g = t;
                cudaEventRecord(a);
                if (mode == 1)
                    cublasDsyrkx(h, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_T, m, D, &alpha, de, D, de, D, &beta, c2, m);
                else
                    cublasDsyrk(h, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_T, m, D, &alpha, de, D, &beta, c2, m);
                cudaEventRecord(b);
                cudaEventSynchronize(b);
                cudaEventElapsedTime(&t, a, b);
                if (t < best_s) best_s = t;
            }
            std::vector<double> h1((size_t)m * m), h2((size_t)m * m);
            cudaMemcpy(h1.data(), c1, h1.size() * 8, cudaMemcpyDeviceToHost);
            cudaMemcpy(h2.data(), c2, h2.size() * 8, cudaMemcpyDeviceToHost);
            long long diff = 0, asym = 0;
            for (int j = 0; j < m; ++j)      // column j (column-major)
                for (int i = j; i < m; ++i) { // lower: i >= j
                    if (memcmp(&h1[(size_t)j * m + i], &h2[(size_t)j * m + i], 8)) ++diff;
                    if (memcmp(&h1[(size_t)j * m + i], &h1[(size_t)i * m + j], 8)) ++asym;
                }
            printf("D=%d %s: gemm %.1f us, %s %.1f us, lower-triangle bits differing %lld, gemm asymmetric pairs %lld\n",
                   D, mode == 2 ? "default-math" : "pedantic", best_g * 1000, mode == 1 ? "syrkx" : "syrk", best_s * 1000,
                   diff, asym);
        }
        cublasDestroy(h);
        cudaFree(de);
        cudaFree(c1);
        cudaFree(c2);
    }
    return 0;
}
