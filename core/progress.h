/* Progress of a long phase on rank 0's stderr: a bar with rate and ETA, redrawn in place at most
 * 4 times a second when stderr is a terminal; otherwise a plain line every 10% or 10 s (batch logs
 * stay short). Silent under --quiet and on other ranks. */
#ifndef GC_PROGRESS_H
#define GC_PROGRESS_H

#include <stdint.h>

typedef struct {
    const char *what;
    const char *unit;
    int64_t total;
    double started, last_print;
    int last_decile;
    int enabled, terminal;
} gc_progress;

void gc_progress_begin(gc_progress *p, const char *what, const char *unit, int64_t total);
void gc_progress_update(gc_progress *p, int64_t done);
void gc_progress_end(gc_progress *p);

#endif
