/* The per-thread stack cache gives exactly the node ids plain interning gives. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "stack/stacks.h"
#include "stack/trie.h"

static uint32_t emitted;
static int emit(uint32_t id, uint32_t parent, uint64_t frame) {
    (void)parent;
    (void)frame;
    cr_assert_eq(id, emitted + 1, "nodes are emitted once, in id order");
    emitted = id;
    return 0;
}

/* Two empty tries (one image's), and their end. */
static void two_tries(memtap_trie_t *a, memtap_trie_t *b) {
    cr_assert_eq(memtap_trie_init(a), 0);
    cr_assert_eq(memtap_trie_init(b), 0);
}
static void tries_done(memtap_trie_t *a, memtap_trie_t *b) {
    memtap_trie_destroy(a);
    memtap_trie_destroy(b);
}

static uint32_t plain(memtap_trie_t *t, const uint64_t *frames, int n) {
    uint32_t node = 0;
    for (int i = n - 1; i >= 0; i--) {
        int created;
        node = memtap_trie_intern(t, node, frames[i], &created);
    }
    return node;
}

Test(stacks, cached_equals_plain_on_random_stacks, .timeout = 30) {
    memtap_trie_t cached, reference;
    two_tries(&cached, &reference);
    srand(7);
    uint64_t frames[64];
    int n = 10;
    for (int i = 0; i < 64; i++)
        frames[i] = 0x400000 + (uint64_t)i * 0x10;
    emitted = 0;
    for (int round = 0; round < 100000; round++) {
        /* change a few inner frames, sometimes the depth, sometimes an outer frame */
        int change = rand() % 4;
        for (int k = 0; k < change; k++)
            frames[rand() % (n < 6 ? n : 6)] = 0x400000 + (uint64_t)(rand() % 50) * 0x10;
        if (rand() % 10 == 0)
            n = 1 + rand() % 64;
        if (rand() % 50 == 0)
            frames[n - 1] ^= 0x1000;
        uint32_t leaf;
        cr_assert_eq(memtap_stack_intern(&cached, 1, frames, n, 0, 64, emit, &leaf), 0);
        cr_assert_eq(leaf, plain(&reference, frames, n), "round %d", round);
    }
    cr_assert_eq(cached.count, reference.count);
    tries_done(&cached, &reference);
    memtap_stack_cache_release();
}

Test(stacks, a_new_image_ignores_the_cache, .timeout = 30) {
    memtap_trie_t a, b;
    two_tries(&a, &b);
    uint64_t frames[3] = {0x30, 0x20, 0x10};
    uint32_t leaf;
    emitted = 0;
    cr_assert_eq(memtap_stack_intern(&a, 1, frames, 3, 0, 8, emit, &leaf), 0);
    cr_assert_eq(leaf, 3);
    emitted = 0; /* a new image (fork child, failed exec): every node is new again */
    cr_assert_eq(memtap_stack_intern(&b, 2, frames, 3, 0, 8, emit, &leaf), 0);
    cr_assert_eq(leaf, 3);
    cr_assert_eq(emitted, 3, "all three nodes written again in the new image");
    cr_assert_eq(memtap_stack_intern(&b, 2, frames, 0, 0, 8, emit, &leaf), 0);
    cr_assert_eq(leaf, 0, "an empty stack is the root");
    tries_done(&a, &b);
    memtap_stack_cache_release();
}

/* memtap_stack_of_call may leave the `known` outermost frames unwritten: interning takes
 * them from the cache, also in a new image (a new trie) and after the cache grew, and
 * memtap_stack_fill_outer writes them back. */
Test(stacks, known_frames_come_from_the_cache, .timeout = 30) {
    memtap_trie_t cached, reference;
    two_tries(&cached, &reference);
    const uint64_t poison = 0xdeadbeefdeadbeefull;
    uint64_t frames[200], last[200], given[200];
    int n = 12, last_n = 0, depth_cap = 32;
    uint32_t image = 1;
    srand(11);
    for (int i = 0; i < 200; i++)
        frames[i] = 0x400000 + (uint64_t)i * 0x10;
    emitted = 0;
    for (int round = 0; round < 20000; round++) {
        frames[rand() % 4] = 0x400000 + (uint64_t)(rand() % 40) * 0x10; /* inner frames */
        if (rand() % 8 == 0)
            n = 1 + rand() % 30;
        if (rand() % 40 == 0)
            frames[n - 1 - rand() % n] ^= 0x2000; /* anywhere, outer frames too */
        if ((round % 997 == 0 && round) || round == 15000) { /* a new image: new tries */
            tries_done(&cached, &reference);
            two_tries(&cached, &reference);
            image++;
            emitted = 0;
        }
        if (round == 15000)
            depth_cap = 200; /* the cache grows, in a new image too */
        int known = 0; /* outermost frames equal to the last stack's */
        while (known < n && known < last_n && frames[n - 1 - known] == last[last_n - 1 - known])
            known++;
        if (rand() % 3 == 0)
            known = rand() % (known + 1); /* callers may know fewer */
        memcpy(given, frames, (size_t)n * sizeof *frames);
        for (int k = 0; k < known; k++)
            given[n - 1 - k] = poison;
        uint32_t leaf;
        cr_assert_eq(memtap_stack_intern(&cached, image, given, n, known, depth_cap, emit,
                                         &leaf), 0);
        cr_assert_eq(leaf, plain(&reference, frames, n), "round %d", round);
        memtap_stack_fill_outer(given, n, known);
        cr_assert_arr_eq(given, frames, (size_t)n * sizeof *frames, "round %d", round);
        memcpy(last, frames, (size_t)n * sizeof *frames);
        last_n = n;
    }
    cr_assert_eq(cached.count, reference.count);
    tries_done(&cached, &reference);
    memtap_stack_cache_release();
}
