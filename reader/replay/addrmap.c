/* Open-addressing address map for live blocks: what is not inline. */
#include "replay/addrmap.h"

#include <stdlib.h>

int memtap_addrmap_init(memtap_addrmap_t *m) {
    m->mask = 1023;
    m->count = 0;
    m->slots = calloc(m->mask + 1, sizeof *m->slots);
    return m->slots ? 0 : -1;
}

void memtap_addrmap_free(memtap_addrmap_t *m) {
    free(m->slots);
    m->slots = NULL;
}

int memtap_addrmap_grow(memtap_addrmap_t *m) {
    size_t cap = (m->mask + 1) * 2;
    memtap_block_t *s = calloc(cap, sizeof *s);
    if (!s)
        return -1;
    for (size_t i = 0; i <= m->mask; i++) {
        if (!m->slots[i].used)
            continue;
        size_t j = memtap_addrmap_slot(m->slots[i].addr, cap - 1);
        while (s[j].used)
            j = (j + 1) & (cap - 1);
        s[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = s;
    m->mask = cap - 1;
    return 0;
}
