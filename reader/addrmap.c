/* Open-addressing address map for live blocks. */
#include "addrmap.h"

#include <stdlib.h>

static size_t slot_of(uint64_t addr, size_t mask) {
    uint64_t h = addr * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 20) & mask;
}

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

static int grow(memtap_addrmap_t *m) {
    size_t cap = (m->mask + 1) * 2;
    memtap_block_t *s = calloc(cap, sizeof *s);
    if (!s)
        return -1;
    for (size_t i = 0; i <= m->mask; i++) {
        if (!m->slots[i].used)
            continue;
        size_t j = slot_of(m->slots[i].addr, cap - 1);
        while (s[j].used)
            j = (j + 1) & (cap - 1);
        s[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = s;
    m->mask = cap - 1;
    return 0;
}

memtap_block_t *memtap_addrmap_upsert(memtap_addrmap_t *m, uint64_t addr, int *existed) {
    /* at most half full: linear probing's clusters, and so the backward shifts of take,
     * stay short */
    if ((m->count + 1) * 2 > m->mask + 1 && grow(m) < 0)
        return NULL;
    size_t i = slot_of(addr, m->mask);
    while (m->slots[i].used) {
        if (m->slots[i].addr == addr) {
            *existed = 1;
            return &m->slots[i];
        }
        i = (i + 1) & m->mask;
    }
    *existed = 0;
    m->slots[i].used = 1;
    m->slots[i].addr = addr;
    m->count++;
    return &m->slots[i];
}

memtap_block_t *memtap_addrmap_get(memtap_addrmap_t *m, uint64_t addr) {
    size_t i = slot_of(addr, m->mask);
    while (m->slots[i].used) {
        if (m->slots[i].addr == addr)
            return &m->slots[i];
        i = (i + 1) & m->mask;
    }
    return NULL;
}

int memtap_addrmap_take(memtap_addrmap_t *m, uint64_t addr, memtap_block_t *out) {
    memtap_block_t *b = memtap_addrmap_get(m, addr);
    if (!b)
        return 0;
    *out = *b;
    size_t i = (size_t)(b - m->slots);
    /* backward-shift deletion keeps probe chains intact without tombstones */
    size_t j = i;
    for (;;) {
        j = (j + 1) & m->mask;
        if (!m->slots[j].used)
            break;
        size_t home = slot_of(m->slots[j].addr, m->mask);
        if (((j - home) & m->mask) >= ((j - i) & m->mask)) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].used = 0;
    m->count--;
    return 1;
}
