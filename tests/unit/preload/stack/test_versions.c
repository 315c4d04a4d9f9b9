/* Versions of native frame sequences (stack/versions.c): equal versions always mean equal
 * frames, whatever the table forgot; the same stack gets its version again while the table
 * holds it; outer frames the unwinder vouches for keep theirs; a walk not versioned
 * (memtap_versions_forget) makes the next one vouch for nothing. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "stack/versions.h"

#define DEPTH 40

typedef struct {
    int n;
    uint64_t f[DEPTH]; /* innermost first, as walks give them */
} stack_t_;

/* How many outermost frames a and b share. */
static int shared_outer(const stack_t_ *a, const stack_t_ *b) {
    int s = 0;
    while (s < a->n && s < b->n && a->f[a->n - 1 - s] == b->f[b->n - 1 - s])
        s++;
    return s;
}

Test(versions, the_same_stack_gets_its_version_again, .timeout = 10) {
    stack_t_ a = {4, {0x401010, 0x401020, 0x401030, 0x401040}};
    stack_t_ b = {4, {0x401011, 0x401020, 0x401030, 0x401040}};
    uint64_t va = memtap_versions_of_walk(a.f, a.n, 0);
    cr_assert_neq(va, 0);
    uint64_t vb = memtap_versions_of_walk(b.f, b.n, 3); /* the unwinder vouched for 3 */
    cr_assert_neq(vb, 0);
    cr_assert_neq(va, vb, "another innermost frame");
    cr_assert_eq(memtap_versions_of_walk(a.f, a.n, 0), va, "read whole again");
    cr_assert_eq(memtap_versions_of_walk(a.f, a.n, 4), va, "vouched for whole");
    cr_assert_eq(memtap_versions_of_walk(b.f, 3, 0), memtap_versions_of_walk(a.f + 1, 3, 3),
                 "the same outer part, however it was reached");
    cr_assert_eq(memtap_versions_of_walk(a.f, 0, 0), 0, "no frames: no version");
}

Test(versions, forgetting_makes_the_next_walk_vouch_for_nothing, .timeout = 10) {
    stack_t_ a = {3, {0x500010, 0x500020, 0x500030}};
    stack_t_ c = {3, {0x600010, 0x600020, 0x600030}};
    uint64_t va = memtap_versions_of_walk(a.f, a.n, 0);
    uint64_t vc = memtap_versions_of_walk(c.f, c.n, 0);
    memtap_versions_of_walk(a.f, a.n, 0);
    memtap_versions_forget(); /* a walk of c's frames that was not versioned */
    /* the unwinder says 3 frames are the previous walk's (c's): they must be read */
    cr_assert_eq(memtap_versions_of_walk(c.f, c.n, 3), vc);
    cr_assert_neq(vc, va);
    /* a walk deeper than the table's limit is not versioned either */
    uint64_t deep[MEMTAP_VERSIONS_DEPTH + 1];
    for (int i = 0; i <= MEMTAP_VERSIONS_DEPTH; i++)
        deep[i] = 0x700000 + 16 * (uint64_t)i;
    cr_assert_eq(memtap_versions_of_walk(deep, MEMTAP_VERSIONS_DEPTH + 1, 0), 0);
    cr_assert_eq(memtap_versions_of_walk(a.f, a.n, 3), va, "nothing vouched for after it");
}

Test(versions, vouched_only_for_frames_it_has_versions_of, .timeout = 10) {
    stack_t_ a = {3, {0x800010, 0x800020, 0x800030}};
    cr_assert(!memtap_versions_vouched(2), "no table yet");
    memtap_versions_of_walk(a.f, a.n, 0);
    cr_assert(memtap_versions_vouched(3));
    cr_assert(!memtap_versions_vouched(4), "deeper than the last walk");
    memtap_versions_forget();
    cr_assert(!memtap_versions_vouched(1), "the last walk was not versioned");
    cr_assert(memtap_versions_vouched(0));
}

/* Random walks, each vouched for as far as it truly shares its outer frames with the walk
 * before: 15 in 16 of them a few frames on one of 16 fixed stacks (met again and again, with
 * the table's slots taken by the others in between), the others a random walk on from the last
 * one (new pairs by the ten thousand, more than the table's 4,096 slots hold). A
 * version is never given to two different stacks, and stacks met again mostly get theirs. */
Test(versions, equal_versions_mean_equal_frames, .timeout = 10) {
    enum { WALKS = 200000, POOL = 16 };
    typedef struct {
        uint64_t version;
        stack_t_ s;
    } seen_t;
    size_t cap = 1u << 20;
    seen_t *seen = calloc(cap, sizeof *seen);
    cr_assert_not_null(seen);
    srand(7);
    stack_t_ pool[POOL], prev = {0}, cur;
    for (int p = 0; p < POOL; p++) {
        pool[p].n = 5 + rand() % 25;
        for (int i = 0; i < pool[p].n; i++)
            pool[p].f[i] = 0x400000 + 16 * (uint64_t)(rand() % 8);
    }
    int hits = 0, vouched = 0;
    for (int w = 0; w < WALKS; w++) {
        if (rand() % 16) { /* 0 to 2 frames on a fixed stack */
            const stack_t_ *b = &pool[rand() % POOL];
            int inner = rand() % 3;
            cur.n = b->n + inner;
            memcpy(cur.f + inner, b->f, (size_t)b->n * sizeof *cur.f);
            for (int i = 0; i < inner; i++)
                cur.f[i] = 0x500000 + 16 * (uint64_t)(rand() % 4);
        } else { /* an outer part of the previous walk, then up to 5 random frames */
            int keep = rand() % (prev.n + 1);
            cur.n = keep + 1 + rand() % (DEPTH - keep < 5 ? DEPTH - keep : 5);
            if (cur.n > DEPTH)
                cur.n = DEPTH;
            int inner = cur.n - keep;
            memcpy(cur.f + inner, prev.f + prev.n - keep, (size_t)keep * sizeof *cur.f);
            for (int i = 0; i < inner; i++)
                cur.f[i] = 0x400000 + 16 * (uint64_t)(rand() % 64);
        }
        int same = shared_outer(&cur, &prev);
        vouched += same > 0;
        uint64_t v = memtap_versions_of_walk(cur.f, cur.n, same);
        cr_assert_neq(v, 0);
        seen_t *e = &seen[(v * 0x9e3779b97f4a7c15ull) >> 44];
        if (e->version == v) {
            hits++;
            cr_assert_eq(e->s.n, cur.n, "version %lu: two depths", (unsigned long)v);
            cr_assert(!memcmp(e->s.f, cur.f, (size_t)cur.n * sizeof *cur.f),
                      "version %lu given to two stacks", (unsigned long)v);
        } else {
            e->version = v;
            e->s = cur;
        }
        prev = cur;
    }
    cr_assert_gt(hits, WALKS / 2, "stacks met again get their versions again (%d)", hits);
    cr_assert_gt(vouched, WALKS / 20, "walks vouched for (%d)", vouched);
    free(seen);
}

Test(versions, none_after_the_thread_exits, .timeout = 10) {
    uint64_t f[2] = {0x401010, 0x401020};
    cr_assert_neq(memtap_versions_of_walk(f, 2, 0), 0);
    memtap_versions_thread_exit();
    cr_assert_eq(memtap_versions_of_walk(f, 2, 0), 0);
    memtap_versions_forget(); /* harmless */
}
