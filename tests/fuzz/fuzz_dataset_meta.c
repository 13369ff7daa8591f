/* libFuzzer target: gradcore's dataset metadata checks (io/dataset.c gc_dataset_open: shard list,
 * per-shard ranks, dtypes, row counts, width agreement, /ids, the num_classes attribute on the file
 * or on /y; the synthetic:… spec parser) and, for small results, the row read with its NaN and label
 * checks (gc_dataset_read).
 *
 * Why the input is a description and not the bytes of an HDF5 file: fed mutated HDF5 files, the
 * HDF5 1.10.8 library itself fails within seconds (a heap-buffer-overflow in H5MM_strdup while
 * H5Aexists decodes a corrupt attribute message, allocations of 2^51 bytes in H5C_protect). Those
 * are bugs of HDF5, outside gradcore and beyond its reach, and they would stop every run before
 * gradcore's own logic is explored. So each input describes 1-3 shards, which the harness writes
 * through the HDF5 API as well-formed files that are wrong for gradcore in every way the checks
 * must catch, or (odd first byte) the text of a synthetic:… spec.
 *
 * Input layout (missing bytes read as 0):
 *   byte 0: even = shards, odd = the rest of the input is the spec after "synthetic:"
 *   byte 1: shard count − 1 (mod 3)
 *   per shard, 12 bytes of description, then 90 X values (byte / 16) and 10 labels (signed bytes):
 *     kind (mod 8: 0-5 written, 6 missing file, 7 a text file), X rank (mod 3: 2, 1, 3),
 *     X dtype (mod 3: float32, float64, int32), rows (mod 9), columns (mod 5),
 *     /y (mod 4: int32, int64, float32, absent), /y rows (mod 5: 0 one fewer, 1 one more, else same),
 *     /ids (mod 4: none, int64, int64 with one more row, float64),
 *     num_classes on (mod 4: nowhere, file, /y, both), its type (mod 4: int64, float64, string,
 *     int64[2]), its value (signed byte), special values (bit 0 a NaN in X, bit 1 an Inf in X). */
#include <hdf5.h>
#include <math.h>
#include <mpi.h>
#include <sanitizer/lsan_interface.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "fuzz_mpi.h"
#include "io/dataset.h"

enum { MAX_SHARDS = 3, MAX_ROWS = 9, MAX_COLS = 5, SHARD_BYTES = 12 };

typedef struct {
    const uint8_t *data;
    size_t size, pos;
} input;

static unsigned next(input *in) { return in->pos < in->size ? in->data[in->pos++] : 0u; }

static char directory[64], shard_path[MAX_SHARDS][96];

static void remove_files(void)
{
    for (int i = 0; i < MAX_SHARDS; ++i) unlink(shard_path[i]);
    rmdir(directory);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_start(argc, argv, directory, sizeof directory, "/tmp/gradcore-fuzz-h5-XXXXXX");
    for (int i = 0; i < MAX_SHARDS; ++i) snprintf(shard_path[i], sizeof shard_path[i], "%s/shard%d.h5", directory, i);
    atexit(remove_files);
    return 0;
}

static void write_dataset(hid_t file, const char *name, hid_t type, int rank, const hsize_t *dims, hid_t memtype,
                          const void *values)
{
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (d >= 0) H5Dwrite(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, values);
    if (d >= 0) H5Dclose(d);
    H5Sclose(space);
}

static void write_num_classes(hid_t object, unsigned type, int value)
{
    const int64_t pair[2] = { value, value };
    const double real = value + 0.5;
    hsize_t two = 2;
    hid_t space = type == 3 ? H5Screate_simple(1, &two, NULL) : H5Screate(H5S_SCALAR);
    hid_t file_type = type == 1 ? H5Tcopy(H5T_IEEE_F64LE) : type == 2 ? H5Tcopy(H5T_C_S1) : H5Tcopy(H5T_STD_I64LE);
    if (type == 2) H5Tset_size(file_type, 4);
    hid_t a = H5Acreate2(object, "num_classes", file_type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) {
        if (type == 1)
            H5Awrite(a, H5T_NATIVE_DOUBLE, &real);
        else if (type == 2)
            H5Awrite(a, file_type, "ten");
        else
            H5Awrite(a, H5T_NATIVE_INT64, pair);
        H5Aclose(a);
    }
    H5Tclose(file_type);
    H5Sclose(space);
}

/* Reads one shard's description and writes (or removes) its file. */
static void make_shard(input *in, const char *path)
{
    unsigned b[SHARD_BYTES];
    for (int i = 0; i < SHARD_BYTES; ++i) b[i] = next(in);
    unlink(path);
    const unsigned kind = b[0] % 8;
    if (kind == 6) return;
    if (kind == 7) {
        FILE *f = fopen(path, "w");
        if (f != NULL) {
            fputs("not an HDF5 file\n", f);
            fclose(f);
        }
        return;
    }
    static const int ranks[3] = { 2, 1, 3 };
    const int x_rank = ranks[b[1] % 3];
    const hsize_t rows = b[3] % MAX_ROWS, cols = b[4] % MAX_COLS;
    const hsize_t x_dims[3] = { rows, cols, 2 };
    double x[MAX_ROWS * MAX_COLS * 2];
    int32_t x_int[MAX_ROWS * MAX_COLS * 2];
    int64_t labels[MAX_ROWS + 1], ids[MAX_ROWS + 1];
    for (int i = 0; i < MAX_ROWS * MAX_COLS * 2; ++i) {
        x[i] = next(in) / 16.0;
        x_int[i] = (int32_t)x[i];
    }
    for (int i = 0; i <= MAX_ROWS; ++i) {
        labels[i] = (int8_t)next(in);
        ids[i] = i;
    }
    if (b[11] & 1u) x[0] = NAN;
    if (b[11] & 2u) x[1] = INFINITY;

    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) return;
    const unsigned x_type = b[2] % 3;
    write_dataset(file, "X",
                  x_type == 0   ? H5T_IEEE_F32LE
                  : x_type == 1 ? H5T_IEEE_F64LE
                                : H5T_STD_I32LE,
                  x_rank, x_dims, x_type == 2 ? H5T_NATIVE_INT32 : H5T_NATIVE_DOUBLE,
                  x_type == 2 ? (const void *)x_int : (const void *)x);
    const unsigned y_type = b[5] % 4, y_rows = b[6] % 5;
    hsize_t y_dims[1] = { y_rows == 0 && rows > 0 ? rows - 1 : y_rows == 1 ? rows + 1 : rows };
    if (y_type < 3)
        write_dataset(file, "y",
                      y_type == 0   ? H5T_STD_I32LE
                      : y_type == 1 ? H5T_STD_I64LE
                                    : H5T_IEEE_F32LE,
                      1, y_dims, H5T_NATIVE_INT64, labels);
    const unsigned id_kind = b[7] % 4;
    hsize_t id_dims[1] = { id_kind == 2 ? rows + 1 : rows };
    if (id_kind != 0)
        write_dataset(file, "ids", id_kind == 3 ? H5T_IEEE_F64LE : H5T_STD_I64LE, 1, id_dims, H5T_NATIVE_INT64, ids);
    const unsigned where = b[8] % 4;
    if (where & 1u) write_num_classes(file, b[9] % 4, (int8_t)b[10]);
    if ((where & 2u) && y_type < 3) {
        hid_t y = H5Dopen2(file, "y", H5P_DEFAULT);
        if (y >= 0) {
            write_num_classes(y, b[9] % 4, (int8_t)b[10]);
            H5Dclose(y);
        }
    }
    H5Fclose(file);
}

/* What a caller does after a successful open: read every row when the dataset is small. */
static void read_rows(const gc_dataset *ds)
{
    if (ds->n <= 0 || ds->n > 4096 || ds->d <= 0 || ds->d > 64) return;
    float *x = malloc((size_t)ds->n * (size_t)ds->d * sizeof *x);
    int32_t *y = malloc((size_t)ds->n * sizeof *y);
    int64_t *ids = malloc((size_t)ds->n * sizeof *ids);
    if (x != NULL && y != NULL && ids != NULL) (void)gc_dataset_read(ds, MPI_COMM_SELF, 0, ds->n, x, y, ids);
    free(x);
    free(y);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input in = { data, size, 0 };
    char spec[640];
    if (next(&in) & 1u) {
        /* The spec parser works on C strings: cut at the first NUL like a command line would. */
        size_t len = size - 1 < 600 ? size - 1 : 600;
        memcpy(spec, "synthetic:", 10);
        memcpy(spec + 10, data + 1, len);
        spec[10 + len] = '\0';
    } else {
        const int shards = 1 + (int)(next(&in) % MAX_SHARDS);
        size_t used = 0;
        for (int i = 0; i < shards; ++i) {
            make_shard(&in, shard_path[i]);
            used += (size_t)snprintf(spec + used, sizeof spec - used, "%s%s", i ? "," : "", shard_path[i]);
        }
    }
    gc_dataset ds;
    if (gc_dataset_open(&ds, spec, MPI_COMM_SELF) == GC_OK) read_rows(&ds);
    gc_dataset_close(&ds);
    gc_error_clear();
    return 0;
}
