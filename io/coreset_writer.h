/* The coreset file (docs/design.md §2): /coreset/{index,weight,label,gain,loss}, for CREST also
 * /crest/{batch_index,batch_weight[,subset_index]}, plus root attributes that make `h5dump`
 * enough to understand a result. Written by rank 0 to "<out>.tmp.<pid>" and renamed,
 * so a killed run never leaves a partial file and never touches an existing one. */
#ifndef GC_CORESET_WRITER_H
#define GC_CORESET_WRITER_H

#include "core/phases.h"
#include "coreset.h"

typedef struct {
    const char *command_line;
    const char *resolved_options; /* "name=value" lines */
    const char *method, *embedding, *selector;
    const char *devices;
    int64_t n;
    int ranks;
    uint64_t seed;
    double gradient_error, random_gradient_error;
    const gc_phases *timings; /* reduced over ranks */
} gc_provenance;

/* Rank 0 only. Checks before any work that the output path can be created. */
int gc_check_output_writable(const char *path);
int gc_write_coreset(const char *path, const gc_coreset *cs, const gc_provenance *prov);

/* "<path>.tmp.<pid>" in buf. */
void gc_temporary_name(const char *path, char *buf, size_t size);
/* Renames the temporary file over the final one, or removes it when status != GC_OK. */
int gc_commit_output(const char *tmp, const char *path, int status);

#endif
