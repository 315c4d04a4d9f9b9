/* Per-thread record buffers: registration starts a buffer afresh, a flush hands over what
 * was committed with the right watermark (the order counter, held back by a thread inside
 * a record, never going back, closed at the end), the owner's flush starts over at the
 * front, and wait_idle waits for threads inside a record, a second at most. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <time.h>

#include "memtap/format.h"
#include "output/tbuf.h"

typedef struct {
    uint32_t source;
    uint64_t watermark;
    size_t n;
    uint8_t first; /* the first byte handed over (0 when none) */
} put_call_t;

static put_call_t calls[16];
static int ncalls;

static int put(uint32_t source, uint64_t watermark, const uint8_t *p, size_t n) {
    cr_assert_lt(ncalls, 16);
    calls[ncalls++] = (put_call_t){source, watermark, n, n ? p[0] : 0};
    return 0;
}

/* One ALLOC committed into b, as track.c writes it. */
static void record_alloc(memtap_tbuf_t *b, uint64_t addr) {
    memtap_tbuf_enter(b);
    memtap_tbuf_stamp(&b->enc, &b->key, memtap_tbuf_read_key());
    memtap_enc_alloc(&b->enc, MEMTAP_KIND_MALLOC, addr, 32, 1);
    memtap_tbuf_commit(b);
}

/* One FREE committed into b, with its ticket. */
static void record_free(memtap_tbuf_t *b, uint64_t addr) {
    __atomic_store_n(&b->busy, 1, __ATOMIC_RELAXED);
    uint64_t ticket = memtap_tbuf_ticket();
    memtap_tbuf_stamp(&b->enc, &b->key, ticket);
    memtap_enc_free(&b->enc, addr);
    b->key = ticket + 1;
    memtap_tbuf_commit(b);
}

static memtap_tbuf_t *registered_buffer(uint32_t index) {
    memtap_tbuf_t *b = memtap_tbuf_mine();
    cr_assert_not_null(b);
    memtap_tbuf_register(b, index, 7);
    return b;
}

Test(tbuf, register_starts_a_buffer_afresh, .timeout = 10) {
    memtap_tbuf_t *b = memtap_tbuf_mine();
    cr_assert_eq(b, memtap_tbuf_peek());
    cr_assert_eq(b->image, 0, "a new buffer is in no image");
    memtap_tbuf_register(b, 3, 7);
    record_alloc(b, 0x1000);
    cr_assert_gt(b->enc.len, 0);
    memtap_tbuf_register(b, 4, 8); /* a new image: what was not written is dropped */
    cr_assert_eq(b->enc.len, 0);
    cr_assert_eq(b->shm.committed, 0);
    cr_assert_eq(b->index, 4);
    cr_assert_eq(b->image, 8);
    memtap_order = 3;
    cr_assert_eq(memtap_tbuf_flush_all(0, put), 0);
    cr_assert_eq(ncalls, 1, "registered once, not twice");
    cr_assert_eq(calls[0].source, 4);
    cr_assert_eq(calls[0].n, 0);
}

Test(tbuf, flush_hands_over_the_committed_records, .timeout = 10) {
    memtap_order = 10;
    memtap_tbuf_t *b = registered_buffer(2);
    record_alloc(b, 0x1000);
    size_t len = b->enc.len;
    cr_assert_eq(memtap_tbuf_flush(b, 0, 0, put), 0);
    cr_assert_eq(ncalls, 1);
    cr_assert_eq(calls[0].source, 2);
    cr_assert_eq(calls[0].watermark, 20, "twice the counter: nothing is under way");
    cr_assert_eq(calls[0].n, len);
    cr_assert_eq(calls[0].first, MEMTAP_REC_SKIP, "the key moved from 0 to 10 first");
    uint64_t allocations, frees;
    memtap_tbuf_totals(&allocations, &frees);
    cr_assert_eq(allocations, 1);
    cr_assert_eq(frees, 0);

    cr_assert_eq(memtap_tbuf_flush(b, 0, 0, put), 0);
    cr_assert_eq(ncalls, 1, "nothing new, the same watermark: nothing written");
    memtap_tbuf_ticket(); /* another thread's free moves the counter on */
    cr_assert_eq(memtap_tbuf_flush(b, 0, 0, put), 0);
    cr_assert_eq(ncalls, 2, "an empty chunk moves the watermark on");
    cr_assert_eq(calls[1].n, 0);
    cr_assert_eq(calls[1].watermark, 22);
}

Test(tbuf, a_thread_inside_a_record_holds_the_watermark_back, .timeout = 10) {
    memtap_tbuf_t *b = registered_buffer(2);
    record_free(b, 0x1000); /* ticket 0: key_published 1 */
    memtap_order = 40;     /* other threads took tickets */
    memtap_tbuf_enter(b);  /* b's owner starts a record: its key may be anything from 1 on */
    cr_assert_eq(memtap_tbuf_flush(b, 0, 0, put), 0);
    cr_assert_eq(calls[0].watermark, 2, "the last committed key, not the counter");
    memtap_tbuf_commit(b);
    cr_assert_eq(memtap_tbuf_flush(b, 0, 0, put), 0);
    cr_assert_eq(calls[1].watermark, 80, "busy cleared: the counter again");
    memtap_tbuf_enter(b);
    cr_assert_eq(memtap_tbuf_flush(b, 0, 0, put), 0);
    cr_assert_eq(ncalls, 2, "a watermark never goes back");
    cr_assert_eq(b->watermark, 80);
}

Test(tbuf, the_owner_flushing_starts_over_at_the_front, .timeout = 10) {
    memtap_tbuf_t *b = registered_buffer(1);
    record_alloc(b, 0x1000);
    record_free(b, 0x1000);
    memtap_tbuf_enter(b); /* the owner is the flusher: nothing of its own is under way */
    memtap_order = 5;
    cr_assert_eq(memtap_tbuf_flush(b, 1, 0, put), 0);
    cr_assert_eq(calls[0].watermark, 10, "own: the counter, busy or not");
    cr_assert_eq(b->enc.len, 0);
    cr_assert_eq(b->tail, 0);
    cr_assert_eq((uint32_t)b->shm.committed, 0, "position back to 0");
    cr_assert_eq(b->shm.committed >> 32, 1 | 1 << 16, "the counts stay (one alloc, one free)");
    record_alloc(b, 0x2000);
    size_t len = b->enc.len;
    cr_assert_eq(memtap_tbuf_flush(b, 1, 0, put), 0);
    cr_assert_eq(calls[1].n, len, "the new record only, from the front");
    uint64_t allocations, frees;
    memtap_tbuf_totals(&allocations, &frees);
    cr_assert_eq(allocations, 2);
    cr_assert_eq(frees, 1);
    memtap_tbuf_reset_totals();
    memtap_tbuf_totals(&allocations, &frees);
    cr_assert_eq(allocations + frees, 0);
}

Test(tbuf, the_final_flush_closes_and_unregisters, .timeout = 10) {
    memtap_tbuf_t *b = registered_buffer(1);
    record_alloc(b, 0x1000);
    cr_assert_eq(memtap_tbuf_flush_all(1, put), 0);
    cr_assert_eq(ncalls, 1);
    cr_assert_eq(calls[0].watermark, MEMTAP_WATERMARK_CLOSED);
    cr_assert_eq(b->image, 0, "unregistered: its owner sees it");
    cr_assert_eq(memtap_tbuf_flush_all(1, put), 0);
    cr_assert_eq(ncalls, 1, "no buffer is registered any more");
}

static memtap_tbuf_t *other;
static int other_busy_ms; /* how long the other thread stays inside its record */

static void *other_thread(void *arg) {
    (void)arg;
    other = memtap_tbuf_mine();
    memtap_tbuf_register(other, 2, 7);
    memtap_tbuf_enter(other);
    if (other_busy_ms) {
        struct timespec ts = {0, other_busy_ms * 1000000L};
        nanosleep(&ts, NULL);
        memtap_tbuf_commit(other);
    }
    return NULL;
}

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

Test(tbuf, wait_idle_waits_for_a_thread_inside_a_record, .timeout = 10) {
    memtap_tbuf_t *mine = registered_buffer(1);
    memtap_tbuf_enter(mine); /* the caller's own busy flag is not waited for */
    other_busy_ms = 100;
    pthread_t t;
    pthread_create(&t, NULL, other_thread, NULL);
    while (!__atomic_load_n(&other, __ATOMIC_ACQUIRE) ||
           !__atomic_load_n(&other->busy, __ATOMIC_ACQUIRE))
        sched_yield();
    double start = seconds();
    memtap_tbuf_wait_idle();
    double waited = seconds() - start;
    cr_assert_eq(__atomic_load_n(&other->busy, __ATOMIC_ACQUIRE), 0, "returned after the commit");
    cr_assert_lt(waited, 0.9);
    pthread_join(t, NULL);
    start = seconds();
    memtap_tbuf_wait_idle();
    cr_assert_lt(seconds() - start, 0.05, "nobody busy: no wait");
}

Test(tbuf, wait_idle_gives_up_after_a_second, .timeout = 10) {
    other_busy_ms = 0; /* the other thread ends inside its record, as if stopped */
    pthread_t t;
    pthread_create(&t, NULL, other_thread, NULL);
    pthread_join(t, NULL);
    double start = seconds();
    memtap_tbuf_wait_idle();
    double waited = seconds() - start;
    cr_assert_geq(waited, 1.0);
    cr_assert_lt(waited, 2.0);
}

Test(tbuf, after_fork_only_the_callers_buffer_is_left, .timeout = 10) {
    other_busy_ms = 1;
    pthread_t t;
    pthread_create(&t, NULL, other_thread, NULL);
    pthread_join(t, NULL);
    memtap_tbuf_t *b = registered_buffer(1);
    memtap_tbuf_after_fork();
    cr_assert_eq(b->image, 0);
    cr_assert_eq(memtap_tbuf_peek(), b, "the caller keeps its buffer, unregistered");
    cr_assert_eq(memtap_tbuf_flush_all(0, put), 0);
    cr_assert_eq(ncalls, 0, "the registry is empty");
    memtap_tbuf_release_mine();
    cr_assert_null(memtap_tbuf_peek());
}
