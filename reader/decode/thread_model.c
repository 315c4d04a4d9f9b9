/* Version 4 thread records against the thread's model (see thread_model.h). */
#include "decode/thread_model.h"

#include <stdlib.h>

#include "common/errors.h"

const memtap_tmodel_t memtap_tmodel_empty;

int memtap_tmodel_grow(memtap_tmodel_t *m) {
    uint32_t cap = m->ring_cap ? 2 * m->ring_cap : 64;
    uint64_t *ring = realloc(m->ring, cap * sizeof *ring);
    if (!ring)
        return MEMTAP_ERR_NOMEM;
    m->ring = ring;
    m->ring_cap = cap;
    return MEMTAP_OK;
}

memtap_tmodel_t *memtap_tmodel_new(void) {
    return calloc(1, sizeof(memtap_tmodel_t));
}

void memtap_tmodel_free(memtap_tmodel_t *m) {
    if (m)
        free(m->ring);
    free(m);
}
