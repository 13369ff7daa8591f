#include "dataset.h"

#include <glob.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/error.h"
#include "core/finite.h"
#include "h5util.h"

static int add_path(char ***paths, int *count, const char *path)
{
    char **grown = gc_realloc(*paths, (size_t)(*count + 1) * sizeof *grown);
    GC_CHECK_ALLOC(grown);
    *paths = grown;
    grown[*count] = gc_strdup(path);
    GC_CHECK_ALLOC(grown[*count]);
    ++*count;
    return GC_OK;
}

int gc_dataset_paths(const char *option, const char *spec, char ***paths, int *count)
{
    *paths = NULL;
    *count = 0;
    if (strncmp(spec, "synthetic:", 10) == 0) return GC_OK;
    char *copy = gc_strdup(spec);
    GC_CHECK_ALLOC(copy);
    int status = GC_OK;
    for (char *save = NULL, *item = strtok_r(copy, ",", &save); item && status == GC_OK;
         item = strtok_r(NULL, ",", &save)) {
        if (strpbrk(item, "*?[") == NULL) {
            status = add_path(paths, count, item);
            continue;
        }
        glob_t g;
        if (glob(item, 0, NULL, &g) != 0) {
            status = gc_fail(GC_ERR_INPUT, "--%s %s: no file matches", option, item);
            continue;
        }
        for (size_t i = 0; i < g.gl_pathc && status == GC_OK; ++i) status = add_path(paths, count, g.gl_pathv[i]);
        globfree(&g);
    }
    free(copy);
    if (status != GC_OK) {
        gc_dataset_paths_free(*paths, *count);
        *paths = NULL;
        *count = 0;
    }
    return status;
}

void gc_dataset_paths_free(char **paths, int count)
{
    for (int i = 0; i < count; ++i) free(paths[i]);
    free(paths);
}

/* The shards of the comma-separated list; an item with glob characters must match at least one file. */
static int expand_paths(gc_dataset *ds, const char *spec)
{
    char **paths;
    int count;
    GC_TRY(gc_dataset_paths("data", spec, &paths, &count));
    ds->shards = gc_calloc((size_t)(count > 0 ? count : 1), sizeof *ds->shards);
    int status = ds->shards ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory");
    for (int i = 0; i < count && status == GC_OK; ++i) {
        ds->shards[i].path = paths[i]; /* the shard owns it now */
        paths[i] = NULL;
        ds->shard_count++;
    }
    gc_dataset_paths_free(paths, count);
    if (status == GC_OK && ds->shard_count == 0) status = gc_fail(GC_ERR_USAGE, "--data is empty");
    return status;
}

/* Rank 0 only: shapes and dtypes of one shard. */
static int inspect_shard(gc_dataset *ds, gc_shard *shard, long *num_classes)
{
    hid_t file, x = -1, y = -1, ids = -1;
    hsize_t xdims[2], ydims[1], idims[1];
    GC_TRY(gc_h5_open_read(shard->path, H5P_DEFAULT, &file));
    int status = gc_h5_open_dataset(file, shard->path, "/X", 2, H5T_FLOAT, &x, xdims);
    if (status == GC_OK) status = gc_h5_open_dataset(file, shard->path, "/y", 1, H5T_INTEGER, &y, ydims);
    if (status == GC_OK && gc_h5_has(file, "/ids")) {
        status = gc_h5_open_dataset(file, shard->path, "/ids", 1, H5T_INTEGER, &ids, idims);
        if (status == GC_OK && idims[0] != xdims[0])
            status = gc_fail(GC_ERR_INPUT, "%s: /ids has %llu rows but /X has %llu", shard->path,
                             (unsigned long long)idims[0], (unsigned long long)xdims[0]);
        ds->has_ids = 1;
    }
    if (status == GC_OK && ydims[0] != xdims[0])
        status = gc_fail(GC_ERR_INPUT, "%s: /y has %llu rows but /X has %llu", shard->path,
                         (unsigned long long)ydims[0], (unsigned long long)xdims[0]);
    /* Widths are int throughout (kernels, MPI counts): a wider /X is refused, not truncated. */
    if (status == GC_OK && (xdims[1] == 0 || xdims[1] > INT_MAX))
        status = gc_fail(GC_ERR_INPUT, "%s: /X has %llu columns; gradcore takes 1 to %d", shard->path,
                         (unsigned long long)xdims[1], INT_MAX);
    if (status == GC_OK && xdims[0] > (hsize_t)INT64_MAX)
        status = gc_fail(GC_ERR_INPUT, "%s: /X has %llu rows, more than 2^63 - 1", shard->path,
                         (unsigned long long)xdims[0]);
    if (status == GC_OK && ds->d != 0 && (int)xdims[1] != ds->d)
        status = gc_fail(GC_ERR_INPUT, "%s: /X has %llu columns but earlier shards have %d", shard->path,
                         (unsigned long long)xdims[1], ds->d);
    if (status == GC_OK) {
        ds->d = (int)xdims[1];
        shard->rows = (int64_t)xdims[0];
        long c = 0;
        int found = gc_h5_read_attr_long(file, "num_classes", &c);
        if (found == 0) found = gc_h5_read_attr_long(y, "num_classes", &c);
        if (found < 0 || (found == 1 && c <= 0))
            status = gc_fail(GC_ERR_INPUT, "%s: attribute num_classes is not a positive integer", shard->path);
        else if (found == 1 && c > INT32_MAX) /* labels are int32 */
            status =
                gc_fail(GC_ERR_INPUT, "%s: attribute num_classes = %ld is larger than %d", shard->path, c, INT32_MAX);
        else if (found == 1 && *num_classes != 0 && c != *num_classes)
            status =
                gc_fail(GC_ERR_INPUT, "%s: num_classes = %ld but earlier shards say %ld", shard->path, c, *num_classes);
        else if (found == 1)
            *num_classes = c;
    }
    if (ids >= 0) H5Dclose(ids);
    if (y >= 0) H5Dclose(y);
    if (x >= 0) H5Dclose(x);
    H5Fclose(file);
    return status;
}

static int inspect_all(gc_dataset *ds, long *num_classes)
{
    int64_t first = 0;
    for (int i = 0; i < ds->shard_count; ++i) {
        GC_TRY(inspect_shard(ds, &ds->shards[i], num_classes));
        ds->shards[i].first_row = first;
        first += ds->shards[i].rows;
    }
    ds->n = first;
    return GC_OK;
}

int gc_dataset_open(gc_dataset *ds, const char *spec, MPI_Comm comm)
{
    memset(ds, 0, sizeof *ds);
    gc_h5_silence();
    if (strncmp(spec, "synthetic:", 10) == 0) {
        GC_TRY(gc_synthetic_parse(spec + 10, &ds->synthetic));
        ds->is_synthetic = 1;
        ds->n = ds->synthetic.n;
        ds->d = ds->synthetic.d;
        ds->num_classes = ds->synthetic.classes;
        return GC_OK;
    }
    int rank;
    MPI_Comm_rank(comm, &rank);
    int status = expand_paths(ds, spec);
    long num_classes = 0;
    if (status == GC_OK && rank == 0) status = inspect_all(ds, &num_classes);
    GC_TRY(gc_comm_agree(comm, status));
    int64_t meta[4] = { ds->n, ds->d, num_classes, ds->has_ids };
    GC_CHECK_MPI(MPI_Bcast(meta, 4, MPI_INT64_T, 0, comm));
    ds->n = meta[0];
    ds->d = (int)meta[1];
    ds->num_classes = (int)meta[2];
    ds->has_ids = (int)meta[3];
    for (int i = 0; i < ds->shard_count; ++i) {
        int64_t rows[2] = { ds->shards[i].rows, ds->shards[i].first_row };
        GC_CHECK_MPI(MPI_Bcast(rows, 2, MPI_INT64_T, 0, comm));
        ds->shards[i].rows = rows[0];
        ds->shards[i].first_row = rows[1];
    }
    return GC_OK;
}

void gc_dataset_close(gc_dataset *ds)
{
    for (int i = 0; i < ds->shard_count; ++i) free(ds->shards[i].path);
    free(ds->shards);
    memset(ds, 0, sizeof *ds);
}

static int check_x(const gc_dataset *ds, const gc_shard *shard, int64_t local_lo, int64_t count, const float *x)
{
    const int64_t values = count * ds->d, bad = gc_first_not_finite(x, values);
    if (bad == values) return GC_OK;
    return gc_fail(GC_ERR_INPUT, "%s: /X row %lld column %d is not finite (NaN or Inf)", shard->path,
                   (long long)(local_lo + bad / ds->d), (int)(bad % ds->d));
}

static int check_labels(const gc_dataset *ds, const gc_shard *shard, int64_t local_lo, int64_t count,
                        const int64_t *labels)
{
    for (int64_t r = 0; r < count; ++r) {
        int64_t c = labels[r];
        if (c < 0 || (ds->num_classes > 0 && c >= ds->num_classes) || c > INT32_MAX)
            return gc_fail(GC_ERR_INPUT, "%s: /y row %lld has label %lld outside [0, %d)", shard->path,
                           (long long)(local_lo + r), (long long)c, ds->num_classes > 0 ? ds->num_classes : INT32_MAX);
    }
    return GC_OK;
}

/* Global rows [lo, hi) of every array that is not NULL, shard by shard, checked. Every shard is
 * visited even after a local error: with a collective transfer the opens and reads are collective,
 * and a rank that stopped early would leave the others waiting. */
/* Collective: with parallel HDF5 every open and read below is a collective call, so a rank whose
 * step failed must not skip the next one its peers enter: each step's status is agreed first. */
static int read_shards(const gc_dataset *ds, MPI_Comm comm, hid_t fapl, hid_t dxpl, int64_t lo, int64_t hi, float *x,
                       int64_t *labels, int64_t *ids)
{
    int status = GC_OK, ranks = 1;
    GC_CHECK_MPI(MPI_Comm_size(comm, &ranks));
    for (int i = 0; i < ds->shard_count; ++i) {
        const gc_shard *s = &ds->shards[i];
        int64_t a = lo > s->first_row ? lo : s->first_row;
        int64_t b = hi < s->first_row + s->rows ? hi : s->first_row + s->rows;
        if (b < a) b = a;
        /* A batch's read touches only its own shards; a collective one opens every shard with all
         * ranks, since MPI-IO's open is collective. */
        if (b == a && ranks == 1) continue;
        int64_t la = a - s->first_row, lb = b - s->first_row, off = a - lo;
        hid_t file = H5Fopen(s->path, H5F_ACC_RDONLY, fapl);
        int local = gc_comm_agree(comm, file < 0 ? gc_fail(GC_ERR_INPUT, "%s: cannot open HDF5 file", s->path) : GC_OK);
        if (local == GC_OK && x != NULL)
            local = gc_comm_agree(comm,
                                  gc_h5_read_rows(file, "/X", H5T_NATIVE_FLOAT, la, lb, ds->d, x + off * ds->d, dxpl));
        if (local == GC_OK && labels != NULL)
            local = gc_comm_agree(comm, gc_h5_read_rows(file, "/y", H5T_NATIVE_INT64, la, lb, 0, labels + off, dxpl));
        if (local == GC_OK && ids != NULL && ds->has_ids)
            local = gc_comm_agree(comm, gc_h5_read_rows(file, "/ids", H5T_NATIVE_INT64, la, lb, 0, ids + off, dxpl));
        if (file >= 0) H5Fclose(file);
        if (local == GC_OK && x != NULL) local = check_x(ds, s, la, lb - la, x + off * ds->d);
        if (local == GC_OK && labels != NULL) local = check_labels(ds, s, la, lb - la, labels + off);
        if (status == GC_OK) status = local;
    }
    return status;
}

int gc_dataset_read(const gc_dataset *ds, MPI_Comm comm, int64_t lo, int64_t hi, float *x, int32_t *y, int64_t *ids)
{
    if (ds->is_synthetic) {
        gc_synthetic_rows(&ds->synthetic, lo, hi, x, y);
        if (ids != NULL)
            for (int64_t i = lo; i < hi; ++i) ids[i - lo] = i;
        return GC_OK;
    }
    hid_t fapl = gc_h5_file_access(comm), dxpl = gc_h5_transfer_plist();
    int64_t *labels = gc_malloc((size_t)(hi > lo ? hi - lo : 1) * sizeof *labels);
    int status = gc_comm_agree(comm, labels != NULL ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory reading labels"));
    if (status == GC_OK) status = read_shards(ds, comm, fapl, dxpl, lo, hi, x, labels, ids);
    if (status == GC_OK) {
        for (int64_t r = 0; r < hi - lo; ++r) {
            y[r] = (int32_t)labels[r];
            if (ids != NULL && !ds->has_ids) ids[r] = lo + r;
        }
    }
    free(labels);
    H5Pclose(dxpl);
    H5Pclose(fapl);
    return status;
}

int gc_dataset_read_x(const gc_dataset *ds, int64_t lo, int64_t hi, float *x)
{
    if (ds->is_synthetic) {
        gc_synthetic_rows(&ds->synthetic, lo, hi, x, NULL);
        return GC_OK;
    }
    return read_shards(ds, MPI_COMM_SELF, H5P_DEFAULT, H5P_DEFAULT, lo, hi, x, NULL, NULL); /* independent reads */
}

int gc_dataset_range_read(void *range, int64_t lo, int64_t n, float *x)
{
    const gc_dataset_range *r = range;
    return gc_dataset_read_x(r->ds, r->first + lo, r->first + lo + n, x);
}
