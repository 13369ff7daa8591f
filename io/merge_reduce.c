#include "merge_reduce.h"

int gc_merge_reduce_pick(const gc_slot_info *slot, int count, int slots)
{
    if (count <= slots) return -1;
    int pick = -1;
    for (int i = 0; i + 1 < count; ++i)
        if (slot[i].beta == slot[i + 1].beta && (pick < 0 || slot[i].beta < slot[pick].beta)) pick = i;
    return pick >= 0 ? pick : count - 2;
}

int gc_merge_reduce_step(gc_slot_info *slot, int *count, int slots, int64_t step)
{
    slot[(*count)++] = (gc_slot_info){ .beta = 1, .created = step };
    const int i = gc_merge_reduce_pick(slot, *count, slots);
    if (i < 0) return -1;
    slot[i] = (gc_slot_info){ .beta = slot[i].beta + slot[i + 1].beta, .created = step };
    for (int j = i + 1; j + 1 < *count; ++j) slot[j] = slot[j + 1];
    --*count;
    return i;
}
