#include "select_fl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "core/comm.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/rng.h"
#include "io/checkpoint.h"
#include "kernels/backend.h"
#include "kernels/cpu/greedy_fl_cpu.h"
#include "quality.h"
#include "weights.h"

/* Rows travel between ranks as packed records so one MPI_Alltoallv moves everything a partition
 * owner needs: global index, partition id, label, loss and the embedding. */
typedef struct {
    int64_t index;
    int32_t partition;
    int32_t label;
    float loss;
} row_header;

/* Candidates travel to the merge rank with their coverage weight and greedy rank. */
typedef struct {
    int64_t index;
    double gain;
    double coverage;
    int32_t group;
    int32_t label;
    int32_t order; /* position in its partition's greedy order */
    int32_t partition;
    float loss;
} candidate_header;

typedef struct {
    int groups;          /* classes when per-class, else 1 */
    int64_t *sizes;      /* [G] N_g */
    int64_t *my_offset;  /* [G] class position of this rank's first row of group g */
    int64_t *budgets;    /* [G] k_g */
    int64_t *parts;      /* [G] number of partitions */
    int64_t *first_part; /* [G + 1] global partition id of group g's first partition */
    int32_t *owner;      /* [partitions] the rank that greedies it: one holding its rows (assign_owners) */
    int64_t *owned_slot; /* [partitions] its place among this rank's partitions, or −1 */
    int64_t owned;       /* this rank's partitions */
} partition_plan;

static void plan_destroy(partition_plan *p)
{
    free(p->sizes);
    free(p->my_offset);
    free(p->budgets);
    free(p->parts);
    free(p->first_part);
    free(p->owner);
    free(p->owned_slot);
}

static int group_of(const gc_local_rows *rows, int per_class, int64_t i) { return per_class ? rows->y[i] : 0; }

/* out [count × D] ← local rows index[t], from host E or the device (gc_backend_rows_get). */
static int local_rows_get(gc_backend *backend, const gc_local_rows *rows, int64_t count, const int64_t *index,
                          float *out)
{
    return gc_backend_rows_get(backend, rows->e, rows->D, count, index, out, (size_t)rows->D * sizeof *out);
}

/* A group of N rows is cut into np pieces starting at ceil(p·N/np), so pieces differ in size by at
 * most one and class position q lies in piece floor(q·np/N). */
static int64_t piece_of(int64_t q, int64_t np, int64_t N) { return (int64_t)(((__int128)q * np) / N); }
static int64_t piece_start(int64_t p, int64_t np, int64_t N) { return (int64_t)(((__int128)p * N + np - 1) / np); }

/* Every partition's owner (counts [P × G]: each rank's rows of each group). Ranks hold increasing
 * ranges of the global index and a piece is a run of consecutive class positions, so a piece's rows
 * sit on one rank but for the pieces straddling a rank boundary: the row exchange moves O(C) pieces'
 * rows a boundary instead of the (P − 1)/P of all rows that dealing partitions round-robin moved. A
 * piece within one rank is owned there. A straddling piece goes to whichever rank holding its rows
 * has the fewest partition rows so far (ties: the one holding more of it, then the lower rank):
 * owning each by its first row gave every class's straddler to the same side of a boundary (classes
 * of equal size are cut at the same place), 1.2× the rows on rank 0 at two ranks of 1M rows and 100
 * classes. Every rank computes the same owners from the same counts; where a partition is greedied
 * changes nothing in it (docs/design.md §1.1, §4.1). */
static int assign_owners(partition_plan *plan, const int64_t *counts, int P, int rank)
{
    const int G = plan->groups;
    const int64_t partitions = plan->first_part[G];
    plan->owner = gc_malloc((size_t)(partitions ? partitions : 1) * sizeof *plan->owner);
    plan->owned_slot = gc_malloc((size_t)(partitions ? partitions : 1) * sizeof *plan->owned_slot);
    int64_t *load = gc_calloc((size_t)P, sizeof *load); /* each rank's partition rows so far */
    if (!plan->owner || !plan->owned_slot || !load) {
        free(load);
        return gc_fail(GC_ERR_MEMORY, "out of memory for the partition plan");
    }
    /* Pieces within one rank first (pass 0), so the straddlers (pass 1) balance what those leave. */
    for (int pass = 0; pass < 2; ++pass)
        for (int g = 0; g < G; ++g) {
            const int64_t np = plan->parts[g], N = plan->sizes[g];
            int r = 0;
            int64_t before = 0; /* class positions on ranks before r */
            for (int64_t p = 0; p < np; ++p) {
                const int64_t start = piece_start(p, np, N), end = piece_start(p + 1, np, N);
                while (r < P - 1 && before + counts[(size_t)r * G + g] <= start) before += counts[(size_t)r++ * G + g];
                /* Rank r holds class positions [before, r_end), start among them; ranks after it
                 * hold the rest of the piece up to end, in turn. */
                const int64_t r_end = before + counts[(size_t)r * G + g];
                int best = r, straddles = 0;
                int64_t best_held = (r_end < end ? r_end : end) - start;
                int64_t at = r_end; /* class positions before rank s */
                for (int s = r + 1; s < P && at < end; ++s) {
                    const int64_t s_end = at + counts[(size_t)s * G + g], held = (s_end < end ? s_end : end) - at;
                    at = s_end;
                    if (held <= 0) continue;
                    straddles = 1;
                    if (load[s] < load[best] || (load[s] == load[best] && held > best_held)) best = s, best_held = held;
                }
                if (straddles != pass) continue;
                plan->owner[plan->first_part[g] + p] = best;
                load[best] += end - start;
            }
        }
    free(load);
    plan->owned = 0;
    for (int64_t id = 0; id < partitions; ++id) plan->owned_slot[id] = plan->owner[id] == rank ? plan->owned++ : -1;
    return GC_OK;
}

static int make_plan(const gc_local_rows *rows, const gc_fl_options *opt, int64_t k, partition_plan *plan)
{
    const int G = opt->per_class ? rows->classes : 1, P = rows->size;
    memset(plan, 0, sizeof *plan);
    plan->groups = G;
    plan->sizes = gc_calloc((size_t)G, sizeof(int64_t));
    plan->my_offset = gc_calloc((size_t)G, sizeof(int64_t));
    plan->budgets = gc_calloc((size_t)G, sizeof(int64_t));
    plan->parts = gc_calloc((size_t)G, sizeof(int64_t));
    plan->first_part = gc_calloc((size_t)G + 1, sizeof(int64_t));
    int64_t *counts = gc_calloc((size_t)G * P, sizeof *counts);
    int status = plan->sizes && plan->my_offset && plan->budgets && plan->parts && plan->first_part && counts
                     ? GC_OK
                     : gc_fail(GC_ERR_MEMORY, "out of memory for the partition plan");
    if ((status = gc_comm_agree(rows->comm, status)) != GC_OK) {
        free(counts);
        return status; /* the caller destroys the plan */
    }
    int64_t *mine = counts + (size_t)rows->rank * G;
    gc_count_classes(opt->per_class ? rows->y : NULL, rows->n_local, G, mine);
    GC_CHECK_MPI(MPI_Allgather(MPI_IN_PLACE, G, MPI_INT64_T, counts, G, MPI_INT64_T, rows->comm));
    for (int r = 0; r < P; ++r)
        for (int g = 0; g < G; ++g) {
            if (r < rows->rank) plan->my_offset[g] += counts[(size_t)r * G + g];
            plan->sizes[g] += counts[(size_t)r * G + g];
        }
    if (opt->per_class)
        status = gc_class_budgets(plan->sizes, G, k, plan->budgets);
    else
        plan->budgets[0] = k;
    for (int g = 0; g < G; ++g) {
        int64_t N = plan->sizes[g];
        plan->parts[g] = (plan->budgets[g] > 0 && N > 0) ? (N + opt->partition_size - 1) / opt->partition_size : 0;
        plan->first_part[g + 1] = plan->first_part[g] + plan->parts[g];
    }
    if (status == GC_OK) status = assign_owners(plan, counts, P, rows->rank);
    free(counts);
    return gc_comm_agree(rows->comm, status); /* the budgets' or owners' scratch may have failed on some rank */
}

static int64_t candidates_of_piece(const partition_plan *plan, const gc_fl_options *opt, int g, int64_t size)
{
    if (plan->parts[g] == 1) return plan->budgets[g];
    int64_t kappa = (int64_t)ceil(opt->oversample * (double)plan->budgets[g] * (double)size / (double)plan->sizes[g]);
    return kappa < size ? kappa : size;
}

int gc_similarity_constant(gc_backend *backend, const gc_local_rows *rows, double *c)
{
    const int D = rows->D;
    double *mean = gc_malloc((size_t)D * sizeof *mean);
    int status =
        gc_comm_agree(rows->comm, mean ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory for the mean embedding"));
    const gc_random_subsets none = { .count = 0, .n_global = rows->n_global, .size = 0, .seed = 0 };
    if (status == GC_OK) status = gc_exact_row_sums(backend, rows, &none, mean); /* exact: any rank count */
    double radius = 0.0;
    if (status == GC_OK) {
        for (int j = 0; j < D; ++j) mean[j] /= (double)rows->n_global;
        status = gc_comm_agree(rows->comm, gc_backend_fl_radius(backend, rows->e, rows->n_local, D, mean, &radius));
    }
    free(mean);
    GC_TRY(status);
    GC_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, &radius, 1, MPI_DOUBLE, MPI_MAX, rows->comm));
    *c = radius > 0.0 ? 2.0 * sqrt(radius) : 1.0;
    return GC_OK;
}

void gc_similarity_constant_count(const gc_run_context *run, const gc_local_rows *rows)
{
    /* Two reads of E where the backend sums (its largest magnitude, the exact sum), and the radius's
     * where the backend measures it (else on the host), each at the width it is read at. */
    const gc_backend *backend = run->backend;
    const int sums_on_device = backend != NULL && backend->ops->quality_sums != NULL,
              radius_on_device = backend != NULL && backend->ops->fl_radius != NULL;
    const double values = (double)rows->n_local * rows->D;
    gc_phase_count_on(run->phases, sums_on_device ? GC_FLOOR_MEMORY : GC_FLOOR_HOST,
                      2.0 * values * gc_backend_value_bytes(backend, sums_on_device));
    gc_phase_count_on(run->phases, radius_on_device ? GC_FLOOR_MEMORY : GC_FLOOR_HOST,
                      values * gc_backend_value_bytes(backend, radius_on_device));
}

void gc_fl_greedy_count(gc_phases *phases, int64_t m, int D)
{
    gc_phase_count(phases, 16.0 * (double)m * (double)m, (double)m * ((double)m + 1.0) * D);
}

/* Work on n rows is split into a fixed number of chunks, so the split never depends on the thread
 * count; a row's place in an output comes from counts of the chunks before its own, so the result
 * is the sequential one. */
enum { ROW_CHUNKS = 64 };

static int64_t chunk_start(int64_t n, int c) { return c * n / ROW_CHUNKS; }

/* part[i] ← the partition of local row i (−1: its group has no budget), and rows_to[c·P + r] ← the
 * rows of chunk c that go to rank r. A row's class position, which decides its partition, is this
 * rank's offset in its class plus the rows of its class before it (earlier chunks, then its own). */
static void map_rows(const gc_local_rows *rows, const gc_fl_options *opt, const partition_plan *plan, int64_t *before,
                     int32_t *part, int64_t *rows_to)
{
    const int G = plan->groups, P = rows->size;
    const int64_t n = rows->n_local;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < ROW_CHUNKS; ++c)
        for (int64_t i = chunk_start(n, c); i < chunk_start(n, c + 1); ++i)
            before[c * G + group_of(rows, opt->per_class, i)]++;
    for (int g = 0; g < G; ++g) {
        int64_t seen = 0;
        for (int c = 0; c < ROW_CHUNKS; ++c) {
            const int64_t count = before[c * G + g];
            before[c * G + g] = seen;
            seen += count;
        }
    }
#pragma omp parallel for schedule(static)
    for (int c = 0; c < ROW_CHUNKS; ++c)
        for (int64_t i = chunk_start(n, c); i < chunk_start(n, c + 1); ++i) {
            const int g = group_of(rows, opt->per_class, i);
            int64_t q = plan->my_offset[g] + before[c * G + g]++;
            part[i] = -1;
            if (plan->parts[g] == 0) continue;
            const int64_t N = plan->sizes[g];
            if (opt->shuffle)
                q = (int64_t)gc_permute((uint64_t)q, (uint64_t)N, opt->seed + (uint64_t)g * 0x9e37ULL,
                                        GC_STREAM_PARTITION);
            part[i] = (int32_t)(plan->first_part[g] + piece_of(q, plan->parts[g], N));
            rows_to[c * P + plan->owner[part[i]]]++;
        }
}

/* The rows of this rank's partitions: its own rows that stay here, read in place, and the rows other
 * ranks sent. An item is local row i (code i ≥ 0) or received row r (code −1 − r). */
typedef struct {
    const gc_local_rows *rows;
    int32_t *part;    /* [n_local] each local row's partition, −1: none */
    row_header *recv; /* [recv_count] the received rows' headers */
    float *recv_rows; /* [recv_count × D] their embeddings */
    int64_t recv_count;
    int64_t *items; /* [count] every item, in global-index order */
    int64_t count;
} partition_rows;

static void partition_rows_destroy(partition_rows *v)
{
    free(v->part);
    free(v->recv);
    free(v->recv_rows);
    free(v->items);
}

static row_header item_header(const partition_rows *v, int64_t code)
{
    if (code >= 0) return (row_header){ v->rows->lo + code, v->part[code], v->rows->y[code], v->rows->loss[code] };
    return v->recv[-1 - code];
}

static int32_t item_partition(const partition_rows *v, int64_t code)
{
    return code >= 0 ? v->part[code] : v->recv[-1 - code].partition;
}

static const float *item_row(const partition_rows *v, int64_t code)
{
    if (code >= 0) return v->rows->e + code * v->rows->D;
    return v->recv_rows + (-1 - code) * v->rows->D;
}

/* Sends every local row whose partition another rank owns to that owner, each rank's rows in local
 * row order; the rows of this rank's own partitions stay where they are (assign_owners: all but
 * O(C) pieces' rows a rank boundary). Mapping and packing run by chunks in parallel. Headers and
 * embeddings travel as two arrays, so the embeddings sent come from E in one gather (on the device
 * where E lives there alone) straight into the send buffer, and arrive as one array of rows. The
 * buffers use huge pages: in first touch of pages these VMs spent 0.5–0.8 s a GB (design §3). On
 * return v holds the received rows and v->items every item of this rank's partitions in global-index
 * order: rows from lower ranks, then own rows, then rows from higher ranks. Booked to sub-phases of the
 * open phase: pack (the rows' partitions and the send buffers), gather (the rows sent out of E) and
 * send (the two exchanges, with the agreement before them). */
static int exchange_rows(const gc_run_context *run, const gc_local_rows *rows, const gc_fl_options *opt,
                         const partition_plan *plan, partition_rows *v)
{
    gc_backend *backend = run->backend;
    const int P = rows->size, D = rows->D, me = rows->rank;
    const int64_t n = rows->n_local;
    *v = (partition_rows){ .rows = rows };
    int *send_counts = gc_calloc((size_t)P, sizeof(int)), *send_displs = gc_calloc((size_t)P, sizeof(int));
    v->part = gc_malloc_large((size_t)(n ? n : 1) * sizeof *v->part); /* first touch: design §3 */
    int64_t *before = gc_calloc((size_t)ROW_CHUNKS * plan->groups, sizeof *before);
    int64_t *at = gc_calloc((size_t)ROW_CHUNKS * P, sizeof *at); /* [chunk][rank]: rows, then first slot */
    row_header *send = NULL;
    float *send_rows = NULL;
    int64_t *send_index = NULL; /* the local row of each row sent */
    int32_t *part = v->part;
    int status = (send_counts && send_displs && part && before && at)
                     ? GC_OK
                     : gc_fail(GC_ERR_MEMORY, "out of memory for the row exchange");
    int64_t kept = 0, total = 0, kept_before[ROW_CHUNKS]; /* own rows kept in the chunks before c */
    gc_phase_begin(run->phases, "pack");
    gc_phase_bound(run->phases, GC_FLOOR_HOST);
    if (status == GC_OK) {
        map_rows(rows, opt, plan, before, part, at);
        for (int c = 0; c < ROW_CHUNKS; ++c) kept_before[c] = kept, kept += at[c * P + me];
        for (int r = 0; r < P; ++r) {
            for (int c = 0; c < ROW_CHUNKS && r != me; ++c) send_counts[r] += (int)at[c * P + r];
            if (r > 0) send_displs[r] = send_displs[r - 1] + send_counts[r - 1];
            for (int c = 0, slot = send_displs[r]; c < ROW_CHUNKS; ++c) {
                const int64_t count = at[c * P + r];
                at[c * P + r] = slot;
                slot += r != me ? (int)count : 0;
            }
        }
        total = (int64_t)send_displs[P - 1] + send_counts[P - 1];
        const size_t slots = (size_t)(total ? total : 1);
        send = gc_malloc_large(slots * sizeof *send);
        send_rows = gc_malloc_large(slots * D * sizeof *send_rows);
        send_index = gc_malloc_large(slots * sizeof *send_index);
        if (send == NULL || send_rows == NULL || send_index == NULL)
            status = gc_fail(GC_ERR_MEMORY, "out of memory for the row exchange");
    }
    if (status == GC_OK)
#pragma omp parallel for schedule(static)
        for (int c = 0; c < ROW_CHUNKS; ++c)
            for (int64_t i = chunk_start(n, c); i < chunk_start(n, c + 1); ++i) {
                if (part[i] < 0 || plan->owner[part[i]] == me) continue;
                const int64_t slot = at[c * P + plan->owner[part[i]]]++;
                send[slot] = (row_header){ rows->lo + i, part[i], rows->y[i], rows->loss[i] };
                send_index[slot] = i;
            }
    gc_phase_end(run->phases, (double)n * sizeof *part + (double)total * (sizeof *send + sizeof *send_index), 0);
    gc_phase_begin(run->phases, "gather");
    gc_phase_bound(run->phases, rows->e != NULL ? GC_FLOOR_HOST : GC_FLOOR_LINK);
    if (status == GC_OK) status = local_rows_get(backend, rows, total, send_index, send_rows);
    gc_phase_end(run->phases, (double)total * D * sizeof *send_rows, 0);
    gc_phase_begin(run->phases, "send");
    gc_phase_bound(run->phases, GC_FLOOR_HOST);
    status = gc_comm_agree(rows->comm, status);
    char *received = NULL, *received_rows = NULL;
    int64_t headers = 0;
    if (status == GC_OK)
        status = gc_comm_exchange_records(rows->comm, sizeof *send, (const char *)send, send_counts, send_displs,
                                          &received, &headers, "partition rows");
    v->recv = (row_header *)received;
    if (status == GC_OK)
        status = gc_comm_exchange_records(rows->comm, (size_t)D * sizeof *send_rows, (const char *)send_rows,
                                          send_counts, send_displs, &received_rows, &v->recv_count, "partition rows");
    v->recv_rows = (float *)received_rows;
    gc_phase_end(run->phases, (double)(total + v->recv_count) * (sizeof *send + (double)D * sizeof *send_rows), 0);
    if (status == GC_OK) {
        v->count = v->recv_count + kept;
        v->items = gc_malloc_large((size_t)(v->count ? v->count : 1) * sizeof *v->items);
        if (v->items == NULL) status = gc_fail(GC_ERR_MEMORY, "out of memory for the partitions' rows");
    }
    if (status == GC_OK) { /* rows arrive by source rank: those from lower ranks come first */
        int64_t lower = 0, t = 0;
        while (lower < v->recv_count && v->recv[lower].index < rows->lo) ++lower;
        for (int64_t r = 0; r < lower; ++r) v->items[t++] = -1 - r;
#pragma omp parallel for schedule(static)
        for (int c = 0; c < ROW_CHUNKS; ++c) {
            int64_t u = lower + kept_before[c];
            for (int64_t i = chunk_start(n, c); i < chunk_start(n, c + 1); ++i)
                if (part[i] >= 0 && plan->owner[part[i]] == me) v->items[u++] = i;
        }
        t += kept;
        for (int64_t r = lower; r < v->recv_count; ++r) v->items[t++] = -1 - r;
    }
    free(send);
    free(send_rows);
    free(send_index);
    free(send_counts);
    free(send_displs);
    free(before);
    free(at);
    return status;
}

typedef struct {
    const char *base;
    size_t rec;
} record_view;

/* qsort has no context argument: the records the comparators below look at. */
static record_view sort_view;

/* order ← the items of v (codes) in (partition, global index) order, in O(n): they are in
 * global-index order already, so a stable counting sort by partition finishes the job (the plan's
 * owned_slot numbers this rank's partitions in increasing id). first[s] ← where owned slot s's items
 * start in order, first[owned] = n. */
static int order_by_partition(const partition_rows *v, const partition_plan *plan, int64_t *order, int64_t *first)
{
    const int64_t owned = plan->owned, *slot = plan->owned_slot, n = v->count;
    int64_t *start = gc_calloc((size_t)ROW_CHUNKS * owned + 1, sizeof *start); /* [chunk][owned slot] */
    GC_CHECK_ALLOC(start);
#pragma omp parallel for schedule(static)
    for (int c = 0; c < ROW_CHUNKS; ++c)
        for (int64_t i = chunk_start(n, c); i < chunk_start(n, c + 1); ++i)
            start[c * owned + slot[item_partition(v, v->items[i])]]++;
    for (int64_t p = 0, at = 0; p <= owned; ++p) {
        first[p] = at;
        for (int c = 0; c < ROW_CHUNKS && p < owned; ++c) {
            const int64_t count = start[c * owned + p];
            start[c * owned + p] = at;
            at += count;
        }
    }
#pragma omp parallel for schedule(static)
    for (int c = 0; c < ROW_CHUNKS; ++c)
        for (int64_t i = chunk_start(n, c); i < chunk_start(n, c + 1); ++i)
            order[start[c * owned + slot[item_partition(v, v->items[i])]]++] = v->items[i];
    free(start);
    return GC_OK;
}

/* Partitions finished before an interruption, from this rank's checkpoint log. */
typedef struct {
    int64_t count;
    int64_t *pid;
    char **records;
    size_t *bytes;
} finished_partitions;

static void remember_partition(void *ctx, int64_t id, const void *payload, size_t bytes)
{
    finished_partitions *f = ctx;
    int64_t n = f->count + 1;
    int64_t *pid = gc_realloc(f->pid, (size_t)n * sizeof *pid);
    char **records = gc_realloc(f->records, (size_t)n * sizeof *records);
    size_t *sizes = gc_realloc(f->bytes, (size_t)n * sizeof *sizes);
    if (pid) f->pid = pid;
    if (records) f->records = records;
    if (sizes) f->bytes = sizes;
    char *copy = gc_malloc(bytes ? bytes : 1);
    if (!pid || !records || !sizes || !copy) { /* forgetting it only costs recomputing it */
        free(copy);
        return;
    }
    memcpy(copy, payload, bytes);
    f->pid[f->count] = id;
    f->records[f->count] = copy;
    f->bytes[f->count] = bytes;
    f->count = n;
}

static int64_t finished_index(const finished_partitions *f, int64_t pid)
{
    for (int64_t i = 0; i < f->count; ++i)
        if (f->pid[i] == pid) return i;
    return -1;
}

static void forget_partitions(finished_partitions *f)
{
    for (int64_t i = 0; i < f->count; ++i) free(f->records[i]);
    free(f->pid);
    free(f->records);
    free(f->bytes);
}

/* Partitions handed to the backend at once (gc_backend_fl_greedy_many): enough for a GPU to keep
 * several in flight, to hide each one's launches and upload behind the others', and to let its
 * lanes drain rarely (a call returns when its last partition is done: on an H100, 4,000 partitions
 * of 4,096 rows ran at 1,397/s in calls of 32 and 1,856/s in calls of 256,
 * bench/results/ab-h100x1/partitions/diagnosis/). Their rows sit together
 * in one buffer of at most PARTITION_BATCH_BYTES, page-locked once for the whole loop where E is
 * on the host (untouched, so not resident, where E is on the device: only the few partitions that
 * straddle ranks are built in it). */
enum { PARTITION_BATCH = 256 };
#define PARTITION_BATCH_BYTES ((int64_t)1 << 29)

/* The size of the batch after one of `batch` partitions (0: the first): 1, 2, 4, … up to
 * PARTITION_BATCH partitions and PARTITION_BATCH_BYTES of rows of `largest` bytes, so the first
 * partitions are logged (--checkpoint) as soon as they were one at a time; always 1 for a backend
 * without fl_greedy_many, which would only run them one by one. */
static int64_t batch_after(const gc_backend *b, int64_t batch, int64_t largest)
{
    if (b == NULL || b->ops->fl_greedy_many == NULL || batch == 0) return 1;
    int64_t cap = largest > 0 ? PARTITION_BATCH_BYTES / largest : PARTITION_BATCH;
    cap = cap < 1 ? 1 : cap > PARTITION_BATCH ? PARTITION_BATCH : cap;
    return 2 * batch < cap ? 2 * batch : cap;
}

/* One owned partition: its records order[first, first + m) and what its greedy returns. */
typedef struct {
    int64_t first, m, kappa;
    int32_t pid;
    int g;
    int64_t known; /* its entry in the checkpoint log, or -1: to be computed */
} owned_partition;

/* Packs partition o's candidates after *cand_count and logs them with a checkpoint. Their rows:
 * e [m × D] indexed by selected[t] (the block the greedy read), or with e NULL picked [t × D]. */
static int emit_partition(const gc_run_context *run, const partition_rows *view, const int64_t *order, int D,
                          const owned_partition *o, const float *e, const float *picked, const int64_t *selected,
                          const double *gains, const double *coverage, char *cand, int64_t *cand_count)
{
    const size_t crec = sizeof(candidate_header) + (size_t)D * sizeof(float);
    const int64_t first_candidate = *cand_count;
    for (int64_t t = 0; t < o->kappa && selected[t] >= 0; ++t) {
        const row_header h = item_header(view, order[o->first + selected[t]]);
        candidate_header ch = { h.index, gains[t], coverage[selected[t]], o->g, h.label, (int32_t)t, o->pid, h.loss };
        char *p = cand + (size_t)(*cand_count)++ * crec;
        memcpy(p, &ch, sizeof ch);
        memcpy(p + sizeof ch, e != NULL ? e + selected[t] * D : picked + t * D, (size_t)D * sizeof(float));
    }
    if (run->checkpoint == NULL) return GC_OK;
    return gc_checkpoint_append(run->checkpoint, o->pid, cand + (size_t)first_candidate * crec,
                                (size_t)(*cand_count - first_candidate) * crec);
}

/* Where E lives on the device alone, the rows other ranks sent join it there (rows_put) in one copy,
 * so every partition is gathered there. *on_device ← whether they did (where they do not fit, a
 * partition with such rows is built on the host). */
static int put_received_rows(gc_backend *backend, const partition_rows *view, int on_device_e, int *on_device)
{
    *on_device = 0;
    if (!on_device_e || view->recv_count == 0 || backend->ops->rows_put == NULL) return GC_OK;
    const int put = backend->ops->rows_put(backend, view->recv_count, view->rows->D, view->recv_rows);
    if (put == GC_ERR_MEMORY) gc_error_clear();
    *on_device = put == GC_OK;
    return put == GC_ERR_MEMORY ? GC_OK : put;
}

/* Runs greedy on every partition this rank owns and packs the candidates in partition order;
 * batches of them (batch_after) go to the backend together. With a checkpoint, a partition already
 * in the log is taken from it and each new one is logged once its batch finished. */
static int select_partitions(const gc_run_context *run, const gc_local_rows *rows, const gc_fl_options *opt,
                             const partition_plan *plan, double c, const partition_rows *view, char **cand,
                             int64_t *cand_count)
{
    const int D = rows->D;
    const size_t crec = sizeof(candidate_header) + (size_t)D * sizeof(float);
    int64_t *order = gc_malloc_large((size_t)(view->count ? view->count : 1) * sizeof *order);
    int64_t *first = gc_malloc((size_t)(plan->owned + 1) * sizeof *first);
    int status = order && first ? order_by_partition(view, plan, order, first)
                                : gc_fail(GC_ERR_MEMORY, "out of memory for the partitions' rows");
    const int64_t n = status == GC_OK ? view->count : 0; /* after a failure, on to the collective below */
    /* Rank 0's own partitions stand for everyone's: every rank holds about as many. Each holds rows
     * of its own, so each has rows here (none after a failure). */
    const int64_t owned = n > 0 ? plan->owned : 0;
    owned_partition *part = gc_malloc((size_t)(owned ? owned : 1) * sizeof *part);
    if (status == GC_OK && part == NULL) status = gc_fail(GC_ERR_MEMORY, "out of memory for the partitions");
    int64_t max_out = 0, batch_rows = 0, batch_kappa = 0, largest = 0;
    for (int64_t q = 0, pid = 0, g = 0; status == GC_OK && q < owned; ++q, ++pid) {
        while (plan->owned_slot[pid] != q) ++pid; /* slots number owned ids in increasing order */
        while (plan->first_part[g + 1] <= pid) ++g;
        const int64_t a = first[q], b = first[q + 1];
        part[q] =
            (owned_partition){ a, b - a, candidates_of_piece(plan, opt, (int)g, b - a), (int32_t)pid, (int)g, -1 };
        max_out += part[q].kappa;
        const int64_t bytes = (b - a) * D * (int64_t)sizeof(float);
        largest = bytes > largest ? bytes : largest;
    }
    gc_backend *backend = run->backend;
    for (int64_t w = 0, size = batch_after(backend, 0, largest); status == GC_OK && w < owned;
         w += size, size = batch_after(backend, size, largest)) { /* the largest batch */
        int64_t r = 0, k = 0;
        for (int64_t q = w; q < owned && q < w + size; ++q) r += part[q].m, k += part[q].kappa;
        batch_rows = r > batch_rows ? r : batch_rows;
        batch_kappa = k > batch_kappa ? k : batch_kappa;
    }
    *cand = gc_malloc((size_t)(max_out ? max_out : 1) * crec);
    *cand_count = 0;
    if (status == GC_OK && *cand == NULL) status = gc_fail(GC_ERR_MEMORY, "out of memory for candidates");
    /* E on the device alone (rows->e NULL): a partition of this rank's rows only is gathered there
     * (gc_fl_problem.rows); one with rows from other ranks is built here, its own rows read back;
     * the candidates' rows come back in one gather a batch (picked). */
    const int on_device = rows->e == NULL;
    int received_on_device = 0;
    if (status == GC_OK) status = put_received_rows(backend, view, on_device, &received_on_device);
    float *e = gc_malloc((size_t)(batch_rows ? batch_rows : 1) * D * sizeof *e);
    int64_t *selected = gc_malloc((size_t)(batch_kappa ? batch_kappa : 1) * sizeof *selected);
    double *gains = gc_malloc((size_t)(batch_kappa ? batch_kappa : 1) * sizeof *gains);
    double *coverage = gc_malloc((size_t)(batch_rows ? batch_rows : 1) * sizeof *coverage);
    int64_t *pick_index = on_device ? gc_malloc((size_t)(batch_kappa ? batch_kappa : 1) * sizeof *pick_index) : NULL;
    float *picked = on_device ? gc_malloc((size_t)(batch_kappa ? batch_kappa : 1) * D * sizeof *picked) : NULL;
    if (status == GC_OK && !(e && selected && gains && coverage && (!on_device || (pick_index && picked))))
        status = gc_fail(GC_ERR_MEMORY, "out of memory for a batch of partitions");
    const int pinned = status == GC_OK && !on_device && batch_rows > 0 && backend != NULL && backend->ops->pin != NULL;
    if (pinned) backend->ops->pin(backend, e, (size_t)batch_rows * D * sizeof *e);
    finished_partitions finished = { 0, NULL, NULL, NULL };
    if (status == GC_OK && run->checkpoint != NULL)
        status = gc_checkpoint_load(run->checkpoint, "fl-partitions", remember_partition, &finished);
    int64_t resumed = 0, done = 0;
    gc_progress progress;
    gc_progress_begin(&progress, "select: partitions", "partitions", owned);
    for (int64_t w = 0, size = batch_after(backend, 0, largest); status == GC_OK && w < owned;
         w += size, size = batch_after(backend, size, largest)) {
        const int64_t end = w + size < owned ? w + size : owned;
        gc_fl_problem problem[PARTITION_BATCH];
        int64_t kappa[PARTITION_BATCH], *sel[PARTITION_BATCH];
        double *gain[PARTITION_BATCH], *cov[PARTITION_BATCH];
        const owned_partition *copied[PARTITION_BATCH];
        float *block[PARTITION_BATCH];
        int64_t local[PARTITION_BATCH], local_end[PARTITION_BATCH]; /* its run of this rank's rows */
        int count = 0;
        for (int64_t q = w, rows_at = 0, kappa_at = 0; q < end; ++q) {
            owned_partition *o = &part[q];
            o->known = finished_index(&finished, o->pid);
            if (o->known >= 0 && finished.bytes[o->known] % crec == 0) continue;
            o->known = -1;
            /* Cover: this partition's share of ε, so that the shares add up to ε over all rows. */
            double cover_target = opt->epsilon > 0.0 ? opt->epsilon * (double)o->m / (double)rows->n_global : 0.0;
            /* Rows of one partition sit in global-index order: records from lower ranks, its rows on
             * this rank (codes ≥ 0), records from higher ranks. */
            local[count] = 0;
            while (local[count] < o->m && order[o->first + local[count]] < 0) ++local[count];
            local_end[count] = local[count];
            while (local_end[count] < o->m && order[o->first + local_end[count]] >= 0) ++local_end[count];
            const int gathered = on_device && (received_on_device || (local[count] == 0 && local_end[count] == o->m));
            float *pe = gathered ? NULL : e + rows_at * D;
            copied[count] = o;
            block[count] = pe;
            problem[count] = (gc_fl_problem){ .m = o->m,
                                              .D = D,
                                              .e = pe,
                                              .rows = gathered ? order + o->first : NULL,
                                              .c = c,
                                              .stochastic_epsilon = opt->stochastic,
                                              .seed = gc_mix64(opt->seed ^ (uint64_t)o->pid),
                                              .cover_target = cover_target };
            kappa[count] = o->kappa;
            sel[count] = selected + kappa_at;
            gain[count] = gains + kappa_at;
            cov[count] = coverage + rows_at;
            ++count;
            rows_at += o->m;
            kappa_at += o->kappa;
        }
        /* The batch's rows into its blocks in one parallel region: a region a partition woke every
         * thread thousands of times, and threads busy waking and spinning slowed the thread that
         * drives the GPU (docs/design.md §4.1). */
#pragma omp parallel num_threads(gc_copy_threads())
        for (int b = 0; b < count; ++b) {
            const owned_partition *o = copied[b];
            if (block[b] == NULL) continue;
#pragma omp for schedule(static) nowait
            for (int64_t i = 0; i < o->m; ++i)
                if (!on_device || i < local[b] || i >= local_end[b])
                    memcpy(block[b] + i * D, item_row(view, order[o->first + i]), (size_t)D * sizeof *e);
        }
        for (int b = 0; b < count && status == GC_OK && on_device; ++b)
            if (block[b] != NULL)
                status = local_rows_get(backend, rows, local_end[b] - local[b], order + copied[b]->first + local[b],
                                        block[b] + local[b] * D);
        if (status == GC_OK) status = gc_backend_fl_greedy_many(backend, count, problem, kappa, sel, gain, cov);
        int64_t picks = 0, pick_at[PARTITION_BATCH];
        for (int b = 0; b < count && status == GC_OK; ++b) {
            pick_at[b] = picks;
            for (int64_t t = 0; block[b] == NULL && t < kappa[b] && sel[b][t] >= 0; ++t)
                pick_index[picks++] = order[copied[b]->first + sel[b][t]];
        }
        if (status == GC_OK && picks > 0) status = local_rows_get(backend, rows, picks, pick_index, picked);
        for (int64_t q = w, b = 0; q < end && status == GC_OK; ++q) {
            const owned_partition *o = &part[q];
            if (o->known >= 0) {
                memcpy(*cand + (size_t)*cand_count * crec, finished.records[o->known], finished.bytes[o->known]);
                *cand_count += (int64_t)(finished.bytes[o->known] / crec);
                resumed++;
            } else {
                gc_fl_greedy_count(run->phases, o->m, D);
                status =
                    emit_partition(run, view, order, D, o, problem[b].e, on_device ? picked + pick_at[b] * D : NULL,
                                   sel[b], gain[b], cov[b], *cand, cand_count);
                ++b;
            }
            gc_progress_update(&progress, ++done);
        }
    }
    gc_progress_end(&progress);
    forget_partitions(&finished);
    if (received_on_device) (void)backend->ops->rows_put(backend, 0, D, NULL);
    if (pinned) backend->ops->unpin(backend, e);
    free(e);
    free(selected);
    free(gains);
    free(coverage);
    free(pick_index);
    free(picked);
    free(part);
    free(first);
    if (run->checkpoint != NULL) {
        GC_MPI(MPI_Allreduce(MPI_IN_PLACE, &resumed, 1, MPI_INT64_T, MPI_SUM, rows->comm));
        if (resumed > 0) gc_info("select: resumed %lld finished partitions from the checkpoint", (long long)resumed);
    }
    free(order);
    return status;
}

/* Within a group: by greedy order for a single partition, by global index for the merge. */
static int by_group_then_index(const void *a, const void *b)
{
    candidate_header x, y;
    memcpy(&x, sort_view.base + (size_t)(*(const int64_t *)a) * sort_view.rec, sizeof x);
    memcpy(&y, sort_view.base + (size_t)(*(const int64_t *)b) * sort_view.rec, sizeof y);
    if (x.group != y.group) return x.group < y.group ? -1 : 1;
    return (x.index > y.index) - (x.index < y.index);
}

static int by_group_then_order(const void *a, const void *b)
{
    candidate_header x, y;
    memcpy(&x, sort_view.base + (size_t)(*(const int64_t *)a) * sort_view.rec, sizeof x);
    memcpy(&y, sort_view.base + (size_t)(*(const int64_t *)b) * sort_view.rec, sizeof y);
    if (x.group != y.group) return x.group < y.group ? -1 : 1;
    return x.order - y.order;
}

static void take_candidate(gc_coreset *cs, int64_t slot, const char *p, double gain)
{
    candidate_header h;
    memcpy(&h, p, sizeof h);
    cs->index[slot] = h.index;
    cs->label[slot] = h.label;
    cs->gain[slot] = gain;
    cs->loss[slot] = h.loss;
    memcpy(cs->embedding + slot * cs->D, p + sizeof h, (size_t)cs->D * sizeof(float));
}

/* Rank 0: final k_g per group, by weighted greedy over the candidates of multi-partition groups. */
static candidate_header header_of(const char *all, size_t crec, int64_t rec)
{
    candidate_header h;
    memcpy(&h, all + (size_t)rec * crec, sizeof h);
    return h;
}

/* Weighted greedy over candidate records rec[0, m) (sorted by global index) with point weights w:
 * the kg chosen records in greedy order, their gains and, when cover != NULL, the weight each one
 * covers (the weight it carries up a merge tree). */
static int weighted_greedy(gc_backend *backend, gc_phases *phases, const char *all, size_t crec, int D, double c,
                           const int64_t *rec, const double *w, int64_t m, int64_t kg, int64_t *chosen, double *gains,
                           double *cover)
{
    gc_fl_greedy_count(phases, m, D);
    float *e = gc_malloc((size_t)m * D * sizeof *e);
    int64_t *selected = gc_malloc((size_t)kg * sizeof *selected);
    double *coverage = cover ? gc_malloc((size_t)m * sizeof *coverage) : NULL;
    int status = (e && selected && (coverage || !cover)) ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory in the merge");
    for (int64_t i = 0; i < m && status == GC_OK; ++i)
        memcpy(e + i * D, all + (size_t)rec[i] * crec + sizeof(candidate_header), (size_t)D * sizeof *e);
    gc_fl_problem problem = { .m = m, .D = D, .e = e, .w = w, .c = c };
    if (status == GC_OK) status = gc_backend_fl_greedy(backend, &problem, kg, selected, gains, coverage);
    for (int64_t t = 0; t < kg && status == GC_OK; ++t) {
        chosen[t] = rec[selected[t]];
        if (cover) cover[t] = coverage[selected[t]];
    }
    free(e);
    free(selected);
    free(coverage);
    return status;
}

/* One group's candidates: order[a, a + m), of which the merge keeps kg; root: merged at the root. */
typedef struct {
    int64_t a, m, kg;
    int g, root;
} group_run;

/* --merge root: for every run with root set, one weighted greedy over all candidates of the class
 * (weights = coverage counts), all of them handed to the backend at once, so on a GPU the classes'
 * greedies run side by side in fl_greedy_many's lanes instead of one after another. chosen and
 * gains get each such run's kg records in run order. */
static int root_merges(gc_backend *backend, gc_phases *phases, const char *all, size_t crec, int D, double c,
                       const int64_t *order, const group_run *runs, int nruns, int64_t *chosen, double *gains)
{
    int count = 0;
    int64_t rows = 0, picks = 0;
    for (int r = 0; r < nruns; ++r)
        if (runs[r].root) ++count, rows += runs[r].m, picks += runs[r].kg, gc_fl_greedy_count(phases, runs[r].m, D);
    if (count == 0) return GC_OK;
    float *e = gc_malloc((size_t)rows * D * sizeof *e);
    double *w = gc_malloc((size_t)rows * sizeof *w);
    int64_t *selected = gc_malloc((size_t)picks * sizeof *selected), *kappa = gc_malloc((size_t)count * sizeof *kappa);
    gc_fl_problem *problem = gc_malloc((size_t)count * sizeof *problem);
    int64_t **sel = gc_malloc((size_t)count * sizeof *sel);
    double **gain = gc_malloc((size_t)count * sizeof *gain);
    int status = e && w && selected && kappa && problem && sel && gain
                     ? GC_OK
                     : gc_fail(GC_ERR_MEMORY, "out of memory in the merge");
    int64_t at = 0, out = 0;
    for (int r = 0, q = 0; r < nruns && status == GC_OK; ++r) {
        if (!runs[r].root) continue;
        for (int64_t i = 0; i < runs[r].m; ++i) {
            const int64_t rec = order[runs[r].a + i];
            w[at + i] = header_of(all, crec, rec).coverage;
            memcpy(e + (at + i) * D, all + (size_t)rec * crec + sizeof(candidate_header), (size_t)D * sizeof *e);
        }
        problem[q] = (gc_fl_problem){ .m = runs[r].m, .D = D, .e = e + at * D, .w = w + at, .c = c };
        kappa[q] = runs[r].kg;
        sel[q] = selected + out;
        gain[q] = gains + out;
        at += runs[r].m;
        out += runs[r].kg;
        ++q;
    }
    if (status == GC_OK) status = gc_backend_fl_greedy_many(backend, count, problem, kappa, sel, gain, NULL);
    out = 0;
    for (int r = 0; r < nruns && status == GC_OK; ++r) {
        if (!runs[r].root) continue;
        for (int64_t t = 0; t < runs[r].kg; ++t) chosen[out + t] = order[runs[r].a + selected[out + t]];
        out += runs[r].kg;
    }
    free(e);
    free(w);
    free(selected);
    free(kappa);
    free(problem);
    free(sel);
    free(gain);
    return status;
}

typedef struct {
    int64_t *rec; /* sorted by global index */
    double *w;
    int64_t n;
} merge_set;

static int by_partition_then_order(const void *a, const void *b)
{
    candidate_header x = header_of(sort_view.base, sort_view.rec, *(const int64_t *)a);
    candidate_header y = header_of(sort_view.base, sort_view.rec, *(const int64_t *)b);
    if (x.partition != y.partition) return x.partition < y.partition ? -1 : 1;
    return x.order - y.order;
}

static int by_partition_then_global_index(const void *a, const void *b)
{
    candidate_header x = header_of(sort_view.base, sort_view.rec, *(const int64_t *)a);
    candidate_header y = header_of(sort_view.base, sort_view.rec, *(const int64_t *)b);
    if (x.partition != y.partition) return x.partition < y.partition ? -1 : 1;
    return (x.index > y.index) - (x.index < y.index);
}

/* --merge tree: partitions' candidate sets merged pairwise (1+2, 3+4, …; an odd one waits a level),
 * each node a weighted greedy keeping kg elements whose weights are the weight they cover, until one
 * set is left. Every dense block has at most 2·kg rows, so the merge fits where the root's
 * α·k_c-row block would not. The last node's greedy order and gains are the result. */
static int tree_merge(gc_backend *backend, gc_phases *phases, const char *all, size_t crec, int D, double c,
                      const int64_t *group_rec, int64_t m, int64_t kg, int64_t *chosen, double *gains)
{
    int64_t *rec = gc_malloc((size_t)m * sizeof *rec);
    merge_set *sets = gc_calloc((size_t)m, sizeof *sets);
    if (rec == NULL || sets == NULL) {
        free(rec);
        free(sets);
        return gc_fail(GC_ERR_MEMORY, "out of memory in the merge tree");
    }
    memcpy(rec, group_rec, (size_t)m * sizeof *rec);
    sort_view = (record_view){ all, crec };
    qsort(rec, (size_t)m, sizeof *rec, by_partition_then_global_index);
    int64_t count = 0;
    int status = GC_OK;
    for (int64_t a = 0; a < m && status == GC_OK;) { /* one leaf per partition */
        int64_t b = a + 1;
        while (b < m && header_of(all, crec, rec[b]).partition == header_of(all, crec, rec[a]).partition) ++b;
        merge_set *leaf = &sets[count++];
        leaf->n = b - a;
        leaf->rec = gc_malloc((size_t)leaf->n * sizeof *leaf->rec);
        leaf->w = gc_malloc((size_t)leaf->n * sizeof *leaf->w);
        if (!leaf->rec || !leaf->w) status = gc_fail(GC_ERR_MEMORY, "out of memory in the merge tree");
        for (int64_t i = 0; i < leaf->n && status == GC_OK; ++i) {
            leaf->rec[i] = rec[a + i];
            leaf->w[i] = header_of(all, crec, rec[a + i]).coverage;
        }
        a = b;
    }
    while (status == GC_OK && count > 1) {
        int64_t next = 0;
        for (int64_t i = 0; i < count && status == GC_OK; i += 2) {
            if (i + 1 == count) {
                sets[next++] = sets[i];
                continue;
            }
            merge_set *x = &sets[i], *y = &sets[i + 1];
            int64_t n = x->n + y->n, keep = kg < n ? kg : n, p = 0, q = 0;
            int64_t *u = gc_malloc((size_t)n * sizeof *u), *picked = gc_malloc((size_t)keep * sizeof *picked);
            double *uw = gc_malloc((size_t)n * sizeof *uw), *cover = gc_malloc((size_t)keep * sizeof *cover);
            double *node_gains = gc_malloc((size_t)keep * sizeof *node_gains);
            if (!u || !picked || !uw || !cover || !node_gains)
                status = gc_fail(GC_ERR_MEMORY, "out of memory in the merge tree");
            for (int64_t t = 0; t < n && status == GC_OK; ++t) { /* union, by global index */
                int take_x = q >= y->n || (p < x->n && header_of(all, crec, x->rec[p]).index <
                                                           header_of(all, crec, y->rec[q]).index);
                u[t] = take_x ? x->rec[p] : y->rec[q];
                uw[t] = take_x ? x->w[p++] : y->w[q++];
            }
            int last = count == 2; /* the root of the tree: its greedy order is the result */
            if (status == GC_OK)
                status =
                    last ? weighted_greedy(backend, phases, all, crec, D, c, u, uw, n, keep, chosen, gains, NULL)
                         : weighted_greedy(backend, phases, all, crec, D, c, u, uw, n, keep, picked, node_gains, cover);
            free(x->rec);
            free(x->w);
            free(y->rec);
            free(y->w);
            merge_set *out = &sets[next++];
            out->rec = NULL;
            out->w = NULL;
            out->n = keep;
            if (status == GC_OK && !last) {
                /* The chosen elements, back in global-index order (u's order), carry the weight they cover. */
                char *kept = gc_calloc((size_t)n, 1);
                double *w_of = gc_malloc((size_t)n * sizeof *w_of);
                out->rec = gc_malloc((size_t)keep * sizeof *out->rec);
                out->w = gc_malloc((size_t)keep * sizeof *out->w);
                if (!kept || !w_of || !out->rec || !out->w)
                    status = gc_fail(GC_ERR_MEMORY, "out of memory in the merge tree");
                for (int64_t t = 0; t < keep && status == GC_OK; ++t) {
                    /* u is sorted by global index: find picked[t]'s slot by bisection */
                    int64_t lo = 0, hi = n - 1, key = header_of(all, crec, picked[t]).index;
                    while (lo < hi) {
                        int64_t mid = (lo + hi) / 2;
                        if (header_of(all, crec, u[mid]).index < key)
                            lo = mid + 1;
                        else
                            hi = mid;
                    }
                    kept[lo] = 1;
                    w_of[lo] = cover[t];
                }
                for (int64_t t = 0, v = 0; t < n && status == GC_OK; ++t)
                    if (kept[t]) out->rec[v] = u[t], out->w[v++] = w_of[t];
                free(kept);
                free(w_of);
            }
            free(node_gains);
            free(u);
            free(uw);
            free(picked);
            free(cover);
        }
        count = next;
    }
    if (status == GC_OK && count == 1 && sets[0].rec != NULL) { /* a single partition: its own greedy */
        status = weighted_greedy(backend, phases, all, crec, D, c, sets[0].rec, sets[0].w, sets[0].n, kg, chosen, gains,
                                 NULL);
    }
    for (int64_t i = 0; i < count; ++i) {
        free(sets[i].rec);
        free(sets[i].w);
    }
    free(sets);
    free(rec);
    return status;
}

static int merge_candidates(gc_backend *backend, gc_phases *phases, const gc_local_rows *rows,
                            const partition_plan *plan, double c, const gc_fl_options *opt, const char *all,
                            int64_t count, gc_coreset *cs)
{
    const int D = rows->D;
    const size_t crec = sizeof(candidate_header) + (size_t)D * sizeof(float);
    int64_t *order = gc_malloc((size_t)(count ? count : 1) * sizeof *order);
    GC_CHECK_ALLOC(order);
    for (int64_t i = 0; i < count; ++i) order[i] = i;
    sort_view = (record_view){ all, crec };
    int64_t slot = 0;
    /* Groups are contiguous under both orders; the merge needs global-index order. */
    qsort(order, (size_t)count, sizeof *order, by_group_then_index);
    group_run *runs = gc_malloc((size_t)(plan->groups ? plan->groups : 1) * sizeof *runs);
    int nruns = 0;
    int64_t root_picks = 0;
    int status = runs ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory in the merge");
    for (int64_t a = 0; a < count && status == GC_OK; ++nruns) {
        const int g = header_of(all, crec, order[a]).group;
        int64_t b = a + 1;
        while (b < count && header_of(all, crec, order[b]).group == g) ++b;
        const int64_t m = b - a, kg = plan->budgets[g] < m ? plan->budgets[g] : m;
        const int root = opt->epsilon <= 0.0 && plan->parts[g] > 1 && !opt->tree_merge;
        runs[nruns] = (group_run){ a, m, kg, g, root };
        root_picks += root ? kg : 0;
        a = b;
    }
    int64_t *root_chosen = gc_malloc((size_t)(root_picks ? root_picks : 1) * sizeof *root_chosen);
    double *root_gains = gc_malloc((size_t)(root_picks ? root_picks : 1) * sizeof *root_gains);
    if (status == GC_OK && !(root_chosen && root_gains)) status = gc_fail(GC_ERR_MEMORY, "out of memory in the merge");
    if (status == GC_OK)
        status = root_merges(backend, phases, all, crec, D, c, order, runs, nruns, root_chosen, root_gains);
    for (int r = 0, root_at = 0; r < nruns && status == GC_OK; ++r) {
        const int64_t a = runs[r].a, m = runs[r].m, kg = runs[r].kg;
        if (opt->epsilon > 0.0) {
            /* Submodular cover: every partition met its share of ε; their union is the coreset. */
            sort_view = (record_view){ all, crec };
            qsort(order + a, (size_t)m, sizeof *order, by_partition_then_order);
            for (int64_t t = 0; t < m; ++t)
                take_candidate(cs, slot++, all + (size_t)order[a + t] * crec, header_of(all, crec, order[a + t]).gain);
        } else if (plan->parts[runs[r].g] == 1) {
            sort_view = (record_view){ all, crec };
            qsort(order + a, (size_t)m, sizeof *order, by_group_then_order);
            for (int64_t t = 0; t < kg; ++t)
                take_candidate(cs, slot++, all + (size_t)order[a + t] * crec, header_of(all, crec, order[a + t]).gain);
        } else if (runs[r].root) {
            for (int64_t t = 0; t < kg; ++t, ++root_at)
                take_candidate(cs, slot++, all + (size_t)root_chosen[root_at] * crec, root_gains[root_at]);
        } else {
            int64_t *chosen = gc_malloc((size_t)kg * sizeof *chosen);
            double *gains = gc_malloc((size_t)kg * sizeof *gains);
            status = (chosen && gains) ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory in the merge");
            if (status == GC_OK) status = tree_merge(backend, phases, all, crec, D, c, order + a, m, kg, chosen, gains);
            for (int64_t t = 0; t < kg && status == GC_OK; ++t)
                take_candidate(cs, slot++, all + (size_t)chosen[t] * crec, gains[t]);
            free(chosen);
            free(gains);
        }
    }
    free(runs);
    free(root_chosen);
    free(root_gains);
    free(order);
    cs->k = slot;
    return status;
}

/* Rank 0, after the merge, in place: keeps of the candidates only what GreeDi's safeguard compares
 * the merged set with, a partition's own first k_g candidates, for partitions of classes cut into
 * several that proposed at least k_g (k_g = the merged set's size); a partition with fewer cannot
 * stand alone, so it is ruled out exactly, and so is every partition of a class cut into more than
 * about α pieces (⌈α·k_g·|p|/N_g⌉ < k_g). Returns how many are kept. */
static int64_t keep_standalone_candidates(const partition_plan *plan, const gc_coreset *cs, char *all, size_t crec,
                                          int64_t total, int *status)
{
    const int G = plan->groups;
    int64_t *proposed = gc_calloc((size_t)plan->first_part[G] + 1, sizeof *proposed);
    int64_t *kg = gc_calloc((size_t)G, sizeof *kg);
    if (!proposed || !kg) {
        free(proposed);
        free(kg);
        *status = gc_fail(GC_ERR_MEMORY, "out of memory for the GreeDi comparison");
        return 0;
    }
    for (int64_t j = 0; j < cs->k; ++j) kg[G > 1 ? cs->label[j] : 0]++;
    for (int64_t a = 0; a < total; ++a) proposed[header_of(all, crec, a).partition]++;
    int64_t kept = 0;
    for (int64_t a = 0; a < total; ++a) {
        const candidate_header h = header_of(all, crec, a);
        if (plan->parts[h.group] > 1 && proposed[h.partition] >= kg[h.group] && h.order < kg[h.group])
            memmove(all + (size_t)kept++ * crec, all + (size_t)a * crec, crec);
    }
    free(proposed);
    free(kg);
    return kept;
}

/* The sets GreeDi's safeguard scores, as fl_assign sets (kernels/fl.h): for every class with a
 * standalone partition, the merged set (its coreset slots) and then each such partition's own set,
 * by partition id; other classes have none. Rows of e: the coreset, then the candidates placed by
 * (set, greedy order). */
typedef struct {
    gc_fl_sets sets;
    int64_t *group_set, *set_first, *set_size;
    int32_t *partition; /* [sets] the partition a set is (−1: the merged set) */
    int64_t *slot;      /* [groups + 1] first coreset slot of each class (classes are contiguous) */
    float *e;
} safeguard_sets;

static void safeguard_sets_destroy(safeguard_sets *s)
{
    free(s->group_set);
    free(s->set_first);
    free(s->set_size);
    free(s->partition);
    free(s->slot);
    free(s->e);
}

static int safeguard_sets_make(const partition_plan *plan, const gc_coreset *cs, const char *cand, size_t crec,
                               int64_t total, safeguard_sets *s)
{
    const int G = plan->groups, D = cs->D;
    const int64_t parts = plan->first_part[G];
    memset(s, 0, sizeof *s);
    int64_t *set_of = gc_malloc((size_t)(parts + 1) * sizeof *set_of); /* a partition's set, or −1 */
    s->group_set = gc_calloc((size_t)G + 1, sizeof *s->group_set);
    s->slot = gc_calloc((size_t)G + 1, sizeof *s->slot);
    s->set_first = gc_malloc((size_t)(G + total + 1) * sizeof *s->set_first);
    s->set_size = gc_calloc((size_t)(G + total + 1), sizeof *s->set_size);
    s->partition = gc_malloc((size_t)(G + total + 1) * sizeof *s->partition);
    s->e = gc_malloc((size_t)(cs->k + total + 1) * D * sizeof *s->e);
    if (!set_of || !s->group_set || !s->slot || !s->set_first || !s->set_size || !s->partition || !s->e) {
        free(set_of);
        return gc_fail(GC_ERR_MEMORY, "out of memory for the GreeDi comparison");
    }
    for (int64_t j = 0; j < cs->k; ++j) s->slot[(G > 1 ? cs->label[j] : 0) + 1]++;
    for (int g = 0; g < G; ++g) s->slot[g + 1] += s->slot[g];
    for (int64_t p = 0; p < parts; ++p) set_of[p] = -1;
    for (int64_t a = 0; a < total; ++a) set_of[header_of(cand, crec, a).partition] = 0; /* present */
    int64_t sets = 0, rows = cs->k;
    memcpy(s->e, cs->embedding, (size_t)cs->k * D * sizeof *s->e);
    for (int g = 0; g < G; ++g) {
        s->group_set[g] = sets;
        int64_t present = 0;
        for (int64_t p = plan->first_part[g]; p < plan->first_part[g + 1]; ++p) present += set_of[p] == 0;
        if (present == 0) continue;
        s->partition[sets] = -1; /* the merged set first: it wins ties */
        s->set_first[sets] = s->slot[g];
        s->set_size[sets++] = s->slot[g + 1] - s->slot[g];
        for (int64_t p = plan->first_part[g]; p < plan->first_part[g + 1]; ++p) {
            if (set_of[p] != 0) continue;
            set_of[p] = sets;
            s->partition[sets] = (int32_t)p;
            s->set_first[sets] = rows;
            s->set_size[sets] = s->slot[g + 1] - s->slot[g]; /* every kept partition gave k_g */
            rows += s->set_size[sets++];
        }
    }
    s->group_set[G] = sets;
    for (int64_t a = 0; a < total; ++a) {
        const candidate_header h = header_of(cand, crec, a);
        memcpy(s->e + (s->set_first[set_of[h.partition]] + h.order) * D, cand + (size_t)a * crec + sizeof h,
               (size_t)D * sizeof *s->e);
    }
    free(set_of);
    s->sets = (gc_fl_sets){ .groups = G,
                            .group_set = s->group_set,
                            .set_first = s->set_first,
                            .set_size = s->set_size,
                            .rows = rows,
                            .e = s->e };
    return GC_OK;
}

/* Whether global row i of group g (N_g rows) is in the safeguard's sample: a hash of (seed, i) on
 * its own stream below S/N_g, so the sample is a pure function of the data's global index and the
 * options (the same at any rank count) and holds every row of a group of at most S rows. */
static int in_sample(const gc_fl_options *opt, int64_t i, int64_t N_g)
{
    if (opt->safeguard_sample == 0 || N_g <= opt->safeguard_sample) return 1;
    return gc_rng_uniform(opt->seed, GC_STREAM_SAFEGUARD, (uint64_t)i) < (double)opt->safeguard_sample / (double)N_g;
}

/* This rank's sampled rows of groups with sets: their embeddings [count × D] and groups. */
static int sample_rows(gc_backend *backend, const gc_local_rows *rows, const gc_fl_options *opt,
                       const partition_plan *plan, const gc_fl_sets *sets, float **e, int32_t **group, int64_t *count)
{
    const int D = rows->D;
    const int64_t n = rows->n_local;
    unsigned char *take = gc_malloc((size_t)(n ? n : 1));
    GC_CHECK_ALLOC(take);
    int64_t m = 0;
#pragma omp parallel for schedule(static) reduction(+ : m)
    for (int64_t i = 0; i < n; ++i) {
        const int g = group_of(rows, opt->per_class, i);
        take[i] = sets->group_set[g + 1] > sets->group_set[g] && in_sample(opt, rows->lo + i, plan->sizes[g]);
        m += take[i];
    }
    *e = gc_malloc((size_t)(m ? m : 1) * D * sizeof **e);
    *group = gc_malloc((size_t)(m ? m : 1) * sizeof **group);
    *count = m;
    if (*e == NULL || *group == NULL) {
        free(take);
        return gc_fail(GC_ERR_MEMORY, "out of memory for the GreeDi sample");
    }
    int64_t *index = gc_malloc((size_t)(m ? m : 1) * sizeof *index);
    if (index == NULL) {
        free(take);
        return gc_fail(GC_ERR_MEMORY, "out of memory for the GreeDi sample");
    }
    for (int64_t i = 0, t = 0; i < n; ++i)
        if (take[i]) {
            index[t] = i;
            (*group)[t++] = group_of(rows, opt->per_class, i);
        }
    free(take);
    const int status = local_rows_get(backend, rows, m, index, *e);
    free(index);
    return status;
}

/* The safeguard's floor, into the open phase: the labels scanned for the sample, the sampled rows
 * gathered from E (over the link when E lives on the device alone), and the sampled rows against
 * every element of their class's sets as an FP32 GEMM's 2·D flops a pair, as the weights count. */
static void count_safeguard(const gc_run_context *run, const gc_local_rows *rows, const gc_fl_sets *sets,
                            const int32_t *group, int64_t count)
{
    double pairs = 0.0;
    for (int64_t i = 0; i < count; ++i)
        for (int64_t t = sets->group_set[group[i]]; t < sets->group_set[group[i] + 1]; ++t)
            pairs += (double)sets->set_size[t];
    gc_phase_count_on(run->phases, GC_FLOOR_HOST, (double)rows->n_local * sizeof *rows->y);
    gc_phase_count_on(run->phases, rows->e != NULL ? GC_FLOOR_HOST : GC_FLOOR_LINK,
                      (double)count * rows->D * sizeof(float));
    gc_phase_count(run->phases, 0, 2.0 * pairs * rows->D);
}

/* GreeDi's safeguard: in every class where some partition can stand alone (the candidates kept by
 * keep_standalone_candidates), the merged set is compared with each such partition's own set by
 * their F on the class's sampled rows, Σ_{i sampled} max(0, max_{j∈A} s_ij), and the larger wins
 * (ties keep the merge, then the lower partition). The rows are scored by the backend's fl_assign
 * (one pass: each row against every set of its class) and summed exactly, so every rank count takes
 * the same decision. README ("Facility location") and docs/design.md §4.1 state what the sample
 * guarantees. Collective; with no candidate (the same on every rank) there is nothing to compare. */
static int keep_better_of_merge_and_partitions(const gc_run_context *run, const gc_local_rows *rows,
                                               const gc_fl_options *opt, const partition_plan *plan, double c,
                                               const char *cand, int64_t total, gc_coreset *cs)
{
    if (total == 0) return GC_OK;
    gc_backend *backend = run->backend;
    const size_t crec = sizeof(candidate_header) + (size_t)rows->D * sizeof(float);
    safeguard_sets s;
    float *e = NULL;
    int32_t *group = NULL;
    int64_t count = 0, *nearest = NULL;
    double *dist = NULL, *F = NULL;
    gc_exact_sum sum = { 0, 0.0, NULL };
    int status = safeguard_sets_make(plan, cs, cand, crec, total, &s);
    const int64_t sets = s.group_set != NULL ? s.group_set[plan->groups] : 0,
                  W = sets > 0 ? gc_fl_sets_width(&s.sets) : 0;
    if (status == GC_OK) status = sample_rows(backend, rows, opt, plan, &s.sets, &e, &group, &count);
    if (status == GC_OK) {
        nearest = gc_malloc((size_t)(count * W + 1) * sizeof *nearest);
        dist = gc_malloc((size_t)(count * W + 1) * sizeof *dist);
        F = gc_malloc((size_t)(sets + 1) * sizeof *F);
        status = nearest && dist && F ? gc_exact_sum_create(&sum, (int)sets, c)
                                      : gc_fail(GC_ERR_MEMORY, "out of memory for the GreeDi comparison");
    }
    if (status == GC_OK) status = gc_backend_fl_assign(backend, e, count, rows->D, group, &s.sets, nearest, dist, NULL);
    if (status == GC_OK) count_safeguard(run, rows, &s.sets, group, count);
    for (int64_t i = 0; i < count && status == GC_OK; ++i) {
        const int64_t first = s.group_set[group[i]], n = s.group_set[group[i] + 1] - first;
        for (int64_t t = 0; t < n; ++t) gc_exact_sum_add_at(&sum, (int)(first + t), fmax(0.0, c - dist[i * W + t]));
    }
    status = gc_comm_agree(rows->comm, status);
    if (status == GC_OK) status = gc_exact_sum_allreduce(&sum, rows->comm, F);
    for (int g = 0; g < plan->groups && status == GC_OK; ++g) {
        int64_t winner = -1;
        for (int64_t t = s.group_set[g] + 1; t < s.group_set[g + 1]; ++t)
            if (F[t] > F[winner < 0 ? s.group_set[g] : winner]) winner = t;
        if (winner < 0) continue;
        gc_debug("select: class %d keeps partition %d's own set (sampled F %.6g > merged %.6g)", g,
                 (int)s.partition[winner], F[winner], F[s.group_set[g]]);
        for (int64_t a = 0; a < total; ++a) {
            const candidate_header h = header_of(cand, crec, a);
            if (h.partition == s.partition[winner])
                take_candidate(cs, s.slot[g] + h.order, cand + (size_t)a * crec, h.gain);
        }
    }
    gc_exact_sum_destroy(&sum);
    safeguard_sets_destroy(&s);
    free(e);
    free(group);
    free(nearest);
    free(dist);
    free(F);
    return status;
}

/* The rank that merges group g's candidates: g mod P, so the classes' merges run on every rank at
 * once instead of one after another on rank 0 (docs/design.md §4.1). */
static int merger_of(int g, int P) { return g % P; }

/* Every candidate to its group's merger; *all, *total: the candidates this rank merges, in any
 * order (the merge sorts them by global index). Collective. */
static int send_to_mergers(const gc_local_rows *rows, const char *cand, int64_t cand_count, size_t crec, char **all,
                           int64_t *total)
{
    const int P = rows->size;
    int *counts = gc_calloc((size_t)P, sizeof *counts), *displs = gc_calloc((size_t)P, sizeof *displs);
    int64_t *at = gc_calloc((size_t)P, sizeof *at);
    char *send = gc_malloc((size_t)(cand_count ? cand_count : 1) * crec);
    int status = counts && displs && at && send ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory for the merge");
    for (int64_t a = 0; a < cand_count && status == GC_OK; ++a) counts[merger_of(header_of(cand, crec, a).group, P)]++;
    for (int r = 1; r < P && status == GC_OK; ++r) displs[r] = displs[r - 1] + counts[r - 1];
    for (int64_t a = 0; a < cand_count && status == GC_OK; ++a) {
        const int r = merger_of(header_of(cand, crec, a).group, P);
        memcpy(send + (size_t)(displs[r] + at[r]++) * crec, cand + (size_t)a * crec, crec);
    }
    *all = NULL;
    *total = 0;
    status = gc_comm_agree(rows->comm, status);
    if (status == GC_OK)
        status = gc_comm_exchange_records(rows->comm, crec, send, counts, displs, all, total, "merge candidates");
    free(counts);
    free(displs);
    free(at);
    free(send);
    return status;
}

/* Each rank merges the groups it owns (merger_of) into its own slots and keeps the candidates GreeDi's
 * safeguard compares with; then every rank gets every rank's slots and candidates in one Allgatherv
 * and lays the slots out group after group, the order one merger would have made, so the coreset is
 * the same at any rank count. Collective. */
static int merge_and_share(const gc_run_context *run, const gc_fl_options *opt, const gc_local_rows *rows,
                           const partition_plan *plan, double c, const char *cand, int64_t cand_count, gc_coreset *cs)
{
    gc_backend *backend = run->backend;
    gc_phases *phases = run->phases;
    const int P = rows->size, D = rows->D, G = plan->groups;
    const size_t crec = sizeof(candidate_header) + (size_t)D * sizeof(float);
    char *all = NULL;
    int64_t total = 0, kept = 0;
    gc_phase_begin(phases, "send");
    gc_phase_bound(phases, GC_FLOOR_HOST);
    int status = send_to_mergers(rows, cand, cand_count, crec, &all, &total);
    gc_phase_end(phases, (double)(cand_count + total) * crec, 0);
    if (status != GC_OK) return status;
    int64_t capacity = opt->epsilon > 0.0 ? total : 0; /* a cover keeps every candidate */
    for (int g = 0; g < G && opt->epsilon <= 0.0; ++g) capacity += merger_of(g, P) == rows->rank ? plan->budgets[g] : 0;
    gc_coreset mine;
    gc_phase_begin(phases, "greedy"); /* each greedy counts its floor */
    status = gc_coreset_allocate(&mine, capacity, D, rows->classes);
    if (status == GC_OK) status = merge_candidates(backend, phases, rows, plan, c, opt, all, total, &mine);
    /* The rest of the candidates stays here: only standalone partitions face the merge (a cover
     * keeps every partition's selections and has no safeguard). */
    if (status == GC_OK && opt->epsilon <= 0.0)
        kept = keep_standalone_candidates(plan, &mine, all, crec, total, &status);
    status = gc_comm_agree(rows->comm, status);
    gc_phase_end(phases, 0, 0);
    gc_phase_begin(phases, "share");
    gc_phase_bound(phases, GC_FLOOR_HOST);
    /* Each rank's message in units of a candidate record, so a large coreset still fits MPI's int
     * count: its kept candidates, then its slots' fields. */
    const size_t slot_bytes =
        sizeof(int64_t) + sizeof(int32_t) + sizeof(double) + sizeof(float) + (size_t)D * sizeof(float);
    int64_t mine_sizes[2] = { mine.k, kept }, *sizes = gc_malloc((size_t)P * 2 * sizeof *sizes);
    int *units = gc_malloc((size_t)P * sizeof *units), *displs = gc_malloc((size_t)P * sizeof *displs);
    char *packed = NULL;
    if (status == GC_OK)
        status = gc_comm_agree(
            rows->comm, sizes && units && displs ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory for the merge"));
    int64_t k = 0, candidates = 0, all_units = 0;
    if (status == GC_OK) {
        GC_MPI(MPI_Allgather(mine_sizes, 2, MPI_INT64_T, sizes, 2, MPI_INT64_T, rows->comm));
        for (int r = 0; r < P; ++r) {
            k += sizes[2 * r];
            candidates += sizes[2 * r + 1];
            units[r] = (int)(((size_t)sizes[2 * r + 1] * crec + (size_t)sizes[2 * r] * slot_bytes + crec - 1) / crec);
            displs[r] = (int)all_units;
            all_units += units[r];
        }
        packed = gc_malloc((size_t)(all_units ? all_units : 1) * crec);
        status =
            gc_comm_agree(rows->comm, packed ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory for the merged sets"));
    }
    char *standalone = NULL;
    if (status == GC_OK) {
        char *out = packed + (size_t)displs[rows->rank] * crec;
        memcpy(out, all, (size_t)kept * crec);
        size_t at = (size_t)kept * crec;
        const void *fields[5] = { mine.index, mine.label, mine.gain, mine.loss, mine.embedding };
        const size_t widths[5] = { sizeof(int64_t), sizeof(int32_t), sizeof(double), sizeof(float),
                                   (size_t)D * sizeof(float) };
        for (int f = 0; f < 5; at += (size_t)mine.k * widths[f++])
            memcpy(out + at, fields[f], (size_t)mine.k * widths[f]);
        MPI_Datatype record;
        GC_MPI(MPI_Type_contiguous((int)crec, MPI_BYTE, &record));
        GC_MPI(MPI_Type_commit(&record));
        status = GC_MPI(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, packed, units, displs, record, rows->comm));
        GC_MPI(MPI_Type_free(&record));
        standalone = gc_malloc((size_t)(candidates ? candidates : 1) * crec);
        status =
            gc_comm_agree(rows->comm, standalone ? status : gc_fail(GC_ERR_MEMORY, "out of memory for the candidates"));
    }
    if (status == GC_OK) {
        /* Slots group after group; a group's slots all come from its merger, in its order. Fields
         * are copied out with memcpy: a record is only 4-byte aligned. */
        int64_t slot = 0;
        for (int g = 0; g < G; ++g) {
            const int r = merger_of(g, P);
            const int64_t kr = sizes[2 * r];
            const char *index = packed + (size_t)displs[r] * crec + (size_t)sizes[2 * r + 1] * crec,
                       *label = index + (size_t)kr * sizeof(int64_t), *gain = label + (size_t)kr * sizeof(int32_t),
                       *loss = gain + (size_t)kr * sizeof(double), *embedding = loss + (size_t)kr * sizeof(float);
            for (int64_t j = 0; j < kr; ++j) {
                int32_t l;
                memcpy(&l, label + (size_t)j * sizeof l, sizeof l);
                if ((G > 1 ? l : 0) != g) continue;
                memcpy(&cs->index[slot], index + (size_t)j * sizeof(int64_t), sizeof(int64_t));
                cs->label[slot] = l;
                memcpy(&cs->gain[slot], gain + (size_t)j * sizeof(double), sizeof(double));
                memcpy(&cs->loss[slot], loss + (size_t)j * sizeof(float), sizeof(float));
                memcpy(cs->embedding + slot * D, embedding + (size_t)j * D * sizeof(float), (size_t)D * sizeof(float));
                ++slot;
            }
        }
        int64_t placed = 0;
        for (int r = 0; r < P; ++r) {
            memcpy(standalone + (size_t)placed * crec, packed + (size_t)displs[r] * crec,
                   (size_t)sizes[2 * r + 1] * crec);
            placed += sizes[2 * r + 1];
        }
        cs->k = k;
    }
    /* The sets every rank receives, and each copied once more into place. */
    gc_phase_end(phases, 2.0 * (double)all_units * crec, 0);
    if (status == GC_OK) {
        gc_phase_begin(phases, "safeguard"); /* counts its floor */
        status = keep_better_of_merge_and_partitions(run, rows, opt, plan, c, standalone, candidates, cs);
        gc_phase_end(phases, 0, 0);
    }
    gc_coreset_destroy(&mine);
    free(all);
    free(sizes);
    free(units);
    free(displs);
    free(packed);
    free(standalone);
    return status;
}

int gc_select_fl(const gc_run_context *run, const gc_local_rows *rows, const gc_fl_options *opt, int64_t k,
                 gc_coreset *cs)
{
    gc_backend *backend = run->backend;
    partition_plan plan;
    double c = 0.0;
    gc_phase_begin(run->phases, "constant"); /* the plan and c */
    int status = make_plan(rows, opt, k, &plan);
    if (status == GC_OK) status = gc_comm_agree(rows->comm, gc_similarity_constant(backend, rows, &c));
    gc_similarity_constant_count(run, rows);
    gc_phase_end(run->phases, 0, 0);
    if (status != GC_OK) {
        plan_destroy(&plan);
        return status;
    }
    int64_t total_parts = plan.first_part[plan.groups];
    gc_info("select: facility location, %lld partitions over %d ranks, c = %.6g", (long long)total_parts, rows->size,
            c);
    char *cand = NULL;
    int64_t cand_count = 0;
    partition_rows moved;
    gc_phase_begin(run->phases, "exchange");
    status = exchange_rows(run, rows, opt, &plan, &moved); /* its sub-phases count the bytes */
    gc_phase_end(run->phases, 0, 0);
    gc_phase_begin(run->phases, "partitions");
    if (status == GC_OK) status = select_partitions(run, rows, opt, &plan, c, &moved, &cand, &cand_count);
    partition_rows_destroy(&moved);
    status = gc_comm_agree(rows->comm, status);
    gc_phase_end(run->phases, 0, 0);
    /* A cover keeps every partition's selections: the coreset is as large as all of them. */
    int64_t capacity = k;
    if (status == GC_OK && opt->epsilon > 0.0) {
        capacity = cand_count;
        status = GC_MPI(MPI_Allreduce(MPI_IN_PLACE, &capacity, 1, MPI_INT64_T, MPI_SUM, rows->comm)) == MPI_SUCCESS
                     ? GC_OK
                     : gc_fail(GC_ERR_LIB, "MPI_Allreduce failed");
    }
    if (status == GC_OK) status = gc_comm_agree(rows->comm, gc_coreset_allocate(cs, capacity, rows->D, rows->classes));
    if (status == GC_OK) {
        cs->c = c;
        for (int g = 0; g < plan.groups; ++g) {
            cs->budgets[g] = plan.budgets[g];
            cs->class_sizes[g] = plan.sizes[g];
        }
    }
    gc_phase_begin(run->phases, "merge");
    if (status == GC_OK)
        gc_info("select: merge: the partitions' candidates to k = %lld, %d classes over %d ranks", (long long)k,
                plan.groups, rows->size);
    if (status == GC_OK) status = merge_and_share(run, opt, rows, &plan, c, cand, cand_count, cs);
    gc_phase_end(run->phases, 0, 0);
    free(cand);
    plan_destroy(&plan);
    if (status != GC_OK) return status;
    gc_phase_begin(run->phases, "weights");
    /* a long phase at scale (40 s of a billion rows' 76): say what runs */
    gc_info("select: weights: each of the %lld rows on rank 0 to the nearest of the %lld selected%s",
            (long long)rows->n_local, (long long)cs->k, opt->per_class ? " of its class" : "");
    double pairs = 0.0;
    status = gc_assign_weights(backend, rows, opt->per_class, cs, &pairs);
    /* Its floor: one read of the rows, and the dots of every (row, element) pair as an FP32 GEMM's
     * 2·D flops (the yardstick of every record since issue #15; the GEMM path now multiplies
     * bfloat16 halves on the tensor cores and is held by its dots' 8 bytes a pair, the direct
     * kernel by its explicit FP64 sums: docs/design.md §4.1). */
    gc_phase_end(run->phases, (double)rows->n_local * rows->D * sizeof(float), 2.0 * pairs * rows->D);
    return status;
}
