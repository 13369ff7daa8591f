#include "stream_state.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "h5util.h"
#include "output_guard.h"

/* 2: batches recorded by their contents (/batches/{size, mtime_ns, sampled, content}). */
enum { STATE_FORMAT = 2 };

int gc_member_set_allocate(gc_member_set *s, int64_t n, int D)
{
    memset(s, 0, sizeof *s);
    s->n = n;
    s->D = D;
    const size_t rows = (size_t)(n > 0 ? n : 1);
    s->id = gc_calloc(rows, sizeof *s->id);
    s->label = gc_calloc(rows, sizeof *s->label);
    s->weight = gc_calloc(rows, sizeof *s->weight);
    s->gain = gc_calloc(rows, sizeof *s->gain);
    s->loss = gc_calloc(rows, sizeof *s->loss);
    s->slot = gc_calloc(rows, sizeof *s->slot);
    s->e = gc_calloc(rows * (size_t)(D > 0 ? D : 1), sizeof *s->e);
    if (!s->id || !s->label || !s->weight || !s->gain || !s->loss || !s->slot || !s->e)
        return gc_fail(GC_ERR_MEMORY, "out of memory for %lld stream members", (long long)n);
    return GC_OK;
}

void gc_member_set_destroy(gc_member_set *s)
{
    free(s->id);
    free(s->label);
    free(s->weight);
    free(s->gain);
    free(s->loss);
    free(s->slot);
    free(s->e);
    memset(s, 0, sizeof *s);
}

static int allocate_arrays(gc_stream_state *st)
{
    st->batch_rows = gc_calloc((size_t)(st->batches > 0 ? st->batches : 1), sizeof *st->batch_rows);
    st->batch_id = gc_calloc((size_t)(st->batches > 0 ? st->batches : 1), sizeof *st->batch_id);
    st->target = gc_calloc((size_t)st->D, sizeof *st->target);
    st->slot = gc_calloc((size_t)st->slots + 2, sizeof *st->slot);
    if (!st->batch_rows || !st->batch_id || !st->target || !st->slot)
        return gc_fail(GC_ERR_MEMORY, "out of memory for the stream state");
    return GC_OK;
}

int gc_stream_state_init(gc_stream_state *st, int d, int D, int classes)
{
    st->d = d;
    st->D = D;
    st->classes = classes;
    st->batch_paths = gc_calloc(1, 1);
    GC_CHECK_ALLOC(st->batch_paths);
    GC_TRY(allocate_arrays(st));
    GC_TRY(gc_member_set_allocate(&st->members, 0, D));
    return gc_member_set_allocate(&st->reservoir, 0, D);
}

void gc_stream_state_destroy(gc_stream_state *st)
{
    free(st->batch_rows);
    free(st->batch_id);
    free(st->batch_paths);
    free(st->target);
    free(st->slot);
    gc_member_set_destroy(&st->members);
    gc_member_set_destroy(&st->reservoir);
    memset(st, 0, sizeof *st);
}

/* ---- reading ---- */

static int read_all(hid_t file, const char *path, const char *name, hid_t memtype, int64_t elements, void *buf)
{
    if (!gc_h5_has(file, name)) return gc_fail(GC_ERR_INPUT, "--state %s: dataset %s is missing", path, name);
    hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
    if (d < 0) return gc_fail(GC_ERR_INPUT, "--state %s: %s is not a dataset", path, name);
    hid_t space = H5Dget_space(d);
    hssize_t got = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
    if (space >= 0) H5Sclose(space);
    int status = got == elements ? GC_OK
                                 : gc_fail(GC_ERR_INPUT, "--state %s: %s has %lld values, expected %lld", path, name,
                                           (long long)got, (long long)elements);
    if (status == GC_OK && elements > 0 && H5Dread(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        status = gc_h5_fail(d, name);
    H5Dclose(d);
    return status;
}

static int dataset_length(hid_t file, const char *path, const char *name, int64_t *n)
{
    if (!gc_h5_has(file, name)) return gc_fail(GC_ERR_INPUT, "--state %s: dataset %s is missing", path, name);
    hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
    if (d < 0) return gc_fail(GC_ERR_INPUT, "--state %s: %s is not a dataset", path, name);
    hid_t space = H5Dget_space(d);
    hsize_t dims[2] = { 0, 0 };
    int rank = space < 0 ? -1 : H5Sget_simple_extent_dims(space, dims, NULL);
    if (space >= 0) H5Sclose(space);
    H5Dclose(d);
    if (rank < 1) return gc_fail(GC_ERR_INPUT, "--state %s: %s is not an array", path, name);
    *n = (int64_t)dims[0];
    return GC_OK;
}

static int read_attr(hid_t root, const char *path, const char *name, long *value)
{
    int rc = gc_h5_read_attr_long(root, name, value);
    if (rc <= 0) return gc_fail(GC_ERR_INPUT, "--state %s: attribute %s is missing or unreadable", path, name);
    return GC_OK;
}

static int read_members(hid_t file, const char *path, const char *group, int with_weights, gc_member_set *s, int D)
{
    char name[64];
    int64_t n;
    snprintf(name, sizeof name, "/%s/id", group);
    GC_TRY(dataset_length(file, path, name, &n));
    GC_TRY(gc_member_set_allocate(s, n, D));
    GC_TRY(read_all(file, path, name, H5T_NATIVE_INT64, n, s->id));
    snprintf(name, sizeof name, "/%s/label", group);
    GC_TRY(read_all(file, path, name, H5T_NATIVE_INT32, n, s->label));
    snprintf(name, sizeof name, "/%s/%s", group, with_weights ? "weight" : "key");
    GC_TRY(read_all(file, path, name, H5T_NATIVE_DOUBLE, n, s->weight));
    snprintf(name, sizeof name, "/%s/embedding", group);
    GC_TRY(read_all(file, path, name, H5T_NATIVE_FLOAT, n * D, s->e));
    if (!with_weights) return GC_OK;
    snprintf(name, sizeof name, "/%s/gain", group);
    GC_TRY(read_all(file, path, name, H5T_NATIVE_DOUBLE, n, s->gain));
    snprintf(name, sizeof name, "/%s/loss", group);
    GC_TRY(read_all(file, path, name, H5T_NATIVE_FLOAT, n, s->loss));
    snprintf(name, sizeof name, "/%s/slot", group);
    return read_all(file, path, name, H5T_NATIVE_INT32, n, s->slot);
}

/* /batches/{size, mtime_ns, sampled, content}, one column of gc_file_fingerprint each. */
static int read_batch_ids(hid_t file, const char *path, gc_stream_state *st)
{
    static const char *names[4] = { "/batches/size", "/batches/mtime_ns", "/batches/sampled", "/batches/content" };
    const int64_t n = st->batches;
    uint64_t *column = gc_malloc((size_t)(n > 0 ? n : 1) * sizeof *column);
    GC_CHECK_ALLOC(column);
    int status = GC_OK;
    for (int c = 0; c < 4 && status == GC_OK; ++c) {
        status = read_all(file, path, names[c], H5T_NATIVE_UINT64, n, column);
        for (int64_t i = 0; i < n && status == GC_OK; ++i) {
            gc_file_fingerprint *id = &st->batch_id[i];
            if (c == 0) id->size = (int64_t)column[i];
            if (c == 1) id->mtime_ns = (int64_t)column[i];
            if (c == 2) id->sampled = column[i];
            if (c == 3) id->content = column[i];
        }
    }
    free(column);
    return status;
}

static int read_contents(gc_stream_state *st, hid_t file, const char *path, uint64_t fingerprint)
{
    hid_t root = H5Gopen2(file, "/", H5P_DEFAULT);
    GC_CHECK_H5(root, file, "cannot open /");
    long format = 0, fp = 0, v[10];
    static const char *names[10] = {
        "continual", "k", "slots", "d", "D", "C", "batches", "seen", "slot_count", "format"
    };
    int status = GC_OK;
    for (int i = 0; i < 10 && status == GC_OK; ++i) status = read_attr(root, path, names[i], &v[i]);
    if (status == GC_OK) status = read_attr(root, path, "fingerprint", &fp);
    /* The metrics too: a finished stream run again rewrites the same coreset file. */
    if (status == GC_OK && (gc_h5_read_attr_double(root, "gradient_error", &st->gradient_error) <= 0 ||
                            gc_h5_read_attr_double(root, "reservoir_error", &st->reservoir_error) <= 0))
        status = gc_fail(GC_ERR_INPUT, "--state %s: attribute gradient_error or reservoir_error is missing", path);
    H5Gclose(root);
    GC_TRY(status);
    format = v[9];
    if (format != STATE_FORMAT)
        return gc_fail(GC_ERR_INPUT, "--state %s: state format %ld, this gradcore reads %d", path, format,
                       STATE_FORMAT);
    if ((uint64_t)fp != fingerprint)
        return gc_fail(GC_ERR_USAGE,
                       "--state %s was made with other options (method, k, slots, model, embedding or seed): "
                       "continue it with the same options or start another state file",
                       path);
    st->fingerprint = fingerprint;
    st->continual = (int)v[0];
    st->k = v[1];
    st->slots = (int)v[2];
    st->d = (int)v[3];
    st->D = (int)v[4];
    st->classes = (int)v[5];
    st->batches = v[6];
    st->seen = v[7];
    st->slot_count = (int)v[8];
    if (st->D <= 0 || st->batches < 0 || st->slot_count < 0 || st->slot_count > st->slots + 1)
        return gc_fail(GC_ERR_INPUT, "--state %s: inconsistent attributes", path);
    GC_TRY(allocate_arrays(st));
    GC_TRY(read_all(file, path, "/batches/rows", H5T_NATIVE_INT64, st->batches, st->batch_rows));
    GC_TRY(read_batch_ids(file, path, st));
    int64_t bytes;
    GC_TRY(dataset_length(file, path, "/batches/paths", &bytes));
    st->batch_paths = gc_calloc((size_t)bytes + 1, 1);
    GC_CHECK_ALLOC(st->batch_paths);
    GC_TRY(read_all(file, path, "/batches/paths", H5T_NATIVE_UCHAR, bytes, st->batch_paths));
    GC_TRY(read_all(file, path, "/target", H5T_NATIVE_DOUBLE, st->D, st->target));
    GC_TRY(read_members(file, path, "members", 1, &st->members, st->D));
    GC_TRY(read_members(file, path, "reservoir", 0, &st->reservoir, st->D));
    int64_t beta[64], created[64];
    if (st->slot_count > 64) return gc_fail(GC_ERR_INPUT, "--state %s: too many slots", path);
    if (st->slot_count > 0) {
        GC_TRY(read_all(file, path, "/slots/beta", H5T_NATIVE_INT64, st->slot_count, beta));
        GC_TRY(read_all(file, path, "/slots/created", H5T_NATIVE_INT64, st->slot_count, created));
    }
    for (int i = 0; i < st->slot_count; ++i) st->slot[i] = (gc_slot_info){ .beta = beta[i], .created = created[i] };
    return GC_OK;
}

int gc_stream_state_read(gc_stream_state *st, const char *path, uint64_t fingerprint)
{
    memset(st, 0, sizeof *st);
    gc_h5_silence();
    hid_t file;
    GC_TRY(gc_h5_open_read(path, H5P_DEFAULT, &file));
    int status = read_contents(st, file, path, fingerprint);
    H5Fclose(file);
    return status;
}

/* ---- writing ---- */

static int write_1d(hid_t loc, const char *name, hid_t type, int64_t n, const void *data)
{
    hsize_t dims[1] = { (hsize_t)n };
    return gc_h5_write_dataset(loc, name, type, 1, dims, data);
}

static int write_members(hid_t file, const char *group, int with_weights, const gc_member_set *s)
{
    hid_t g = H5Gcreate2(file, group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    GC_CHECK_H5(g, file, "cannot create a group");
    hsize_t dims[2] = { (hsize_t)s->n, (hsize_t)s->D };
    int status = write_1d(g, "id", H5T_NATIVE_INT64, s->n, s->id);
    if (status == GC_OK) status = write_1d(g, "label", H5T_NATIVE_INT32, s->n, s->label);
    if (status == GC_OK) status = write_1d(g, with_weights ? "weight" : "key", H5T_NATIVE_DOUBLE, s->n, s->weight);
    if (status == GC_OK) status = gc_h5_write_dataset(g, "embedding", H5T_NATIVE_FLOAT, 2, dims, s->e);
    if (status == GC_OK && with_weights) status = write_1d(g, "gain", H5T_NATIVE_DOUBLE, s->n, s->gain);
    if (status == GC_OK && with_weights) status = write_1d(g, "loss", H5T_NATIVE_FLOAT, s->n, s->loss);
    if (status == GC_OK && with_weights) status = write_1d(g, "slot", H5T_NATIVE_INT32, s->n, s->slot);
    H5Gclose(g);
    return status;
}

static int write_batch_ids(hid_t g, const gc_stream_state *st)
{
    static const char *names[4] = { "size", "mtime_ns", "sampled", "content" };
    const int64_t n = st->batches;
    uint64_t *column = gc_malloc((size_t)(n > 0 ? n : 1) * sizeof *column);
    GC_CHECK_ALLOC(column);
    int status = GC_OK;
    for (int c = 0; c < 4 && status == GC_OK; ++c) {
        for (int64_t i = 0; i < n; ++i) {
            const gc_file_fingerprint *id = &st->batch_id[i];
            column[i] = c == 0   ? (uint64_t)id->size
                        : c == 1 ? (uint64_t)id->mtime_ns
                        : c == 2 ? id->sampled
                                 : id->content;
        }
        status = write_1d(g, names[c], c < 2 ? H5T_NATIVE_INT64 : H5T_NATIVE_UINT64, n, column);
    }
    free(column);
    return status;
}

static int write_contents(hid_t file, const gc_stream_state *st)
{
    hid_t root = H5Gopen2(file, "/", H5P_DEFAULT);
    GC_CHECK_H5(root, file, "cannot open /");
    const long attrs[11] = {
        STATE_FORMAT, (long)st->fingerprint, st->continual,     (long)st->k,    st->slots,     st->d,
        st->D,        st->classes,           (long)st->batches, (long)st->seen, st->slot_count
    };
    static const char *names[11] = { "format", "fingerprint", "continual", "k",    "slots",     "d",
                                     "D",      "C",           "batches",   "seen", "slot_count" };
    int status = GC_OK;
    for (int i = 0; i < 11 && status == GC_OK; ++i) status = gc_h5_write_attr_long(root, names[i], attrs[i]);
    if (status == GC_OK)
        status = gc_h5_write_attr_string(root, "mode", st->continual ? "continual GMC" : "merge-reduce");
    if (status == GC_OK) status = gc_h5_write_attr_double(root, "gradient_error", st->gradient_error);
    if (status == GC_OK) status = gc_h5_write_attr_double(root, "reservoir_error", st->reservoir_error);
    H5Gclose(root);
    GC_TRY(status);
    hid_t g = H5Gcreate2(file, "/batches", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    GC_CHECK_H5(g, file, "cannot create /batches");
    status = write_1d(g, "rows", H5T_NATIVE_INT64, st->batches, st->batch_rows);
    if (status == GC_OK)
        status = write_1d(g, "paths", H5T_NATIVE_UCHAR, (int64_t)strlen(st->batch_paths), st->batch_paths);
    if (status == GC_OK) status = write_batch_ids(g, st);
    H5Gclose(g);
    GC_TRY(status);
    GC_TRY(write_1d(file, "/target", H5T_NATIVE_DOUBLE, st->D, st->target));
    GC_TRY(write_members(file, "/members", 1, &st->members));
    GC_TRY(write_members(file, "/reservoir", 0, &st->reservoir));
    g = H5Gcreate2(file, "/slots", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    GC_CHECK_H5(g, file, "cannot create /slots");
    int64_t beta[66], created[66];
    for (int i = 0; i < st->slot_count; ++i) beta[i] = st->slot[i].beta, created[i] = st->slot[i].created;
    status = write_1d(g, "beta", H5T_NATIVE_INT64, st->slot_count, beta);
    if (status == GC_OK) status = write_1d(g, "created", H5T_NATIVE_INT64, st->slot_count, created);
    H5Gclose(g);
    return status;
}

/* fsync of the directory holding `path`, so the rename itself is durable. */
static int sync_directory(const char *path)
{
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int gc_stream_state_stage(const gc_stream_state *st, const char *path, char *tmp, size_t size)
{
    gc_temporary_name(path, tmp, size);
    hid_t file = gc_h5_create_in_memory(tmp);
    if (file < 0) return gc_commit_output("--state", tmp, path, gc_h5_fail_path(GC_ERR_IO, tmp, "cannot create"));
    int status = write_contents(file, st);
    if (status == GC_OK)
        status = gc_h5_save_in_memory(file, "--state", tmp); /* fsync'ed */
    else
        H5Fclose(file);
    return status == GC_OK ? GC_OK : gc_commit_output("--state", tmp, path, status); /* removes the temporary */
}

int gc_stream_state_commit(const char *tmp, const char *path)
{
    GC_TRY(gc_commit_output("--state", tmp, path, GC_OK));
    if (sync_directory(path) != 0)
        return gc_fail(GC_ERR_IO, "--state %s: cannot fsync its directory: %s", path, strerror(errno));
    return GC_OK;
}

int gc_stream_state_write(const gc_stream_state *st, const char *path)
{
    char tmp[4096];
    GC_TRY(gc_stream_state_stage(st, path, tmp, sizeof tmp));
    return gc_stream_state_commit(tmp, path);
}

int gc_stream_state_lock(gc_lock *lock, const char *path)
{
    char lock_path[4200];
    snprintf(lock_path, sizeof lock_path, "%s.lock", path);
    return gc_lock_acquire(lock, lock_path, "--state", path);
}

int64_t gc_stream_state_find_batch(const gc_stream_state *st, const gc_file_fingerprint *fp)
{
    for (int64_t i = 0; i < st->batches; ++i) {
        const gc_file_fingerprint *id = &st->batch_id[i];
        if (id->size != fp->size) continue;
        if (id->mtime_ns == fp->mtime_ns && id->sampled == fp->sampled) return i;
        if (fp->content != 0 && id->content == fp->content) return i;
    }
    return -1;
}

int gc_stream_state_add_batch(gc_stream_state *st, const char *path, int64_t rows, const gc_file_fingerprint *fp)
{
    size_t len = strlen(st->batch_paths), add = strlen(path);
    char *grown = gc_realloc(st->batch_paths, len + add + 2);
    GC_CHECK_ALLOC(grown);
    memcpy(grown + len, path, add);
    grown[len + add] = '\n';
    grown[len + add + 1] = '\0';
    st->batch_paths = grown;
    int64_t *more_rows = gc_realloc(st->batch_rows, (size_t)(st->batches + 1) * sizeof *more_rows);
    GC_CHECK_ALLOC(more_rows);
    st->batch_rows = more_rows;
    gc_file_fingerprint *more_ids = gc_realloc(st->batch_id, (size_t)(st->batches + 1) * sizeof *more_ids);
    GC_CHECK_ALLOC(more_ids);
    st->batch_id = more_ids;
    st->batch_rows[st->batches] = rows;
    st->batch_id[st->batches] = *fp;
    st->batches++;
    return GC_OK;
}
