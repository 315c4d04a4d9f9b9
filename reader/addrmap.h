/* Live-block map of the replay: address -> (size, site, kind), open addressing with
 * backward-shift deletion, so memory follows the number of live blocks, not of events. */
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

/* The slot for addr, inserted when absent (*existed = 0; the caller fills it) or the
 * existing block (*existed = 1). NULL when out of memory. One probe for both cases. */
memtap_block_t *memtap_addrmap_upsert(memtap_addrmap_t *m, uint64_t addr, int *existed);

/* Removes the block at addr into *out. Returns 1 when found, 0 when not. */
int memtap_addrmap_take(memtap_addrmap_t *m, uint64_t addr, memtap_block_t *out);

/* The block at addr, or NULL. */
memtap_block_t *memtap_addrmap_get(memtap_addrmap_t *m, uint64_t addr);

#endif
