/* Small HDF5 helpers: opening with messages that name the file, reading and writing attributes, and
 * HDF5 failures described in one line: the file, the dataset or step, and the cause read from the
 * library's error stack (a missing filter by name, a checksum failure, no space left, permission),
 * never a source location (docs/design.md §6). */
#ifndef GC_H5UTIL_H
#define GC_H5UTIL_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

#include "core/error.h" /* gc_fault_status (core/fault.h) */

/* Turns off HDF5's own error-stack printing: gradcore reports one line of its own. */
void gc_h5_silence(void);
/* Records "<file>: <what>: <cause>" for the HDF5 call that just failed on an object of an open file
 * (call it before any other HDF5 call, which would clear the error stack). Returns GC_ERR_IO when the
 * file is open for writing or the cause is a full disk, else GC_ERR_INPUT. */
int gc_h5_fail(hid_t loc, const char *what);
/* The same when no object of the file is open (a failed create, open or close). */
int gc_h5_fail_path(int status, const char *path, const char *what);

/* HDF5 calls return a negative value on failure; loc is an object of the file concerned. The call
 * passes the fault-injection hook (core/fault.h); an injected failure has an empty error stack and
 * reads "the HDF5 library gives no reason". */
#define GC_CHECK_H5(call, loc, what)                                                                                   \
    do {                                                                                                               \
        if (gc_fault_status((call) < 0, 1, GC_FAULT_HDF5, __FILE__, __LINE__)) return gc_h5_fail((loc), (what));       \
    } while (0)

/* Read-only open with a one-line error naming the file; *file < 0 on failure. */
int gc_h5_open_read(const char *path, hid_t fapl, hid_t *file);
/* Opens /name and checks its rank, its type class and that every filter it was written with is
 * available here; the message names file and dataset. */
int gc_h5_open_dataset(hid_t file, const char *path, const char *name, int rank, H5T_class_t cls, hid_t *dset,
                       hsize_t *dims);
int gc_h5_has(hid_t loc, const char *name);
/* Single-valued numeric attribute on an object; returns 1 if present (value stored), 0 if absent, <0
 * on error (unreadable as an integer, or more than one element). */
int gc_h5_read_attr_long(hid_t obj, const char *name, long *value);
int gc_h5_read_attr_double(hid_t obj, const char *name, double *value);

int gc_h5_write_attr_string(hid_t obj, const char *name, const char *value);
int gc_h5_write_attr_long(hid_t obj, const char *name, long value);
int gc_h5_write_attr_double(hid_t obj, const char *name, double value);
int gc_h5_write_attr_long_array(hid_t obj, const char *name, const long *values, int n);
/* Small outputs (the coreset, the stream state) are built in memory by HDF5's core driver and
 * written by write(2), because HDF5 1.10 cannot close a file whose final flush failed (disk full):
 * the half-closed file then crashes the library's shutdown at exit. create: a new in-memory file;
 * save: closes it and writes its image to `path` (fsync'ed), an output error naming `option` and the
 * cause on failure. */
hid_t gc_h5_create_in_memory(const char *path);
int gc_h5_save_in_memory(hid_t file, const char *option, const char *path);
/* File access over comm: MPI-IO when HDF5 is parallel, the default driver otherwise. */
hid_t gc_h5_file_access(MPI_Comm comm);
/* Transfer property list: collective MPI-IO when HDF5 is parallel. */
hid_t gc_h5_transfer_plist(void);
/* Rows [lo, hi) of dataset `name` ([N, width], or [N] when width is 0) from the file into buf, or
 * from buf into the file. An empty range still takes part in a collective transfer, with an empty
 * selection. */
int gc_h5_read_rows(hid_t file, const char *name, hid_t memtype, int64_t lo, int64_t hi, int width, void *buf,
                    hid_t dxpl);
int gc_h5_write_rows(hid_t file, const char *name, hid_t memtype, int64_t lo, int64_t hi, int width, const void *buf,
                     hid_t dxpl);

/* 1-D or 2-D dataset from memory (rank 0 only writes small outputs). */
int gc_h5_write_dataset(hid_t loc, const char *name, hid_t type, int rank, const hsize_t *dims, const void *data);

#endif
