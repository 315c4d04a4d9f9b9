/* Live-block map of the replay: address -> (size, site, thread, kind), open addressing with
 * backward-shift deletion (memtap/hashtab.h), so memory follows the number of live blocks,
 * not of events. The lookups are inline: the replay makes one for nearly every event. */
#ifndef MEMTAP_READER_ADDRMAP_H
#define MEMTAP_READER_ADDRMAP_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "memtap/hashtab.h"

/* The thread of a block whose thread is not known (a cut capture), and of the 16,777,215th
 * thread and those after it. */
#define MEMTAP_NO_THREAD 0xffffffu

typedef struct {
    uint64_t addr;
    uint64_t size;
    uint32_t site;
    /* the three share one word, so a block stays 24 bytes */
    uint32_t thread : 24; /* the allocating thread: index into the replay's threads */
    uint32_t kind : 4;
    uint32_t leak_class : 3; /* MEMTAP_CLASS_* + 1 from the leak scan at exit, 0: none */
    uint32_t used : 1;
} memtap_block_t;

typedef MEMTAP_HASHTAB(memtap_block_t) memtap_addrmap_t;

/* Returns 0, or -1 when out of memory. */
int memtap_addrmap_init(memtap_addrmap_t *m);
void memtap_addrmap_free(memtap_addrmap_t *m);
/* Empties m, keeping its memory. */
void memtap_addrmap_clear(memtap_addrmap_t *m);

static inline size_t memtap_addrmap_hash(uint64_t addr) {
    return (size_t)((addr * 0x9E3779B97F4A7C15ull) >> 20);
}

#define MEMTAP_HT_NAME memtap_addrmap_table
#define MEMTAP_HT_TABLE memtap_addrmap_t
#define MEMTAP_HT_SLOT memtap_block_t
#define MEMTAP_HT_KEY uint64_t
#define MEMTAP_HT_HASH(k) memtap_addrmap_hash(k)
#define MEMTAP_HT_SLOT_HASH(s) memtap_addrmap_hash((s)->addr)
#define MEMTAP_HT_EMPTY(s) (!(s)->used)
#define MEMTAP_HT_MATCH(s, k) ((s)->addr == (k))
#define MEMTAP_HT_CLEAR(s) ((s)->used = 0)
#define MEMTAP_HT_ALLOC(bytes) calloc(1, (bytes))
#define MEMTAP_HT_FREE(p, bytes) free(p)
/* at most half full: linear probing's clusters, and so the backward shifts of take, stay
 * short */
#define MEMTAP_HT_LOAD_NUM 1
#define MEMTAP_HT_LOAD_DEN 2
#include "memtap/hashtab.h"

/* The block at addr, or NULL. */
static inline memtap_block_t *memtap_addrmap_get(memtap_addrmap_t *m, uint64_t addr) {
    return memtap_addrmap_table_find(m, addr);
}

/* The slot for addr, inserted when absent (*existed = 0; the caller fills it) or the
 * existing block (*existed = 1). NULL when out of memory. One probe for both cases. */
static inline memtap_block_t *memtap_addrmap_upsert(memtap_addrmap_t *m, uint64_t addr,
                                                    int *existed) {
    memtap_block_t *b = memtap_addrmap_table_upsert(m, addr, existed);
    if (b && !*existed) {
        b->addr = addr;
        b->used = 1;
    }
    return b;
}

/* Removes the block at addr into *out. Returns 1 when found, 0 when not. */
static inline int memtap_addrmap_take(memtap_addrmap_t *m, uint64_t addr, memtap_block_t *out) {
    memtap_block_t *b = memtap_addrmap_table_find(m, addr);
    if (!b)
        return 0;
    *out = *b;
    memtap_addrmap_table_remove(m, b);
    return 1;
}

#endif
