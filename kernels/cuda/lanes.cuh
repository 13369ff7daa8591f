/* How a warp spreads over rows of D columns when it sums them column by column (the exact sums of
 * omp_cuda.cu and quality_cuda.cu). */
#ifndef GC_LANES_CUH
#define GC_LANES_CUH

/* Lanes per row: D's power-of-two ceiling, at most 32, so narrow rows keep every lane busy, the
 * warp then reading 32 / width rows at a time. */
__device__ __forceinline__ int gc_lanes_per_row(int D)
{
    int width = 1;
    while (width < D && width < 32) width *= 2;
    return width;
}

#endif
