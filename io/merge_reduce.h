/* Merge-reduce slot bookkeeping of streaming bilevel coresets (Borsos, Mutný, Krause, NeurIPS 2020,
 * §5 "Streaming" and Fig. 2a): a buffer of s slots, oldest first; each slot holds a coreset of one
 * batch or of several merged ones and β = the number of batches it summarises. A new batch enters
 * as a slot with β = 1; when that makes s + 1 slots, two neighbouring slots are merged into one
 * (their union compressed back to slot size, β summed): the pair with equal β (the smallest such β,
 * the oldest pair among equals), else the last two. The slots then behave as a binary counter, so
 * older data is summarised at coarser levels. Pure bookkeeping: what is merged is decided here,
 * how a merge compresses is the selector's business (cmd_stream.c). */
#ifndef GC_MERGE_REDUCE_H
#define GC_MERGE_REDUCE_H

#include <stdint.h>

typedef struct {
    int64_t beta;    /* batches summarised */
    int64_t created; /* the step (1-based batch number) whose arrival constructed this coreset */
} gc_slot_info;

/* The position i of the pair (i, i + 1) to merge among count slots, or -1 when count <= slots. */
int gc_merge_reduce_pick(const gc_slot_info *slot, int count, int slots);

/* Step `step` of the buffer slot[0, *count) (room for slots + 1): appends the new batch's slot and
 * merges when the buffer overflows: slot i takes the merged coreset (β summed, created = step), the
 * later ones move down. Returns the merged position i, or -1 when nothing was merged. */
int gc_merge_reduce_step(gc_slot_info *slot, int *count, int slots, int64_t step);

#endif
