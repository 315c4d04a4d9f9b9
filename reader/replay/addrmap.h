/* Live-block map of the replay: address -> (size, site, kind), open addressing with
 * backward-shift deletion, so memory follows the number of live blocks, not of events.
 * The lookups are inline: the replay makes one for nearly every event. */
#ifndef MEMTAP_READER_ADDRMAP_H
#define MEMTAP_READER_ADDRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t addr;
    uint64_t size;
    uint32_t site;
    uint8_t kind;
    uint8_t used;
} memtap_block_t;

typedef struct {
    memtap_block_t *slots;
    size_t mask, count;
} memtap_addrmap_t;

/* Returns 0, or -1 when out of memory. */
int memtap_addrmap_init(memtap_addrmap_t *m);
void memtap_addrmap_free(memtap_addrmap_t *m);

/* Doubles the table. Returns 0, or -1 when out of memory. */
int memtap_addrmap_grow(memtap_addrmap_t *m);

static inline size_t memtap_addrmap_slot(uint64_t addr, size_t mask) {
    uint64_t h = addr * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 20) & mask;
}

/* The block at addr, or NULL. */
static inline memtap_block_t *memtap_addrmap_get(memtap_addrmap_t *m, uint64_t addr) {
    size_t i = memtap_addrmap_slot(addr, m->mask);
    while (m->slots[i].used) {
        if (m->slots[i].addr == addr)
            return &m->slots[i];
        i = (i + 1) & m->mask;
    }
    return NULL;
}

/* The slot for addr, inserted when absent (*existed = 0; the caller fills it) or the
 * existing block (*existed = 1). NULL when out of memory. One probe for both cases. */
static inline memtap_block_t *memtap_addrmap_upsert(memtap_addrmap_t *m, uint64_t addr,
                                                    int *existed) {
    /* at most half full: linear probing's clusters, and so the backward shifts of take,
     * stay short */
    if ((m->count + 1) * 2 > m->mask + 1 && memtap_addrmap_grow(m) < 0)
        return NULL;
    size_t i = memtap_addrmap_slot(addr, m->mask);
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

/* Removes the block at addr into *out. Returns 1 when found, 0 when not. */
static inline int memtap_addrmap_take(memtap_addrmap_t *m, uint64_t addr, memtap_block_t *out) {
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
        size_t home = memtap_addrmap_slot(m->slots[j].addr, m->mask);
        if (((j - home) & m->mask) >= ((j - i) & m->mask)) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].used = 0;
    m->count--;
    return 1;
}

#endif
