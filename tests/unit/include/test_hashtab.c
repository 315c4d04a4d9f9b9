/* memtap/hashtab.h on a table of its own: keys found after growth, backward-shift removal
 * keeping every probe chain whole (checked against a plain array, keys crowded onto few
 * home slots), the load limit, allocation failure, and a fixed table's bounded probes. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "memtap/hashtab.h"

typedef struct {
    uint64_t key; /* 0: empty */
    uint64_t value;
} slot_t;
typedef MEMTAP_HASHTAB(slot_t) table_t;

static unsigned hash_shift;       /* hash = key >> hash_shift: crowds keys when large */
static int allocations_left = -1; /* -1: no limit */
static size_t live_bytes;

static void *test_alloc(size_t bytes) {
    if (allocations_left == 0)
        return NULL;
    if (allocations_left > 0)
        allocations_left--;
    live_bytes += bytes;
    return calloc(1, bytes);
}
static void test_free(void *p, size_t bytes) {
    live_bytes -= bytes;
    free(p);
}

#define MEMTAP_HT_NAME tab
#define MEMTAP_HT_TABLE table_t
#define MEMTAP_HT_SLOT slot_t
#define MEMTAP_HT_KEY uint64_t
#define MEMTAP_HT_HASH(k) ((k) >> hash_shift)
#define MEMTAP_HT_SLOT_HASH(s) ((s)->key >> hash_shift)
#define MEMTAP_HT_EMPTY(s) ((s)->key == 0)
#define MEMTAP_HT_MATCH(s, k) ((s)->key == (k))
#define MEMTAP_HT_ALLOC(bytes) test_alloc(bytes)
#define MEMTAP_HT_FREE(p, bytes) test_free((p), (bytes))
#define MEMTAP_HT_LOAD_NUM 1
#define MEMTAP_HT_LOAD_DEN 2
#include "memtap/hashtab.h"

static void setup(void) {
    hash_shift = 0;
    allocations_left = -1;
    live_bytes = 0;
}
TestSuite(hashtab, .init = setup);

static slot_t *put(table_t *t, uint64_t key, uint64_t value) {
    int found;
    slot_t *s = tab_upsert(t, key, &found);
    cr_assert(s);
    if (!found)
        *s = (slot_t){key, value};
    return s;
}

Test(hashtab, finds_what_it_holds_after_growing, .timeout = 60) {
    table_t t;
    cr_assert_eq(tab_init(&t, 8), 0);
    for (uint64_t k = 1; k <= 10000; k++)
        put(&t, k * 0x9e3779b97f4a7c15ull, k);
    cr_assert_eq(t.count, 10000);
    cr_assert_eq(t.mask + 1, 32768, "grown to keep at most half full: %zu slots", t.mask + 1);
    for (uint64_t k = 1; k <= 10000; k++) {
        slot_t *s = tab_find(&t, k * 0x9e3779b97f4a7c15ull);
        cr_assert(s && s->value == k);
    }
    cr_assert_null(tab_find(&t, 12345));
    int found;
    slot_t *again = tab_upsert(&t, 5 * 0x9e3779b97f4a7c15ull, &found);
    cr_assert(found && again->value == 5, "an upsert of a key held finds it");
    cr_assert_eq(t.count, 10000);
    tab_destroy(&t);
    cr_assert_eq(live_bytes, 0);
}

/* Keys crowded onto home slots four apart, one to six a home (so some chains run into the
 * next), the last ones wrapping past the table's end; removed in random order: after each
 * removal every key still held is found, and none removed is. */
Test(hashtab, removal_keeps_every_probe_chain, .timeout = 60) {
    enum { GROUPS = 120, N = 420 }; /* N: the sum of 1 + g % 6 */
    hash_shift = 4;                 /* a key's home: key >> 4 */
    table_t t;
    cr_assert_eq(tab_init(&t, 2048), 0);
    static uint64_t keys[N];
    static int held[N];
    int n = 0;
    for (int g = 0; g < GROUPS; g++)
        for (int i = 0; i <= g % 6; i++) {
            uint64_t home = (2040 + 4 * (uint64_t)g) & 2047;
            keys[n] = (home + 2048) << 4 | (uint64_t)i; /* (+2048: no key is 0) */
            put(&t, keys[n], (uint64_t)n);
            held[n++] = 1;
        }
    cr_assert_eq(n, N);
    cr_assert_eq(t.mask + 1, 2048, "no growth: %d of 2,048 slots", N);
    unsigned rng = 7;
    for (int round = 0; round < 2 * N; round++) {
        rng = rng * 1103515245u + 12345u;
        int i = (int)((rng >> 8) % N);
        slot_t *s = tab_find(&t, keys[i]);
        cr_assert_eq(s != NULL, held[i]);
        if (s) {
            tab_remove(&t, s);
            held[i] = 0;
        }
        for (int k = 0; k < N; k++) {
            s = tab_find(&t, keys[k]);
            cr_assert_eq(s != NULL, held[k], "round %d: key %d %s", round, k,
                         held[k] ? "lost" : "still found");
            cr_assert(!s || s->value == (uint64_t)k);
        }
    }
    size_t count = 0;
    for (int i = 0; i < N; i++)
        count += held[i];
    cr_assert_eq(t.count, count);
    cr_assert(count < N / 2, "most keys were removed (%zu left)", count);
    tab_destroy(&t);
}

Test(hashtab, a_failed_growth_leaves_the_table_as_it_was, .timeout = 60) {
    table_t t;
    cr_assert_eq(tab_init(&t, 4), 0);
    put(&t, 1, 10);
    put(&t, 2, 20); /* half full: the limit */
    allocations_left = 0;
    int found;
    cr_assert_null(tab_upsert(&t, 3, &found), "a third entry needs growth: no memory");
    cr_assert_eq(t.count, 2);
    cr_assert_eq(t.mask, 3);
    cr_assert(tab_find(&t, 1) && tab_find(&t, 1)->value == 10);
    cr_assert(tab_find(&t, 2) && tab_find(&t, 2)->value == 20);
    cr_assert_null(tab_find(&t, 3));
    allocations_left = -1;
    put(&t, 3, 30);
    cr_assert_eq(t.mask, 7);
    cr_assert_eq(t.count, 3);
    tab_destroy(&t);
    allocations_left = 0;
    cr_assert_eq(tab_init(&t, 4), -1);
    tab_destroy(&t);
}

/* A fixed table: no allocator, probes bounded, the key tested first. */
typedef struct {
    uint64_t key;
} fixed_slot_t;
typedef MEMTAP_HASHTAB(fixed_slot_t) fixed_table_t;
static unsigned fixed_reads;
static uint64_t read_key(const fixed_slot_t *s) {
    fixed_reads++;
    return s->key;
}

#define MEMTAP_HT_NAME fixed
#define MEMTAP_HT_TABLE fixed_table_t
#define MEMTAP_HT_SLOT fixed_slot_t
#define MEMTAP_HT_KEY uint64_t
#define MEMTAP_HT_HASH(k) (k)
#define MEMTAP_HT_EMPTY(s) (read_key(s) == 0)
#define MEMTAP_HT_MATCH(s, k) (read_key(s) == (k))
#define MEMTAP_HT_MAX_PROBES 3
#define MEMTAP_HT_MATCH_FIRST
#include "memtap/hashtab.h"

Test(hashtab, bounded_probes_give_up, .timeout = 60) {
    fixed_slot_t slots[8] = {{0}};
    slots[2].key = 2;
    slots[3].key = 10; /* home 2 */
    slots[4].key = 18; /* home 2 */
    slots[5].key = 26; /* home 2, beyond three probes */
    cr_assert_eq(fixed_find_in(slots, 7, 10), &slots[3]);
    cr_assert_eq(fixed_find_in(slots, 7, 18), &slots[4]);
    cr_assert_null(fixed_find_in(slots, 7, 26), "a fourth probe is not made");
    cr_assert_null(fixed_find_in(slots, 7, 7), "an empty slot ends the search");
    fixed_reads = 0;
    cr_assert_eq(fixed_find_in(slots, 7, 2), &slots[2]);
    cr_assert_eq(fixed_reads, 1, "found in its home slot with one read of its key");
}
