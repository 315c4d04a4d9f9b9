/* The replay's timeline: moments and each thread site's live memory at each of them,
 * exact against a model of the heap kept beside it at every instant; stretches halved when
 * full with the peak and the end kept; thread sites; times between markers; RSS. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "replay/timeline.h"
#include "support/replay_events.h"

static memtap_replay_t r;
static void teardown(void) {
    memtap_replay_free(&r);
    memtap_replay_use_timeline(0);
}
TestSuite(timeline, .fini = teardown);

/* r with a timeline of at most max moments, an image, threads 1..nthreads, stacks 1..4. */
static void start(size_t max, uint32_t nthreads) {
    memtap_replay_use_timeline(max);
    cr_assert_eq(memtap_replay_init(&r), 0);
    cr_assert_not_null(r.tl);
    re_header(&r, "/bin/x", "x", 0);
    for (uint32_t t = 1; t <= nthreads; t++)
        re_feed(&r, (memtap_event_t){.type = MEMTAP_EV_THREAD,
                                     .u.thread = {.index = t, .tid = 100 + t, .name = "t", .name_len = 1}});
    for (uint32_t id = 1; id <= 4; id++)
        re_next_node(&r, 0, 0x1000 * id);
}

static void alloc(uint64_t addr, uint64_t size, uint32_t node, uint32_t thread, unsigned kind) {
    re_feed(&r, (memtap_event_t){.type = MEMTAP_EV_ALLOC,
                                 .u.alloc = {.kind = kind, .addr = addr, .size = size,
                                             .node = node, .thread = thread}});
}
static void tick(uint64_t ms, uint64_t rss) {
    re_feed(&r, (memtap_event_t){.type = MEMTAP_EV_TIME, .u.time = {.ms = ms, .rss = rss}});
}
static void finish(void) {
    memtap_replay_finish(&r);
    cr_assert_eq(memtap_timeline_finish(&r), 0);
}
static const memtap_timeline_t *tl(void) { return r.tl; }

/* The thread site of stack node `node` (its replay id) on replay thread `thread`, or 0. */
static uint32_t tsite_of(uint32_t node, uint32_t thread) {
    uint32_t site = r.site_of_node.v[node];
    for (uint32_t i = 1; i < tl()->tsites.n; i++)
        if (tl()->tsites.v[i].site == site && tl()->tsites.v[i].thread == thread)
            return i;
    return 0;
}

Test(timeline, every_instant_while_few, .timeout = 10) {
    start(64, 1);
    uint64_t first = r.seq; /* header, thread, 4 nodes */
    alloc(0x100, 100, 1, 1, MEMTAP_KIND_MALLOC); /* 100 */
    alloc(0x200, 50, 2, 1, MEMTAP_KIND_MALLOC);  /* 150 */
    re_free(&r, 0x100);                         /* 50 */
    alloc(0x300, 120, 3, 1, MEMTAP_KIND_CALLOC); /* 170: the peak */
    re_free(&r, 0x300);                         /* 50 */
    finish();
    const uint64_t heap[] = {100, 150, 50, 170, 50};
    cr_assert_eq(tl()->moments.n, first + 5);
    for (size_t i = 0; i < 5; i++) {
        const memtap_moment_t *m = &tl()->moments.v[first + i];
        cr_assert_eq(m->seq, first + 1 + i);
        cr_assert_eq(m->heap_bytes, heap[i], "moment %zu: %lu", i, (unsigned long)m->heap_bytes);
    }
    cr_assert_eq(tl()->peak_index, first + 3);
    cr_assert_eq(tl()->moments.v[tl()->peak_index].seq, r.peak_seq);
    uint64_t bytes[8], blocks[8];
    cr_assert_leq(tl()->tsites.n, 8);
    memtap_timeline_at(tl(), tl()->peak_index, bytes, blocks);
    uint32_t a = tsite_of(1, 0), b = tsite_of(2, 0), c = tsite_of(3, 0);
    cr_assert(a && b && c && a != b && b != c);
    cr_assert(bytes[a] == 0 && bytes[b] == 50 && bytes[c] == 120 && blocks[c] == 1);
    memtap_timeline_at(tl(), first + 1, bytes, blocks);
    cr_assert(bytes[a] == 100 && bytes[b] == 50 && bytes[c] == 0);
    /* totals */
    cr_assert_eq(tl()->tsites.v[c].kinds, 1u << MEMTAP_KIND_CALLOC);
    cr_assert_eq(tl()->tsites.v[c].temporary, 1); /* freed before any other allocation */
    cr_assert_eq(tl()->tsites.v[c].temporary_bytes, 120);
    cr_assert_eq(tl()->tsites.v[a].total_bytes, 100);
}

Test(timeline, one_stack_on_two_threads_is_two_sites, .timeout = 10) {
    start(64, 2);
    alloc(0x100, 10, 1, 1, MEMTAP_KIND_MALLOC);
    alloc(0x200, 20, 1, 2, MEMTAP_KIND_MALLOC);
    alloc(0x300, 40, 1, 2, MEMTAP_KIND_MALLOC);
    alloc(0x400, 80, 2, 7, MEMTAP_KIND_MALLOC); /* a thread never announced (cut capture) */
    re_free(&r, 0x300);
    finish();
    uint32_t t1 = tsite_of(1, 0), t2 = tsite_of(1, 1), unknown = tsite_of(2, MEMTAP_NO_THREAD);
    cr_assert(t1 && t2 && unknown && t1 != t2);
    cr_assert_eq(tl()->tsites.v[t1].live_bytes, 10);
    cr_assert_eq(tl()->tsites.v[t2].live_bytes, 20);
    cr_assert_eq(tl()->tsites.v[t2].allocations, 2);
    cr_assert_eq(tl()->tsites.v[t2].total_bytes, 60);
    cr_assert_eq(tl()->tsites.v[unknown].live_bytes, 80);
}

/* Times: moments between markers are placed by their event number. */
Test(timeline, times_between_markers_and_rss, .timeout = 10) {
    start(64, 1);
    uint64_t s0 = r.seq;
    alloc(0x100, 10, 1, 1, MEMTAP_KIND_MALLOC); /* s0+1: before any marker: no RSS */
    tick(100, 4096);                             /* s0+2 */
    alloc(0x200, 10, 1, 1, MEMTAP_KIND_MALLOC); /* s0+3 */
    alloc(0x300, 10, 1, 1, MEMTAP_KIND_MALLOC); /* s0+4 */
    alloc(0x400, 10, 1, 1, MEMTAP_KIND_MALLOC); /* s0+5 */
    tick(200, 8192);                             /* s0+6 */
    alloc(0x500, 10, 1, 1, MEMTAP_KIND_MALLOC); /* s0+7: after the last marker */
    finish();
    const memtap_moment_t *m = &tl()->moments.v[s0];
    cr_assert_eq(m[0].seq, s0 + 1);
    cr_assert_eq(m[0].rss, 0);
    cr_assert_float_eq(m[0].t_ms, 100.0, 1e-9, "the record that brought the marker: its time");
    cr_assert_float_eq(m[1].t_ms, 100.0, 1e-9);
    cr_assert_eq(m[1].rss, 4096);
    cr_assert_float_eq(m[2].t_ms, 100.0 + 100.0 / 3, 1e-9);
    cr_assert_float_eq(m[3].t_ms, 100.0 + 200.0 / 3, 1e-9);
    cr_assert_float_eq(m[4].t_ms, 200.0, 1e-9);
    cr_assert_float_eq(m[6].t_ms, 200.0, 1e-9); /* nothing after the last marker: its time */
    cr_assert_eq(m[6].rss, 8192);
}

/* A pause: the records before it are placed within 100 ms of the marker before them, not
 * spread over the pause; the one that ends it at the next marker's time. */
Test(timeline, a_pause_is_not_spread_over_the_events, .timeout = 10) {
    start(64, 1);
    tick(1000, 4096);
    uint64_t s0 = r.seq;
    for (uint64_t i = 0; i < 4; i++)
        alloc(0x100 + 16 * i, 10, 1, 1, MEMTAP_KIND_MALLOC); /* s0+1 .. s0+4 */
    alloc(0x200, 10, 1, 1, MEMTAP_KIND_MALLOC);             /* s0+5: after a 5 s pause */
    tick(6000, 4096);                                        /* s0+6 */
    re_feed(&r, (memtap_event_t){.type = MEMTAP_EV_EXIT, .u.time = {.ms = 9000}}); /* s0+7 */
    finish();
    const memtap_moment_t *m = &tl()->moments.v[s0 - 1];
    cr_assert_eq(m[0].seq, s0);
    cr_assert_float_eq(m[0].t_ms, 1000.0, 1e-9);
    for (int i = 1; i <= 4; i++) /* the 5 events up to the pause's end over 100 ms */
        cr_assert_float_eq(m[i].t_ms, 1000.0 + 20.0 * i, 1e-9, "moment %d: %f", i, m[i].t_ms);
    cr_assert_float_eq(m[5].t_ms, 6000.0, 1e-9);
    cr_assert_float_eq(m[6].t_ms, 6000.0, 1e-9);
    cr_assert_float_eq(m[7].t_ms, 9000.0, 1e-9, "the exit");
}

/* --- against a model: random events, the figures at every instant kept beside ------------ */

#define NODES 4
#define THREADS 3
#define KEYS (NODES * THREADS)
#define EVENTS 6000

typedef struct {
    uint64_t bytes[KEYS], blocks[KEYS], heap;
} snap_t;

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Feeds EVENTS random events (allocations, frees, markers); at[seq] is the model's state
 * after event seq. */
static void random_run(size_t max, snap_t *at) {
    start(max, THREADS);
    uint64_t live_addr[512], live_size[512];
    uint32_t live_key[512];
    size_t nlive = 0, addr = 0x10000, ms = 0;
    snap_t s = {0};
    for (uint64_t i = 0; i <= r.seq; i++)
        at[i] = s;
    for (int e = 0; e < EVENTS; e++) {
        uint64_t x = next_rand();
        if (x % 40 == 0) {
            tick(ms += 7, 4096 * (1 + x % 5));
        } else if (nlive > 0 && (x % 3 == 0 || nlive == 512)) {
            size_t k = (x >> 8) % nlive;
            re_free(&r, live_addr[k]);
            s.bytes[live_key[k]] -= live_size[k];
            s.blocks[live_key[k]]--;
            s.heap -= live_size[k];
            live_addr[k] = live_addr[--nlive];
            live_size[k] = live_size[nlive];
            live_key[k] = live_key[nlive];
        } else {
            uint32_t node = 1 + (uint32_t)(x >> 16) % NODES, thread = 1 + (uint32_t)(x >> 24) % THREADS;
            uint64_t size = 1 + (x >> 32) % 1000;
            alloc(addr += 16, size, node, thread, MEMTAP_KIND_MALLOC);
            uint32_t key = (node - 1) * THREADS + (thread - 1);
            live_addr[nlive] = addr, live_size[nlive] = size, live_key[nlive++] = key;
            s.bytes[key] += size;
            s.blocks[key]++;
            s.heap += size;
        }
        at[r.seq] = s;
    }
    finish();
}

static void check_against_model(size_t max) {
    snap_t *at = calloc(EVENTS + 64, sizeof *at);
    random_run(max, at);
    const memtap_timeline_t *t = tl();
    cr_assert_geq(t->moments.n, max / 2, "%zu moments", t->moments.n);
    cr_assert_leq(t->moments.n, max + 1, "%zu moments", t->moments.n);
    uint64_t *bytes = calloc(t->tsites.n, sizeof *bytes), *blocks = calloc(t->tsites.n, sizeof *blocks);
    for (size_t m = 0; m < t->moments.n; m++) {
        const memtap_moment_t *mo = &t->moments.v[m];
        cr_assert(m == 0 || mo->seq > t->moments.v[m - 1].seq, "moments in order");
        const snap_t *s = &at[mo->seq];
        cr_assert_eq(mo->heap_bytes, s->heap, "moment %zu (event %lu): heap", m, (unsigned long)mo->seq);
        memtap_timeline_at(t, m, bytes, blocks);
        uint64_t sum = 0;
        for (uint32_t node = 1; node <= NODES; node++)
            for (uint32_t th = 0; th < THREADS; th++) {
                uint32_t id = tsite_of(r.local_nodes.v[node], th);
                uint32_t key = (node - 1) * THREADS + th;
                cr_assert_eq(id ? bytes[id] : 0, s->bytes[key], "moment %zu, node %u thread %u", m, node, th);
                cr_assert_eq(id ? blocks[id] : 0, s->blocks[key]);
                sum += id ? bytes[id] : 0;
            }
        cr_assert_eq(sum, mo->heap_bytes);
    }
    /* the peak (the first instant of the highest heap) and the end are moments */
    cr_assert_eq(t->moments.v[t->peak_index].seq, r.peak_seq);
    cr_assert_eq(t->moments.v[t->peak_index].heap_bytes, r.peak_bytes);
    cr_assert_eq(t->moments.v[t->moments.n - 1].seq, r.seq);
    /* stretches are contiguous: an event between two moments is in the stretch of one of
     * them, whose moment is its stretch's highest instant */
    size_t j = 0;
    for (uint64_t q = t->moments.v[0].seq; q <= r.seq; q++) {
        while (t->moments.v[j].seq < q)
            j++;
        uint64_t top = t->moments.v[j].heap_bytes;
        if (j > 0 && t->moments.v[j - 1].heap_bytes > top)
            top = t->moments.v[j - 1].heap_bytes;
        cr_assert_leq(at[q].heap, top, "event %lu: higher than its stretch's moment",
                      (unsigned long)q);
    }
    free(bytes);
    free(blocks);
    free(at);
}

Test(timeline, exact_without_halving, .timeout = 10) { check_against_model(8192); }
Test(timeline, exact_after_halving_many_times, .timeout = 10) { check_against_model(16); }
Test(timeline, exact_at_the_default_size, .timeout = 10) { check_against_model(MEMTAP_TIMELINE_MOMENTS); }

/* An exec drops everything the image held; moments stay exact across it. */
Test(timeline, exec_drops_the_heap, .timeout = 10) {
    start(64, 1);
    alloc(0x100, 100, 1, 1, MEMTAP_KIND_MALLOC);
    alloc(0x200, 200, 2, 1, MEMTAP_KIND_MMAP);
    re_munmap(&r, 0x200, 50); /* part of the mapping */
    re_header(&r, "/bin/y", "y", MEMTAP_HDR_AFTER_EXEC);
    finish();
    const memtap_moment_t *last = &tl()->moments.v[tl()->moments.n - 1];
    cr_assert_eq(last->heap_bytes, 0);
    cr_assert_eq(last->seq, r.seq);
    cr_assert_eq(tl()->moments.v[tl()->peak_index].heap_bytes, 300);
    uint32_t m = tsite_of(2, 0);
    cr_assert_eq(tl()->tsites.v[m].live_bytes, 0);
    cr_assert_eq(tl()->tsites.v[m].live_blocks, 0);
}

/* A later instant as high as the peak does not take its place when the two become one
 * moment: whatever the pairing (shifted by markers before), the peak's moment stays. */
Test(timeline, the_peak_stays_against_an_equal_later_heap, .timeout = 10) {
    for (int shift = 0; shift < 8; shift++) {
        start(4, 1);
        for (int i = 0; i < shift; i++)
            tick(1, 0);
        alloc(0x100, 100, 1, 1, MEMTAP_KIND_MALLOC); /* the peak: 100 */
        re_free(&r, 0x100);
        alloc(0x200, 100, 2, 1, MEMTAP_KIND_MALLOC); /* as high, later */
        re_free(&r, 0x200);
        for (int i = 0; i < 8 - shift; i++)
            tick(1, 0);
        finish();
        cr_assert_eq(tl()->moments.v[tl()->peak_index].seq, r.peak_seq, "shift %d", shift);
        uint64_t bytes[8], blocks[8];
        memtap_timeline_at(tl(), tl()->peak_index, bytes, blocks);
        cr_assert_eq(bytes[tsite_of(1, 0)], 100, "shift %d: the first stack's", shift);
        if (shift < 7) /* the last one is teardown's */
            memtap_replay_free(&r);
    }
}
