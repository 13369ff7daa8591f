/* What a selector runs with besides its rows and options (docs/design.md §1): the rank's compute
 * backend, the restart state, and the phases its time is booked to. Made by the command (or the
 * library entry point) once per run; selectors never create devices or timers of their own. */
#ifndef GC_RUN_CONTEXT_H
#define GC_RUN_CONTEXT_H

#include "core/phases.h"
#include "io/checkpoint.h"
#include "kernels/backend.h"

typedef struct {
    gc_backend *backend;       /* NULL: the CPU twins (stream's merges on MPI_COMM_SELF) */
    gc_checkpoint *checkpoint; /* NULL: no restart state */
    gc_phases *phases;         /* NULL: not timed */
} gc_run_context;

#endif
