/* Version 4 thread records: the reader's half of the model a thread's records are written
 * against (include/memtap/format.h), the records' parsing and the model's learning. The
 * writer's half is preload/record.c; both must learn the same thing from the same record. */
#ifndef MEMTAP_READER_THREAD_MODEL_H
#define MEMTAP_READER_THREAD_MODEL_H

#include <stdint.h>

#include "decoder.h"
#include "memtap/format.h"

typedef struct memtap_tmodel {
    uint64_t seq; /* ALLOC and FREE records learnt */
    uint64_t last_alloc, last_free;
    uint32_t last_node;
    uint64_t *ring; /* their addresses, by seq modulo ring_cap (grows to MEMTAP_MODEL_RING) */
    uint32_t ring_cap;
    struct {
        uint32_t node, size;
    } sizes[MEMTAP_MODEL_SIZES];
    struct {
        uint32_t prev, next;
    } next[MEMTAP_MODEL_NEXT];
} memtap_tmodel_t;

/* A thread's model before its first record (parsing needs one; learning allocates it). */
extern const memtap_tmodel_t memtap_tmodel_empty;

/* Parses the v4 thread record at p (not a SKIP; bytes up to end) against m. Returns its
 * length with ev filled (offset untouched), 0 when the bytes end inside it, or -1 when it
 * is corrupt, with *why set. Records of other types are corrupt here. */
long memtap_tmodel_parse(const memtap_tmodel_t *m, unsigned max_kind, const uint8_t *p,
                         const uint8_t *end, memtap_event_t *ev, const char **why);

/* The thread's record ev (as parsed, before any change) was released: *m learns it, and is
 * allocated first if it is NULL. Returns MEMTAP_OK or MEMTAP_ERR_NOMEM. */
int memtap_tmodel_learn(memtap_tmodel_t **m, const memtap_event_t *ev);

void memtap_tmodel_free(memtap_tmodel_t *m);

/* Whether learning the next record needs memory (the model or a larger ring). */
static inline int memtap_tmodel_learning_allocates(const memtap_tmodel_t *m) {
    return !m || (m->seq == m->ring_cap && m->ring_cap < MEMTAP_MODEL_RING);
}

/* Whether a record of this type belongs in a v4 thread's records. */
static inline int memtap_tmodel_is_record(uint8_t type) {
    return type >= MEMTAP_REC_FREE_REF || (type & 0xf0) == MEMTAP_REC_ALLOC ||
           type == MEMTAP_REC_FREE || type == MEMTAP_REC_FREE_UNITS || type == MEMTAP_REC_MUNMAP;
}

#endif
