#include "fingerprint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "dataset.h"

enum { BLOCK_BYTES = 1 << 16, SAMPLED_BLOCKS = 64 };

static const uint64_t FNV_OFFSET = 0xcbf29ce484222325ULL;

uint64_t gc_hash_bytes(uint64_t h, const void *data, size_t bytes)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < bytes; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

/* A 64-bit hash of whole files at memory speed: four independent multiply-rotate lanes over 8-byte
 * words (FNV-1a's byte loop is ~1 GB/s), the tail and the lanes folded in by FNV-1a. */
typedef struct {
    uint64_t lane[4];
    uint64_t bytes;
} block_hash;

static uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static void block_hash_init(block_hash *b)
{
    for (int i = 0; i < 4; ++i) b->lane[i] = FNV_OFFSET + 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1);
    b->bytes = 0;
}

static void block_hash_add(block_hash *b, const unsigned char *p, size_t n)
{
    size_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int l = 0; l < 4; ++l) {
            uint64_t w;
            memcpy(&w, p + i + 8 * l, sizeof w);
            b->lane[l] = rotl(b->lane[l] ^ (w * 0x87c37b91114253d5ULL), 31) * 0x4cf5ad432745937fULL;
        }
    b->lane[0] = gc_hash_bytes(b->lane[0], p + i, n - i);
    b->bytes += n;
}

static uint64_t block_hash_end(const block_hash *b)
{
    uint64_t h = gc_hash_bytes(FNV_OFFSET, b->lane, sizeof b->lane);
    return gc_hash_bytes(h, &b->bytes, sizeof b->bytes);
}

/* Hash of the blocks at `offsets` (each BLOCK_BYTES or up to the end), or of every byte. */
static int hash_file(int fd, int64_t size, int every_byte, unsigned char *buf, uint64_t *out)
{
    block_hash b;
    block_hash_init(&b);
    const int64_t blocks = (size + BLOCK_BYTES - 1) / BLOCK_BYTES;
    const int64_t visits = every_byte || blocks <= SAMPLED_BLOCKS ? blocks : SAMPLED_BLOCKS;
    for (int64_t v = 0; v < visits; ++v) {
        /* Sampled: the first and last blocks and the rest evenly spaced between them. */
        const int64_t block = visits == blocks ? v : v * (blocks - 1) / (SAMPLED_BLOCKS - 1);
        const int64_t offset = block * BLOCK_BYTES;
        const size_t want = (size_t)(size - offset < BLOCK_BYTES ? size - offset : BLOCK_BYTES);
        size_t got = 0;
        while (got < want) {
            ssize_t n = pread(fd, buf + got, want - got, offset + (off_t)got);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return -1;
            got += (size_t)n;
        }
        block_hash_add(&b, (const unsigned char *)&offset, sizeof offset);
        block_hash_add(&b, buf, want);
    }
    *out = block_hash_end(&b);
    return 0;
}

int gc_fingerprint_file(const char *option, const char *path, int content, gc_file_fingerprint *fp)
{
    memset(fp, 0, sizeof *fp);
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int err = errno;
        if (fd >= 0) close(fd);
        return gc_fail(GC_ERR_INPUT, "%s %s: cannot read: %s", option, path, strerror(err));
    }
    fp->size = (int64_t)st.st_size;
    fp->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    unsigned char *buf = gc_malloc(BLOCK_BYTES);
    int rc = buf == NULL ? -2 : hash_file(fd, fp->size, 0, buf, &fp->sampled);
    if (rc == 0 && content) rc = hash_file(fd, fp->size, 1, buf, &fp->content);
    int err = errno;
    free(buf);
    close(fd);
    if (rc == -2) return gc_fail(GC_ERR_MEMORY, "out of memory hashing %s", path);
    if (rc != 0) return gc_fail(GC_ERR_INPUT, "%s %s: cannot read: %s", option, path, strerror(err ? err : EIO));
    /* 0 means "not computed" in fp->content. */
    if (content && fp->content == 0) fp->content = 1;
    return GC_OK;
}

uint64_t gc_fingerprint_inputs(uint64_t h, const gc_options *opts, const char *const *names, int content)
{
    /* Failures here are not the run's error: the command's own open reports them later. */
    const int had_message = gc_error_message()[0] != '\0';
    for (const char *const *name = names; *name != NULL; ++name) {
        const char *spec = gc_options_get(opts, *name);
        char **paths = NULL;
        int count = 0;
        if (spec == NULL) continue;
        if (gc_dataset_paths(*name, spec, &paths, &count) != GC_OK) {
            h = gc_hash_bytes(h, "unreadable", 10);
            continue;
        }
        for (int i = 0; i < count; ++i) {
            gc_file_fingerprint fp;
            if (gc_fingerprint_file(*name, paths[i], content, &fp) != GC_OK) {
                h = gc_hash_bytes(h, "unreadable", 10);
                continue;
            }
            const uint64_t key[3] = { (uint64_t)fp.size, content ? fp.content : (uint64_t)fp.mtime_ns,
                                      content ? 0 : fp.sampled };
            h = gc_hash_bytes(h, key, sizeof key);
        }
        gc_dataset_paths_free(paths, count);
    }
    if (!had_message) gc_error_clear();
    return h;
}
