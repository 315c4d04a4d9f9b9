/* Event batches: what the decoder hands the replay, thousands of events at a time. ALLOC,
 * FREE and MUNMAP, nearly all of a capture, are kept compact (24 bytes); any other event is
 * kept whole beside them, its strings copied into the batch, so a batch stays valid after
 * the decoder has moved on (the decoder and the replay may run on two threads). Not for use
 * inside malloc. */
#ifndef MEMTAP_READER_BATCH_H
#define MEMTAP_READER_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "decode/decoder.h"

/* Each batch handed over may wake the other thread, which costs tens of microseconds on a
 * busy machine: 32,768 events (812 KiB) a batch read the 12 M storm 6 % faster than 8,192. */
#define MEMTAP_BATCH_EVENTS 32768u
#define MEMTAP_BATCH_OTHERS 512u /* whole events a batch holds at most */

typedef struct {
    uint64_t addr; /* ALLOC, FREE, MUNMAP; any other type: its index in others */
    uint64_t size; /* ALLOC: size; MUNMAP: length */
    uint32_t node; /* ALLOC */
    uint8_t type;  /* memtap_ev_type_t */
    uint8_t kind;  /* ALLOC */
    uint16_t thread; /* ALLOC: memtap_bev_thread() of the thread's source number (in padding) */
} memtap_bev_t;

/* A thread's source number (1, 2, ... in its image: THREAD records' order) as an ALLOC
 * keeps it; MEMTAP_BEV_THREAD_MAX for the 65,535th thread of an image and those after it. */
#define MEMTAP_BEV_THREAD_MAX 0xffffu
static inline uint16_t memtap_bev_thread(uint32_t source) {
    return source < MEMTAP_BEV_THREAD_MAX ? (uint16_t)source : (uint16_t)MEMTAP_BEV_THREAD_MAX;
}

typedef struct memtap_arena_block memtap_arena_block_t;

typedef struct {
    memtap_bev_t ev[MEMTAP_BATCH_EVENTS];
    size_t n;
    memtap_event_t others[MEMTAP_BATCH_OTHERS];
    size_t nothers;
    memtap_arena_block_t *arena; /* the others' strings */
    int rc;                      /* MEMTAP_OK, or the error that ended the batch */
    int end;                     /* the batch ends with MEMTAP_EV_END: nothing follows */
    uint64_t done, total;        /* progress: compressed bytes read, the file's size */
} memtap_batch_t;

/* A new, empty batch (NULL when memory ran out). */
memtap_batch_t *memtap_batch_new(void);
void memtap_batch_free(memtap_batch_t *b);
/* Empties b for refilling; its memory is kept. */
void memtap_batch_clear(memtap_batch_t *b);

/* Appends ev (strings copied). Returns MEMTAP_OK, or MEMTAP_ERR_NOMEM. */
int memtap_batch_add(memtap_batch_t *b, const memtap_event_t *ev);

/* Whether b can take no more events. */
static inline int memtap_batch_full(const memtap_batch_t *b) {
    return b->n == MEMTAP_BATCH_EVENTS || b->nothers == MEMTAP_BATCH_OTHERS;
}

/* Fills b (cleared first) with the decoder's next events: until it is full, the capture
 * ends (b->end) or an error stops decoding (b->rc, the message in memtap_decoder_error).
 * Returns b->rc. */
int memtap_decoder_fill(memtap_decoder_t *d, memtap_batch_t *b);

#endif
