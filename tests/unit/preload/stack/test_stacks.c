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
    cr_assert_eq(cached.index.count, reference.index.count);
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
    cr_assert_eq(cached.index.count, reference.index.count);
    tries_done(&cached, &reference);
    memtap_stack_cache_release();
}

/* As callstack.c asks: the thread's last stack, then the table of whole stacks without the
 * lock, then the trie. */
static int found; /* stacks the table of whole stacks gave */
static uint32_t intern_as_callstack(memtap_trie_t *t, uint32_t image, const uint64_t *frames,
                                    int n, int known, int depth_cap) {
    uint32_t leaf;
    if (memtap_stack_lookup(image, frames, n, known, &leaf))
        return leaf;
    if (memtap_stack_find(t, image, frames, n, known, &leaf)) {
        found++;
        return leaf;
    }
    cr_assert_eq(memtap_stack_intern(t, image, frames, n, known, depth_cap, emit, &leaf), 0);
    return leaf;
}

/* A pool of stacks that share outer frames, taken in random order (bench/paths.c's shape),
 * sometimes with outer frames the caller knows and leaves unwritten. */
Test(stacks, whole_stacks_found_equal_plain_interning, .timeout = 30) {
    memtap_trie_t cached, reference;
    two_tries(&cached, &reference);
    enum { POOL = 300, DEPTH = 60 };
    static uint64_t pool[POOL][DEPTH];
    static int depth[POOL];
    srand(23);
    for (int s = 0; s < POOL; s++) {
        depth[s] = 1 + rand() % DEPTH;
        for (int i = 0; i < DEPTH; i++) /* outer frames from few choices: shared prefixes */
            pool[s][i] = 0x400000 + (uint64_t)(rand() % (i > depth[s] - 4 ? 3 : 20)) * 0x10;
    }
    const uint64_t poison = 0xdeadbeefdeadbeefull;
    uint64_t given[DEPTH];
    const uint64_t *last = NULL;
    int last_n = 0;
    emitted = 0;
    found = 0;
    for (int round = 0; round < 100000; round++) {
        int s = rand() % POOL, n = depth[s];
        /* pool[s][DEPTH - n ..] as frames[0..n), innermost first */
        const uint64_t *frames = &pool[s][DEPTH - n];
        int known = 0;
        while (known < n && known < last_n && frames[n - 1 - known] == last[last_n - 1 - known])
            known++;
        if (rand() % 3 == 0)
            known = rand() % (known + 1);
        memcpy(given, frames, (size_t)n * sizeof *frames);
        for (int k = 0; k < known; k++)
            given[n - 1 - k] = poison;
        uint32_t leaf = intern_as_callstack(&cached, 1, given, n, known, DEPTH);
        cr_assert_eq(leaf, plain(&reference, frames, n), "round %d", round);
        last = frames;
        last_n = n;
    }
    cr_assert_gt(found, 50000, "the table gave %d stacks of 100000", found);
    cr_assert_eq(cached.index.count, reference.index.count);
    tries_done(&cached, &reference);
    memtap_stack_cache_release();
}

/* Entries of the table of whole stacks as a hash collision would leave them: under the key
 * of one stack, another stack's node (with a copy of its frames, or without one). The check
 * refuses them, and the trie gives the right node. */
Test(stacks, a_wrong_whole_stack_entry_is_refused, .timeout = 30) {
    memtap_trie_t t;
    cr_assert_eq(memtap_trie_init(&t), 0);
    uint64_t a[4] = {0x40, 0x30, 0x20, 0x10}, b[4] = {0x41, 0x30, 0x20, 0x10};
    uint64_t c[4] = {0x40, 0x31, 0x20, 0x10}, other[2] = {0x99, 0x98};
    uint64_t a_outer_first[4] = {0x10, 0x20, 0x30, 0x40};
    uint32_t la, lb, lc, leaf;
    emitted = 0;
    cr_assert_eq(memtap_stack_intern(&t, 1, a, 4, 0, 8, emit, &la), 0);
    cr_assert_eq(memtap_trie_stack_put(&t, memtap_stack_key(b, 4), 4, la, a_outer_first), 0);
    cr_assert_eq(memtap_trie_stack_put(&t, memtap_stack_key(c, 4), 4, la, NULL), 0);
    cr_assert_eq(memtap_stack_intern(&t, 1, other, 2, 0, 8, emit, &leaf), 0);
    cr_assert_not(memtap_stack_find(&t, 1, b, 4, 0, &leaf), "b's entry is a's, with a's frames");
    cr_assert_eq(memtap_stack_intern(&t, 1, b, 4, 0, 8, emit, &lb), 0);
    cr_assert_eq(lb, 7, "a's nodes 1-4, other's 5-6, then 0x41 under a's 0x30");
    cr_assert_eq(memtap_stack_intern(&t, 1, other, 2, 0, 8, emit, &leaf), 0);
    cr_assert_not(memtap_stack_find(&t, 1, c, 4, 0, &leaf), "c's entry names a's node");
    cr_assert_eq(memtap_stack_intern(&t, 1, c, 4, 0, 8, emit, &lc), 0);
    cr_assert_eq(lc, 9, "0x31 under a's 0x20, then 0x40");
    cr_assert_eq(memtap_stack_intern(&t, 1, other, 2, 0, 8, emit, &leaf), 0);
    cr_assert_not(memtap_stack_find(&t, 1, b, 4, 0, &leaf), "the first entry stays");
    cr_assert(memtap_stack_find(&t, 1, a, 4, 0, &leaf));
    cr_assert_eq(leaf, la);
    memtap_trie_destroy(&t);
    memtap_stack_cache_release();
}

/* Entries whose node has the right inner frames under other outer ones: one below the part
 * the thread's last stack shares, one under the root (a deeper stack). Without copies of
 * their frames, so that the walk up the node's parents is what refuses them. */
Test(stacks, a_whole_stack_entry_with_other_outer_frames_is_refused, .timeout = 30) {
    memtap_trie_t t;
    cr_assert_eq(memtap_trie_init(&t), 0);
    uint64_t a[4] = {0x40, 0x30, 0x20, 0x10}, d[4] = {0x40, 0x30, 0x20, 0x11};
    uint64_t e[3] = {0x77, 0x20, 0x11}, deep[4] = {0x30, 0x20, 0x10, 0x05};
    uint64_t shallow[3] = {0x30, 0x20, 0x10};
    uint32_t la, ldeep, leaf;
    emitted = 0;
    cr_assert_eq(memtap_stack_intern(&t, 1, a, 4, 0, 8, emit, &la), 0);
    cr_assert_eq(memtap_stack_intern(&t, 1, deep, 4, 0, 8, emit, &ldeep), 0);
    cr_assert_eq(memtap_trie_stack_put(&t, memtap_stack_key(d, 4), 4, la, NULL), 0);
    cr_assert_eq(memtap_trie_stack_put(&t, memtap_stack_key(shallow, 3), 3, ldeep, NULL), 0);
    cr_assert_eq(memtap_stack_intern(&t, 1, e, 3, 0, 8, emit, &leaf), 0); /* shares 0x20, 0x11 */
    cr_assert_not(memtap_stack_find(&t, 1, d, 4, 2, &leaf), "d's entry names a's node");
    cr_assert_not(memtap_stack_find(&t, 1, shallow, 3, 0, &leaf), "a node one level deeper");
    cr_assert_eq(memtap_stack_intern(&t, 1, shallow, 3, 0, 8, emit, &leaf), 0);
    cr_assert_eq(leaf, 3, "a's node for 0x30 under 0x20, 0x10");
    memtap_trie_destroy(&t);
    memtap_stack_cache_release();
}

/* The thread's last stack was interned in another image (a fork child, a failed exec): that
 * stack, or a part of it, asked for in this image is not taken from it. */
Test(stacks, another_image_stack_is_not_its_node, .timeout = 30) {
    memtap_trie_t a, b;
    two_tries(&a, &b);
    uint64_t s[3] = {0x30, 0x20, 0x10}, prefix[2] = {0x20, 0x10}, other[1] = {0x99};
    uint32_t leaf;
    emitted = 0;
    cr_assert_eq(memtap_stack_intern(&a, 1, s, 3, 0, 8, emit, &leaf), 0);
    cr_assert_not(memtap_stack_find(&b, 2, s, 3, 0, &leaf), "image 1's node for s");
    cr_assert_not(memtap_stack_find(&b, 2, prefix, 2, 0, &leaf), "image 1's node for its part");
    emitted = 0;
    cr_assert_eq(memtap_stack_intern(&b, 2, other, 1, 0, 8, emit, &leaf), 0);
    cr_assert_eq(memtap_stack_intern(&b, 2, prefix, 2, 0, 8, emit, &leaf), 0);
    cr_assert_eq(leaf, 3, "b: 0x99, then 0x10, 0x20");
    cr_assert_eq(emitted, 3);
    tries_done(&a, &b);
    memtap_stack_cache_release();
}
