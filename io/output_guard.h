/* No command writes over one of its inputs or over anything but a regular file (docs/design.md §6).
 * Before any work a command names its inputs and outputs by option; rank 0 then checks, in
 * this order, with one line naming both options and the file and nothing touched on failure:
 *   - every output against every input (data shards after glob expansion, model, embeddings, job
 *     file, batches, coreset, test data) by device and inode, so a relative path, a hard link, a
 *     symbolic link or a glob match is caught as surely as the same name (exit 2);
 *   - every output against every other output (an output that does not exist yet is identified by
 *     its directory's device and inode and its name) (exit 2);
 *   - an existing output that is not a regular file (a FIFO, a device such as /dev/null, a socket, a
 *     directory; for a directory output such as --checkpoint, anything but a directory) (exit 4);
 *   - every output location takes new files, by creating and removing "<path>.tmp.<pid>" (exit 4).
 * Then it removes stale temporaries: "<output>.tmp.<pid>" (and for a directory output any
 * "*.tmp.<pid>" inside) whose process is dead on this host and which nobody holds locked, left by a
 * killed run.
 *
 * Temporaries: gc_temporary_name registers "<path>.tmp.<pid>" and gc_commit_output renames or removes
 * it and forgets it; until then SIGTERM, SIGINT, SIGHUP and SIGXCPU (a batch system's time limit)
 * remove every registered temporary before the process dies of the signal. SIGKILL cannot be caught:
 * the next run's stale-temporary sweep removes what it left. */
#ifndef GC_OUTPUT_GUARD_H
#define GC_OUTPUT_GUARD_H

#include <stddef.h>

#include "core/options.h"

typedef enum {
    GC_GUARD_INPUT,      /* one file */
    GC_GUARD_INPUTS,     /* comma list and globs, as --data; synthetic:… names none */
    GC_GUARD_OUTPUT,     /* a file replaced atomically */
    GC_GUARD_OUTPUT_DIR, /* a directory the command creates and fills (--checkpoint) */
} gc_guard_role;

typedef struct {
    const char *option; /* long option name, without "--" */
    gc_guard_role role;
} gc_guard_option;

/* Rank 0, before the first phase: the checks above over the options `table` (ended by a NULL
 * option; unset options are skipped) and the job file (--config) as an input. */
int gc_guard_check(const gc_options *opts, const gc_guard_option *table);

/* Before writing a large output: the file system holding `path` has room for `bytes` (an output
 * error naming `option`, the need and the room otherwise), so a full disk is found before the work
 * of writing, not by HDF5 in the middle of it. */
int gc_check_free_space(const char *option, const char *path, double bytes);

/* "<path>.tmp.<pid>" in buf, registered for removal on a fatal signal. */
void gc_temporary_name(const char *path, char *buf, size_t size);
/* Renames the temporary file over the final one (status == GC_OK), or removes it; either way it is
 * no longer registered. `option` names the output in the message. */
int gc_commit_output(const char *option, const char *tmp, const char *path, int status);
/* Forgets a registered temporary that the caller has renamed or removed itself. */
void gc_temporary_forget(const char *tmp);

#endif
