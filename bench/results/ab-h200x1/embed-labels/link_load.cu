// One-off probe (not built by CMake): the pinned H2D rate of 48 MiB copies issued round-robin on
// three streams, alone and with other work on the GPU at the same time (SGEMMs, a memory-bound
// copy kernel, tiny D2H copies, empty kernel launches), to see which load slows the link as
// bench_embed's loop does (52 GB/s of x + y there, 55.3 streamed alone).
// nvcc -O3 -arch=sm_90 link_load.cu -lcublas -o link_load
#include <cublas_v2.h>
#include <cstdio>
#include <ctime>
#include <thread>
#include <atomic>

static double now() { timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
__global__ void empty_kernel() {}
__global__ void copy_kernel(const float4 *a, float4 *b, size_t n) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) b[i] = a[i];
}

int main() {
  const size_t host_bytes = (size_t)4 << 30, chunk = (size_t)48 << 20, total = (size_t)20 << 30;
  char *host; cudaMallocHost(&host, host_bytes); memset(host, 1, host_bytes);
  char *dev; cudaMalloc(&dev, 3 * chunk);
  cudaStream_t s[3], w; for (auto &x : s) cudaStreamCreate(&x); cudaStreamCreate(&w);
  float *A, *C; const int n = 4096; cudaMalloc(&A, (size_t)n * n * 4); cudaMalloc(&C, (size_t)n * n * 4);
  cublasHandle_t h; cublasCreate(&h); cublasSetStream(h, w);
  float4 *ma, *mb; const size_t mn = (size_t)512 << 20; cudaMalloc(&ma, mn); cudaMalloc(&mb, mn);
  char *dsmall; cudaMalloc(&dsmall, 1 << 20); char *hsmall; cudaMallocHost(&hsmall, 1 << 20);
  const char *names[] = {"alone", "sgemm 4096 loop", "copy kernel 512 MB loop", "D2H 88 KB loop", "empty launches", "alone again"};
  for (int mode = 0; mode < 6; ++mode) {
    std::atomic<bool> stop(false);
    std::thread load([&] {
      const float one = 1, zero = 0;
      while (!stop) {
        if (mode == 1) cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, A, n, A, n, &zero, C, n);
        else if (mode == 2) copy_kernel<<<1024, 256, 0, w>>>(ma, mb, mn / 16);
        else if (mode == 3) cudaMemcpyAsync(hsmall, dsmall, 88 << 10, cudaMemcpyDeviceToHost, w);
        else if (mode == 4) empty_kernel<<<1, 32, 0, w>>>();
        else break;
        if (mode >= 3) std::this_thread::sleep_for(std::chrono::microseconds(mode == 3 ? 800 : 10));
        cudaStreamSynchronize(w);
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    double t0 = now();
    for (size_t at = 0, i = 0; at < total; at += chunk, ++i)
      cudaMemcpyAsync(dev + i % 3 * chunk, host + at % host_bytes, chunk, cudaMemcpyHostToDevice, s[i % 3]);
    for (auto &x : s) cudaStreamSynchronize(x);
    double t = now() - t0;
    stop = true; load.join(); cudaDeviceSynchronize();
    printf("%-26s %.2f GB/s\n", names[mode], total / t / 1e9);
  }
  return 0;
}
