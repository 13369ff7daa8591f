// The similarity block's product −2·E·Eᵀ at m = 40,000 and 4,096: one DSYRK (what fl_cuda.cu runs,
// cuBLAS pedantic math) against DSYRK in default math and against DSYRKs on diagonal panels plus one
// DGEMM a column panel for the rest of the lower triangle (column-major). Best of 5 and how many
// lower-triangle elements differ in their bits from the one-DSYRK block (counted on the device).
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <random>
#include <vector>

__global__ void count_diff(const double *a, const double *b, long long m, unsigned long long *out)
{
    unsigned long long mine = 0;
    for (long long x = blockIdx.x * (long long)blockDim.x + threadIdx.x; x < m * m; x += (long long)gridDim.x * blockDim.x) {
        long long j = x / m, i = x % m; // column j, row i
        if (i >= j && __double_as_longlong(a[x]) != __double_as_longlong(b[x])) ++mine;
    }
    atomicAdd(out, mine);
}

int main()
{
    for (int m : {40000, 4096}) {
        const int D = 128;
        std::vector<double> e((size_t)m * D);
        std::mt19937 rng(1);
        std::normal_distribution<float> nd;
        for (auto &v : e) v = (double)nd(rng);
        double *de, *ref, *c;
        unsigned long long *diff;
        cudaMalloc(&de, e.size() * 8);
        cudaMalloc(&ref, (size_t)m * m * 8);
        cudaMalloc(&c, (size_t)m * m * 8);
        cudaMalloc(&diff, 8);
        cudaMemcpy(de, e.data(), e.size() * 8, cudaMemcpyHostToDevice);
        cublasHandle_t h;
        cublasCreate(&h);
        const double alpha = -2.0, beta = 0.0;
        cudaEvent_t t0, t1;
        cudaEventCreate(&t0);
        cudaEventCreate(&t1);
        // variant: 0 syrk pedantic (reference), 1 syrk default math, P >= 2: P panels, pedantic
        for (int variant : {0, 1, 2, 4, 8}) {
            double *out = variant == 0 ? ref : c;
            cublasSetMathMode(h, variant == 1 ? CUBLAS_DEFAULT_MATH : CUBLAS_PEDANTIC_MATH);
            float best = 1e9;
            for (int rep = 0; rep < 5; ++rep) {
                cudaEventRecord(t0);
                if (variant < 2) {
                    cublasDsyrk(h, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_T, m, D, &alpha, de, D, &beta, out, m);
                } else {
                    const int P = variant, b = (m + P - 1) / P;
                    for (int k = 0; k < P; ++k) {
                        const int lo = k * b, w = lo + b <= m ? b : m - lo, below = m - lo - w;
                        double *diag = out + (size_t)lo * m + lo;
                        cublasDsyrk(h, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_T, w, D, &alpha, de + (size_t)lo * D, D, &beta,
                                    diag, m);
                        if (below > 0)
                            cublasDgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, below, w, D, &alpha, de + (size_t)(lo + w) * D, D,
                                        de + (size_t)lo * D, D, &beta, diag + w, m);
                    }
                }
                cudaEventRecord(t1);
                cudaEventSynchronize(t1);
                float ms;
                cudaEventElapsedTime(&ms, t0, t1);
                if (ms < best) best = ms;
            }
            unsigned long long differ = 0;
            if (variant != 0) {
                cudaMemset(diff, 0, 8);
                count_diff<<<1024, 256>>>(ref, c, m, diff);
                cudaMemcpy(&differ, diff, 8, cudaMemcpyDeviceToHost);
            }
            printf("m=%d D=%d %s: %.3f ms, %.1f TFLOP/s (m^2 D), lower-triangle bits differing from one DSYRK: %llu\n", m, D,
                   variant == 0 ? "syrk pedantic" : variant == 1 ? "syrk default-math" : variant == 2 ? "2 panels" : variant == 4 ? "4 panels" : "8 panels",
                   best, (double)m * m * D / best / 1e9, differ);
        }
        printf("cuda error: %s\n", cudaGetErrorString(cudaGetLastError()));
        cublasDestroy(h);
        cudaFree(de);
        cudaFree(ref);
        cudaFree(c);
        cudaFree(diff);
    }
    return 0;
}
