/* BiCo on a CUDA device (docs/design.md §4): the Nyström feature map (nystrom_cuda.cu) and the scoring pass
 * and data summary (bico_cuda.cu), the gc_backend_ops nystrom_* and bico_* entries of the CUDA backend. CPU twins
 * and oracles: kernels/cpu/nystrom_cpu.c and kernels/cpu/bico_cpu.c. */
#ifndef GC_BICO_CUDA_H
#define GC_BICO_CUDA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "kernels/backend.h"
#include "rows.h"

/* Uploads landmarks [q × d], their squared norms and the projection [q × q'] (doubles). */
int gc_cuda_nystrom_attach(gc_backend *b, const gc_nystrom_map *map, gc_nystrom_device **out);
/* Per call: rows·d floats in, rows·q' doubles out over PCIe; two cublasDgemm, rows·q·(2d + 2q')
 * flops, and one kernel for the squared norms and the exponential (rows·q doubles read and written). */
int gc_cuda_nystrom_features(gc_backend *b, gc_nystrom_device *dev, int64_t rows, const float *x, double *z);
void gc_cuda_nystrom_detach(gc_backend *b, gc_nystrom_device *dev);
/* The same for `rows` rows (a multiple of map->block) of which [at, at + count) are the host rows x
 * (or with x NULL rows kept_first … of `kept`, the device's copy of E, read in place) and the others
 * zeros: the features of rows at … stay on the device, copied to `out` there. */
int gc_cuda_nystrom_features_to_device(gc_backend *b, gc_nystrom_device *dev, int64_t rows, const float *x,
                                       gc_cuda_rows kept, int64_t kept_first, int64_t at, int64_t count, double *out);

/* Keeps z [rows × q'] (rows first_row … of the global index) and y [rows] in device memory, z in
 * B-row blocks aligned to the global index (8·q' bytes a row, and at most 2·B rows of zeros);
 * z NULL: zeros, until gc_cuda_bico_features fills them. */
int gc_cuda_bico_attach(gc_backend *b, int64_t first_row, int64_t rows, int qp, int C, const double *z,
                        const int32_t *y, gc_bico_device **out);
/* The Nyström features of the rank's host rows x [rows × d] (x NULL: of the embeddings the last
 * embed call kept on the device alone, gc_cuda_resident, read there at their precision) computed
 * into the device copy, in the blocks of gc_nystrom_features (map->block rows aligned to the global
 * index, zeros around the rank's rows), 64 blocks a call: the same bits, with no host copy of Z. */
int gc_cuda_bico_features(gc_backend *b, gc_bico_device *dev, const gc_nystrom_map *map, const float *x);
/* out [count × q'] (host) ← the features of local rows first … */
int gc_cuda_bico_rows(gc_backend *b, gc_bico_device *dev, int64_t first, int64_t count, double *out);
/* out [count × q'] (host) ← the features of local rows local[0 … count), count ≤ 1,024: one gather on
 * the device and one copy. */
int gc_cuda_bico_rows_at(gc_backend *b, gc_bico_device *dev, int count, const int64_t *local, double *out);
/* The device address of local row 0's features (rows follow at q' doubles each). */
const double *gc_cuda_bico_z(gc_backend *b, gc_bico_device *dev);
/* max over rows of max(1, ‖z‖², ‖z‖), the squares summed in feature order without fused
 * multiply-adds: the bits of select_bico.c's loop over a host Z. */
int gc_cuda_bico_max_entry(gc_backend *b, gc_bico_device *dev, double *out);
/* Reads the blocks' rows·q' doubles (one cublasDgemm a block, 4·B·q'·C flops) and writes rows doubles
 * back to the host. */
int gc_cuda_bico_scores(gc_backend *b, gc_bico_device *dev, const double *theta, const double *v, double *scores);
int gc_cuda_bico_take(gc_backend *b, gc_bico_device *dev, int count, const int64_t *local);
int gc_cuda_bico_best(gc_backend *b, gc_bico_device *dev, const double *theta, const double *v, int want,
                      gc_omp_pair *best);
void gc_cuda_bico_detach(gc_backend *b, gc_bico_device *dev);

/* Per block: rows·q' doubles up over PCIe, one cublasDsyrk (rows·q'² flops) and one cublasDgemm
 * (2·rows·q'·C), and one pass of the n summary values into the device's int64 accumulators. */
int gc_cuda_bico_summary_attach(gc_backend *b, int qp, int C, int64_t max_rows, double scale,
                                gc_bico_summary_device **out);
int gc_cuda_bico_summary_add(gc_backend *b, gc_bico_summary_device *dev, int64_t rows, const double *z,
                             const int32_t *y, const double *v);
/* The blocks of the rank's own rows [first, first + count) in the scorer's copy of Z, read in place:
 * per block the kernels above, queued without waiting (collect waits). */
int gc_cuda_bico_summary_add_own(gc_backend *b, gc_bico_summary_device *dev, gc_bico_device *own, int64_t first,
                                 int64_t count);
int gc_cuda_bico_summary_collect(gc_backend *b, gc_bico_summary_device *dev, int64_t *acc);
void gc_cuda_bico_summary_detach(gc_backend *b, gc_bico_summary_device *dev);

#ifdef __cplusplus
}
#endif

#endif
