/* Stack interning: a trie of (parent node, frame) pairs kept in an open-addressing hash
 * table (memtap/hashtab.h). Node 0 is the root (the empty stack); new nodes get ids 1, 2,
 * 3, ... in order, which is the order the capture defines them in. Beside it, readable
 * without the lock: each node's frame and parent by id, and a table of whole stacks (a
 * hash of all their frames) to their innermost node, which stacks.c keeps and checks.
 * Memory comes from mmap, never malloc. */
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

/* A node by id: written once, before any other thread can learn the id. */
typedef struct {
    uint64_t frame;
    uint32_t parent;
    uint32_t unused;
} memtap_trie_node_t;

/* A whole stack: a hash of its frames and its depth (key 0: empty slot), its node, and a
 * copy of its frames, outermost first, when the memory for copies was not used up: a
 * stack is then checked by comparing its frames with the copy (a few cache lines read in
 * order), else by walking the node's parents (a load that waits on the one before). */
typedef struct {
    uint64_t key;
    uint32_t depth, leaf;
    const uint64_t *frames;
} memtap_trie_stack_t;

typedef struct {
    memtap_trie_stack_t *slots;
    size_t mask;
} memtap_trie_stacks_t;

#define MEMTAP_TRIE_CHUNK_BITS 16 /* nodes by id in chunks of 2^16 */
#define MEMTAP_TRIE_CHUNKS (1u << (32 - MEMTAP_TRIE_CHUNK_BITS))
#define MEMTAP_TRIE_RETIRED 40
#define MEMTAP_TRIE_COPY_BYTES (1u << 20) /* frames of whole stacks, copied in chunks of */
#define MEMTAP_TRIE_COPY_CHUNKS 64        /* at most (64 MiB) */

typedef MEMTAP_HASHTAB(memtap_trie_slot_t) memtap_trie_index_t;

typedef struct {
    /* Read without the lock at every allocation whose stack changed: a cache line of their
     * own, which nothing another thread writes shares (the order counter once did). */
    _Alignas(64) memtap_trie_node_t **chunks; /* MEMTAP_TRIE_CHUNKS pointers, mapped */
    memtap_trie_stacks_t *stacks;             /* the current whole-stack table */
    _Alignas(64) memtap_trie_index_t index; /* (parent, frame) -> id; count: nodes, last id */
    size_t stack_count;
    /* Tables the whole-stack table outgrew: a thread may still read one, so they are given
     * back only by memtap_trie_destroy (the table structs themselves live here too). */
    memtap_trie_stacks_t tables[MEMTAP_TRIE_RETIRED];
    int ntables;
    uint64_t *copies[MEMTAP_TRIE_COPY_CHUNKS]; /* mapped chunks, kept when emptied */
    int copy_chunk;                            /* the one being filled */
    size_t copy_used;                          /* its words used */
} memtap_trie_t;

/* Prepares an empty trie. Returns 0, or -1 when memory cannot be mapped. Safe inside malloc. */
int memtap_trie_init(memtap_trie_t *t);

/* Releases all its memory. No thread may be reading it (memtap_trie_node, _stack_get). */
void memtap_trie_destroy(memtap_trie_t *t);

/* Empties the trie (no node but the root, no stack) and keeps its memory, so that threads
 * reading it meanwhile read mapped memory: what they find then is stale, not a fault. */
void memtap_trie_clear(memtap_trie_t *t);

/* Returns the id of child (parent, frame), creating it when new; *created tells which.
 * Returns 0 when the table cannot grow (out of memory). Not thread-safe: callers lock.
 * Safe inside malloc. */
uint32_t memtap_trie_intern(memtap_trie_t *t, uint32_t parent, uint64_t frame, int *created);

/* Node id, or NULL when there is none (an id from a stale read). Any thread, no lock: ids
 * the caller learnt under the trie's lock, or from memtap_trie_stack_get, are filled in.
 * chunks: the trie's (set once, by memtap_trie_init). */
static inline const memtap_trie_node_t *memtap_trie_node_in(memtap_trie_node_t *const *chunks,
                                                           uint32_t id) {
    const memtap_trie_node_t *c =
        __atomic_load_n(&chunks[id >> MEMTAP_TRIE_CHUNK_BITS], __ATOMIC_ACQUIRE);
    return c ? &c[id & ((1u << MEMTAP_TRIE_CHUNK_BITS) - 1)] : NULL;
}

/* The entry of the whole stack (key, depth), or NULL. Any thread, no lock; its node is only
 * a candidate, which the caller checks frame by frame. Entries are written once. */
static inline const memtap_trie_stack_t *memtap_trie_stack_get(const memtap_trie_t *t,
                                                               uint64_t key, uint32_t depth) {
    const memtap_trie_stacks_t *tab = __atomic_load_n(&t->stacks, __ATOMIC_ACQUIRE);
    for (size_t i = (key >> 32) & tab->mask;; i = (i + 1) & tab->mask) {
        const memtap_trie_stack_t *s = &tab->slots[i];
        uint64_t k = __atomic_load_n(&s->key, __ATOMIC_ACQUIRE);
        if (k == key && s->depth == depth)
            return s;
        if (!k)
            return NULL;
    }
}

/* Stores leaf as the node of the whole stack (key, depth), key not 0, with a copy of its
 * frames (outermost first) while the memory for copies lasts. Another stack of the same
 * key and depth keeps its entry (found entries are checked: a stack that is not found is
 * only slower). Returns 0, or -1 when out of memory (nothing stored). Under the trie's
 * lock; safe inside malloc. */
int memtap_trie_stack_put(memtap_trie_t *t, uint64_t key, uint32_t depth, uint32_t leaf,
                          const uint64_t *frames);

#endif
