/* The leak scan's classification (preload/leaks): memcheck's four classes on synthetic
 * heaps built from real memory of this process, with the snapshot and with every block
 * lazy (budget 0); the index against a plain search; memory vanishing while we scan. The
 * root set of this very process: test_leakroots.c. */
#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "leaks/index.h"
#include "leaks/leaks.h"
#include "leaks/memread.h"
#include "preload/leaks/leak_heap.h"

static uint64_t root_area[64]; /* the roots of the synthetic tests */
static memtap_range_t roots[1];
static uint8_t cls_lazy[1 << 16];

static void setup(void) {
    memset(root_area, 0, sizeof root_area);
    roots[0] = (memtap_range_t){P(root_area), P(root_area + 64), 0};
}

/* Classifies with the snapshot and with every block lazy: both must agree. */
static memtap_leak_stats_t classify_both(const heap_t *h, const memtap_range_t *r, size_t nr) {
    memtap_leak_stats_t st, lazy;
    memtap_leak_set_edge_budget(SIZE_MAX);
    cr_assert_eq(memtap_leak_classify(h->blocks, h->n, r, nr, cls, &st), 0);
    memtap_leak_set_edge_budget(0);
    cr_assert_eq(memtap_leak_classify(h->blocks, h->n, r, nr, cls_lazy, &lazy), 0);
    memtap_leak_set_edge_budget(SIZE_MAX);
    size_t i = 0; /* one assertion, not one per block: each is an event for the runner */
    while (i < h->n && cls[i] == cls_lazy[i])
        i++;
    cr_assert_eq(i, h->n, "block %zu: %d with the snapshot, %d lazy", i, cls[i], cls_lazy[i]);
    cr_assert_eq(st.lazy_blocks, 0);
    for (int c = 1; c <= 4; c++) {
        cr_assert_eq(st.blocks[c], lazy.blocks[c]);
        cr_assert_eq(st.bytes[c], lazy.bytes[c]);
    }
    return st;
}

TestSuite(leakscan, .init = setup);

Test(leakscan, block_reached_from_a_root_is_reachable, .timeout = 30) {
    heap_t h = heap_new(1 << 16, 8);
    uint64_t *a = blk(&h, 64, 32);
    blk(&h, 256, 48);
    root_area[5] = P(a);
    memtap_leak_stats_t st = classify_both(&h, roots, 1);
    expect((uint8_t[]){R, D}, 2);
    cr_assert_eq(st.blocks[R], 1);
    cr_assert_eq(st.bytes[R], 32);
    cr_assert_eq(st.blocks[D], 1);
    cr_assert_eq(st.bytes[D], 48);
    cr_assert_eq(st.root_bytes, sizeof root_area);
    cr_assert_eq(st.heap_bytes, 32 + 48); /* the sweep read each block once */
    cr_assert_eq(st.edges, 0);
    cr_assert_eq(st.unreadable_bytes, 0);
}

Test(leakscan, chain_of_start_pointers_is_reachable, .timeout = 30) {
    heap_t h = heap_new(1 << 16, 8);
    uint64_t *a = blk(&h, 0, 64), *b = blk(&h, 128, 64), *c = blk(&h, 4096, 16);
    blk(&h, 8192, 16);
    /* the chain goes backwards and forwards in memory */
    root_area[0] = P(b);
    b[7] = P(a);
    a[0] = P(c);
    memtap_leak_stats_t st = classify_both(&h, roots, 1);
    expect((uint8_t[]){R, R, R, D}, 4);
    cr_assert_eq(st.edges, 2);
}

Test(leakscan, interior_pointer_from_a_root_is_possible, .timeout = 30) {
    heap_t h = heap_new(1 << 16, 8);
    uint64_t *a = blk(&h, 0, 64);
    uint64_t *b = blk(&h, 64, 64);
    root_area[1] = P(a) + 8;
    root_area[2] = P(b) + 63; /* its last byte */
    memtap_leak_stats_t st = classify_both(&h, roots, 1);
    expect((uint8_t[]){PO, PO}, 2);
    cr_assert_eq(st.bytes[PO], 128);
}

Test(leakscan, cycle_with_nothing_pointing_in, .timeout = 30) {
    heap_t h = heap_new(1 << 16, 8);
    uint64_t *a = blk(&h, 0, 32), *b = blk(&h, 512, 32);
    a[1] = P(b);
    b[2] = P(a);
    /* a cycle entered from a lower block: that block leads, the cycle is in its clique */
    uint64_t *x = blk(&h, 1024, 32), *y = blk(&h, 2048, 32), *z = blk(&h, 4096, 32);

    x[0] = P(y);
    y[0] = P(z);
    z[0] = P(y);
    classify_both(&h, roots, 1);
    /* memcheck: one of them leads the clique (the lower address), the other is in it */
    expect((uint8_t[]){D, I, D, I, I}, 5);
}

Test(leakscan, lost_tree_leader_definite_children_indirect, .timeout = 30) {
    heap_t h = heap_new(1 << 16, 16);
    /* the leader has the highest address: the cliques gathered first from its children
     * join its clique when it is reached, as in memcheck */
    uint64_t *c1 = blk(&h, 0, 32), *g1 = blk(&h, 64, 32), *c2 = blk(&h, 128, 32),
             *g2 = blk(&h, 192, 40), *leader = blk(&h, 1024, 32);
    leader[0] = P(c1);
    leader[1] = P(c2) + 8; /* interior pointers count too, in a clique */
    c1[3] = P(g1);
    c2[0] = P(g2);
    /* and a second tree whose leader has the lowest address */
    uint64_t *l2 = blk(&h, 2048, 16), *k2 = blk(&h, 4096, 16);
    l2[0] = P(k2);
    memtap_leak_stats_t st = classify_both(&h, roots, 1);
    expect((uint8_t[]){I, I, I, I, D, D, I}, 7);
    cr_assert_eq(st.blocks[D], 2);
    cr_assert_eq(st.bytes[D], 48);
    cr_assert_eq(st.blocks[I], 5);
    cr_assert_eq(st.bytes[I], 32 + 32 + 32 + 40 + 16);
}

Test(leakscan, block_pointed_to_only_by_a_possibly_lost_block_is_possible, .timeout = 30) {
    heap_t h = heap_new(1 << 16, 8);
    uint64_t *p = blk(&h, 0, 64), *x = blk(&h, 256, 64), *y = blk(&h, 512, 64);
    root_area[0] = P(p) + 16;
    p[2] = P(x); /* a start pointer, but from a possibly lost block */
    x[0] = P(y);
    classify_both(&h, roots, 1);
    expect((uint8_t[]){PO, PO, PO}, 3);
}

Test(leakscan, possible_block_rises_to_reachable_and_is_rescanned, .timeout = 30) {
    heap_t h = heap_new(1 << 16, 8);
    uint64_t *a = blk(&h, 0, 32), *b = blk(&h, 64, 32), *c = blk(&h, 128, 32),
             *d = blk(&h, 192, 32);
    a[0] = P(b);
    c[0] = P(d);
    d[0] = P(a);
    /* both orders of the roots: A scanned as Possible first, or reached from C first */
    for (int order = 0; order < 2; order++) {
        memset(root_area, 0, sizeof root_area);
        root_area[order] = P(a) + 8;
        root_area[1 - order] = P(c);
        classify_both(&h, roots, 1);
        expect((uint8_t[]){R, R, R, R}, 4);
    }
}

Test(leakscan, a_start_pointer_counts_beside_an_interior_one, .timeout = 30) {
    heap_t h = heap_new(1 << 16, 8);
    uint64_t *a = blk(&h, 0, 32), *b = blk(&h, 64, 32), *c = blk(&h, 128, 32);
    root_area[0] = P(a);
    a[0] = P(b) + 8; /* interior, then start, to the same block, side by side */
    a[1] = P(b);
    a[2] = P(c); /* start, then interior */
    a[3] = P(c) + 8;
    classify_both(&h, roots, 1);
    expect((uint8_t[]){R, R, R}, 3);
}

Test(leakscan, unaligned_pointers_are_not_pointers, .timeout = 30) {
    heap_t h = heap_new(1 << 16, 8);
    uint64_t *a = blk(&h, 0, 64), *b = blk(&h, 128, 64);
    uint64_t pa = P(a), pb = P(b);
    memcpy((uint8_t *)root_area + 3, &pa, 8); /* as memcheck: aligned words only */
    root_area[4] = P(a) + 1;                  /* aligned word, unaligned value: interior */
    memcpy((uint8_t *)a + 20, &pb, 8);
    classify_both(&h, roots, 1);
    expect((uint8_t[]){PO, D}, 2);
}

Test(leakscan, size_zero_blocks, .timeout = 30) {
    heap_t h = heap_new(1 << 16, 8);
    uint64_t *z = blk(&h, 16, 0), *z2 = blk(&h, 32, 0), *z3 = blk(&h, 48, 0);
    uint64_t *lost = blk(&h, 64, 16);
    (void)z2;
    root_area[0] = P(z);      /* equal to its address: a start pointer */
    root_area[1] = P(z2) + 1; /* one past it: nothing (no block there) */
    lost[0] = P(z3);
    memtap_leak_stats_t st = classify_both(&h, roots, 1);
    expect((uint8_t[]){R, D, I, D}, 4);
    cr_assert_eq(st.bytes[R], 0);
    cr_assert_eq(st.bytes[D], 16);
    /* a size-0 block covers one byte: a block right after it is fine, at it is not */
    h.blocks[1] = (memtap_live_block_t){P(z) + 1, 8};
    cr_assert_eq(memtap_leak_classify(h.blocks, 2, roots, 1, cls, NULL), 0);
    h.blocks[1] = (memtap_live_block_t){P(z), 8};
    cr_assert_eq(memtap_leak_classify(h.blocks, 2, roots, 1, cls, NULL), -EINVAL);
}

Test(leakscan, blocks_at_the_ends_of_the_index, .timeout = 30) {
    heap_t h = heap_new(1 << 20, 8);
    uint64_t *first = blk(&h, 0, 24), *mid = blk(&h, 4096, 24);
    uint64_t *last = blk(&h, (1 << 20) - 40, 40); /* ends with the mapping */
    root_area[0] = P(first) - 1;                  /* before everything */
    root_area[1] = P(last) + 40;                  /* the end: outside */
    root_area[2] = P(mid) + 24;                   /* just past mid: in the gap */
    root_area[3] = P(last) + 39;                  /* last byte of the last block */
    memtap_leak_stats_t st = classify_both(&h, roots, 1);
    expect((uint8_t[]){D, D, PO}, 3);
    cr_assert_eq(st.unreadable_bytes, 0);

    /* a block at the very top of the address space: never readable, still indexed */
    heap_t t = heap_new(1 << 16, 8);
    uint64_t *x = blk(&t, 0, 16);
    t.blocks[t.n++] = (memtap_live_block_t){UINT64_MAX - 64, 63};
    root_area[0] = UINT64_MAX - 64;
    root_area[1] = UINT64_MAX - 2; /* interior of it, near the top: no wrap-around */
    root_area[2] = 0;
    root_area[3] = 0;
    x[0] = UINT64_MAX; /* past its end */
    st = classify_both(&t, roots, 1);
    expect((uint8_t[]){D, R}, 2);
    cr_assert_eq(st.unreadable_bytes, 56); /* its 7 aligned words, in the sweep */
    memtap_live_block_t wrap[] = {{UINT64_MAX - 8, 9}};
    cr_assert_eq(memtap_leak_classify(wrap, 1, roots, 1, cls, NULL), -EINVAL);
}

/* The index against a plain search, on random blocks: sizes 0 to 300, gaps from 0 to past
 * the cluster gap, the last ones at the top of the address space; words at and around
 * every block's ends, and at random. */
static int64_t brute(const memtap_live_block_t *b, size_t n, uint64_t w) {
    size_t a = 0, z = n; /* the first block ending after w */
    while (a < z) {
        size_t mid = a + (z - a) / 2;
        if (memtap_leak_block_end(&b[mid]) <= w)
            a = mid + 1;
        else
            z = mid;
    }
    return a < n && b[a].addr <= w ? (int64_t)a : -1;
}

Test(leakscan, index_finds_what_a_plain_search_finds, .timeout = 30) {
    enum { N = 6000 };
    static memtap_live_block_t b[N];
    uint64_t seed = 7, at = 0x10000;
    for (size_t i = 0; i < N; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t r = seed >> 20;
        uint64_t gap = r % 16 == 0 ? r % (3u << 20) : r % 16 == 1 ? (r & 0xfff) << 28 : r % 64;
        if (i >= N - 100) /* the last blocks at the very top */
            gap = i == N - 100 ? UINT64_MAX - 100 * 400 - at : r % 64;
        at += gap;
        b[i] = (memtap_live_block_t){at, (seed >> 8) % 301};
        at = memtap_leak_block_end(&b[i]);
    }
    for (size_t i = 1; i < N; i++)
        cr_assert(b[i].addr >= memtap_leak_block_end(&b[i - 1]) && b[i].addr > b[i - 1].addr);
    size_t nclusters, nslots;
    memtap_leak_index_measure(b, N, &nclusters, &nslots);
    cr_assert_gt(nclusters, 50);              /* the big gaps cut clusters */
    cr_assert_leq(nslots, N + 2 * nclusters); /* about a slot per block */
    static memtap_leak_cluster_t clusters[N];
    static uint32_t slots[3 * N];
    memtap_leak_index_t ix;
    memtap_leak_index_build(&ix, b, N, clusters, slots);
    size_t wrong = 0, found = 0;
    for (size_t i = 0; i < N; i++) {
        uint64_t probes[] = {b[i].addr - 1,
                             b[i].addr,
                             b[i].addr + b[i].size / 2,
                             memtap_leak_block_end(&b[i]) - 1,
                             memtap_leak_block_end(&b[i]),
                             seed ^ (seed >> 7)};
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        for (size_t k = 0; k < sizeof probes / sizeof probes[0]; k++) {
            int64_t want = brute(b, N, probes[k]);
            wrong += memtap_leak_lookup(&ix, probes[k]) != want;
            found += want >= 0;
        }
    }
    cr_assert_eq(wrong, 0);
    cr_assert_gt(found, 3 * N); /* start, middle and last byte of every block */
    cr_assert_eq(memtap_leak_lookup(&ix, UINT64_MAX), brute(b, N, UINT64_MAX));
}

Test(leakscan, invalid_block_lists_are_refused_and_errno_kept, .timeout = 30) {
    heap_t h = heap_new(1 << 16, 8);
    blk(&h, 64, 32);
    blk(&h, 128, 32);
    memtap_live_block_t b[2];
    memcpy(b, h.blocks, sizeof b);
    errno = 1234;
    b[1].addr = b[0].addr; /* not sorted / overlapping */
    cr_assert_eq(memtap_leak_classify(b, 2, roots, 1, cls, NULL), -EINVAL);
    b[1].addr = b[0].addr + 16; /* overlapping */
    cr_assert_eq(memtap_leak_classify(b, 2, roots, 1, cls, NULL), -EINVAL);
    b[0].addr = 0; /* address 0 */
    b[0].size = 8;
    cr_assert_eq(memtap_leak_classify(b, 1, roots, 1, cls, NULL), -EINVAL);
    cr_assert_eq(memtap_leak_classify(h.blocks, 2, roots, 1, cls, NULL), 0);
    cr_assert_eq(memtap_leak_classify(h.blocks, 0, roots, 1, cls, NULL), 0);
    cr_assert_eq(errno, 1234);
}

Test(leakscan, unmapped_block_reads_as_no_pointers, .timeout = 30) {
    heap_t h = heap_new(3 << 12, 8);
    uint64_t *a = blk(&h, 0, 64), *gone = blk(&h, 4096, 4096), *c = blk(&h, 8192, 64);
    root_area[0] = P(a);
    a[0] = P(gone);
    gone[3] = P(c); /* lost with the page */
    cr_assert_eq(munmap(gone, 4096), 0);
    memtap_leak_stats_t st = classify_both(&h, roots, 1);
    expect((uint8_t[]){R, R, D}, 3);
    cr_assert_eq(st.unreadable_bytes, 4096); /* read once, in the sweep */
    cr_assert_eq(st.heap_bytes, 64 + 4096 + 64);
}

Test(leakscan, big_block_read_in_pieces, .timeout = 30) {
    size_t big = 3u << 20; /* larger than the 1 MiB read buffer */
    heap_t h = heap_new(big + (1 << 16), 8);
    uint64_t *a = blk(&h, 0, big), *b = blk(&h, big + 64, 32), *c = blk(&h, big + 128, 32);
    root_area[0] = P(a);
    a[big / 8 - 1] = P(b);       /* in the last piece */
    a[(1 << 20) / 8] = P(c) + 8; /* first word of the second piece */
    memtap_leak_stats_t st = classify_both(&h, roots, 1);
    expect((uint8_t[]){R, R, PO}, 3);
    cr_assert_eq(st.heap_bytes, big + 64);
}

Test(leakscan, resident_only_roots_skip_untouched_pages, .timeout = 30) {
    heap_t h = heap_new(1 << 16, 8);
    uint64_t *a = blk(&h, 0, 32), *b = blk(&h, 64, 32);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uint64_t *r = map(64 * page);
    r[0] = P(a);
    r[(5 * page) / 8] = P(b);
    memtap_range_t rr = {P(r), P(r) + 64 * page, MEMTAP_RANGE_RESIDENT_ONLY};
    for (int pagemap_scan = 0; pagemap_scan < 2; pagemap_scan++) { /* and mincore */
        memtap_leak_set_pagemap_scan(pagemap_scan);
        memtap_leak_stats_t st = classify_both(&h, &rr, 1);
        expect((uint8_t[]){R, R}, 2);
        cr_assert_eq(st.root_bytes, 2 * page); /* the two pages written, not 64 */
    }
    rr.flags = 0;
    memtap_leak_stats_t st = classify_both(&h, &rr, 1);
    cr_assert_eq(st.root_bytes, 64 * page);
}

Test(leakscan, our_own_arrays_are_never_roots, .timeout = 30) {
    heap_t h = heap_new(1 << 16, 8);
    blk(&h, 0, 32);
    blk(&h, 64, 32);
    /* a root covering the blocks array itself, which holds every block's address */
    memtap_range_t r = {P(h.blocks), P(h.blocks + h.n), 0};
    memtap_leak_stats_t st = classify_both(&h, &r, 1);
    expect((uint8_t[]){D, D}, 2);
    cr_assert_eq(st.root_bytes, 0);
}

/* Many blocks in shuffled lists, some rooted, with a snapshot, lazily, and half and half:
 * the head of an unrooted list is definitely lost (nothing points to it), the rest of it
 * indirectly lost whatever the addresses; a rooted list is reachable but for an interior
 * pointer, behind which everything is possible. */
Test(leakscan, shuffled_lists_in_every_mode, .timeout = 30) {
    enum {
        N = 20000,
        LISTS = 40,
        PER = N / LISTS,
        STRIDE = 80
    }; /* 48-byte blocks, as malloc spaces them */
    heap_t h = heap_new((size_t)N * STRIDE, N);
    for (size_t i = 0; i < N; i++)
        blk(&h, i * STRIDE, 48);
    static uint32_t perm[N];
    static uint8_t want[N];
    uint64_t seed = 42;
    for (uint32_t i = 0; i < N; i++)
        perm[i] = i;
    for (uint32_t i = N - 1; i > 0; i--) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t j = (uint32_t)(seed >> 33) % (i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (size_t l = 0; l < LISTS; l++) {
        const uint32_t *node = &perm[l * PER];
        for (size_t k = 0; k + 1 < PER; k++) /* the next pointer in word 2 */
            ((uint64_t *)(uintptr_t)h.blocks[node[k]].addr)[2] = h.blocks[node[k + 1]].addr;
        int rooted = l % 2 == 0, interior_at = l % 4 == 0 ? PER / 2 : -1;
        if (rooted)
            root_area[l / 2] = h.blocks[node[0]].addr;
        if (interior_at >= 0) /* the link into the middle points 8 bytes in */
            ((uint64_t *)(uintptr_t)h.blocks[node[interior_at - 1]].addr)[2] += 8;
        for (int k = 0; k < PER; k++)
            want[node[k]] =
                rooted ? (interior_at >= 0 && k >= interior_at ? PO : R) : (k == 0 ? D : I);
    }
    memtap_leak_stats_t st = classify_both(&h, roots, 1);
    expect(want, N);
    cr_assert_eq(st.blocks[D], LISTS / 2);
    cr_assert_eq(st.blocks[I], (LISTS / 2) * (PER - 1));
    cr_assert_eq(st.blocks[PO], (LISTS / 4) * (PER / 2));
    cr_assert_eq(st.edges, N - LISTS);
    /* a budget that runs out in the middle of the sweep */
    memtap_leak_set_edge_budget(N / 3);
    cr_assert_eq(memtap_leak_classify(h.blocks, h.n, roots, 1, cls_lazy, &st), 0);
    memtap_leak_set_edge_budget(SIZE_MAX);
    cr_assert_eq(st.edges, N / 3); /* one per block: the budget fills up exactly */
    cr_assert(st.lazy_blocks > 0 && st.lazy_blocks < N);
    cr_assert_eq(memcmp(cls, cls_lazy, N), 0);
}

/* Another thread unmaps and maps back pages under the scan, blocks and roots alike: the
 * scan must finish and give each block a class, whatever the race gives. */
static volatile int stop_churn;
static uint8_t *churn_mem;
static size_t churn_pages;

static void *churn(void *arg) {
    (void)arg;
    size_t page = (size_t)sysconf(_SC_PAGESIZE), k = 0;
    while (!__atomic_load_n(&stop_churn, __ATOMIC_RELAXED)) {
        uint8_t *p = churn_mem + (k++ * 7919 % churn_pages) * page;
        munmap(p, page);
        sched_yield();
        mmap(p, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    }
    return NULL;
}

Test(leakscan, memory_vanishing_during_the_scan, .timeout = 30) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    churn_pages = 1024;
    heap_t h = heap_new(churn_pages * page, churn_pages);
    churn_mem = h.mem;
    for (size_t i = 0; i < churn_pages / 2; i++) { /* blocks in the first half, roots after */
        uint64_t *b = blk(&h, i * page, page);
        b[1] = P(h.mem) + ((i + 1) % (churn_pages / 2)) * page;
        ((uint64_t *)(void *)(h.mem + (churn_pages / 2 + i) * page))[0] = P(b);
    }
    memtap_range_t r = {P(h.mem) + churn_pages / 2 * page, P(h.mem) + churn_pages * page, 0};
    pthread_t t;
    stop_churn = 0;
    cr_assert_eq(pthread_create(&t, NULL, churn, NULL), 0);
    for (int round = 0; round < 40; round++) {
        memtap_leak_set_edge_budget(round % 2 ? 0 : SIZE_MAX);
        memtap_leak_stats_t st;
        cr_assert_eq(memtap_leak_classify(h.blocks, h.n, &r, 1, cls, &st), 0);
        uint64_t total = 0, bad = 0;
        for (size_t i = 0; i < h.n; i++)
            bad += cls[i] < R || cls[i] > D;
        cr_assert_eq(bad, 0);
        for (int c = 1; c <= 4; c++)
            total += st.blocks[c];
        cr_assert_eq(total, h.n);
    }
    memtap_leak_set_edge_budget(SIZE_MAX);
    __atomic_store_n(&stop_churn, 1, __ATOMIC_RELAXED);
    pthread_join(t, NULL);
}
