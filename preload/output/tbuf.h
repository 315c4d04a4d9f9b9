/* Per-thread record buffers (format v3). A thread encodes its ALLOC and FREE records into a
 * buffer of its own, without a lock; the order between threads comes from one counter, the
 * order key (see include/memtap/format.h): a free takes a ticket before the real free, an
 * allocation reads the counter after the real allocation. Whoever flushes (under the sink
 * lock) copies each registered buffer's committed records into a CHUNK with a watermark: a
 * key below which the thread will write nothing more. The watermark needs the busy flag: a
 * thread sets it (with a full barrier) before reading the counter and clears it after
 * committing, so a flusher that sees it clear after reading the counter knows the thread's
 * next record reads a later value. */
#ifndef MEMTAP_PRELOAD_TBUF_H
#define MEMTAP_PRELOAD_TBUF_H

#include <stdint.h>

#include "memtap/collector.h"
#include "output/record.h"

#define MEMTAP_TBUF_SIZE (64 * 1024)

typedef struct memtap_tbuf {
    /* what the collector reads of a dead process's buffer (include/memtap/collector.h): the
     * image and source it records in, base, and the published position (`committed`);
     * in collector mode the whole buffer lives in a slot of the shared region */
    memtap_shm_slot_t shm;
    /* the owner's: its encoder writes at data + enc.len; delta state and counts per thread */
    memtap_enc_t enc;
    uint64_t key;        /* the order key after the last record encoded */
    uint32_t index; /* the thread's index in the image (its CHUNK source) */
    uint32_t image; /* the image (memtap_image_seq) it is registered in (0: none) */
    int in_region;  /* 1: a slot of the shared region (collector mode), else its own mapping */
    /* published by the owner, read by flushers (committed is shm.committed: position |
     * allocations << 32 | frees << 48, mod 2^16) */
    _Alignas(64) uint64_t key_published; /* key after the last committed record */
    int busy;
    /* the flushers' (sink lock held) */
    _Alignas(64) uint32_t tail; /* bytes already written to the file */
    uint16_t tail_allocations, tail_frees;
    uint64_t watermark; /* last one written */
    struct memtap_tbuf *next, *prev;
    _Alignas(64) uint8_t data[MEMTAP_TBUF_SIZE];
    memtap_model_t model; /* the owner's: what its next records are written against */
} memtap_tbuf_t;

/* The order counter: frees take tickets from it. On a cache line of its own. */
extern uint64_t memtap_order;

/* Set while an image ends (exit, exec): no record may start, so none is lost between the
 * last flush and the next image (a failed exec goes on). Read after busy is set. */
extern int memtap_image_closing;

/* The calling thread's buffer (mapped on first use), or NULL when memory ran out. */
memtap_tbuf_t *memtap_tbuf_mine(void);

/* Collector mode: the size of a thread slot of the shared region, and where in it the
 * records start (memtap_shm_connect's arguments). */
uint32_t memtap_tbuf_slot_size(void);
uint32_t memtap_tbuf_slot_data_offset(void);

/* The calling thread's buffer if it has one. */
memtap_tbuf_t *memtap_tbuf_peek(void);

/* The calling thread ends: its buffer is unmapped (flushed and unregistered first by the
 * caller). */
void memtap_tbuf_release_mine(void);

/* Owner side, around one record group: enter sets busy with a full barrier. */
static inline void memtap_tbuf_enter(memtap_tbuf_t *b) {
    __atomic_exchange_n(&b->busy, 1, __ATOMIC_SEQ_CST);
}

/* Key of an allocation (read after the real allocation returned, busy set). */
static inline uint64_t memtap_tbuf_read_key(void) {
    return __atomic_load_n(&memtap_order, __ATOMIC_SEQ_CST);
}

/* Ticket of a free (taken before the real free, busy set). */
static inline uint64_t memtap_tbuf_ticket(void) {
    return __atomic_fetch_add(&memtap_order, 1, __ATOMIC_SEQ_CST);
}

/* Brings the encoder's key to `key` (a SKIP record when it moved on). */
static inline void memtap_tbuf_stamp(memtap_enc_t *e, uint64_t *known, uint64_t key) {
    if (key != *known) {
        memtap_enc_skip(e, key - *known);
        *known = key;
    }
}

/* Publishes what was encoded since enter and clears busy. */
static inline void memtap_tbuf_commit(memtap_tbuf_t *b) {
    uint64_t packed = (uint64_t)b->enc.len | (b->enc.allocations & 0xffff) << 32 |
                      (b->enc.frees & 0xffff) << 48;
    __atomic_store_n(&b->shm.committed, packed, __ATOMIC_RELEASE);
    __atomic_store_n(&b->key_published, b->key, __ATOMIC_RELEASE);
    __atomic_store_n(&b->busy, 0, __ATOMIC_RELEASE);
}

/* --- sink lock held --- */

/* Starts b afresh as thread `index` of image `image` and registers it. */
void memtap_tbuf_register(memtap_tbuf_t *b, uint32_t index, uint32_t image);
void memtap_tbuf_unregister(memtap_tbuf_t *b);

/* Writes b's committed records as a CHUNK through put (final: the thread writes no more).
 * When b is the caller's own buffer, nothing is pending: the buffer starts over empty. */
typedef int (*memtap_chunk_put_fn)(uint32_t source, uint64_t watermark, const uint8_t *p,
                                   size_t n);
int memtap_tbuf_flush(memtap_tbuf_t *b, int own, int final, memtap_chunk_put_fn put);

/* Waits until no registered thread but the caller is inside a record (memtap_image_closing
 * set first); gives up on the threads still busy MEMTAP_TBUF_WAIT_NS after it first had
 * to sleep (stopped by a debugger, say). */
#define MEMTAP_TBUF_WAIT_NS 1000000000ull
void memtap_tbuf_wait_idle(void);

/* Flushes every registered buffer; final also unregisters them all (end of an image). */
int memtap_tbuf_flush_all(int final, memtap_chunk_put_fn put);

/* ALLOC and FREE/MUNMAP records written to the file since the image began. */
void memtap_tbuf_totals(uint64_t *allocations, uint64_t *frees);
void memtap_tbuf_reset_totals(void);

/* In a fork child: other threads' buffers are unmapped, the registry emptied. */
void memtap_tbuf_after_fork(void);

#endif
