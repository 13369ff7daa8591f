/* gradcore gen: writes the synthetic dataset to HDF5 (/X float32, /y int32, /ids int64, attribute
 * num_classes), in row batches so N may exceed memory. Rank 0 writes; other ranks only wait. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "core/comm.h"
#include "core/error.h"
#include "core/log.h"
#include "core/options.h"
#include "core/version.h"
#include "io/h5util.h"
#include "io/output_guard.h"
#include "io/synthetic.h"

static const gc_option_spec gen_options[] = {
    { "config", GC_OPT_VALUE, NULL, "FILE", "INI job file with more options" },
    { "out", GC_OPT_VALUE, NULL, "FILE", "HDF5 file to write" },
    { "n", GC_OPT_VALUE, NULL, "N", "rows" },
    { "d", GC_OPT_VALUE, NULL, "D", "features per row" },
    { "classes", GC_OPT_VALUE, "10", "C", "number of classes" },
    { "seed", GC_OPT_VALUE, "0", "S", "generator seed" },
    { "imbalance", GC_OPT_VALUE, "1", "R", "largest over smallest class probability" },
    { "modes", GC_OPT_VALUE, "4", "M", "mixture components per class" },
    { "duplicates", GC_OPT_VALUE, "0.05", "F", "fraction of near-duplicate rows" },
    { "chunk-rows", GC_OPT_VALUE, "0", "R", "chunked layout with R rows per chunk (0 = contiguous)" },
    { "compress", GC_OPT_VALUE, "0", "L", "gzip level 1-9 (needs --chunk-rows)" },
    { "quiet", GC_OPT_FLAG, "off", NULL, "print errors only" },
    { NULL, 0, NULL, NULL, NULL }
};

/* What the command writes, for io/output_guard.h. */
static const gc_guard_option gen_files[] = { { "out", GC_GUARD_OUTPUT }, { NULL, 0 } };

static const char gen_usage[] = "usage: gradcore gen --out data.h5 --n N --d D [--classes C] [--seed S] [options]\n\n"
                                "Writes the same rows that --data synthetic:n=N,d=D,classes=C,seed=S,… generates.";

static hid_t create_2d(hid_t file, const char *name, hid_t type, hsize_t rows, hsize_t cols, long chunk, long level)
{
    hsize_t dims[2] = { rows, cols };
    int rank = cols ? 2 : 1;
    hid_t space = H5Screate_simple(rank, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (chunk > 0) {
        hsize_t c[2] = { (hsize_t)chunk < rows ? (hsize_t)chunk : rows, cols };
        H5Pset_chunk(dcpl, rank, c);
        if (level > 0) H5Pset_deflate(dcpl, (unsigned)level);
    }
    hid_t d = H5Dcreate2(file, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(space);
    return d;
}

static int write_rows(hid_t d, hid_t memtype, hsize_t lo, hsize_t count, hsize_t cols, const void *buf)
{
    int rank = cols ? 2 : 1;
    hsize_t start[2] = { lo, 0 }, n[2] = { count, cols };
    hid_t fspace = H5Dget_space(d), mspace = H5Screate_simple(rank, n, NULL);
    H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, n, NULL);
    herr_t rc = H5Dwrite(d, memtype, mspace, fspace, H5P_DEFAULT, buf);
    int status = rc < 0 ? gc_h5_fail(d, "cannot write rows") : GC_OK;
    H5Sclose(mspace);
    H5Sclose(fspace);
    return status;
}

static int generate(const char *path, const gc_synthetic *s, long chunk, long level)
{
    enum { BATCH = 65536 };
    char tmp[4096];
    gc_temporary_name(path, tmp, sizeof tmp);
    hid_t file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) return gc_commit_output("--out", tmp, path, gc_h5_fail_path(GC_ERR_IO, tmp, "cannot create"));
    hid_t x = create_2d(file, "/X", H5T_IEEE_F32LE, (hsize_t)s->n, (hsize_t)s->d, chunk, level);
    hid_t y = create_2d(file, "/y", H5T_STD_I32LE, (hsize_t)s->n, 0, chunk, level);
    hid_t ids = create_2d(file, "/ids", H5T_STD_I64LE, (hsize_t)s->n, 0, chunk, level);
    float *xb = gc_malloc((size_t)BATCH * s->d * sizeof *xb);
    int32_t *yb = gc_malloc((size_t)BATCH * sizeof *yb);
    int64_t *ib = gc_malloc((size_t)BATCH * sizeof *ib);
    int status = (x >= 0 && y >= 0 && ids >= 0) ? GC_OK : gc_fail(GC_ERR_IO, "--out %s: cannot create datasets", path);
    if (status == GC_OK && (!xb || !yb || !ib)) status = gc_fail(GC_ERR_MEMORY, "out of memory generating rows");
    for (int64_t lo = 0; lo < s->n && status == GC_OK; lo += BATCH) {
        int64_t n = s->n - lo < BATCH ? s->n - lo : BATCH;
        gc_synthetic_rows(s, lo, lo + n, xb, yb);
        for (int64_t i = 0; i < n; ++i) ib[i] = lo + i;
        status = write_rows(x, H5T_NATIVE_FLOAT, (hsize_t)lo, (hsize_t)n, (hsize_t)s->d, xb);
        if (status == GC_OK) status = write_rows(y, H5T_NATIVE_INT32, (hsize_t)lo, (hsize_t)n, 0, yb);
        if (status == GC_OK) status = write_rows(ids, H5T_NATIVE_INT64, (hsize_t)lo, (hsize_t)n, 0, ib);
    }
    if (status == GC_OK) status = gc_h5_write_attr_long(file, "num_classes", s->classes);
    if (status == GC_OK) status = gc_h5_write_attr_string(file, "generator", "gradcore gen " GC_VERSION);
    free(xb);
    free(yb);
    free(ib);
    if (x >= 0) H5Dclose(x);
    if (y >= 0) H5Dclose(y);
    if (ids >= 0) H5Dclose(ids);
    if (H5Fclose(file) < 0 && status == GC_OK) status = gc_h5_fail_path(GC_ERR_IO, tmp, "cannot finish writing");
    return gc_commit_output("--out", tmp, path, status);
}

static int run_gen(gc_options *o, int rank)
{
    if (o->help_requested || o->version_requested) return GC_OK;
    int quiet;
    GC_TRY(gc_options_get_bool(o, "quiet", &quiet));
    gc_log_init(rank, quiet ? GC_LOG_QUIET : GC_LOG_NORMAL);
    GC_TRY(gc_options_require(o, "out"));
    long n, d, classes, seed, modes, chunk, level;
    double imbalance, duplicates;
    GC_TRY(gc_options_get_long(o, "n", 1, INT64_MAX, &n));
    GC_TRY(gc_options_get_long(o, "d", 1, 1 << 20, &d));
    GC_TRY(gc_options_get_long(o, "classes", 1, 1 << 24, &classes));
    GC_TRY(gc_options_get_long(o, "seed", 0, INT64_MAX, &seed));
    GC_TRY(gc_options_get_long(o, "modes", 1, 1 << 16, &modes));
    GC_TRY(gc_options_get_long(o, "chunk-rows", 0, 1 << 30, &chunk));
    GC_TRY(gc_options_get_long(o, "compress", 0, 9, &level));
    GC_TRY(gc_options_get_double(o, "imbalance", 1.0, 1e9, &imbalance));
    GC_TRY(gc_options_get_double(o, "duplicates", 0.0, 1.0, &duplicates));
    if (level > 0 && chunk == 0) return gc_fail(GC_ERR_USAGE, "option --compress needs --chunk-rows");
    gc_synthetic s = { n, (int)d, (int)classes, (uint64_t)seed, imbalance, (int)modes, duplicates };
    if (rank != 0) return GC_OK;
    gc_h5_silence();
    GC_TRY(gc_guard_check(o, gen_files));
    GC_TRY(gc_check_free_space("--out", gc_options_get(o, "out"), (double)n * ((double)d * sizeof(float) + 12.0)));
    GC_TRY(generate(gc_options_get(o, "out"), &s, chunk, level));
    gc_info("gen: wrote %ld rows of %ld features, %ld classes to %s", n, d, classes, gc_options_get(o, "out"));
    return GC_OK;
}

int gc_command_gen(int argc, char **argv)
{
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    gc_options o;
    int status = gc_options_parse(&o, "gen", gen_options, argc, argv);
    if (status == GC_OK) status = run_gen(&o, rank);
    status = gc_comm_agree(MPI_COMM_WORLD, status);
    if (status == GC_OK && rank == 0 && o.help_requested) gc_options_print_help(gen_options, gen_usage, stdout);
    if (status == GC_OK && rank == 0 && o.version_requested)
        printf("gradcore gen %s (%s)\n", GC_VERSION, GC_GIT_COMMIT);
    gc_options_destroy(&o);
    return status;
}
