/* Version 4 thread records against the thread's model (see thread_model.h). */
#include "thread_model.h"

#include <stdlib.h>

#include "decoder_internal.h"
#include "errors.h"
#include "memtap/varint.h"

const memtap_tmodel_t memtap_tmodel_empty;

/* A varint that must end before end: 1 with *v, 0 when the bytes end first, -1 when it is
 * longer than 10 bytes or overflows. */
static inline int get_varint(const uint8_t **q, const uint8_t *end, uint64_t *v) {
    if (end - *q >= 10)
        return fast_varint(q, v) ? 1 : -1;
    uint64_t r = 0;
    for (unsigned shift = 0; *q < end; shift += 7) {
        uint8_t b = *(*q)++;
        if (shift == 63 && b > 1)
            return -1;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (b < 0x80) {
            *v = r;
            return 1;
        }
        if (shift == 63)
            return -1;
    }
    return 0;
}

/* The address of the record `distance` back, or 0 (with *why) when there is none. */
static inline int referenced(const memtap_tmodel_t *m, uint64_t distance, uint64_t *addr,
                             const char **why) {
    if (distance == 0 || distance > m->seq || distance > MEMTAP_MODEL_RING) {
        *why = "address refers to a record the thread never wrote";
        return 0;
    }
    *addr = m->ring[(m->seq - distance) & (m->ring_cap - 1)];
    return 1;
}

#define GET(v, what)                                                                               \
    do {                                                                                           \
        int got_ = get_varint(&q, end, &(v));                                                      \
        if (got_ <= 0) {                                                                           \
            *why = what " field too long";                                                         \
            return got_;                                                                           \
        }                                                                                          \
    } while (0)

static long parse_alloc(const memtap_tmodel_t *m, unsigned max_kind, const uint8_t *p,
                        const uint8_t *end, memtap_event_t *ev, const char **why) {
    const uint8_t *q = p + 1;
    uint8_t type = *p;
    int modelled = type >= MEMTAP_REC_ALLOC_MODEL;
    uint8_t flags = modelled ? type : 0;
    uint64_t where, size = 0, node = 0;
    GET(where, "address");
    if (!(flags & MEMTAP_MODEL_SIZE))
        GET(size, "size");
    if (!(flags & MEMTAP_MODEL_NODE))
        GET(node, "stack node");
    if ((type & 0x0f) > max_kind) {
        *why = "unknown allocator kind";
        return -1;
    }
    if (flags & MEMTAP_MODEL_NODE) {
        uint32_t prev = m->last_node;
        const __typeof__(m->next[0]) *follow = &m->next[prev & (MEMTAP_MODEL_NEXT - 1)];
        node = follow->prev == prev ? follow->next : prev;
    } else if (node > UINT32_MAX) {
        *why = "stack node out of range";
        return -1;
    }
    if (flags & MEMTAP_MODEL_SIZE) {
        const __typeof__(m->sizes[0]) *last = &m->sizes[node & (MEMTAP_MODEL_SIZES - 1)];
        if (last->node != node || last->size == UINT32_MAX) {
            *why = "size refers to an allocation the thread never made";
            return -1;
        }
        size = last->size;
    } else if (size > MAX_BLOCK) {
        *why = "allocation larger than any address space";
        return -1;
    }
    uint64_t addr;
    if (flags & MEMTAP_MODEL_REF) {
        if (where >= UINT64_MAX || !referenced(m, where + 1, &addr, why))
            return -1;
    } else {
        uint64_t delta = (uint64_t)memtap_unzigzag(where);
        addr = m->last_alloc + (modelled ? delta << 4 : delta);
    }
    ev->type = MEMTAP_EV_ALLOC;
    ev->u.alloc.kind = type & 0x0f;
    ev->u.alloc.addr = addr;
    ev->u.alloc.size = size;
    ev->u.alloc.node = (uint32_t)node;
    return (long)(q - p);
}

long memtap_tmodel_parse(const memtap_tmodel_t *m, unsigned max_kind, const uint8_t *p,
                         const uint8_t *end, memtap_event_t *ev, const char **why) {
    uint8_t type = *p;
    if (type >= MEMTAP_REC_ALLOC_MODEL || (type & 0xf0) == MEMTAP_REC_ALLOC)
        return parse_alloc(m, max_kind, p, end, ev, why);
    const uint8_t *q = p + 1;
    uint64_t v, addr, len = 0;
    if (type >= MEMTAP_REC_FREE_REF) {
        if (type >= MEMTAP_FREE_REF_MID) {
            if (q == end)
                return 0;
            v = (uint64_t)(type & 0x1f) << 8 | *q++;
        } else if (type > MEMTAP_REC_FREE_REF) {
            v = type & 0x1f;
        } else {
            GET(v, "distance");
        }
        if (!referenced(m, v, &addr, why))
            return -1;
    } else if (type == MEMTAP_REC_FREE_UNITS || type == MEMTAP_REC_FREE ||
               type == MEMTAP_REC_MUNMAP) {
        GET(v, "address");
        uint64_t delta = (uint64_t)memtap_unzigzag(v);
        addr = m->last_free + (type == MEMTAP_REC_FREE_UNITS ? delta << 4 : delta);
        if (type == MEMTAP_REC_MUNMAP) {
            GET(len, "length");
            if (len > MAX_BLOCK) {
                *why = "unmapping larger than any address space";
                return -1;
            }
        }
    } else {
        *why = "record type not allowed in the records of a thread";
        return -1;
    }
    ev->type = type == MEMTAP_REC_MUNMAP ? MEMTAP_EV_MUNMAP : MEMTAP_EV_FREE;
    ev->u.free.addr = addr;
    ev->u.free.len = len;
    return (long)(q - p);
}

static int remember(memtap_tmodel_t *m, uint64_t addr) {
    if (m->seq == m->ring_cap && m->ring_cap < MEMTAP_MODEL_RING) {
        uint32_t cap = m->ring_cap ? 2 * m->ring_cap : 64;
        uint64_t *ring = realloc(m->ring, cap * sizeof *ring);
        if (!ring)
            return MEMTAP_ERR_NOMEM;
        m->ring = ring;
        m->ring_cap = cap;
    }
    m->ring[m->seq++ & (m->ring_cap - 1)] = addr;
    return MEMTAP_OK;
}

int memtap_tmodel_learn(memtap_tmodel_t **mp, const memtap_event_t *ev) {
    memtap_tmodel_t *m = *mp;
    if (!m) {
        m = calloc(1, sizeof *m);
        if (!m)
            return MEMTAP_ERR_NOMEM;
        *mp = m;
    }
    if (ev->type == MEMTAP_EV_ALLOC) {
        uint32_t node = ev->u.alloc.node, prev = m->last_node;
        m->next[prev & (MEMTAP_MODEL_NEXT - 1)].prev = prev;
        m->next[prev & (MEMTAP_MODEL_NEXT - 1)].next = node;
        m->last_node = node;
        m->sizes[node & (MEMTAP_MODEL_SIZES - 1)].node = node;
        m->sizes[node & (MEMTAP_MODEL_SIZES - 1)].size =
            ev->u.alloc.size < UINT32_MAX ? (uint32_t)ev->u.alloc.size : UINT32_MAX;
        m->last_alloc = ev->u.alloc.addr;
        return remember(m, ev->u.alloc.addr);
    }
    m->last_free = ev->u.free.addr;
    return ev->type == MEMTAP_EV_FREE ? remember(m, ev->u.free.addr) : MEMTAP_OK;
}

void memtap_tmodel_free(memtap_tmodel_t *m) {
    if (m)
        free(m->ring);
    free(m);
}
