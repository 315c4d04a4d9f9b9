/* The thread's memo of stacks by key (stack/memo.c): a key is found only as it was stored,
 * in its image and code epoch; a slot taken by another key, or an arena started over,
 * finds nothing. */
#include <criterion/criterion.h>
#include <pthread.h>

#include "stack/memo.h"

static uint64_t hash_of(const uint64_t *key, int n) {
    uint64_t h = MEMTAP_MEMO_SEED;
    for (int i = 0; i < n; i++)
        h = memtap_memo_mix(h, key[i]);
    return h;
}

Test(memo, finds_what_was_stored_where_it_was_stored, .timeout = 10) {
    uint64_t key[5] = {0x401000, 0x7f0000001000, 0x7f0000002002, 0, 1};
    uint64_t h = hash_of(key, 5);
    cr_assert_eq(memtap_memo_find(key, 5, h, 1, 0), 0, "nothing before the first store");
    memtap_memo_store(key, 5, h, 1, 0, 42);
    cr_assert_eq(memtap_memo_find(key, 5, h, 1, 0), 42);
    cr_assert_eq(memtap_memo_find(key, 5, h, 2, 0), 0, "another image's node");
    cr_assert_eq(memtap_memo_find(key, 4, h, 1, 0), 0, "a shorter key");
    /* same hash, one word different (a caller's hash may collide): the words decide */
    for (int i = 0; i < 5; i++) {
        uint64_t other[5];
        memcpy(other, key, sizeof other);
        other[i] ^= 4;
        cr_assert_eq(memtap_memo_find(other, 5, h, 1, 0), 0, "word %d differs", i);
    }
    memtap_memo_store(key, 5, h, 1, 0, 0); /* a failed interning is not remembered */
    cr_assert_eq(memtap_memo_find(key, 5, h, 1, 0), 42);
    memtap_memo_thread_exit();
    cr_assert_eq(memtap_memo_find(key, 5, h, 1, 0), 0, "gone with the thread");
    memtap_memo_store(key, 5, h, 1, 0, 42);
    cr_assert_eq(memtap_memo_find(key, 5, h, 1, 0), 0, "and not mapped again after its exit");
}

Test(memo, another_code_epoch_empties_it, .timeout = 10) {
    uint64_t key[3] = {1, 2, 3};
    uint64_t h = hash_of(key, 3);
    memtap_memo_store(key, 3, h, 1, 7, 9);
    cr_assert_eq(memtap_memo_find(key, 3, h, 1, 7), 9);
    cr_assert_eq(memtap_memo_find(key, 3, h, 1, 8), 0, "a code object died");
    /* the epoch is 32 bits: coming back to 7 must not bring the old slots back */
    cr_assert_eq(memtap_memo_find(key, 3, h, 1, 7), 0);
    memtap_memo_store(key, 3, h, 1, 7, 10);
    cr_assert_eq(memtap_memo_find(key, 3, h, 1, 7), 10);
    memtap_memo_thread_exit();
}

Test(memo, a_slot_holds_the_last_key_stored_there, .timeout = 10) {
    uint64_t a[3] = {1, 2, 3}, b[3] = {4, 5, 6};
    uint64_t h = hash_of(a, 3); /* b stored under a's hash takes a's slot */
    memtap_memo_store(a, 3, h, 1, 0, 7);
    memtap_memo_store(b, 3, h, 1, 0, 8);
    cr_assert_eq(memtap_memo_find(a, 3, h, 1, 0), 0);
    cr_assert_eq(memtap_memo_find(b, 3, h, 1, 0), 8);
    memtap_memo_thread_exit();
}

Test(memo, a_full_arena_starts_over, .timeout = 10) {
    /* keys of 250 words: the arena (32 Ki words) fills after 131 of them */
    static uint64_t keys[200][250];
    for (int k = 0; k < 200; k++) {
        for (int i = 0; i < 250; i++)
            keys[k][i] = (uint64_t)k << 20 | (uint64_t)i;
        memtap_memo_store(keys[k], 250, hash_of(keys[k], 250), 1, 0, (uint32_t)k + 1);
    }
    int found = 0;
    for (int k = 0; k < 200; k++) {
        uint32_t leaf = memtap_memo_find(keys[k], 250, hash_of(keys[k], 250), 1, 0);
        cr_assert(leaf == 0 || leaf == (uint32_t)k + 1, "key %d found as %u", k, leaf);
        found += leaf != 0;
        if (k >= 131) /* stored after the arena started over: still there unless evicted */
            continue;
        cr_assert_eq(leaf, 0, "key %d was in the arena before it started over", k);
    }
    cr_assert(found >= 60, "%d of the 69 newest keys found", found);
    uint64_t long_key[MEMTAP_MEMO_KEY_MAX + 1] = {0};
    uint64_t h = hash_of(long_key, MEMTAP_MEMO_KEY_MAX + 1);
    memtap_memo_store(long_key, MEMTAP_MEMO_KEY_MAX + 1, h, 1, 0, 5);
    cr_assert_eq(memtap_memo_find(long_key, MEMTAP_MEMO_KEY_MAX + 1, h, 1, 0), 0,
                 "a key longer than the memo keeps is not kept");
    memtap_memo_thread_exit();
}

static void *other_thread(void *key) {
    return (void *)(uintptr_t)memtap_memo_find(key, 2, hash_of(key, 2), 1, 0);
}

Test(memo, each_thread_has_its_own, .timeout = 10) {
    uint64_t key[2] = {9, 9};
    memtap_memo_store(key, 2, hash_of(key, 2), 1, 0, 3);
    pthread_t t;
    void *leaf;
    cr_assert_eq(pthread_create(&t, NULL, other_thread, key), 0);
    pthread_join(t, &leaf);
    cr_assert_eq((uintptr_t)leaf, 0);
    cr_assert_eq(memtap_memo_find(key, 2, hash_of(key, 2), 1, 0), 3);
    memtap_memo_thread_exit();
}
