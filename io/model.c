#include "model.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/error.h"
#include "core/rng.h"
#include "h5util.h"

static const char *activation_names[] = { "relu", "tanh", "gelu", "identity" };

static int allocate(gc_model *m, int layers)
{
    memset(m, 0, sizeof *m);
    m->layers = layers;
    m->widths = gc_calloc((size_t)layers + 1, sizeof *m->widths);
    m->weight = gc_calloc((size_t)layers, sizeof *m->weight);
    m->bias = gc_calloc((size_t)layers, sizeof *m->bias);
    if (m->widths == NULL || m->weight == NULL || m->bias == NULL)
        return gc_fail(GC_ERR_MEMORY, "out of memory for the model");
    return GC_OK;
}

static int allocate_layer(gc_model *m, int l)
{
    m->weight[l] = gc_malloc((size_t)m->widths[l + 1] * m->widths[l] * sizeof(float));
    m->bias[l] = gc_malloc((size_t)m->widths[l + 1] * sizeof(float));
    if (m->weight[l] == NULL || m->bias[l] == NULL)
        return gc_fail(GC_ERR_MEMORY, "out of memory for model layer %d", l);
    return GC_OK;
}

static int read_activation(hid_t file, const char *path, gc_activation *act)
{
    *act = GC_ACT_RELU;
    if (H5Aexists(file, "activation") <= 0) return GC_OK;
    hid_t a = H5Aopen(file, "activation", H5P_DEFAULT);
    hid_t type = H5Aget_type(a);
    char value[64] = { 0 };
    int status = GC_OK;
    hid_t mem = H5Tcopy(H5T_C_S1);
    if (H5Tget_class(type) == H5T_STRING) H5Tset_cset(mem, H5Tget_cset(type)); /* h5py writes UTF-8 */
    if (H5Tget_class(type) != H5T_STRING) {
        status = gc_fail(GC_ERR_INPUT, "%s: attribute activation is not a string", path);
    } else if (H5Tis_variable_str(type) > 0) { /* h5py writes variable-length strings */
        char *vl = NULL;
        H5Tset_size(mem, H5T_VARIABLE);
        if (H5Aread(a, mem, &vl) < 0 || vl == NULL)
            status = gc_fail(GC_ERR_INPUT, "%s: cannot read attribute activation", path);
        else
            snprintf(value, sizeof value, "%s", vl);
        H5free_memory(vl);
    } else {
        H5Tset_size(mem, sizeof value - 1);
        if (H5Aread(a, mem, value) < 0) status = gc_fail(GC_ERR_INPUT, "%s: cannot read attribute activation", path);
    }
    H5Tclose(mem);
    H5Tclose(type);
    H5Aclose(a);
    GC_TRY(status);
    for (int i = 0; i < 4; ++i)
        if (strcmp(value, activation_names[i]) == 0) return *act = (gc_activation)i, GC_OK;
    return gc_fail(GC_ERR_INPUT, "%s: activation '%s' is not relu, tanh, gelu or identity", path, value);
}

/* A NaN or Inf weight would make every embedding, and so the coreset, NaN: refused like NaN in X. */
static int check_finite(const char *path, int layer, const char *name, const float *values, size_t count)
{
    for (size_t i = 0; i < count; ++i)
        if (!isfinite(values[i]))
            return gc_fail(GC_ERR_INPUT, "%s: /layers/%d/%s entry %zu is not finite (NaN or Inf)", path, layer, name,
                           i);
    return GC_OK;
}

static int read_on_root(gc_model *m, const char *path)
{
    hid_t file;
    GC_TRY(gc_h5_open_read(path, H5P_DEFAULT, &file));
    int layers = 0;
    char name[64];
    for (;; ++layers) {
        snprintf(name, sizeof name, "/layers/%d/W", layers);
        if (!gc_h5_has(file, "/layers") || !gc_h5_has(file, name)) break;
    }
    int status = layers == 0 ? gc_fail(GC_ERR_INPUT, "%s: no /layers/0/W", path) : allocate(m, layers);
    if (status == GC_OK) status = read_activation(file, path, &m->activation);
    for (int l = 0; l < layers && status == GC_OK; ++l) {
        hid_t w, b;
        hsize_t wd[2], bd[1];
        snprintf(name, sizeof name, "/layers/%d/W", l);
        status = gc_h5_open_dataset(file, path, name, 2, H5T_FLOAT, &w, wd);
        if (status != GC_OK) break;
        snprintf(name, sizeof name, "/layers/%d/b", l);
        status = gc_h5_open_dataset(file, path, name, 1, H5T_FLOAT, &b, bd);
        if (status != GC_OK) {
            H5Dclose(w);
            break;
        }
        /* Widths are int and a layer goes to its peers in one int-counted broadcast. */
        if (wd[0] == 0 || wd[1] == 0 || wd[0] > INT_MAX || wd[1] > INT_MAX || wd[0] * wd[1] > INT_MAX)
            status = gc_fail(GC_ERR_INPUT, "%s: /layers/%d/W is %llu × %llu; gradcore takes up to %d values a layer",
                             path, l, (unsigned long long)wd[0], (unsigned long long)wd[1], INT_MAX);
        else if (l > 0 && (int)wd[1] != m->widths[l])
            status = gc_fail(GC_ERR_INPUT,
                             "%s: /layers/%d/W takes %llu inputs but layer %d gives %d "
                             "(widths do not chain)",
                             path, l, (unsigned long long)wd[1], l - 1, m->widths[l]);
        else if (bd[0] != wd[0])
            status = gc_fail(GC_ERR_INPUT, "%s: /layers/%d/b has %llu entries, W has %llu rows", path, l,
                             (unsigned long long)bd[0], (unsigned long long)wd[0]);
        if (status == GC_OK) {
            m->widths[l] = (int)wd[1];
            m->widths[l + 1] = (int)wd[0];
            status = allocate_layer(m, l);
        }
        if (status == GC_OK && H5Dread(w, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, m->weight[l]) < 0)
            status = gc_h5_fail(w, "cannot read a layer's W");
        if (status == GC_OK && H5Dread(b, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, m->bias[l]) < 0)
            status = gc_h5_fail(b, "cannot read a layer's b");
        if (status == GC_OK) status = check_finite(path, l, "W", m->weight[l], (size_t)m->widths[l + 1] * m->widths[l]);
        if (status == GC_OK) status = check_finite(path, l, "b", m->bias[l], (size_t)m->widths[l + 1]);
        H5Dclose(w);
        H5Dclose(b);
    }
    H5Fclose(file);
    return status;
}

int gc_model_read(gc_model *m, const char *path, MPI_Comm comm)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    memset(m, 0, sizeof *m);
    int status = rank == 0 ? read_on_root(m, path) : GC_OK;
    GC_TRY(gc_comm_agree(comm, status));
    int head[2] = { m->layers, (int)m->activation };
    GC_CHECK_MPI(MPI_Bcast(head, 2, MPI_INT, 0, comm));
    if (rank != 0) GC_TRY(allocate(m, head[0]));
    m->activation = (gc_activation)head[1];
    GC_CHECK_MPI(MPI_Bcast(m->widths, m->layers + 1, MPI_INT, 0, comm));
    for (int l = 0; l < m->layers; ++l) {
        if (rank != 0) GC_TRY(allocate_layer(m, l));
        GC_CHECK_MPI(MPI_Bcast(m->weight[l], m->widths[l + 1] * m->widths[l], MPI_FLOAT, 0, comm));
        GC_CHECK_MPI(MPI_Bcast(m->bias[l], m->widths[l + 1], MPI_FLOAT, 0, comm));
    }
    return GC_OK;
}

int gc_model_init_draw(gc_model *m, int in, const int *hidden, int n_hidden, int classes, uint64_t seed, int draw)
{
    GC_TRY(allocate(m, n_hidden + 1));
    m->activation = GC_ACT_RELU;
    m->widths[0] = in;
    for (int l = 0; l < n_hidden; ++l) m->widths[l + 1] = hidden[l];
    m->widths[n_hidden + 1] = classes;
    uint64_t counter = 0, draw_seed = gc_mix64(seed + 0x5851f42d4c957f2dULL * (uint64_t)(draw + 1));
    for (int l = 0; l < m->layers; ++l) {
        GC_TRY(allocate_layer(m, l));
        double bound = 1.0 / sqrt((double)m->widths[l]);
        size_t nw = (size_t)m->widths[l + 1] * m->widths[l];
        for (size_t i = 0; i < nw; ++i)
            m->weight[l][i] = (float)((2.0 * gc_rng_uniform(draw_seed, GC_STREAM_MODEL, counter++) - 1.0) * bound);
        for (int i = 0; i < m->widths[l + 1]; ++i)
            m->bias[l][i] = (float)((2.0 * gc_rng_uniform(draw_seed, GC_STREAM_MODEL, counter++) - 1.0) * bound);
    }
    return GC_OK;
}

void gc_model_destroy(gc_model *m)
{
    for (int l = 0; l < m->layers; ++l) {
        if (m->weight) free(m->weight[l]);
        if (m->bias) free(m->bias[l]);
    }
    free(m->weight);
    free(m->bias);
    free(m->widths);
    memset(m, 0, sizeof *m);
}

int gc_model_penultimate_width(const gc_model *m) { return m->widths[m->layers - 1]; }

int gc_model_classes(const gc_model *m) { return m->widths[m->layers]; }
