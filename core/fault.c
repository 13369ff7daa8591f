#define _GNU_SOURCE /* MADV_HUGEPAGE */
#include "fault.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

static const char *const kind_names[] = { "alloc", "mpi", "hdf5", "lapack", "cuda" };

/* The one piece of process-wide state besides the log level: a test hook, off unless the
 * environment asks for it. */
static struct {
    int ready, active, tracing;
    int kind, line, rank; /* the site (line > 0) or the count (line == 0: the nth call) */
    long nth;
    char file[128];
    long calls[5];
    int fired;
    char trace[4096];
    uint64_t seen[4096]; /* open-addressing set of traced sites */
} fault;

static int kind_of(const char *name, size_t len)
{
    for (int k = 0; k < 5; ++k)
        if (strlen(kind_names[k]) == len && strncmp(kind_names[k], name, len) == 0) return k;
    return -1;
}

static void setup(void)
{
    fault.ready = 1;
    fault.rank = -1;
    const char *spec = getenv("GRADCORE_FAULT"), *rank = getenv("GRADCORE_FAULT_RANK"),
               *trace = getenv("GRADCORE_FAULT_TRACE");
    if (trace != NULL && *trace) {
        snprintf(fault.trace, sizeof fault.trace, "%s", trace);
        fault.tracing = 1;
    }
    if (rank != NULL) fault.rank = atoi(rank);
    if (spec == NULL || *spec == '\0') return;
    const char *at = strchr(spec, '@'), *colon = strchr(spec, ':');
    if (at != NULL) { /* KIND@FILE:LINE */
        const char *sep = strrchr(at, ':');
        fault.kind = kind_of(spec, (size_t)(at - spec));
        if (sep == NULL || fault.kind < 0) return;
        snprintf(fault.file, sizeof fault.file, "%.*s", (int)(sep - at - 1), at + 1);
        fault.line = atoi(sep + 1);
        fault.active = fault.line > 0;
    } else if (colon != NULL) { /* KIND:N */
        fault.kind = kind_of(spec, (size_t)(colon - spec));
        fault.nth = atol(colon + 1);
        fault.active = fault.kind >= 0 && fault.nth > 0;
    }
}

static const char *base_name(const char *file)
{
    const char *slash = strrchr(file, '/');
    return slash ? slash + 1 : file;
}

static void record(gc_fault_kind kind, const char *file, int line)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *c = file; *c; ++c) h = (h ^ (unsigned char)*c) * 1099511628211ULL;
    h = ((h ^ (uint64_t)line) * 1099511628211ULL ^ (uint64_t)kind) | 1;
    for (size_t i = h % 4096, probes = 0; probes < 4096; i = (i + 1) % 4096, ++probes) {
        if (fault.seen[i] == h) return;
        if (fault.seen[i] == 0) {
            fault.seen[i] = h;
            char buf[256];
            int n = snprintf(buf, sizeof buf, "%s %s:%d\n", kind_names[kind], base_name(file), line);
            int fd = open(fault.trace, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                if (write(fd, buf, (size_t)n) != n) { /* a lost trace line only shortens the test */
                }
                close(fd);
            }
            return;
        }
    }
}

static int hit_locked(gc_fault_kind kind, const char *file, int line)
{
    if (!fault.ready) setup();
    if (fault.tracing) record(kind, file, line);
    if (!fault.active || fault.fired || (int)kind != fault.kind) return 0;
    if (fault.rank >= 0 && gc_log_rank() != fault.rank) return 0;
    int hit = fault.line > 0 ? fault.line == line && strcmp(fault.file, base_name(file)) == 0
                             : ++fault.calls[kind] == fault.nth;
    fault.fired = hit;
    return hit;
}

/* Serialised: OpenMP threads allocate and call LAPACK at once (OMP's refits, one problem a thread),
 * and the hook's counters and trace are shared. */
int gc_fault_hit(gc_fault_kind kind, const char *file, int line)
{
    int hit;
#pragma omp critical(gc_fault)
    hit = hit_locked(kind, file, line);
    return hit;
}

void *gc_malloc_at(size_t bytes, const char *file, int line)
{
    return gc_fault_hit(GC_FAULT_ALLOC, file, line) ? NULL : malloc(bytes);
}

void *gc_malloc_large_at(size_t bytes, const char *file, int line)
{
    const size_t huge = (size_t)2 << 20;
    if (gc_fault_hit(GC_FAULT_ALLOC, file, line)) return NULL;
    if (bytes < huge) return malloc(bytes ? bytes : 1);
    void *p = NULL;
    if (posix_memalign(&p, huge, bytes) != 0) return NULL;
    (void)madvise(p, bytes, MADV_HUGEPAGE); /* a hint: without THP the pages are only smaller */
    return p;
}

void *gc_calloc_at(size_t count, size_t size, const char *file, int line)
{
    return gc_fault_hit(GC_FAULT_ALLOC, file, line) ? NULL : calloc(count, size);
}

void *gc_realloc_at(void *p, size_t bytes, const char *file, int line)
{
    return gc_fault_hit(GC_FAULT_ALLOC, file, line) ? NULL : realloc(p, bytes);
}

char *gc_strdup_at(const char *s, const char *file, int line)
{
    return gc_fault_hit(GC_FAULT_ALLOC, file, line) ? NULL : strdup(s);
}
