#include "h5util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/error.h"

void gc_h5_silence(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* ---- failures in words ---- */

typedef struct {
    char cause[256];
    int rank; /* how telling the cause is: 3 errno, 2 checksum, 1 innermost description */
    int no_space;
} stack_reading;

/* Each entry's description, innermost first. The library's own words are kept where they are the
 * best cause there is; a system error inside them ("errno = 28, …") is named by strerror. */
static herr_t read_entry(unsigned n, const H5E_error2_t *e, void *data)
{
    stack_reading *r = data;
    const char *desc = e->desc != NULL ? e->desc : "";
    const char *errno_at = strstr(desc, "errno = ");
    if (errno_at != NULL && r->rank < 3) {
        int err = atoi(errno_at + 8);
        snprintf(r->cause, sizeof r->cause, "%s", strerror(err));
        r->rank = 3;
        r->no_space = err == ENOSPC || err == EDQUOT;
    } else if (strstr(desc, "checksum") != NULL && r->rank < 2) {
        snprintf(r->cause, sizeof r->cause, "checksum mismatch (%s): the file is corrupt", desc);
        r->rank = 2;
    } else if (n == 0 && r->rank < 1) {
        snprintf(r->cause, sizeof r->cause, "%s", desc);
        r->cause[strcspn(r->cause, "\n")] = '\0';
        r->rank = 1;
    }
    return 0;
}

static void read_stack(stack_reading *r)
{
    memset(r, 0, sizeof *r);
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, read_entry, r);
    if (r->cause[0] == '\0') snprintf(r->cause, sizeof r->cause, "the HDF5 library gives no reason");
}

/* MPI-IO reports a short write without its cause: a write that failed on a file system with almost
 * nothing left is taken for a full disk. */
static void check_space(stack_reading *r, const char *path)
{
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    struct statvfs fs;
    if (r->rank >= 3 || statvfs(dirname(copy), &fs) != 0) return;
    if ((double)fs.f_bavail * (double)fs.f_frsize < 1048576.0) {
        snprintf(r->cause, sizeof r->cause, "%s (the file system is full)", strerror(ENOSPC));
        r->no_space = 1;
    }
}

/* A temporary "<path>.tmp.<pid>" is named by the path it becomes. */
static void display_name(char *name)
{
    char *tmp = strstr(name, ".tmp.");
    if (tmp != NULL && tmp[5] != '\0' && strspn(tmp + 5, "0123456789") == strlen(tmp + 5)) *tmp = '\0';
}

int gc_h5_fail_path(int status, const char *path, const char *what)
{
    stack_reading r;
    read_stack(&r);
    if (status == GC_ERR_IO) check_space(&r, path);
    char name[4096];
    snprintf(name, sizeof name, "%s", path);
    display_name(name);
    return gc_fail(r.no_space ? GC_ERR_IO : status, "%s: %s: %s", name, what, r.cause);
}

int gc_h5_fail(hid_t loc, const char *what)
{
    stack_reading r;
    read_stack(&r); /* first: every later HDF5 call clears the stack */
    char name[4096] = "HDF5 file";
    unsigned intent = H5F_ACC_RDONLY;
    if (H5Fget_name(loc, name, sizeof name) < 0) snprintf(name, sizeof name, "HDF5 file");
    hid_t file = H5Iget_file_id(loc);
    if (file >= 0) {
        H5Fget_intent(file, &intent);
        H5Fclose(file);
    }
    if (intent & H5F_ACC_RDWR) check_space(&r, name);
    display_name(name);
    const int status = r.no_space || (intent & H5F_ACC_RDWR) ? GC_ERR_IO : GC_ERR_INPUT;
    return gc_fail(status, "%s: %s: %s", name, what, r.cause);
}

int gc_h5_open_read(const char *path, hid_t fapl, hid_t *file)
{
    *file = -1;
    if (access(path, R_OK) != 0) return gc_fail(GC_ERR_INPUT, "%s: no such readable file", path);
    if (H5Fis_hdf5(path) <= 0) return gc_fail(GC_ERR_INPUT, "%s: not an HDF5 file", path);
    *file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (*file < 0) return gc_h5_fail_path(GC_ERR_INPUT, path, "cannot open the HDF5 file");
    return GC_OK;
}

/* Every filter of the dataset's pipeline must be available: HDF5 reads a chunk whose optional filter
 * (as h5py writes lzf) is missing as raw bytes, without an error. */
static int check_filters(hid_t d, const char *path, const char *name)
{
    hid_t dcpl = H5Dget_create_plist(d);
    if (dcpl < 0) return gc_h5_fail(d, "cannot read the dataset's creation properties");
    int status = GC_OK, n = H5Pget_nfilters(dcpl);
    for (int i = 0; i < n && status == GC_OK; ++i) {
        unsigned flags, config;
        size_t values = 0;
        char filter[128] = "";
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &values, NULL, sizeof filter, filter, &config);
        if (id >= 0 && H5Zfilter_avail(id) <= 0)
            status = gc_fail(GC_ERR_INPUT,
                             "%s: %s needs the HDF5 filter '%s' (id %d), which this HDF5 library lacks "
                             "(install its plugin and set HDF5_PLUGIN_PATH)",
                             path, name, filter[0] ? filter : "unnamed", (int)id);
    }
    H5Pclose(dcpl);
    return status;
}

int gc_h5_has(hid_t loc, const char *name) { return H5Lexists(loc, name, H5P_DEFAULT) > 0; }

int gc_h5_open_dataset(hid_t file, const char *path, const char *name, int rank, H5T_class_t cls, hid_t *dset,
                       hsize_t *dims)
{
    static const char *class_names[] = { "integer", "float" };
    *dset = -1;
    if (!gc_h5_has(file, name)) return gc_fail(GC_ERR_INPUT, "%s: dataset %s is missing", path, name);
    hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
    if (d < 0) return gc_fail(GC_ERR_INPUT, "%s: %s is not a dataset", path, name);
    hid_t space = H5Dget_space(d), type = H5Dget_type(d);
    int got_rank = H5Sget_simple_extent_ndims(space);
    H5T_class_t got_class = H5Tget_class(type);
    int status = GC_OK;
    if (got_rank != rank)
        status = gc_fail(GC_ERR_INPUT, "%s: %s has rank %d, expected %d", path, name, got_rank, rank);
    else if (got_class != cls)
        status =
            gc_fail(GC_ERR_INPUT, "%s: %s has the wrong dtype, expected %s", path, name, class_names[cls == H5T_FLOAT]);
    else
        H5Sget_simple_extent_dims(space, dims, NULL);
    if (status == GC_OK) status = check_filters(d, path, name);
    H5Sclose(space);
    H5Tclose(type);
    if (status != GC_OK) {
        H5Dclose(d);
        return status;
    }
    *dset = d;
    return GC_OK;
}

/* One scalar attribute read as `type`: 0 when absent, 1 when read, -1 when unreadable or not a
 * single element (H5Aread stores every element: an array attribute would overrun *value; found by
 * fuzzing). */
static int read_scalar_attr(hid_t obj, const char *name, hid_t type, void *value)
{
    if (H5Aexists(obj, name) <= 0) return 0;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t space = H5Aget_space(a);
    hssize_t elements = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
    if (space >= 0) H5Sclose(space);
    herr_t rc = elements == 1 ? H5Aread(a, type, value) : -1;
    H5Aclose(a);
    return rc < 0 ? -1 : 1;
}

int gc_h5_read_attr_long(hid_t obj, const char *name, long *value)
{
    return read_scalar_attr(obj, name, H5T_NATIVE_LONG, value);
}

int gc_h5_read_attr_double(hid_t obj, const char *name, double *value)
{
    return read_scalar_attr(obj, name, H5T_NATIVE_DOUBLE, value);
}

static int write_attr(hid_t obj, const char *name, hid_t type, hid_t space, const void *value)
{
    if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
    hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = a < 0 ? -1 : H5Awrite(a, type, value);
    int status = rc < 0 ? gc_h5_fail(obj, "cannot write an attribute") : GC_OK;
    if (a >= 0) H5Aclose(a);
    H5Sclose(space);
    return status;
}

int gc_h5_write_attr_string(hid_t obj, const char *name, const char *value)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, strlen(value) + 1);
    H5Tset_strpad(type, H5T_STR_NULLTERM);
    int status = write_attr(obj, name, type, H5Screate(H5S_SCALAR), value);
    H5Tclose(type);
    return status;
}

int gc_h5_write_attr_long(hid_t obj, const char *name, long value)
{
    return write_attr(obj, name, H5T_NATIVE_LONG, H5Screate(H5S_SCALAR), &value);
}

int gc_h5_write_attr_double(hid_t obj, const char *name, double value)
{
    return write_attr(obj, name, H5T_NATIVE_DOUBLE, H5Screate(H5S_SCALAR), &value);
}

int gc_h5_write_attr_long_array(hid_t obj, const char *name, const long *values, int n)
{
    hsize_t dims[1] = { (hsize_t)n };
    return write_attr(obj, name, H5T_NATIVE_LONG, H5Screate_simple(1, dims, NULL), values);
}

int gc_h5_write_dataset(hid_t loc, const char *name, hid_t type, int rank, const hsize_t *dims, const void *data)
{
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = d < 0 ? -1 : H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    char what[160];
    snprintf(what, sizeof what, "cannot write %s", name);
    int status = rc < 0 ? gc_h5_fail(loc, what) : GC_OK;
    if (d >= 0) H5Dclose(d);
    H5Sclose(space);
    return status;
}

hid_t gc_h5_create_in_memory(const char *path)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_core(fapl, 1 << 20, 0);
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    return file;
}

static int write_image(int fd, const unsigned char *image, size_t bytes)
{
    for (size_t done = 0; done < bytes;) {
        ssize_t n = write(fd, image + done, bytes - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return n == 0 ? ENOSPC : errno;
        done += (size_t)n;
    }
    return fsync(fd) == 0 ? 0 : errno;
}

int gc_h5_save_in_memory(hid_t file, const char *option, const char *path)
{
    ssize_t bytes = H5Fflush(file, H5F_SCOPE_LOCAL) < 0 ? -1 : H5Fget_file_image(file, NULL, 0);
    unsigned char *image = bytes > 0 ? gc_malloc((size_t)bytes) : NULL;
    int status = GC_OK;
    if (bytes > 0 && image == NULL)
        status = gc_fail(GC_ERR_MEMORY, "out of memory for the image of %s", path);
    else if (bytes <= 0 || H5Fget_file_image(file, image, (size_t)bytes) != bytes)
        status = gc_h5_fail(file, "cannot build the file");
    H5Fclose(file);
    char name[4096];
    snprintf(name, sizeof name, "%s", path);
    display_name(name);
    int fd = status == GC_OK ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
    if (status == GC_OK && fd < 0)
        status = gc_fail(GC_ERR_IO, "%s %s: cannot create: %s", option, name, strerror(errno));
    int err = fd >= 0 ? write_image(fd, image, (size_t)bytes) : 0;
    if (fd >= 0 && close(fd) != 0 && err == 0) err = errno;
    if (status == GC_OK && err != 0)
        status = gc_fail(GC_ERR_IO, "%s %s: cannot write: %s", option, name, strerror(err));
    free(image);
    return status;
}

hid_t gc_h5_file_access(MPI_Comm comm)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
#ifdef H5_HAVE_PARALLEL
    H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL);
#else
    (void)comm;
#endif
    return fapl;
}

hid_t gc_h5_transfer_plist(void)
{
    hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
#ifdef H5_HAVE_PARALLEL
    H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
#endif
    return dxpl;
}

/* Reads of at least this many bytes go through read_direct where the dataset allows it. */
#define DIRECT_READ_MIN_BYTES ((size_t)16 << 20)
/* What one thread of read_direct reads at a time. */
#define DIRECT_READ_PIECE     ((size_t)4 << 20)

/* Rows [lo, hi) of dataset d (of rank 1, or 2 with `width` columns) read straight from the file by
 * all OpenMP threads at once: HDF5 reads a hyperslab of a contiguous dataset with one pread on the
 * calling thread, which moved 3.1–3.4 GB/s from the page cache of an H200 host (8.2 GB of /E in
 * 2.4–2.7 s, bench/results/e2e-inputs-h200x1.md), and one reader leaves most of a parallel file
 * system's bandwidth unused. Only where the bytes are the values as the caller wants them: a
 * contiguous dataset with its storage allocated (no filters, no external files), in a file opened
 * through the default POSIX driver, whose stored type is the memory type. *done ← 1 when read; 0
 * when the dataset does not qualify (HDF5 reads it then). */
static int read_direct(hid_t file, hid_t d, hid_t memtype, int64_t lo, int64_t hi, int width, void *buf, int *done)
{
    *done = 0;
    const size_t value = H5Tget_size(memtype), row = value * (size_t)(width > 0 ? width : 1),
                 bytes = row * (size_t)(hi - lo);
    if (bytes < DIRECT_READ_MIN_BYTES) return GC_OK;
    hid_t fapl = H5Fget_access_plist(file), dcpl = H5Dget_create_plist(d), type = H5Dget_type(d),
          space = H5Dget_space(d);
    hsize_t dims[2] = { 0, 0 };
    const int rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    if (rank == (width > 0 ? 2 : 1)) H5Sget_simple_extent_dims(space, dims, NULL);
    const haddr_t at = H5Dget_offset(d);
    int *fd = NULL;
    const int direct = fapl >= 0 && dcpl >= 0 && type >= 0 && H5Pget_driver(fapl) == H5FD_SEC2 &&
                       H5Pget_layout(dcpl) == H5D_CONTIGUOUS && H5Pget_nfilters(dcpl) == 0 &&
                       H5Pget_external_count(dcpl) == 0 && H5Tequal(type, memtype) > 0 && at != HADDR_UNDEF &&
                       rank == (width > 0 ? 2 : 1) && (width == 0 || dims[1] == (hsize_t)width) &&
                       (hsize_t)hi <= dims[0] && H5Fget_vfd_handle(file, fapl, (void **)&fd) >= 0 && fd != NULL;
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (fapl >= 0) H5Pclose(fapl);
    if (!direct) {
        H5Eclear2(H5E_DEFAULT); /* a query that said no is no error */
        return GC_OK;
    }
    const off_t start = (off_t)at + (off_t)((size_t)lo * row);
    const int64_t pieces = (int64_t)((bytes + DIRECT_READ_PIECE - 1) / DIRECT_READ_PIECE);
    const int ended = INT_MAX; /* not an errno: the file ended before the rows did */
    int failed = 0;            /* the largest errno of a piece, or `ended` */
#pragma omp parallel for schedule(static) reduction(max : failed)
    for (int64_t p = 0; p < pieces; ++p) {
        size_t off = (size_t)p * DIRECT_READ_PIECE;
        const size_t end = off + DIRECT_READ_PIECE < bytes ? off + DIRECT_READ_PIECE : bytes;
        int error = 0;
        while (off < end && error == 0) {
            const ssize_t got = pread(*fd, (char *)buf + off, end - off, start + (off_t)off);
            if (got > 0)
                off += (size_t)got;
            else if (got == 0)
                error = ended;
            else if (errno != EINTR)
                error = errno;
        }
        failed = error > failed ? error : failed;
    }
    *done = 1;
    if (failed == 0) return GC_OK;
    char path[1024] = "?";
    (void)H5Fget_name(file, path, sizeof path);
    return gc_fail(GC_ERR_INPUT, "%s: cannot read rows %lld to %lld: %s", path, (long long)lo, (long long)hi,
                   failed == ended ? "the file ends before them" : strerror(failed));
}

static int transfer_rows(hid_t file, const char *name, hid_t memtype, int64_t lo, int64_t hi, int width, void *buf,
                         hid_t dxpl, int write)
{
    char what[160];
    snprintf(what, sizeof what, "cannot %s %s", write ? "write" : "read", name);
    hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
    GC_CHECK_H5(d, file, what);
    if (!write && dxpl == H5P_DEFAULT && hi > lo) { /* an independent read: perhaps every thread's */
        int done = 0;
        const int status = read_direct(file, d, memtype, lo, hi, width, buf, &done);
        if (done || status != GC_OK) {
            H5Dclose(d);
            return status;
        }
    }
    hid_t fspace = H5Dget_space(d);
    hsize_t count[2] = { (hsize_t)(hi - lo), (hsize_t)width }, start[2] = { (hsize_t)lo, 0 };
    int rank = width > 0 ? 2 : 1;
    if (rank == 1) count[1] = 1;
    hid_t mspace = H5Screate_simple(rank, count, NULL);
    if (hi > lo) {
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
    } else {
        H5Sselect_none(fspace);
        H5Sselect_none(mspace);
    }
    herr_t rc =
        write ? H5Dwrite(d, memtype, mspace, fspace, dxpl, buf) : H5Dread(d, memtype, mspace, fspace, dxpl, buf);
    int status = rc < 0 ? gc_h5_fail(file, what) : GC_OK;
    H5Sclose(mspace);
    H5Sclose(fspace);
    H5Dclose(d);
    return status;
}

int gc_h5_read_rows(hid_t file, const char *name, hid_t memtype, int64_t lo, int64_t hi, int width, void *buf,
                    hid_t dxpl)
{
    return transfer_rows(file, name, memtype, lo, hi, width, buf, dxpl, 0);
}

int gc_h5_write_rows(hid_t file, const char *name, hid_t memtype, int64_t lo, int64_t hi, int width, const void *buf,
                     hid_t dxpl)
{
    return transfer_rows(file, name, memtype, lo, hi, width, (void *)buf, dxpl, 1);
}
