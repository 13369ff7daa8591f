/* Merge-reduce slot bookkeeping against Fig. 2a of Borsos, Mutný, Krause, "Coresets via Bilevel
 * Optimization for Continual Learning and Streaming" (NeurIPS 2020): 7 steps with a buffer of
 * s = 3 slots. The figure's tree, written out level by level (β = batches a coreset summarises,
 * "t" = the step that constructed it, the numbers in the nodes' upper left corners):
 *   steps 1-3 fill the slots:            [β1 t1] [β1 t2] [β1 t3]
 *   step 4 merges the two oldest β = 1:  [β2 t4] [β1 t3] [β1 t4]
 *   step 5 merges the two β = 1:         [β2 t4] [β2 t5] [β1 t5]
 *   step 6 merges the two β = 1:         [β2 t4] [β2 t5] [β2 t6]
 *   step 7 merges the oldest equal pair: [β4 t7] [β2 t6] [β1 t7]   (the grey nodes: 4 + 2 + 1 = 7)
 * The figure itself could not be retrieved here; this sequence is derived from the paper's rule
 * (equal β first, else the last two) as the authors' code applies it (merge_reduce in
 * cl_streaming/streaming.py of github.com/zalanborsos/bilevel_coresets: adjacent pairs, smallest β). */
#include "check.h"
#include "io/merge_reduce.h"

static void seven_steps_three_slots_match_the_figure(void)
{
    static const int expected_count[7] = { 1, 2, 3, 3, 3, 3, 3 };
    static const int expected_merge[7] = { -1, -1, -1, 0, 1, 2, 0 };
    static const gc_slot_info expected[7][3] = { { { 1, 1 } },
                                                 { { 1, 1 }, { 1, 2 } },
                                                 { { 1, 1 }, { 1, 2 }, { 1, 3 } },
                                                 { { 2, 4 }, { 1, 3 }, { 1, 4 } },
                                                 { { 2, 4 }, { 2, 5 }, { 1, 5 } },
                                                 { { 2, 4 }, { 2, 5 }, { 2, 6 } },
                                                 { { 4, 7 }, { 2, 6 }, { 1, 7 } } };
    gc_slot_info slot[4];
    int count = 0;
    for (int t = 0; t < 7; ++t) {
        CHECK(gc_merge_reduce_step(slot, &count, 3, t + 1) == expected_merge[t]);
        CHECK(count == expected_count[t]);
        for (int i = 0; i < count && i < 3; ++i) {
            CHECK(slot[i].beta == expected[t][i].beta);
            CHECK(slot[i].created == expected[t][i].created);
        }
    }
}

/* Without an equal pair the last two merge: (4, 3) + a new 1 with s = 2 merges 3 and 1. */
static void last_two_merge_without_an_equal_pair(void)
{
    gc_slot_info slot[3] = { { 4, 1 }, { 3, 2 } };
    int count = 2;
    CHECK(gc_merge_reduce_step(slot, &count, 2, 9) == 1);
    CHECK(count == 2 && slot[0].beta == 4 && slot[0].created == 1 && slot[1].beta == 4 && slot[1].created == 9);
}

/* The buffer summarises every batch: β sums to the steps taken, slots never exceed s, and with
 * s slots after 2^s − 1 steps the β are the binary digits 2^(s−1), …, 2, 1. */
static void betas_count_every_batch_and_form_a_binary_counter(void)
{
    for (int s = 1; s <= 6; ++s) {
        gc_slot_info slot[7];
        int count = 0;
        const int steps = (1 << s) - 1;
        for (int t = 1; t <= 200; ++t) {
            gc_merge_reduce_step(slot, &count, s, t);
            int64_t total = 0;
            for (int i = 0; i < count; ++i) total += slot[i].beta;
            CHECK(total == t);
            CHECK(count <= s);
            if (t == steps && s > 1)
                for (int i = 0; i < count; ++i) CHECK(slot[i].beta == (int64_t)1 << (s - 1 - i));
        }
    }
}

int main(void)
{
    seven_steps_three_slots_match_the_figure();
    last_two_merge_without_an_equal_pair();
    betas_count_every_batch_and_form_a_binary_counter();
    TEST_MAIN_END();
}
