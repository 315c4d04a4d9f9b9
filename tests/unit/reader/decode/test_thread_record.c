/* Thread records (reader/decode/thread_record.h, .c): written against a model both halves
 * keep (addresses named by the record that last named them, sizes by node, the node
 * predicted from the previous one, deltas from the node's last address and from the nearest
 * of the last four frees). Every event must come back exactly as the writer's encoder was
 * given it, across chunks, threads, the ring's wrap and the writer's table epochs, through
 * the validating path (event by event) and the fast loop (batches) alike; a damaged model
 * reference is corruption, not a wrong figure. */
#include "support/capture_builder.h"

static cb_case_t t;

#define NODES 64

static void setup(void) { cb_case_init(&t); }
static void teardown(void) { cb_case_done(&t); }
TestSuite(thread_record, .init = setup, .fini = teardown);

static cb_want_t *want;
static size_t nwant, capwant;
static uint64_t order; /* every record its own key: release order is writing order */

/* Source 0: a module, two threads, NODES stack nodes. */
static void start(void) {
    cb_header(&t.c, 0);
    cb_module_enc(&t.s0.enc);
    cr_assert_eq(memtap_enc_thread(&t.s0.enc, 11, "one"), 0);
    cr_assert_eq(memtap_enc_thread(&t.s0.enc, 12, "two"), 0);
    for (uint32_t id = 1; id <= NODES; id++)
        memtap_enc_node(&t.s0.enc, id, id > 1 && id % 8 ? id - 1 : 0, 0x401000 + id * 16);
    cb_chunk(&t.c, 0, 0, &t.s0);
    order = 1;
    nwant = 0;
}

static void expect(cb_want_t w) {
    if (nwant == capwant) {
        capwant = capwant ? 2 * capwant : 1024;
        want = realloc(want, capwant * sizeof *want);
        cr_assert(want);
    }
    want[nwant++] = w;
}

static void put_alloc(cb_source_t *s, unsigned kind, uint64_t addr, uint64_t size, uint32_t node) {
    cb_key(s, order++);
    memtap_enc_alloc(&s->enc, kind, addr, size, node);
    expect((cb_want_t){MEMTAP_EV_ALLOC, kind, addr, size, node});
}

static void put_free(cb_source_t *s, uint64_t addr) {
    cb_free_at(s, order++, addr);
    expect((cb_want_t){MEMTAP_EV_FREE, 0, addr, 0, 0});
}

static void put_munmap(cb_source_t *s, uint64_t addr, uint64_t len) {
    cb_key(s, order++);
    memtap_enc_munmap(&s->enc, addr, len);
    s->key++;
    expect((cb_want_t){MEMTAP_EV_MUNMAP, 0, addr, len, 0});
}

/* Writes the thread's records so far as a chunk (all of them below its watermark). */
static void flush(cb_source_t *s, uint32_t source) {
    cb_chunk(&t.c, source, 2 * order, s);
}

static void finish(void) {
    cb_chunk(&t.c, 1, MEMTAP_WATERMARK_CLOSED, &t.t1);
    cb_chunk(&t.c, 2, MEMTAP_WATERMARK_CLOSED, &t.t2);
    cb_key(&t.s0, order);
    t.s0.enc.allocations = t.t1.enc.allocations + t.t2.enc.allocations;
    t.s0.enc.frees = t.t1.enc.frees + t.t2.enc.frees;
    memtap_enc_u64(&t.s0.enc, MEMTAP_REC_EXIT, 5);
    memtap_enc_trailer(&t.s0.enc);
    cb_chunk(&t.c, 0, MEMTAP_WATERMARK_CLOSED, &t.s0);
}

/* Decodes the capture and requires exactly the events put, in order, event by event and
 * in batches. */
static void expect_events_back(void) {
    const char *path = cb_file(&t.c, 1);
    cr_assert(cb_expect_events(path, want, nwant, NULL));
    cb_expect_batches(path, want, nwant);
}

/* A program-like mix on two threads: blocks freed soon or late, addresses handed out again,
 * sites that repeat their sizes and follow each other, odd addresses, huge sizes, every
 * kind, unmappings; chunks cut at random places. */
static void workload(size_t events, unsigned seed) {
    enum { LIVE = 700 };
    static uint64_t live[2][LIVE], freed[2][8];
    size_t nlive[2] = {0, 0};
    uint64_t bump[2] = {0x7f0000000000ull, 0x560000000000ull};
    uint32_t node[2] = {1, 1};
    srand(seed);
    for (size_t e = 0; e < events; e++) {
        int th = rand() % 5 == 0;
        cb_source_t *s = th ? &t.t2 : &t.t1;
        int r = rand() % 100;
        if (r < 48 || nlive[th] == 0) {
            node[th] = rand() % 4 ? node[th] % NODES + 1 : 1 + (uint32_t)rand() % NODES;
            uint64_t size = rand() % 3 ? node[th] * 24 : (uint64_t)rand() % 5000;
            if (rand() % 200 == 0)
                size = (5ull << 30) + (uint64_t)rand(); /* beyond the size table's 32 bits */
            uint64_t addr;
            if (rand() % 5 < 3 && freed[th][0])
                addr = freed[th][rand() % 8];
            else if (rand() % 20 == 0)
                addr = bump[th] + 1 + (uint64_t)(rand() % 15); /* off the 16-byte grid */
            else
                addr = bump[th] += 16 * (1 + (uint64_t)rand() % 300);
            if (!addr)
                addr = bump[th] += 16;
            put_alloc(s, (unsigned)rand() % (MEMTAP_KIND_PYMEM_OBJ + 1), addr, size, node[th]);
            if (nlive[th] < LIVE)
                live[th][nlive[th]++] = addr;
            else
                live[th][(size_t)rand() % LIVE] = addr;
        } else if (r < 97) {
            size_t i = rand() % 2 ? nlive[th] - 1 : (size_t)rand() % nlive[th];
            uint64_t addr = live[th][i];
            live[th][i] = live[th][--nlive[th]];
            put_free(s, addr);
            freed[th][rand() % 8] = addr;
        } else {
            put_munmap(s, bump[th] + 4096 * (uint64_t)(rand() % 64),
                       4096 * (1 + (uint64_t)rand() % 8));
        }
        if (s->enc.len > 3000 + (size_t)(rand() % 40000))
            flush(s, th ? 2 : 1);
    }
}

Test(thread_record, every_event_comes_back_exactly, .timeout = 60) {
    start();
    workload(200000, 1);
    finish();
    expect_events_back();
}

/* 1.2 M records on one thread: the reader's ring wraps many times, and the writer's address
 * table is emptied at each of its epochs (2^19 records). */
Test(thread_record, exact_across_the_ring_and_the_table_epochs, .timeout = 60) {
    start();
    uint64_t addr = 0x10000;
    for (uint32_t i = 0; i < 600000; i++) {
        /* freed MEMTAP_MODEL_RING +- a few records later: some by reference, some not */
        uint64_t a = addr + 16 * (i % (MEMTAP_MODEL_RING / 2 + 3));
        put_alloc(&t.t1, MEMTAP_KIND_MALLOC, a, 32 + i % 7, 1 + i % 3);
        if (i >= MEMTAP_MODEL_RING / 2 + 2)
            put_free(&t.t1,
                     addr + 16 * ((i - MEMTAP_MODEL_RING / 2 - 2) % (MEMTAP_MODEL_RING / 2 + 3)));
        if (t.t1.enc.len > 60000)
            flush(&t.t1, 1);
    }
    finish();
    expect_events_back();
}

/* The writer's address table keeps record numbers modulo 2^20: a block named once, then
 * left alone for more than 2^20 records in a slot nothing else took, must not be named by
 * a distance that wrapped (the table is emptied at each epoch). */
Test(thread_record, a_block_freed_after_two_to_the_twenty_records_is_exact, .timeout = 60) {
    start();
    put_alloc(&t.t1, MEMTAP_KIND_MALLOC, 0x5000, 64, 1);
    for (uint32_t i = 0; i < (1u << 19) + 4; i++) { /* off the grid: kept in no slot */
        put_alloc(&t.t1, MEMTAP_KIND_MALLOC, 0x9001, 8, 2);
        put_free(&t.t1, 0x9001);
        if (t.t1.enc.len > 60000)
            flush(&t.t1, 1);
    }
    put_free(&t.t1, 0x5000);
    finish();
    expect_events_back();
}

/* An empty slot of the writer's table holds address 0: a mapping at address 0 (mmap with
 * MAP_FIXED, where allowed) must not be taken for a reference. */
Test(thread_record, an_allocation_at_address_zero_is_exact, .timeout = 60) {
    start();
    for (uint64_t i = 1; i <= 5; i++) /* the site and kind known: the short form next */
        put_alloc(&t.t1, MEMTAP_KIND_MMAP, 0x10000 * i, 4096, 2);
    put_alloc(&t.t1, MEMTAP_KIND_MMAP, 0, 4096, 2);
    put_munmap(&t.t1, 0, 4096);
    put_alloc(&t.t1, MEMTAP_KIND_MMAP, 0, 4096, 2);
    finish();
    expect_events_back();
}

/* malloc, free, malloc at the same place and site: a pair takes 2 bytes (the ALLOC's
 * reference and the FREE's in their type bytes). */
Test(thread_record, a_repeated_block_costs_two_bytes_a_pair, .timeout = 60) {
    start();
    put_alloc(&t.t1, MEMTAP_KIND_MALLOC, 0x5000, 64, 7);
    put_free(&t.t1, 0x5000);
    size_t before = t.t1.enc.len;
    for (int i = 0; i < 1000; i++) {
        put_alloc(&t.t1, MEMTAP_KIND_MALLOC, 0x5000, 64, 7);
        put_free(&t.t1, 0x5000);
    }
    /* a SKIP_SHORT (one byte) before each free: every record here has a key of its own */
    size_t skips = 1000;
    cr_assert_eq(t.t1.enc.len - before - skips, 2 * 1000, "%zu bytes", t.t1.enc.len - before - skips);
    finish();
    expect_events_back();
}

/* Old blocks freed in the order they were allocated from two pools, interleaved, as a
 * program frees a structure it built long ago: no reference reaches them, but each free is
 * 16 bytes from the free before last (FREE_UNITS against the second base): 2 bytes each,
 * where a delta from the last free would span the pools. */
Test(thread_record, old_blocks_freed_in_order_cost_two_bytes_each, .timeout = 60) {
    start();
    enum { N = 12000 }; /* 24,000 allocations: beyond the ring's 16,384 records */
    for (uint64_t i = 0; i < N; i++) {
        put_alloc(&t.t1, MEMTAP_KIND_MALLOC, 0x100000 + 64 * i, 48, 1);
        put_alloc(&t.t1, MEMTAP_KIND_MALLOC, 0x900000 + 32 * i, 24, 2);
        if (t.t1.enc.len > 60000)
            flush(&t.t1, 1);
    }
    flush(&t.t1, 1);
    for (uint64_t i = 0; i < N; i++) {
        put_free(&t.t1, 0x100000 + 64 * i);
        put_free(&t.t1, 0x900000 + 32 * i);
        if (i == 10)
            flush(&t.t1, 1); /* the first frees, the pools' bases being learnt */
    }
    cr_assert_leq(t.t1.enc.len, 2 * (2 * N - 22), "%zu bytes for %d frees", t.t1.enc.len, 2 * N - 22);
    finish();
    expect_events_back();
}

/* Two call sites, each allocating upwards from a pool of its own, interleaved: each
 * allocation's address is 4 units on from its site's last, in the type byte (with the
 * node predicted and the size the site's): 1 byte each. */
Test(thread_record, allocations_take_their_delta_from_their_site, .timeout = 60) {
    start();
    cb_key(&t.t1, order); /* one key for them all: no SKIP between */
    for (uint64_t i = 0; i < 2; i++) { /* the sites' first: full records */
        memtap_enc_alloc(&t.t1.enc, MEMTAP_KIND_MALLOC, 0x100000 + 64 * i, 48, 1);
        expect((cb_want_t){MEMTAP_EV_ALLOC, MEMTAP_KIND_MALLOC, 0x100000 + 64 * i, 48, 1});
        memtap_enc_alloc(&t.t1.enc, MEMTAP_KIND_MALLOC, 0x900000 + 64 * i, 24, 2);
        expect((cb_want_t){MEMTAP_EV_ALLOC, MEMTAP_KIND_MALLOC, 0x900000 + 64 * i, 24, 2});
    }
    size_t before = t.t1.enc.len;
    for (uint64_t i = 2; i < 3000; i++) {
        memtap_enc_alloc(&t.t1.enc, MEMTAP_KIND_MALLOC, 0x100000 + 64 * i, 48, 1);
        expect((cb_want_t){MEMTAP_EV_ALLOC, MEMTAP_KIND_MALLOC, 0x100000 + 64 * i, 48, 1});
        memtap_enc_alloc(&t.t1.enc, MEMTAP_KIND_MALLOC, 0x900000 + 64 * i, 24, 2);
        expect((cb_want_t){MEMTAP_EV_ALLOC, MEMTAP_KIND_MALLOC, 0x900000 + 64 * i, 24, 2});
    }
    cr_assert_eq(t.t1.enc.len - before, 2 * 2998, "%zu bytes", t.t1.enc.len - before);
    order++;
    finish();
    expect_events_back();
}

/* A capture whose thread 1 wrote the bytes p (holding `allocations` ALLOCs). */
static void thread_bytes(const uint8_t *p, size_t n, uint64_t allocations) {
    start();
    memcpy(t.t1.enc.buf, p, n);
    t.t1.enc.len = n;
    cb_chunk(&t.c, 1, MEMTAP_WATERMARK_CLOSED, &t.t1);
    cb_chunk(&t.c, 2, MEMTAP_WATERMARK_CLOSED, &t.t2);
    cb_key(&t.s0, 10);
    t.s0.enc.allocations = allocations;
    memtap_enc_u64(&t.s0.enc, MEMTAP_REC_EXIT, 5);
    memtap_enc_trailer(&t.s0.enc);
    cb_chunk(&t.c, 0, MEMTAP_WATERMARK_CLOSED, &t.s0);
}

Test(thread_record, an_address_reference_before_the_first_record_is_corrupt, .timeout = 60) {
    /* a full ALLOC (the site's first), then one naming the address 2 records back */
    const uint8_t recs[] = {
        MEMTAP_REC_ALLOC, 2, 16, 1, MEMTAP_REC_ALLOC_MODEL | MEMTAP_MODEL_REF | 1, 16, 1};
    thread_bytes(recs, sizeof recs, 2);
    cb_case_expect_corrupt(&t, "refers to a record the thread never wrote");
}

Test(thread_record, a_free_reference_beyond_the_records_is_corrupt, .timeout = 60) {
    const uint8_t recs[] = {MEMTAP_REC_ALLOC, 2, 16, 1, MEMTAP_REC_FREE_REF | 2};
    thread_bytes(recs, sizeof recs, 1);
    cb_case_expect_corrupt(&t, "refers to a record the thread never wrote");
}

Test(thread_record, a_short_allocation_at_a_new_site_is_corrupt, .timeout = 60) {
    /* its kind and size would come from the site's last allocation: there is none */
    const uint8_t recs[] = {
        MEMTAP_REC_ALLOC, 2, 16, 1, MEMTAP_REC_ALLOC_MODEL | MEMTAP_MODEL_SIZE | 1, 5};
    thread_bytes(recs, sizeof recs, 2);
    cb_case_expect_corrupt(&t, "allocation at a stack node the thread never allocated at");
}

Test(thread_record, a_size_the_site_did_not_keep_is_corrupt, .timeout = 60) {
    /* 2^28 bytes at node 1: too large for the table, so "the same size" means nothing */
    const uint8_t recs[] = {MEMTAP_REC_ALLOC,
                            2,
                            0x80,
                            0x80,
                            0x80,
                            0x80,
                            0x01,
                            1,
                            MEMTAP_REC_ALLOC_MODEL | MEMTAP_MODEL_SIZE | 1,
                            1};
    thread_bytes(recs, sizeof recs, 2);
    cb_case_expect_corrupt(&t, "size refers to an allocation the thread never made");
}

/* Types that are no thread records: retired (ALLOC_SAME 0x30..0x3f), unused (0x00) or
 * the process's (NODE, TRAILER, the leak scan's 0x26 and 0x27). */
Test(thread_record, types_that_are_not_thread_records, .timeout = 60) {
    const uint8_t types[] = {0x30, 0x3f, 0x00, 0x26, 0x27, MEMTAP_REC_NODE, MEMTAP_REC_TRAILER};
    for (size_t i = 0; i < sizeof types; i++) {
        if (i) {
            teardown();
            setup();
        }
        const uint8_t recs[] = {MEMTAP_REC_ALLOC, 2, 16, 1, types[i], 2, 16};
        thread_bytes(recs, sizeof recs, 1);
        char msg[64];
        snprintf(msg, sizeof msg, "record type 0x%02x in the records of a thread", types[i]);
        cb_case_expect_corrupt(&t, msg);
    }
}

/* Two threads taking turns, each record a key of its own: thread 1's keys move on by 1 to
 * 9 between its records. A step of 1 to 8 is one byte (SKIP_SHORT 0x28 + step - 1), 9 a
 * SKIP of two; the keys put the records back in the order they were written. */
Test(thread_record, interleaved_threads_step_their_keys_in_one_byte, .timeout = 60) {
    start();
    put_alloc(&t.t1, MEMTAP_KIND_MALLOC, 0x5000, 64, 7); /* key 1 */
    for (uint64_t step = 1; step <= 9; step++) {
        for (uint64_t i = 1; i < step; i++) /* thread 2's records in between */
            put_alloc(&t.t2, MEMTAP_KIND_MALLOC, 0x9000 + 16 * (order % 64), 32, 3);
        size_t at = t.t1.enc.len;
        put_alloc(&t.t1, MEMTAP_KIND_MALLOC, 0x5000, 64, 7); /* the site's size, node, place */
        if (step <= MEMTAP_SKIP_SHORT_MAX) {
            cr_assert_eq(t.t1.enc.len - at, 2, "step %lu: %zu bytes", (unsigned long)step,
                         t.t1.enc.len - at);
            cr_assert_eq(t.t1.enc.buf[at], MEMTAP_REC_SKIP_SHORT + step - 1);
        } else {
            cr_assert_eq(t.t1.enc.len - at, 3);
            cr_assert_eq(t.t1.enc.buf[at], MEMTAP_REC_SKIP);
            cr_assert_eq(t.t1.enc.buf[at + 1], step);
        }
        if (step == 4)
            flush(&t.t1, 1);
    }
    finish();
    expect_events_back();
}

/* A SKIP_SHORT may not take a key to 2^62 either. */
Test(thread_record, a_short_skip_beyond_the_key_range_is_corrupt, .timeout = 60) {
    /* key 2^62 - 8 after the SKIP, then 8 more */
    const uint8_t recs[] = {MEMTAP_REC_SKIP, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f,
                            MEMTAP_REC_SKIP_SHORT + 7, MEMTAP_REC_ALLOC, 2, 16, 1};
    thread_bytes(recs, sizeof recs, 1);
    cb_case_expect_corrupt(&t, "order key out of range");
}

Test(thread_record, a_record_cut_by_the_end_of_its_image_is_corrupt, .timeout = 60) {
    const uint8_t recs[] = {MEMTAP_REC_ALLOC, 2, 16, 1, MEMTAP_FREE_REF_MID};
    thread_bytes(recs, sizeof recs, 1);
    cb_case_expect_corrupt(&t, "cut short");
}

Test(thread_record, random_damage_never_crashes, .timeout = 60) {
    start();
    workload(3000, 3);
    finish();
    cb_case_random_damage(&t, 1000, 11);
}
