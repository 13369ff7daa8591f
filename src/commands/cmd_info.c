/* gradcore info FILE: a person-readable summary of a dataset, embeddings or coreset file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "core/comm.h"
#include "core/error.h"
#include "core/options.h"
#include "core/version.h"
#include "io/h5util.h"

static const gc_option_spec info_options[] = { { "config", GC_OPT_VALUE, NULL, "FILE",
                                                 "INI job file with more options" },
                                               { "rows", GC_OPT_VALUE, "10", "R", "coreset rows to list" },
                                               { NULL, 0, NULL, NULL, NULL } };

static const char info_usage[] = "usage: gradcore info FILE [--rows R]\n\nSummarises a dataset (/X, /y), "
                                 "embeddings (/E) or coreset (/coreset) file.";

static herr_t print_attribute(hid_t loc, const char *name, const H5A_info_t *info, void *data)
{
    (void)info;
    (void)data;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT), type = H5Aget_type(a), space = H5Aget_space(a);
    hssize_t n = H5Sget_simple_extent_npoints(space);
    printf("  %-30s ", name);
    if (H5Tget_class(type) == H5T_STRING && H5Tis_variable_str(type) <= 0) {
        size_t len = H5Tget_size(type);
        char *s = gc_calloc(len + 1, 1);
        hid_t mem = H5Tcopy(H5T_C_S1);
        H5Tset_size(mem, len + 1);
        if (s && H5Aread(a, mem, s) >= 0) {
            for (char *p = s; *p; ++p)
                if (*p == '\n') *p = ' ';
            printf("%s", s);
        }
        H5Tclose(mem);
        free(s);
    } else if (H5Tget_class(type) == H5T_INTEGER && n > 0) {
        long *v = gc_malloc((size_t)n * sizeof *v);
        if (v && H5Aread(a, H5T_NATIVE_LONG, v) >= 0)
            for (hssize_t i = 0; i < n && i < 32; ++i) printf("%s%ld", i ? " " : "", v[i]);
        if (n > 32) printf(" … (%lld values)", (long long)n);
        free(v);
    } else if (H5Tget_class(type) == H5T_FLOAT && n == 1) {
        double v;
        if (H5Aread(a, H5T_NATIVE_DOUBLE, &v) >= 0) printf("%.6g", v);
    } else {
        printf("(%lld values)", (long long)n);
    }
    printf("\n");
    H5Sclose(space);
    H5Tclose(type);
    H5Aclose(a);
    return 0;
}

static int read_all(hid_t file, const char *name, hid_t memtype, void *buf)
{
    hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
    GC_CHECK_H5(d, file, name);
    herr_t rc = H5Dread(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    int status = rc < 0 ? gc_h5_fail(file, name) : GC_OK;
    H5Dclose(d);
    return status;
}

static int describe_coreset(hid_t file, const char *path, long rows)
{
    hid_t d;
    hsize_t dims[1];
    GC_TRY(gc_h5_open_dataset(file, path, "/coreset/index", 1, H5T_INTEGER, &d, dims));
    H5Dclose(d);
    size_t k = dims[0];
    int64_t *index = gc_malloc((k ? k : 1) * sizeof *index);
    double *weight = gc_malloc((k ? k : 1) * sizeof *weight), *gain = gc_malloc((k ? k : 1) * sizeof *gain);
    int32_t *label = gc_malloc((k ? k : 1) * sizeof *label);
    GC_CHECK_ALLOC(index && weight && gain && label ? index : NULL);
    int status = read_all(file, "/coreset/index", H5T_NATIVE_INT64, index);
    if (status == GC_OK) status = read_all(file, "/coreset/weight", H5T_NATIVE_DOUBLE, weight);
    if (status == GC_OK) status = read_all(file, "/coreset/label", H5T_NATIVE_INT32, label);
    if (status == GC_OK) status = read_all(file, "/coreset/gain", H5T_NATIVE_DOUBLE, gain);
    if (status == GC_OK) {
        double total = 0.0;
        for (size_t j = 0; j < k; ++j) total += weight[j];
        printf("%s: coreset of %zu rows, weights sum to %.0f\n", path, k, total);
        H5Aiterate2(file, H5_INDEX_NAME, H5_ITER_INC, NULL, print_attribute, NULL);
        printf("  %6s %14s %6s %14s %14s\n", "#", "index", "label", "weight", "gain");
        for (size_t j = 0; j < k && (long)j < rows; ++j)
            printf("  %6zu %14lld %6d %14.6g %14.6g\n", j, (long long)index[j], label[j], weight[j], gain[j]);
        if ((long)k > rows) printf("  … %zu more\n", k - (size_t)rows);
    }
    free(index);
    free(weight);
    free(gain);
    free(label);
    return status;
}

static int describe_dataset(hid_t file, const char *path)
{
    hid_t x, y;
    hsize_t xd[2], yd[1];
    GC_TRY(gc_h5_open_dataset(file, path, "/X", 2, H5T_FLOAT, &x, xd));
    hid_t dcpl = H5Dget_create_plist(x);
    int chunked = H5Pget_layout(dcpl) == H5D_CHUNKED, filters = H5Pget_nfilters(dcpl);
    H5Pclose(dcpl);
    H5Dclose(x);
    GC_TRY(gc_h5_open_dataset(file, path, "/y", 1, H5T_INTEGER, &y, yd));
    H5Dclose(y);
    printf("%s: dataset, N = %llu rows, d = %llu features, %s%s%s\n", path, (unsigned long long)xd[0],
           (unsigned long long)xd[1], chunked ? "chunked" : "contiguous", filters > 0 ? ", compressed" : "",
           gc_h5_has(file, "/ids") ? ", with /ids" : "");
    int64_t *labels = gc_malloc((size_t)(yd[0] ? yd[0] : 1) * sizeof *labels);
    GC_CHECK_ALLOC(labels);
    int status = read_all(file, "/y", H5T_NATIVE_INT64, labels);
    if (status == GC_OK) {
        int64_t max = -1;
        for (hsize_t i = 0; i < yd[0]; ++i) max = labels[i] > max ? labels[i] : max;
        int64_t C = max + 1, shown = C < 32 ? C : 32;
        int64_t *hist = gc_calloc((size_t)(C > 0 ? C : 1), sizeof *hist);
        if (hist != NULL && max < (1 << 26)) {
            for (hsize_t i = 0; i < yd[0]; ++i)
                if (labels[i] >= 0) hist[labels[i]]++;
            printf("  class sizes:");
            for (int64_t c = 0; c < shown; ++c) printf(" %lld", (long long)hist[c]);
            printf("%s\n", C > shown ? " …" : "");
        }
        free(hist);
        H5Aiterate2(file, H5_INDEX_NAME, H5_ITER_INC, NULL, print_attribute, NULL);
    }
    free(labels);
    return status;
}

static int describe(const char *path, long rows)
{
    hid_t file;
    GC_TRY(gc_h5_open_read(path, H5P_DEFAULT, &file));
    int status;
    if (gc_h5_has(file, "/coreset")) {
        status = describe_coreset(file, path, rows);
    } else if (gc_h5_has(file, "/X")) {
        status = describe_dataset(file, path);
    } else if (gc_h5_has(file, "/E")) {
        hid_t e;
        hsize_t dims[2];
        status = gc_h5_open_dataset(file, path, "/E", 2, H5T_FLOAT, &e, dims);
        if (status == GC_OK) {
            printf("%s: embeddings, N = %llu rows, D = %llu\n", path, (unsigned long long)dims[0],
                   (unsigned long long)dims[1]);
            H5Dclose(e);
        }
    } else {
        status = gc_fail(GC_ERR_INPUT, "%s: neither a dataset (/X), embeddings (/E) nor a coreset (/coreset)", path);
    }
    H5Fclose(file);
    return status;
}

int gc_command_info(int argc, char **argv)
{
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    const char *path = NULL;
    if (argc > 0 && strncmp(argv[0], "-", 1) != 0) {
        path = argv[0];
        --argc;
        ++argv;
    }
    gc_options o;
    int status = gc_options_parse(&o, "info", info_options, argc, argv);
    long rows = 10;
    if (status == GC_OK && !o.help_requested && !o.version_requested) {
        status = gc_options_get_long(&o, "rows", 0, 1L << 40, &rows);
        if (status == GC_OK && path == NULL) status = gc_fail(GC_ERR_USAGE, "gradcore info needs a FILE");
        gc_h5_silence();
        if (status == GC_OK && rank == 0) status = describe(path, rows);
    }
    status = gc_comm_agree(MPI_COMM_WORLD, status);
    if (status == GC_OK && rank == 0 && o.help_requested) gc_options_print_help(info_options, info_usage, stdout);
    if (status == GC_OK && rank == 0 && o.version_requested)
        printf("gradcore info %s (%s)\n", GC_VERSION, GC_GIT_COMMIT);
    gc_options_destroy(&o);
    return status;
}
