#include "checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/comm.h"
#include "core/error.h"
#include "output_guard.h"

enum { LOG_MAGIC = 0x6763636b }; /* "gcck" */

typedef struct {
    uint32_t magic;
    uint32_t pad;
    int64_t id;
    uint64_t bytes;
    uint64_t checksum; /* of id, bytes and the payload */
} record_header;

static uint64_t record_checksum(int64_t id, const void *payload, uint64_t bytes)
{
    uint64_t h = gc_hash_bytes(0xcbf29ce484222325ULL, &id, sizeof id);
    h = gc_hash_bytes(h, &bytes, sizeof bytes);
    return gc_hash_bytes(h, payload, bytes);
}

void gc_checkpoint_path(const gc_checkpoint *ck, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", ck->dir, name);
}

/* Rank 0: the manifest is "fingerprint ranks inputs\n"; a new one is written atomically. The lock
 * comes first, so two jobs never both find no manifest and both start. */
static int check_manifest(gc_checkpoint *ck)
{
    char path[4200], tmp[4300];
    if (mkdir(ck->dir, 0755) != 0 && errno != EEXIST)
        return gc_fail(GC_ERR_IO, "--checkpoint %s: cannot create the directory: %s", ck->dir, strerror(errno));
    gc_checkpoint_path(ck, "lock", path, sizeof path);
    GC_TRY(gc_lock_acquire(&ck->lock, path, "--checkpoint", ck->dir));
    gc_checkpoint_path(ck, "manifest", path, sizeof path);
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        unsigned long long fingerprint = 0, inputs = 0;
        int ranks = 0, ok = fscanf(f, "%llx %d %llx", &fingerprint, &ranks, &inputs) == 3;
        fclose(f);
        if (!ok || fingerprint != ck->fingerprint)
            return gc_fail(GC_ERR_USAGE,
                           "--checkpoint %s holds another run's state (different data or options): "
                           "remove it or choose another directory",
                           ck->dir);
        if (ranks != ck->size)
            return gc_fail(GC_ERR_USAGE, "--checkpoint %s was made with %d ranks: resume with %d ranks or remove it",
                           ck->dir, ranks, ranks);
        if (inputs != ck->inputs)
            return gc_fail(GC_ERR_USAGE,
                           "--checkpoint %s was made from other contents of the input files (a --data, --model or "
                           "--embeddings file changed since): remove it or choose another directory",
                           ck->dir);
        return GC_OK;
    }
    gc_temporary_name(path, tmp, sizeof tmp);
    f = fopen(tmp, "w");
    if (f == NULL)
        return gc_commit_output("--checkpoint", tmp, path,
                                gc_fail(GC_ERR_IO, "--checkpoint %s: cannot write: %s", ck->dir, strerror(errno)));
    fprintf(f, "%016llx %d %016llx\n", (unsigned long long)ck->fingerprint, ck->size, (unsigned long long)ck->inputs);
    int status = fclose(f) == 0
                     ? GC_OK
                     : gc_fail(GC_ERR_IO, "--checkpoint %s: cannot write the manifest: %s", ck->dir, strerror(errno));
    return gc_commit_output("--checkpoint", tmp, path, status);
}

int gc_checkpoint_open(gc_checkpoint *ck, const char *dir, uint64_t fingerprint, uint64_t inputs, int every,
                       MPI_Comm comm)
{
    memset(ck, 0, sizeof *ck);
    ck->log_fd = -1;
    ck->lock.fd = -1;
    ck->fingerprint = fingerprint;
    ck->inputs = inputs;
    ck->every = every > 0 ? every : 1;
    MPI_Comm_rank(comm, &ck->rank);
    MPI_Comm_size(comm, &ck->size);
    if (strlen(dir) >= sizeof ck->dir - 64) return gc_fail(GC_ERR_USAGE, "--checkpoint: path too long");
    snprintf(ck->dir, sizeof ck->dir, "%s", dir);
    const int status = gc_comm_agree(comm, ck->rank == 0 ? check_manifest(ck) : GC_OK);
    if (status != GC_OK) gc_lock_release(&ck->lock);
    return status;
}

void gc_checkpoint_close(gc_checkpoint *ck)
{
    if (ck->log_fd >= 0) {
        fsync(ck->log_fd);
        close(ck->log_fd);
    }
    ck->log_fd = -1;
    gc_lock_release(&ck->lock);
}

int gc_checkpoint_load(gc_checkpoint *ck, const char *log,
                       void (*use)(void *ctx, int64_t id, const void *payload, size_t bytes), void *ctx)
{
    char name[256], path[4400];
    snprintf(name, sizeof name, "%s-r%d.log", log, ck->rank);
    gc_checkpoint_path(ck, name, path, sizeof path);
    ck->log_fd = open(path, O_RDWR | O_CREAT, 0644);
    if (ck->log_fd < 0)
        return gc_fail(GC_ERR_IO, "--checkpoint %s: cannot open %s: %s", ck->dir, name, strerror(errno));
    off_t good = 0;
    for (;;) {
        record_header h;
        if (pread(ck->log_fd, &h, sizeof h, good) != (ssize_t)sizeof h || h.magic != LOG_MAGIC) break;
        void *payload = gc_malloc(h.bytes ? h.bytes : 1);
        if (payload == NULL) return gc_fail(GC_ERR_MEMORY, "out of memory reading the checkpoint");
        int intact = pread(ck->log_fd, payload, h.bytes, good + (off_t)sizeof h) == (ssize_t)h.bytes &&
                     record_checksum(h.id, payload, h.bytes) == h.checksum;
        if (intact) use(ctx, h.id, payload, h.bytes);
        free(payload);
        if (!intact) break;
        good += (off_t)(sizeof h + h.bytes);
    }
    /* Drop a torn tail so new records follow the last intact one. */
    if (ftruncate(ck->log_fd, good) != 0 || lseek(ck->log_fd, good, SEEK_SET) < 0)
        return gc_fail(GC_ERR_IO, "--checkpoint %s: cannot repair %s: %s", ck->dir, name, strerror(errno));
    return GC_OK;
}

int gc_checkpoint_append(gc_checkpoint *ck, int64_t id, const void *payload, size_t bytes)
{
    record_header h = { LOG_MAGIC, 0, id, bytes, record_checksum(id, payload, bytes) };
    if (write(ck->log_fd, &h, sizeof h) != (ssize_t)sizeof h || write(ck->log_fd, payload, bytes) != (ssize_t)bytes)
        return gc_fail(GC_ERR_IO, "--checkpoint %s: cannot append: %s", ck->dir, strerror(errno));
    if (++ck->pending >= ck->every) {
        fsync(ck->log_fd);
        ck->pending = 0;
    }
    return GC_OK;
}

uint64_t gc_options_fingerprint(const gc_options *opts, const char *const *ignored, size_t n_ignored)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const gc_option_spec *spec = opts->specs; spec->name != NULL; ++spec) {
        int skip = 0;
        for (size_t i = 0; i < n_ignored; ++i) skip |= strcmp(spec->name, ignored[i]) == 0;
        const char *v = gc_options_get(opts, spec->name);
        if (skip || v == NULL) continue;
        h = gc_hash_bytes(h, spec->name, strlen(spec->name) + 1);
        h = gc_hash_bytes(h, v, strlen(v) + 1);
    }
    return h;
}
