/* Stack interning: a trie of (parent node, frame) pairs kept in an open-addressing hash
 * table (memtap/hashtab.h). Node 0 is the root (the empty stack); new nodes get ids 1, 2,
 * 3, ... in order, which is the order the capture defines them in. Memory comes from mmap,
 * never malloc. */
#ifndef MEMTAP_PRELOAD_TRIE_H
#define MEMTAP_PRELOAD_TRIE_H

#include <stddef.h>
#include <stdint.h>

#include "memtap/hashtab.h"

typedef struct {
    uint64_t frame;  /* instruction pointer */
    uint32_t parent; /* parent node id */
    uint32_t id;     /* 0 = empty slot */
} memtap_trie_slot_t;

/* count: nodes interned, also the last id given out */
typedef MEMTAP_HASHTAB(memtap_trie_slot_t) memtap_trie_t;

/* Prepares an empty trie. Returns 0, or -1 when memory cannot be mapped. Safe inside malloc. */
int memtap_trie_init(memtap_trie_t *t);

/* Releases the table. */
void memtap_trie_destroy(memtap_trie_t *t);

/* Returns the id of child (parent, frame), creating it when new; *created tells which.
 * Returns 0 when the table cannot grow (out of memory). Not thread-safe: callers lock.
 * Safe inside malloc. */
uint32_t memtap_trie_intern(memtap_trie_t *t, uint32_t parent, uint64_t frame, int *created);

#endif
