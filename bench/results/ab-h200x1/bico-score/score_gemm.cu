// BiCo's scoring GEMM as kernels/cuda/bico_cuda.cu runs it (per block of B rows: uw [w × B] =
// A [w × q'] · z_blk [q' × B], column-major, z row-major [B × q']), against the same product
// transposed (uwᵀ [B × w] = z_blkᵀ · Aᵀ) and in cuBLAS's default math, at N = 16M rows: time per
// pass over all blocks (best of 5), the effective rate of reading z, and how many output values
// differ in their bits from the code's product. w = 2C (C = 10) or q' (the quadratic form, C = 100).
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <random>
#include <vector>

__global__ void fill(double *x, long long n, unsigned long long seed)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        unsigned long long h = (i + 1) * 0x9E3779B97F4A7C15ull ^ seed;
        h ^= h >> 31; h *= 0xBF58476D1CE4E5B9ull; h ^= h >> 29;
        x[i] = (double)(h >> 11) * (1.0 / 9007199254740992.0) - 0.5;
    }
}
// differ += #{(i, c): a[i + c·lda_a-major] != b[...]}: a is [w × B] column-major, b is [B × w] column-major.
__global__ void count_diff(const double *a, const double *b, long long B, int w, int transposed, unsigned long long *out)
{
    unsigned long long mine = 0;
    for (long long x = blockIdx.x * (long long)blockDim.x + threadIdx.x; x < B * w; x += (long long)gridDim.x * blockDim.x) {
        long long r = x / w, c = x % w;
        double u = a[r * w + c], v = transposed ? b[c * B + r] : b[r * w + c];
        if (__double_as_longlong(u) != __double_as_longlong(v)) ++mine;
    }
    atomicAdd(out, mine);
}

int main()
{
    const long long N = 16000000;
    const int qp = 134;
    cublasHandle_t h;
    cublasCreate(&h);
    double *z, *A, *ref, *out;
    unsigned long long *diff;
    cudaMalloc(&z, (size_t)N * qp * 8);
    fill<<<4096, 256>>>(z, N * qp, 1);
    cudaMalloc(&A, (size_t)qp * 2 * 100 * 8);
    fill<<<256, 256>>>(A, (long long)qp * 200, 2);
    cudaMalloc(&diff, 8);
    cudaEvent_t t0, t1;
    cudaEventCreate(&t0);
    cudaEventCreate(&t1);
    for (int w : {20, 134, 200}) {
        for (int B : {262144, 16384}) {
            cudaMalloc(&ref, (size_t)B * w * 8);
            cudaMalloc(&out, (size_t)B * w * 8);
            const long long blocks = N / B;
            const double one = 1.0, zero = 0.0;
            // variant 0: the code's (pedantic, uw = A·z); 1: default math; 2: transposed pedantic; 3: transposed default
            for (int variant = 0; variant < 4; ++variant) {
                cublasSetMathMode(h, variant % 2 ? CUBLAS_DEFAULT_MATH : CUBLAS_PEDANTIC_MATH);
                const bool tr = variant >= 2;
                float best = 1e9;
                for (int rep = 0; rep < 5; ++rep) {
                    cudaEventRecord(t0);
                    for (long long b = 0; b < blocks; ++b) {
                        const double *zb = z + (size_t)b * B * qp;
                        double *o = variant == 0 ? ref : out;
                        if (!tr)
                            cublasDgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, w, B, qp, &one, A, w, zb, qp, &zero, o, w);
                        else // o [B × w] column-major = zbᵀ [B × q'] · Aᵀ [q' × w]
                            cublasDgemm(h, CUBLAS_OP_T, CUBLAS_OP_T, B, w, qp, &one, zb, qp, A, w, &zero, o, B);
                    }
                    cudaEventRecord(t1);
                    cudaEventSynchronize(t1);
                    float ms;
                    cudaEventElapsedTime(&ms, t0, t1);
                    if (ms < best) best = ms;
                }
                unsigned long long differ = 0;
                if (variant) {
                    cudaMemset(diff, 0, 8);
                    count_diff<<<1024, 256>>>(ref, out, B, w, tr, diff);
                    cudaMemcpy(&differ, diff, 8, cudaMemcpyDeviceToHost);
                }
                const double gb = 8.0 * blocks * B * qp / 1e9, tf = 2.0 * blocks * B * qp * w / 1e12;
                printf("w=%3d B=%6d %-22s %8.3f ms a pass  z %6.0f GB/s  %5.1f TFLOP/s  bits differing from the code's (last block) %llu\n",
                       w, B, variant == 0 ? "code (pedantic)" : variant == 1 ? "default math" : variant == 2 ? "transposed pedantic" : "transposed default",
                       best, gb / best * 1e3, tf / best * 1e3, differ);
                fflush(stdout);
            }
            cudaFree(ref);
            cudaFree(out);
        }
    }
    printf("cuda error: %s\n", cudaGetErrorString(cudaGetLastError()));
    return 0;
}
