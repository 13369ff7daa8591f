/* libFuzzer target: gradcore's model reader (io/model.c gc_model_read: the layer walk, ranks and
 * dtypes of /layers/<i>/W and b, widths that chain, bias lengths, the size limits, non-finite values,
 * the activation attribute in its string forms).
 *
 * As for fuzz_dataset_meta.c, the input is a description, not the bytes of an HDF5 file (mutated
 * HDF5 files crash HDF5 1.10.8 itself before gradcore's checks are reached): the harness writes a
 * well-formed file that is wrong for gradcore in the ways the description picks.
 *
 * Input layout (missing bytes read as 0):
 *   byte 0: layers − 1 (mod 4), byte 1: activation (mod 8: none, relu, tanh, gelu, identity, "swish",
 *           an integer attribute, a variable-length string "tanh"), byte 2: a gap (mod 4: 0 none, else
 *           layer number byte-2 is skipped, so /layers/0 and /layers/2 exist without /layers/1)
 *   per layer, 8 bytes: W (mod 4: float32, float64, int32, absent), W rank (mod 3: 2, 1, 3),
 *           out (mod 6), in (mod 6; layer > 0 takes the previous out unless bit 3 of this byte is set),
 *           b (mod 4: float32, absent, one longer, rank 2), special values (bit 0 NaN in W, bit 1 Inf in
 *           b), then 36 value bytes (byte / 16 − 8). */
#include <hdf5.h>
#include <math.h>
#include <mpi.h>
#include <sanitizer/lsan_interface.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "fuzz_mpi.h"
#include "io/model.h"

enum { MAX_LAYERS = 4, MAX_WIDTH = 6, LAYER_BYTES = 8 };

typedef struct {
    const uint8_t *data;
    size_t size, pos;
} input;

static unsigned next(input *in) { return in->pos < in->size ? in->data[in->pos++] : 0u; }

static char directory[64], model_path[96];

static void remove_files(void)
{
    unlink(model_path);
    rmdir(directory);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_start(argc, argv, directory, sizeof directory, "/tmp/gradcore-fuzz-model-XXXXXX");
    snprintf(model_path, sizeof model_path, "%s/model.h5", directory);
    atexit(remove_files);
    return 0;
}

static void write_array(hid_t file, const char *name, hid_t type, int rank, const hsize_t *dims, const double *v)
{
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (d >= 0) H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    if (d >= 0) H5Dclose(d);
    H5Sclose(space);
}

static void write_activation(hid_t file, unsigned kind)
{
    static const char *names[] = { "relu", "tanh", "gelu", "identity", "swish" };
    if (kind == 0) return;
    hid_t space = H5Screate(H5S_SCALAR), type;
    if (kind == 6) {
        type = H5Tcopy(H5T_STD_I64LE);
        const int64_t one = 1;
        hid_t a = H5Acreate2(file, "activation", type, space, H5P_DEFAULT, H5P_DEFAULT);
        if (a >= 0) H5Awrite(a, H5T_NATIVE_INT64, &one), H5Aclose(a);
    } else {
        const char *value = kind == 7 ? "tanh" : names[kind - 1];
        type = H5Tcopy(H5T_C_S1);
        H5Tset_size(type, kind == 7 ? H5T_VARIABLE : strlen(value) + 1);
        hid_t a = H5Acreate2(file, "activation", type, space, H5P_DEFAULT, H5P_DEFAULT);
        if (a >= 0) H5Awrite(a, type, kind == 7 ? (const void *)&value : (const void *)value), H5Aclose(a);
    }
    H5Tclose(type);
    H5Sclose(space);
}

static void make_model(input *in)
{
    unlink(model_path);
    const unsigned layers = 1 + next(in) % MAX_LAYERS, activation = next(in) % 8, gap = next(in) % 4;
    hid_t file = H5Fcreate(model_path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) return;
    write_activation(file, activation);
    hsize_t previous_out = 0;
    for (unsigned l = 0; l < layers; ++l) {
        unsigned b[LAYER_BYTES];
        for (int i = 0; i < LAYER_BYTES; ++i) b[i] = next(in);
        double values[MAX_WIDTH * MAX_WIDTH * 2];
        for (int i = 0; i < MAX_WIDTH * MAX_WIDTH * 2; ++i) values[i] = (i < 36 ? next(in) : 0u) / 16.0 - 8.0;
        if (b[5] & 1u) values[0] = NAN;
        const hsize_t out = b[2] % MAX_WIDTH, in_width = l > 0 && !(b[3] & 8u) ? previous_out : b[3] % MAX_WIDTH;
        previous_out = out;
        if (gap != 0 && l == gap) continue;
        char name[64];
        static const int ranks[3] = { 2, 1, 3 };
        const hsize_t w_dims[3] = { out, in_width, 2 };
        const unsigned w_type = b[0] % 4;
        snprintf(name, sizeof name, "/layers/%u/W", l);
        if (w_type < 3)
            write_array(file, name,
                        w_type == 0   ? H5T_IEEE_F32LE
                        : w_type == 1 ? H5T_IEEE_F64LE
                                      : H5T_STD_I32LE,
                        ranks[b[1] % 3], w_dims, values);
        const unsigned b_kind = b[4] % 4;
        const hsize_t b_dims[2] = { b_kind == 2 ? out + 1 : out, 1 };
        double bias[MAX_WIDTH + 1];
        for (hsize_t i = 0; i <= MAX_WIDTH; ++i) bias[i] = (double)i / 4.0;
        if (b[5] & 2u) bias[0] = INFINITY;
        snprintf(name, sizeof name, "/layers/%u/b", l);
        if (b_kind != 1) write_array(file, name, H5T_IEEE_F32LE, b_kind == 3 ? 2 : 1, b_dims, bias);
    }
    H5Fclose(file);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input in = { data, size, 0 };
    make_model(&in);
    gc_model m;
    if (gc_model_read(&m, model_path, MPI_COMM_SELF) == GC_OK) gc_model_destroy(&m);
    gc_error_clear();
    return 0;
}
