// The exact assignment's GEMM tile (kernels/cuda/assign_cuda.cu, issue_gemm_sets): dots [ns × rows]
// = Yᵀ-as-stored · X, column-major, FP32 with no TF32 (pedantic math), at the tile shapes of the
// billion-row run (ns = 10,000 elements, rows = 6,710, D = 100) and of 16M rows (ns = 500, 1,600),
// timed with CUDA events (mean of 20 after 3 warm-ups); also D padded to a multiple of 32 with
// zeros, cuBLAS's default math, and TF32 (CUBLAS_COMPUTE_32F_FAST_TF32) as a reference ceiling.
// Build: nvcc -O3 -arch=sm_90 sgemm_shape.cu -lcublas -o sgemm_shape
#include <cublas_v2.h>
#include <cstdio>
#include <cuda_runtime.h>

static float time_gemm(cublasHandle_t h, int ns, int rows, int D, const float *y, const float *x, float *dots,
                       cublasComputeType_t compute)
{
    const float one = 1.0f, zero = 0.0f;
    cudaEvent_t a, b;
    cudaEventCreate(&a);
    cudaEventCreate(&b);
    for (int i = 0; i < 23; ++i) {
        if (i == 3) cudaEventRecord(a);
        cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, ns, rows, D, &one, y, CUDA_R_32F, D, x, CUDA_R_32F, D, &zero, dots,
                     CUDA_R_32F, ns, compute, CUBLAS_GEMM_DEFAULT);
    }
    cudaEventRecord(b);
    cudaEventSynchronize(b);
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    return ms / 20;
}

int main()
{
    const int shapes[][3] = { { 10000, 6710, 100 }, { 10000, 6710, 128 }, { 1600, 41943, 100 }, { 1600, 41943, 128 },
                              { 500, 134217, 128 }, { 160, 28000, 100 },  { 160, 28000, 128 } };
    cublasHandle_t h;
    cublasCreate(&h);
    float *y, *x, *dots;
    cudaMalloc(&y, (size_t)10000 * 128 * 4);
    cudaMalloc(&x, (size_t)134217 * 128 * 4);
    cudaMalloc(&dots, (size_t)268435456 + (size_t)500 * 134217 * 4);
    cudaMemset(y, 0, (size_t)10000 * 128 * 4);
    cudaMemset(x, 0, (size_t)134217 * 128 * 4);
    for (const auto &s : shapes) {
        const int ns = s[0], rows = s[1], D = s[2];
        const double flops = 2.0 * ns * rows * D, bytes = 4.0 * ns * rows;
        cublasSetMathMode(h, CUBLAS_PEDANTIC_MATH);
        float pedantic = time_gemm(h, ns, rows, D, y, x, dots, CUBLAS_COMPUTE_32F_PEDANTIC);
        cublasSetMathMode(h, CUBLAS_DEFAULT_MATH);
        float plain = time_gemm(h, ns, rows, D, y, x, dots, CUBLAS_COMPUTE_32F);
        float tf32 = time_gemm(h, ns, rows, D, y, x, dots, CUBLAS_COMPUTE_32F_FAST_TF32);
        printf("{\"ns\": %d, \"rows\": %d, \"D\": %d, \"pedantic_ms\": %.4f, \"pedantic_TFLOPps\": %.1f, "
               "\"pedantic_dots_GBps\": %.0f, \"default_ms\": %.4f, \"default_TFLOPps\": %.1f, \"tf32_ms\": %.4f, "
               "\"tf32_TFLOPps\": %.1f}\n",
               ns, rows, D, pedantic, flops / pedantic / 1e9, bytes / pedantic / 1e6, plain, flops / plain / 1e9, tf32,
               flops / tf32 / 1e9);
    }
    printf("{\"cuda_error\": \"%s\"}\n", cudaGetErrorString(cudaGetLastError()));
    return 0;
}
