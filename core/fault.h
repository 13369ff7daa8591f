/* Fault injection (SQLite's test_malloc faults, docs/design.md §10): every allocation and every
 * checked MPI, HDF5, LAPACK and CUDA call of gradcore passes through a hook that can make it fail,
 * so a test can fail each call site a run reaches, one run per site, and check that every failure
 * ends in one line, the right exit code, no output file, no hang and no leak.
 *
 * Environment (read once, on the first hook):
 *   GRADCORE_FAULT=KIND@FILE:LINE   the first call at that site fails (FILE: base name, e.g. dataset.c)
 *   GRADCORE_FAULT=KIND:N           the N-th call of that kind fails (1-based, counted per process)
 *   GRADCORE_FAULT_RANK=r           only on MPI rank r (default: every rank)
 *   GRADCORE_FAULT_TRACE=PATH       append "KIND FILE:LINE" for each distinct site reached (per process)
 * KIND is alloc, mpi, hdf5, lapack or cuda. Without these variables a hook costs one branch. */
#ifndef GC_FAULT_H
#define GC_FAULT_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { GC_FAULT_ALLOC = 0, GC_FAULT_MPI, GC_FAULT_HDF5, GC_FAULT_LAPACK, GC_FAULT_CUDA } gc_fault_kind;

/* 1 when this call (kind, at file:line) must fail; records the site when tracing. */
int gc_fault_hit(gc_fault_kind kind, const char *file, int line);

/* Allocation at a call site: NULL when injected (nothing is allocated then). */
void *gc_malloc_at(size_t bytes, const char *file, int line);
void *gc_calloc_at(size_t count, size_t size, const char *file, int line);
void *gc_realloc_at(void *p, size_t bytes, const char *file, int line);
char *gc_strdup_at(const char *s, const char *file, int line);
/* A large array filled once and read often (the rank's embeddings): aligned to 2 MiB and marked for
 * transparent huge pages, so filling tens of GB costs 512× fewer page faults; freed with free(). */
void *gc_malloc_large_at(size_t bytes, const char *file, int line);

/* A library status passed through the hook: `failed` replaces `ok_value` when injected. */
static inline long gc_fault_status(long status, long failed, gc_fault_kind kind, const char *file, int line)
{
    return gc_fault_hit(kind, file, line) ? failed : status;
}

#define gc_malloc(bytes)       gc_malloc_at((bytes), __FILE__, __LINE__)
#define gc_calloc(count, size) gc_calloc_at((count), (size), __FILE__, __LINE__)
#define gc_realloc(p, bytes)   gc_realloc_at((p), (bytes), __FILE__, __LINE__)
#define gc_strdup(s)           gc_strdup_at((s), __FILE__, __LINE__)
#define gc_malloc_large(bytes) gc_malloc_large_at((bytes), __FILE__, __LINE__)

#ifdef __cplusplus
}
#endif

#endif
