/* Per-thread record buffers: registry and flushing (see tbuf.h for the protocol). */
#include "output/tbuf.h"

#include <sched.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "memtap/format.h"
#include "output/shm.h"

__attribute__((aligned(64))) uint64_t memtap_order;
__attribute__((aligned(64))) int memtap_image_closing;

static memtap_tbuf_t *registered; /* list; sink lock held */
static uint64_t total_allocations, total_frees;
static __thread memtap_tbuf_t *tls_tbuf __attribute__((tls_model("initial-exec")));

memtap_tbuf_t *memtap_tbuf_mine(void) {
    memtap_tbuf_t *b = tls_tbuf;
    if (__builtin_expect(b != NULL, 1))
        return b;
    /* collector mode: a slot of the shared region, so the collector can take what this
     * thread recorded if the process dies; a region out of slots falls back to a mapping of
     * our own (its records reach the capture, only a crash would lose the unflushed ones) */
    void *p = memtap_shm ? memtap_shm_slot_alloc() : NULL;
    if (p) {
        memset(p, 0, offsetof(memtap_tbuf_t, data)); /* a reused slot */
        b = p;
        b->in_region = 1;
    } else {
        p = mmap(NULL, sizeof *b, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return NULL;
        b = p; /* zeroed: image 0, not registered */
    }
    b->enc.buf = b->data;
    b->enc.cap = MEMTAP_TBUF_SIZE;
    b->enc.model = &b->model;
    return tls_tbuf = b;
}

memtap_tbuf_t *memtap_tbuf_peek(void) { return tls_tbuf; }

void memtap_tbuf_release_mine(void) {
    memtap_tbuf_t *b = tls_tbuf;
    tls_tbuf = NULL;
    if (b && b->in_region)
        memtap_shm_slot_free(b);
    else if (b)
        munmap(b, sizeof *b);
}

uint32_t memtap_tbuf_slot_size(void) { return (uint32_t)((sizeof(memtap_tbuf_t) + 4095) & ~4095ul); }
uint32_t memtap_tbuf_slot_data_offset(void) { return (uint32_t)offsetof(memtap_tbuf_t, data); }

void memtap_tbuf_register(memtap_tbuf_t *b, uint32_t index, uint32_t image) {
    if (b->image)
        memtap_tbuf_unregister(b);
    memtap_enc_reset(&b->enc); /* records of an older image not written are dropped */
    b->key = 0;
    b->index = index;
    b->image = image;
    b->shm.committed = 0;
    b->shm.base = 0;
    b->shm.source = index;
    __atomic_store_n(&b->shm.image, image, __ATOMIC_RELEASE);
    b->key_published = 0;
    b->tail = 0;
    b->tail_allocations = b->tail_frees = 0;
    b->watermark = 0;
    b->prev = NULL;
    b->next = registered;
    if (registered)
        registered->prev = b;
    registered = b;
}

void memtap_tbuf_unregister(memtap_tbuf_t *b) {
    if (!b->image)
        return;
    if (b->prev)
        b->prev->next = b->next;
    else
        registered = b->next;
    if (b->next)
        b->next->prev = b->prev;
    b->next = b->prev = NULL;
    __atomic_store_n(&b->shm.image, 0, __ATOMIC_RELEASE); /* nothing left for the collector */
    __atomic_store_n(&b->image, 0, __ATOMIC_RELAXED);     /* read by its owner */
}

int memtap_tbuf_flush(memtap_tbuf_t *b, int own, int final, memtap_chunk_put_fn put) {
    /* the order matters: the counter, then busy, then what is committed (tbuf.h) */
    uint64_t now = __atomic_load_n(&memtap_order, __ATOMIC_SEQ_CST);
    uint64_t key = __atomic_load_n(&b->key_published, __ATOMIC_SEQ_CST);
    int busy = __atomic_load_n(&b->busy, __ATOMIC_SEQ_CST);
    uint64_t committed = __atomic_load_n(&b->shm.committed, __ATOMIC_SEQ_CST);
    uint32_t end = (uint32_t)committed;
    uint16_t allocations = (uint16_t)(committed >> 32), frees = (uint16_t)(committed >> 48);
    /* busy: a record may be under way with any key from the last committed one on */
    uint64_t watermark = final ? MEMTAP_WATERMARK_CLOSED : 2 * (busy && !own ? key : now);
    if (watermark < b->watermark)
        watermark = b->watermark;
    if (end == b->tail && watermark == b->watermark)
        return 0;
    int rc = put(b->index, watermark, b->data + b->tail, end - b->tail);
    total_allocations += (uint16_t)(allocations - b->tail_allocations);
    total_frees += (uint16_t)(frees - b->tail_frees);
    b->tail = end;
    b->tail_allocations = allocations;
    b->tail_frees = frees;
    b->watermark = watermark;
    if (own) { /* nothing is under way: start over at the front */
        b->enc.len = 0;
        b->tail = 0;
        /* the position first, then base: a collector taking the buffer of a process that
         * died in between takes nothing twice (reader/collect/region.c) */
        __atomic_store_n(&b->shm.committed, committed & ~0xffffffffull, __ATOMIC_RELEASE);
        __atomic_store_n(&b->shm.base, b->shm.base + end, __ATOMIC_RELEASE);
    }
    return rc;
}

static uint64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void memtap_tbuf_wait_idle(void) {
    /* one deadline for all: a record takes well under a microsecond, so a thread still busy
     * after a second is stopped (a counted 100,000 sleeps of 10 us took 9.7 s: each sleep
     * lasts the timer slack, 50 us or more) */
    uint64_t deadline = 0;
    for (memtap_tbuf_t *b = registered; b; b = b->next) {
        if (b == tls_tbuf)
            continue; /* the caller: not inside a record (or interrupted in one by a signal) */
        for (int i = 0; __atomic_load_n(&b->busy, __ATOMIC_SEQ_CST); i++) {
            if (i < 100) {
                sched_yield();
                continue;
            }
            uint64_t now = monotonic_ns();
            if (!deadline)
                deadline = now + MEMTAP_TBUF_WAIT_NS;
            if (now >= deadline)
                break;
            struct timespec ts = {0, 10000};
            nanosleep(&ts, NULL);
        }
    }
}

int memtap_tbuf_flush_all(int final, memtap_chunk_put_fn put) {
    int rc = 0;
    for (memtap_tbuf_t *b = registered, *next; b; b = next) {
        next = b->next;
        if (memtap_tbuf_flush(b, 0, final, put) < 0)
            rc = -1;
        if (final)
            memtap_tbuf_unregister(b);
    }
    return rc;
}

void memtap_tbuf_totals(uint64_t *allocations, uint64_t *frees) {
    *allocations = total_allocations;
    *frees = total_frees;
}

void memtap_tbuf_reset_totals(void) { total_allocations = total_frees = 0; }

void memtap_tbuf_after_fork(void) {
    /* a buffer in the shared region is still the parent's (the mapping is shared): never
     * written here; it goes with the region (memtap_shm_forget) */
    for (memtap_tbuf_t *b = registered, *next; b; b = next) {
        next = b->next;
        if (b->in_region)
            continue;
        b->image = 0;
        if (b != tls_tbuf)
            munmap(b, sizeof *b); /* its thread does not exist here */
    }
    registered = NULL;
    if (tls_tbuf && tls_tbuf->in_region)
        tls_tbuf = NULL; /* the next record maps a buffer of our own */
    else if (tls_tbuf)
        tls_tbuf->image = 0;
}
