/* Putting an image's records back in order: each source's (the process's, each thread's)
 * records arrive in CHUNKs, in file order; they are replayed in position order (see
 * include/memtap/format.h). A record is released once no other source can still deliver
 * one that goes before it: each source's next position is known (a record is waiting) or
 * bounded by its last watermark. Memory: the records waiting, at most MEMTAP_MERGE_MAX_PENDING
 * bytes in all. The merge parses no record: the caller's peek function does (order.c). */
#ifndef MEMTAP_READER_MERGE_H
#define MEMTAP_READER_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include "decode/batch.h"
#include "decode/decoder.h"

#define MEMTAP_MERGE_MAX_PENDING (1ull << 30)
#define MEMTAP_MERGE_MAX_SOURCES (1u << 20)

typedef struct {
    uint64_t queue_pos, stream_offset;
} memtap_merge_mark_t;

typedef struct {
    uint8_t *buf; /* records received, not yet released: buf[pos..len) */
    size_t pos, len, cap;
    memtap_merge_mark_t *marks; /* where in the stream each chunk's bytes came from */
    size_t nmarks, mark0, marks_cap;
    uint64_t key;       /* the source's key before its next record */
    struct memtap_tmodel *model; /* a thread's: what its records are written against */
    uint64_t watermark; /* no record not yet received goes before this position */
    int known;    /* announced (THREAD released) or sent a chunk: else it bounds nothing */
    int peeked;   /* the fields below are up to date with buf */
    int has_next; /* next holds the next record, whole */
    uint64_t next_pos; /* its position; without one, the least position the cut one can have */
    uint64_t key_after; /* the source's key after it */
    size_t next_len;    /* its bytes, SKIPs before it included (consumed when released) */
    memtap_event_t next;
    memtap_bev_t rec; /* a thread's: next as decoded (its model learns it when released) */
    /* threads: records decoded ahead (order.c), their model learnt and their bytes
     * consumed, waiting in order to be released: ahead[ahead_i..ahead_n) */
    struct memtap_ahead *ahead;
    uint32_t ahead_i, ahead_n;
    int next_ahead; /* next is ahead[ahead_i] */
} memtap_msrc_t;

typedef struct {
    memtap_msrc_t *src;
    uint32_t nsrc;
    uint64_t pending; /* bytes waiting in all sources */
    int closed;       /* nothing more comes: a record cut short holds nothing back */
    uint64_t last_pos; /* of the last record released */
    uint32_t current;  /* source released from last; its bound below */
    uint64_t bound_pos;
    uint32_t bound_src;
    int bound_valid;
    /* the sources sorted by (lower bound, number): rebuilt when chunks arrive, otherwise
     * only the released source moves (records of threads interleave one by one) */
    uint32_t *order;
    uint64_t *bound; /* by source number: what it may still release, at least */
    int order_valid;
} memtap_merge_t;

/* Whether (position, source) pair a goes before b. */
static inline int memtap_merge_before(uint64_t pos_a, uint32_t a, uint64_t pos_b, uint32_t b) {
    return pos_a < pos_b || (pos_a == pos_b && a < b);
}

/* Parses source s's next record from buf[pos..len) and sets peeked, has_next (0 when the
 * bytes end inside a record), next, next_pos, key_after, next_len. Returns MEMTAP_OK or an
 * error. */
typedef int (*memtap_merge_peek_fn)(void *ctx, uint32_t id, memtap_msrc_t *s);

void memtap_merge_reset(memtap_merge_t *m); /* a new image: no sources */
void memtap_merge_free(memtap_merge_t *m);

/* Appends a chunk's records to its source. Returns MEMTAP_OK or an error, with *why set. */
int memtap_merge_add(memtap_merge_t *m, uint32_t source, uint64_t watermark, const uint8_t *p,
                     size_t n, uint64_t stream_offset, const char **why);

/* Thread `source`'s THREAD record was released at position pos: none of its records goes
 * before it, and from now on it may hold back the others. */
int memtap_merge_announce(memtap_merge_t *m, uint32_t source, uint64_t pos);

/* The image's bytes are all read: nothing more will come from any source. */
void memtap_merge_close(memtap_merge_t *m);

/* The source whose next record is released now: MEMTAP_OK with *id set, MEMTAP_OK with
 * *id = UINT32_MAX when more chunks must be read first (or, after close, nothing is
 * left), or an error from peek. */
int memtap_merge_pick(memtap_merge_t *m, memtap_merge_peek_fn peek, void *ctx, uint32_t *id);

/* The source released from last, first in the order, has `bound` now: it moves back to its
 * place (the others' order still holds). */
void memtap_merge_move_front(memtap_merge_t *m, uint64_t bound);

/* The source first in the order is picked: the next one's bound is its bound. */
void memtap_merge_choose_front(memtap_merge_t *m);

/* Releases the picked record (after its event was delivered). */
void memtap_merge_release(memtap_merge_t *m, uint32_t id);

/* The stream offset of source s's byte at queue position q (for error messages). */
uint64_t memtap_merge_offset(memtap_msrc_t *s, size_t q);

#endif
