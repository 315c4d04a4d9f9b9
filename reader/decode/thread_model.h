/* Version 4 and 5 thread records: the reader's half of the model a thread's records are written
 * against (include/memtap/format.h), the records' parsing and the model's learning. The
 * writer's half is preload/output/record.c; both must learn the same thing from the same record. */
#ifndef MEMTAP_READER_THREAD_MODEL_H
#define MEMTAP_READER_THREAD_MODEL_H

#include <stdint.h>

#include "decode/decoder_internal.h"
#include "common/errors.h"
#include "memtap/format.h"
#include "memtap/model.h"
#include "memtap/varint.h"

typedef struct memtap_tmodel {
    uint64_t seq; /* ALLOC and FREE records learnt */
    uint64_t last_alloc;
    memtap_model_frees_t frees;
    uint64_t *ring; /* their addresses, by seq modulo ring_cap (grows to MEMTAP_MODEL_RING) */
    uint32_t ring_cap;
    memtap_model_sites_t sites;
} memtap_tmodel_t;

/* A thread's model before its first record (parsing needs one; learning allocates it). */
extern const memtap_tmodel_t memtap_tmodel_empty;

/* Out of line: a new, empty model (NULL when memory ran out); the ring grown (MEMTAP_OK or
 * MEMTAP_ERR_NOMEM). */
memtap_tmodel_t *memtap_tmodel_new(void);
int memtap_tmodel_grow(memtap_tmodel_t *m);

/* A varint that must end before end: 1 with *v, 0 when the bytes end first, -1 when it is
 * longer than 10 bytes or overflows. */
static inline int memtap_tmodel_varint(const uint8_t **q, const uint8_t *end, uint64_t *v) {
    if (end - *q >= 10)
        return fast_varint(q, v) ? 1 : -1;
    return memtap_varint_get(q, end, v); /* near the end of what arrived */
}

/* The address of the record `distance` back, or 0 (with *why) when there is none. */
static inline int memtap_tmodel_referenced(const memtap_tmodel_t *m, uint64_t distance,
                                           uint64_t *addr, const char **why) {
    if (distance == 0 || distance > m->seq || distance > MEMTAP_MODEL_RING) {
        *why = "address refers to a record the thread never wrote";
        return 0;
    }
    *addr = m->ring[(m->seq - distance) & (m->ring_cap - 1)];
    return 1;
}

/* The base of an ALLOC_MODEL's address delta: the node's last address in version 5, the
 * thread's last allocation's (last_alloc) in version 4. */
static inline uint64_t memtap_tmodel_alloc_base(const memtap_tmodel_t *m, unsigned version,
                                                uint32_t node, uint64_t last_alloc) {
    return version >= 5 ? memtap_model_site_addr(&m->sites, node) : last_alloc;
}

/* The FREE_UNITS types of a version: 0x22 (v4), 0x22 to 0x25 (v5): the base's number, or
 * -1 for another type. */
static inline int memtap_tmodel_free_units_base(unsigned version, uint8_t type) {
    unsigned c = (unsigned)type - MEMTAP_REC_FREE_UNITS;
    return c < (version >= 5 ? MEMTAP_MODEL_FREES : 1) ? (int)c : -1;
}

#define MEMTAP_TMODEL_GET(v, what)                                                                 \
    do {                                                                                           \
        int got_ = memtap_tmodel_varint(&q, end, &(v));                                            \
        if (got_ <= 0) {                                                                           \
            *why = what " field too long";                                                         \
            return got_;                                                                           \
        }                                                                                          \
    } while (0)

static inline __attribute__((always_inline)) long
memtap_tmodel_parse_alloc(const memtap_tmodel_t *m, unsigned version, unsigned max_kind,
                          const uint8_t *p, const uint8_t *end, memtap_event_t *ev,
                          const char **why) {
    const uint8_t *q = p + 1;
    uint8_t type = *p;
    int modelled = type >= MEMTAP_REC_ALLOC_MODEL;
    uint8_t flags = modelled ? type : 0;
    uint64_t where, size = 0, node = 0;
    unsigned kind = type & 0x0f;
    if (!modelled) {
        MEMTAP_TMODEL_GET(where, "address");
    } else if ((where = type & 0x0f) == MEMTAP_MODEL_INLINE) {
        uint64_t rest;
        MEMTAP_TMODEL_GET(rest, "address");
        if (rest > UINT64_MAX - MEMTAP_MODEL_INLINE) {
            *why = "address field out of range";
            return -1;
        }
        where += rest;
    }
    if (!(flags & MEMTAP_MODEL_SIZE))
        MEMTAP_TMODEL_GET(size, "size");
    if (!(flags & MEMTAP_MODEL_NODE))
        MEMTAP_TMODEL_GET(node, "stack node");
    if (flags & MEMTAP_MODEL_NODE) {
        node = memtap_model_predicted(&m->sites);
    } else if (node > UINT32_MAX) {
        *why = "stack node out of range";
        return -1;
    }
    if (modelled) { /* the kind, and maybe the size, are the node's last allocation's */
        uint32_t last_size;
        if (!memtap_model_site(&m->sites, (uint32_t)node, &kind, &last_size)) {
            *why = "allocation at a stack node the thread never allocated at";
            return -1;
        }
        if (flags & MEMTAP_MODEL_SIZE) {
            if (last_size == MEMTAP_MODEL_SIZE_NONE) {
                *why = "size refers to an allocation the thread never made";
                return -1;
            }
            size = last_size;
        }
    }
    if (kind > max_kind) {
        *why = "unknown allocator kind";
        return -1;
    }
    if (size > MAX_BLOCK) {
        *why = "allocation larger than any address space";
        return -1;
    }
    uint64_t addr;
    if (flags & MEMTAP_MODEL_REF) {
        if (where >= UINT64_MAX || !memtap_tmodel_referenced(m, where + 1, &addr, why))
            return -1;
    } else {
        uint64_t delta = (uint64_t)memtap_unzigzag(where);
        if (modelled)
            addr = memtap_tmodel_alloc_base(m, version, (uint32_t)node, m->last_alloc) +
                   (delta << 4);
        else
            addr = m->last_alloc + delta;
    }
    ev->type = MEMTAP_EV_ALLOC;
    ev->u.alloc.kind = kind;
    ev->u.alloc.addr = addr;
    ev->u.alloc.size = size;
    ev->u.alloc.node = (uint32_t)node;
    return (long)(q - p);
}

/* Parses the v4 (v5: `version`) thread record at p (not a SKIP; bytes up to end) against m.
 * Returns its length with ev filled (offset untouched), 0 when the bytes end inside it, or
 * -1 when it is corrupt, with *why set. Records of other types are corrupt here. Inline,
 * with the helpers above: the reader's hottest path. */
static inline __attribute__((always_inline)) long
memtap_tmodel_parse(const memtap_tmodel_t *m, unsigned version, unsigned max_kind,
                    const uint8_t *p, const uint8_t *end, memtap_event_t *ev, const char **why) {
    uint8_t type = *p;
    if (type >= MEMTAP_REC_ALLOC_MODEL || (type & 0xf0) == MEMTAP_REC_ALLOC)
        return memtap_tmodel_parse_alloc(m, version, max_kind, p, end, ev, why);
    int base = memtap_tmodel_free_units_base(version, type);
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
            MEMTAP_TMODEL_GET(v, "distance");
        }
        if (!memtap_tmodel_referenced(m, v, &addr, why))
            return -1;
    } else if (base >= 0 || type == MEMTAP_REC_FREE || type == MEMTAP_REC_MUNMAP) {
        MEMTAP_TMODEL_GET(v, "address");
        uint64_t delta = (uint64_t)memtap_unzigzag(v);
        addr = base >= 0 ? memtap_model_free_base(&m->frees, (unsigned)base) + (delta << 4)
                         : memtap_model_free_base(&m->frees, 0) + delta;
        if (type == MEMTAP_REC_MUNMAP) {
            MEMTAP_TMODEL_GET(len, "length");
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

#undef MEMTAP_TMODEL_GET

/* Appends addr to the ring (grown first when it is full and may grow). */
static inline int memtap_tmodel_remember(memtap_tmodel_t *m, uint64_t addr) {
    if (m->seq == m->ring_cap && m->ring_cap < MEMTAP_MODEL_RING &&
        memtap_tmodel_grow(m) != MEMTAP_OK)
        return MEMTAP_ERR_NOMEM;
    m->ring[m->seq++ & (m->ring_cap - 1)] = addr;
    return MEMTAP_OK;
}

/* The thread's record ev (as parsed, before any change) was released: *m learns it, and is
 * allocated first if it is NULL. Returns MEMTAP_OK or MEMTAP_ERR_NOMEM. */
static inline __attribute__((always_inline)) int memtap_tmodel_learn(memtap_tmodel_t **mp,
                                                                     const memtap_event_t *ev) {
    memtap_tmodel_t *m = *mp;
    if (!m && !(m = *mp = memtap_tmodel_new()))
        return MEMTAP_ERR_NOMEM;
    if (ev->type == MEMTAP_EV_ALLOC) {
        memtap_model_learn_alloc(&m->sites, ev->u.alloc.node, ev->u.alloc.kind, ev->u.alloc.size,
                                 ev->u.alloc.addr);
        m->last_alloc = ev->u.alloc.addr;
        return memtap_tmodel_remember(m, ev->u.alloc.addr);
    }
    memtap_model_learn_free(&m->frees, ev->u.free.addr);
    return ev->type == MEMTAP_EV_FREE ? memtap_tmodel_remember(m, ev->u.free.addr) : MEMTAP_OK;
}

/* Where a run of a thread's records may go (memtap_tmodel_run). */
typedef struct {
    uint64_t key;      /* the thread's order key before the run; after it, on return */
    uint64_t last_pos; /* position of the run's last record (unchanged when none) */
    uint64_t limit;    /* no record positioned above it: another source goes first */
    uint32_t nodes;    /* stack nodes defined: no allocation may name a higher one */
    unsigned version;  /* of the frame: 4 or 5 */
    unsigned max_kind;
    size_t frees;      /* FREE records in the run */
} memtap_run_bounds_t;

#define MEMTAP_RUN_MARGIN 48 /* bytes a record of the run may take, SKIP before it included */

/* Where each record of a run stands, for a run decoded ahead of the merge (merge.h). */
typedef struct {
    uint64_t pos;   /* its position in the frame's order */
    uint32_t start; /* its type byte's distance from where the run started */
} memtap_run_at_t;

/* How many records a run may learn, at most max: no more than the ring holds before it
 * must grow (learning that allocates is the general path's). */
static inline size_t memtap_tmodel_run_room(const memtap_tmodel_t *m, size_t max) {
    if (m->ring_cap < MEMTAP_MODEL_RING && m->ring_cap - m->seq < max)
        return m->ring_cap - m->seq;
    return max;
}

/* The reader's fast path: the records from *pp on, each starting at or before `last` (so
 * MEMTAP_RUN_MARGIN bytes are there), decoded straight into out (at most max) with m
 * learning each, its state kept in registers. It takes only ALLOC and FREE records that
 * memtap_tmodel_parse accepts, decodes them alike, and stops before any other: a MUNMAP,
 * a record outside the bounds, anything corrupt, which the general path then takes (and
 * judges). The caller keeps the ring from growing: seq + max stays within ring_cap. Returns
 * how many it decoded, *pp moved past them; at_out (NULL: not wanted) gets where each
 * stands. */
static inline __attribute__((always_inline)) size_t
memtap_tmodel_run(memtap_tmodel_t *m, const uint8_t **pp, const uint8_t *last,
                  memtap_run_bounds_t *b, memtap_bev_t *out, size_t max, memtap_run_at_t *at_out) {
    const uint8_t *p = *pp, *const run_start = p;
    uint64_t key = b->key, at = b->last_pos;
    uint64_t seq = m->seq, last_alloc = m->last_alloc;
    uint64_t *ring = m->ring;
    uint64_t ring_mask = m->ring_cap - 1;
    size_t i = 0, frees = 0;
    while (i < max && p <= last) {
        const uint8_t *q = p;
        uint64_t k = key, v, addr, size = 0, node = 0;
        int base;
        uint8_t type = *q++;
        if (type == MEMTAP_REC_SKIP) {
            if (!fast_varint4(&q, &v) || v > (UINT64_MAX >> 2) - k)
                break;
            k += v;
            type = *q++;
        }
        if (at_out)
            at_out[i].start = (uint32_t)(q - 1 - run_start);
        unsigned kind = type & 0x0f;
        if (type >= MEMTAP_REC_ALLOC_MODEL) {
            uint64_t where = type & 0x0f;
            if (where == MEMTAP_MODEL_INLINE) {
                if (!fast_varint4(&q, &v) || v > UINT64_MAX - MEMTAP_MODEL_INLINE)
                    break;
                where += v;
            }
            if (!(type & MEMTAP_MODEL_SIZE) && !fast_varint4(&q, &size))
                break;
            if (!(type & MEMTAP_MODEL_NODE)) {
                if (!fast_varint4(&q, &node))
                    break;
            } else {
                node = memtap_model_predicted(&m->sites);
            }
            uint32_t last_size;
            if (node > b->nodes || !memtap_model_site(&m->sites, (uint32_t)node, &kind,
                                                            &last_size))
                break;
            if (type & MEMTAP_MODEL_SIZE) {
                if (last_size == MEMTAP_MODEL_SIZE_NONE)
                    break;
                size = last_size;
            }
            if (type & MEMTAP_MODEL_REF) {
                if (where >= seq || where >= MEMTAP_MODEL_RING) /* distance where + 1 */
                    break;
                addr = ring[(seq - where - 1) & ring_mask];
            } else {
                addr = memtap_tmodel_alloc_base(m, b->version, (uint32_t)node, last_alloc) +
                       ((uint64_t)memtap_unzigzag(where) << 4);
            }
        } else if ((type & 0xf0) == MEMTAP_REC_ALLOC) {
            if (!fast_varint4(&q, &v) || !fast_varint4(&q, &size) || !fast_varint4(&q, &node) ||
                node > b->nodes)
                break;
            addr = last_alloc + (uint64_t)memtap_unzigzag(v);
        } else {
            if (type >= MEMTAP_REC_FREE_REF) {
                if (type >= MEMTAP_FREE_REF_MID)
                    v = (uint64_t)(type & 0x1f) << 8 | *q++;
                else if (type > MEMTAP_REC_FREE_REF)
                    v = type & 0x1f;
                else if (!fast_varint4(&q, &v))
                    break;
                if (v == 0 || v > seq || v > MEMTAP_MODEL_RING)
                    break;
                addr = ring[(seq - v) & ring_mask];
            } else if ((base = memtap_tmodel_free_units_base(b->version, type)) >= 0) {
                if (!fast_varint4(&q, &v))
                    break;
                addr = memtap_model_free_base(&m->frees, (unsigned)base) +
                       ((uint64_t)memtap_unzigzag(v) << 4);
            } else if (type == MEMTAP_REC_FREE) {
                if (!fast_varint4(&q, &v))
                    break;
                addr = memtap_model_free_base(&m->frees, 0) + (uint64_t)memtap_unzigzag(v);
            } else {
                break;
            }
            uint64_t pos = 2 * k + 1;
            if (pos > b->limit)
                break;
            memtap_model_learn_free(&m->frees, addr);
            ring[seq++ & ring_mask] = addr;
            out[i].type = MEMTAP_EV_FREE;
            out[i].addr = addr;
            out[i].size = 0;
            if (at_out)
                at_out[i].pos = pos;
            i++;
            frees++;
            key = k + 1;
            at = pos;
            p = q;
            continue;
        }
        uint64_t pos = 2 * k;
        if (kind > b->max_kind || size > MAX_BLOCK || pos > b->limit)
            break;
        memtap_model_learn_alloc(&m->sites, (uint32_t)node, kind, size, addr);
        last_alloc = addr;
        ring[seq++ & ring_mask] = addr;
        out[i].type = MEMTAP_EV_ALLOC;
        out[i].kind = (uint8_t)kind;
        out[i].node = (uint32_t)node;
        out[i].addr = addr;
        out[i].size = size;
        if (at_out)
            at_out[i].pos = pos;
        i++;
        key = k;
        at = pos;
        p = q;
    }
    m->seq = seq;
    m->last_alloc = last_alloc;
    b->key = key;
    b->last_pos = at;
    b->frees = frees;
    *pp = p;
    return i;
}

void memtap_tmodel_free(memtap_tmodel_t *m);

/* Whether learning the next record needs memory (the model or a larger ring). */
static inline int memtap_tmodel_learning_allocates(const memtap_tmodel_t *m) {
    return !m || (m->seq == m->ring_cap && m->ring_cap < MEMTAP_MODEL_RING);
}

/* Whether a record of this type belongs in the thread records of a frame of `version`. */
static inline int memtap_tmodel_is_record(unsigned version, uint8_t type) {
    return type >= MEMTAP_REC_FREE_REF || (type & 0xf0) == MEMTAP_REC_ALLOC ||
           type == MEMTAP_REC_FREE || memtap_tmodel_free_units_base(version, type) >= 0 ||
           type == MEMTAP_REC_MUNMAP;
}

#endif
