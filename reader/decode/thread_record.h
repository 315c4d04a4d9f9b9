/* Thread records (docs/format.md section 3.4): the reader's half of the model a thread's
 * records are written against, the one decoder of a thread record and the one learning of
 * it, shared by the validating path (order.c, one record at a time) and the fast loop
 * (thread_record.c's memtap_thread_run, thousands at a time). Only what must be inline is
 * here. May call: include/memtap (format, model, varint), decoder_internal.h's varints. */
#ifndef MEMTAP_READER_THREAD_RECORD_H
#define MEMTAP_READER_THREAD_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "decode/batch.h"
#include "decode/decoder_internal.h"
#include "memtap/format.h"
#include "memtap/model.h"
#include "memtap/varint.h"

/* A thread's model: what both halves know of its earlier records. The writer's half is
 * preload/output/record.c; both must learn the same thing from the same record. */
typedef struct memtap_tmodel {
    uint64_t seq; /* ALLOC and FREE records learnt (MUNMAP does not count) */
    uint64_t last_alloc;
    memtap_model_frees_t frees;
    uint64_t *ring; /* their addresses, by seq modulo ring_cap (grows to MEMTAP_MODEL_RING) */
    uint32_t ring_cap;
    memtap_model_sites_t sites;
} memtap_tmodel_t;

/* A new, empty model (NULL when memory ran out); freed with memtap_tmodel_free. */
memtap_tmodel_t *memtap_tmodel_new(void);
void memtap_tmodel_free(memtap_tmodel_t *m);

/* Makes room in the ring for the next record (MEMTAP_OK or MEMTAP_ERR_NOMEM). */
int memtap_tmodel_make_room(memtap_tmodel_t *m);

/* How many records may be learnt, at most max, before the ring must grow (learning that
 * allocates is the validating path's). */
static inline size_t memtap_tmodel_room(const memtap_tmodel_t *m, size_t max) {
    if (m->ring_cap < MEMTAP_MODEL_RING && m->ring_cap - m->seq < max)
        return (size_t)(m->ring_cap - m->seq);
    return max;
}

/* A thread's decoding under way: its model, the fields that change with every record
 * copied (kept in registers: a store through an output pointer may alias any uint64_t of
 * the model), its order key, and the bounds of what may be taken. */
typedef struct {
    uint64_t seq, last_alloc, mask;
    uint64_t *ring;
    memtap_model_sites_t *sites;
    memtap_model_frees_t *frees;
    uint64_t key;   /* the thread's order key before the next record; after it, once taken */
    uint64_t pos;   /* the position of the record taken last (unchanged when none) */
    uint64_t limit; /* no record positioned above it is taken: another source goes first */
    uint32_t nodes; /* nor an allocation naming a higher node (not yet defined) */
    size_t nfrees;  /* FREE and MUNMAP records taken */
} memtap_thread_t;

/* Starts decoding thread records against m (whose ring must have room: memtap_tmodel_room,
 * memtap_tmodel_make_room), the thread's key being key. */
static inline memtap_thread_t memtap_thread_begin(memtap_tmodel_t *m, uint64_t key,
                                                  uint64_t limit, uint32_t nodes) {
    return (memtap_thread_t){.seq = m->seq, .last_alloc = m->last_alloc,
                             .mask = (uint64_t)m->ring_cap - 1, .ring = m->ring,
                             .sites = &m->sites, .frees = &m->frees, .key = key, .limit = limit,
                             .nodes = nodes};
}
/* The model learnt what t took: back into m. */
static inline void memtap_thread_end(const memtap_thread_t *t, memtap_tmodel_t *m) {
    m->seq = t->seq;
    m->last_alloc = t->last_alloc;
}

/* Whether a record of this type belongs in a thread's records (SKIP aside). */
static inline int memtap_thread_record_type(uint8_t type) {
    return type >= MEMTAP_REC_FREE_REF || (type & 0xf0) == MEMTAP_REC_ALLOC ||
           (uint8_t)(type - MEMTAP_REC_FREE_UNITS) < MEMTAP_MODEL_FREES ||
           type == MEMTAP_REC_FREE || type == MEMTAP_REC_MUNMAP;
}

/* memtap_thread_step's results besides MEMTAP_OK (1: taken). */
enum { TR_TAKEN = 1, TR_MORE = 0, TR_BAD = -1, TR_STOP = -2 };

/* A varint of a thread record into v, or return: TR_MORE when the bytes end first, TR_BAD
 * (with *why) when it is longer than 10 bytes or overflows. Unchecked (the caller knows 10
 * bytes are there): no test of end at all. */
#define TR_GET(v, what)                                                                            \
    do {                                                                                           \
        int got_ = !checked || end - q >= MEMTAP_VARINT_MAX ? fast_varint4(&q, &(v))               \
                                                            : memtap_varint_get(&q, end, &(v));    \
        if (__builtin_expect(got_ <= 0, 0)) {                                                      \
            *why = what " field too long";                                                         \
            return !checked || got_ < 0 || end - q >= MEMTAP_VARINT_MAX ? TR_BAD : TR_MORE;       \
        }                                                                                          \
    } while (0)
#define TR_FAIL(what)                                                                              \
    do {                                                                                           \
        *why = what;                                                                               \
        return TR_BAD;                                                                             \
    } while (0)

/* The address of the record w + 1 back (w = UINT64_MAX: none). */
static inline __attribute__((always_inline)) int tr_referenced(const memtap_thread_t *t,
                                                               uint64_t w, uint64_t *addr) {
    if (w >= t->seq || w >= MEMTAP_MODEL_RING)
        return 0;
    *addr = t->ring[(t->seq - 1 - w) & t->mask];
    return 1;
}

/* An ALLOC of every field known, at q: taken if within t's bounds. */
static inline __attribute__((always_inline)) int
tr_take_alloc(memtap_thread_t *t, const uint8_t *q, const uint8_t **next, unsigned kind,
              uint64_t addr, uint64_t size, uint64_t node, memtap_bev_t *r) {
    uint64_t pos = 2 * t->key;
    if (pos > t->limit || node > t->nodes)
        return TR_STOP;
    memtap_model_learn_alloc(t->sites, (uint32_t)node, kind, size, addr);
    t->last_alloc = addr;
    t->ring[t->seq++ & t->mask] = addr;
    t->pos = pos;
    r->type = MEMTAP_EV_ALLOC;
    r->kind = (uint8_t)kind;
    r->node = (uint32_t)node;
    r->addr = addr;
    r->size = size;
    *next = q;
    return TR_TAKEN;
}

/* A FREE (in_ring) or MUNMAP of every field known, at q: taken if within t's bounds. */
static inline __attribute__((always_inline)) int
tr_take_free(memtap_thread_t *t, const uint8_t *q, const uint8_t **next, uint64_t addr,
             uint64_t len, int in_ring, memtap_bev_t *r) {
    uint64_t pos = 2 * t->key + 1;
    if (pos > t->limit)
        return TR_STOP;
    memtap_model_learn_free(t->frees, addr);
    if (in_ring)
        t->ring[t->seq++ & t->mask] = addr;
    t->pos = pos;
    t->key++;
    t->nfrees++;
    r->type = in_ring ? MEMTAP_EV_FREE : MEMTAP_EV_MUNMAP;
    r->addr = addr;
    r->size = len;
    *next = q;
    return TR_TAKEN;
}

/* ALLOC (0x10..0x1f) and ALLOC_MODEL (0x80..0xff): see memtap_thread_step. */
static inline __attribute__((always_inline)) int
tr_alloc(memtap_thread_t *t, const uint8_t *p, const uint8_t *end, int checked,
         const uint8_t **next, memtap_bev_t *r, const char **why) {
    const uint8_t *q = p + 1;
    uint8_t type = *p;
    int modelled = type >= MEMTAP_REC_ALLOC_MODEL;
    uint8_t flags = modelled ? type : 0;
    uint64_t where, rest, size = 0, node = 0, addr;
    unsigned kind = type & 0x0f;
    if (!modelled) {
        TR_GET(where, "address");
    } else if ((where = type & 0x0f) == MEMTAP_MODEL_INLINE) {
        TR_GET(rest, "address");
        if (rest > UINT64_MAX - MEMTAP_MODEL_INLINE)
            TR_FAIL("address field out of range");
        where += rest;
    }
    if (!(flags & MEMTAP_MODEL_SIZE))
        TR_GET(size, "size");
    if (!(flags & MEMTAP_MODEL_NODE))
        TR_GET(node, "stack node");
    else
        node = memtap_model_predicted(t->sites);
    if (node > UINT32_MAX)
        TR_FAIL("stack node out of range");
    if (modelled) { /* the kind, and maybe the size, are the node's last allocation's */
        uint32_t last_size;
        if (!memtap_model_site(t->sites, (uint32_t)node, &kind, &last_size))
            TR_FAIL("allocation at a stack node the thread never allocated at");
        if (flags & MEMTAP_MODEL_SIZE) {
            if (last_size == MEMTAP_MODEL_SIZE_NONE)
                TR_FAIL("size refers to an allocation the thread never made");
            size = last_size;
        }
    }
    if (kind > MEMTAP_KIND_MAX)
        TR_FAIL("unknown allocator kind");
    if (size > MAX_BLOCK)
        TR_FAIL("allocation larger than any address space");
    if (flags & MEMTAP_MODEL_REF) {
        if (!tr_referenced(t, where, &addr)) /* where: distance - 1 */
            TR_FAIL("address refers to a record the thread never wrote");
    } else if (modelled) {
        addr = memtap_model_site_addr(t->sites, (uint32_t)node) +
               ((uint64_t)memtap_unzigzag(where) << 4);
    } else {
        addr = t->last_alloc + (uint64_t)memtap_unzigzag(where);
    }
    return tr_take_alloc(t, q, next, kind, addr, size, node, r);
}

/* Decodes the thread record at p (its type byte: not a SKIP; t->key: its key) into r
 * (type ALLOC, FREE or MUNMAP, with the fields they use: node and kind for an ALLOC, an
 * unmapping's length in size), and t's model learns it. checked: the bytes end at end
 * (else at least MEMTAP_THREAD_MARGIN bytes follow p, and end is not read). Returns
 * TR_TAKEN, *next past the record, t->key and t->pos moved on; TR_MORE when the bytes end
 * inside it; TR_BAD when it is corrupt, with *why; TR_STOP when it is outside t's bounds.
 * Only a record taken changes t. */
static inline __attribute__((always_inline)) int
memtap_thread_step(memtap_thread_t *t, const uint8_t *p, const uint8_t *end, int checked,
                   const uint8_t **next, memtap_bev_t *r, const char **why) {
    uint8_t type = *p;
    if (type >= MEMTAP_REC_ALLOC_MODEL || (type & 0xf0) == MEMTAP_REC_ALLOC)
        return tr_alloc(t, p, end, checked, next, r, why);
    const uint8_t *q = p + 1;
    uint64_t d, len, addr;
    unsigned c = (unsigned)type - MEMTAP_REC_FREE_UNITS;
    if (type >= MEMTAP_REC_FREE_REF) {
        if (type >= MEMTAP_FREE_REF_MID) { /* 0x60..0x7f: bits 8..12, then a byte */
            if (checked && q == end)
                return TR_MORE;
            d = (uint64_t)(type & 0x1f) << 8 | *q++;
        } else if (type > MEMTAP_REC_FREE_REF) { /* 0x41..0x5f */
            d = type & 0x1f;
        } else {
            TR_GET(d, "distance");
        }
        if (!tr_referenced(t, d - 1, &addr)) /* d = 0 names no record */
            TR_FAIL("address refers to a record the thread never wrote");
    } else if (c < MEMTAP_MODEL_FREES) { /* FREE_UNITS 0x22..0x25 */
        TR_GET(d, "address");
        addr = memtap_model_free_base(t->frees, c) + ((uint64_t)memtap_unzigzag(d) << 4);
    } else if (type == MEMTAP_REC_FREE) {
        TR_GET(d, "address");
        addr = memtap_model_free_base(t->frees, 0) + (uint64_t)memtap_unzigzag(d);
    } else if (type == MEMTAP_REC_MUNMAP) {
        TR_GET(d, "address");
        TR_GET(len, "length");
        if (len > MAX_BLOCK)
            TR_FAIL("unmapping larger than any address space");
        addr = memtap_model_free_base(t->frees, 0) + (uint64_t)memtap_unzigzag(d);
        return tr_take_free(t, q, next, addr, len, 0, r);
    } else {
        TR_FAIL("not a record of a thread");
    }
    return tr_take_free(t, q, next, addr, 0, 1, r);
}

#undef TR_GET
#undef TR_FAIL

/* Bytes a record may take in the fast loop, a SKIP before it included. */
#define MEMTAP_THREAD_MARGIN 48

/* Where each record of a run stands, for a run decoded ahead of the merge (order.c). */
typedef struct {
    uint64_t pos;   /* its position in the image's order */
    uint32_t start; /* its type byte's distance from where the run started */
} memtap_run_at_t;

/* The fast loop: the records from *pp on, each starting at or before `last` (so
 * MEMTAP_THREAD_MARGIN bytes are there), taken by memtap_thread_step straight into out (at
 * most max, which memtap_tmodel_room must allow for t's model). It stops before a record
 * outside t's bounds or one memtap_thread_step refuses, which the validating path then
 * takes (and judges). Returns how many it took, *pp moved past them; at (NULL: not wanted)
 * gets where each stands. */
size_t memtap_thread_run(memtap_thread_t *t, const uint8_t **pp, const uint8_t *last,
                         memtap_bev_t *out, size_t max, memtap_run_at_t *at);

#endif
