/* The table of selectors (docs/design.md §4) and the presets of --method: one entry per selection
 * algorithm with its options, its distributed `select`, and the weighted `merge` that stream's
 * merge-reduce compresses slots with. `gradcore select`, `gradcore stream` and the library entry
 * point (src/commands/select_api.h) dispatch through this table only; the option groups below are
 * declared once here and composed into each command's option table. */
#ifndef GC_SELECTOR_H
#define GC_SELECTOR_H

#include "core/options.h"
#include "io/coreset.h"
#include "io/stream_state.h"
#include "run_context.h"
#include "select_bico.h"
#include "select_crest.h"
#include "select_fl.h"
#include "select_omp.h"

/* Every selector's options, filled by gc_selector_parse; only the running selector's part is read. */
typedef struct {
    gc_fl_options fl;
    gc_omp_options omp;
    gc_crest_options crest;
    gc_bico_options bico;
} gc_selector_options;

typedef struct {
    const char *name; /* --selector */
    /* Reads this selector's options (per_class and the seed already resolved by the command);
     * `method` is the preset, which may change defaults (gradmatch: λ = 1, nonnegative). */
    int (*parse)(const gc_options *o, const char *method, gc_selector_options *opt);
    /* Collective: the coreset of the rows, k of them (crest and covers choose their own size). */
    int (*select)(const gc_run_context *run, const gc_selector_options *opt, const gc_local_rows *rows, int64_t k,
                  gc_coreset *cs);
    /* Weighted members (replicated on every rank, sorted by id) to at most m members whose weights
     * summarise them (stream's merge-reduce), the same on every rank; NULL: cannot merge. */
    int (*merge)(const gc_run_context *run, const gc_selector_options *opt, const gc_member_set *in, int classes,
                 int64_t m, gc_member_set *out);
    int sized_by_options; /* 1: --k does not apply (crest: --subsets × --batch-size) */
    int class_budgets;    /* 1: the coreset holds per-class budgets and sizes (--per-class) */
    int device_rows;      /* 1: reads E only through the backend's ops, so E may live on the device alone
                           * (docs/design.md §3.2); the others read host E */
    int device_row_bytes; /* device bytes a row its passes hold besides E (the backend's row_reserve);
                           * 0: the backend's default */
} gc_selector;

/* A --method: an embedding and a selector. */
typedef struct {
    const char *name, *embedding, *selector;
} gc_method;

#define GC_METHOD_NAMES   "craig|adacore|gmc|gradmatch|crest|bico"
#define GC_SELECTOR_NAMES "fl|omp|crest|bico"

/* NULL when unknown. */
const gc_selector *gc_selector_find(const char *name);
const gc_method *gc_method_find(const char *name);
/* The embedding kind of a --embedding name, or -1. */
int gc_embedding_find(const char *name);
extern const char *const gc_embedding_names[]; /* by gc_embedding_kind */

/* Reads the options every selector shares (--per-class with the command's default, --seed,
 * --stochastic, --partition-size, --oversample, --shuffle-partitions, --merge, --safeguard-sample)
 * and then the selector's own. */
int gc_selector_parse(const gc_options *o, const gc_selector *sel, const char *method, int per_class_default,
                      gc_selector_options *opt);

/* Option groups, each declared once (NCCL's once-declared parameters): commands compose them with
 * gc_options_parse_groups. */
extern const gc_option_spec gc_embedding_option_specs[]; /* model, init draws, embedding, sketch */
extern const gc_option_spec gc_selection_option_specs[]; /* per-class, batch, seed, device */
extern const gc_option_spec gc_fl_option_specs[];
extern const gc_option_spec gc_omp_option_specs[];
extern const gc_option_spec gc_crest_option_specs[];
extern const gc_option_spec gc_bico_option_specs[];
extern const gc_option_spec gc_report_option_specs[]; /* timings, quiet, verbose */

#endif
