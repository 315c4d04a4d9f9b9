/* Stack-trie interning. */
#include <criterion/criterion.h>

#include "stack/trie.h"

static memtap_trie_t t;
static void setup(void) { cr_assert_eq(memtap_trie_init(&t), 0); }
static void teardown(void) { memtap_trie_destroy(&t); }

TestSuite(trie, .init = setup, .fini = teardown);

Test(trie, ids_are_sequential_and_stable, .timeout = 30) {
    int created;
    uint32_t a = memtap_trie_intern(&t, 0, 0x1000, &created);
    cr_assert_eq(a, 1);
    cr_assert(created);
    uint32_t b = memtap_trie_intern(&t, a, 0x2000, &created);
    cr_assert_eq(b, 2);
    cr_assert(created);
    cr_assert_eq(memtap_trie_intern(&t, 0, 0x1000, &created), a);
    cr_assert_not(created);
    cr_assert_eq(memtap_trie_intern(&t, a, 0x2000, &created), b);
    cr_assert_not(created);
}

Test(trie, same_frame_under_different_parents_differs, .timeout = 30) {
    int created;
    uint32_t a = memtap_trie_intern(&t, 0, 0x10, &created);
    uint32_t b = memtap_trie_intern(&t, 0, 0x20, &created);
    uint32_t x = memtap_trie_intern(&t, a, 0x30, &created);
    uint32_t y = memtap_trie_intern(&t, b, 0x30, &created);
    cr_assert_neq(x, y);
}

Test(trie, grows_and_keeps_every_node, .timeout = 30) {
    int created;
    uint32_t parent = 0;
    enum { N = 100000 };
    static uint32_t ids[N];
    for (uint32_t i = 0; i < N; i++) {
        ids[i] = memtap_trie_intern(&t, parent, 0x400000 + i * 16, &created);
        cr_assert(created);
        cr_assert_eq(ids[i], i + 1);
        parent = i % 7 == 0 ? 0 : ids[i];
    }
    parent = 0;
    for (uint32_t i = 0; i < N; i++) {
        cr_assert_eq(memtap_trie_intern(&t, parent, 0x400000 + i * 16, &created), ids[i]);
        cr_assert_not(created);
        parent = i % 7 == 0 ? 0 : ids[i];
    }
    cr_assert_eq(t.index.count, N);
}
