/* Content fingerprints of input files, which bind state that lasts between jobs (the --checkpoint
 * directory, the stream state) to the inputs it was made from (docs/design.md §6, §9).
 *
 * The choice, and why: a checkpointed job may read terabytes, so hashing every byte of its inputs
 * on each start would cost as much as the job's own read. A file's *sampled* fingerprint is its size,
 * its modification time (ns) and a hash of sampled blocks: the first and last 64 KiB and 62 blocks
 * of 64 KiB evenly spaced between them (every byte of a file up to 4 MiB). Any rewrite changes the
 * mtime, so a checkpoint is never resumed over changed data; a `touch` only costs a recomputation.
 * A stream batch is recognised by its *contents* instead (a copy of a batch is the same batch, the
 * same path with new rows is a new one): by size and a hash of every byte. Its sampled fingerprint
 * is kept beside it so that a batch whose size, mtime and sampled blocks are unchanged is known
 * without reading it again. The hashes are 64-bit and not cryptographic: they detect change, they do
 * not defend against a forger. */
#ifndef GC_FINGERPRINT_H
#define GC_FINGERPRINT_H

#include <stddef.h>
#include <stdint.h>

#include "core/options.h"

typedef struct {
    int64_t size;
    int64_t mtime_ns;
    uint64_t sampled; /* hash of the size and the sampled blocks */
    uint64_t content; /* hash of the size and every byte; 0 until computed */
} gc_file_fingerprint;

/* FNV-1a, for small keys (option values, record checksums). */
uint64_t gc_hash_bytes(uint64_t h, const void *data, size_t bytes);

/* Size, mtime and the sampled hash of `path`; with `content` also the hash of every byte. The
 * message of a failure names `option` and the file. */
int gc_fingerprint_file(const char *option, const char *path, int content, gc_file_fingerprint *fp);

/* h extended by the fingerprints of every file named by the options `names` (NULL-ended; comma
 * lists and globs expanded as for --data; synthetic:… and unset options add nothing): the sampled
 * ones (size, mtime, sampled blocks), or with `content` the hashes of every byte (for small files
 * such as a model, so that a copy is the same input). A file that cannot be read adds a fixed
 * marker: the command's own open reports it. */
uint64_t gc_fingerprint_inputs(uint64_t h, const gc_options *opts, const char *const *names, int content);

#endif
