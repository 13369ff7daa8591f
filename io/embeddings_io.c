#include "embeddings_io.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/comm.h"
#include "core/error.h"
#include "core/finite.h"
#include "h5util.h"
#include "output_guard.h"

/* Rows move in pieces of about 256 MiB of /E: MPI-IO implementations and older HDF5 releases
 * mishandle single transfers of 2 GiB or more per rank. */
static const int64_t PIECE_BYTES = (int64_t)1 << 28;

static int64_t rows_per_piece(int D)
{
    int64_t rows = PIECE_BYTES / ((int64_t)D * (int64_t)sizeof(float));
    return rows > 0 ? rows : 1;
}

/* Number of pieces every rank must take part in: with collective transfers a rank whose range is
 * short or empty still joins each call with an empty selection. */
static int pieces(MPI_Comm comm, int collective, int64_t count, int D, int64_t *out)
{
    int64_t rp = rows_per_piece(D);
    *out = (count + rp - 1) / rp;
    if (collective) GC_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, out, 1, MPI_INT64_T, MPI_MAX, comm));
    return GC_OK;
}

static int inspect(const char *path, int64_t meta[3])
{
    hid_t file, e = -1, y = -1, loss = -1;
    hsize_t edims[2], ydims[1], ldims[1];
    GC_TRY(gc_h5_open_read(path, H5P_DEFAULT, &file));
    int status = gc_h5_open_dataset(file, path, "/E", 2, H5T_FLOAT, &e, edims);
    if (status == GC_OK) status = gc_h5_open_dataset(file, path, "/y", 1, H5T_INTEGER, &y, ydims);
    if (status == GC_OK && gc_h5_has(file, "/loss")) {
        status = gc_h5_open_dataset(file, path, "/loss", 1, H5T_FLOAT, &loss, ldims);
        if (status == GC_OK && ldims[0] != edims[0])
            status = gc_fail(GC_ERR_INPUT, "%s: /loss has %llu rows but /E has %llu", path,
                             (unsigned long long)ldims[0], (unsigned long long)edims[0]);
    }
    if (status == GC_OK && ydims[0] != edims[0])
        status = gc_fail(GC_ERR_INPUT, "%s: /y has %llu rows but /E has %llu", path, (unsigned long long)ydims[0],
                         (unsigned long long)edims[0]);
    if (status == GC_OK && (edims[1] == 0 || edims[1] > INT_MAX / 4))
        status = gc_fail(GC_ERR_INPUT, "%s: /E has %llu columns", path, (unsigned long long)edims[1]);
    if (status == GC_OK) {
        meta[0] = (int64_t)edims[0];
        meta[1] = (int64_t)edims[1];
        meta[2] = loss >= 0;
    }
    if (loss >= 0) H5Dclose(loss);
    if (y >= 0) H5Dclose(y);
    if (e >= 0) H5Dclose(e);
    H5Fclose(file);
    return status;
}

int gc_embeddings_open(const char *path, MPI_Comm comm, int64_t *n, int *D, int *has_loss)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    gc_h5_silence();
    int64_t meta[3] = { 0, 0, 0 };
    GC_TRY(gc_comm_agree(comm, rank == 0 ? inspect(path, meta) : GC_OK));
    GC_CHECK_MPI(MPI_Bcast(meta, 3, MPI_INT64_T, 0, comm));
    *n = meta[0];
    *D = (int)meta[1];
    *has_loss = (int)meta[2];
    return GC_OK;
}

/* Rows [lo, lo + count) of /E as read: every value finite. */
static int check_finite(const char *path, int64_t lo, int64_t count, int D, const float *e)
{
    const int64_t bad = gc_first_not_finite(e, count * D);
    if (bad == count * D) return GC_OK;
    return gc_fail(GC_ERR_INPUT, "%s: /E row %lld column %d is not finite (NaN or Inf)", path,
                   (long long)(lo + bad / D), (int)(bad % D));
}

static int check_labels(const char *path, int64_t lo, int64_t count, const int64_t *labels)
{
    for (int64_t r = 0; r < count; ++r)
        if (labels[r] < 0 || labels[r] > INT32_MAX)
            return gc_fail(GC_ERR_INPUT, "%s: /y row %lld has label %lld, not a class id", path, (long long)(lo + r),
                           (long long)labels[r]);
    return GC_OK;
}

int gc_embeddings_read(const char *path, MPI_Comm comm, int64_t lo, int64_t hi, int D, int has_loss, float *e,
                       int32_t *y, float *loss)
{
    hid_t fapl = gc_h5_file_access(comm), dxpl = gc_h5_transfer_plist();
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    int status = file < 0 ? gc_fail(GC_ERR_INPUT, "%s: cannot open HDF5 file", path) : GC_OK;
    status = gc_comm_agree(comm, status);
    int64_t *labels = gc_malloc((size_t)(hi > lo ? hi - lo : 1) * sizeof *labels);
    if (status == GC_OK && labels == NULL) status = gc_fail(GC_ERR_MEMORY, "out of memory reading %s", path);
    status = gc_comm_agree(comm, status);
    int64_t count = 0, rp = rows_per_piece(D);
    if (status == GC_OK) status = pieces(comm, 1, hi - lo, D, &count);
    /* After a local failure a rank keeps joining the collective reads, so no peer waits on it. */
    for (int64_t p = 0; p < count; ++p) {
        int64_t a = lo + p * rp < hi ? lo + p * rp : hi, b = a + rp < hi ? a + rp : hi, off = a - lo;
        int local = e != NULL ? gc_h5_read_rows(file, "/E", H5T_NATIVE_FLOAT, a, b, D, e + off * D, dxpl) : GC_OK;
        if (local == GC_OK) local = gc_h5_read_rows(file, "/y", H5T_NATIVE_INT64, a, b, 0, labels + off, dxpl);
        if (local == GC_OK && has_loss)
            local = gc_h5_read_rows(file, "/loss", H5T_NATIVE_FLOAT, a, b, 0, loss + off, dxpl);
        if (local == GC_OK && e != NULL) local = check_finite(path, a, b - a, D, e + off * D);
        if (local == GC_OK) local = check_labels(path, a, b - a, labels + off);
        if (status == GC_OK) status = local;
    }
    if (status == GC_OK)
        for (int64_t r = 0; r < hi - lo; ++r) {
            y[r] = (int32_t)labels[r];
            if (!has_loss) loss[r] = 0.0f;
        }
    free(labels);
    if (file >= 0) H5Fclose(file);
    H5Pclose(dxpl);
    return status;
}

int gc_embeddings_range_open(gc_embeddings_range *r, const char *path, int64_t first, int D)
{
    *r = (gc_embeddings_range){ .path = path, .first = first, .D = D, .file = -1 };
    return gc_h5_open_read(path, H5P_DEFAULT, &r->file);
}

int gc_embeddings_range_read(void *range, int64_t lo, int64_t n, float *e)
{
    const gc_embeddings_range *r = range;
    const int64_t rp = rows_per_piece(r->D);
    for (int64_t a = 0; a < n; a += rp) {
        const int64_t b = a + rp < n ? a + rp : n, first = r->first + lo + a;
        float *rows = e + a * r->D;
        GC_TRY(gc_h5_read_rows(r->file, "/E", H5T_NATIVE_FLOAT, first, first + (b - a), r->D, rows, H5P_DEFAULT));
        GC_TRY(check_finite(r->path, first, b - a, r->D, rows));
    }
    return GC_OK;
}

void gc_embeddings_range_close(gc_embeddings_range *r)
{
    if (r->file >= 0) H5Fclose(r->file);
    r->file = -1;
}

/* /E [n × D], /y [n], /loss [n]; space is never pre-filled: every row gets written. */
static int create_datasets(hid_t file, int64_t n, int D)
{
    static const char *names[] = { "E", "y", "loss" };
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
    int status = GC_OK;
    for (int i = 0; i < 3 && status == GC_OK; ++i) {
        hsize_t dims[2] = { (hsize_t)n, (hsize_t)D };
        hid_t space = H5Screate_simple(i == 0 ? 2 : 1, dims, NULL);
        hid_t d =
            H5Dcreate2(file, names[i], i == 1 ? H5T_STD_I32LE : H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        if (d < 0)
            status = gc_h5_fail(file, "cannot create a dataset");
        else
            H5Dclose(d);
        H5Sclose(space);
    }
    H5Pclose(dcpl);
    return status;
}

/* This rank's rows, in pieces; collective: every rank makes the same number of calls. */
static int write_rows(hid_t file, MPI_Comm comm, int collective, int64_t lo, int64_t n_local, int D, gc_stored_e e,
                      const int32_t *y, const float *loss, hid_t dxpl)
{
    int64_t count, rp = rows_per_piece(D);
    GC_TRY(pieces(comm, collective, n_local, D, &count));
    /* Narrow values are widened a piece at a time; without room for that piece a rank still joins
     * every (collective) write, with no rows. */
    const int narrow = e.precision != GC_PRECISION_FP32;
    float *wide = narrow && n_local > 0 ? gc_malloc((size_t)(rp < n_local ? rp : n_local) * D * sizeof *wide) : NULL;
    int status = narrow && n_local > 0 && wide == NULL
                     ? gc_fail(GC_ERR_MEMORY, "out of memory writing %lld embeddings", (long long)n_local)
                     : GC_OK;
    for (int64_t p = 0; p < count; ++p) {
        int64_t a = p * rp < n_local ? p * rp : n_local, b = a + rp < n_local ? a + rp : n_local;
        if (status != GC_OK) b = a;
        const size_t at = (size_t)a * D * (size_t)gc_precision_bytes(e.precision);
        if (narrow && b > a) gc_widen_parallel(e.precision, wide, (const char *)e.values + at, (b - a) * D);
        const float *rows = narrow ? wide : (const float *)((const char *)e.values + at);
        int local = gc_h5_write_rows(file, "/E", H5T_NATIVE_FLOAT, lo + a, lo + b, D, rows, dxpl);
        if (local == GC_OK) local = gc_h5_write_rows(file, "/y", H5T_NATIVE_INT32, lo + a, lo + b, 0, y + a, dxpl);
        if (local == GC_OK)
            local = gc_h5_write_rows(file, "/loss", H5T_NATIVE_FLOAT, lo + a, lo + b, 0, loss + a, dxpl);
        if (status == GC_OK) status = local;
    }
    free(wide);
    return status;
}

#ifdef H5_HAVE_PARALLEL
/* All ranks create, fill and close the file together through MPI-IO. */
static int write_file(const char *tmp, MPI_Comm comm, int64_t n_global, int64_t lo, int64_t n_local, int D,
                      gc_stored_e e, const int32_t *y, const float *loss)
{
    hid_t fapl = gc_h5_file_access(comm);
    hid_t file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    int status = gc_comm_agree(comm, file < 0 ? gc_h5_fail_path(GC_ERR_IO, tmp, "cannot create") : GC_OK);
    if (status != GC_OK) return status;
    status = gc_comm_agree(comm, create_datasets(file, n_global, D));
    if (status == GC_OK) {
        hid_t dxpl = gc_h5_transfer_plist();
        status = write_rows(file, comm, 1, lo, n_local, D, e, y, loss, dxpl);
        H5Pclose(dxpl);
    }
    if (H5Fclose(file) < 0 && status == GC_OK) status = gc_h5_fail_path(GC_ERR_IO, tmp, "cannot finish writing");
    return status;
}
#else
/* Serial HDF5: rank 0 creates the file, then each rank in turn opens it and writes its rows. */
static int write_file(const char *tmp, MPI_Comm comm, int64_t n_global, int64_t lo, int64_t n_local, int D,
                      gc_stored_e e, const int32_t *y, const float *loss)
{
    int rank, size, status = GC_OK;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    if (rank == 0) {
        hid_t file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        status = file < 0 ? gc_h5_fail_path(GC_ERR_IO, tmp, "cannot create") : create_datasets(file, n_global, D);
        if (file >= 0 && H5Fclose(file) < 0 && status == GC_OK)
            status = gc_h5_fail_path(GC_ERR_IO, tmp, "cannot finish writing");
    }
    GC_TRY(gc_comm_agree(comm, status));
    for (int turn = 0; turn < size; ++turn) {
        if (turn == rank) {
            hid_t file = H5Fopen(tmp, H5F_ACC_RDWR, H5P_DEFAULT);
            status = file < 0 ? gc_h5_fail_path(GC_ERR_IO, tmp, "cannot reopen")
                              : write_rows(file, comm, 0, lo, n_local, D, e, y, loss, H5P_DEFAULT);
            if (file >= 0 && H5Fclose(file) < 0 && status == GC_OK)
                status = gc_h5_fail_path(GC_ERR_IO, tmp, "cannot finish writing");
        }
        GC_CHECK_MPI(MPI_Barrier(comm)); /* the next rank opens the file only after this one closed it */
    }
    return status;
}
#endif

int gc_embeddings_write(const char *path, MPI_Comm comm, int64_t n_global, int64_t lo, int64_t n_local, int D,
                        gc_stored_e e, const int32_t *y, const float *loss)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    gc_h5_silence();
    char tmp[4096] = { 0 };
    /* /E, /y and /loss, and a margin for HDF5's own metadata. */
    const double bytes = (double)n_global * ((double)D * sizeof(float) + 8.0) + 1048576.0;
    GC_TRY(gc_comm_agree(comm, rank == 0 ? gc_check_free_space("--save-embeddings", path, bytes) : GC_OK));
    if (rank == 0) gc_temporary_name(path, tmp, sizeof tmp); /* one name: rank 0's pid */
    GC_CHECK_MPI(MPI_Bcast(tmp, (int)sizeof tmp, MPI_CHAR, 0, comm));
    int status = gc_comm_agree(comm, write_file(tmp, comm, n_global, lo, n_local, D, e, y, loss));
    if (rank == 0) status = gc_commit_output("--save-embeddings", tmp, path, status);
    return gc_comm_agree(comm, status);
}
