#include "coreset_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/version.h"
#include "h5util.h"

/* The top-level phases' max seconds over ranks (the whole tree goes to --timings). */
static int write_timings(hid_t root, const gc_phases *t)
{
    char buf[2048];
    gc_phases_summary(t, buf, sizeof buf);
    GC_TRY(gc_h5_write_attr_string(root, "timings_max_s", buf));
    for (int i = 0; i < t->count; ++i) {
        if (t->phase[i].depth > 0) continue;
        char name[GC_PHASE_PATH_BYTES + 16];
        snprintf(name, sizeof name, "time_%s_s", t->phase[i].path);
        GC_TRY(gc_h5_write_attr_double(root, name, t->phase[i].max_s));
    }
    return GC_OK;
}

/* CREST's batches as [P, m] matrices (row s = subset s's batch in greedy order) and, when asked
 * for, the subsets themselves as [P, r]. */
static int write_crest(hid_t file, const gc_crest_batches *cb)
{
    hid_t g = H5Gcreate2(file, "/crest", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    GC_CHECK_H5(g, file, "cannot create /crest");
    hsize_t batches[2] = { (hsize_t)cb->subsets, (hsize_t)cb->batch_size };
    hsize_t subsets[2] = { (hsize_t)cb->subsets, (hsize_t)cb->subset_size };
    int status = gc_h5_write_dataset(g, "batch_index", H5T_NATIVE_INT64, 2, batches, cb->batch_index);
    if (status == GC_OK)
        status = gc_h5_write_dataset(g, "batch_weight", H5T_NATIVE_DOUBLE, 2, batches, cb->batch_weight);
    if (status == GC_OK && cb->subset_index != NULL)
        status = gc_h5_write_dataset(g, "subset_index", H5T_NATIVE_INT64, 2, subsets, cb->subset_index);
    if (status == GC_OK) status = gc_h5_write_attr_long(g, "subsets", (long)cb->subsets);
    if (status == GC_OK) status = gc_h5_write_attr_long(g, "subset_size", (long)cb->subset_size);
    if (status == GC_OK) status = gc_h5_write_attr_long(g, "batch_size", (long)cb->batch_size);
    if (status == GC_OK) status = gc_h5_write_attr_long(g, "excluded_rows", (long)cb->excluded);
    H5Gclose(g);
    return status;
}

/* BiCo's landmarks (global rows, draw order) and kernel, so the features can be rebuilt. */
static int write_bico(hid_t file, const gc_bico_info *b)
{
    hid_t g = H5Gcreate2(file, "/bico", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    GC_CHECK_H5(g, file, "cannot create /bico");
    hsize_t q[1] = { (hsize_t)b->landmarks };
    int status = gc_h5_write_dataset(g, "landmark_index", H5T_NATIVE_INT64, 1, q, b->landmark_index);
    if (status == GC_OK) status = gc_h5_write_attr_double(g, "gamma", b->gamma);
    if (status == GC_OK) status = gc_h5_write_attr_long(g, "feature_rank", b->feature_rank);
    if (status == GC_OK) status = gc_h5_write_attr_double(g, "ridge", b->ridge);
    if (status == GC_OK) status = gc_h5_write_attr_long(g, "weighted", b->weighted);
    H5Gclose(g);
    return status;
}

static int write_contents(hid_t file, const gc_coreset *cs, const gc_provenance *p)
{
    hid_t g = H5Gcreate2(file, "/coreset", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    GC_CHECK_H5(g, file, "cannot create /coreset");
    hsize_t k[1] = { (hsize_t)cs->k };
    int status = gc_h5_write_dataset(g, "index", H5T_NATIVE_INT64, 1, k, cs->index);
    if (status == GC_OK) status = gc_h5_write_dataset(g, "weight", H5T_NATIVE_DOUBLE, 1, k, cs->weight);
    if (status == GC_OK) status = gc_h5_write_dataset(g, "label", H5T_NATIVE_INT32, 1, k, cs->label);
    if (status == GC_OK) status = gc_h5_write_dataset(g, "gain", H5T_NATIVE_DOUBLE, 1, k, cs->gain);
    if (status == GC_OK) status = gc_h5_write_dataset(g, "loss", H5T_NATIVE_FLOAT, 1, k, cs->loss);
    H5Gclose(g);
    if (status == GC_OK && cs->crest.batch_index != NULL) status = write_crest(file, &cs->crest);
    if (status == GC_OK && cs->bico.landmark_index != NULL) status = write_bico(file, &cs->bico);
    GC_TRY(status);
    hid_t root = H5Gopen2(file, "/", H5P_DEFAULT);
    GC_CHECK_H5(root, file, "cannot open /");
    long *budgets = gc_malloc((size_t)cs->classes * sizeof *budgets);
    int nb = cs->classes;
    status = budgets ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory writing the coreset");
    for (int c = 0; c < nb && status == GC_OK; ++c) budgets[c] = (long)cs->budgets[c];
    if (status == GC_OK) status = gc_h5_write_attr_string(root, "version", GC_VERSION);
    if (status == GC_OK) status = gc_h5_write_attr_string(root, "git_commit", GC_GIT_COMMIT);
    if (status == GC_OK) status = gc_h5_write_attr_string(root, "command_line", p->command_line);
    if (status == GC_OK) status = gc_h5_write_attr_string(root, "options", p->resolved_options);
    if (status == GC_OK) status = gc_h5_write_attr_string(root, "method", p->method);
    if (status == GC_OK) status = gc_h5_write_attr_string(root, "embedding", p->embedding);
    if (status == GC_OK) status = gc_h5_write_attr_string(root, "selector", p->selector);
    if (status == GC_OK) status = gc_h5_write_attr_string(root, "devices", p->devices);
    if (status == GC_OK) status = gc_h5_write_attr_long(root, "N", (long)p->n);
    if (status == GC_OK) status = gc_h5_write_attr_long(root, "D", cs->D);
    if (status == GC_OK) status = gc_h5_write_attr_long(root, "C", cs->classes);
    if (status == GC_OK) status = gc_h5_write_attr_long(root, "k", (long)cs->k);
    if (status == GC_OK) status = gc_h5_write_attr_long(root, "ranks", p->ranks);
    if (status == GC_OK) status = gc_h5_write_attr_long(root, "seed", (long)p->seed);
    if (status == GC_OK) status = gc_h5_write_attr_long_array(root, "class_budgets", budgets, nb);
    if (status == GC_OK) status = gc_h5_write_attr_double(root, "objective", cs->objective);
    if (status == GC_OK) status = gc_h5_write_attr_double(root, "total_distance", cs->total_distance);
    if (status == GC_OK) status = gc_h5_write_attr_double(root, "similarity_constant", cs->c);
    if (status == GC_OK) status = gc_h5_write_attr_double(root, "relative_gradient_error", p->gradient_error);
    if (status == GC_OK)
        status = gc_h5_write_attr_double(root, "random_subset_gradient_error", p->random_gradient_error);
    if (status == GC_OK && cs->crest.batch_index != NULL)
        status = gc_h5_write_attr_double(root, "crest_gradient_bias", cs->crest.gradient_bias);
    if (status == GC_OK && cs->crest.batch_index != NULL)
        status = gc_h5_write_attr_double(root, "random_batch_gradient_bias", cs->crest.random_batch_gradient_bias);
    if (status == GC_OK && p->timings != NULL) status = write_timings(root, p->timings);
    free(budgets);
    H5Gclose(root);
    return status;
}

int gc_stage_coreset(const char *path, const gc_coreset *cs, const gc_provenance *prov, char *tmp, size_t size)
{
    gc_temporary_name(path, tmp, size);
    hid_t file = gc_h5_create_in_memory(tmp);
    if (file < 0) return gc_commit_output("--out", tmp, path, gc_h5_fail_path(GC_ERR_IO, tmp, "cannot create"));
    int status = write_contents(file, cs, prov);
    if (status == GC_OK)
        status = gc_h5_save_in_memory(file, "--out", tmp);
    else
        H5Fclose(file);
    return status == GC_OK ? GC_OK : gc_commit_output("--out", tmp, path, status); /* removes the temporary */
}

int gc_write_coreset(const char *path, const gc_coreset *cs, const gc_provenance *prov)
{
    char tmp[4096];
    GC_TRY(gc_stage_coreset(path, cs, prov, tmp, sizeof tmp));
    return gc_commit_output("--out", tmp, path, GC_OK);
}
