/* The coreset file (docs/design.md §2): /coreset/{index,weight,label,gain,loss}, for CREST also
 * /crest/{batch_index,batch_weight[,subset_index]}, plus root attributes that make `h5dump`
 * enough to understand a result. Written by rank 0 to "<out>.tmp.<pid>" and renamed,
 * so a killed run never leaves a partial file and never touches an existing one. */
#ifndef GC_CORESET_WRITER_H
#define GC_CORESET_WRITER_H

#include "core/phases.h"
#include "coreset.h"
#include "output_guard.h" /* gc_temporary_name, gc_commit_output */

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

/* Rank 0 only. */
int gc_write_coreset(const char *path, const gc_coreset *cs, const gc_provenance *prov);
/* The first half of gc_write_coreset, for a command that replaces several outputs together: the
 * finished file is left at its temporary name `tmp` (nothing left behind on failure); commit it
 * with gc_commit_output("--out", tmp, path, GC_OK), or remove it with a failed status. */
int gc_stage_coreset(const char *path, const gc_coreset *cs, const gc_provenance *prov, char *tmp, size_t size);

#endif
