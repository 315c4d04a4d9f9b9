/* Thread records: the model's memory, and the fast loop that decodes a thread's records by
 * the thousand with memtap_thread_decode (thread_record.h). May call: thread_record.h. */
#include "decode/thread_record.h"

#include <stdlib.h>

#include "common/errors.h"

memtap_tmodel_t *memtap_tmodel_new(void) { return calloc(1, sizeof(memtap_tmodel_t)); }

void memtap_tmodel_free(memtap_tmodel_t *m) {
    if (m)
        free(m->ring);
    free(m);
}

int memtap_tmodel_make_room(memtap_tmodel_t *m) {
    if (m->seq < m->ring_cap || m->ring_cap == MEMTAP_MODEL_RING)
        return MEMTAP_OK;
    uint32_t cap = m->ring_cap ? 2 * m->ring_cap : 64;
    uint64_t *ring = realloc(m->ring, cap * sizeof *ring);
    if (!ring)
        return MEMTAP_ERR_NOMEM;
    m->ring = ring;
    m->ring_cap = cap;
    return MEMTAP_OK;
}

/* memtap_thread_run's loop, inline twice: with `at` and without (no test of it then). */
static inline __attribute__((always_inline)) size_t run(memtap_thread_t *tp, const uint8_t **pp,
                                                        const uint8_t *last, memtap_bev_t *out,
                                                        size_t max, memtap_run_at_t *at) {
    memtap_thread_t local = *tp, *t = &local; /* in registers: out may alias *tp */
    const uint8_t *p = *pp, *const start = p;
    size_t i = 0;
    while (i < max && p <= last) {
        const uint8_t *q = p;
        uint64_t key = t->key, skip;
        if ((skip = memtap_skip_short(*q)) != 0) { /* threads interleaving: most records */
            q++;                                     /* have one, most of them short */
            if (skip > (UINT64_MAX >> 2) - t->key)
                break;
            t->key += skip;
        } else if (*q == MEMTAP_REC_SKIP) {
            q++;
            if (!fast_varint4(&q, &skip) || skip > (UINT64_MAX >> 2) - t->key)
                break;
            t->key += skip;
        }
        const char *why;
        if (memtap_thread_step(t, q, NULL, 0, &p, &out[i], &why) != TR_TAKEN) {
            t->key = key; /* the SKIP too is the validating path's */
            break;
        }
        if (at) {
            at[i].pos = t->pos;
            at[i].start = (uint32_t)(q - start);
        }
        i++;
    }
    *tp = local;
    *pp = p;
    return i;
}

size_t memtap_thread_run(memtap_thread_t *t, const uint8_t **pp, const uint8_t *last,
                         memtap_bev_t *out, size_t max, memtap_run_at_t *at) {
    return at ? run(t, pp, last, out, max, at) : run(t, pp, last, out, max, NULL);
}
